// Mapping validation: the engine's rules (src/router/mapping.rs, `Mapping::from_value` and
// `from_text`) re-implemented issue for issue, so the editor can show each problem at its
// entry as the user types. Same kinds, same index and field, same order. The engine's
// verdict (`validate_mapping`) stays the authoritative one before saving.
//
// Both implementations run the shared case table fixtures/mapping_cases.json.

import { formatNumber, nodeFromValue, nodeToJson, objectEntries, parseJson } from './json';
import type { JsonNode } from './json';
import type { MappingEntry, MappingIssue, MappingIssueKind } from './types';

/** How far the sum of probabilities may be from 1. */
export const SUM_TOLERANCE = 1e-6;

/** An issue with where it is in the text (offsets; 0..0 when validating a value). */
export interface LocatedIssue extends MappingIssue {
  from: number;
  to: number;
}

export type Validation = { ok: true; entries: MappingEntry[] } | { ok: false; issues: LocatedIssue[] };

export type IsKnown = (generation: string) => boolean;

const LIST_EXAMPLE = 'a mapping is a list like [{"generation":"v2","proba":0.7},{"generation":"v1","proba":0.3}]';

/** The engine's `VersionId` rule: 1-64 characters, ASCII letter or digit first, then letters, digits, `_`, `-`, `.`. */
export function isVersionId(s: string): boolean {
  return s.length >= 1 && s.length <= 64 && /^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(s);
}

function round6(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}

/** Checks a parsed mapping against every rule, reporting every problem at its entry and field. */
export function validateNode(root: JsonNode, isKnown: IsKnown): Validation {
  const at = (
    index: number | null,
    field: string | null,
    kind: MappingIssueKind,
    message: string,
    span: { start: number; end: number },
  ): LocatedIssue => ({ index, field, kind, message, from: span.start, to: span.end });

  if (root.type !== 'array') {
    return { ok: false, issues: [at(null, null, 'not_a_list', LIST_EXAMPLE, root)] };
  }
  if (root.items.length === 0) {
    return { ok: false, issues: [at(null, null, 'empty', 'the mapping is empty: add at least one generation', root)] };
  }
  const issues: LocatedIssue[] = [];
  const entries: MappingEntry[] = [];
  const seen = new Set<string>();
  let sum = 0;
  let sumIsMeaningful = true;
  root.items.forEach((item, i) => {
    if (item.type !== 'object') {
      issues.push(at(i, null, 'not_an_object', 'must be an object with "generation" and "proba"', item));
      sumIsMeaningful = false;
      return;
    }
    const members = objectEntries(item);
    for (const m of members) {
      if (m.key !== 'generation' && m.key !== 'proba') {
        const span = { start: m.keyStart, end: m.value.end };
        issues.push(at(i, m.key, 'unknown_field', `unknown field "${m.key}" (allowed: generation, proba)`, span));
      }
    }
    const genMember = members.find((m) => m.key === 'generation');
    const probaMember = members.find((m) => m.key === 'proba');

    let generation: string | null = null;
    if (!genMember) {
      issues.push(at(i, 'generation', 'missing', 'missing', item));
    } else {
      const v = genMember.value;
      if (v.type === 'string') {
        const s = v.value;
        if (!isKnown(s)) {
          issues.push(at(i, 'generation', 'unknown_generation', `"${s}" is not a version of this service`, v));
        } else if (seen.has(s)) {
          issues.push(at(i, 'generation', 'duplicate', `"${s}" appears more than once`, v));
        } else {
          seen.add(s);
          if (isVersionId(s)) {
            generation = s;
          } else {
            issues.push(at(i, 'generation', 'unknown_generation', `invalid version id '${s.slice(0, 80)}': use 1-64 characters, a letter or digit first, then letters, digits, '_', '-' or '.' (e.g. v3)`, v));
          }
        }
      } else {
        issues.push(at(i, 'generation', 'wrong_type', 'must be a version id string, like "v2"', v));
      }
    }

    let proba: number | null = null;
    if (!probaMember) {
      issues.push(at(i, 'proba', 'missing', 'missing', item));
      sumIsMeaningful = false;
    } else {
      const v = probaMember.value;
      if (v.type === 'number') {
        const p = v.value;
        if (Number.isFinite(p) && p >= 0 && p <= 1) {
          sum += p;
          proba = p;
        } else {
          issues.push(at(i, 'proba', 'out_of_range', `must be between 0 and 1 (got ${formatNumber(p)})`, v));
          sumIsMeaningful = false;
        }
      } else {
        issues.push(at(i, 'proba', 'wrong_type', `must be a number between 0 and 1 (got ${nodeToJson(v)})`, v));
        sumIsMeaningful = false;
      }
    }
    if (generation !== null && proba !== null) entries.push({ generation, proba });
  });
  if (sumIsMeaningful && Math.abs(sum - 1) > SUM_TOLERANCE) {
    issues.push(at(null, null, 'sum', `probabilities sum to ${round6(sum)} instead of 1`, root));
  }
  return issues.length === 0 ? { ok: true, entries } : { ok: false, issues };
}

