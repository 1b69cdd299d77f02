// A headless `switchyard serve` beside the app, for the remote-infrastructure tests: started on
// a free loopback port with a fresh registry (demo services seeded) and an admin token.
//
// run.sh sets SWITCHYARD_E2E_NODE (the built `switchyard` binary).

import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Starts the node; resolves once it listens. `stop()` kills it and removes its data dir. */
export async function startNode(adminToken) {
  const bin = process.env.SWITCHYARD_E2E_NODE;
  if (!bin) throw new Error('SWITCHYARD_E2E_NODE is not set: run the tests with e2e/run.sh');
  const dir = await mkdtemp(join(tmpdir(), 'switchyard-e2e-remote-'));
  await writeFile(join(dir, 'token'), adminToken);
  const args = ['serve', '--bind', '127.0.0.1:0', '--data-dir', join(dir, 'registry'), '--admin-token-file', join(dir, 'token')];
  const child = spawn(bin, args, { env: { ...process.env, NO_COLOR: '1', RUST_LOG: 'info' }, stdio: ['ignore', 'ignore', 'pipe'] });
  const stop = async () => {
    child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
  };
  const url = await new Promise((resolve, reject) => {
    let log = '';
    const timer = setTimeout(() => reject(new Error(`the remote node did not start:\n${log}`)), 60_000);
    child.stderr.on('data', (chunk) => {
      log += chunk;
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(log);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the remote node exited (${code}):\n${log}`));
    });
  }).catch(async (e) => {
    await stop();
    throw e;
  });
  return { url, stop };
}

/** Calls the node's admin API with `token`; resolves with the status and the JSON answer. */
export async function adminCall(url, token, method, path, body = undefined) {
  const r = await fetch(`${url}/admin/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null };
}
