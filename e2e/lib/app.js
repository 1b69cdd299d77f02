// One desktop app session per test file, driven through tauri-driver (WebDriver), plus the
// helpers the tests share: find by data-testid, wait for text, screenshots on failure.
//
// run.sh starts Xvfb and tauri-driver and sets SWITCHYARD_E2E_APP (the built binary) and
// SWITCHYARD_E2E_WEBDRIVER (the driver's URL).

import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';

import { Builder, By, Key, error as wdError } from 'selenium-webdriver';

const E2E = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const REPO = resolve(E2E, '..');
const FAILURES = join(E2E, 'screenshots', 'failures');

/** Generous: the app loads its models at start, and first paint under Xvfb takes seconds. */
export const LONG = 60_000;
export const SHORT = 15_000;

/** A CSS selector for a data-testid. */
export const tid = (id) => By.css(`[data-testid="${id}"]`);

/**
 * Starts the app on a fresh, empty data dir (seeded with the demo services on first start)
 * with its local node on a free loopback port, and any further command-line `args`. Returns the session; `close()` ends it and
 * removes the data dir.
 */
export async function startApp({ args = [] } = {}) {
  const application = process.env.SWITCHYARD_E2E_APP;
  const server = process.env.SWITCHYARD_E2E_WEBDRIVER ?? 'http://127.0.0.1:4444';
  if (!application) throw new Error('SWITCHYARD_E2E_APP is not set: run the tests with e2e/run.sh');
  const dataDir = await mkdtemp(join(tmpdir(), 'switchyard-e2e-'));
  let driver;
  try {
    driver = await new Builder()
      .usingServer(server)
      .withCapabilities({
        browserName: 'wry',
        'tauri:options': { application, args: ['--data-dir', dataDir, '--port', '0', ...args] },
      })
      .build();
  } catch (e) {
    await rm(dataDir, { recursive: true, force: true });
    throw e;
  }
  const session = new Session(driver, dataDir);
  return session;
}

/**
 * One app session for the whole test file (started with `options`, as `startApp` takes
 * them): started (and ready) before its first test, closed after its last. Returns the getter `appTest` takes.
 */
export function sessionPerFile(options = {}) {
  let session = null;
  before(async () => {
    session = await startApp(options);
    await session.ready();
  });
  after(async () => {
    await session?.close();
  });
  const get = () => session;
  /** Ends the session (if any is left) and starts a fresh app in its place. */
  get.restart = async () => {
    // The crashed session may refuse to quit; its data dir is removed all the same.
    await session?.close().catch((e) => console.error(`# closing the old session: ${e.message}`));
    session = await startApp(options);
    await session.ready();
    return session;
  };
  return get;
}

/**
 * Whether WebKit's web process crashed or hung under the test: the WebDriver session is
 * gone, so nothing the test asks afterwards can answer. Seen rarely on a loaded 2-core
 * machine, never tied to one test.
 */
function pageCrashed(e) {
  const message = String(e?.message ?? '');
  return (
    e instanceof wdError.NoSuchSessionError ||
    /page crash or hang|Could not parse element text/.test(message)
  );
}

/** Errors that mean "not there (yet)" while the UI re-renders. */
function transient(e) {
  return e instanceof wdError.NoSuchElementError || e instanceof wdError.StaleElementReferenceError;
}

export class Session {
  constructor(driver, dataDir) {
    this.driver = driver;
    this.dataDir = dataDir;
  }

