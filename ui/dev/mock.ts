// Development only (`npm run dev`, then open http://localhost:5173/dev/mock.html): the real
// UI over an in-memory fake of the Tauri commands, to work on screens in a plain browser.
// Never part of the build. Query: ?service=iris_classifier&tab=deployment&fail=list_services
// Rollout: &canary=running|paused|inconclusive|fail|promoted starts iris_classifier with a
// canary of v3 in that state (fail: the canary's error rate breaks the gate); &ab=none|few
// seeds no or too few feedback outcomes (default: enough for a comparison).

import { mockIPC } from '@tauri-apps/api/mocks';

import { defaultCanaryForm, planFromForm } from '../src/lib/canary';
import { fromText } from '../src/lib/mapping';
import type {
  CanaryPlan,
  DeploymentConfig,
  MonitorSnapshot,
  Revision,
  RunProgress,
  RunReport,
  RunResult,
  ServiceSummary,
  Version,
  VersionView,
} from '../src/lib/types';
import { abResults, activeCanary, canaryAction, feedback, latestCanary, seedOutcomes, serve, startCanary, stopForRollback, tick } from './rollout';
import type { Deployments } from './rollout';

const params = new URLSearchParams(location.search);
const minute = 60_000;
const t0 = Date.now() - 3 * 86_400_000;
const iso = (ms: number) => new Date(ms).toISOString();

const irisFeatures = ['sepal_length', 'sepal_width', 'petal_length', 'petal_width'].map((name) => ({ name, dtype: 'float32' as const }));
const cancerFeatures = Array.from({ length: 30 }, (_, i) => ({ name: `feature_${i}`, dtype: 'float32' as const }));

const services = new Map<string, { description: string; created_at: string; versions: Version[]; revisions: Revision[] }>();

function version(service: string, id: string, at: number, features = irisFeatures, metrics: Record<string, number> = {}): Version {
  return {
    service,
    id,
    sha256: Array.from({ length: 64 }, (_, i) => '0123456789abcdef'[(i * 7 + id.length * 3 + at) % 16]).join(''),
    size_bytes: 1800 + id.length * 311,
    schema: {
      input_name: 'X',
      input_type: 'float32',
      features,
      output: service.startsWith('diabetes') ? { kind: 'regressor' } : { kind: 'classifier', classes: ['setosa', 'versicolor', 'virginica'] },
    },
    metrics,
    provenance: { created_by: 'demo', source_file: `fixtures/models/${service}_${id}.onnx` },
    notes: id === 'v3' ? 'MLP (2 × 32 hidden units), scikit-learn' : id === 'v2' ? 'MLP (16 hidden units), scikit-learn' : 'Logistic regression, scikit-learn',
    created_at: iso(at),
  };
}

function revision(service: string, number: number, config: DeploymentConfig, at: number, extra: Partial<Revision> = {}): Revision {
  return { service, node: 'local', number, config, kind: 'deploy', rollback_of: null, author: 'demo', reason: '', created_at: iso(at), canary_id: null, ...extra };
}

services.set('iris_classifier', {
  description: 'Iris species from sepal and petal sizes',
  created_at: iso(t0),
  versions: [
    version('iris_classifier', 'v1', t0, irisFeatures, { accuracy: 0.9333 }),
    version('iris_classifier', 'v2', t0 + 3600_000, irisFeatures, { accuracy: 0.9667 }),
    version('iris_classifier', 'v3', Date.now() - 90 * minute, irisFeatures, { accuracy: 0.9667 }),
  ],
  revisions: [
    revision('iris_classifier', 1, { mode: 'single', generation: 'v1', sticky: false }, t0 + 60_000, { reason: 'first deploy' }),
    revision('iris_classifier', 2, { mode: 'multiple', mapping: [{ generation: 'v2', proba: 0.7 }, { generation: 'v1', proba: 0.3 }], sticky: false }, Date.now() - 40 * minute, { reason: 'split traffic with the MLP' }),
    revision(
      'iris_classifier',
      3,
      { mode: 'multiple', mapping: [{ generation: 'v2', proba: 0.7 }, { generation: 'v1', proba: 0.3 }], sticky: false, shadow: { generation: 'v3', percent: 10 } },
      Date.now() - 30 * minute,
      { reason: 'shadow the deeper MLP' },
    ),
  ],
});
services.set('breast_cancer', {
  description: 'Malignant or benign from 30 cell measurements',
  created_at: iso(t0),
  versions: [version('breast_cancer', 'v1', t0, cancerFeatures, { accuracy: 0.958 })],
  revisions: [revision('breast_cancer', 1, { mode: 'single', generation: 'v1', sticky: false }, t0 + 120_000)],
});
services.set('diabetes_progression', { description: 'Disease progression after one year', created_at: iso(t0), versions: [], revisions: [] });