/** The engine's `Mapping::from_value`: checks a JSON value. */
export function fromValue(value: unknown, isKnown: IsKnown): Validation {
  return validateNode(nodeFromValue(value), isKnown);
}

/** The engine's `Mapping::from_text`: parses what the user typed, then checks it. */
export function fromText(text: string, isKnown: IsKnown): Validation {
  const parsed = parseJson(text);
  if (!parsed.ok) {
    const { pos } = parsed.error;
    const issue: LocatedIssue = {
      index: null,
      field: null,
      kind: 'syntax',
      message: `not valid JSON: ${parsed.error.message}`,
      from: pos,
      to: Math.min(pos + 1, text.length),
    };
    return { ok: false, issues: [issue] };
  }
  return validateNode(parsed.node, isKnown);
}

/** An issue as the editor lists it: `Entry 1 · generation: "v9" is not a version of this service`. */
export function formatIssue(issue: MappingIssue): string {
  if (issue.index !== null && issue.field !== null) return `Entry ${issue.index} · ${issue.field}: ${issue.message}`;
  if (issue.index !== null) return `Entry ${issue.index}: ${issue.message}`;
  return issue.message;
}

/**
 * The generation/proba pairs that can be read from a mapping's text even when it breaks a
 * rule (for the live sum, the sliders and Normalise): entries that are objects with a
 * string generation and a finite numeric proba. Null when the text is not a JSON list.
 */
export function readEntries(text: string): MappingEntry[] | null {
  const parsed = parseJson(text);
  if (!parsed.ok || parsed.node.type !== 'array') return null;
  const out: MappingEntry[] = [];
  for (const item of parsed.node.items) {
    if (item.type !== 'object') continue;
    const members = objectEntries(item);
    const g = members.find((m) => m.key === 'generation')?.value;
    const p = members.find((m) => m.key === 'proba')?.value;
    if (g?.type === 'string' && p?.type === 'number' && Number.isFinite(p.value)) {
      out.push({ generation: g.value, proba: p.value });
    }
  }
  return out;
}

/** The sum of the probabilities readable in the text (the live "Σ = 0.95"), or null if it is not a list. */
export function sumOf(text: string): number | null {
  const entries = readEntries(text);
  if (entries === null) return null;
  return entries.reduce((s, e) => s + e.proba, 0);
}

/** Whether a sum is 1 within the engine's tolerance. */
export function sumIsOne(sum: number): boolean {
  return Math.abs(sum - 1) <= SUM_TOLERANCE;
}

const UNITS = 10_000; // 4 decimals

/**
 * Scales probabilities to sum to 1, rounded to 4 decimals, the rounding remainder put on
 * the largest entry: the result sums to exactly 1 (within 1e-9). Negative or non-finite
 * probabilities count as 0; if nothing is left, the entries share equally.
 */
export function normalise(entries: MappingEntry[]): MappingEntry[] {
  if (entries.length === 0) return [];
  let weights = entries.map((e) => (Number.isFinite(e.proba) && e.proba > 0 ? e.proba : 0));
  let total = weights.reduce((s, w) => s + w, 0);
  if (!(total > 0) || !Number.isFinite(total)) {
    weights = entries.map(() => 1);
    total = entries.length;
  }
  const units = weights.map((w) => Math.round((w / total) * UNITS));
  let largest = 0;
  units.forEach((u, i) => {
    if (u > units[largest]) largest = i;
  });
  units[largest] += UNITS - units.reduce((s, u) => s + u, 0);
  return entries.map((e, i) => ({ generation: e.generation, proba: units[i] / UNITS }));
}

/** A mapping as the editor shows it: one entry per line. */
export function mappingText(entries: MappingEntry[]): string {
  if (entries.length === 0) return '[]';
  const lines = entries.map((e) => `  {"generation": ${JSON.stringify(e.generation)}, "proba": ${formatNumber(e.proba)}}`);
  return `[\n${lines.join(',\n')}\n]`;
}

/** Normalise applied to the text: null when no entry can be read from it. */
export function normaliseText(text: string): string | null {
  const entries = readEntries(text);
  if (!entries || entries.length === 0) return null;
  return mappingText(normalise(entries));
}

/**
 * Where the editor marks an issue: the entry's field (or the entry) for entry issues, the
 * opening bracket for whole-mapping issues, the offending character for syntax errors;
 * clamped to the document.
 */
export function issueRange(issue: LocatedIssue, docLength: number): { from: number; to: number } {
  const clamp = (x: number) => Math.max(0, Math.min(docLength, x));
  let from = clamp(issue.from);
  let to = clamp(issue.to);
  if (issue.index === null && issue.kind !== 'syntax') to = clamp(from + 1);
  if (to <= from) {
    // An empty range at the end of the text: mark the last character instead.
    if (from >= docLength && docLength > 0) from = docLength - 1;
    to = clamp(from + 1);
  }
  return { from, to };
}
