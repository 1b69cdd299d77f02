// State of the Deployment screen: the initial form from the active config, the sliders
// helper (one 0-100 slider per version) and the mapping text it fills, the shadow, the config
// that Save deploys and whether Save may run.

import { sameConfig } from './format';
import { mappingText, normalise, readEntries } from './mapping';
import { MAX_SHADOW_PERCENT } from './types';
import type { MappingIssue, DeploymentConfig, MappingEntry, VersionView } from './types';
import type { Validation } from './mapping';

export type Mode = 'single' | 'multiple';

/** The Shadow section: off, or a generation receiving a copy of `percent` % of requests. */
export interface ShadowForm {
  on: boolean;
  generation: string;
  /** As a number input binds it: null when empty or not a number. */
  percent: number | null;
}

export interface DeployForm {
  mode: Mode;
  generation: string;
  text: string;
  sticky: boolean;
  shadow: ShadowForm;
}

/** The percent a new shadow starts with. */
export const DEFAULT_SHADOW_PERCENT = 10;

/** Versions newest first (the engine lists them oldest first). */
export function newestFirst(versions: VersionView[]): string[] {
  return versions.map((v) => v.id).reverse();
}

/**
 * The form as the active config fills it: a multiple config gives its mapping; otherwise the
 * mapping starts safe, with the live generation at 100 % and every other version at 0 %, so
 * switching to multiple mode moves no traffic until a share is changed. With no deployment,
 * single mode with the newest version.
 */
export function initialForm(config: DeploymentConfig | null | undefined, versions: VersionView[]): DeployForm {
  const ids = newestFirst(versions);
  const shadow = initialShadow(config, ids);
  const liveFirst = (live: string) =>
    mappingText([live, ...ids.filter((id) => id !== live)].filter(Boolean).map((generation) => ({ generation, proba: generation === live ? 1 : 0 })));
  if (!config) return { mode: 'single', generation: ids[0] ?? '', text: liveFirst(ids[0] ?? ''), sticky: false, shadow };
  if (config.mode === 'single') {
    return { mode: 'single', generation: config.generation, text: liveFirst(config.generation), sticky: config.sticky, shadow };
  }
  return {
    mode: 'multiple',
    generation: config.mapping[0]?.generation ?? ids[0] ?? '',
    text: mappingText(config.mapping),
    sticky: config.sticky,
    shadow,
  };
}

/**
 * The Shadow section as the active config fills it; when it has no shadow, off, with the
 * newest version the config does not serve (else the newest) ready to pick.
 */
export function initialShadow(config: DeploymentConfig | null | undefined, ids: string[]): ShadowForm {
  if (config?.shadow) return { on: true, generation: config.shadow.generation, percent: config.shadow.percent };
  const served = new Set(config ? (config.mode === 'single' ? [config.generation] : config.mapping.map((e) => e.generation)) : []);
  return { on: false, generation: ids.find((id) => !served.has(id)) ?? ids[0] ?? '', percent: DEFAULT_SHADOW_PERCENT };
}

/** What is wrong with the Shadow section, or null (always null when it is off). */
export function shadowProblem(shadow: ShadowForm): string | null {
  if (!shadow.on) return null;
  if (!shadow.generation) return 'Choose the shadow generation';
  const p = shadow.percent;
  if (typeof p !== 'number' || !Number.isFinite(p) || p < 0 || p > MAX_SHADOW_PERCENT) {
    return `Shadow percent: a number from 0 to ${MAX_SHADOW_PERCENT}`;
  }
  return null;
}

export type Sliders = Record<string, number>;

/** Slider positions (whole percentages) that show the mapping in the text; null if it cannot be read. */
export function slidersFromText(text: string, ids: string[]): Sliders | null {
  const entries = readEntries(text);
  if (entries === null) return null;
  const out: Sliders = {};
  for (const id of ids) out[id] = 0;
  for (const e of entries) {
    if (e.generation in out) out[e.generation] = Math.round(Math.min(1, Math.max(0, e.proba)) * 100);
  }
  return out;
}

/** The mapping the sliders describe (normalised, zero sliders left out); null when all are zero. */
export function entriesFromSliders(sliders: Sliders, ids: string[]): MappingEntry[] | null {
  const picked = ids.filter((id) => (sliders[id] ?? 0) > 0).map((id) => ({ generation: id, proba: sliders[id] }));
  if (picked.length === 0) return null;
  return normalise(picked);
}

export function textFromSliders(sliders: Sliders, ids: string[]): string | null {
  const entries = entriesFromSliders(sliders, ids);
  return entries ? mappingText(entries) : null;
}

export function slidersTotal(sliders: Sliders): number {
  return Object.values(sliders).reduce((s, v) => s + v, 0);
}

/** The engine's verdict on one text (validate_mapping), or where it stands. */
export type RemoteVerdict =
  | { state: 'idle' }
  | { state: 'pending'; text: string }
  | { state: 'done'; text: string; issues: MappingIssue[] }
  | { state: 'failed'; text: string };

/**
 * Why Save cannot run now, or null when it can. A mapping must pass the local rules and the
 * engine's own check of the very same text.
 */
export function saveBlocker(
  form: DeployForm,
  local: Validation,
  remote: RemoteVerdict,
  saving: boolean,
  canaryActive = false,
  live: DeploymentConfig | null = null,
): string | null {
  if (saving) return 'Deploying…';
  if (canaryActive) return 'A canary is in progress: promote or abort it before deploying';
  if (live && sameConfig(configFromForm(form, local), live)) return 'Nothing to deploy: this is the live config';
  if (shadowProblem(form.shadow)) return 'Fix the shadow first';
  if (form.mode === 'single') return form.generation ? null : 'Choose a generation';
  if (!local.ok) return 'Fix the mapping first';
  if (remote.state === 'done' && remote.text === form.text) {
    return remote.issues.length === 0 ? null : 'The engine refused this mapping';
  }
  if (remote.state === 'failed' && remote.text === form.text) return 'The engine could not check the mapping';
  return 'Checking the mapping with the engine…';
}

/** The config Save deploys (sticky and the shadow in either mode), or null if the form does not describe one. */
export function configFromForm(form: DeployForm, local: Validation): DeploymentConfig | null {
  if (shadowProblem(form.shadow)) return null;
  const shadow = form.shadow.on ? { shadow: { generation: form.shadow.generation, percent: form.shadow.percent as number } } : {};
  if (form.mode === 'single') {
    return form.generation ? { mode: 'single', generation: form.generation, sticky: form.sticky, ...shadow } : null;
  }
  return local.ok ? { mode: 'multiple', mapping: local.entries, sticky: form.sticky, ...shadow } : null;
}
