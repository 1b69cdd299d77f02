import { describe, expect, it } from 'vitest';

import {
  allowedActions,
  canaryCandidates,
  checkPlan,
  comparativeProblem,
  comparisonRows,
  configKey,
  defaultCanaryForm,
  duration,
  eventsNewestFirst,
  firstStepConfig,
  gatesSummary,
  gateRows,
  offeredVersion,
  points,
  pValue,
  parseSteps,
  planFromForm,
  planSummary,
  stepLabel,
  stepMapping,
  stepStates,
  stepsProblem,
  stepTiming,
  verdictHelp,
} from './canary';
import type { CanaryForm } from './canary';
import type { Canary, CanaryPlan, CanaryStatus, DeploymentConfig } from './types';

const plan: CanaryPlan = {
  version: 'v3',
  steps: [5, 25, 50, 100],
  bake_seconds: 300,
  gates: { max_error_rate: 0.01, max_p99_ms: 250, min_requests: 100, comparative: null },
  inconclusive_timeout_seconds: 3600,
  on_inconclusive: 'pause',
};

function canary(status: CanaryStatus, step: number, extra: Partial<Canary> = {}): Canary {
  return {
    id: 1,
    service: 'iris',
    plan,
    status,
    step,
    step_started_at: '2026-01-01T00:00:00Z',
    base: { mode: 'single', generation: 'v1', sticky: false },
    base_revision: 2,
    last_reading: null,
    events: [],
    ...extra,
  };
}

describe('CanaryPlan::check, mirrored', () => {
  it('accepts the defaults', () => {
    expect(checkPlan(plan)).toBeNull();
    expect(planFromForm(defaultCanaryForm('v3'))).toEqual({ plan, errors: {} });
  });

  it('refuses the plans the engine refuses, with its messages', () => {
    // The cases of canary.rs `plans_are_checked`.
    expect(stepsProblem([50, 25, 100])).toBe('canary steps must increase (50 then 25)');
    expect(stepsProblem([5, 50])).toBe('canary steps are percentages in (0, 100] and the last one is 100');
    expect(stepsProblem([])).toBe('a canary plan has 1 to 20 steps, e.g. [5, 25, 50, 100]');
    expect(checkPlan({ ...plan, gates: { max_error_rate: 2, max_p99_ms: 10, min_requests: 1, comparative: null } })).toBe(
      'gates: max_error_rate is in [0, 1] and max_p99_ms is a positive number of milliseconds',
    );
  });

  it('checks every rule in the engine order', () => {
    expect(stepsProblem([100])).toBeNull();
    expect(stepsProblem([0.5, 100])).toBeNull();
    expect(stepsProblem(Array.from({ length: 20 }, (_, i) => (i + 1) * 5))).toBeNull();
    expect(stepsProblem(Array.from({ length: 21 }, (_, i) => i + 80))).toMatch(/1 to 20 steps/);
    expect(stepsProblem([5, 5, 100])).toBe('canary steps must increase (5 then 5)');
    expect(stepsProblem([2.5, 1.5, 100])).toBe('canary steps must increase (2.5 then 1.5)');
    expect(stepsProblem([0, 50, 100])).toMatch(/percentages in \(0, 100\]/);
    expect(stepsProblem([-5, 100])).toMatch(/percentages/);
    expect(stepsProblem([50, 150])).toMatch(/percentages/);
    expect(stepsProblem([NaN, 100])).toMatch(/percentages/);
    expect(checkPlan({ ...plan, gates: { ...plan.gates, max_p99_ms: 0 } })).toMatch(/^gates:/);
    expect(checkPlan({ ...plan, gates: { ...plan.gates, max_p99_ms: Infinity } })).toMatch(/^gates:/);
    expect(checkPlan({ ...plan, gates: { ...plan.gates, max_error_rate: -0.1 } })).toMatch(/^gates:/);
    expect(checkPlan({ ...plan, gates: { ...plan.gates, max_error_rate: 0 } })).toBeNull();
    expect(checkPlan({ ...plan, gates: { ...plan.gates, max_error_rate: 1 } })).toBeNull();
    expect(checkPlan({ ...plan, bake_seconds: -1 })).toBe('bake_seconds must be a non-negative number of seconds');
    expect(checkPlan({ ...plan, bake_seconds: 0, inconclusive_timeout_seconds: 0 })).toBeNull();
    expect(checkPlan({ ...plan, inconclusive_timeout_seconds: NaN })).toBe(
      'inconclusive_timeout_seconds must be a non-negative number of seconds',
    );
    // Steps are judged before gates, gates before times.
    expect(checkPlan({ ...plan, steps: [5], bake_seconds: -1 })).toMatch(/percentages/);
    expect(checkPlan({ ...plan, bake_seconds: -1, gates: { ...plan.gates, max_error_rate: 3 } })).toMatch(/^gates:/);
  });
});

