import { describe, expect, it } from 'vitest';

import { trafficSummary } from './traffic';
import type { GenerationStats, MonitorSnapshot } from './types';

function gen(generation: string, requests: number, errors: number): GenerationStats {
  return { generation, requests, errors, rejected: 0, error_rate: 0, p50_ms: 1, p95_ms: 2, p99_ms: 3, minutes: [] };
}

describe('traffic summary', () => {
  it('adds every generation', () => {
    const snap: MonitorSnapshot = { service: 's', window_minutes: 15, generations: [gen('v1', 300, 3), gen('v2', 100, 1)], shadows: [] };
    expect(trafficSummary(snap)).toEqual({ requests: 400, errors: 4, errorRate: 0.01 });
  });
  it('has no error rate without traffic', () => {
    expect(trafficSummary({ service: 's', window_minutes: 15, generations: [], shadows: [] })).toEqual({
      requests: 0,
      errors: 0,
      errorRate: null,
    });
  });
});
