// How the UI writes the engine's data: config summaries, shares, times, sizes.

import type { ArtifactStoreInfo, DeploymentConfig, MappingEntry, Revision, Shadow } from './types';

/** A share (0..1) as a percentage with at most one decimal: 0.7 → "70%", 0.3333 → "33.3%". */
export function pct(share: number, decimals = 1): string {
  if (!Number.isFinite(share)) return '—';
  const f = 10 ** decimals;
  const v = Math.round(share * 100 * f) / f;
  return `${Object.is(v, -0) ? 0 : v}%`;
}

/** The generations a config serves with their traffic share, in config order. */
export function configShares(config: DeploymentConfig): MappingEntry[] {
  return config.mode === 'single' ? [{ generation: config.generation, proba: 1 }] : config.mapping;
}

/** One generation's share of traffic before and after a change. */
export interface ShareChange {
  generation: string;
  before: number;
  after: number;
}

/**
 * What a change of config does to traffic: each generation's share before and after (the
 * new config's generations first), and the share of all requests that changes generation
 * (the sum of the gains; 1 when nothing was deployed).
 */
export function trafficShift(
  from: DeploymentConfig | null | undefined,
  to: DeploymentConfig,
): { rows: ShareChange[]; moved: number } {
  const before = new Map(from ? configShares(from).map((e) => [e.generation, e.proba] as const) : []);
  const after = new Map(configShares(to).map((e) => [e.generation, e.proba] as const));
  const generations = [...new Set([...after.keys(), ...before.keys()])];
  const rows = generations.map((generation) => ({ generation, before: before.get(generation) ?? 0, after: after.get(generation) ?? 0 }));
  const moved = rows.reduce((sum, r) => sum + Math.max(0, r.after - r.before), 0);
  return { rows, moved: Math.round(moved * 1e9) / 1e9 };
}

/** A shadow in a summary: "shadow v3 10%" (its percent is of all requests, 0–50). */
export function shadowSummary(shadow: Shadow | null | undefined): string {
  return shadow ? `shadow ${shadow.generation} ${pct(shadow.percent / 100)}` : '';
}

function withShadow(text: string, config: DeploymentConfig): string {
  return config.shadow ? `${text} · ${shadowSummary(config.shadow)}` : text;
}

/**
 * Live generations with their share: "v2 70% · v1 30%" (a single generation: "v2 100%"),
 * then the shadow if any: "v2 70% · v1 30% · shadow v3 10%".
 */
export function liveSummary(config: DeploymentConfig | null | undefined): string {
  if (!config) return 'not deployed';
  return withShadow(configShares(config).map((e) => `${e.generation} ${pct(e.proba)}`).join(' · '), config);
}

/**
 * The active config in one phrase: "single v2", or the mapping "v2 70% · v1 30%", with the
 * shadow if any: "single v2 · shadow v3 10%".
 */
export function configSummary(config: DeploymentConfig | null | undefined): string {
  if (!config) return 'not deployed';
  return config.mode === 'single' ? withShadow(`single ${config.generation}`, config) : liveSummary(config);
}

/** What a change does: "single v1 → single v2" (or "not deployed → single v1"). */
export function describeChange(from: DeploymentConfig | null | undefined, to: DeploymentConfig): string {
  return `${configSummary(from)} → ${configSummary(to)}`;
}

/** The active revision of a list ordered oldest first. */
export function activeRevision(revisions: Revision[]): Revision | null {
  return revisions.length ? revisions.reduce((a, b) => (b.number > a.number ? b : a)) : null;
}

/** Whether two configs serve traffic the same way (what the engine refuses as `unchanged`). */
export function sameConfig(a: DeploymentConfig | null | undefined, b: DeploymentConfig | null | undefined): boolean {
  if (!a || !b || a.mode !== b.mode || a.sticky !== b.sticky) return false;
  const sa = a.shadow ?? null;
  const sb = b.shadow ?? null;
  if ((sa === null) !== (sb === null)) return false;
  if (sa && sb && (sa.generation !== sb.generation || sa.percent !== sb.percent)) return false;
  if (a.mode === 'single' || b.mode === 'single') return a.mode === 'single' && b.mode === 'single' && a.generation === b.generation;
  return (
    a.mapping.length === b.mapping.length &&
    a.mapping.every((e, i) => e.generation === b.mapping[i].generation && e.proba === b.mapping[i].proba)
  );
}

/**
 * The revision a rollback without a target restores, and why: the engine's rule
 * (`deploy::rollback_target`). The latest earlier revision whose config differs from the
 * active one, skipping every revision the active revision's canary wrote, so after a canary
 * it is the revision live before the canary started.
 */
