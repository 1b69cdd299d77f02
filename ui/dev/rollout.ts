// Development only: the mock backend's canaries, feedback and A/B results (see mock.ts).
// Canary time runs SPEED times faster than the wall clock so a plan with the default 300 s
// bake moves a step every 10 s on screen. Gate readings, verdicts, events and revisions
// follow src/deploy/canary.rs; A/B numbers follow src/monitor/ab.rs closely enough to look
// right (normal approximations instead of Student t).

import { checkPlan, stepLabel, stepMapping } from '../src/lib/canary';
import type { AbComparison, AbGroup, AbReport, Canary, CanaryAction, CanaryPlan, DeploymentConfig, Revision } from '../src/lib/types';

export const SPEED = 30;

/** What the canary controller needs of the mock's deployments. */
export interface Deployments {
  versions(service: string): string[];
  latest(service: string): Revision | undefined;
  append(service: string, config: DeploymentConfig, reason: string, extra: Partial<Revision> & { at?: number }): Revision;
}

type Scenario = { errorRate: number; p99: number };

const canaries = new Map<string, Canary[]>();
/** The wall-clock start of each canary's current step; `step_started_at` shows it in canary time. */
const stepStart = new WeakMap<Canary, number>();

function startStep(c: Canary, at: number) {
  stepStart.set(c, at);
  c.step_started_at = iso(at);
}
const iso = (ms: number) => new Date(ms).toISOString();
const fail = (code: string, message: string) => ({ code, message });

export function latestCanary(service: string): Canary | undefined {
  const list = canaries.get(service) ?? [];
  return list[list.length - 1];
}

export function activeCanary(service: string): Canary | undefined {
  const c = latestCanary(service);
  return c && (c.status === 'running' || c.status === 'paused') ? c : undefined;
}

function event(c: Canary, message: string, at: number) {
  c.events.push({ at: iso(at), message });
}

function serving(c: Canary, percent: number): DeploymentConfig {
  const mapping = stepMapping(c.base, c.plan.version, percent);
  if (!mapping) throw fail('invalid_config', `nothing to compare ${c.plan.version} with: the live config serves only ${c.plan.version}`);
  const { sticky, shadow } = c.base;
  const extra = shadow ? { shadow } : {};
  return mapping.length === 1
    ? { mode: 'single', generation: mapping[0].generation, sticky, ...extra }
    : { mode: 'multiple', mapping, sticky, ...extra };
}

function rollBack(d: Deployments, c: Canary, why: string, at: number) {
  const reason = `canary ${c.id} of ${c.plan.version} rolled back: ${why}`;
  const rev = d.append(c.service, c.base, reason, { kind: 'rollback', rollback_of: c.base_revision, canary_id: c.id, author: 'canary-controller', at });
  event(c, reason, at);
  event(c, `rollback took effect: revision ${rev.number} is live`, at);
}

export function startCanary(d: Deployments, service: string, plan: CanaryPlan, at = Date.now()): Canary {
  const problem = checkPlan(plan);
  if (problem) throw fail('invalid_config', problem);
  const running = activeCanary(service);
  if (running) {
    throw fail('canary_conflict', `canary ${running.id} of ${running.plan.version} is ${running.status} on '${service}': abort it or let it finish first`);
  }
  if (!d.versions(service).includes(plan.version)) throw fail('version_not_found', `version '${plan.version}' of '${service}' does not exist`);
  const base = d.latest(service);
  if (!base) throw fail('not_deployed', `service '${service}' is not deployed on this node: deploy a version first`);
  const list = canaries.get(service) ?? [];
  const c: Canary = {
    id: list.length + 1,
    service,
    plan,
    status: 'running',
    step: 0,
    step_started_at: iso(at),
    base: base.config,
    base_revision: base.number,
    last_reading: null,
    events: [],
  };
  stepStart.set(c, at);
  const config = serving(c, plan.steps[0]);
  const rev = d.append(service, config, `canary ${c.id}: ${plan.version} ${stepLabel(c)} by desktop`, { canary_id: c.id, author: 'canary-controller', at });
  event(c, `started by desktop: ${plan.version} at ${plan.steps[0]}% (revision ${rev.number})`, at);
  list.push(c);
  canaries.set(service, list);
  return c;
}

