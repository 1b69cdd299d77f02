// People and roles on a shared node, in the window. A second `switchyard serve` stands for the
// team's node; the console reaches it as several infrastructures, one per token, and acts as
// each token's principal: its admin creates a viewer, a deployer and an operator (tokens shown
// once) in Settings → People; the viewer finds deploy, rollback and save disabled, with the
// reason on hover; the deployer's deploy of a protected service becomes "approval requested";
// the operator approves it in Pending approvals and the deploy happens, in the deployer's name.

import assert from 'node:assert/strict';
import { after, before } from 'node:test';

import { By } from 'selenium-webdriver';

import { appTest, sessionPerFile } from '../lib/app.js';
import { adminCall, startNode } from '../lib/node.js';

const ADMIN = 'e2e-team-admin-token';
const SERVICE = 'iris_classifier';
/** The principals the admin creates, with their roles. */
const PEOPLE = [
  { name: 'vera', role: 'viewer' },
  { name: 'dana', role: 'deployer' },
  { name: 'omar', role: 'operator' },
];
const REASON = 'v2 scores better on the holdout';

let node = null;
/** Each principal's token, as the window showed it once. */
const tokens = {};

async function remoteRevision() {
  const r = await adminCall(node.url, ADMIN, 'GET', `/deployments/${SERVICE}`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body;
}

before(async () => {
  node = await startNode(ADMIN);
});
after(async () => {
  await node?.stop();
});
const session = sessionPerFile();
// The tests build on each other: the principals, then the request, then its approval.
const chain = {};

appTest('the node admin creates a viewer, a deployer and an operator with tokens in Settings → People', session, async (s) => {
  await s.addInfrastructure('team-admin', node.url, ADMIN);
  await s.click('nav-people');
  await s.waitText('people-node', 'on team-admin');
  await s.waitText('signed-in', 'Signed in as admin (admin)');

  for (const { name, role } of PEOPLE) {
    await s.type('principal-name', name);
    await s.type('principal-roles', role);
    await s.click('add-principal');
    await s.find(`principal-${name}`);
    assert.deepEqual((await s.cells(`principal-${name}`)).slice(0, 2), [name, role]);
    await s.click(`token-${name}`);
    await s.waitText('new-token', new RegExp(`^Token for ${name}, shown this once:`));
    tokens[name] = (await (await s.find('new-token')).findElement(By.css('code')).getText()).trim();
    assert.match(tokens[name], /^sy_[A-Za-z0-9_-]{32}$/);
  }

  // They were created on the remote node, which now knows each token.
  for (const { name, role } of PEOPLE) {
    const me = await adminCall(node.url, tokens[name], 'GET', '/me');
    assert.equal(me.status, 200, JSON.stringify(me.body));
    assert.deepEqual([me.body.principal, me.body.roles], [name, [{ role, scope: '*' }]]);
  }
  // The service is protected (the console has no switch for it yet: the node's admin API).
  const protect = await adminCall(node.url, ADMIN, 'PUT', `/deployments/${SERVICE}/protection`, { protected: true });
  assert.equal(protect.status, 200, JSON.stringify(protect.body));
}, { chain });

appTest('a viewer sees deploy, rollback and save disabled, and why on hover', session, async (s) => {
  await s.addInfrastructure('team-viewer', node.url, tokens.vera);
  const why = `vera (viewer) lacks the 'deploy' permission on ${SERVICE}`;

  await s.openService(SERVICE, 'versions');
  await s.waitText('active-generation', 'single v1');
  for (const id of ['deploy-v2', 'rollback-button']) {
    await s.waitEnabled(id, false);
    assert.equal(await s.title(id), why, `the hover of ${id}`);
  }

  await s.openService(SERVICE, 'deployment');
  await s.waitEnabled('save-deployment', false);
  assert.equal(await s.title('save-deployment'), why);

  await s.click('nav-people');
  await s.waitText('signed-in', 'Signed in as vera (viewer)');
  assert.equal(await s.isEnabled('add-principal'), false);
  assert.equal(await s.title('add-principal'), "vera (viewer) lacks the 'users' permission");
  assert.equal((await remoteRevision()).number, 1, 'nothing changed on the node');
}, { chain });

appTest("a deployer's deploy of the protected service shows 'approval requested', which it cannot approve itself", session, async (s) => {
  await s.addInfrastructure('team-deployer', node.url, tokens.dana);
  await s.openService(SERVICE, 'versions');
  await s.waitText('active-generation', 'single v1');
  await s.click('deploy-v2');
  await s.find('confirm-dialog');
  await s.type('confirm-reason', REASON);
  await s.click('confirm-ok');
  await s.waitGone('confirm-dialog');
  await s.waitText('approval-requested', /^Approval requested: request #1 \(dana\) waits for another operator or admin of iris_classifier\./);
  assert.equal(await s.text('active-generation'), 'single v1', 'nothing deployed yet');
  assert.equal((await remoteRevision()).number, 1);

  await s.click('nav-people');
  await s.waitText('signed-in', 'Signed in as dana (deployer)');
  await s.waitText('approval-1', new RegExp(`^${SERVICE} · deploy by dana · expires`));
  await s.waitText('approval-diff-1', 'single v1 → single v2');
  assert.equal(await s.isEnabled('approve-1'), false);
  assert.equal(await s.title('approve-1'), 'You requested it: another operator or admin must decide');
}, { chain });

appTest('an operator approves it in Pending approvals: v2 is deployed in the deployer\'s name', session, async (s) => {
  await s.addInfrastructure('team-operator', node.url, tokens.omar);
  await s.click('nav-people');
  await s.waitText('signed-in', 'Signed in as omar (operator)');
  await s.waitText('approval-diff-1', 'single v1 → single v2');
  assert.match(await s.text('approval-1'), new RegExp(REASON));
  await s.click('approve-1');
  await s.waitGone('approval-1');

  const live = await remoteRevision();
  assert.deepEqual([live.number, live.config.generation, live.author], [2, 'v2', 'dana (approved by omar)']);

  await s.openService(SERVICE, 'versions');
  await s.waitText('active-generation', 'single v2');
  await s.waitText('revision-2', /by dana \(approved by omar\)/);
  assert.match(await s.text('revision-2'), new RegExp(REASON));

  // The deployer's window follows the node, and a rollback is never gated: it happens at once.
  await s.useInfrastructure('team-deployer');
  await s.openService(SERVICE, 'versions');
  await s.waitText('active-generation', 'single v2');
  await s.click('rollback-button');
  await s.find('confirm-dialog');
  await s.click('confirm-ok');
  await s.waitGone('confirm-dialog');
  await s.waitText('active-generation', 'single v1');
  await s.waitText('revision-3', /by dana(?! \()/);
  const back = await remoteRevision();
  assert.deepEqual([back.number, back.config.generation, back.author], [3, 'v1', 'dana']);
}, { chain });
