// Deploying iris_classifier from the console, in order, on one session: deploy v2 from the
// version history, set a 0.7/0.3 mapping (after an invalid one), run 200 requests and check
// the split, then roll back. Each test builds on the previous one's revision.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { REPO, SHORT, appTest, sessionPerFile } from '../lib/app.js';

const SERVICE = 'iris_classifier';
const MAPPING = '[{"generation":"v2","proba":0.7},{"generation":"v1","proba":0.3}]';
const RUNS = 200;
const P_V2 = 0.7;

const session = sessionPerFile();
const chain = { failed: null };
const flowTest = (name, body) => appTest(name, session, body, { chain });

flowTest('deploying v2 from the version history makes it the active generation', async (s) => {
  await s.openService(SERVICE, 'versions');
  await s.waitText('active-generation', 'single v1');
  await s.find('revision-1');
  assert.equal(await s.exists('revision-2'), false, 'a fresh registry has one revision of iris_classifier');
  // v1 serves alone: it has no Deploy button, v2 has one.
  await s.find('live-v1');
  assert.equal(await s.exists('deploy-v1'), false);

  await s.click('deploy-v2');
  await s.find('confirm-dialog');
  assert.equal(await s.text('confirm-change'), 'single v1 → single v2');
  await (await s.find('confirm-reason')).sendKeys('e2e: v2 has better accuracy');
  await s.click('confirm-ok');
  await s.waitGone('confirm-dialog');

  await s.waitText('active-generation', 'single v2');
  await s.waitText('action-result', /Revision #2 is live: single v2/);
  await s.waitText('revision-2', /#2\s+deploy\s+single v2/);
  assert.match(await s.text('revision-2'), /e2e: v2 has better accuracy/);
  assert.match(await s.text('revision-2'), /active/);
  await s.find('live-v2');
  assert.equal(await s.exists('live-v1'), false, 'v1 no longer serves');
});

flowTest('an invalid mapping shows its issues and disables Save; a valid 0.7/0.3 mapping saves', async (s) => {
  await s.openService(SERVICE, 'deployment');
  await s.click('mode-multiple');
  await s.find('mapping-editor');

  // An unknown generation, and probabilities that do not sum to 1.
  await s.typeInEditor('mapping-editor', '[{"generation":"v9","proba":0.7},{"generation":"v1","proba":0.2}]');
  await s.waitText('mapping-issue-0', 'Entry 0 · generation: "v9" is not a version of this service');
  const first = await s.find('mapping-issue-0');
  assert.equal(await first.getAttribute('data-kind'), 'unknown_generation');
  const second = await s.find('mapping-issue-1');
  assert.equal(await second.getAttribute('data-kind'), 'sum');
  assert.equal(await s.text('mapping-issue-1'), 'probabilities sum to 0.9 instead of 1');
  await s.waitText('mapping-status', /2 problems/);
  assert.equal(await s.text('mapping-sum'), 'Σ = 0.900000');
  assert.equal(await s.isEnabled('save-deployment'), false, 'Save is disabled while the mapping is invalid');
  // The editor marks the problem in the text too: CodeMirror's linter runs after its own
  // delay, so the marks may come after the issue list.
  await s.driver.wait(
    async () => (await s.driver.findElements({ css: '[data-testid="mapping-editor"] .cm-lintRange-error' })).length > 0,
    SHORT,
    'the editor shows lint marks',
  );

  // The sum alone is wrong: one issue, for the whole list.
  await s.typeInEditor('mapping-editor', '[{"generation":"v2","proba":0.7},{"generation":"v1","proba":0.2}]');
  await s.waitText('mapping-issue-0', 'probabilities sum to 0.9 instead of 1');
  assert.equal(await s.exists('mapping-issue-1'), false);
  assert.equal(await s.isEnabled('save-deployment'), false);

  // Valid: the engine's validate_mapping (debounced) has to agree before Save enables.
  await s.typeInEditor('mapping-editor', MAPPING);
  await s.waitEnabled('save-deployment', true, SHORT);
  await s.waitText('mapping-status', /Valid mapping \(checked by the engine\)/);
  assert.equal(await s.exists('mapping-issue-0'), false, 'no issue is left');
  assert.equal(await s.text('mapping-sum'), 'Σ = 1.000000');

  await (await s.find('deploy-reason')).sendKeys('e2e: canary v2 at 70%');
  await s.click('save-deployment');
  // Save asks first, with the traffic that changes hands: v2 already served everything.
  await s.find('confirm-dialog');
  assert.equal(await s.text('confirm-change'), 'single v2 → v2 70% · v1 30%');
  assert.deepEqual(await s.cells('confirm-shift-v1'), ['v1', '0%', '30%']);
  assert.equal(await s.text('confirm-moved'), '30% of requests change generation.');
  assert.equal(await (await s.find('confirm-reason')).getAttribute('value'), 'e2e: canary v2 at 70%');
  await s.click('confirm-ok');
  await s.waitGone('confirm-dialog');
  await s.waitText('save-result', 'Revision #3 is live: v2 70% · v1 30%');
  // The form now holds the live config: Save has nothing to deploy.
  await s.waitEnabled('save-deployment', false, SHORT);

  await s.click('tab-versions');
  await s.waitText('active-generation', 'v2 70% · v1 30%');
  await s.waitText('revision-3', /#3\s+deploy\s+v2 70% · v1 30%/);
  await s.waitText('live-v2', 'Live 70%');
  await s.waitText('live-v1', 'Live 30%');

  // README (UPDATE_SCREENSHOTS=1 e2e/run.sh): the version history with the mapping live.
  if (process.env.UPDATE_SCREENSHOTS) await s.screenshot(join(REPO, 'docs', 'console.png'));
});

flowTest(`Run ${RUNS} in Run & test shows both generations answering in a 70/30 split`, async (s) => {
  await s.openService(SERVICE, 'run');
  await s.type('run-count', String(RUNS));
  await s.waitText('run-button', `Run ${RUNS}`);
  await s.click('run-button');
  await s.find('run-results', 120_000);
  await s.waitText('run-progress', `${RUNS} / ${RUNS}`);

  const split = {};
  for (const g of ['v2', 'v1']) {
    const label = await s.waitText(`split-${g}`, /^v\d+: \d+ \([\d.]+%\) · expected \d+%$/);
    const m = /^(v\d+): (\d+) \(/.exec(label);
    assert.equal(m[1], g);
    split[g] = Number(m[2]);
  }
  assert.match(await s.text('split-v2'), /expected 70%$/);
  assert.match(await s.text('split-v1'), /expected 30%$/);
  assert.ok(split.v2 > 0 && split.v1 > 0, `both generations answered: ${JSON.stringify(split)}`);
  assert.equal(split.v2 + split.v1, RUNS, `every request was answered: ${JSON.stringify(split)}`);
  // 99.9% two-sided binomial bound around the expected count.
  const mean = RUNS * P_V2;
  const bound = 3.29 * Math.sqrt(RUNS * P_V2 * (1 - P_V2));
  assert.ok(Math.abs(split.v2 - mean) <= bound, `v2 answered ${split.v2} of ${RUNS}: outside ${mean} ± ${bound.toFixed(1)}`);

  const rows = await s.driver.findElements({ css: '[data-testid="run-results"] tbody tr' });
  assert.equal(rows.length, RUNS, 'one row per request');

  if (process.env.UPDATE_SCREENSHOTS) await s.screenshot(join(REPO, 'docs', 'run-and-test.png'));

  // A CSV of rows: each row one request, in order; a row the node refuses fails alone.
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-e2e-rows-'));
  const file = join(dir, 'rows.csv');
  writeFileSync(file, 'sepal_length,sepal_width,petal_length,petal_width\n5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n5.0,wide,1.4,0.2\n');
  assert.equal(await s.isEnabled('run-rows'), false, 'Run rows waits for a file');
  await (await s.find('run-csv')).sendKeys(file);
  await s.click('run-rows');
  await s.waitText('run-progress', '3 / 3');
  await s.driver.wait(async () => (await s.driver.findElements({ css: '[data-testid="run-results"] tbody tr' })).length === 3, SHORT, 'one row per CSV row');
  const cells = async (n) => (await s.driver.findElement({ css: `[data-testid="run-results"] tbody tr:nth-child(${n})` }).getText());
  assert.match(await cells(1), /setosa/);
  assert.match(await cells(2), /virginica/);
  assert.match(await cells(3), /sepal_width/);
  rmSync(dir, { recursive: true, force: true });

  // The services list shows the live traffic it just received.
  await s.click('nav-services');
  await s.waitText(`requests-${SERVICE}`, (t) => Number(t) >= RUNS);
  await s.waitText(`error-rate-${SERVICE}`, '0%');
});

flowTest('rolling back restores the previous revision', async (s) => {
  await s.openService(SERVICE, 'versions');
  await s.waitText('active-generation', 'v2 70% · v1 30%');
  await s.waitText('rollback-button', /Roll back to #2/);
  await s.click('rollback-button');
  await s.find('confirm-dialog');
  assert.equal(await s.text('confirm-change'), 'v2 70% · v1 30% → single v2');
  await s.click('confirm-ok');
  await s.waitGone('confirm-dialog');

  await s.waitText('active-generation', 'single v2');
  await s.waitText('action-result', /Revision #4 is live: single v2/);
  await s.waitText('revision-4', /#4\s+rollback to #2\s+single v2/);
  assert.match(await s.text('revision-4'), /active/);
  // The history is kept.
  for (const n of [1, 2, 3]) await s.find(`revision-${n}`);
  await s.find('live-v2');
  assert.equal(await s.exists('live-v1'), false, 'v1 no longer serves');

  // Any revision can be restored from the history; one with the live config cannot.
  assert.equal(await s.isEnabled('restore-2'), false, 'revision 2 has the live config');
  await s.click('restore-3');
  await s.find('confirm-dialog');
  assert.equal(await s.text('confirm-change'), 'single v2 → v2 70% · v1 30%');
  await s.click('confirm-ok');
  await s.waitGone('confirm-dialog');
  await s.waitText('revision-5', /#5\s+rollback to #3\s+v2 70% · v1 30%/);
  assert.match(await s.text('revision-5'), /restores revision 3/);
});
