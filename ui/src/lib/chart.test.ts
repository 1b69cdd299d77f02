import { describe, expect, it } from 'vitest';

import { linePath, minuteFrame, minuteSlots, niceAxis, niceStep, scale, sharedTops, tickLabel } from './chart';

describe('chart geometry', () => {
  it('steps ticks by 1, 2 or 5 × 10^k', () => {
    expect([0.3, 1, 1.1, 2.5, 4, 7, 13, 0.024, 0].map(niceStep)).toEqual([0.5, 1, 2, 5, 5, 10, 20, 0.05, 1]);
  });

  it('builds a 0-based axis of nice ticks ending at or above the data', () => {
    expect(niceAxis(13)).toEqual({ max: 15, step: 5, ticks: [0, 5, 10, 15] });
    expect(niceAxis(100)).toEqual({ max: 100, step: 50, ticks: [0, 50, 100] });
    expect(niceAxis(7)).toEqual({ max: 8, step: 2, ticks: [0, 2, 4, 6, 8] });
    expect(niceAxis(0)).toEqual({ max: 1, step: 0.5, ticks: [0, 0.5, 1] });
    expect(niceAxis(0.03, 4, 0.1)).toEqual({ max: 0.1, step: 0.05, ticks: [0, 0.05, 0.1] });
    expect(niceAxis(0.7, 4, 0.1)).toEqual({ max: 0.8, step: 0.2, ticks: [0, 0.2, 0.4, 0.6, 0.8] });
    expect(niceAxis(Number.NaN)).toEqual(niceAxis(0));
    for (const v of [0.37, 3.3, 47, 960, 12345]) {
      const a = niceAxis(v);
      expect(a.max).toBeGreaterThanOrEqual(v);
      expect(a.ticks.length - 1).toBeLessThanOrEqual(4);
      expect(a.ticks.every((t, i) => Math.abs(t - i * a.step) < 1e-9)).toBe(true);
    }
  });

  it('scales and ticks', () => {
    const y = scale(0, 10, 100, 0);
    expect(y(0)).toBe(100);
    expect(y(5)).toBe(50);
    expect(scale(3, 3, 0, 10)(3)).toBe(0);
    expect([0, 2.5, 5, 0.05].map((t) => tickLabel(t))).toEqual(['0', '2.5', '5', '0.05']);
    expect(tickLabel(250, 'ms')).toBe('250 ms');
    expect(tickLabel(0.125)).toBe('0.13');
  });

  it('frames a minute chart: 0 on the bottom margin, max on the top one', () => {
    const f = minuteFrame(50);
    expect(f.y(0)).toBe(f.height - f.pad.b);
    expect(f.y(50)).toBe(f.pad.t);
    expect(f.width - f.pad.l - f.pad.r).toBeGreaterThan(0);
  });

  it('breaks lines at missing values', () => {
    expect(linePath([{ x: 0, y: 1 }, { x: 1, y: 2 }, { x: 2, y: null }, { x: 3, y: 4 }])).toBe('M0.0,1.0L1.0,2.0M3.0,4.0');
    expect(linePath([])).toBe('');
  });

  it('lays minutes on a fixed window ending now', () => {
    const now = Date.parse('2026-05-01T12:03:30Z');
    const slots = minuteSlots(
      [
        { start: '2026-05-01T12:01:00Z', requests: 10, errors: 1, rejected: 0, p50_ms: 1, p95_ms: 2, p99_ms: 3 },
        { start: '2026-05-01T12:03:00Z', requests: 5, errors: 0, rejected: 2, p50_ms: 4, p95_ms: 5, p99_ms: 6 },
      ],
      4,
      now,
    );
    expect(slots.map((s) => new Date(s.start).toISOString().slice(11, 16))).toEqual(['12:00', '12:01', '12:02', '12:03']);
    expect(slots.map((s) => s.requests)).toEqual([0, 10, 0, 5]);
    expect(slots.map((s) => s.p99)).toEqual([null, 3, null, 6]);
    expect(slots[1].errors).toBe(1);
  });
});

describe('shared y-scale', () => {
  const slot = (requests: number, p99: number | null) => ({ start: 0, requests, errors: 0, p50: p99, p95: p99, p99 });
  it('takes the tops over every generation, minutes without requests left out', () => {
    expect(sharedTops([[slot(3, 12), slot(0, null)], [slot(40, 2.5)], []])).toEqual({ requests: 40, latency: 12 });
    expect(sharedTops([])).toEqual({ requests: 0, latency: 0 });
    // Both charts then get the same nice axis, whichever generation they show.
    const tops = sharedTops([[slot(3, 12)], [slot(40, 2.5)]]);
    expect(niceAxis(Math.max(3, tops.requests))).toEqual(niceAxis(Math.max(40, tops.requests)));
  });
});
