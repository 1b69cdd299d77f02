// Canary plans as the Deployment screen edits and follows them: the start form and its
// validation (the engine's CanaryPlan::check, rule for rule and message for message), which
// versions may be canaried, which actions a status allows, the step bar and the gate readings.

import { pct } from './format';
import type {
  Canary,
  CanaryAction,
  CanaryEvent,
  CanaryPlan,
  CanaryStatus,
  ComparativeGate,
  ComparativeGates,
  DeploymentConfig,
  GateCheck,
  Gates,
  GateReading,
  InconclusivePolicy,
  MappingEntry,
  Verdict,
} from './types';

/** The engine's defaults (src/deploy/canary.rs). */
export const DEFAULT_STEPS = [5, 25, 50, 100];
export const DEFAULT_BAKE_SECONDS = 300;
export const DEFAULT_GATES: Gates = { max_error_rate: 0.01, max_p99_ms: 250, min_requests: 100, comparative: null };
export const DEFAULT_ALPHA = 0.05;
export const DEFAULT_TIMEOUT_SECONDS = 3600;
export const MAX_STEPS = 20;

/** The start form: numbers as number inputs bind them (null when empty or not a number). */
export interface CanaryForm {
  version: string;
  /** Comma-separated percentages: "5, 25, 50, 100". */
  steps: string;
  bake_seconds: number | null;
  max_error_rate: number | null;
  max_p99_ms: number | null;
  min_requests: number | null;
  inconclusive_timeout_seconds: number | null;
  on_inconclusive: InconclusivePolicy;
  /** Comparative gates: each off while empty (null). */
  max_error_rate_increase: number | null;
  max_p99_increase_percent: number | null;
  max_feature_psi: number | null;
  max_disagreement: number | null;
  alpha: number | null;
}

export type CanaryField = Exclude<keyof CanaryForm, 'on_inconclusive'>;

export function defaultCanaryForm(version = ''): CanaryForm {
  return {
    version,
    steps: DEFAULT_STEPS.join(', '),
    bake_seconds: DEFAULT_BAKE_SECONDS,
    max_error_rate: DEFAULT_GATES.max_error_rate,
    max_p99_ms: DEFAULT_GATES.max_p99_ms,
    min_requests: DEFAULT_GATES.min_requests,
    inconclusive_timeout_seconds: DEFAULT_TIMEOUT_SECONDS,
    on_inconclusive: 'pause',
    max_error_rate_increase: null,
    max_p99_increase_percent: null,
    max_feature_psi: null,
    max_disagreement: null,
    alpha: DEFAULT_ALPHA,
  };
}

// ---- validation: the engine's rules ----

/** Rust's `{}` of an f64: 50.0 → "50", 2.5 → "2.5". */
function num(v: number): string {
  return Number.isFinite(v) ? String(v) : Number.isNaN(v) ? 'NaN' : v > 0 ? 'inf' : '-inf';
}

/** CanaryPlan::check on the steps alone: null when they pass. */
export function stepsProblem(steps: number[]): string | null {
  if (steps.length === 0 || steps.length > MAX_STEPS) return 'a canary plan has 1 to 20 steps, e.g. [5, 25, 50, 100]';
  for (let i = 1; i < steps.length; i++) {
    // As in Rust, a comparison with NaN is false: NaN falls to the range rule below.
    if (steps[i] <= steps[i - 1]) return `canary steps must increase (${num(steps[i - 1])} then ${num(steps[i])})`;
  }
  if (steps.some((s) => !Number.isFinite(s) || s <= 0 || s > 100) || steps[steps.length - 1] !== 100) {
    return 'canary steps are percentages in (0, 100] and the last one is 100';
  }
  return null;
}

const GATES_MESSAGE = 'gates: max_error_rate is in [0, 1] and max_p99_ms is a positive number of milliseconds';

function secondsProblem(name: string, v: number): string | null {
  return !Number.isFinite(v) || v < 0 ? `${name} must be a non-negative number of seconds` : null;
}