describe('the steps field', () => {
  it('reads comma-separated percentages', () => {
    expect(parseSteps('5, 25, 50, 100')).toEqual({ ok: true, steps: [5, 25, 50, 100] });
    expect(parseSteps(' 10%,50 %, 100 ')).toEqual({ ok: true, steps: [10, 50, 100] });
    expect(parseSteps('2.5,100')).toEqual({ ok: true, steps: [2.5, 100] });
    expect(parseSteps('100')).toEqual({ ok: true, steps: [100] });
  });

  it('says what is wrong', () => {
    expect(parseSteps('')).toEqual({ ok: false, message: 'a canary plan has 1 to 20 steps, e.g. [5, 25, 50, 100]' });
    expect(parseSteps('5, , 100')).toMatchObject({ ok: false, message: expect.stringMatching(/step 2 is empty/) });
    expect(parseSteps('5, 25,')).toMatchObject({ ok: false, message: expect.stringMatching(/step 3 is empty/) });
    expect(parseSteps('5, ten, 100')).toMatchObject({ ok: false, message: "step 2 ('ten') is not a number" });
    expect(parseSteps('5 25 100')).toMatchObject({ ok: false, message: expect.stringMatching(/not a number/) });
    expect(parseSteps('50, 25, 100')).toEqual({ ok: false, message: 'canary steps must increase (50 then 25)' });
    expect(parseSteps('5, 50')).toMatchObject({ ok: false, message: expect.stringMatching(/last one is 100/) });
  });
});

describe('the start form', () => {
  const form = (patch: Partial<CanaryForm>): CanaryForm => ({ ...defaultCanaryForm('v3'), ...patch });

  it('reports each field at the field', () => {
    expect(planFromForm(form({ version: '' })).errors).toEqual({ version: expect.any(String) });
    expect(planFromForm(form({ steps: '5, 50' })).errors).toEqual({ steps: expect.stringMatching(/last one is 100/) });
    expect(planFromForm(form({ bake_seconds: null })).errors).toEqual({ bake_seconds: expect.any(String) });
    expect(planFromForm(form({ bake_seconds: -5 })).errors).toEqual({ bake_seconds: 'bake_seconds must be a non-negative number of seconds' });
    expect(planFromForm(form({ inconclusive_timeout_seconds: -1 })).errors).toEqual({ inconclusive_timeout_seconds: expect.any(String) });
    expect(planFromForm(form({ max_error_rate: 1.5 })).errors).toEqual({ max_error_rate: expect.stringMatching(/0 to 1/) });
    expect(planFromForm(form({ max_error_rate: null })).errors).toEqual({ max_error_rate: expect.any(String) });
    expect(planFromForm(form({ max_p99_ms: 0 })).errors).toEqual({ max_p99_ms: expect.any(String) });
    expect(planFromForm(form({ min_requests: 2.5 })).errors).toEqual({ min_requests: expect.any(String) });
    expect(planFromForm(form({ min_requests: -1 })).errors).toEqual({ min_requests: expect.any(String) });
    const many = planFromForm(form({ steps: 'x', max_p99_ms: null, min_requests: NaN }));
    expect(many.plan).toBeNull();
    expect(Object.keys(many.errors).sort()).toEqual(['max_p99_ms', 'min_requests', 'steps']);
  });

  it('builds the plan the engine accepts', () => {
    const { plan: built, errors } = planFromForm(
      form({ steps: '10, 100', bake_seconds: 0, min_requests: 0, max_error_rate: 0, on_inconclusive: 'rollback' }),
    );
    expect(errors).toEqual({});
    expect(built).toEqual({
      version: 'v3',
      steps: [10, 100],
      bake_seconds: 0,
      gates: { max_error_rate: 0, max_p99_ms: 250, min_requests: 0, comparative: null },
      inconclusive_timeout_seconds: 3600,
      on_inconclusive: 'rollback',
    });
    expect(checkPlan(built!)).toBeNull();
  });
});

