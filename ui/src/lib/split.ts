// The observed split of a test run against the mapping it ran under.

import { pct } from './format';
import type { RunReport } from './types';

export interface SplitRow {
  generation: string;
  /** Requests the generation answered. */
  count: number;
  /** Its share of the answered requests (0..1). */
  observed: number;
  /** Its share in the mapping (0..1); 0 when it was not expected to answer. */
  expected: number;
}

/**
 * One row per generation, expected ones first in mapping order, then any that answered
 * without being expected. Observed shares are over the requests a generation answered, so
 * they add up to 100% whatever the number of errors.
 */
export function splitRows(report: Pick<RunReport, 'counts' | 'expected'>): SplitRow[] {
  const generations = [...Object.keys(report.expected)];
  for (const g of Object.keys(report.counts)) if (!generations.includes(g)) generations.push(g);
  const answered = Object.values(report.counts).reduce((s, n) => s + n, 0);
  return generations.map((generation) => {
    const count = report.counts[generation] ?? 0;
    return {
      generation,
      count,
      observed: answered > 0 ? count / answered : 0,
      expected: report.expected[generation] ?? 0,
    };
  });
}

/** "v2: 141 (70.5%) · expected 70%". */
export function splitLabel(row: SplitRow): string {
  return `${row.generation}: ${row.count} (${pct(row.observed)}) · expected ${pct(row.expected)}`;
}

/** The largest gap between observed and expected shares, in percentage points. */
export function maxDeviation(rows: SplitRow[]): number {
  return rows.reduce((m, r) => Math.max(m, Math.abs(r.observed - r.expected) * 100), 0);
}

export interface LatencySummary {
  mean: number;
  p50: number;
  p95: number;
  max: number;
}

/** Latency of the requests of a run (ms), null when there are none. */
export function latencySummary(latencies: number[]): LatencySummary | null {
  const xs = latencies.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (xs.length === 0) return null;
  const q = (p: number) => xs[Math.min(xs.length - 1, Math.max(0, Math.ceil(p * xs.length) - 1))];
  return { mean: xs.reduce((s, x) => s + x, 0) / xs.length, p50: q(0.5), p95: q(0.95), max: xs[xs.length - 1] };
}
