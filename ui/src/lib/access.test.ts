import { describe, expect, it } from 'vitest';

import { credentialFor, curlExample, keyState, modeBlocker, parseOverlap, usable } from './access';
import type { AccessView, ApiKey } from './types';

const now = Date.parse('2026-11-22T12:00:00Z');

function key(over: Partial<ApiKey> = {}): ApiKey {
  return {
    id: 1,
    name: 'ci',
    prefix: 'sy_abcdef',
    created_at: '2026-11-22T10:00:00Z',
    expires_at: null,
    revoked_at: null,
    status: 'active',
    ...over,
  };
}

function view(keys: ApiKey[], mode: AccessView['mode'] = 'none'): AccessView {
  return { service: 'iris', mode, keys, failures: 0 };
}

describe('keys', () => {
  it('is usable until revoked or expired', () => {
    expect(usable(key(), now)).toBe(true);
    expect(usable(key({ expires_at: '2026-11-22T12:00:01Z' }), now)).toBe(true);
    expect(usable(key({ expires_at: '2026-11-22T12:00:00Z' }), now)).toBe(false);
    expect(usable(key({ revoked_at: '2026-11-22T11:00:00Z' }), now)).toBe(false);
  });

  it('says where a key stands', () => {
    expect(keyState(key(), now)).toEqual({ tone: 'ok', text: 'active' });
    expect(keyState(key({ expires_at: '2026-11-23T12:00:00Z' }), now)).toEqual({ tone: 'warn', text: 'expires in 24 h' });
    expect(keyState(key({ expires_at: '2026-11-22T11:00:00Z' }), now)).toEqual({ tone: 'off', text: 'expired' });
    expect(keyState(key({ revoked_at: '2026-11-22T11:00:00Z', expires_at: '2026-11-23T12:00:00Z' }), now).text).toBe('revoked');
  });
});

describe('modes', () => {
  it('needs a usable key before a mode with keys', () => {
    expect(modeBlocker(view([]), 'api_key', now)).toMatch(/Create a key first/);
    expect(modeBlocker(view([key({ revoked_at: '2026-11-22T11:00:00Z' })]), 'basic', now)).toMatch(/Create a key first/);
    expect(modeBlocker(view([key()]), 'api_key', now)).toBeNull();
    expect(modeBlocker(view([], 'api_key'), 'none', now)).toBeNull();
    expect(modeBlocker(view([], 'api_key'), 'api_key', now)).toBeNull();
  });

  it('sends the credential the mode asks for', () => {
    expect(credentialFor('none', 'sy_x', '')).toBeNull();
    expect(credentialFor('api_key', '  ', '')).toBeNull();
    expect(credentialFor('api_key', ' sy_x ', 'ignored')).toEqual({ kind: 'api_key', key: 'sy_x' });
    expect(credentialFor('basic', 'sy_x', ' ci ')).toEqual({ kind: 'basic', user: 'ci', password: 'sy_x' });
  });

  it('shows how to call with curl', () => {
    expect(curlExample('http://127.0.0.1:8080', 'iris', 'api_key', 'ci')).toContain("-H 'Authorization: Bearer $KEY'");
    expect(curlExample('http://127.0.0.1:8080', 'iris', 'basic', 'ci')).toContain("-u 'ci:$KEY'");
    expect(curlExample('http://127.0.0.1:8080', 'iris', 'none', 'ci')).not.toContain('KEY');
  });
});

describe('overlap', () => {
  it('parses count and unit within 30 days', () => {
    expect(parseOverlap('90s')).toEqual({ ok: true, seconds: 90 });
    expect(parseOverlap(' 30m ')).toEqual({ ok: true, seconds: 1800 });
    expect(parseOverlap('24h')).toEqual({ ok: true, seconds: 86400 });
    expect(parseOverlap('30d')).toEqual({ ok: true, seconds: 30 * 86400 });
    expect(parseOverlap('0s')).toEqual({ ok: true, seconds: 0 });
    for (const bad of ['', '24', 'h', '1.5h', '-1h', '2w']) expect(parseOverlap(bad).ok, bad).toBe(false);
    expect(parseOverlap('31d')).toEqual({ ok: false, error: 'The overlap may be at most 30 days.' });
  });
});
