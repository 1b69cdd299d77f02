import { describe, expect, it } from 'vitest';

import { compareCodePoints, lineColumn, nodeFromValue, nodeToJson, nodeToValue, objectEntries, parseJson } from './json';

describe('positional JSON parser', () => {
  it('parses what JSON.parse parses, with positions', () => {
    const text = '{"b": [1, -2.5e3, true, null], "a": "x\\u00e9\\n"}';
    const r = parseJson(text);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(nodeToValue(r.node)).toEqual(JSON.parse(text));
    if (r.node.type !== 'object') throw new Error('object');
    const b = r.node.members[0];
    expect(text.slice(b.keyStart, b.keyEnd)).toBe('"b"');
    expect(text.slice(b.value.start, b.value.end)).toBe('[1, -2.5e3, true, null]');
  });

  it('refuses what serde_json refuses', () => {
    for (const bad of ['', ' ', '[1,]', '{"a":1,}', '[01]', '[1.]', '[.5]', '[+1]', '[1e]', 'NaN', '[Infinity]', "'a'", '"\t"', '[1] [2]', '"\\x"', '"\\udc00"', '1e400', '-1e400', '"abc']) {
      expect(parseJson(bad).ok, bad).toBe(false);
    }
  });

  it('accepts what serde_json accepts', () => {
    for (const good of ['0', '-0', '1e-400', '" \\ud83d\\ude00 "', '\n[ ]\r\n', '{}', '"\\/"', '1E+2', String(Number.MAX_VALUE)]) {
      expect(parseJson(good).ok, good).toBe(true);
    }
  });

  it('reports line and column', () => {
    const r = parseJson('[\n  1,\n  x]');
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error.line).toBe(3);
      expect(r.error.column).toBe(3);
      expect(r.error.message).toMatch(/line 3 column 3/);
    }
    expect(lineColumn('ab\ncd', 4)).toEqual({ line: 2, column: 2 });
  });

  it('sees objects as serde_json does: sorted keys, last duplicate wins', () => {
    const r = parseJson('{"b":1,"a":2,"b":3,"é":4,"Z":5}');
    if (!r.ok || r.node.type !== 'object') throw new Error('object');
    expect(objectEntries(r.node).map((m) => [m.key, nodeToValue(m.value)])).toEqual([
      ['Z', 5],
      ['a', 2],
      ['b', 3],
      ['é', 4],
    ]);
    expect(nodeToJson(r.node)).toBe('{"Z":5,"a":2,"b":3,"é":4}');
  });

  it('orders by code point like Rust strings', () => {
    expect(compareCodePoints('a', 'b')).toBeLessThan(0);
    expect(compareCodePoints('ab', 'a')).toBeGreaterThan(0);
    // U+FF5E sorts before U+1F600 by code point, after it by UTF-16 unit.
    expect(compareCodePoints('\uff5e', '\u{1f600}')).toBeLessThan(0);
  });

  it('converts JavaScript values', () => {
    expect(nodeToJson(nodeFromValue({ proba: 1e308, g: 'v1', u: undefined }))).toBe('{"g":"v1","proba":1e308}');
  });
});
