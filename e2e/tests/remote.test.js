// A remote API node as an infrastructure: a second `switchyard serve` with an admin token is
// added from the console by URL and token, then deployed to, tested and rolled back exactly
// like the local node, which stays untouched.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';

import { appTest, sessionPerFile } from '../lib/app.js';

const TOKEN = 'e2e-remote-admin-token';
const SERVICE = 'iris_classifier';

let remote = null;
let remoteDir = null;

/** Starts `switchyard serve` on a free loopback port; resolves with its URL. */
async function startRemote() {
  const bin = process.env.SWITCHYARD_E2E_NODE;
  if (!bin) throw new Error('SWITCHYARD_E2E_NODE is not set: run the tests with e2e/run.sh');
  remoteDir = await mkdtemp(join(tmpdir(), 'switchyard-e2e-remote-'));
  await writeFile(join(remoteDir, 'token'), TOKEN);
  const args = ['serve', '--bind', '127.0.0.1:0', '--data-dir', join(remoteDir, 'registry'), '--admin-token-file', join(remoteDir, 'token')];
  remote = spawn(bin, args, { env: { ...process.env, NO_COLOR: '1', RUST_LOG: 'info' }, stdio: ['ignore', 'ignore', 'pipe'] });
  return new Promise((resolve, reject) => {
    let log = '';
    const timer = setTimeout(() => reject(new Error(`the remote node did not start:\n${log}`)), 60_000);
    remote.stderr.on('data', (chunk) => {
      log += chunk;
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(log);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    remote.on('exit', (code) => reject(new Error(`the remote node exited (${code}):\n${log}`)));
  });
}

async function remoteRevision(url) {
  const r = await fetch(`${url}/admin/v1/deployments/${SERVICE}`, { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(r.status, 200);
  return r.json();
}

let url = null;
before(async () => {
  url = await startRemote();
});
after(async () => {
  remote?.kill('SIGKILL');
  if (remoteDir) await rm(remoteDir, { recursive: true, force: true });
});
const session = sessionPerFile();

appTest('a remote node is added, deployed to, tested and rolled back from the console', session, async (s) => {
  await s.click('infra-add');
  await s.type('infra-name', 'remote-e2e');
  await s.type('infra-url', url);
  await s.type('infra-token', TOKEN);
  await s.click('infra-save');
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
  const select = await s.find('infra-select');
  await select.findElement({ css: 'option[value=""]' }).click();
  await s.openService(SERVICE, 'versions');
  await s.waitText('active-generation', 'single v1');
  await s.find('revision-1');
  assert.equal(await s.exists('revision-2'), false, 'the local deployment has one revision');
});
