// The Scenarios screen: the demo retrain scenario runs from the console, live, and deploys
// the retrained version (the desktop binary itself trains, via `${switchyard} train-demo`);
// a new scenario shows every problem at its line at once and saves; unsaved edits are not
// discarded without asking.

import assert from 'node:assert/strict';

import { By } from 'selenium-webdriver';

import { SHORT, appTest, sessionPerFile } from '../lib/app.js';

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

/** The data-path of each listed issue, in the list's order (by line). */
async function issuePaths(s) {
  const items = await s.driver.findElements(By.css('[data-testid^="scenario-issue-"]'));
  return Promise.all(items.map((li) => li.getAttribute('data-path')));
}

// Three problems of different kinds: a step that does not parse (an unknown format), a
// service that does not exist, and a cron pattern that never matches a day.
const INVALID =
  '{"name": "e2e_nightly", "steps": [{"kind": "export_capture", "name": "export", "service": "iris_classifier", "format": "xml"}, ' +
  '{"kind": "update_deployment", "name": "deploy", "service": "nope", "version": "v1"}], ' +
  '"triggers": [{"kind": "cron", "schedule": "0 0 32 * *"}]}';
const VALID =
  '{"name": "e2e_nightly", "steps": [{"kind": "export_capture", "name": "export", "service": "iris_classifier", "format": "csv"}, ' +
  '{"kind": "update_deployment", "name": "deploy", "service": "iris_classifier", "version": "v1"}], ' +
  '"triggers": [{"kind": "cron", "schedule": "0 0 1 * *"}]}';

appTest('a new scenario shows every problem at once, inline, and saves once fixed; edits are not lost unasked', session, async (s) => {
  await s.click('nav-scenarios');
  await s.click('scenario-new');
  await s.find('scenario-card-new');
  // The template is valid as it stands.
  await s.waitText('scenario-status', /No problems/);

  await s.typeInEditor('scenario-spec', INVALID);
  await s.waitText('scenario-status', /3 problems/);
  assert.deepEqual(await issuePaths(s), ['steps[0].format', 'steps[1].service', 'triggers[0].schedule']);
  assert.match(await s.text('scenario-issue-2'), /0 0 32 \* \*/);
  assert.equal(await s.isEnabled('scenario-save'), false, 'Save is off while the engine finds problems');
  // Each problem is marked in the text (CodeMirror lints after its own delay).
  await s.driver.wait(
    async () => (await s.driver.findElements(By.css('[data-testid="scenario-spec"] .cm-lintRange-error'))).length >= 3,
    SHORT,
    'the editor marks every problem',
  );

  await s.typeInEditor('scenario-spec', VALID);
  await s.waitText('scenario-status', /No problems/);
  assert.equal(await s.exists('scenario-issue-0'), false);
  await s.click('scenario-save');
  await s.find('scenario-e2e_nightly');
  await s.find('scenario-saved');
  assert.equal(await s.exists('scenario-card-new'), false);

  // An edit, then New scenario: asked first; Cancel keeps the edit.
  await s.typeInEditor('scenario-spec', VALID.replace('"0 0 1 * *"', '"0 0 2 * *"'));
  await s.find('scenario-unsaved');
  await s.click('scenario-new');
  await s.find('confirm-dialog');
  await s.click('confirm-cancel');
  await s.waitGone('confirm-dialog');
  assert.equal(await s.exists('scenario-card-new'), false);
  assert.match(await s.text('scenario-spec'), /0 0 2 \* \*/);

  // Leaving the screen asks too; Discard goes, and the scenario keeps its saved spec.
  await s.click('nav-services');
  await s.find('confirm-dialog');
  await s.click('confirm-ok');
  await s.find('services-table');
  await s.click('nav-scenarios');
  await s.click('scenario-e2e_nightly');
  await s.waitText('scenario-spec', /0 0 1 \* \*/);
  assert.equal(await s.exists('scenario-unsaved'), false);
});
