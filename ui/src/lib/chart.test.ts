import { describe, expect, it } from 'vitest';

import { linePath, minuteFrame, minuteSlots, niceMax, scale, tickLabel, ticks } from './chart';

describe('chart geometry', () => {
  it('rounds axis maxima up to 1, 2 or 5 × 10^k', () => {
    expect(niceMax(0)).toBe(1);
    expect(niceMax(7)).toBe(10);
    expect(niceMax(13)).toBe(20);
    expect(niceMax(45)).toBe(50);
    expect(niceMax(100)).toBe(100);
    expect(niceMax(0.03, 0.1)).toBe(0.1);
    expect(niceMax(0.3, 0.1)).toBeCloseTo(0.5, 12);
  });

  it('scales and ticks', () => {
    const y = scale(0, 10, 100, 0);
    expect(y(0)).toBe(100);
    expect(y(5)).toBe(50);
    expect(scale(3, 3, 0, 10)(3)).toBe(0);
    expect(ticks(20, 4)).toEqual([0, 5, 10, 15, 20]);
    expect(ticks(10, 4).map(tickLabel)).toEqual(['0', '2.5', '5', '7.5', '10']);
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