/** ComparativeGates::problem: the engine's objection to comparative gates, or null. */
export function comparativeProblem(c: ComparativeGates): string | null {
  const set = [c.max_error_rate_increase, c.max_p99_increase_percent, c.max_feature_psi, c.max_disagreement];
  if (set.every((v) => v === null)) {
    return 'comparative gates: set at least one of max_error_rate_increase, max_p99_increase_percent, max_feature_psi, max_disagreement';
  }
  const share = (v: number | null) => v === null || (v >= 0 && v <= 1);
  if (!share(c.max_error_rate_increase) || !share(c.max_disagreement)) {
    return 'comparative gates: max_error_rate_increase and max_disagreement are shares in [0, 1] (0.005 is half a point)';
  }
  const r = c.max_p99_increase_percent;
  if (r !== null && (!Number.isFinite(r) || r < 0)) {
    return 'comparative gates: max_p99_increase_percent is a non-negative percentage (20 allows 20 % slower)';
  }
  const psi = c.max_feature_psi;
  if (psi !== null && (!Number.isFinite(psi) || psi <= 0)) return 'comparative gates: max_feature_psi is a positive PSI (0.2 is a common limit)';
  if (!(c.alpha > 0 && c.alpha <= 0.5)) return 'comparative gates: alpha is a significance level in (0, 0.5], e.g. 0.05';
  return null;
}

/** CanaryPlan::check: the engine's first objection to a plan, in its words, or null. */
export function checkPlan(plan: CanaryPlan): string | null {
  const steps = stepsProblem(plan.steps);
  if (steps) return steps;
  const g = plan.gates;
  if (!(g.max_error_rate >= 0 && g.max_error_rate <= 1) || !Number.isFinite(g.max_p99_ms) || g.max_p99_ms <= 0) {
    return GATES_MESSAGE;
  }
  const compared = g.comparative ? comparativeProblem(g.comparative) : null;
  if (compared) return compared;
  return (
    secondsProblem('bake_seconds', plan.bake_seconds) ?? secondsProblem('inconclusive_timeout_seconds', plan.inconclusive_timeout_seconds)
  );
}

const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

export type StepsParse = { ok: true; steps: number[] } | { ok: false; message: string };

/** Reads "5, 25, 50, 100" (a "%" after a number is allowed) and checks it as the engine does. */
export function parseSteps(text: string): StepsParse {
  const parts = text.split(',').map((p) => p.trim().replace(/\s*%$/, ''));
  if (parts.length === 1 && parts[0] === '') return { ok: false, message: stepsProblem([]) as string };
  const steps: number[] = [];
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i];
    if (!p) return { ok: false, message: `step ${i + 1} is empty: write percentages separated by commas, e.g. 5, 25, 50, 100` };
    if (!DECIMAL.test(p)) return { ok: false, message: `step ${i + 1} ('${p}') is not a number` };
    steps.push(Number(p));
  }
  const problem = stepsProblem(steps);
  return problem ? { ok: false, message: problem } : { ok: true, steps };
}

const isNumber = (v: number | null | undefined): v is number => typeof v === 'number' && !Number.isNaN(v);

export type PlanParse = { plan: CanaryPlan | null; errors: Partial<Record<CanaryField, string>> };

