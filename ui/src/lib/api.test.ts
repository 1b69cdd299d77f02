import { beforeEach, describe, expect, it, vi } from 'vitest';

import doc from './generated/openapi.json';

const invoke = vi.fn();
const channels: { onmessage?: (m: unknown) => void }[] = [];

vi.mock('@tauri-apps/api/core', () => ({
  invoke: (...args: unknown[]) => invoke(...args),
  Channel: class {
    onmessage?: (m: unknown) => void;
    constructor(onmessage?: (m: unknown) => void) {
      this.onmessage = onmessage;
      channels.push(this);
    }
  },
}));

const { ApiError, ERROR_CODES, addVersionBody, addVersionMeta, api, errorHeadline, currentInfrastructure, toApiError, useInfrastructure } = await import('./api');

beforeEach(() => {
  invoke.mockReset();
  channels.length = 0;
});

async function rejection(p: Promise<unknown>): Promise<InstanceType<typeof ApiError>> {
  try {
    await p;
  } catch (e) {
    return e as InstanceType<typeof ApiError>;
  }
  throw new Error('expected a rejection');
}

describe('errors crossing IPC', () => {
  it('rebuilds {code, message} as a typed ApiError', async () => {
    invoke.mockRejectedValueOnce({ code: 'service_not_found', message: "service 'x' does not exist" });
    const e = await rejection(api.listVersions('x'));
    expect(e).toBeInstanceOf(ApiError);
    expect(e).toBeInstanceOf(Error);
    expect(e.code).toBe('service_not_found');
    expect(e.message).toBe("service 'x' does not exist");
    expect(e.details).toEqual([]);
  });

  it('keeps mapping issues as details', async () => {
    const details = [{ index: 1, field: 'generation', kind: 'unknown_generation', message: '"v9" is not a version of this service' }];
    invoke.mockRejectedValueOnce({ code: 'invalid_mapping', message: 'invalid mapping: entry 1, generation: …', details });
    const e = await rejection(
      api.deploy({ service: 's', config: { mode: 'multiple', mapping: [{ generation: 'v9', proba: 1 }], sticky: false }, reason: '' }),
    );
    expect(e.code).toBe('invalid_mapping');
    expect(e.details).toEqual(details);
  });

  it('turns a string rejection into code internal with the string as message', async () => {
    invoke.mockRejectedValueOnce('command list_services not found');
    const e = await rejection(api.listServices());
    expect(e).toBeInstanceOf(ApiError);
    expect(e.code).toBe('internal');
    expect(e.message).toBe('command list_services not found');
  });

  it('gives undefined, empty and odd rejections a readable message', async () => {
    invoke.mockRejectedValueOnce(undefined);
    const a = await rejection(api.nodeInfo());
    expect(a.code).toBe('internal');
    expect(a.message).toBe('node_info failed without an error message');

    invoke.mockRejectedValueOnce('');
    expect((await rejection(api.nodeInfo())).message).toBe('node_info failed without an error message');

    invoke.mockRejectedValueOnce(new TypeError("Cannot read properties of undefined (reading 'invoke')"));
    const c = await rejection(api.nodeInfo());
    expect(c.code).toBe('internal');
    expect(c.message).toMatch(/reading 'invoke'/);

    invoke.mockRejectedValueOnce(42);
    expect((await rejection(api.nodeInfo())).message).toBe('node_info failed: 42');
  });

  it('does not trust an unknown code', () => {
    const e = toApiError({ code: 'teapot', message: 'short and stout' });
    expect(e.code).toBe('internal');
    expect(e.message).toContain('short and stout');
    expect(e.message).toContain('teapot');
  });

  it('drops malformed details', () => {
    const e = toApiError({ code: 'invalid_mapping', message: 'm', details: [{ nope: 1 }, null, { index: null, field: null, kind: 'sum', message: 's' }] });
    expect(e.details).toEqual([{ index: null, field: null, kind: 'sum', message: 's' }]);
  });

  it('passes an ApiError through unchanged and knows every engine code', () => {
    const e = new ApiError('not_deployed', 'deploy first');
    expect(toApiError(e)).toBe(e);
    // Exactly the codes of the engine's OpenAPI document (generated from it, never listed by hand).
    expect([...ERROR_CODES].sort()).toEqual([...doc.components.schemas.ErrorCode.enum].sort());
    for (const code of ['request_not_found', 'canary_not_found', 'canary_conflict'] as const) expect(ERROR_CODES).toContain(code);
    for (const code of ERROR_CODES) expect(toApiError({ code, message: 'x' }).code).toBe(code);
  });
});

