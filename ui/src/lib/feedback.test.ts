import { describe, expect, it } from 'vitest';

import { canRecord, openRows, sendAll } from './feedback';
import type { RunResult } from './types';

const row = (index: number, generation: string, ok = true, request_id: string | null = `r${index}`): RunResult => ({
  index,
  ok,
  request_id: ok ? request_id : null,
  generation,
  prediction: 'setosa',
  latency_ms: 1,
  server_latency_ms: ok ? 0.05 : null,
  error: ok ? null : { code: 'invalid_input', message: 'x' },
});

describe('rows open for an outcome', () => {
  const results = [row(0, 'v1'), row(1, 'v2'), row(2, 'v2', false), row(3, 'v1', true, null), row(4, 'v2')];

  it('are answered rows with a request id', () => {
    expect(results.map(canRecord)).toEqual([true, true, false, false, true]);
  });

  it('leave out recorded and sending rows, and other generations', () => {
    expect(openRows(results, {}).map((r) => r.index)).toEqual([0, 1, 4]);
    expect(openRows(results, { 1: { state: 'done', outcome: true }, 0: { state: 'sending', outcome: false } }).map((r) => r.index)).toEqual([4]);
    expect(openRows(results, {}, 'v2').map((r) => r.index)).toEqual([1, 4]);
  });
});

describe('sending in bulk', () => {
  it('sends everything with bounded concurrency', async () => {
    let inFlight = 0;
    let peak = 0;
    const sent: number[] = [];
    const failure = await sendAll([1, 2, 3, 4, 5, 6, 7], async (n) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise((r) => setTimeout(r, 1));
      sent.push(n);
      inFlight--;
    }, 3);
    expect(failure).toBeNull();
    expect(sent.sort()).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(peak).toBe(3);
  });

  it('stops at the first failure and returns it', async () => {
    const started: number[] = [];
    const failure = await sendAll([1, 2, 3, 4, 5], async (n) => {
      started.push(n);
      if (n === 2) throw { code: 'request_not_found', message: 'gone' };
    }, 1);
    expect(failure).toEqual({ error: { code: 'request_not_found', message: 'gone' } });
    expect(started).toEqual([1, 2]);
    expect(await sendAll([], async () => {})).toBeNull();
  });
});
