// Geometry for the hand-drawn SVG charts: scales, nice axes (1-2-5 ticks), paths, and the minute
// slots of a monitoring window.

import type { MinuteStats } from './types';

/** Maps [d0, d1] onto [r0, r1] linearly. */
export function scale(d0: number, d1: number, r0: number, r1: number): (v: number) => number {
  const k = d1 === d0 ? 0 : (r1 - r0) / (d1 - d0);
  return (v) => r0 + (v - d0) * k;
}

/** The smallest 1, 2 or 5 × 10^k at or above `raw` (a tick step). */
export function niceStep(raw: number): number {
  if (!Number.isFinite(raw) || raw <= 0) return 1;
  const exp = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5]) if (m * exp >= raw * (1 - 1e-12)) return m * exp;
  return 10 * exp;
}

/** A y axis from 0: ticks `step` apart (1, 2 or 5 × 10^k), at most `count` intervals, up to
 * the first tick at or above `dataMax` (at least `floor`). */
export interface Axis {
  max: number;
  step: number;
  ticks: number[];
}

export function niceAxis(dataMax: number, count = 4, floor = 1): Axis {
  const top = Number.isFinite(dataMax) ? Math.max(dataMax, floor) : floor;
  const step = niceStep(top / count);
  const n = Math.max(1, Math.ceil(top / step - 1e-9));
  const ticks = Array.from({ length: n + 1 }, (_, i) => Number((i * step).toPrecision(12)));
  return { max: ticks[n], step, ticks };
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

/** An axis label: whole numbers as is, others with one or two decimals; `unit` after it. */
export function tickLabel(v: number, unit = ''): string {
  const n = Number.isInteger(v) ? String(v) : Math.abs(v) >= 1 ? v.toFixed(1) : v.toFixed(2);
  return unit ? `${n} ${unit}` : n;
}

/** What the charts of one panel scale to: the most requests in a minute and the highest p99. */
export interface Tops {
  requests: number;
  latency: number;
}

/**
 * The tops over every generation's minutes, so that the charts of the Monitoring panel share
 * their y-scale (one for requests, one for latency) and compare at a glance.
 */
export function sharedTops(slotsByGeneration: MinuteSlot[][]): Tops {
  let requests = 0;
  let latency = 0;
  for (const slots of slotsByGeneration) {
    for (const s of slots) {
      requests = Math.max(requests, s.requests);
      if (s.p99 !== null && Number.isFinite(s.p99)) latency = Math.max(latency, s.p99);
    }
  }
  return { requests, latency };
}
