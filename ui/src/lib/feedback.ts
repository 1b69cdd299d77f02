// Recording outcomes for the requests of a test run (Run & test), one row at a time or all
// the answered ones at once, so the A/B results can be tried without a client of one's own.

import type { RunResult } from './types';

/** Where a row's outcome stands: being sent, or recorded (true = ✓; null: it already had one). */
export type RowFeedback = { state: 'sending' | 'done'; outcome: boolean | null };

export type FeedbackRows = Record<number, RowFeedback>;

/** Whether a row can take an outcome: answered, with the node's request id. */
export function canRecord(r: Pick<RunResult, 'ok' | 'request_id'>): boolean {
  return r.ok && typeof r.request_id === 'string' && r.request_id.length > 0;
}

/** Rows still open for an outcome, answered by `generation` ('' for any). */
export function openRows(results: RunResult[], rows: FeedbackRows, generation = ''): RunResult[] {
  return results.filter((r) => canRecord(r) && !rows[r.index] && (!generation || r.generation === generation));
}

/**
 * Sends `send(item)` for every item, at most `concurrency` at a time, in order. Stops
 * starting new ones after the first failure, which it returns (null when all succeeded).
 */
export async function sendAll<T>(items: T[], send: (item: T) => Promise<void>, concurrency = 8): Promise<{ error: unknown } | null> {
  let next = 0;
  let failure: { error: unknown } | null = null;
  async function worker() {
    while (!failure && next < items.length) {
      const item = items[next++];
      try {
        await send(item);
      } catch (e) {
        failure ??= { error: e };
      }
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, worker));
  return failure;
}