  async close() {
    try {
      await this.driver.quit();
    } finally {
      // The app may still be closing its registry for a moment: retry the removal.
      await rm(this.dataDir, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
    }
  }

  /** Waits until the element is in the page, then returns it. */
  async find(id, timeout = LONG) {
    return this.driver.wait(
      async () => {
        const found = await this.driver.findElements(tid(id));
        return found[0] ?? null;
      },
      timeout,
      `no element with data-testid="${id}" after ${timeout} ms`,
    );
  }

  /** Whether an element is in the page now. */
  async exists(id) {
    return (await this.driver.findElements(tid(id))).length > 0;
  }

  /** The element's visible text now, or null if it is not in the page. */
  async text(id) {
    try {
      const found = await this.driver.findElements(tid(id));
      return found.length ? (await found[0].getText()).trim() : null;
    } catch (e) {
      if (transient(e)) return null;
      throw e;
    }
  }

  /** The trimmed text of each cell of a table row. */
  async cells(id) {
    const row = await this.find(id);
    const tds = await row.findElements(By.css('td'));
    return Promise.all(tds.map(async (td) => (await td.getText()).trim()));
  }

  /** Clicks the element once it is there and enabled. */
  async click(id, timeout = LONG) {
    await this.driver.wait(
      async () => {
        try {
          const el = await this.find(id, timeout);
          if (!(await el.isEnabled())) return false;
          await el.click();
          return true;
        } catch (e) {
          if (transient(e)) return false;
          throw e;
        }
      },
      timeout,
      `could not click data-testid="${id}" (missing or disabled) within ${timeout} ms`,
    );
  }

  /**
   * Waits until the element's text satisfies `check` (a string: equal after trimming; a
   * RegExp: matches; a function: truthy). Returns the text.
   */
  async waitText(id, check, timeout = LONG) {
    const ok =
      typeof check === 'string' ? (t) => t === check : check instanceof RegExp ? (t) => check.test(t) : check;
    let last = null;
    try {
      return await this.driver.wait(
        async () => {
          last = await this.text(id);
          return last !== null && ok(last) ? last : null;
        },
        timeout,
      );
    } catch (e) {
      if (e instanceof wdError.TimeoutError) {
        throw new Error(`data-testid="${id}": expected text ${check} within ${timeout} ms; last seen: ${JSON.stringify(last)}`);
      }
      throw e;
    }
  }

  /** Waits until the element is gone from the page. */
  async waitGone(id, timeout = LONG) {
    await this.driver.wait(async () => !(await this.exists(id)), timeout, `data-testid="${id}" still shown after ${timeout} ms`);
  }

  /** Waits until the element is enabled (or, with `enabled = false`, disabled). */
  async waitEnabled(id, enabled = true, timeout = LONG) {
    await this.driver.wait(
      async () => {
        try {
          const found = await this.driver.findElements(tid(id));
          return found.length > 0 && (await found[0].isEnabled()) === enabled;
        } catch (e) {
          if (transient(e)) return false;
          throw e;
        }
      },
      timeout,
      `data-testid="${id}" did not become ${enabled ? 'enabled' : 'disabled'} within ${timeout} ms`,
    );
  }

  async isEnabled(id) {
    return (await this.find(id)).isEnabled();
  }

  /** Replaces the text of an input or textarea by typing it (real key events). */
  async type(id, value) {
    const el = await this.find(id);
    await el.clear();
    await el.sendKeys(value);
    await this.driver.wait(
      async () => (await (await this.find(id)).getAttribute('value')) === value,
      SHORT,
      `data-testid="${id}" does not hold the typed text`,
    );
  }

  /**
   * Replaces the text of a CodeMirror editor (a JsonEditor with this data-testid) by typing
   * it as real key events: select all, delete, type. Keep `value` on one line (Enter would
   * indent); the brackets and quotes CodeMirror closes by itself are typed over, so the text
   * ends up as typed, which this waits for.
   */
  async typeInEditor(id, value) {
    const content = await this.driver.wait(
      async () => (await this.driver.findElements(By.css(`[data-testid="${id}"] .cm-content`)))[0] ?? null,
      LONG,
      `no editor in data-testid="${id}"`,
    );
    // Focused, not clicked: a click lands on whatever covers the editor's middle (a lint
    // tooltip shown for the text under the pointer).
    await this.driver.executeScript('arguments[0].focus()', content);
    await content.sendKeys(Key.chord(Key.CONTROL, 'a'), Key.DELETE);
    await content.sendKeys(value);
    let last = null;
    await this.driver
      .wait(async () => {
        last = (await content.getText()).trim();
        return last === value;
      }, SHORT)
      .catch(() => {
        throw new Error(`data-testid="${id}": the editor holds ${JSON.stringify(last)}, not the typed text`);
      });
  }

  /** Waits for the app's first paint with the services listed. */
  async ready() {
    await this.find('services-table');
    await this.find('node-status');
    await this.waitText('node-status', /Local node: http:\/\/127\.0\.0\.1:\d+/);
  }

  /**
   * Adds a remote node as an infrastructure (the console switches to it) and waits until it
   * answers with the token.
   */
  async addInfrastructure(name, url, token) {
    await this.click('infra-add');
    await this.type('infra-name', name);
    await this.type('infra-url', url);
    await this.type('infra-token', token);
    await this.click('infra-save');
    await this.driver.wait(
      async () => (await (await this.find('infra-select')).getAttribute('value')) === name,
      LONG,
      `the console did not switch to ${name}`,
    );
    await this.waitText('infra-status', /^online: \d+ service\(s\)$/);
  }

  /** Switches the console to an infrastructure already added (null: the local node). */
  async useInfrastructure(name) {
    const select = await this.find('infra-select');
    await select.findElement(By.css(`option[value="${name ?? ''}"]`)).click();
    await this.driver.wait(
      async () => (await (await this.find('infra-select')).getAttribute('value')) === (name ?? ''),
      SHORT,
      `the console did not switch to ${name ?? 'the local node'}`,
    );
  }

  /** The element's `title` (what shows on hover). */
  async title(id) {
    return (await this.find(id)).getAttribute('title');
  }

  /** Opens a service from the sidebar on one of its tabs. */
  async openService(name, tab = 'versions') {
    await this.click(`nav-service-${name}`);
    await this.click(`tab-${tab}`);
    await this.driver.wait(
      async () => (await (await this.find(`tab-${tab}`)).getAttribute('aria-selected')) === 'true',
      SHORT,
      `tab ${tab} not selected`,
    );
  }

  /**
   * Saves the window as a PNG (for the README: the whole 1280x800 window). Waits a second
   * first: WebKit may hand back an older frame right after a change.
   */
  async screenshot(path, { width = 1280, height = 800 } = {}) {
    await new Promise((r) => setTimeout(r, 1000));
    const png = Buffer.from(await this.driver.takeScreenshot(), 'base64');
    // PNG header: the IHDR chunk's width and height, big-endian, at bytes 16 and 20.
    const size = [png.readUInt32BE(16), png.readUInt32BE(20)];
    if (size[0] !== width || size[1] !== height) {
      throw new Error(`the screenshot is ${size.join('x')}, not ${width}x${height}`);
    }
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, png);
    return path;
  }

