import { describe, expect, it } from 'vitest';

import {
  agreementSentence,
  answerOf,
  confusionCells,
  featureList,
  formOf,
  formatDuration,
  parseDuration,
  percent,
  policyFromForm,
  progress,
  rowFilter,
} from './capture';
import type { ReplayFigures } from './types';

describe('the capture policy form', () => {
  it('reads durations as the engine does', () => {
    expect(parseDuration('7d')).toBe(604800);
    expect(parseDuration(' 90s ')).toBe(90);
    expect(parseDuration('30min')).toBe(1800);
    expect(parseDuration('0h')).toBeNull();
    expect(parseDuration('7 days')).toBeNull();
    expect(parseDuration('')).toBeNull();
    expect(formatDuration(604800)).toBe('1w');
    expect(formatDuration(86400 * 3)).toBe('3d');
    expect(formatDuration(90)).toBe('90s');
  });

  it('round-trips a policy and refuses what the engine refuses', () => {
    const policy = { percent: 12.5, max_rows: 500, retention_seconds: 86400, drop_features: ['email'], hash_features: ['ssn', 'zip'] };
    expect(policyFromForm(formOf(policy))).toEqual({ policy });
    expect(policyFromForm(formOf(null))).toEqual({ policy: null });
    const form = { ...formOf(policy) };
    expect(policyFromForm({ ...form, percent: '101' })).toEqual({ problem: 'Sampling must be a percentage from 0 to 100.' });
    expect(policyFromForm({ ...form, percent: '' })).toHaveProperty('problem');
    expect(policyFromForm({ ...form, maxRows: '0' })).toHaveProperty('problem');
    expect(policyFromForm({ ...form, retention: 'soon' })).toHaveProperty('problem');
    expect(policyFromForm({ ...form, hash: 'email' })).toEqual({ problem: "Feature 'email' is both dropped and hashed: choose one." });
    expect(featureList(' a, b ,,a ')).toEqual(['a', 'b']);
  });
});

describe('captured rows', () => {
  it('filters as typed', () => {
    const now = 1_000_000_000;
    expect(rowFilter({ generation: '', since: '', feedback: 'any', prediction: '' }, now)).toEqual({ limit: 100 });
    expect(rowFilter({ generation: 'v2', since: '1h', feedback: 'without', prediction: ' setosa ' }, now, 20)).toEqual({
      limit: 20,
      generation: 'v2',
      since_ms: now - 3_600_000,
      has_feedback: false,
      prediction: 'setosa',
    });
  });

  it('names the answer', () => {
    expect(answerOf({ label: 'setosa', value: null })).toBe('setosa');
    expect(answerOf({ label: null, value: 151.123456789 })).toBe('151.123');
    expect(answerOf({ label: null, value: null })).toBe('—');
  });
});

describe('replay figures', () => {
  const figures: ReplayFigures = {
    kind: 'classification',
    rows: 200,
    agreement: 0.9995,
    identical: 150,
    confusion: { classes: ['a', 'b'], counts: [[90, 10], [0, 100]] },
    regression: null,
    ground_truth: null,
    latency: { candidate_p50_ms: 0.1, candidate_p99_ms: 0.2, live_p50_ms: 0.3, live_p99_ms: 0.4 },
    disagreements: [],
  };

  it('never rounds a disagreement up to 100 %', () => {
    expect(percent(0.9995)).toBe('99.9%');
    expect(percent(1)).toBe('100%');
    expect(percent(0.25)).toBe('25%');
    expect(agreementSentence(figures, 'v2')).toBe('v2 gave the same label as live on 99.9% of 200 rows.');
  });

  it('lays out the confusion matrix with row shares', () => {
    const rows = confusionCells(figures.confusion!);
    expect(rows.map((r) => r.live)).toEqual(['a', 'b']);
    expect(rows[0].cells).toEqual([
      { candidate: 'a', count: 90, agree: true, share: 0.9 },
      { candidate: 'b', count: 10, agree: false, share: 0.1 },
    ]);
    expect(rows[1].cells[0]).toEqual({ candidate: 'a', count: 0, agree: false, share: 0 });
  });

  it('measures progress', () => {
    expect(progress({ replayed: 250, total: 1000 })).toBe(0.25);
    expect(progress({ replayed: 0, total: 0 })).toBe(0);
  });
});
