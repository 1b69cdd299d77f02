// The Scenarios screen: the demo retrain scenario runs from the console, live, and deploys
// the retrained version (the desktop binary itself trains, via `${switchyard} train-demo`).

import assert from 'node:assert/strict';

import { appTest, sessionPerFile } from '../lib/app.js';

const session = sessionPerFile();

appTest('running the demo retrain scenario from the console deploys the new version', session, async (s) => {
  await s.click('nav-scenarios');
  await s.click('scenario-retrain_iris');
  await s.find('scenario-spec');
  await s.click('scenario-run');
  await s.driver.wait(
    async () => {
      const el = await s.find('scenario-run-status');
      const status = await el.getAttribute('data-status');
      return status !== 'running' ? status : null;
    },
    60_000,
    'the run did not finish',
  );
  const status = await (await s.find('scenario-run-status')).getAttribute('data-status');
  assert.equal(status, 'succeeded', await s.text('scenario-log'));
  assert.match(await s.text('scenario-log'), /\S/);

  // The deployment now serves the retrained version.
  await s.openService('iris_classifier', 'versions');
  await s.waitText('active-generation', /retrained/);
});
