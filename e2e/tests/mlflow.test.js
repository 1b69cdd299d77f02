// Importing a version from a real MLflow tracking server through the Versions screen's
// "From MLflow" panel, and seeing where it came from in the version history. scripts/test.sh
// starts the server (SWITCHYARD_TEST_MLFLOW); the app gets it as `--mlflow-uri`. The model is
// trained and logged by tests/mlflow/models.py.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

import { By } from 'selenium-webdriver';

import { REPO, appTest, sessionPerFile } from '../lib/app.js';

const SERVER = process.env.SWITCHYARD_TEST_MLFLOW;
const PYTHON = process.env.SWITCHYARD_TEST_MLFLOW_PYTHON;
if (!SERVER && process.env.CI === 'true') throw new Error('SWITCHYARD_TEST_MLFLOW is not set: CI must run the MLflow e2e test');

const session = sessionPerFile({ args: SERVER ? ['--mlflow-uri', SERVER] : [] });

appTest('a version imported from MLflow by alias shows its run tags, then its MLflow origin in version history', session, async (s, t) => {
  if (!SERVER || !PYTHON) {
    t.skip('set SWITCHYARD_TEST_MLFLOW and SWITCHYARD_TEST_MLFLOW_PYTHON (scripts/mlflow.sh starts a server)');
    return;
  }
  const model = `e2e_${Date.now().toString(36)}`;
  const out = execFileSync(PYTHON, [join(REPO, 'tests/mlflow/models.py'), SERVER, 'onnx', model, '--seed', '5', '--alias', 'champion',
    '--features', 'sepal_length,sepal_width,petal_length,petal_width', '--tag', 'team=fraud'], { encoding: 'utf8' });
  const logged = JSON.parse(out.trim().split('\n').pop());

  await s.openService('iris_classifier', 'versions');
  await s.find('mlflow-panel');
  await s.waitText('mlflow-server', SERVER);
  // The new model is listed (Refresh: it was logged after the panel first loaded).
  const select = await s.find('mlflow-model');
  await s.driver.wait(async () => {
    await s.click('mlflow-refresh');
    return (await select.findElements(By.css(`option[value="${model}"]`))).length > 0;
  }, 60_000, `${model} is not listed`);
  await select.findElement(By.css(`option[value="${model}"]`)).click();
  await s.waitText('mlflow-version-1', /@champion/);
  await s.waitText('mlflow-tags-1', /team\s+fraud/);

  await s.click('mlflow-import-alias-champion');
  const result = await s.waitText('mlflow-result', new RegExp(`^Imported models:/${model}@champion as v\\d+$`));
  const id = result.match(/as (v\d+)$/)[1];
  await s.waitText(`origin-${id}`, `MLflow ${model} ${logged.version} @champion · run ${logged.run_id.slice(0, 8)}`);
  assert.match((await s.cells(`version-row-${id}`))[3], /accuracy/);

  // Again: recognised, nothing added.
  await s.click('mlflow-import-alias-champion');
  await s.waitText('mlflow-result', `models:/${model}@champion is already ${id} (the same model): nothing imported`);
});
