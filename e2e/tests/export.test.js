// Exporting a deployment report through the native Save dialog (GTK, from Tauri's dialog
// plugin). WebDriver cannot reach a native window, so the test drives the dialog the way a
// person would, with the keyboard, through xdotool on the same X display.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { LONG, appTest, sessionPerFile } from '../lib/app.js';

const SERVICE = 'iris_classifier';
const session = sessionPerFile();

/** xdotool on the tests' display; `--sync` searches wait, so the call is bounded here. */
function xdotool(...args) {
  return execFileSync('timeout', ['60', 'xdotool', ...args], { encoding: 'utf8' }).trim();
}

appTest('Export… asks where in the Save dialog, writes the report there, and offers Open and Show in folder', session, async (s) => {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-e2e-export-'));
  const file = join(dir, 'iris-review.html');
  try {
    await s.openService(SERVICE, 'monitoring');
    await s.find('export-report');
    await s.click('report-export');
    // The dialog: a window of its own titled like the action.
    const dialog = xdotool('search', '--sync', '--name', '^Export report$').split('\n')[0];
    xdotool('windowfocus', '--sync', dialog);
    // The name field has the focus, holding the proposed name: replace it with a whole path.
    xdotool('key', '--clearmodifiers', 'ctrl+a');
    xdotool('type', '--delay', '15', file);
    xdotool('key', '--clearmodifiers', 'Return');

    await s.waitText('report-written-path', file, LONG);
    assert.ok(existsSync(file), `${file} was written`);
    assert.match(readFileSync(file, 'utf8'), /<html[\s>]/);
    await s.find('report-open');
    await s.find('report-show');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
