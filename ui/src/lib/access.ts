// Access control in the console: which modes can be chosen, how keys read, what run-and-test
// sends. The engine enforces every rule; these mirror them so the UI can say why before asking.

import { duration } from './canary';
import type { AccessView, ApiKey, AuthMode, ClientCredential, MonitorSnapshot } from './types';

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

/** A reading of the refused-request counter: when (ms) and how many since the node started. */
export interface RefusedSample {
  at: number;
  failures: number;
}

/** The longest span of counter readings the refused rate is measured over. */
export const REFUSED_RATE_SPAN_MS = 5 * 60_000;

/** Keeps the readings of the last `REFUSED_RATE_SPAN_MS`, with `next` added (a counter that
 * went back, after a node restart, starts them over). */
export function addRefusedSample(samples: RefusedSample[], next: RefusedSample): RefusedSample[] {
  const last = samples[samples.length - 1];
  if (last && next.failures < last.failures) return [next];
  return [...samples.filter((s) => next.at - s.at <= REFUSED_RATE_SPAN_MS), next];
}

/** Requests refused per minute over the readings, or null when they span under 5 s. */
export function refusedPerMinute(samples: RefusedSample[]): number | null {
  if (samples.length < 2) return null;
  const first = samples[0];
  const last = samples[samples.length - 1];
  const span = last.at - first.at;
  if (span < 5_000) return null;
  return ((last.failures - first.failures) * 60_000) / span;
}

/** Requests served per minute, all generations together, averaged over the snapshot's window. */
export function servedPerMinute(snapshot: MonitorSnapshot | null): number | null {
  if (!snapshot || !(snapshot.window_minutes > 0)) return null;
  return snapshot.generations.reduce((n, g) => n + g.requests, 0) / snapshot.window_minutes;
}

/** A rate for people: "12 requests/min", "0.5 requests/min", "< 0.1 requests/min". */
export function perMinute(rate: number): string {
  const shown = rate >= 10 ? Math.round(rate) : Math.round(rate * 10) / 10;
  if (shown === 0) return rate > 0 ? '< 0.1 requests/min' : '0 requests/min';
  return `${shown} request${shown === 1 ? '' : 's'}/min`;
}

/** What a change of auth mode does to the deployment's callers. */
export interface AuthImpact {
  /** "API key → None". */
  change: string;
  /** What clients must send from now on, in plain words. */
  clients: string;
  /** The estimate of requests refused per minute by the new mode (null: no traffic known). */
  refused: number | null;
  /** The estimate in words, with what it rests on. */
  estimate: string;
  /** Switching to none: anyone who can reach the node may call the deployment. */
  open: boolean;
}

const label = (mode: AuthMode) => AUTH_MODES.find((m) => m.mode === mode)?.label ?? mode;

/**
 * What switching `from` → `to` changes for clients, and how many requests per minute the new
 * mode would refuse, from the traffic the console can read: `served` (requests per minute the
 * deployment answered recently) and `refused` (requests per minute refused now for their
 * credentials). The engine accepts only the mode's own scheme, so a switch between key
 * modes, or from none, refuses every caller that does not change what it sends; the node does
 * not count which credentials the served requests carried, so that is the estimate (an upper
 * bound when some clients already send the new scheme). Switching to none refuses nobody.
 */
export function authImpact(
  from: AuthMode,
  to: AuthMode,
  traffic: { served: number | null; refused: number | null },
): AuthImpact {
  const change = `${label(from)} → ${label(to)}`;
  if (to === 'none') {
    const now = traffic.refused;
    return {
      change,
      clients: 'Open to anyone: every client that can reach the node may call this deployment, with or without a key.',
      refused: 0,
      estimate:
        now !== null && now > 0
          ? `No request is refused for its credentials; the ${perMinute(now)} refused now would be answered.`
          : 'No request is refused for its credentials.',
      open: true,
    };
  }
  const clients =
    to === 'api_key'
      ? "Clients must send 'Authorization: Bearer <key>' or 'x-api-key: <key>' with a usable key; anything else is refused (401)."
      : "Clients must use basic auth, a key's name as user and its secret as password; anything else is refused (401).";
  if (from === to) return { change, clients, refused: 0, estimate: 'Nothing changes.', open: false };
  const served = traffic.served;
  if (served === null) {
    return { change, clients, refused: null, estimate: 'No recent traffic could be read: the number of refused requests is unknown.', open: false };
  }
  const why =
    from === 'none'
      ? 'the current traffic needs no credentials, so every client not yet sending a key this way'
      : `the current traffic is accepted with ${label(from)} credentials, which ${label(to)} refuses, so every client that does not switch`;
  return {
    change,
    clients,
    refused: served,
    estimate:
      served > 0
        ? `Up to ${perMinute(served)} would be refused: ${why} is refused.`
        : 'No recent traffic: no request would be refused right now.',
    open: false,
  };
}
