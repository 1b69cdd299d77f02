// Traffic capture and replay in the console: the policy form and its checks, row filters,
// and how replay figures read (agreement, confusion matrix cells, ground truth, progress).

import { pct } from './format';
import type { CapturePolicy, CaptureRow, Confusion, Replay, ReplayFigures, RowFilter } from './types';

/** The Capture panel's form, as typed. */
export interface PolicyForm {
  enabled: boolean;
  percent: string;
  maxRows: string;
  /** A duration: 90s, 30m, 24h, 7d, 2w. */
  retention: string;
  /** Comma-separated feature names. */
  drop: string;
  hash: string;
}

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, min: 60, h: 3600, d: 86400, w: 604800 };

/** Seconds of a duration written as a count and a unit (the engine's `parse_duration`), or null. */
export function parseDuration(text: string): number | null {
  const m = /^\s*(\d+)\s*(s|m|min|h|d|w)\s*$/.exec(text);
  if (!m) return null;
  const n = Number(m[1]) * UNIT_SECONDS[m[2]];
  return Number.isSafeInteger(n) && n > 0 ? n : null;
}

/** The shortest way to write `seconds` in the units above. */
export function formatDuration(seconds: number): string {
  for (const [unit, size] of [['w', 604800], ['d', 86400], ['h', 3600], ['m', 60]] as const) {
    if (seconds % size === 0) return `${seconds / size}${unit}`;
  }
  return `${seconds}s`;
}

/** Feature names of a comma-separated list, trimmed, without blanks or repeats. */
export function featureList(text: string): string[] {
  return [...new Set(text.split(',').map((f) => f.trim()).filter((f) => f.length > 0))];
}

/** The form of a policy (or of capture off). */
export function formOf(policy: CapturePolicy | null | undefined): PolicyForm {
  if (!policy) return { enabled: false, percent: '10', maxRows: '100000', retention: '7d', drop: '', hash: '' };
  return {
    enabled: true,
    percent: String(policy.percent),
    maxRows: String(policy.max_rows ?? 100000),
    retention: formatDuration(policy.retention_seconds ?? 604800),
    drop: (policy.drop_features ?? []).join(', '),
    hash: (policy.hash_features ?? []).join(', '),
  };
}

/** The policy a form describes (null: capture off), or the first problem, in a sentence. */
export function policyFromForm(form: PolicyForm): { policy: CapturePolicy | null } | { problem: string } {
  if (!form.enabled) return { policy: null };
  const percent = Number(form.percent);
  if (form.percent.trim() === '' || !Number.isFinite(percent) || percent < 0 || percent > 100) {
    return { problem: 'Sampling must be a percentage from 0 to 100.' };
  }
  const maxRows = Number(form.maxRows);
  if (!Number.isSafeInteger(maxRows) || maxRows < 1) return { problem: 'The cap must be a whole number of rows, at least 1.' };
  const retention = parseDuration(form.retention);
  if (retention === null) return { problem: 'Retention is a count and a unit, as 24h or 7d.' };
  const drop = featureList(form.drop);
  const hash = featureList(form.hash);
  const both = drop.find((f) => hash.includes(f));
  if (both) return { problem: `Feature '${both}' is both dropped and hashed: choose one.` };
  return { policy: { percent, max_rows: maxRows, retention_seconds: retention, drop_features: drop, hash_features: hash } };
}

/** The Capture panel's row filters, as typed. */
export interface FilterForm {
  generation: string;
  /** A duration back from now, or empty for every row. */
  since: string;
  feedback: 'any' | 'with' | 'without';
  prediction: string;
}

/** The engine's filter for a form, `now` in Unix ms (an unreadable `since` is left out). */
export function rowFilter(form: FilterForm, now: number, limit = 100): RowFilter {
  const filter: RowFilter = { limit };
  if (form.generation) filter.generation = form.generation;
  const since = parseDuration(form.since);
  if (since !== null) filter.since_ms = now - since * 1000;
  if (form.feedback !== 'any') filter.has_feedback = form.feedback === 'with';
  if (form.prediction.trim()) filter.prediction = form.prediction.trim();
  return filter;
}

/** A captured row's answer: its class, or its value. */
export function answerOf(row: Pick<CaptureRow, 'label' | 'value'>): string {
  if (row.label !== null && row.label !== undefined) return row.label;
  if (row.value !== null && row.value !== undefined) return String(Number(row.value.toPrecision(6)));
  return '—';
}

/** A share as a percentage with at most one decimal, never rounded up to 100 % (that
 * says every row agreed). */
export function percent(share: number): string {
  return share < 1 && share > 0.999 ? '99.9%' : pct(share);
}

/** The confusion matrix as rows of cells, each with whether it is on the diagonal and its share of its row. */
export function confusionCells(m: Confusion): { live: string; cells: { candidate: string; count: number; agree: boolean; share: number }[] }[] {
  return m.classes.map((live, i) => {
    const row = m.counts[i] ?? [];
    const total = row.reduce((a, b) => a + b, 0);
    return {
      live,
      cells: m.classes.map((candidate, j) => ({
        candidate,
        count: row[j] ?? 0,
        agree: i === j,
        share: total > 0 ? (row[j] ?? 0) / total : 0,
      })),
    };
  });
}

/** Progress of a replay, 0–1. */
export function progress(r: Pick<Replay, 'replayed' | 'total'>): number {
  return r.total > 0 ? Math.min(1, r.replayed / r.total) : 0;
}

/** The headline of a replay's figures, in a sentence. */
export function agreementSentence(f: ReplayFigures, version: string): string {
  const what = f.kind === 'classification' ? 'the same label as live' : 'the live value (within 1e-6)';
  return `${version} gave ${what} on ${percent(f.agreement)} of ${f.rows} rows.`;
}