describe('candidates and actions', () => {
  const ids = ['v3', 'v2', 'v1'];
  it('leaves out the version the live config serves alone', () => {
    const single: DeploymentConfig = { mode: 'single', generation: 'v1', sticky: false };
    expect(canaryCandidates(ids, single)).toEqual(['v3', 'v2']);
    const multi: DeploymentConfig = { mode: 'multiple', mapping: [{ generation: 'v2', proba: 0.7 }, { generation: 'v1', proba: 0.3 }], sticky: false };
    expect(canaryCandidates(ids, multi)).toEqual(['v3', 'v2', 'v1']);
    const alone: DeploymentConfig = { mode: 'multiple', mapping: [{ generation: 'v2', proba: 1 }, { generation: 'v1', proba: 0 }], sticky: false };
    expect(canaryCandidates(ids, alone)).toEqual(['v3', 'v1']);
    expect(canaryCandidates(ids, null)).toEqual([]);
  });

  it('offer the picked version while the list has it, else the newest', () => {
    expect(offeredVersion('v2', ['v3', 'v2'])).toBe('v2');
    expect(offeredVersion('v1', ['v3', 'v2'])).toBe('v3');
    expect(offeredVersion('', ['v3', 'v2'])).toBe('v3');
    expect(offeredVersion('v2', [])).toBe('');
  });

  it('share each step as the engine does', () => {
    const base: DeploymentConfig = { mode: 'multiple', mapping: [{ generation: 'v1', proba: 0.75 }, { generation: 'v2', proba: 0.25 }], sticky: false };
    const s = stepMapping(base, 'v3', 20)!;
    expect(s[0]).toEqual({ generation: 'v3', proba: 0.2 });
    expect(s[1].proba).toBeCloseTo(0.6, 12);
    expect(s[2].proba).toBeCloseTo(0.2, 12);
    expect(stepMapping(base, 'v3', 100)).toEqual([{ generation: 'v3', proba: 1 }]);
    const withCanary: DeploymentConfig = { mode: 'multiple', mapping: [{ generation: 'v1', proba: 0.9 }, { generation: 'v3', proba: 0.1 }], sticky: false };
    expect(stepMapping(withCanary, 'v3', 50)).toEqual([
      { generation: 'v3', proba: 0.5 },
      { generation: 'v1', proba: 0.5 },
    ]);
    expect(stepMapping({ mode: 'single', generation: 'v3', sticky: false }, 'v3', 5)).toBeNull();
  });

  it('enables the buttons each status allows', () => {
    expect(allowedActions('running')).toEqual({ pause: true, resume: false, promote: true, abort: true });
    expect(allowedActions('paused')).toEqual({ pause: false, resume: true, promote: true, abort: true });
    for (const s of ['promoted', 'rolled_back', 'aborted'] as const) {
      expect(allowedActions(s)).toEqual({ pause: false, resume: false, promote: false, abort: false });
    }
  });
});