function get(name: string) {
  const s = services.get(name);
  if (!s) throw { code: 'service_not_found', message: `service '${name}' does not exist` };
  return s;
}

function gens(config: DeploymentConfig) {
  return config.mode === 'single' ? [{ generation: config.generation, proba: 1 }] : config.mapping;
}

function views(name: string): VersionView[] {
  const s = get(name);
  const last = s.revisions[s.revisions.length - 1];
  return s.versions.map((v) => {
    const includes = (r: Revision) => gens(r.config).some((g) => g.generation === v.id);
    let since: string | null = null;
    for (let i = s.revisions.length - 1; i >= 0 && includes(s.revisions[i]); i--) since = s.revisions[i].created_at;
    const share = last && includes(last) ? gens(last.config).find((g) => g.generation === v.id)!.proba : null;
    return { ...v, live: since !== null, live_since: since, share, served_in: s.revisions.filter(includes).map((r) => r.number) };
  });
}

function append(name: string, config: DeploymentConfig, reason: string, extra: Partial<Revision> & { at?: number } = {}): Revision {
  const s = get(name);
  for (const g of gens(config)) {
    if (!s.versions.some((v) => v.id === g.generation)) throw { code: 'invalid_config', message: `generation "${g.generation}" is not a version of this service` };
  }
  if (config.shadow) {
    const { generation, percent } = config.shadow;
    if (!s.versions.some((v) => v.id === generation)) throw { code: 'invalid_config', message: `shadow generation "${generation}" is not a version of this service` };
    if (!(percent >= 0 && percent <= 50)) throw { code: 'invalid_config', message: `shadow percent must be between 0 and 50 (got ${percent})` };
  }
  const { at = Date.now(), ...rest } = extra;
  const r = revision(name, s.revisions.length + 1, config, at, { author: 'you', reason, ...rest });
  s.revisions.push(r);
  return r;
}

const deployments: Deployments = {
  versions: (name) => get(name).versions.map((v) => v.id),
  latest: (name) => get(name).revisions.at(-1),
  append,
};

// The canary's traffic: healthy unless ?canary=fail.
const scenario = { errorRate: params.get('canary') === 'fail' ? 0.03 : 0.002, p99: 3.1 };

/** Lets the canary controller catch up with the clock before answering. */
function controller(name: string) {
  const c = activeCanary(name);
  if (c) tick(deployments, c, scenario);
}

function presetCanary() {
  const preset = params.get('canary');
  if (!preset) return;
  const base = planFromForm(defaultCanaryForm('v3')).plan as CanaryPlan;
  const plans: Record<string, [CanaryPlan, number]> = {
    running: [base, 14_000],
    paused: [base, 14_000],
    inconclusive: [{ ...base, gates: { ...base.gates, min_requests: 5000 } }, 13_000],
    fail: [{ ...base, steps: [10, 50, 100] }, 23_000],
    promoted: [{ ...base, steps: [50, 100], bake_seconds: 60 }, 9_000],
  };
  const [plan, ago] = plans[preset] ?? plans.running;
  const start = Date.now() - ago;
  const c = startCanary(deployments, 'iris_classifier', plan, start);
  for (let t = start; t <= Date.now(); t += 500) tick(deployments, c, scenario, t);
  if (preset === 'paused') canaryAction(deployments, 'iris_classifier', 'pause');
}
presetCanary();