  /** A screenshot for a failed test, in e2e/screenshots/failures/. Never throws. */
  async failureScreenshot(name) {
    const file = `${name.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 100)}-${Date.now()}.png`;
    try {
      const png = await this.driver.takeScreenshot();
      await mkdir(FAILURES, { recursive: true });
      await writeFile(join(FAILURES, file), png, 'base64');
      console.error(`# failure screenshot: ${join(FAILURES, file)}`);
    } catch (e) {
      console.error(`# no failure screenshot for "${name}": ${e.message}`);
    }
  }
}

/**
 * `test()` that, when the body throws, saves a screenshot of the window first. The session
 * is looked up when the test runs (`getSession()`), since `before` creates it. With
 * `dependsOnPrevious`, the test is skipped once an earlier one of the same chain failed
 * (they share one session and build on each other's changes).
 */
export function appTest(name, getSession, body, { timeout = 180_000, chain = null } = {}) {
  test(name, { timeout }, async (t) => {
    if (chain?.failed) {
      t.skip(`skipped: "${chain.failed}" failed first`);
      return;
    }
    const session = getSession();
    if (!session) throw new Error('the app session did not start');
    try {
      await body(session, t);
    } catch (e) {
      await session.failureScreenshot(name);
      // A test that stands alone runs once more in a fresh window when the web process
      // died under it; a chained one cannot (it builds on the window's earlier state).
      if (!chain && pageCrashed(e) && getSession.restart) {
        console.error(`# the window's web process crashed or hung during "${name}" (${e.message}); running it once more in a fresh window`);
        await body(await getSession.restart(), t);
        return;
      }
      if (chain) chain.failed = name;
      throw e;
    }
  });
}
