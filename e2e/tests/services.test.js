// The Services screen of a fresh registry: the three demo services with their deployments.

import assert from 'node:assert/strict';

import { appTest, sessionPerFile } from '../lib/app.js';

const DEMO = ['breast_cancer', 'diabetes_progression', 'iris_classifier'];

const session = sessionPerFile();

appTest('the services list shows the three demo services', session, async (s) => {
  for (const name of DEMO) await s.find(`service-row-${name}`);
  const rows = await s.driver.findElements({ css: '[data-testid="services-table"] [data-testid^="service-row-"]' });
  const names = await Promise.all(rows.map(async (r) => (await r.getAttribute('data-testid')).replace('service-row-', '')));
  assert.deepEqual([...names].sort(), DEMO);

  // Each row shows its deployment as seeded: mode, live generations, revision, versions.
  // A new registry has had no traffic: 0 requests, no error rate yet.
  for (const name of ['iris_classifier', 'breast_cancer', 'diabetes_progression']) await s.waitText(`requests-${name}`, '0');
  assert.deepEqual((await s.cells('service-row-iris_classifier')).slice(2), ['single', 'v1 100%', '0', '—', '#1', '2']);
  assert.deepEqual((await s.cells('service-row-breast_cancer')).slice(2), ['multiple', 'v2 50% · v1 50%', '0', '—', '#2', '2']);
  assert.deepEqual((await s.cells('service-row-diabetes_progression')).slice(2), ['single', 'v1 100%', '0', '—', '#1', '1']);
  // The sidebar lists them too.
  for (const name of DEMO) await s.find(`nav-service-${name}`);
});

appTest('the sidebar says where artifacts live: this computer, by default', session, async (s) => {
  await s.waitText('artifact-store', 'Artifacts: this computer');
  // The line below it is the window's last; WebKitWebDriver reports it as not displayed (an
  // empty text) although it is painted (its box ends at y = 790 of 800), so it is read from
  // the page.
  const detail = () =>
    s.driver.executeScript("return document.querySelector('[data-testid=artifact-store-detail]')?.innerText ?? ''");
  await s.driver.wait(async () => (await detail()) === 'data dir · not shared with other nodes', 60_000, 'artifact store detail');
});