/** One controller pass at time `at` (repeated until nothing changes). */
export function tick(d: Deployments, c: Canary, scenario: Scenario, at = Date.now()) {
  for (let guard = 0; guard < 50 && c.status === 'running'; guard++) {
    const started = stepStart.get(c) ?? at;
    const elapsed = ((at - started) / 1000) * SPEED;
    // As the UI measures it: the step started `elapsed` canary-seconds ago.
    c.step_started_at = iso(at - elapsed * 1000);
    const percent = c.plan.steps[c.step] ?? 100;
    const requests = Math.floor(elapsed * 0.4 * percent);
    const errors = Math.floor(requests * scenario.errorRate);
    const error_rate = requests ? errors / requests : 0;
    const p99_ms = requests ? scenario.p99 + (c.step % 3) * 0.4 : 0;
    const g = c.plan.gates;
    const verdict =
      elapsed < c.plan.bake_seconds
        ? 'baking'
        : requests < g.min_requests
          ? 'inconclusive'
          : error_rate > g.max_error_rate || p99_ms > g.max_p99_ms
            ? 'failed'
            : 'passed';
    // When the verdict was reached, in wall-clock time (a preset replays the past).
    const decided = Math.min(at, started + (c.plan.bake_seconds / SPEED) * 1000);
    c.last_reading = { at: iso(at), requests, errors, error_rate, p99_ms, verdict, comparative: [] };
    if (verdict === 'baking') return;
    if (verdict === 'inconclusive') {
      if (elapsed < c.plan.bake_seconds + c.plan.inconclusive_timeout_seconds) return;
      const why = `${stepLabel(c)} inconclusive after ${Math.round(elapsed)}s: ${requests} requests, below the minimum of ${g.min_requests}`;
      if (c.plan.on_inconclusive === 'pause') {
        c.status = 'paused';
        event(c, `paused: ${why}`, at);
      } else {
        rollBack(d, c, why, at);
        c.status = 'rolled_back';
      }
      return;
    }
    if (verdict === 'failed') {
      const why =
        error_rate > g.max_error_rate
          ? `error rate ${error_rate.toFixed(4)} > max ${g.max_error_rate} over ${requests} requests at ${stepLabel(c)}`
          : `p99 latency ${p99_ms.toFixed(1)} ms > max ${g.max_p99_ms} ms over ${requests} requests at ${stepLabel(c)}`;
      rollBack(d, c, why, decided);
      c.status = 'rolled_back';
      return;
    }
    const passed = `${stepLabel(c)} passed: ${requests} requests, error rate ${error_rate.toFixed(4)}, p99 ${p99_ms.toFixed(1)} ms`;
    if (c.step + 1 >= c.plan.steps.length) {
      event(c, passed, decided);
      event(c, `promoted: ${c.plan.version} serves 100% (revision ${d.latest(c.service)?.number ?? 0})`, decided);
      c.status = 'promoted';
      return;
    }
    c.step += 1;
    const rev = d.append(c.service, serving(c, c.plan.steps[c.step]), `canary ${c.id}: ${c.plan.version} ${stepLabel(c)}`, {
      canary_id: c.id,
      author: 'canary-controller',
      at: decided,
    });
    startStep(c, decided);
    c.last_reading = null;
    event(c, `${passed}; now ${stepLabel(c)} (revision ${rev.number})`, decided);
  }
}

export function canaryAction(d: Deployments, service: string, action: CanaryAction, at = Date.now()): Canary {
  const c = activeCanary(service);
  if (!c) throw fail('canary_not_found', `'${service}' has no running or paused canary`);
  if (action === 'pause' && c.status === 'running') {
    c.status = 'paused';
    event(c, `paused by desktop at ${stepLabel(c)}`, at);
  } else if (action === 'resume' && c.status === 'paused') {
    c.status = 'running';
    startStep(c, at);
    c.last_reading = null;
    event(c, `resumed by desktop: ${stepLabel(c)} measured afresh`, at);
  } else if (action === 'promote') {
    const { sticky, shadow } = c.base;
    const rev = d.append(
      service,
      { mode: 'single', generation: c.plan.version, sticky, ...(shadow ? { shadow } : {}) },
      `canary ${c.id}: ${c.plan.version} promoted to 100% by desktop`,
      { canary_id: c.id, author: 'canary-controller', at },
    );
    c.status = 'promoted';
    event(c, `promoted by desktop (revision ${rev.number})`, at);
  } else if (action === 'abort') {
    rollBack(d, c, `aborted by desktop at ${stepLabel(c)}`, at);
    c.status = 'aborted';
  } else {
    throw fail('canary_conflict', `cannot ${action} a canary that is ${c.status}`);
  }
  return c;
}

/** A manual rollback stops the canary first, as the engine does. */
export function stopForRollback(service: string, at = Date.now()) {
  const c = activeCanary(service);
  if (!c) return;
  c.status = 'aborted';
  event(c, 'aborted: manual rollback by desktop', at);
}