/** The plan the form describes, or the problem of each field (shown at the field). */
export function planFromForm(form: CanaryForm): PlanParse {
  const errors: Partial<Record<CanaryField, string>> = {};
  if (!form.version) errors.version = 'Choose the version to canary';
  const steps = parseSteps(form.steps);
  if (!steps.ok) errors.steps = steps.message;

  const seconds = (field: 'bake_seconds' | 'inconclusive_timeout_seconds') => {
    const v = form[field];
    if (!isNumber(v)) errors[field] = 'a number of seconds is needed';
    else errors[field] = secondsProblem(field, v) ?? undefined;
  };
  seconds('bake_seconds');
  seconds('inconclusive_timeout_seconds');

  const rate = form.max_error_rate;
  if (!isNumber(rate) || !(rate >= 0 && rate <= 1)) errors.max_error_rate = 'a rate from 0 to 1 (0.01 = 1% of requests)';
  const p99 = form.max_p99_ms;
  if (!isNumber(p99) || !Number.isFinite(p99) || p99 <= 0) errors.max_p99_ms = 'a positive number of milliseconds';
  const min = form.min_requests;
  if (!isNumber(min) || !Number.isSafeInteger(min) || min < 0) errors.min_requests = 'a whole number of requests, 0 or more';

  // Comparative gates: an empty field is a gate left off.
  const optional = (v: number | null | undefined) => (isNumber(v) ? v : null);
  const share = (field: 'max_error_rate_increase' | 'max_disagreement', what: string) => {
    const v = optional(form[field]);
    if (v !== null && !(v >= 0 && v <= 1)) errors[field] = `a share from 0 to 1 (${what}), or empty for no gate`;
  };
  share('max_error_rate_increase', '0.005 = half a point more errors');
  share('max_disagreement', '0.05 = one answer in twenty');
  const r = optional(form.max_p99_increase_percent);
  if (r !== null && (!Number.isFinite(r) || r < 0)) errors.max_p99_increase_percent = 'a percentage, 0 or more, or empty for no gate';
  const psi = optional(form.max_feature_psi);
  if (psi !== null && (!Number.isFinite(psi) || psi <= 0)) errors.max_feature_psi = 'a positive PSI (0.2 is common), or empty for no gate';
  const comparative: ComparativeGates = {
    max_error_rate_increase: optional(form.max_error_rate_increase),
    max_p99_increase_percent: r,
    max_feature_psi: psi,
    max_disagreement: optional(form.max_disagreement),
    alpha: optional(form.alpha) ?? Number.NaN,
  };
  const anyComparative = [comparative.max_error_rate_increase, r, psi, comparative.max_disagreement].some((v) => v !== null);
  if (anyComparative && !(comparative.alpha > 0 && comparative.alpha <= 0.5)) errors.alpha = 'a significance level above 0, at most 0.5 (e.g. 0.05)';

  for (const k of Object.keys(errors) as CanaryField[]) if (errors[k] === undefined) delete errors[k];
  if (Object.keys(errors).length || !steps.ok) return { plan: null, errors };
  const plan: CanaryPlan = {
    version: form.version,
    steps: steps.steps,
    bake_seconds: form.bake_seconds as number,
    gates: {
      max_error_rate: rate as number,
      max_p99_ms: p99 as number,
      min_requests: min as number,
      comparative: anyComparative ? comparative : null,
    },
    inconclusive_timeout_seconds: form.inconclusive_timeout_seconds as number,
    on_inconclusive: form.on_inconclusive,
  };
  return { plan, errors };
}

// ---- which versions, which actions ----

/**
 * Versions (newest first) a canary may start with against the live config: not the one it
 * serves alone, since there would be nothing to compare with (the engine's step_serving).
 * None when not deployed.
 */
export function canaryCandidates(ids: string[], config: DeploymentConfig | null | undefined): string[] {
  if (!config) return [];
  const weights = config.mode === 'single' ? [{ generation: config.generation, proba: 1 }] : config.mapping;
  return ids.filter((id) => weights.some((e) => e.generation !== id && e.proba > 0));
}

/** The version the start form shows: the one picked while the list still offers it (the live
 * config may have changed since), else the newest candidate; '' when there is none. */
export function offeredVersion(picked: string, candidates: string[]): string {
  return candidates.includes(picked) ? picked : (candidates[0] ?? '');
}

/**
 * The traffic of a step, as the engine's step_serving shares it: the canary gets `percent`,
 * the other live generations the rest in their base proportions. Null when there is nothing
 * to compare with.
 */
export function stepMapping(base: DeploymentConfig, version: string, percent: number): MappingEntry[] | null {
  if (percent >= 100) return [{ generation: version, proba: 1 }];
  const weights = base.mode === 'single' ? [{ generation: base.generation, proba: 1 }] : base.mapping;
  const others = weights.filter((e) => e.generation !== version && e.proba > 0);
  const total = others.reduce((t, e) => t + e.proba, 0);
  if (others.length === 0 || total <= 0) return null;
  const canary = percent / 100;
  const out: MappingEntry[] = [{ generation: version, proba: canary }];
  let assigned = canary;
  others.forEach((e, i) => {
    const p = i + 1 === others.length ? 1 - assigned : ((1 - canary) * e.proba) / total;
    assigned += p;
    out.push({ generation: e.generation, proba: p });
  });
  return out;
}