describe('progress', () => {
  it('marks the steps', () => {
    const states = (c: Canary) => stepStates(c).map((s) => s.state);
    expect(states(canary('running', 1))).toEqual(['done', 'current', 'todo', 'todo']);
    expect(states(canary('paused', 0))).toEqual(['current', 'todo', 'todo', 'todo']);
    expect(states(canary('promoted', 3))).toEqual(['done', 'done', 'done', 'done']);
    // Promoted by hand at step 2: the rest was skipped, 100% reached.
    expect(states(canary('promoted', 1))).toEqual(['done', 'skipped', 'skipped', 'done']);
    expect(states(canary('rolled_back', 2))).toEqual(['done', 'done', 'stopped', 'todo']);
    expect(states(canary('aborted', 0))).toEqual(['stopped', 'todo', 'todo', 'todo']);
    expect(stepStates(canary('running', 0))[3].percent).toBe(100);
    expect(stepLabel(canary('running', 1))).toBe('step 2/4 (25%)');
  });

  it('reads the gates against the plan', () => {
    expect(gateRows(null, plan.gates).map((r) => [r.value, r.limit, r.ok])).toEqual([
      ['—', '≥ 100', null],
      ['—', '≤ 1%', null],
      ['—', '≤ 250 ms', null],
    ]);
    const reading = { at: '2026-01-01T00:05:00Z', requests: 40, errors: 1, error_rate: 0.025, p99_ms: 12.34, verdict: 'inconclusive' as const, comparative: [] };
    expect(gateRows(reading, plan.gates).map((r) => [r.key, r.value, r.ok])).toEqual([
      ['requests', '40', false],
      ['error_rate', '2.5% (1)', false],
      ['p99', '12.3 ms', true],
    ]);
    // No request yet: no figure and no tick for the rates.
    const empty = { ...reading, requests: 0, errors: 0, error_rate: 0, p99_ms: 0 };
    expect(gateRows(empty, plan.gates).map((r) => [r.key, r.value, r.ok])).toEqual([
      ['requests', '0', false],
      ['error_rate', '—, not enough requests', null],
      ['p99', '—, not enough requests', null],
    ]);
  });

  it('explains the verdict for the status', () => {
    const reading = (verdict: 'baking' | 'inconclusive' | 'passed' | 'failed') => ({ at: '2026-01-01T00:05:00Z', requests: 40, errors: 0, error_rate: 0, p99_ms: 1, verdict, comparative: [] });
    expect(verdictHelp(canary('running', 0))).toMatch(/not measured/);
    expect(verdictHelp(canary('running', 0, { last_reading: reading('baking') }))).toBe('the bake time is not over: no gate decides yet');
    expect(verdictHelp(canary('running', 0, { last_reading: reading('inconclusive') }))).toBe(
      'fewer requests than the minimum of 100: no gate decides; past the timeout the canary pauses',
    );
    expect(verdictHelp(canary('running', 1, { last_reading: reading('passed') }))).toBe('every gate passed: on to the next step');
    expect(verdictHelp(canary('paused', 0, { last_reading: reading('baking') }))).toBe(
      'last reading baking; paused: nothing is decided until resumed, then the step is measured afresh',
    );
    expect(verdictHelp(canary('promoted', 3, { last_reading: reading('passed') }))).toBe('every gate passed: promoted');
    expect(verdictHelp(canary('promoted', 0, { last_reading: reading('baking') }))).toBe('promoted by hand while baking: the remaining steps were skipped');
    expect(verdictHelp(canary('rolled_back', 1, { last_reading: reading('failed') }))).toBe('a gate failed: the canary was rolled back to revision #2');
    expect(verdictHelp(canary('rolled_back', 1, { last_reading: reading('inconclusive') }))).toMatch(/^inconclusive past the timeout/);
    expect(verdictHelp(canary('aborted', 1))).toBe('aborted while not measured yet: the config of revision #2 was restored');
  });

  it('says where the step stands in time', () => {
    const start = Date.parse('2026-01-01T00:00:00Z');
    expect(stepTiming(canary('running', 0), start + 60_000)).toBe('baking: 4 min left');
    expect(stepTiming(canary('running', 0), start + 600_000)).toBe('baked 5 min ago; if still inconclusive, pauses in 55 min');
    expect(stepTiming(canary('paused', 0), start)).toBe('');
    expect(duration(45)).toBe('45 s');
    expect(duration(300)).toBe('5 min');
    expect(duration(5400)).toBe('90 min');
    expect(duration(7200)).toBe('2 h');
  });

  it('lists events newest first and notices config changes', () => {
    const events = [
      { at: '2026-01-01T00:00:00Z', message: 'started' },
      { at: '2026-01-01T00:05:00Z', message: 'step 1/4 (5%) passed' },
    ];
    expect(eventsNewestFirst(events).map((e) => e.message)).toEqual(['step 1/4 (5%) passed', 'started']);
    expect(events[0].message).toBe('started');
    expect(configKey(canary('running', 0))).not.toBe(configKey(canary('running', 1)));
    expect(configKey(canary('running', 1))).not.toBe(configKey(canary('rolled_back', 1)));
    expect(configKey(null)).toBe('');
    expect(planSummary(plan)).toBe('v3: 5% → 25% → 50% → 100%, 5 min per step');
  });
});

