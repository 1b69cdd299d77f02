// The Run & test workbench's pure parts: a sample row for the model's features, the request
// as a curl command, the results as CSV, and how long a run's progress stays shown.

import { fieldProblem } from './request';
import type { FeatureValues } from './request';
import type { AuthMode, ModelSchema, RunResult } from './types';

/** Where a sample row came from: a row recorded with the version, or made from the schema. */
export type SampleSource = 'recorded' | 'schema';

/** The provenance detail that may hold a sample row: a JSON object of features, or the
 * values in the schema's feature order separated by commas (a CSV data row). */
export const SAMPLE_DETAIL = 'sample_row';

function recorded(schema: ModelSchema, text: string | undefined): FeatureValues | null {
  if (!text?.trim()) return null;
  let values: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return null;
    values = parsed as Record<string, unknown>;
  } catch {
    const cells = text.split(',').map((c) => c.trim());
    if (cells.length !== schema.features.length || cells.some((c) => c === '')) return null;
    values = Object.fromEntries(schema.features.map((f, i) => [f.name, Number(cells[i])]));
  }
  const out: FeatureValues = {};
  for (const f of schema.features) {
    const v = values[f.name];
    if (typeof v !== 'number' || fieldProblem(f, v) !== null) return null;
    out[f.name] = v;
  }
  return out;
}

/**
 * A valid example of the model's features: the row recorded with the version (its
 * provenance detail `sample_row`) when there is a valid one; else one made from the schema,
 * a distinct small value per feature of its type (1, 2, … for int64; 0.5, 1, 1.5, … for
 * floats), which every feature accepts.
 */
export function sampleRow(schema: ModelSchema, details: Record<string, string> = {}): { values: FeatureValues; source: SampleSource } {
  const row = recorded(schema, details[SAMPLE_DETAIL]);
  if (row) return { values: row, source: 'recorded' };
  const values: FeatureValues = {};
  schema.features.forEach((f, i) => {
    values[f.name] = f.dtype === 'int64' ? i + 1 : (i + 1) / 2;
  });
  return { values, source: 'schema' };
}

/** A word for the shell: single-quoted, with each ' written as '\''. */
export function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

/** The placeholder a curl command shows instead of a secret: the console never copies one. */
export const SECRET_PLACEHOLDER = '$SWITCHYARD_KEY';

/**
 * The request as a curl command against the node: its predict route, the forced generation
 * as the node reads it, and the auth header the deployment's mode asks for, with the secret
 * left as `$SWITCHYARD_KEY` (the shell fills it; the command holds no secret).
 */
export function curlCommand(input: {
  baseUrl: string;
  service: string;
  features: FeatureValues;
  generation?: string | null;
  mode: AuthMode;
  /** The key's name (basic auth's user); a placeholder when unknown. */
  user?: string;
}): string {
  const url = `${input.baseUrl.replace(/\/+$/, '')}/v1/services/${encodeURIComponent(input.service)}/predict`;
  const parts = ['curl -sS', shellQuote(url), "-H 'content-type: application/json'"];
  if (input.generation) parts.push('-H', shellQuote(`x-switchyard-generation: ${input.generation}`));
  if (input.mode === 'api_key') parts.push('-H', `"Authorization: Bearer ${SECRET_PLACEHOLDER}"`);
  if (input.mode === 'basic') {
    const user = input.user?.trim() || 'KEY_NAME';
    parts.push('-u', `"${user.replace(/["\\$`]/g, '\\$&')}:${SECRET_PLACEHOLDER}"`);
  }
  parts.push('-d', shellQuote(JSON.stringify({ features: input.features })));
  return parts.join(' ');
}

/** One CSV field (RFC 4180): quoted when it holds a comma, a quote or a line break. */
export function csvField(value: unknown): string {
  const text = value === null || value === undefined ? '' : typeof value === 'string' ? value : typeof value === 'number' || typeof value === 'boolean' ? String(value) : JSON.stringify(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

export const RESULTS_CSV_HEADER = [
  'request',
  'request_id',
  'ok',
  'generation',
  'prediction',
  'probabilities',
  'round_trip_ms',
  'server_ms',
  'error_code',
  'error_message',
];

/** The results of a run as CSV: a header, then one row per request counted from 1, CRLF
 * line ends (RFC 4180). */
export function resultsCsv(results: RunResult[]): string {
  const rows = results.map((r) => [
    r.index + 1,
    r.request_id,
    r.ok,
    r.generation ?? null,
    r.prediction ?? null,
    r.probabilities ?? null,
    r.latency_ms,
    r.server_latency_ms ?? null,
    r.error?.code ?? null,
    r.error?.message ?? null,
  ]);
  return [RESULTS_CSV_HEADER, ...rows].map((row) => row.map(csvField).join(',')).join('\r\n') + '\r\n';
}

/** The shortest time a run shows its progress, so that a fast run is seen running at all. */
export const MIN_PROGRESS_MS = 600;

/**
 * How much longer a run that started at `startedAt` (ms) should keep showing its progress at
 * `now` before its results replace it: 0 once it has been shown for `min` ms.
 */
export function progressHold(startedAt: number, now: number, min: number = MIN_PROGRESS_MS): number {
  return Math.max(0, Math.min(min, startedAt + min - now));
}