const ab = params.get('ab');
if (ab !== 'none') {
  seedOutcomes('iris_classifier', 'v1', ab === 'few' ? 6 : 48, 0.79);
  seedOutcomes('iris_classifier', 'v2', ab === 'few' ? 14 : 64, 0.94);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// Scenarios: one demo scenario with one finished run; Run now plays a 3 s run.
const demoSpec = {
  name: 'monthly_retrain',
  description: 'Retrain iris on fresh data, evaluate, deploy if better',
  variables: {},
  steps: [
    { kind: 'run_command', name: 'train', command: 'python train.py --out out/model.onnx' },
    { kind: 'create_version', name: 'register', service: 'iris_classifier', model_file: 'out/model.onnx' },
    { kind: 'evaluate', name: 'gate', service: 'iris_classifier', version: '${version_id}', metric: 'accuracy', holdout_csv: 'holdout.csv', stop_unless_better: true },
    { kind: 'update_deployment', name: 'deploy', service: 'iris_classifier', version: '${version_id}' },
  ],
  triggers: [{ kind: 'cron', schedule: '0 0 1 * *', timezone: 'UTC', on_missed: 'skip', enabled: true }],
};
const nextFire = { at: '2099-01-01T00:00:00Z', local: '2099-01-01 00:00:00 UTC' };
function demoRun(id: number, startedAt: number, doneSteps: number, status: string): any {
  const running = status === 'running';
  return {
    scenario: demoSpec.name, id, trigger: 'manual', trigger_detail: 'manual by desktop', status,
    message: running ? '' : status === 'succeeded' ? 'deployed v4' : 'cancelled by desktop',
    steps: demoSpec.steps.map((st, i) => ({ name: st.name, kind: st.kind, status: i < doneSteps ? 'succeeded' : running && i === doneSteps ? 'running' : running ? 'pending' : status === 'succeeded' ? 'succeeded' : 'cancelled', started_at: null, ended_at: null, message: '', outputs: {} })),
    variables: {}, started_at: iso(startedAt), ended_at: running ? null : iso(startedAt + 2500), progress: running ? doneSteps / 4 : 1,
    log: demoSpec.steps.slice(0, running ? doneSteps + 1 : 4).map((st) => `[${st.name}] ok\n`).join(''),
  };
}
const scenarioRuns: any[] = [demoRun(1, Date.now() - 86_400_000, 4, 'succeeded')];
let liveRun: { id: number; at: number; cancelled: boolean } | null = null;
function currentRun(id: number): any {
  const r = scenarioRuns.find((x) => x.id === id);
  if (!r) throw { code: 'run_not_found', message: `no run ${id}` };
  if (liveRun?.id === id && r.status === 'running') {
    const done = Math.floor((Date.now() - liveRun.at) / 750);
    const next = liveRun.cancelled ? demoRun(id, liveRun.at, Math.min(done, 3), 'cancelled') : done >= 4 ? demoRun(id, liveRun.at, 4, 'succeeded') : demoRun(id, liveRun.at, done, 'running');
    Object.assign(r, next);
  }
  return r;
}
function scenarioView(): any {
  const last = scenarioRuns.at(-1);
  const current = last ? currentRun(last.id) : null;
  return { spec: demoSpec, created_at: iso(Date.now() - 30 * 86_400_000), updated_at: iso(Date.now() - 86_400_000), running: current?.status === 'running' ? current.id : null, last_run: current, next_fire: nextFire };
}
function scenarioGet(name: string) {
  if (name !== demoSpec.name) throw { code: 'scenario_not_found', message: `scenario '${name}' does not exist` };
}

mockIPC(async (cmd, payload) => {
  const args = (payload ?? {}) as Record<string, any>;
  const a = args;
  await sleep(120);
  if (params.get('fail') === cmd) throw { code: 'internal', message: `registry storage failed: database is locked (mock failure of ${cmd})` };
  switch (cmd) {
    case 'list_infrastructures':
      return [];
    case 'node_info':
      return { url: 'http://127.0.0.1:7878', port: 7878, data_dir: '/home/you/.local/share/switchyard', version: '0.1.0' };
    case 'list_services':
      for (const name of services.keys()) controller(name);
      return [...services.entries()].map(
        ([name, s]): ServiceSummary => ({ name, description: s.description, created_at: s.created_at, version_count: s.versions.length, deployment: s.revisions[s.revisions.length - 1] ?? null }),
      );
    case 'create_service': {
      if (!/^[a-z][a-z0-9_-]{0,63}$/.test(a.name)) throw { code: 'invalid_name', message: `invalid service name '${a.name}': use 1-64 characters, a lowercase letter first, then lowercase letters, digits, '_' or '-' (e.g. iris_classifier)` };
      if (services.has(a.name)) throw { code: 'already_exists', message: `service '${a.name}' already exists` };
      services.set(a.name, { description: a.description, created_at: iso(Date.now()), versions: [], revisions: [] });
      return { name: a.name, description: a.description, created_at: iso(Date.now()) };
    }
    case 'list_versions':
      controller(a.service);
      return views(a.service);
    case 'revisions':
      controller(a.service);
      return get(a.service).revisions;
    case 'add_version': {
      await sleep(900);
      const s = get('iris_classifier');
      const v = version('iris_classifier', `v${s.versions.length + 1}`, Date.now(), irisFeatures, {});
      s.versions.push(v);
      return v;
    }
    case 'deploy':
    case 'deploy_version': {
      const c = activeCanary(a.service);
      if (c) throw { code: 'canary_conflict', message: `canary ${c.id} of ${c.plan.version} is ${c.status} on '${a.service}': promote or abort it before deploying` };
      if (cmd === 'deploy') {
        await sleep(500);
        return append(a.service, a.config, a.reason);
      }
      const current = get(a.service).revisions.at(-1)?.config;
      const shadow = current?.shadow && current.shadow.generation !== a.version ? { shadow: current.shadow } : {};
      return append(a.service, { mode: 'single', generation: a.version, sticky: current?.sticky ?? false, ...shadow }, a.reason || `deploy ${a.version}`);
    }
    case 'rollback': {
      stopForRollback(a.service);
      const s = get(a.service);
      const target = a.toRevision ?? s.revisions.length - 1;
      if (target < 1) throw { code: 'invalid_config', message: `nothing to roll back to: revision ${s.revisions.length} is the first of '${a.service}'` };
      return append(a.service, s.revisions[target - 1].config, a.reason || `rollback to revision ${target}`, { kind: 'rollback', rollback_of: target });
    }
    case 'validate_mapping': {
      const ids = new Set(get(a.service).versions.map((v) => v.id));
      const r = fromText(a.text, (g) => ids.has(g));
      return r.ok ? [] : r.issues.map(({ index, field, kind, message }) => ({ index, field, kind, message }));
    }
    case 'run_test': {
      // As api.ts sends it: {infra, request: {service, features, count, generation, credential}, onProgress}.
      const a = { ...(args.request ?? {}), onProgress: args.onProgress } as Record<string, any>;
      const s = get(a.service);
      const last = s.revisions[s.revisions.length - 1];
      if (!last) throw { code: 'not_deployed', message: `service '${a.service}' is not deployed on this node: deploy a version first` };
      const mapping = a.generation ? [{ generation: a.generation, proba: 1 }] : gens(last.config);
      const results: RunResult[] = [];
      const counts: Record<string, number> = {};
      const channel = a.onProgress as { onmessage: (p: RunProgress) => void };
      for (let i = 0; i < a.count; i++) {
        let u = Math.random();
        const g = mapping.find((m) => (u -= m.proba) < 0)?.generation ?? mapping[mapping.length - 1].generation;
        const ok = Math.random() > 0.02;
        counts[g] = (counts[g] ?? 0) + 1;
        results.push(
          ok
            ? { index: i, ok, request_id: serve(a.service, g), generation: g, prediction: ['setosa', 'versicolor', 'virginica'][i % 3], probabilities: { setosa: 0.8, versicolor: 0.15, virginica: 0.05 }, latency_ms: 0.2 + Math.random() * 0.8, server_latency_ms: 0.05, error: null }
            : { index: i, ok, request_id: null, generation: g, prediction: null, latency_ms: 0.1, server_latency_ms: null, error: { code: 'invalid_input', message: 'missing features: petal_width' } },
        );
        if (i % 20 === 19) {
          channel.onmessage({ done: i + 1, total: a.count });
          await sleep(15);
        }
      }
      const report: RunReport = { service: a.service, count: a.count, results, counts, errors: results.filter((r) => !r.ok).length, expected: Object.fromEntries(mapping.map((m) => [m.generation, m.proba])), elapsed_ms: 412.5 };
      return report;
    }
    case 'export_report':
      return `/home/you/Downloads/${String(a.service)}-report.html`;
    case 'monitor': {
      controller(a.service);
      const s = get(a.service);
      const last = s.revisions[s.revisions.length - 1];
      const now = Math.floor(Date.now() / minute) * minute;
      const snapshot: MonitorSnapshot = {
        service: a.service,
        window_minutes: a.minutes,
        generations: last
          ? gens(last.config).map((g, gi) => {
              const minutes = Array.from({ length: a.minutes }, (_, i) => {
                const requests = Math.round(g.proba * (60 + 40 * Math.sin(i / 2 + gi)));
                return { start: iso(now - (a.minutes - 1 - i) * minute), requests, errors: i % 7 === 3 ? 2 : 0, rejected: i % 11 === 5 ? 1 : 0, p50_ms: 0.4 + gi * 0.3, p95_ms: 1.1 + gi * 0.5 + (i % 5) * 0.1, p99_ms: 2.2 + gi + (i % 3) * 0.4 };
              });
              const requests = minutes.reduce((t, m) => t + m.requests, 0);
              const errors = minutes.reduce((t, m) => t + m.errors, 0);
              const rejected = minutes.reduce((t, m) => t + m.rejected, 0);
              return { generation: g.generation, requests, errors, rejected, error_rate: requests ? errors / requests : 0, p50_ms: 0.4 + gi * 0.3, p95_ms: 1.2 + gi * 0.5, p99_ms: 2.6 + gi, minutes };
            })
          : [],
        shadows: [],
      };
      if (last?.config.shadow) {
        const total = snapshot.generations.reduce((t, g) => t + g.requests, 0);
        const requests = Math.round((total * last.config.shadow.percent) / 100);
        const regressor = a.service.startsWith('diabetes');
        const compared = Math.max(0, requests - 2);
        snapshot.shadows.push({
          generation: last.config.shadow.generation,
          requests,
          errors: requests > 50 ? 1 : 0,
          p50_ms: 0.9,
          p99_ms: 4.2,
          compared,
          agreement: compared ? (regressor ? 0.12 : 0.964) : null,
          mean_abs_diff: compared ? (regressor ? 7.35 : 0.036) : null,
        });
      }
      return snapshot;
    }
    case 'canary': {
      get(a.service);
      controller(a.service);
      const c = latestCanary(a.service);
      if (!c) throw { code: 'canary_not_found', message: `'${a.service}' has no canary on this node` };
      return c;
    }
    case 'start_canary':
      await sleep(400);
      return startCanary(deployments, a.service, a.plan);
    case 'canary_action':
      await sleep(300);
      return canaryAction(deployments, a.service, a.action);
    case 'ab_results':
      return abResults(a.service, get(a.service).versions.map((v) => v.id));
    case 'list_scenarios':
      return [scenarioView()];
    case 'get_scenario':
      scenarioGet(a.name);
      return scenarioView();
    case 'validate_scenario':
      return a.spec?.name ? [] : [{ path: 'name', step: null, message: 'a scenario needs a name' }];
    case 'save_scenario':
      if (a.spec?.name !== demoSpec.name) throw { code: 'invalid_input', message: 'the mock keeps one scenario' };
      Object.assign(demoSpec, a.spec);
      return scenarioView();
    case 'scenario_next_fires':
      scenarioGet(a.name);
      return [{ trigger: 0, schedule: '0 0 1 * *', timezone: 'UTC', description: 'monthly on the 1st at midnight', enabled: true, on_missed: 'skip', next: [nextFire] }];
    case 'start_scenario_run': {
      scenarioGet(a.name);
      if (scenarioView().running !== null) throw { code: 'run_conflict', message: 'a run is in progress' };
      const id = scenarioRuns.length + 1;
      liveRun = { id, at: Date.now(), cancelled: false };
      scenarioRuns.push(demoRun(id, Date.now(), 0, 'running'));
      return currentRun(id);
    }
    case 'scenario_runs':
      scenarioGet(a.name);
      return [...scenarioRuns].reverse().map((r) => ({ ...currentRun(r.id), log: undefined }));
    case 'scenario_run':
      return currentRun(a.id);
    case 'cancel_scenario_run':
      if (liveRun && liveRun.id === a.id) liveRun.cancelled = true;
      return currentRun(a.id);
    case 'watch_scenario_run': {
      const channel = a.onUpdate as { onmessage: (r: unknown) => void };
      for (;;) {
        const r = currentRun(a.id);
        channel.onmessage({ ...r });
        if (r.status !== 'running') return r;
        await sleep(250);
      }
    }
    case 'feedback':
      get(a.service);
      return feedback(a.service, a.requestId, a.outcome);
  }
  throw `command ${cmd} not found`;
});

const { app } = await import('../src/lib/store.svelte');
await import('../src/main');
if (params.get('scenarios') !== null) app.showScenarios();
const service = params.get('service');
if (service) app.select(service, (params.get('tab') as 'versions' | null) ?? 'versions');

// ?click=run-button,confirm-ok clicks those test ids one after the other (screenshots).
// ?type=testid:text sets an input's or textarea's value first.
for (const step of params.getAll('type')) {
  const [id, ...rest] = step.split(':');
  await sleep(900);
  const el = document.querySelector<HTMLInputElement | HTMLTextAreaElement>(`[data-testid="${id}"]`);
  if (el) {
    el.value = rest.join(':');
    el.dispatchEvent(new Event('input', { bubbles: true }));
  }
}
for (const id of (params.get('click') ?? '').split(',').filter(Boolean)) {
  await sleep(900);
  document.querySelector<HTMLElement>(`[data-testid="${id}"]`)?.click();
}
