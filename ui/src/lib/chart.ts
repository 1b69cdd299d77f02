// Geometry for the hand-drawn SVG charts: scales, nice axis maxima, paths, and the minute
// slots of a monitoring window.

import type { MinuteStats } from './types';

/** The smallest 1, 2 or 5 × 10^k at or above `v` (at least `floor`). */
export function niceMax(v: number, floor = 1): number {
  if (!Number.isFinite(v) || v <= floor) return floor;
  const exp = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * exp >= v) return m * exp;
  return 10 * exp;
}

/** Maps [d0, d1] onto [r0, r1] linearly. */
export function scale(d0: number, d1: number, r0: number, r1: number): (v: number) => number {
  const k = d1 === d0 ? 0 : (r1 - r0) / (d1 - d0);
  return (v) => r0 + (v - d0) * k;
}

/** Evenly spaced ticks from 0 to max inclusive. */
export function ticks(max: number, count = 4): number[] {
  return Array.from({ length: count + 1 }, (_, i) => (max * i) / count);
}

/** An SVG path through the points, broken where a value is missing. */
export function linePath(points: { x: number; y: number | null }[]): string {
  let d = '';
  let pen = false;
  for (const p of points) {
    if (p.y === null || !Number.isFinite(p.y)) {
      pen = false;
      continue;
    }
    d += `${pen ? 'L' : 'M'}${p.x.toFixed(1)},${p.y.toFixed(1)}`;
    pen = true;
  }
  return d;
}

/** The frame of a per-minute chart: the SVG's size, the margins left for the axes, and the
 * y scale of 0..max. */
export interface MinuteFrame {
  width: number;
  height: number;
  pad: { l: number; r: number; t: number; b: number };
  y: (v: number) => number;
}

export function minuteFrame(max: number): MinuteFrame {
  const width = 360;
  const height = 120;
  const pad = { l: 34, r: 6, t: 8, b: 18 };
  return { width, height, pad, y: scale(0, max, height - pad.b, pad.t) };
}

export interface MinuteSlot {
  /** Start of the minute, ms since the epoch. */
  start: number;
  requests: number;
  errors: number;
  /** Latencies, null for a minute without requests. */
  p50: number | null;
  p95: number | null;
  p99: number | null;
}

const MINUTE = 60_000;

/**
 * The last `window` minutes ending with the current one, each filled from the engine's
 * per-minute stats where it has them (minutes without traffic may be absent).
 */
export function minuteSlots(minutes: MinuteStats[], window: number, now: number = Date.now()): MinuteSlot[] {
  const byMinute = new Map<number, MinuteStats>();
  let latest = Math.floor(now / MINUTE) * MINUTE;
  for (const m of minutes) {
    const t = Date.parse(m.start);
    if (Number.isNaN(t)) continue;
    const key = Math.floor(t / MINUTE) * MINUTE;
    byMinute.set(key, m);
    latest = Math.max(latest, key);
  }
  const n = Math.max(1, Math.round(window));
  return Array.from({ length: n }, (_, i) => {
    const start = latest - (n - 1 - i) * MINUTE;
    const m = byMinute.get(start);
    const has = !!m && m.requests > 0;
    return {
      start,
      requests: m?.requests ?? 0,
      errors: m?.errors ?? 0,
      p50: has ? m.p50_ms : null,
      p95: has ? m.p95_ms : null,
      p99: has ? m.p99_ms : null,
    };
  });
}

/** An axis label: whole numbers as is, others with one or two decimals. */
export function tickLabel(v: number): string {
  if (Number.isInteger(v)) return String(v);
  return Math.abs(v) >= 1 ? v.toFixed(1) : v.toFixed(2);
}

/** "14:05" for an axis label. */
export function clock(ms: number): string {
  const d = new Date(ms);
  return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
}