export function isActive(status: CanaryStatus): boolean {
  return status === 'running' || status === 'paused';
}

/** The buttons a status enables (the engine refuses the others with canary_conflict). */
export function allowedActions(status: CanaryStatus): Record<CanaryAction, boolean> {
  const active = isActive(status);
  return { pause: status === 'running', resume: status === 'paused', promote: active, abort: active };
}

export const STATUS_LABEL: Record<CanaryStatus, string> = {
  running: 'running',
  paused: 'paused',
  promoted: 'promoted',
  rolled_back: 'rolled back',
  aborted: 'aborted',
};

/** The badge class of a status. */
export const STATUS_TONE: Record<CanaryStatus, 'accent' | 'warn' | 'live' | 'danger' | ''> = {
  running: 'accent',
  paused: 'warn',
  promoted: 'live',
  rolled_back: 'danger',
  aborted: '',
};

// ---- progress ----

export type StepState = 'done' | 'current' | 'stopped' | 'skipped' | 'todo';

/**
 * One entry per step of the plan: passed, the one measured now, where a rollback or abort
 * stopped it, skipped by a promotion by hand, or still to come. A promoted canary reached
 * its last step (100%).
 */
export function stepStates(canary: Pick<Canary, 'plan' | 'status' | 'step'>): { percent: number; state: StepState }[] {
  const last = canary.plan.steps.length - 1;
  return canary.plan.steps.map((percent, i) => {
    let state: StepState;
    if (i < canary.step) state = 'done';
    else if (canary.status === 'promoted') state = i === last ? 'done' : 'skipped';
    else if (i > canary.step) state = 'todo';
    else state = isActive(canary.status) ? 'current' : 'stopped';
    return { percent, state };
  });
}

/** "step 2/4 (25%)", as the engine's events name steps. */
export function stepLabel(canary: Pick<Canary, 'plan' | 'step'>): string {
  const percent = canary.plan.steps[canary.step] ?? 100;
  return `step ${canary.step + 1}/${canary.plan.steps.length} (${num(percent)}%)`;
}

export const VERDICT_LABEL: Record<Verdict, string> = {
  baking: 'Baking',
  inconclusive: 'Inconclusive',
  passed: 'Passed',
  failed: 'Failed',
};

/** What the last reading means for this canary now. */
export function verdictHelp(canary: Pick<Canary, 'status' | 'last_reading' | 'plan' | 'step' | 'base_revision'>): string {
  const r = canary.last_reading;
  const v = r ? VERDICT_LABEL[r.verdict].toLowerCase() : 'not measured yet';
  switch (canary.status) {
    case 'promoted':
      return r?.verdict === 'passed' ? 'every gate passed: promoted' : `promoted by hand while ${v}: the remaining steps were skipped`;
    case 'aborted':
      return `aborted while ${v}: the config of revision #${canary.base_revision} was restored`;
    case 'rolled_back':
      return r?.verdict === 'inconclusive'
        ? `inconclusive past the timeout: the canary was rolled back to revision #${canary.base_revision}`
        : `a gate failed: the canary was rolled back to revision #${canary.base_revision}`;
    case 'paused':
      return `${r ? `last reading ${v}; ` : ''}paused: nothing is decided until resumed, then the step is measured afresh`;
    case 'running':
      break;
  }
  if (!r) return 'the controller has not measured this step yet';
  switch (r.verdict) {
    case 'baking':
      return 'the bake time is not over: no gate decides yet';
    case 'inconclusive': {
      const then = canary.plan.on_inconclusive === 'pause' ? 'pauses' : 'rolls back';
      const min = canary.plan.gates.min_requests;
      const open = r.comparative.find((c) => c.verdict === 'inconclusive');
      const why = r.requests < min || !open ? `fewer requests than the minimum of ${min}` : `${COMPARATIVE_LABEL[open.gate].toLowerCase()}: ${open.detail}`;
      return `${why}: no gate decides; past the timeout the canary ${then}`;
    }
    case 'passed':
      return `every gate passed${canary.step + 1 < canary.plan.steps.length ? ': on to the next step' : ''}`;
    case 'failed':
      return 'a gate failed: rolling back';
  }
}

