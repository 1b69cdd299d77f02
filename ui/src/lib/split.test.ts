import { describe, expect, it } from 'vitest';

import { latencySummary, maxDeviation, splitLabel, splitRows } from './split';

describe('observed vs expected split', () => {
  it('computes shares over answered requests, expected generations first', () => {
    const rows = splitRows({ counts: { v1: 59, v2: 141 }, expected: { v2: 0.7, v1: 0.3 } });
    expect(rows).toEqual([
      { generation: 'v2', count: 141, observed: 0.705, expected: 0.7 },
      { generation: 'v1', count: 59, observed: 0.295, expected: 0.3 },
    ]);
    expect(splitLabel(rows[0])).toBe('v2: 141 (70.5%) · expected 70%');
    expect(splitLabel(rows[1])).toBe('v1: 59 (29.5%) · expected 30%');
    expect(maxDeviation(rows)).toBeCloseTo(0.5, 9);
  });

  it('shows expected generations that got nothing and unexpected ones that answered', () => {
    const rows = splitRows({ counts: { v3: 10 }, expected: { v2: 1 } });
    expect(rows.map(splitLabel)).toEqual(['v2: 0 (0%) · expected 100%', 'v3: 10 (100%) · expected 0%']);
  });

  it('handles a run where nothing was answered', () => {
    const rows = splitRows({ counts: {}, expected: { v1: 0.5, v2: 0.5 } });
    expect(rows.map((r) => r.observed)).toEqual([0, 0]);
    expect(splitRows({ counts: {}, expected: {} })).toEqual([]);
  });

  it('a forced generation is expected at 100%', () => {
    const [row] = splitRows({ counts: { v1: 100 }, expected: { v1: 1 } });
    expect(splitLabel(row)).toBe('v1: 100 (100%) · expected 100%');
  });
});

describe('latency summary', () => {
  it('summarises latencies', () => {
    const s = latencySummary([5, 1, 3, 2, 4, 6, 7, 8, 9, 10]);
    expect(s).toEqual({ mean: 5.5, p50: 5, p95: 10, max: 10 });
    expect(latencySummary([])).toBeNull();
    expect(latencySummary([2])).toEqual({ mean: 2, p50: 2, p95: 2, max: 2 });
  });
});
