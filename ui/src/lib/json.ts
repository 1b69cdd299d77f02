// A JSON parser that keeps source positions and accepts exactly what the engine's parser
// (serde_json into a `Value`) accepts: strict RFC 8259, numbers that overflow f64 refused,
// lone surrogate escapes refused, nesting limited to 128 levels. Objects keep every member
// with its position; `objectEntries` gives the engine's view (keys sorted, last duplicate
// wins), so issues come out in the engine's order and can be shown at their place.

interface Span {
  /** Offset of the first character. */
  start: number;
  /** Offset just past the last character. */
  end: number;
}

export interface JsonMember {
  key: string;
  keyStart: number;
  keyEnd: number;
  value: JsonNode;
}

export type JsonNode =
  | ({ type: 'null' } & Span)
  | ({ type: 'bool'; value: boolean } & Span)
  | ({ type: 'number'; value: number; raw: string } & Span)
  | ({ type: 'string'; value: string } & Span)
  | ({ type: 'array'; items: JsonNode[] } & Span)
  | ({ type: 'object'; members: JsonMember[] } & Span);

export interface JsonSyntaxError {
  message: string;
  /** Offset of the offending character (the text's length at end of input). */
  pos: number;
  line: number;
  column: number;
}

export type ParseResult = { ok: true; node: JsonNode } | { ok: false; error: JsonSyntaxError };

/** serde_json's default recursion limit. */
const MAX_DEPTH = 128;

class Fail {
  constructor(
    readonly message: string,
    readonly pos: number,
  ) {}
}

/** Line and column (both 1-based) of an offset, as serde_json reports them. */
export function lineColumn(text: string, pos: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < pos && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: pos - lineStart + 1 };
}

const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;

export function parseJson(text: string): ParseResult {
  let pos = 0;

  const describe = (): string => (pos >= text.length ? 'end of input' : JSON.stringify(text[pos]));

  const skipWs = () => {
    while (pos < text.length) {
      const c = text.charCodeAt(pos);
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) pos++;
      else break;
    }
  };

  const hex4 = (at: number): number => {
    const h = text.slice(at, at + 4);
    if (!/^[0-9a-fA-F]{4}$/.test(h)) throw new Fail('invalid \\u escape: expected 4 hex digits', at);
    return parseInt(h, 16);
  };

  const parseString = (): string => {
    const start = pos;
    pos++; // opening quote
    let out = '';
    for (;;) {
      if (pos >= text.length) throw new Fail('unterminated string', start);
      const c = text.charCodeAt(pos);
      if (c === 0x22) {
        pos++;
        return out;
      }
      if (c < 0x20) throw new Fail('control character in a string (escape it)', pos);
      if (c !== 0x5c) {
        out += text[pos];
        pos++;
        continue;
      }
      const esc = text[pos + 1];
      switch (esc) {
        case '"':
          out += '"';
          break;
        case '\\':
          out += '\\';
          break;
        case '/':
          out += '/';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          const unit = hex4(pos + 2);
          if (unit >= 0xdc00 && unit <= 0xdfff) throw new Fail('lone trailing surrogate in \\u escape', pos);
          if (unit >= 0xd800 && unit <= 0xdbff) {
            if (text[pos + 6] !== '\\' || text[pos + 7] !== 'u') {
              throw new Fail('lone leading surrogate in \\u escape', pos);
            }
            const low = hex4(pos + 8);
            if (low < 0xdc00 || low > 0xdfff) throw new Fail('lone leading surrogate in \\u escape', pos);
            out += String.fromCharCode(unit, low);
            pos += 12;
            continue;
          }
          out += String.fromCharCode(unit);
          pos += 6;
          continue;
        }
        default:
          throw new Fail('invalid escape in a string', pos);
      }
      pos += 2;
    }
  };

  const parseValue = (depth: number): JsonNode => {
    skipWs();
    if (pos >= text.length) throw new Fail('expected a value, found end of input', pos);
    const start = pos;
    const c = text[pos];
    if (c === '{' || c === '[') {
      if (depth >= MAX_DEPTH) throw new Fail('recursion limit exceeded', pos);
    }
    if (c === '{') {
      pos++;
      const members: JsonMember[] = [];
      skipWs();
      if (text[pos] === '}') {
        pos++;
        return { type: 'object', members, start, end: pos };
      }
      for (;;) {
        skipWs();
        if (text[pos] !== '"') throw new Fail(`expected a "key" string, found ${describe()}`, pos);
        const keyStart = pos;
        const key = parseString();
        const keyEnd = pos;
        skipWs();
        if (text[pos] !== ':') throw new Fail(`expected ':' after a key, found ${describe()}`, pos);
        pos++;
        const value = parseValue(depth + 1);
        members.push({ key, keyStart, keyEnd, value });
        skipWs();
        if (text[pos] === ',') {
          pos++;
          skipWs();
          if (text[pos] === '}') throw new Fail('trailing comma', pos);
          continue;
        }
        if (text[pos] === '}') {
          pos++;
          return { type: 'object', members, start, end: pos };
        }
        throw new Fail(`expected ',' or '}' in an object, found ${describe()}`, pos);
      }
    }
    if (c === '[') {
      pos++;
      const items: JsonNode[] = [];
      skipWs();
      if (text[pos] === ']') {
        pos++;
        return { type: 'array', items, start, end: pos };
      }
      for (;;) {
        items.push(parseValue(depth + 1));
        skipWs();
        if (text[pos] === ',') {
          pos++;
          skipWs();
          if (text[pos] === ']') throw new Fail('trailing comma', pos);
          continue;
        }
        if (text[pos] === ']') {
          pos++;
          return { type: 'array', items, start, end: pos };
        }
        throw new Fail(`expected ',' or ']' in a list, found ${describe()}`, pos);
      }
    }
    if (c === '"') {
      const value = parseString();
      return { type: 'string', value, start, end: pos };
    }
    if (c === '-' || (c >= '0' && c <= '9')) {
      NUMBER.lastIndex = pos;
      const m = NUMBER.exec(text);
      if (!m) throw new Fail('invalid number', pos);
      const raw = m[0];
      pos += raw.length;
      const next = text[pos];
      if (next !== undefined && /[0-9.eE+-]/.test(next)) throw new Fail('invalid number', pos);
      const value = Number(raw);
      if (!Number.isFinite(value)) throw new Fail('number out of range', start);
      return { type: 'number', value, raw, start, end: pos };
    }
    for (const [word, node] of [
      ['true', { type: 'bool', value: true }],
      ['false', { type: 'bool', value: false }],
      ['null', { type: 'null' }],
    ] as const) {
      if (text.startsWith(word, pos)) {
        pos += word.length;
        return { ...node, start, end: pos } as JsonNode;
      }
    }
    throw new Fail(`expected a value, found ${describe()}`, pos);
  };

  try {
    const node = parseValue(0);
    skipWs();
    if (pos < text.length) throw new Fail(`trailing characters after the value: ${describe()}`, pos);
    return { ok: true, node };
  } catch (e) {
    if (!(e instanceof Fail)) throw e;
    const { line, column } = lineColumn(text, e.pos);
    return { ok: false, error: { message: `${e.message} at line ${line} column ${column}`, pos: e.pos, line, column } };
  }
}