export interface GateRow {
  key: 'requests' | 'error_rate' | 'p99';
  label: string;
  value: string;
  limit: string;
  /** null when nothing was measured yet. */
  ok: boolean | null;
}

function msText(v: number): string {
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
}

/** The last reading against the plan's gates, one row per gate. */
export function gateRows(reading: GateReading | null, gates: Gates): GateRow[] {
  const r = reading;
  // Without a request measured, a rate or a percentile says nothing: no figure, no verdict.
  const measured = r !== null && r.requests > 0 ? r : null;
  const short = '—, not enough requests';
  return [
    { key: 'requests', label: 'Requests', value: r ? String(r.requests) : '—', limit: `≥ ${gates.min_requests}`, ok: r ? r.requests >= gates.min_requests : null },
    {
      key: 'error_rate',
      label: 'Error rate',
      value: measured ? `${pct(measured.error_rate, 2)}${measured.errors ? ` (${measured.errors})` : ''}` : r ? short : '—',
      limit: `≤ ${pct(gates.max_error_rate, 2)}`,
      ok: measured ? measured.error_rate <= gates.max_error_rate : null,
    },
    {
      key: 'p99',
      label: 'p99 server latency',
      value: measured ? `${msText(measured.p99_ms)} ms` : r ? short : '—',
      limit: `≤ ${num(gates.max_p99_ms)} ms`,
      ok: measured ? measured.p99_ms <= gates.max_p99_ms : null,
    },
  ];
}

export const COMPARATIVE_LABEL: Record<ComparativeGate, string> = {
  error_rate: 'Error rate vs baseline',
  p99_latency: 'p99 latency vs baseline',
  feature_psi: 'Feature PSI',
  disagreement: 'Shadow disagreement',
};

export interface ComparisonRow {
  gate: ComparativeGate;
  label: string;
  canary: string;
  baseline: string;
  limit: string;
  p: string;
  verdict: Verdict;
  detail: string;
}

/** A comparative reading's value in its gate's unit. */
function comparedValue(gate: ComparativeGate, v: number | null): string {
  if (v === null) return '—';
  switch (gate) {
    case 'error_rate':
    case 'disagreement':
      return pct(v, 2);
    case 'p99_latency':
      return `${msText(v)} ms`;
    case 'feature_psi':
      return v.toFixed(3);
  }
}

/** An absolute difference of shares in percentage points: 0.005 → "0.5 points". */
export function points(share: number): string {
  const p = pct(share, 2).replace('%', '');
  return `${p} point${p === '1' ? '' : 's'}`;
}

/** "p = 0.0123", small ones as "p < 0.0001". */
export function pValue(p: number | null): string {
  if (p === null) return '';
  return p < 1e-4 ? 'p < 0.0001' : `p = ${p.toFixed(4)}`;
}

/** The comparative gates' last reading, one row per gate: canary against baseline. */
export function comparisonRows(checks: GateCheck[]): ComparisonRow[] {
  return checks.map((c) => {
    const limit =
      c.gate === 'error_rate'
        ? `≤ baseline + ${points(c.limit)}`
        : c.gate === 'p99_latency'
          ? `≤ baseline + ${num(c.limit)}%`
          : c.gate === 'feature_psi'
            ? `≤ ${num(c.limit)}`
            : `≤ ${pct(c.limit, 2)}`;
    const canary = comparedValue(c.gate, c.canary);
    return {
      gate: c.gate,
      label: COMPARATIVE_LABEL[c.gate],
      canary: c.feature ? `${canary} (${c.feature})` : canary,
      baseline: comparedValue(c.gate, c.baseline),
      limit,
      p: pValue(c.p_value),
      verdict: c.verdict,
      detail: c.detail,
    };
  });
}

