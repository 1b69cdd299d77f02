// Drift in the window: a version uploaded from the Add version panel with a reference CSV,
// deployed, and sent traffic with petal_width moved up by one standard deviation: the
// Monitoring screen's heat map appears with petal_width on top, and the predicted classes
// against the reference. Run & test starts from the reference's first row.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { LONG, REPO, appTest, sessionPerFile } from '../lib/app.js';

const SERVICE = 'iris_classifier';
const session = sessionPerFile();
const FEATURES = [
  ['sepal_length', 5.8, 0.8],
  ['sepal_width', 3.0, 0.4],
  ['petal_length', 3.8, 1.7],
  ['petal_width', 1.2, 0.75],
];

/** A seeded uniform source (mulberry32) and a normal draw from it. */
function random(seed) {
  let a = seed;
  const uniform = () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(uniform() || 1e-12)) * Math.cos(2 * Math.PI * uniform());
}

function row(normal, shift) {
  return Object.fromEntries(FEATURES.map(([name, mean, sd]) => [name, Number((mean + sd * (normal() + (name === 'petal_width' ? shift : 0))).toFixed(2))]));
}

async function nodeUrl(s) {
  const status = await s.waitText('node-status', /Local node: http:\/\/127\.0\.0\.1:\d+/);
  return status.match(/http:\/\/127\.0\.0\.1:\d+/)[0];
}

appTest('shifted traffic shows in the drift heat map with the moved feature on top', session, async (s) => {
  const url = await nodeUrl(s);
  const normal = random(20261207);
  const header = FEATURES.map((f) => f[0]).join(',');
  const lines = Array.from({ length: 500 }, () => Object.values(row(normal, 0)).join(','));
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-e2e-drift-'));
  const reference = join(dir, 'holdout.csv');
  writeFileSync(reference, `${header}\n${lines.join('\n')}\n`);
  try {
    await s.openService(SERVICE, 'versions');
    await (await s.find('add-version-file')).sendKeys(fileURLToPath(new URL('../../fixtures/models/iris_logreg.onnx', import.meta.url)));
    await (await s.find('add-version-reference')).sendKeys(reference);
    await s.type('add-version-id', 'with-reference');
    await s.click('add-version-submit');
    await s.waitText('add-version-result', /^Added with-reference · 4 features/, LONG);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const deployed = await fetch(`${url}/admin/v1/deployments/${SERVICE}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ config: { mode: 'single', generation: 'with-reference' }, reason: 'e2e: drift' }),
  });
  assert.equal(deployed.status, 200, await deployed.text());
  for (let i = 0; i < 300; i++) {
    const r = await fetch(`${url}/v1/services/${SERVICE}/predict`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ features: row(normal, 1) }),
    });
    assert.equal(r.status, 200);
  }

  await s.openService(SERVICE, 'monitoring');
  await s.find('drift-heatmap-with-reference', LONG);
  await s.waitText('drift-against-with-reference', /^300 requests, against a reference of 500 rows \(uploaded CSV\)$/);
  await s.waitText('drift-top-with-reference', /^petal_width/);
  const psi = Number(await s.waitText('drift-psi-with-reference-petal_width', /^\d+\.\d{3}$/));
  assert.ok(psi > 0.25, `petal_width PSI ${psi}`);
  await s.waitText('drift-prediction-with-reference', /Predicted classes/);
  if (process.env.UPDATE_SCREENSHOTS) {
    await (await s.find('drift-heatmap-with-reference')).getRect(); // laid out
    await s.driver.executeScript("document.querySelector('[data-testid=\"drift-heatmap-with-reference\"]').scrollIntoView({block: 'start'})");
    await s.screenshot(join(REPO, 'docs', 'drift.png'));
  }

  // Run & test's sample row is the reference's first row.
  await s.openService(SERVICE, 'run');
  await s.click('sample-row');
  await s.waitText('sample-source', 'the sample row recorded with with-reference');
  const first = lines[0].split(',').map(Number);
  assert.equal(Number(await (await s.find('feature-petal_width')).getAttribute('value')), first[3]);
});
