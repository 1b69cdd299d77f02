// Access control from the console: create a key (its secret shown once), require API keys,
// see Run & test refused without the key and answered with it, count the refusal, revoke.

import assert from 'node:assert/strict';
import { join } from 'node:path';

import { REPO, appTest, sessionPerFile } from '../lib/app.js';

const SERVICE = 'iris_classifier';

const session = sessionPerFile();

appTest('an API key guards the deployment; Run & test sends it; revoking stops it', session, async (s) => {
  await s.openService(SERVICE, 'deployment');
  await s.find('access-panel');
  await s.waitText('auth-mode', 'None');
  // Without a key, requiring one would lock every client out: the button says so.
  assert.equal(await s.isEnabled('auth-mode-api_key'), false);

  await s.type('key-name', 'e2e-client');
  await s.click('create-key');
  const secret = await s.waitText('new-secret-value', /^sy_[A-Za-z0-9_-]{32}$/);
  await s.waitText('key-1', /e2e-client/);
  assert.ok(!(await s.text('key-1')).includes(secret), 'the key list never shows the secret');

  await s.waitEnabled('auth-mode-api_key', true);
  await s.click('auth-mode-api_key');
  // The change is confirmed first, with what it does to clients.
  await s.find('confirm-dialog');
  assert.equal(await s.text('confirm-change'), 'None → API key');
  await s.waitText('confirm-auth-clients', /Authorization: Bearer/);
  await s.click('confirm-ok');
  await s.waitGone('confirm-dialog');
  await s.waitText('auth-mode', 'API key');
  // README (UPDATE_SCREENSHOTS=1 e2e/run.sh): the Access panel with a new key.
  if (process.env.UPDATE_SCREENSHOTS) {
    await s.driver.executeScript("document.querySelector('[data-testid=\"access-panel\"]').scrollIntoView()");
    await s.screenshot(join(REPO, 'docs', 'access.png'));
  }

  await s.openService(SERVICE, 'run');
  await s.find('run-credentials');
  await s.click('send-once');
  await s.waitText('send-result', /unauthorized/);

  await s.type('run-api-key', secret);
  await s.click('send-once');
  await s.waitText('send-result', /generation\s+v\d/);

  await s.openService(SERVICE, 'deployment');
  await s.waitText('auth-failures', /^1 refused request since the node started$/);
  await s.click('revoke-1');
  await s.click('confirm-ok');
  await s.waitText('key-1', /revoked/);

  await s.openService(SERVICE, 'run');
  await s.type('run-api-key', secret);
  await s.click('send-once');
  await s.waitText('send-result', /unauthorized/);
});
