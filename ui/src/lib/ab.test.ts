import { describe, expect, it } from 'vitest';

import {
  abDifference,
  abInterval,
  abValue,
  agreement,
  axisLabel,
  baselineOf,
  isRegressor,
  isSignificant,
  plotDomain,
  plotTicks,
  pValue,
  testLabel,
} from './ab';

describe('A/B figures', () => {
  it('writes p-values and significance at 5%', () => {
    expect(pValue(0.04213)).toBe('0.042');
    expect(pValue(0.0004)).toBe('< 0.001');
    expect(pValue(1)).toBe('1.000');
    expect(pValue(NaN)).toBe('—');
    expect(isSignificant(0.049)).toBe(true);
    expect(isSignificant(0.05)).toBe(false);
    expect(isSignificant(NaN)).toBe(false);
  });

  it('names the tests', () => {
    expect(testLabel('two_proportion_z')).toBe('two-proportion z');
    expect(testLabel('welch_t')).toBe('Welch t');
    expect(testLabel('mann_whitney_u')).toBe('mann whitney u');
  });

  it('writes proportions as percentages and numbers compactly', () => {
    expect(abValue(0.9123, 'binary')).toBe('91.2%');
    expect(abValue(152.34567, 'numeric')).toBe('152.35');
    expect(abValue(null, 'numeric')).toBe('—');
    expect(abDifference(0.052, 'binary')).toBe('+5.2 pts');
    expect(abDifference(-0.1234567, 'numeric')).toBe('−0.1235');
    expect(abDifference(0, 'binary')).toBe('0 pts');
    expect(abInterval({ generation: 'v1', n: 50, mean: 0.9, ci_low: 0.82, ci_high: 0.98 }, 'binary')).toBe('[82%, 98%]');
    expect(abInterval({ generation: 'v1', n: 1, mean: 0.9, ci_low: null, ci_high: null }, 'binary')).toBe('—');
  });
});

describe('the interval plot', () => {
  const g = (mean: number | null, lo: number | null, hi: number | null) => ({ generation: 'v', n: 10, mean, ci_low: lo, ci_high: hi });

  it('spans 0-100% for proportions', () => {
    expect(plotDomain({ kind: 'binary', groups: [g(0.5, 0.4, 0.6)] })).toEqual([0, 1]);
    expect(plotDomain({ kind: 'binary', groups: [g(0.97, 0.93, 1.01), g(0.02, -0.01, 0.05)] })).toEqual([-0.01, 1.01]);
    expect(axisLabel(0.25, 'binary')).toBe('25%');
  });

  it('fits numeric means and intervals with a margin', () => {
    const [lo, hi] = plotDomain({ kind: 'numeric', groups: [g(10, 8, 12), g(15, 11, 18), g(null, null, null)] });
    expect(lo).toBeCloseTo(7);
    expect(hi).toBeCloseTo(19);
    expect(plotDomain({ kind: 'numeric', groups: [g(3, null, null)] })).toEqual([2, 4]);
    expect(plotDomain({ kind: null, groups: [] })).toEqual([0, 1]);
    expect(plotTicks([0, 2], 'numeric', 4)).toEqual([0, 0.5, 1, 1.5, 2]);
    expect(plotTicks([-0.01, 1.04], 'binary')).toEqual([0, 0.25, 0.5, 0.75, 1]);
    expect(axisLabel(152.6, 'numeric')).toBe('153');
    expect(axisLabel(0.1234, 'numeric')).toBe('0.123');
  });
});

describe('the baseline', () => {
  it('is the comparisons baseline, else the first group', () => {
    const group = (generation: string) => ({ generation, n: 10, mean: 0.5, ci_low: 0.4, ci_high: 0.6 });
    const comparison = { generation: 'v1', baseline: 'v2', difference: 0, test: 'welch_t' as const, statistic: 0, p_value: 1 };
    expect(baselineOf({ groups: [group('v1'), group('v2')], comparisons: [comparison] })).toBe('v2');
    expect(baselineOf({ groups: [group('v1'), group('v2')], comparisons: [] })).toBe('v1');
    expect(baselineOf({ groups: [], comparisons: [] })).toBeNull();
  });
});

describe('shadow cards', () => {
  const s = { generation: 'v3', requests: 10, errors: 0, p50_ms: 1, p99_ms: 2, compared: 10, agreement: 0.964, mean_abs_diff: 0.036 };
  it('write the agreement', () => {
    expect(agreement(s)).toBe('96.4%');
    expect(agreement({ ...s, agreement: null })).toBe('—');
  });
  it('know regressors from the schema', () => {
    const v = (id: string, kind: 'regressor' | 'classifier') => ({
      id,
      schema: { input_name: 'X', input_type: 'float32' as const, features: [], output: kind === 'regressor' ? { kind } : { kind, classes: ['a'] } },
    });
    expect(isRegressor([v('v1', 'regressor'), v('v2', 'classifier')], 'v1')).toBe(true);
    expect(isRegressor([v('v1', 'regressor'), v('v2', 'classifier')], 'v2')).toBe(false);
    expect(isRegressor([], 'v9')).toBe(false);
  });
});