export function rollbackTarget(revisions: Revision[]): { revision: Revision; why: string } | null {
  const active = activeRevision(revisions);
  if (!active) return null;
  const candidates = revisions
    .filter((r) => r.number < active.number && (active.canary_id == null || r.canary_id !== active.canary_id))
    .sort((a, b) => b.number - a.number);
  const revision = candidates.find((r) => !sameConfig(r.config, active.config));
  if (!revision) return null;
  const why =
    revision !== candidates[0]
      ? 'the latest earlier revision whose config differs from the active one'
      : active.canary_id != null
        ? `the revision live before canary ${active.canary_id} started`
        : 'the previous revision';
  return { revision, why };
}

/** Whether deploying `version` alone would change nothing (it already serves alone). */
export function isSoleLive(config: DeploymentConfig | null | undefined, version: string): boolean {
  return !!config && config.mode === 'single' && config.generation === version;
}

/** "3 min ago", "in 5 s", "2 d ago"; `now` in ms. */
export function relativeTime(iso: string | null | undefined, now: number = Date.now()): string {
  if (!iso) return '—';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  const diff = Math.round((now - t) / 1000);
  const abs = Math.abs(diff);
  let text: string;
  // Registry times are never in the future: a time slightly ahead of the UI's clock (which
  // ticks every 15 s) is simply new.
  if (abs < 5 || (diff < 0 && abs < 60)) return 'just now';
  if (abs < 60) text = `${abs} s`;
  else if (abs < 3600) text = `${Math.floor(abs / 60)} min`;
  else if (abs < 86400) text = `${Math.floor(abs / 3600)} h`;
  else if (abs < 86400 * 60) text = `${Math.floor(abs / 86400)} d`;
  else return new Date(t).toISOString().slice(0, 10);
  return diff >= 0 ? `${text} ago` : `in ${text}`;
}

/**
 * Where a formatted time is read: the OS locale and time zone unless given (tests give
 * both). Every time the console shows goes through `clock` or `fullTime`, so one format
 * holds across screens.
 */
export interface ClockPlace {
  locale?: string;
  timeZone?: string;
}

/** A time of day in the locale's clock: "14:05" (or "02:05 PM"); with seconds, "14:05:09". */
export function clock(ms: number, { seconds = false, locale, timeZone }: ClockPlace & { seconds?: boolean } = {}): string {
  if (!Number.isFinite(ms)) return '—';
  return new Intl.DateTimeFormat(locale, {
    hour: '2-digit',
    minute: '2-digit',
    ...(seconds ? { second: '2-digit' } : {}),
    timeZone,
  }).format(ms);
}

/** An RFC 3339 time with its date, in the locale's clock: "22 Nov 2026, 14:05:09". */
export function fullTime(iso: string | null | undefined, { locale, timeZone }: ClockPlace = {}): string {
  if (!iso) return '';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  return new Intl.DateTimeFormat(locale, {
    year: 'numeric',
    month: 'short',
    day: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    timeZone,
  }).format(t);
}

export function shortSha(sha: string): string {
  return sha.slice(0, 12);
}

export function bytes(n: number): string {
  if (!Number.isFinite(n)) return '—';
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

/** A metric value, compact: 0.9333 → "0.9333", 12345.678 → "12345.68". */
export function metric(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v)) return String(v);
  return String(Math.abs(v) >= 100 ? Math.round(v * 100) / 100 : Math.round(v * 10_000) / 10_000);
}

/** Milliseconds for tables: 0.123 → "0.12", 12.3456 → "12.3", 1234 → "1234". */
export function ms(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  if (v < 10) return v.toFixed(2);
  if (v < 100) return v.toFixed(1);
  return v.toFixed(0);
}

/** A prediction as a cell: labels as is, numbers compact, anything else as JSON. */
export function prediction(v: unknown): string {
  if (v === undefined || v === null) return '—';
  if (typeof v === 'number') return metric(v);
  if (typeof v === 'string') return v;
  return JSON.stringify(v);
}

/** "1 revision", "3 revisions". */
export function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

/**
 * Where artifacts live, for the sidebar: the store and, for a shared store, this node's cache.
 * `data dir` is the node's own artifacts/ folder (not shared with other nodes).
 */
export function artifactStoreSummary(info: ArtifactStoreInfo): { place: string; detail: string } {
  if (info.kind === 'data_dir') return { place: 'this computer', detail: 'data dir · not shared with other nodes' };
  const cache = info.cache
    ? `cache: ${plural(info.cache.artifacts, 'model')}, ${bytes(info.cache.bytes)}`
    : 'no local cache';
  return { place: info.location, detail: `shared · ${cache}` };
}
