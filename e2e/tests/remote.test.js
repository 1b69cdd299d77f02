// A remote API node as an infrastructure: a second `switchyard serve` with an admin token is
// added from the console by URL and token, then deployed to, tested and rolled back exactly
// like the local node, which stays untouched.

import assert from 'node:assert/strict';
import { after, before } from 'node:test';

import { appTest, sessionPerFile } from '../lib/app.js';
import { adminCall, startNode } from '../lib/node.js';

const TOKEN = 'e2e-remote-admin-token';
const SERVICE = 'iris_classifier';

async function remoteRevision(url) {
  const r = await adminCall(url, TOKEN, 'GET', `/deployments/${SERVICE}`);
  assert.equal(r.status, 200);
  return r.body;
}

let remote = null;
let url = null;
before(async () => {
  remote = await startNode(TOKEN);
  url = remote.url;
});
after(async () => {
  await remote?.stop();
});
const session = sessionPerFile();

appTest('a remote node is added, deployed to, tested and rolled back from the console', session, async (s) => {
  await s.addInfrastructure('remote-e2e', url, TOKEN);
  await s.waitText('infra-status', /^online: 3 service\(s\)$/);
  assert.equal(await s.exists('nav-scenarios'), false, 'scenarios are local-only');

  await s.openService(SERVICE, 'versions');
  await s.waitText('active-generation', 'single v1');
  assert.equal(await s.exists('add-version-file'), false);
  await s.click('deploy-v2');
  await s.find('confirm-dialog');
  await s.click('confirm-ok');
  await s.waitGone('confirm-dialog');
  await s.waitText('active-generation', 'single v2');
  assert.equal((await remoteRevision(url)).number, 2, 'the remote node has the new revision');

  await s.openService(SERVICE, 'run');
  await s.click('send-once');
  await s.waitText('send-result', /generation\s+v2/);

  await s.openService(SERVICE, 'versions');
  await s.click('rollback-button');
  await s.find('confirm-dialog');
  await s.click('confirm-ok');
  await s.waitGone('confirm-dialog');
  await s.waitText('active-generation', 'single v1');
  const back = await remoteRevision(url);
  assert.equal(back.number, 3);
  assert.equal(back.config.generation, 'v1');

  // The local node was never touched.
  await s.useInfrastructure(null);
  await s.openService(SERVICE, 'versions');
  await s.waitText('active-generation', 'single v1');
  await s.find('revision-1');
  assert.equal(await s.exists('revision-2'), false, 'the local deployment has one revision');
});
