import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

import {
  SUM_TOLERANCE,
  formatIssue,
  fromText,
  fromValue,
  mappingText,
  normalise,
  normaliseText,
  readEntries,
  sumIsOne,
  sumOf,
} from './mapping';
import type { MappingEntry } from './types';

interface Case {
  name: string;
  versions: string[];
  mapping: unknown;
  valid: boolean;
  issues?: { index: number | null; field: string | null; kind: string }[];
}

const here = dirname(fileURLToPath(import.meta.url));
const cases: Case[] = JSON.parse(readFileSync(join(here, '../../../fixtures/mapping_cases.json'), 'utf8'));

function run(c: Case) {
  const known = (g: string) => c.versions.includes(g);
  return typeof c.mapping === 'string' ? fromText(c.mapping, known) : fromValue(c.mapping, known);
}

describe('shared case table (fixtures/mapping_cases.json)', () => {
  it('has the cases the engine test also runs', () => {
    expect(cases.length).toBeGreaterThanOrEqual(15);
  });

  it.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const result = run(c);
    if (c.valid) {
      expect(result.ok, JSON.stringify(result)).toBe(true);
      if (result.ok) {
        const sum = result.entries.reduce((s, e) => s + e.proba, 0);
        expect(Math.abs(sum - 1)).toBeLessThanOrEqual(SUM_TOLERANCE);
      }
    } else {
      expect(result.ok).toBe(false);
      if (!result.ok) {
        expect(result.issues.map((i) => [i.index, i.field, i.kind])).toEqual(
          (c.issues ?? []).map((i) => [i.index, i.field, i.kind]),
        );
        for (const i of result.issues) expect(i.message).not.toBe('');
      }
    }
  });

  it('gives the same verdict on the text of every JSON case', () => {
    for (const c of cases.filter((c) => typeof c.mapping !== 'string')) {
      const known = (g: string) => c.versions.includes(g);
      const a = fromValue(c.mapping, known);
      const b = fromText(JSON.stringify(c.mapping, null, 2), known);
      const strip = (v: typeof a) => (v.ok ? v : v.issues.map(({ index, field, kind, message }) => ({ index, field, kind, message })));
      expect(strip(b), c.name).toEqual(strip(a));
    }
  });
});

describe('engine parity beyond the table', () => {
  const known = (g: string) => ['v1', 'v2'].includes(g);

  it('names the entry and field like the engine', () => {
    const r = fromText('[{"generation":"v1","proba":0.5},{"generation":"v9","proba":0.5}]', (g) => g === 'v1');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(formatIssue(r.issues[0])).toBe('Entry 1 · generation: "v9" is not a version of this service');
  });

  it('reports unknown fields in key order (the engine sorts keys)', () => {
    const r = fromText('[{"zeta":1,"generation":"v1","alpha":2,"proba":1}]', known);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.issues.map((i) => i.field)).toEqual(['alpha', 'zeta']);
  });

  it('keeps the last of duplicate keys, as serde_json does', () => {
    expect(fromText('[{"generation":"v9","generation":"v1","proba":1}]', known).ok).toBe(true);
  });

  it('refuses numbers that overflow f64 as a syntax error', () => {
    const r = fromText('[{"generation":"v1","proba":1e400}]', known);
    expect(!r.ok && r.issues.map((i) => i.kind)).toEqual(['syntax']);
  });

  it('refuses JSON that JavaScript would not but serde_json would not either', () => {
    for (const bad of ['', '[1,]', "[{'generation':'v1'}]", '[01]', '[1.]', '[-]', '[1] x', '[{"generation":"\\ud800","proba":1}]']) {
      const r = fromText(bad, known);
      expect(!r.ok && r.issues[0].kind, bad).toBe('syntax');
    }
  });

  it('checks the nesting limit', () => {
    expect(fromText('['.repeat(200) + ']'.repeat(200), known).ok).toBe(false);
  });

  it('reports everything wrong with an entry, generation before proba', () => {
    const r = fromText('[{"generation": 3, "proba": true, "w": 1}]', known);
    expect(!r.ok && r.issues.map((i) => [i.field, i.kind])).toEqual([
      ['w', 'unknown_field'],
      ['generation', 'wrong_type'],
      ['proba', 'wrong_type'],
    ]);
  });

  it('only sums when every proba was a number in range', () => {
    const r = fromText('[{"generation":"v1","proba":0.2},{"generation":"v2"}]', known);
    expect(!r.ok && r.issues.map((i) => i.kind)).toEqual(['missing']);
    const s = fromText('[{"generation":"v7","proba":0.2},{"generation":"v2","proba":0.3}]', known);
    expect(!s.ok && s.issues.map((i) => i.kind)).toEqual(['unknown_generation', 'sum']);
    if (!s.ok) expect(s.issues[1].message).toBe('probabilities sum to 0.5 instead of 1');
  });

  it('does not report a duplicate of an unknown generation', () => {
    const r = fromText('[{"generation":"v7","proba":0.5},{"generation":"v7","proba":0.5}]', known);
    expect(!r.ok && r.issues.map((i) => [i.index, i.kind])).toEqual([
      [0, 'unknown_generation'],
      [1, 'unknown_generation'],
    ]);
  });

  it('locates issues in the text', () => {
    const text = '[\n  {"generation": "v1", "proba": 0.7},\n  {"generation": "v9", "proba": 0.3}\n]';
    const r = fromText(text, known);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      const [issue] = r.issues;
      expect(text.slice(issue.from, issue.to)).toBe('"v9"');
    }
    const syntax = fromText('[{"generation": "v1" "proba": 1}]', known);
    if (!syntax.ok) {
      expect(syntax.issues[0].from).toBe(21);
      expect(syntax.issues[0].message).toMatch(/line 1 column 22/);
    }
  });

  it('formats whole-mapping and entry-level issues', () => {
    expect(formatIssue({ index: null, field: null, kind: 'sum', message: 'probabilities sum to 0.9 instead of 1' })).toBe(
      'probabilities sum to 0.9 instead of 1',
    );
    expect(formatIssue({ index: 2, field: null, kind: 'not_an_object', message: 'must be an object' })).toBe(
      'Entry 2: must be an object',
    );
  });
});