describe('start confirmation', () => {
  it('deploys the first step, keeping sticky and the shadow', () => {
    const base: DeploymentConfig = { mode: 'single', generation: 'v2', sticky: true, shadow: { generation: 'v1', percent: 10 } };
    expect(firstStepConfig(base, plan)).toEqual({
      mode: 'multiple',
      mapping: [
        { generation: 'v3', proba: 0.05 },
        { generation: 'v2', proba: 0.95 },
      ],
      sticky: true,
      shadow: { generation: 'v1', percent: 10 },
    });
  });
  it('serves the version alone when its first step is 100% or nothing else serves', () => {
    const base: DeploymentConfig = { mode: 'single', generation: 'v2', sticky: false };
    expect(firstStepConfig(base, { ...plan, steps: [100] })).toMatchObject({ mode: 'single', generation: 'v3' });
    expect(firstStepConfig({ mode: 'single', generation: 'v3', sticky: false }, plan)).toMatchObject({ mode: 'single', generation: 'v3' });
  });
  it('says what the gates and the inconclusive policy do', () => {
    expect(gatesSummary(plan)).toBe(
      'Each step needs 100 requests to v3, an error rate ≤ 1% and p99 latency ≤ 250 ms (server time); a failed gate rolls back, and a step still inconclusive 60 min after its bake time pauses.',
    );
    expect(gatesSummary({ ...plan, on_inconclusive: 'rollback', gates: { ...plan.gates, min_requests: 1 } })).toContain('needs 1 request to v3');
  });
});

