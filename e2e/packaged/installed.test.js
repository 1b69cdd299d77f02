// The desktop console as installed from its package (scripts/package-test.sh runs this file
// through e2e/run.sh with SWITCHYARD_E2E_APP=/usr/bin/switchyard-desktop): the installed
// binary opens, the Services screen lists the demo services, Run & test answers over the
// local node, and the sidebar names the version and commit it was built from.

import assert from 'node:assert/strict';

import { appTest, sessionPerFile } from '../lib/app.js';

const DEMO = ['breast_cancer', 'diabetes_progression', 'iris_classifier'];
const RUNS = 40;

const session = sessionPerFile();
const chain = { failed: null };

appTest('the installed app lists the three demo services', session, async (s) => {
  for (const name of DEMO) await s.find(`service-row-${name}`);
  const rows = await s.driver.findElements({ css: '[data-testid="services-table"] [data-testid^="service-row-"]' });
  const names = await Promise.all(rows.map(async (r) => (await r.getAttribute('data-testid')).replace('service-row-', '')));
  assert.deepEqual([...names].sort(), DEMO);
}, { chain });

appTest('the sidebar shows the version and the commit of the build', session, async (s) => {
  const version = process.env.SWITCHYARD_E2E_EXPECT_VERSION;
  const commit = process.env.SWITCHYARD_E2E_EXPECT_COMMIT;
  assert.ok(version && commit, 'set SWITCHYARD_E2E_EXPECT_VERSION and SWITCHYARD_E2E_EXPECT_COMMIT');
  await s.waitText('app-version', `Switchyard ${version} · ${commit}`);
}, { chain });

appTest(`Run & test sends ${RUNS} requests and every one is answered by the live generation`, session, async (s) => {
  await s.openService('iris_classifier', 'run');
  await s.type('run-count', String(RUNS));
  await s.waitText('run-button', `Run ${RUNS}`);
  await s.click('run-button');
  await s.find('run-results', 120_000);
  await s.waitText('run-progress', `${RUNS} / ${RUNS}`);
  await s.waitText('split-v1', new RegExp(`^v1: ${RUNS} \\(100(\\.0)?%\\) · expected 100%$`));
  const rows = await s.driver.findElements({ css: '[data-testid="run-results"] tbody tr' });
  assert.equal(rows.length, RUNS, 'one row per request');
}, { chain });