/** Seconds as "45 s", "5 min", "1.5 h". */
export function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '—';
  const s = Math.max(0, seconds);
  if (s < 120) return `${Math.round(s)} s`;
  if (s < 7200) return `${Math.round((s / 60) * 10) / 10} min`;
  return `${Math.round((s / 3600) * 10) / 10} h`;
}

/**
 * Where the current step stands in time: "bakes 4 min more", or once baked and still short
 * of requests, when the inconclusive policy applies. Empty for a finished canary.
 */
export function stepTiming(canary: Pick<Canary, 'plan' | 'status' | 'step_started_at'>, now: number): string {
  if (canary.status !== 'running') return '';
  const started = Date.parse(canary.step_started_at);
  if (Number.isNaN(started)) return '';
  const elapsed = (now - started) / 1000;
  const bake = canary.plan.bake_seconds;
  if (elapsed < bake) return `baking: ${duration(bake - elapsed)} left`;
  const policy = canary.plan.on_inconclusive === 'pause' ? 'pauses' : 'rolls back';
  const left = bake + canary.plan.inconclusive_timeout_seconds - elapsed;
  return `baked ${duration(elapsed - bake)} ago; if still inconclusive, ${policy} in ${duration(left)}`;
}

/** The event log, newest first. */
export function eventsNewestFirst(events: CanaryEvent[]): CanaryEvent[] {
  return [...events].reverse();
}

/**
 * A key that changes whenever the controller changed the live config (a new step, a
 * promotion, a rollback): then the versions and revisions are loaded again.
 */
export function configKey(canary: Pick<Canary, 'id' | 'status' | 'step'> | null): string {
  return canary ? `${canary.id}:${canary.status}:${canary.step}` : '';
}

/** "v3: 5% → 25% → 50% → 100%, 5 min per step". */
export function planSummary(plan: CanaryPlan): string {
  return `${plan.version}: ${plan.steps.map((s) => `${num(s)}%`).join(' → ')}, ${duration(plan.bake_seconds)} per step`;
}

/** The config the canary's first step serves (what starting it deploys): the base's sticky
 * and shadow kept, the version alone when there is nothing to share with. */
export function firstStepConfig(base: DeploymentConfig, plan: CanaryPlan): DeploymentConfig {
  const mapping = stepMapping(base, plan.version, plan.steps[0] ?? 100);
  const keep = { sticky: base.sticky, shadow: base.shadow };
  if (!mapping || mapping.length === 1) return { mode: 'single', generation: plan.version, ...keep };
  return { mode: 'multiple', mapping, ...keep };
}

/** The gates and the inconclusive policy in one sentence, for the start confirmation. */
export function gatesSummary(plan: CanaryPlan): string {
  const g = plan.gates;
  const then = plan.on_inconclusive === 'pause' ? 'pauses' : 'rolls back';
  const c = g.comparative;
  const compared = c
    ? [
        c.max_error_rate_increase !== null ? `an error rate at most ${points(c.max_error_rate_increase)} above the baseline's` : '',
        c.max_p99_increase_percent !== null ? `a p99 at most ${num(c.max_p99_increase_percent)}% above the baseline's` : '',
        c.max_feature_psi !== null ? `no feature drifting past PSI ${num(c.max_feature_psi)}` : '',
        c.max_disagreement !== null ? `disagreement with the live answer ≤ ${pct(c.max_disagreement, 2)}` : '',
      ].filter(Boolean)
    : [];
  const against = compared.length ? ` Against the baseline over the same window (α ${num(c?.alpha ?? DEFAULT_ALPHA)}): ${compared.join(', ')}.` : '';
  return (
    `Each step needs ${g.min_requests} request${g.min_requests === 1 ? '' : 's'} to ${plan.version}, an error rate ≤ ${pct(g.max_error_rate, 2)} ` +
    `and p99 latency ≤ ${num(g.max_p99_ms)} ms (server time); a failed gate rolls back, and a step still inconclusive ` +
    `${duration(plan.inconclusive_timeout_seconds)} after its bake time ${then}.${against}`
  );
}