describe('comparative gates', () => {
  const form = (patch: Partial<CanaryForm>): CanaryForm => ({ ...defaultCanaryForm('v3'), ...patch });
  const gates = { max_error_rate_increase: 0.005, max_p99_increase_percent: 20, max_feature_psi: null, max_disagreement: null, alpha: 0.05 };

  it('are off until one is set, and then go into the plan with alpha', () => {
    expect(planFromForm(form({})).plan?.gates.comparative).toBeNull();
    const built = planFromForm(form({ max_error_rate_increase: 0.005, max_p99_increase_percent: 20 }));
    expect(built.errors).toEqual({});
    expect(built.plan?.gates.comparative).toEqual(gates);
    expect(checkPlan(built.plan!)).toBeNull();
    expect(gatesSummary(built.plan!)).toContain(
      "Against the baseline over the same window (α 0.05): an error rate at most 0.5 points above the baseline's, a p99 at most 20% above the baseline's.",
    );
  });

  it('report a bad value at its field, and the engine rules word for word', () => {
    expect(planFromForm(form({ max_error_rate_increase: 2 })).errors).toEqual({ max_error_rate_increase: expect.stringMatching(/share from 0 to 1/) });
    expect(planFromForm(form({ max_disagreement: -0.1 })).errors).toEqual({ max_disagreement: expect.any(String) });
    expect(planFromForm(form({ max_p99_increase_percent: -5 })).errors).toEqual({ max_p99_increase_percent: expect.any(String) });
    expect(planFromForm(form({ max_feature_psi: 0 })).errors).toEqual({ max_feature_psi: expect.stringMatching(/positive PSI/) });
    // Alpha matters only with a gate set.
    expect(planFromForm(form({ alpha: 0.9 })).errors).toEqual({});
    expect(planFromForm(form({ alpha: 0.9, max_feature_psi: 0.2 })).errors).toEqual({ alpha: expect.any(String) });
    expect(comparativeProblem({ ...gates, max_error_rate_increase: null, max_p99_increase_percent: null })).toMatch(/set at least one/);
    expect(comparativeProblem({ ...gates, alpha: 0 })).toBe('comparative gates: alpha is a significance level in (0, 0.5], e.g. 0.05');
    expect(checkPlan({ ...plan, gates: { ...plan.gates, comparative: { ...gates, max_feature_psi: -1 } } })).toMatch(/positive PSI/);
  });

  it('read canary against baseline, with the test and the drifting feature', () => {
    const rows = comparisonRows([
      { gate: 'error_rate', verdict: 'failed', canary: 0.06, baseline: 0.01, limit: 0.005, p_value: 0.00001, feature: null, detail: 'canary 0.0600' },
      { gate: 'p99_latency', verdict: 'passed', canary: 12.34, baseline: 11.5, limit: 20, p_value: 0.41, feature: null, detail: '' },
      { gate: 'feature_psi', verdict: 'inconclusive', canary: 0.31, baseline: 0.02, limit: 0.2, p_value: null, feature: 'petal_length', detail: 'too few' },
      { gate: 'disagreement', verdict: 'passed', canary: null, baseline: null, limit: 0.05, p_value: null, feature: null, detail: '' },
    ]);
    expect(rows.map((r) => [r.label, r.canary, r.baseline, r.limit, r.p, r.verdict])).toEqual([
      ['Error rate vs baseline', '6%', '1%', '≤ baseline + 0.5 points', 'p < 0.0001', 'failed'],
      ['p99 latency vs baseline', '12.3 ms', '11.5 ms', '≤ baseline + 20%', 'p = 0.4100', 'passed'],
      ['Feature PSI', '0.310 (petal_length)', '0.020', '≤ 0.2', '', 'inconclusive'],
      ['Shadow disagreement', '—', '—', '≤ 5%', '', 'passed'],
    ]);
    expect(pValue(null)).toBe('');
    expect([points(0.01), points(0.005), points(0.02)]).toEqual(['1 point', '0.5 points', '2 points']);
  });

  it('explain an inconclusive step by the comparative gate that lacks data', () => {
    const check = { gate: 'p99_latency' as const, verdict: 'inconclusive' as const, canary: null, baseline: null, limit: 20, p_value: null, feature: null, detail: 'successful baseline requests 3, below the minimum of 100' };
    const reading = { at: '2026-01-01T00:05:00Z', requests: 400, errors: 0, error_rate: 0, p99_ms: 1, verdict: 'inconclusive' as const, comparative: [check] };
    expect(verdictHelp(canary('running', 0, { last_reading: reading }))).toBe(
      'p99 latency vs baseline: successful baseline requests 3, below the minimum of 100: no gate decides; past the timeout the canary pauses',
    );
  });
});
