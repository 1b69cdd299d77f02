// A canary from the Deployment tab through to promotion, with live traffic sent to the
// local node over HTTP as any client would, its comparative gates read against the baseline,
// then the Monitoring tab's charts of that traffic.

import assert from 'node:assert/strict';

import { LONG, appTest, sessionPerFile } from '../lib/app.js';

const SERVICE = 'iris_classifier';
const ROW = { sepal_length: 6.7, sepal_width: 3.0, petal_length: 5.2, petal_width: 2.3 };
const session = sessionPerFile();

/** The local node's base URL, as the window shows it. */
async function nodeUrl(s) {
  const status = await s.waitText('node-status', /Local node: http:\/\/127\.0\.0\.1:\d+/);
  return status.match(/http:\/\/127\.0\.0\.1:\d+/)[0];
}

/** Sends predictions one after another until `stop()` says so; resolves to the count sent. */
async function traffic(url, stop) {
  let sent = 0;
  while (!stop()) {
    const r = await fetch(`${url}/v1/services/${SERVICE}/predict`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ features: ROW }),
    });
    assert.equal(r.status, 200, await r.text());
    await r.arrayBuffer().catch(() => {});
    sent++;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return sent;
}

appTest('a canary of v2 passes its gates, comparative ones included, step by step to promotion; monitoring shows the traffic', session, async (s) => {
  const url = await nodeUrl(s);
  await s.openService(SERVICE, 'deployment');
  await s.find('canary-form');
  await (await s.find('canary-version')).sendKeys('v2');
  await s.type('canary-steps', '50, 100');
  // A bake long enough to read the first step's comparison while it lasts.
  await s.type('canary-bake', '8');
  await s.type('canary-min-requests', '20');
  await s.type('canary-max-p99', '1000');
  await s.type('canary-max-error-rate-increase', '0.05');
  await s.type('canary-max-p99-increase', '5000');
  await s.click('canary-start');
  await s.find('confirm-dialog');
  assert.match(await s.text('confirm-canary-plan'), /50% → 100%/);
  await s.click('confirm-ok');
  await s.waitGone('confirm-dialog');

  let done = false;
  const sending = traffic(url, () => done);
  // A refused request ends the traffic; the await below reports it.
  sending.catch(() => (done = true));
  try {
    await s.waitText('canary-status', 'running');
    // At 50 % the comparative gates read the canary against the baseline (v1) beside it.
    await s.find('canary-comparative-gates', LONG);
    await s.waitText('canary-compare-error_rate-baseline', /^\d+(\.\d+)?%$/, LONG);
    await s.waitText('canary-compare-p99_latency-baseline', / ms$/, LONG);
    assert.match(await s.text('canary-compare-p99_latency-canary'), / ms$|^—$/);
    await s.waitText('canary-status', 'promoted', LONG);
  } finally {
    done = true;
  }
  const sent = await sending;
  assert.ok(sent > 0);
  // Finished: every step passed, nothing left to steer, v2 serves alone.
  for (const i of [0, 1]) {
    assert.equal(await (await s.find(`canary-step-${i}`)).getAttribute('data-state'), 'done');
  }
  for (const action of ['pause', 'resume', 'promote', 'abort']) {
    assert.equal(await s.exists(`canary-${action}`), false, `a finished canary shows no ${action} button`);
  }
  await s.openService(SERVICE, 'versions');
  await s.waitText('active-generation', 'single v2');

  // The Monitoring tab charts the traffic each generation answered.
  await s.openService(SERVICE, 'monitoring');
  await s.find('monitoring');
  await s.waitText('monitor-v2-requests', (t) => Number(t) > 0, LONG);
  await s.waitText('monitor-v1-requests', (t) => Number(t) > 0, LONG);
  const charts = await s.driver.findElements({ css: '[data-testid="monitor-v2"] svg' });
  assert.ok(charts.length >= 2, `v2's requests and latency charts (${charts.length} svg)`);
});
