// Access control in the console: which modes can be chosen, how keys read, what run-and-test
// sends. The engine enforces every rule; these mirror them so the UI can say why before asking.

import { duration } from './canary';
import type { AccessView, ApiKey, AuthMode, ClientCredential } from './types';

export const AUTH_MODES: { mode: AuthMode; label: string; help: string }[] = [
  { mode: 'none', label: 'None', help: 'Anyone who can reach the node may call this deployment.' },
  { mode: 'api_key', label: 'API key', help: "Callers send 'Authorization: Bearer <key>' or 'x-api-key: <key>'." },
  { mode: 'basic', label: 'Basic', help: "Callers use basic auth: the key's name as user, its secret as password." },
];

/** The longest overlap a rotation may grant (the engine's limit). */
export const MAX_OVERLAP_SECONDS = 30 * 24 * 3600;

/** Whether a key is accepted now: not revoked and not past its expiry. */
export function usable(key: ApiKey, now: number): boolean {
  if (key.revoked_at) return false;
  return key.expires_at === null || Date.parse(key.expires_at) > now;
}

/** Why the mode cannot be chosen, or null: a mode with keys needs at least one usable key. */
export function modeBlocker(view: AccessView, mode: AuthMode, now: number): string | null {
  if (mode === view.mode) return null;
  if (mode !== 'none' && !view.keys.some((k) => usable(k, now))) {
    return 'Create a key first: without one every client would be locked out.';
  }
  return null;
}

/** A key's standing in words: "active", "expires in 23.5 h", "expired", "revoked". */
export function keyState(key: ApiKey, now: number): { tone: 'ok' | 'warn' | 'off'; text: string } {
  if (key.revoked_at) return { tone: 'off', text: 'revoked' };
  if (key.expires_at === null) return { tone: 'ok', text: 'active' };
  const left = (Date.parse(key.expires_at) - now) / 1000;
  if (!(left > 0)) return { tone: 'off', text: 'expired' };
  return { tone: 'warn', text: `expires in ${duration(left)}` };
}

/** Parses an overlap like "90s", "30m", "24h", "7d" into seconds; an error says why. */
export function parseOverlap(text: string): { ok: true; seconds: number } | { ok: false; error: string } {
  const m = /^\s*(\d+)\s*(s|m|min|h|d)\s*$/.exec(text);
  if (!m) return { ok: false, error: 'Write a count and a unit: 90s, 30m, 24h or 7d.' };
  const unit = { s: 1, m: 60, min: 60, h: 3600, d: 86400 }[m[2] as 's' | 'm' | 'min' | 'h' | 'd'];
  const seconds = Number(m[1]) * unit;
  if (seconds > MAX_OVERLAP_SECONDS) return { ok: false, error: 'The overlap may be at most 30 days.' };
  return { ok: true, seconds };
}

/** What run-and-test sends for the deployment's mode, from what the user typed. */
export function credentialFor(mode: AuthMode, secret: string, user: string): ClientCredential | null {
  const key = secret.trim();
  if (mode === 'none' || !key) return null;
  if (mode === 'basic') return { kind: 'basic', user: user.trim(), password: key };
  return { kind: 'api_key', key };
}

/** The curl line that calls the deployment with its mode's credentials. */
export function curlExample(baseUrl: string, service: string, mode: AuthMode, keyName: string): string {
  const url = `${baseUrl}/v1/services/${service}/predict`;
  const auth = mode === 'api_key' ? ` -H 'Authorization: Bearer $KEY'` : mode === 'basic' ? ` -u '${keyName}:$KEY'` : '';
  return `curl -s ${url}${auth} -d '{"features": {...}}'`;
}