// ---- feedback and A/B results ----

const served = new Map<string, { service: string; generation: string }>();
const outcomes = new Map<string, { service: string; generation: string; value: number }>();
let nextId = 1;

/** A request id for an answered request, remembered for feedback. */
export function serve(service: string, generation: string): string {
  const id = `0192f3c4-${(nextId++).toString(16).padStart(4, '0')}-7a1b-9c2d-${Math.floor(Math.random() * 1e12).toString(16).padStart(12, '0')}`;
  served.set(id, { service, generation });
  return id;
}

export function feedback(service: string, requestId: string, outcome: unknown): null {
  const value = typeof outcome === 'boolean' ? Number(outcome) : outcome;
  if (typeof value !== 'number' || !Number.isFinite(value)) throw fail('invalid_input', `outcome ${JSON.stringify(outcome)} must be true, false or a finite number`);
  const s = served.get(requestId);
  if (!s || s.service !== service) {
    throw fail('request_not_found', `no recent prediction of '${service}' has request id '${requestId.slice(0, 64)}' (feedback must name a request_id this node answered; the last 200000 are kept)`);
  }
  if (outcomes.has(requestId)) throw fail('already_exists', `request ${requestId} already has feedback; outcomes are recorded once`);
  outcomes.set(requestId, { ...s, value });
  return null;
}

/** Seeds outcomes: `rate` of n successes (binary) for a generation. */
export function seedOutcomes(service: string, generation: string, n: number, rate: number) {
  for (let i = 0; i < n; i++) {
    const id = serve(service, generation);
    outcomes.set(id, { service, generation, value: (i * 7919) % 1000 < rate * 1000 ? 1 : 0 });
  }
}

const MIN_OUTCOMES = 10;

function normalP(z: number): number {
  // Two-sided p from |z| (Abramowitz-Stegun 7.1.26 for erf).
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * x);
  const erf = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x);
  return 1 - erf;
}

const mean = (v: number[]) => v.reduce((s, x) => s + x, 0) / v.length;
const variance = (v: number[]) => v.reduce((s, x) => s + (x - mean(v)) ** 2, 0) / (v.length - 1);

export function abResults(service: string, versionOrder: string[]): AbReport {
  const by = new Map<string, number[]>();
  for (const o of outcomes.values()) if (o.service === service) by.set(o.generation, [...(by.get(o.generation) ?? []), o.value]);
  const data = versionOrder.filter((g) => by.has(g)).map((g) => [g, by.get(g)!] as const);
  const any = data.some(([, v]) => v.length > 0);
  const binary = data.every(([, v]) => v.every((x) => x === 0 || x === 1));
  const kind = !any ? null : binary ? 'binary' : 'numeric';
  const groups: AbGroup[] = data.map(([generation, v]) => {
    const n = v.length;
    if (n === 0) return { generation, n, mean: null, ci_low: null, ci_high: null };
    const m = mean(v);
    if (n === 1) return { generation, n, mean: m, ci_low: null, ci_high: null };
    const half = 1.96 * Math.sqrt((kind === 'binary' ? m * (1 - m) : variance(v)) / n);
    return { generation, n, mean: m, ci_low: m - half, ci_high: m + half };
  });
  const short = data.filter(([, v]) => v.length < MIN_OUTCOMES).map(([g, v]) => `${g} has ${v.length}`);
  const not_enough_data =
    data.length < 2
      ? 'not enough data: an A/B comparison needs at least two generations with feedback'
      : short.length
        ? `not enough data: each generation needs at least ${MIN_OUTCOMES} outcomes (${short.join(', ')})`
        : null;
  const comparisons: AbComparison[] = [];
  if (!not_enough_data && kind) {
    const [baseline, b] = data[0];
    for (const [generation, a] of data.slice(1)) {
      const difference = mean(a) - mean(b);
      let se: number;
      if (kind === 'binary') {
        const pooled = (a.reduce((s, x) => s + x, 0) + b.reduce((s, x) => s + x, 0)) / (a.length + b.length);
        se = Math.sqrt(pooled * (1 - pooled) * (1 / a.length + 1 / b.length));
      } else se = Math.sqrt(variance(a) / a.length + variance(b) / b.length);
      const statistic = se > 0 ? difference / se : 0;
      comparisons.push({ generation, baseline, difference, test: kind === 'binary' ? 'two_proportion_z' : 'welch_t', statistic, p_value: normalP(statistic) });
    }
  }
  return { service, kind, groups, comparisons, not_enough_data };
}