describe('the native Save dialog and opener', () => {
  it('asks for an HTML path, starting at the engine\'s default report path; null when cancelled', async () => {
    invoke.mockImplementation(async (cmd: string) => {
      if (cmd === 'default_report_path') return '/home/ml/Downloads/iris-report-20261205-0307.html';
      if (cmd === 'plugin:dialog|save') return '/srv/reports/iris.html';
      return null;
    });
    expect(await api.chooseReportPath('iris')).toBe('/srv/reports/iris.html');
    expect(invoke.mock.calls.map((c) => c[0])).toEqual(['default_report_path', 'plugin:dialog|save']);
    expect(invoke.mock.calls[0][1]).toEqual({ service: 'iris' });
    expect(invoke.mock.calls[1][1]).toMatchObject({
      options: { title: 'Export report', defaultPath: '/home/ml/Downloads/iris-report-20261205-0307.html', filters: [{ name: 'HTML report', extensions: ['html'] }] },
    });
    invoke.mockImplementation(async (cmd: string) => (cmd === 'plugin:dialog|save' ? null : '/home/ml/x.html'));
    expect(await api.chooseReportPath('iris')).toBeNull();
  });

  it('opens a file or shows it in its folder, failing as an ApiError', async () => {
    invoke.mockResolvedValue(null);
    await api.openFile('/tmp/r.html');
    await api.showInFolder('/tmp/r.html');
    const commands = invoke.mock.calls.map((c) => c[0]);
    expect(commands).toEqual(['plugin:opener|open_path', 'plugin:opener|reveal_item_in_dir']);
    invoke.mockRejectedValueOnce('not allowed by the scope');
    await expect(api.openFile('/etc/passwd')).rejects.toMatchObject({ message: expect.stringContaining('not allowed') });
  });
});

