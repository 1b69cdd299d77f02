import { describe, expect, it } from 'vitest';

import {
  REFUSED_RATE_SPAN_MS,
  addRefusedSample,
  authImpact,
  credentialFor,
  curlExample,
  keyState,
  modeBlocker,
  parseOverlap,
  perMinute,
  refusedPerMinute,
  servedPerMinute,
  usable,
} from './access';
import type { RefusedSample } from './access';
import type { AccessView, ApiKey, MonitorSnapshot } from './types';

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

describe('auth mode impact', () => {
  const snap = (requests: number[], window = 5): MonitorSnapshot => ({
    service: 'iris',
    window_minutes: window,
    generations: requests.map((r, i) => ({ generation: `v${i + 1}`, requests: r, errors: 0, rejected: 0, error_rate: 0, p50_ms: 1, p95_ms: 1, p99_ms: 1, minutes: [] })),
    shadows: [],
  });

  it('measures served traffic per minute over the window, all generations together', () => {
    expect(servedPerMinute(snap([300, 100], 5))).toBe(80);
    expect(servedPerMinute(snap([], 15))).toBe(0);
    expect(servedPerMinute(null)).toBeNull();
  });

  it('measures the refused rate from counter readings, restarting when the counter goes back', () => {
    let s: RefusedSample[] = [];
    s = addRefusedSample(s, { at: 0, failures: 100 });
    expect(refusedPerMinute(s)).toBeNull();
    s = addRefusedSample(s, { at: 3_000, failures: 103 });
    expect(refusedPerMinute(s)).toBeNull(); // under 5 s
    s = addRefusedSample(s, { at: 30_000, failures: 130 });
    expect(refusedPerMinute(s)).toBe(60);
    s = addRefusedSample(s, { at: 30_000 + REFUSED_RATE_SPAN_MS, failures: 430 });
    expect(s.map((x) => x.at)).toEqual([30_000, 30_000 + REFUSED_RATE_SPAN_MS]);
    expect(refusedPerMinute(s)).toBe(60);
    s = addRefusedSample(s, { at: 400_000, failures: 2 });
    expect(s).toEqual([{ at: 400_000, failures: 2 }]);
  });

  it('writes rates with a unit', () => {
    expect(perMinute(80)).toBe('80 requests/min');
    expect(perMinute(12.4)).toBe('12 requests/min');
    expect(perMinute(1)).toBe('1 request/min');
    expect(perMinute(0.46)).toBe('0.5 requests/min');
    expect(perMinute(0.01)).toBe('< 0.1 requests/min');
    expect(perMinute(0)).toBe('0 requests/min');
  });

  it('refuses all current traffic when a key becomes required', () => {
    const i = authImpact('none', 'api_key', { served: 80, refused: 0 });
    expect(i.refused).toBe(80);
    expect(i.open).toBe(false);
    expect(i.change).toBe('None → API key');
    expect(i.clients).toContain('Bearer');
    expect(i.estimate).toBe(
      'Up to 80 requests/min would be refused: the current traffic needs no credentials, so every client not yet sending a key this way is refused.',
    );
  });

  it('refuses callers of the other scheme when switching between key modes', () => {
    const i = authImpact('api_key', 'basic', { served: 3.25, refused: null });
    expect(i.refused).toBe(3.25);
    expect(i.clients).toContain('basic auth');
    expect(i.estimate).toContain('Up to 3.3 requests/min would be refused');
    expect(i.estimate).toContain('API key credentials, which Basic refuses');
  });

  it('opens the deployment to anyone when switching to none, answering what is refused now', () => {
    const i = authImpact('basic', 'none', { served: 50, refused: 12 });
    expect(i.refused).toBe(0);
    expect(i.open).toBe(true);
    expect(i.clients).toMatch(/^Open to anyone/);
    expect(i.estimate).toBe('No request is refused for its credentials; the 12 requests/min refused now would be answered.');
    expect(authImpact('basic', 'none', { served: 50, refused: null }).estimate).toBe('No request is refused for its credentials.');
  });

  it('says when traffic is unknown or absent', () => {
    expect(authImpact('none', 'basic', { served: null, refused: null })).toMatchObject({ refused: null });
    expect(authImpact('none', 'basic', { served: null, refused: null }).estimate).toContain('unknown');
    expect(authImpact('none', 'basic', { served: 0, refused: null })).toMatchObject({
      refused: 0,
      estimate: 'No recent traffic: no request would be refused right now.',
    });
  });
});