describe('sumOf', () => {
  it('sums the readable probabilities', () => {
    expect(sumOf('[{"generation":"v1","proba":0.6},{"generation":"v2","proba":0.35}]')).toBeCloseTo(0.95, 12);
    expect(sumOf('[{"generation":"v1","proba":0.6},{"generation":"v2","proba":"x"}, 3]')).toBeCloseTo(0.6, 12);
    expect(sumOf('[]')).toBe(0);
  });
  it('is null when the text is not a JSON list', () => {
    expect(sumOf('[{"generation":')).toBeNull();
    expect(sumOf('{"generation":"v1","proba":1}')).toBeNull();
  });
  it('agrees with the tolerance', () => {
    expect(sumIsOne(sumOf('[{"generation":"a","proba":0.333333},{"generation":"b","proba":0.333333},{"generation":"c","proba":0.333334}]')!)).toBe(true);
    expect(sumIsOne(0.999998)).toBe(false);
  });
});

describe('normalise', () => {
  const total = (e: MappingEntry[]) => e.reduce((s, x) => s + x.proba, 0);

  it('scales to one with 4 decimals', () => {
    const out = normalise([
      { generation: 'v1', proba: 0.6 },
      { generation: 'v2', proba: 0.3 },
    ]);
    expect(out).toEqual([
      { generation: 'v1', proba: 0.6667 },
      { generation: 'v2', proba: 0.3333 },
    ]);
    expect(Math.abs(total(out) - 1)).toBeLessThanOrEqual(1e-9);
  });

  it('puts the remainder on the largest entry', () => {
    const out = normalise(['a', 'b', 'c'].map((g) => ({ generation: g, proba: 1 })));
    expect(out.map((e) => e.proba)).toEqual([0.3334, 0.3333, 0.3333]);
    const seven = normalise(['a', 'b', 'c', 'd', 'e', 'f', 'g'].map((g, i) => ({ generation: g, proba: i === 3 ? 2 : 1 })));
    expect(seven[3].proba).toBeGreaterThan(seven[0].proba);
    expect(Math.abs(total(seven) - 1)).toBeLessThanOrEqual(1e-9);
  });

  it('always sums to one and passes validation', () => {
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let n = 1; n <= 30; n++) {
      const entries = Array.from({ length: n }, (_, i) => ({ generation: `v${i}`, proba: rand() * 10 }));
      const out = normalise(entries);
      expect(Math.abs(total(out) - 1)).toBeLessThanOrEqual(1e-9);
      for (const e of out) expect(Math.round(e.proba * 1e4)).toBeCloseTo(e.proba * 1e4, 6);
      expect(fromValue(out, () => true).ok).toBe(true);
    }
  });

  it('shares equally when nothing is positive, ignores negatives', () => {
    expect(normalise([{ generation: 'a', proba: 0 }, { generation: 'b', proba: 0 }]).map((e) => e.proba)).toEqual([0.5, 0.5]);
    expect(normalise([{ generation: 'a', proba: -1 }, { generation: 'b', proba: 2 }]).map((e) => e.proba)).toEqual([0, 1]);
    expect(normalise([])).toEqual([]);
  });

  it('works on text', () => {
    const text = normaliseText('[{"generation":"v1","proba":3},{"generation":"v2","proba":1}]');
    expect(text).toBe(mappingText([{ generation: 'v1', proba: 0.75 }, { generation: 'v2', proba: 0.25 }]));
    expect(readEntries(text!)).toEqual([{ generation: 'v1', proba: 0.75 }, { generation: 'v2', proba: 0.25 }]);
    expect(normaliseText('nope')).toBeNull();
    expect(normaliseText('[]')).toBeNull();
  });
});
