// Drift as the Monitoring screen shows it: PSI levels and heat-map colours, the top drifting
// features, and reference vs live histograms as shares. Pure functions, tested in drift.test.ts.

import type { FeatureDrift, GenerationDrift } from './types';

/** PSI rule of thumb: below 0.1 stable, 0.1–0.25 moderate, above 0.25 drifted. */
export const PSI_MODERATE = 0.1;
export const PSI_DRIFTED = 0.25;

export type PsiLevel = 'none' | 'stable' | 'moderate' | 'drifted';

export function psiLevel(psi: number | null): PsiLevel {
  if (psi === null || !Number.isFinite(psi)) return 'none';
  if (psi > PSI_DRIFTED) return 'drifted';
  if (psi >= PSI_MODERATE) return 'moderate';
  return 'stable';
}

/**
 * The heat map's cell colour for a PSI: white at 0 to full red at 2× the drifted threshold
 * (0.5) and above; transparent without a value. An `rgba` of the theme's red.
 */
export function heatColor(psi: number | null): string {
  if (psi === null || !Number.isFinite(psi)) return 'transparent';
  const t = Math.min(1, Math.max(0, psi / (2 * PSI_DRIFTED)));
  return `rgba(214, 69, 65, ${t.toFixed(2)})`;
}

/** The `n` most drifting features with a PSI (the engine sends them most drifting first). */
export function topFeatures(g: GenerationDrift, n: number): FeatureDrift[] {
  return g.features.filter((f) => f.psi !== null).slice(0, n);
}

/** Counts as shares of their total (all zeros when the total is 0). */
export function shares(counts: number[]): number[] {
  const total = counts.reduce((a, b) => a + b, 0);
  return counts.map((c) => (total > 0 ? c / total : 0));
}

/** A short label per bin of `cuts`: `< a`, `a – b`, …, `≥ z`; one bin: `all`. */
export function binLabels(cuts: number[]): string[] {
  if (cuts.length === 0) return ['all'];
  const f = (v: number) => Number(v.toPrecision(3)).toString();
  const labels = [`< ${f(cuts[0])}`];
  for (let i = 1; i < cuts.length; i++) labels.push(`${f(cuts[i - 1])} – ${f(cuts[i])}`);
  labels.push(`≥ ${f(cuts[cuts.length - 1])}`);
  return labels;
}

/** One histogram's bars: label, reference share and live share, over the same bins. */
export function histogram(labels: string[], reference: number[], live: number[]): { label: string; reference: number; live: number }[] {
  const r = shares(reference);
  const l = shares(live);
  return labels.map((label, i) => ({ label, reference: r[i] ?? 0, live: l[i] ?? 0 }));
}

/** What a generation is measured against, in a line. */
export function againstLine(g: GenerationDrift): string {
  if (g.reference) return `against a reference of ${g.reference.rows} rows (${g.reference.source === 'upload' ? 'uploaded CSV' : 'first requests'})`;
  if (g.baseline) return `collecting its baseline: ${g.baseline.collected} of ${g.baseline.target} requests`;
  return 'no reference';
}

/** The largest share of a histogram's bars, reference or live: bars are drawn against it, so
 * the tallest fills the chart (1 when every share is 0). */
export function peak(bars: { reference: number; live: number }[]): number {
  const top = Math.max(0, ...bars.flatMap((b) => [b.reference, b.live]));
  return top > 0 ? top : 1;
}
