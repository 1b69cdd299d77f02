// Capture and replay from the console: turn capture on for iris_classifier (100 %), run 200
// requests from Run & test, see them captured, then replay them through v2 (not live) and
// see the agreement figure and the confusion matrix.

import assert from 'node:assert/strict';

import { appTest, sessionPerFile } from '../lib/app.js';

const SERVICE = 'iris_classifier';
const RUNS = 200;

const session = sessionPerFile();

appTest('capture 200 requests, replay them through another version: agreement and confusion matrix', session, async (s) => {
  await s.openService(SERVICE, 'deployment');
  await s.find('capture-panel');
  await s.waitText('capture-state', 'off');
  await s.click('capture-enabled');
  await s.type('capture-percent', '100');
  await s.click('capture-save');
  await s.find('capture-saved');
  await s.waitText('capture-state', '100% sampled');

  await s.openService(SERVICE, 'run');
  await s.type('run-count', String(RUNS));
  await s.waitText('run-button', `Run ${RUNS}`);
  await s.click('run-button');
  await s.find('run-results', 120_000);
  await s.waitText('run-progress', `${RUNS} / ${RUNS}`);

  await s.openService(SERVICE, 'deployment');
  // Every request captured (the writer is off the request path: give it a moment), none dropped.
  await s.waitText('capture-counts', `${RUNS} rows stored · 0 dropped on this node`, 60_000);
  await s.find('capture-rows');

  await s.find('replay-panel');
  await s.driver.executeScript(
    "const v = document.querySelector('[data-testid=\"replay-version\"]'); v.value = 'v2'; v.dispatchEvent(new Event('change'));",
  );
  await s.click('replay-run');
  const agreement = await s.waitText('replay-agreement', /^\d+(\.\d)?% agreement · v2 gave the same label as live on .* of 200 rows\./, 120_000);
  assert.match(agreement, /identical answers/);
  const cells = await s.cells('replay-confusion');
  const counts = cells.filter((c) => /^\d+$/.test(c)).map(Number);
  assert.equal(counts.length, 9, `a 3 × 3 matrix of counts: ${cells}`);
  assert.equal(counts.reduce((a, b) => a + b, 0), RUNS, 'every replayed row is in the matrix');
  await s.find('replay-history');
});
