// The window follows the engine: changes made behind its back, over the node's HTTP API as
// the CLI or another tool would, appear without a click.

import assert from 'node:assert/strict';

import { LONG, appTest, sessionPerFile } from '../lib/app.js';

const SERVICE = 'iris_classifier';
const session = sessionPerFile();

/** The local node's base URL, as the window shows it. */
async function nodeUrl(s) {
  const status = await s.waitText('node-status', /Local node: http:\/\/127\.0\.0\.1:\d+/);
  return status.match(/http:\/\/127\.0\.0\.1:\d+/)[0];
}

async function call(url, method, path, body) {
  const r = await fetch(`${url}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: r.status, body: await r.json() };
}

appTest('a deploy made over HTTP shows in the services list and the open version history', session, async (s) => {
  const url = await nodeUrl(s);
  await s.waitText(`service-row-${SERVICE}`, /single/);
  assert.deepEqual((await s.cells(`service-row-${SERVICE}`)).slice(2, 4), ['single', 'v1 100%']);

  // Behind the window's back: v2 alone.
  const r = await call(url, 'PUT', `/admin/v1/deployments/${SERVICE}`, { config: { mode: 'single', generation: 'v2' }, reason: 'e2e: from outside' });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  await s.driver.wait(async () => (await s.cells(`service-row-${SERVICE}`))[3] === 'v2 100%', LONG, 'the services list follows the deploy');

  // With the service open, the history follows too.
  await s.openService(SERVICE, 'versions');
  await s.waitText('active-generation', 'single v2');
  const back = await call(url, 'POST', `/admin/v1/deployments/${SERVICE}/rollback`, { reason: 'e2e: back' });
  assert.equal(back.status, 200, JSON.stringify(back.body));
  await s.waitText('active-generation', 'single v1');
  await s.waitText('revision-3', /#3\s+rollback to #1\s+single v1/);
});

appTest("the Access panel's refused count and keys follow the node", session, async (s) => {
  const url = await nodeUrl(s);
  await s.openService(SERVICE, 'deployment');
  await s.waitText('auth-failures', /^0 refused requests/);

  const key = await call(url, 'POST', `/admin/v1/deployments/${SERVICE}/keys`, { name: 'outside' });
  assert.equal(key.status, 201, JSON.stringify(key.body));
  const mode = await call(url, 'PUT', `/admin/v1/deployments/${SERVICE}/auth`, { mode: 'api_key' });
  assert.equal(mode.status, 200, JSON.stringify(mode.body));
  await s.waitText('auth-mode', 'API key');
  await s.find(`key-${key.body.key.id}`);

  // Three calls without a key are refused; the panel counts them without a click.
  const features = { sepal_length: 5.1, sepal_width: 3.5, petal_length: 1.4, petal_width: 0.2 };
  for (let i = 0; i < 3; i++) {
    const p = await call(url, 'POST', `/v1/services/${SERVICE}/predict`, { features });
    assert.equal(p.status, 401);
  }
  await s.waitText('auth-failures', /^3 refused requests/);
});
