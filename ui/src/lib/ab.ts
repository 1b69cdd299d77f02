// The Monitoring screen's A/B results and shadow cards: how means, differences and p-values
// are written, and the geometry of the hand-drawn 95% interval plot.

import { metric, pct } from './format';
import type { AbGroup, AbReport, OutcomeKind, ShadowStats, VersionView } from './types';

/** The level under which a difference is called significant. */
export const ALPHA = 0.05;

export function isSignificant(p: number): boolean {
  return Number.isFinite(p) && p < ALPHA;
}

/** "0.042", "< 0.001". */
export function pValue(p: number): string {
  if (!Number.isFinite(p)) return '—';
  if (p < 0.001) return '< 0.001';
  return p.toFixed(3);
}

const TESTS: Record<string, string> = { two_proportion_z: 'two-proportion z', welch_t: 'Welch t' };

export function testLabel(test: string): string {
  return TESTS[test] ?? test.replaceAll('_', ' ');
}

/** A mean or bound: a proportion as a percentage for 0/1 outcomes, else compact. */
export function abValue(v: number | null | undefined, kind: OutcomeKind | null): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  return kind === 'binary' ? pct(v, 1) : metric(v);
}

/** A difference of means, signed: "+5.2 pts" for proportions, "-0.1234" otherwise. */
export function abDifference(d: number, kind: OutcomeKind | null): string {
  if (!Number.isFinite(d)) return '—';
  const sign = d > 0 ? '+' : d < 0 ? '−' : '';
  const abs = Math.abs(d);
  return kind === 'binary' ? `${sign}${Math.round(abs * 1000) / 10} pts` : `${sign}${metric(abs)}`;
}

/** "[91.2%, 97.8%]". */
export function abInterval(g: AbGroup, kind: OutcomeKind | null): string {
  if (g.ci_low === null || g.ci_high === null) return '—';
  return `[${abValue(g.ci_low, kind)}, ${abValue(g.ci_high, kind)}]`;
}

/**
 * The x range of the interval plot: 0 to 1 for proportions (wider if an interval is); otherwise every mean and bound,
 * padded by a tenth of the span (±1 around a single value).
 */
export function plotDomain(report: Pick<AbReport, 'kind' | 'groups'>): [number, number] {
  const values = report.groups.flatMap((g) => [g.mean, g.ci_low, g.ci_high]).filter((v): v is number => v !== null && Number.isFinite(v));
  // Intervals of proportions (Wilson) stay inside 0–1; widen rather than clip, whatever comes.
  if (report.kind === 'binary') return [Math.min(0, ...values), Math.max(1, ...values)];
  if (values.length === 0) return [0, 1];
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  if (hi - lo < 1e-12) return [lo - 1, hi + 1];
  const pad = (hi - lo) * 0.1;
  return [lo - pad, hi + pad];
}

/** Axis values: quarters of 0–100% for proportions, else evenly across the domain, ends included. */
export function plotTicks([lo, hi]: [number, number], kind: OutcomeKind | null, count = 4): number[] {
  if (kind === 'binary') return [0, 0.25, 0.5, 0.75, 1];
  return Array.from({ length: count + 1 }, (_, i) => lo + ((hi - lo) * i) / count);
}

/** A tick label: percentages for proportions, up to 3 significant decimals otherwise. */
export function axisLabel(v: number, kind: OutcomeKind | null): string {
  if (kind === 'binary') return pct(v, 0);
  const abs = Math.abs(v);
  if (abs >= 100 || Number.isInteger(v)) return String(Math.round(v));
  return abs >= 1 ? v.toFixed(1) : v.toFixed(3);
}

// ---- shadows ----

/** "96.4%" of compared answers agreed, or "—" before any comparison. */
export function agreement(s: ShadowStats): string {
  return s.agreement === null ? '—' : pct(s.agreement, 1);
}

/** Whether a generation is a regressor (its mean absolute difference means something). */
export function isRegressor(versions: Pick<VersionView, 'id' | 'schema'>[], generation: string): boolean {
  return versions.find((v) => v.id === generation)?.schema.output.kind === 'regressor';
}

/** The generation every other is compared with: the comparisons' baseline, else the first group. */
export function baselineOf(report: Pick<AbReport, 'comparisons' | 'groups'>): string | null {
  return report.comparisons[0]?.baseline ?? report.groups[0]?.generation ?? null;
}