/** Compares strings by Unicode code point, as Rust orders `String`s. */
export function compareCodePoints(a: string, b: string): number {
  const ia = a[Symbol.iterator]();
  const ib = b[Symbol.iterator]();
  for (;;) {
    const x = ia.next();
    const y = ib.next();
    if (x.done || y.done) return x.done && y.done ? 0 : x.done ? -1 : 1;
    const cx = x.value.codePointAt(0) ?? 0;
    const cy = y.value.codePointAt(0) ?? 0;
    if (cx !== cy) return cx - cy;
  }
}

/** An object's members as the engine sees them: keys sorted, the last duplicate winning. */
export function objectEntries(node: Extract<JsonNode, { type: 'object' }>): JsonMember[] {
  const byKey = new Map<string, JsonMember>();
  for (const m of node.members) byKey.set(m.key, m);
  return [...byKey.values()].sort((a, b) => compareCodePoints(a.key, b.key));
}

/**
 * A JavaScript value as a node (without positions: every span is 0..0). Non-finite numbers
 * are kept as numbers; `undefined` members are dropped, as JSON.stringify drops them.
 */
export function nodeFromValue(value: unknown): JsonNode {
  const span = { start: 0, end: 0 };
  if (value === null || value === undefined) return { type: 'null', ...span };
  if (typeof value === 'boolean') return { type: 'bool', value, ...span };
  if (typeof value === 'number') return { type: 'number', value, raw: String(value), ...span };
  if (typeof value === 'string') return { type: 'string', value, ...span };
  if (Array.isArray(value)) return { type: 'array', items: value.map(nodeFromValue), ...span };
  if (typeof value === 'object') {
    const members: JsonMember[] = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .map(([key, v]) => ({ key, keyStart: 0, keyEnd: 0, value: nodeFromValue(v) }));
    return { type: 'object', members, ...span };
  }
  return { type: 'string', value: String(value), ...span };
}

/** A node back to a plain value. */
export function nodeToValue(node: JsonNode): unknown {
  switch (node.type) {
    case 'null':
      return null;
    case 'bool':
    case 'number':
    case 'string':
      return node.value;
    case 'array':
      return node.items.map(nodeToValue);
    case 'object':
      return Object.fromEntries(objectEntries(node).map((m) => [m.key, nodeToValue(m.value)]));
  }
}

/** Compact JSON of a node, as serde_json displays a `Value` (keys sorted). */
export function nodeToJson(node: JsonNode): string {
  switch (node.type) {
    case 'null':
      return 'null';
    case 'bool':
      return String(node.value);
    case 'number':
      return formatNumber(node.value);
    case 'string':
      return JSON.stringify(node.value);
    case 'array':
      return `[${node.items.map(nodeToJson).join(',')}]`;
    case 'object':
      return `{${objectEntries(node)
        .map((m) => `${JSON.stringify(m.key)}:${nodeToJson(m.value)}`)
        .join(',')}}`;
  }
}

/** A number as serde_json prints it (`1e308`, not `1e+308`). */
export function formatNumber(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (!Number.isFinite(n)) return n > 0 ? 'inf' : '-inf';
  return String(n).replace('e+', 'e');
}