describe('the IPC contract', () => {
  it('calls each command with camelCase args', async () => {
    invoke.mockResolvedValue([]);
    await api.listServices();
    await api.createService({ name: 'iris', description: 'flowers' });
    await api.listVersions('iris');
    await api.revisions('iris');
    await api.deployVersion({ service: 'iris', version: 'v2', reason: 'better' });
    await api.rollback({ service: 'iris', toRevision: null, reason: '' });
    await api.validateMapping({ service: 'iris', text: '[]' });
    await api.monitor({ service: 'iris', minutes: 15 });
    await api.drift({ service: 'iris', minutes: 60 });
    await api.exportReport({ service: 'iris', since: '7d', path: '' });
    expect(invoke.mock.calls.map((c) => [c[0], c[1]])).toEqual([
      ['list_services', { infra: null }],
      ['create_service', { name: 'iris', description: 'flowers' }],
      ['list_versions', { infra: null, service: 'iris' }],
      ['revisions', { infra: null, service: 'iris' }],
      ['deploy_version', { infra: null, service: 'iris', version: 'v2', reason: 'better' }],
      ['rollback', { infra: null, service: 'iris', toRevision: null, reason: '' }],
      ['validate_mapping', { infra: null, service: 'iris', text: '[]' }],
      ['monitor', { infra: null, service: 'iris', minutes: 15 }],
      ['drift', { infra: null, service: 'iris', minutes: 60 }],
      ['export_report', { service: 'iris', since: '7d', path: '' }],
    ]);
  });

  it('calls the rollout commands with camelCase args', async () => {
    invoke.mockResolvedValue(null);
    const plan = {
      version: 'v3',
      steps: [5, 25, 50, 100],
      bake_seconds: 300,
      gates: { max_error_rate: 0.01, max_p99_ms: 250, min_requests: 100, comparative: null },
      inconclusive_timeout_seconds: 3600,
      on_inconclusive: 'pause' as const,
    };
    await api.canary('iris');
    await api.startCanary({ service: 'iris', plan });
    await api.canaryAction({ service: 'iris', action: 'abort' });
    await api.abResults('iris');
    await api.feedback({ service: 'iris', requestId: 'r-1', outcome: true });
    await api.feedback({ service: 'iris', requestId: 'r-2', outcome: 0.5 });
    await api.deploy({ service: 'iris', config: { mode: 'single', generation: 'v1', sticky: false, shadow: { generation: 'v3', percent: 10 } }, reason: '' });
    expect(invoke.mock.calls.map((c) => [c[0], c[1]])).toEqual([
      ['canary', { service: 'iris' }],
      ['start_canary', { service: 'iris', plan }],
      ['canary_action', { service: 'iris', action: 'abort' }],
      ['ab_results', { service: 'iris' }],
      ['feedback', { service: 'iris', requestId: 'r-1', outcome: true }],
      ['feedback', { service: 'iris', requestId: 'r-2', outcome: 0.5 }],
      ['deploy', { infra: null, service: 'iris', config: { mode: 'single', generation: 'v1', sticky: false, shadow: { generation: 'v3', percent: 10 } }, reason: '' }],
    ]);
  });

  it('calls the capture and replay commands with camelCase args', async () => {
    invoke.mockResolvedValue(null);
    const policy = { percent: 10, max_rows: 1000, retention_seconds: 86400, drop_features: ['email'], hash_features: [] };
    await api.captureStatus('iris');
    await api.setCapturePolicy({ service: 'iris', policy });
    await api.setCapturePolicy({ service: 'iris', policy: null });
    await api.captureRows({ service: 'iris', filter: { generation: 'v1', has_feedback: true, limit: 50 } });
    await api.startReplay({ service: 'iris', request: { version: 'v2', since: '24h', limit: null } });
    await api.replay({ service: 'iris', id: 3 });
    await api.replays('iris');
    await api.cancelReplay({ service: 'iris', id: 3 });
    expect(invoke.mock.calls.map((c) => [c[0], c[1]])).toEqual([
      ['capture_status', { service: 'iris' }],
      ['set_capture_policy', { service: 'iris', policy }],
      ['set_capture_policy', { service: 'iris', policy: null }],
      ['capture_rows', { service: 'iris', filter: { generation: 'v1', has_feedback: true, limit: 50 } }],
      ['start_replay', { service: 'iris', request: { version: 'v2', since: '24h', limit: null } }],
      ['replay', { service: 'iris', id: 3 }],
      ['replays', { service: 'iris' }],
      ['cancel_replay', { service: 'iris', id: 3 }],
    ]);
  });

  it('sends the deployment screens to the chosen infrastructure, the rest to the local node', async () => {
    invoke.mockResolvedValue([]);
    useInfrastructure('prod');
    try {
      expect(currentInfrastructure()).toBe('prod');
      await api.listServices();
      await api.deployVersion({ service: 'iris', version: 'v2', reason: '' });
      await api.runTest({ service: 'iris', features: { a: 1 }, count: 1, generation: null });
      await api.access('iris');
      await api.listScenarios();
      // Settings → People manages the chosen node's principals and approvals.
      await api.capabilities();
      await api.listPrincipals();
      await api.createPrincipal({ name: 'dana', roles: [{ role: 'deployer', scope: '*' }] });
      await api.setRoles({ name: 'dana', roles: [] });
      await api.createToken({ principal: 'dana', name: 'console', expiresInSeconds: null });
      await api.revokeToken({ principal: 'dana', id: 1 });
      await api.removePrincipal('dana');
      await api.approvals({ service: null, pendingOnly: true });
      await api.decideApproval({ service: 'iris', id: 1, approve: true, note: '' });
    } finally {
      useInfrastructure(null);
    }
    const calls = invoke.mock.calls.map((c) => [c[0], (c[1] as { infra?: unknown } | undefined)?.infra]);
    expect(calls).toEqual([
      ['list_services', 'prod'],
      ['deploy_version', 'prod'],
      ['run_test', 'prod'],
      ['access', undefined],
      ['list_scenarios', undefined],
      ['capabilities', 'prod'],
      ['list_principals', 'prod'],
      ['create_principal', 'prod'],
      ['set_roles', 'prod'],
      ['create_token', 'prod'],
      ['revoke_token', 'prod'],
      ['remove_principal', 'prod'],
      ['approvals', 'prod'],
      ['decide_approval', 'prod'],
    ]);
  });

  it('calls the infrastructure commands', async () => {
    invoke.mockResolvedValue(null);
    await api.listInfrastructures();
    await api.addInfrastructure({ name: 'prod', url: 'http://10.0.0.5:8080', token: 't' });
    await api.infrastructureStatus('prod');
    await api.removeInfrastructure('prod');
    expect(invoke.mock.calls.map((c) => [c[0], c[1]])).toEqual([
      ['list_infrastructures', undefined],
      ['add_infrastructure', { name: 'prod', url: 'http://10.0.0.5:8080', token: 't' }],
      ['infrastructure_status', { name: 'prod' }],
      ['remove_infrastructure', { name: 'prod' }],
    ]);
  });

  it('calls the notification commands', async () => {
    invoke.mockResolvedValue(null);
    await api.listWebhooks();
    await api.createWebhook({ url: 'https://h/x', service: null, secret: 's' });
    await api.testWebhook(3);
    await api.webhookDeliveries({ webhook: 3, limit: 20 });
    await api.removeWebhook(3);
    expect(invoke.mock.calls.map((c) => [c[0], c[1]])).toEqual([
      ['list_webhooks', undefined],
      ['create_webhook', { url: 'https://h/x', service: null, secret: 's' }],
      ['test_webhook', { id: 3 }],
      ['webhook_deliveries', { webhook: 3, limit: 20 }],
      ['remove_webhook', { id: 3 }],
    ]);
  });

  it('calls the access commands with camelCase args', async () => {
    invoke.mockResolvedValue(null);
    await api.access('iris');
    await api.setAuthMode({ service: 'iris', mode: 'api_key' });
    await api.createKey({ service: 'iris', name: 'ci' });
    await api.rotateKey({ service: 'iris', id: 2, overlapSeconds: 3600 });
    await api.revokeKey({ service: 'iris', id: 2 });
    expect(invoke.mock.calls.map((c) => [c[0], c[1]])).toEqual([
      ['access', { service: 'iris' }],
      ['set_auth_mode', { service: 'iris', mode: 'api_key' }],
      ['create_key', { service: 'iris', name: 'ci' }],
      ['rotate_key', { service: 'iris', id: 2, overlapSeconds: 3600 }],
      ['revoke_key', { service: 'iris', id: 2 }],
    ]);
  });

  it('sends run-and-test credentials, or null', async () => {
    invoke.mockResolvedValue({ results: [] });
    const credential = { kind: 'api_key' as const, key: 'sy_secret' };
    await api.runTest({ service: 'iris', features: { a: 1 }, count: 1, generation: null, credential });
    await api.runTest({ service: 'iris', features: { a: 1 }, count: 1, generation: null });
    const first = invoke.mock.calls[0][1] as { request: { credential: unknown } };
    const second = invoke.mock.calls[1][1] as { request: { credential: unknown } };
    expect(first.request.credential).toEqual(credential);
    expect(second.request.credential).toBeNull();
  });

  it('sends a CSV of rows as rows_csv, or null', async () => {
    invoke.mockResolvedValue({ results: [] });
    const rowsCsv = 'a,b\n1,2\n3,4\n';
    await api.runTest({ service: 'iris', features: {}, count: 1, generation: null, rowsCsv });
    await api.runTest({ service: 'iris', features: { a: 1 }, count: 1, generation: null });
    const first = invoke.mock.calls[0][1] as { request: { rows_csv: unknown } };
    const second = invoke.mock.calls[1][1] as { request: { rows_csv: unknown } };
    expect(first.request.rows_csv).toBe(rowsCsv);
    expect(second.request.rows_csv).toBeNull();
  });

  it('calls the scenario commands with their argument names', async () => {
    invoke.mockResolvedValue(null);
    const spec = { name: 'retrain', steps: [] };
    await api.listScenarios();
    await api.getScenario('retrain');
    await api.saveScenario(spec);
    await api.validateScenario(spec);
    await api.deleteScenario('retrain');
    await api.scenarioNextFires({ name: 'retrain', count: 3 });
    await api.startScenarioRun('retrain');
    await api.scenarioRuns({ name: 'retrain', limit: 20 });
    await api.scenarioRun({ name: 'retrain', id: 7 });
    await api.cancelScenarioRun({ name: 'retrain', id: 7 });
    expect(invoke.mock.calls.map((c) => [c[0], c[1]])).toEqual([
      ['list_scenarios', undefined],
      ['get_scenario', { name: 'retrain' }],
      ['save_scenario', { spec }],
      ['validate_scenario', { spec }],
      ['delete_scenario', { name: 'retrain' }],
      ['scenario_next_fires', { name: 'retrain', count: 3 }],
      ['start_scenario_run', { name: 'retrain' }],
      ['scenario_runs', { name: 'retrain', limit: 20 }],
      ['scenario_run', { name: 'retrain', id: 7 }],
      ['cancel_scenario_run', { name: 'retrain', id: 7 }],
    ]);
  });

  it('streams a watched run over a channel and rebuilds the scenario error codes', async () => {
    const updates: unknown[] = [];
    invoke.mockResolvedValueOnce({ id: 7, status: 'succeeded' });
    const final = await api.watchScenarioRun({ name: 'retrain', id: 7, onUpdate: (r) => updates.push(r) });
    expect(final).toEqual({ id: 7, status: 'succeeded' });
    expect(invoke.mock.calls[0][0]).toBe('watch_scenario_run');
    const args = invoke.mock.calls[0][1] as { name: string; id: number; onUpdate: unknown };
    expect(args.name).toBe('retrain');
    expect(args.id).toBe(7);
    expect(args.onUpdate).toBe(channels[0]);
    channels[0].onmessage?.({ id: 7, status: 'running' });
    expect(updates).toEqual([{ id: 7, status: 'running' }]);
    for (const code of ['scenario_not_found', 'run_not_found', 'run_conflict']) {
      expect(ERROR_CODES).toContain(code);
      invoke.mockRejectedValueOnce({ code, message: 'm' });
      expect((await rejection(api.getScenario('x'))).code).toBe(code);
    }
  });

  it('rebuilds the rollout error codes', async () => {
    invoke.mockRejectedValueOnce({ code: 'canary_not_found', message: "'iris' has no canary on this node" });
    expect((await rejection(api.canary('iris'))).code).toBe('canary_not_found');
    invoke.mockRejectedValueOnce({ code: 'canary_conflict', message: 'cannot resume a canary that is running' });
    expect((await rejection(api.canaryAction({ service: 'iris', action: 'resume' }))).code).toBe('canary_conflict');
    invoke.mockRejectedValueOnce({ code: 'request_not_found', message: 'no recent prediction' });
    expect((await rejection(api.feedback({ service: 'iris', requestId: 'x', outcome: false }))).code).toBe('request_not_found');
  });

  it('sends a version as raw bytes with its metadata in a header', async () => {
    invoke.mockResolvedValueOnce({ id: 'v3' });
    const bytes = new Uint8Array([8, 7, 1]);
    await api.addVersion({ service: 'iris', fileName: 'm.onnx', bytes, id: '  ', unique: true, metrics: { accuracy: 0.9 }, notes: 'n' });
    const [cmd, body, options] = invoke.mock.calls[0];
    expect(cmd).toBe('add_version');
    expect(body).toBe(bytes);
    expect(JSON.parse(options.headers['x-switchyard-meta'])).toEqual({
      service: 'iris',
      file_name: 'm.onnx',
      unique: true,
      metrics: { accuracy: 0.9 },
      notes: 'n',
    });
    expect(JSON.parse(addVersionMeta({ service: 's', fileName: 'f', bytes, id: 'best', unique: false, metrics: {}, notes: '' })).id).toBe('best');
  });

  it('sends a reference CSV after the model bytes, saying where it starts', async () => {
    invoke.mockResolvedValueOnce({ id: 'v3' });
    const bytes = new Uint8Array([8, 7, 1]);
    const reference = new TextEncoder().encode('a,b\n1,2\n');
    const input = { service: 'iris', fileName: 'm.onnx', bytes, unique: false, metrics: {}, notes: '', reference };
    await api.addVersion(input);
    const [, body, options] = invoke.mock.calls[0];
    expect(Array.from(body as Uint8Array)).toEqual([8, 7, 1, ...reference]);
    expect(JSON.parse(options.headers['x-switchyard-meta']).reference_bytes).toBe(reference.length);
    expect(addVersionBody({ ...input, reference: null })).toBe(bytes);
    expect(JSON.parse(addVersionMeta({ ...input, reference: new Uint8Array() })).reference_bytes).toBeUndefined();
  });

  it('streams run progress through a Channel', async () => {
    const seen: unknown[] = [];
    invoke.mockImplementationOnce(async (_cmd: string, args: { onProgress: { onmessage: (m: unknown) => void } }) => {
      args.onProgress.onmessage({ done: 50, total: 100 });
      args.onProgress.onmessage({ done: 100, total: 100 });
      return { count: 100 };
    });
    await api.runTest({ service: 'iris', features: { a: 1 }, count: 100, generation: null, onProgress: (p) => seen.push(p) });
    const [cmd, args] = invoke.mock.calls[0];
    expect(cmd).toBe('run_test');
    expect(args).toMatchObject({ infra: null, request: { service: 'iris', features: { a: 1 }, count: 100, generation: null, credential: null } });
    expect(args.onProgress).toBe(channels[0]);
    expect(seen).toEqual([
      { done: 50, total: 100 },
      { done: 100, total: 100 },
    ]);
  });
});

describe('error headlines', () => {
  it('heads with the message and keeps the code apart', () => {
    expect(errorHeadline(new ApiError('unauthorized', 'this deployment requires an API key'))).toEqual({
      headline: 'this deployment requires an API key',
      code: 'unauthorized',
    });
  });
  it('never heads with a bare code', () => {
    expect(errorHeadline(new ApiError('canary_not_found', 'canary_not_found'))).toEqual({ headline: 'Canary not found.', code: 'canary_not_found' });
    const internal = { headline: 'Something went wrong inside Switchyard: the node log has the details.', code: 'internal' };
    expect(errorHeadline(new ApiError('internal', '  '))).toEqual(internal);
    expect(errorHeadline(new ApiError('internal', 'unauthorized'))).toEqual(internal);
  });
});
