import { describe, expect, it } from 'vitest';

import { againstLine, binLabels, heatColor, histogram, peak, psiLevel, shares, topFeatures } from './drift';
import type { FeatureDrift, GenerationDrift } from './types';

function feature(name: string, psi: number | null): FeatureDrift {
  return { feature: name, psi, ks: psi, psi_by_minute: [psi], cuts: [1], reference: [5, 5], live: [2, 8] };
}

function generation(features: FeatureDrift[]): GenerationDrift {
  return {
    generation: 'v1',
    reference: { source: 'upload', rows: 1000 },
    baseline: null,
    requests: 10,
    minutes: [{ start: '2026-12-07T10:00:00Z', requests: 10 }],
    features,
    prediction: null,
  };
}

describe('drift', () => {
  it('names PSI levels at the rule-of-thumb thresholds', () => {
    expect([null, 0, 0.099, 0.1, 0.25, 0.2501, 3].map(psiLevel)).toEqual(['none', 'stable', 'stable', 'moderate', 'moderate', 'drifted', 'drifted']);
    expect(psiLevel(Number.NaN)).toBe('none');
  });

  it('colours heat-map cells from white to red, saturating at 0.5', () => {
    expect(heatColor(null)).toBe('transparent');
    expect(heatColor(0)).toBe('rgba(214, 69, 65, 0.00)');
    expect(heatColor(0.25)).toBe('rgba(214, 69, 65, 0.50)');
    expect(heatColor(0.5)).toBe(heatColor(7));
  });

  it('keeps the top features that have a PSI, in the engine order', () => {
    const g = generation([feature('b', 0.9), feature('a', 0.2), feature('c', 0.01), feature('d', null)]);
    expect(topFeatures(g, 2).map((f) => f.feature)).toEqual(['b', 'a']);
    expect(topFeatures(g, 10).map((f) => f.feature)).toEqual(['b', 'a', 'c']);
  });

  it('turns counts into shares and labels bins', () => {
    expect(shares([1, 3])).toEqual([0.25, 0.75]);
    expect(shares([0, 0])).toEqual([0, 0]);
    expect(binLabels([])).toEqual(['all']);
    expect(binLabels([1.23456, 2])).toEqual(['< 1.23', '1.23 – 2', '≥ 2']);
    expect(histogram(['x', 'y'], [5, 5], [2, 8])).toEqual([
      { label: 'x', reference: 0.5, live: 0.2 },
      { label: 'y', reference: 0.5, live: 0.8 },
    ]);
  });

  it('says what a generation is measured against', () => {
    const g = generation([]);
    expect(againstLine(g)).toBe('against a reference of 1000 rows (uploaded CSV)');
    expect(againstLine({ ...g, reference: null, baseline: { collected: 12, target: 1000 } })).toBe('collecting its baseline: 12 of 1000 requests');
  });
});

describe('the histogram peak', () => {
  it('is the largest share of either side, so the tallest bar fills the chart', () => {
    expect(peak([{ reference: 0.2, live: 0.05 }, { reference: 0.1, live: 0.4 }])).toBe(0.4);
    expect(peak([{ reference: 0, live: 0 }])).toBe(1);
    expect(peak([])).toBe(1);
  });
});
