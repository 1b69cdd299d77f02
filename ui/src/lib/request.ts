// The request editor of Run & test: a form with one number per feature of the active
// generation's schema, and the same request as raw JSON, kept in sync.

import type { Feature, ModelSchema } from './types';

export type FeatureValues = Record<string, number>;

/** A request for a schema, every feature at 0 (no sample values are known). */
export function prefill(schema: ModelSchema | null | undefined): FeatureValues {
  const out: FeatureValues = {};
  for (const f of schema?.features ?? []) out[f.name] = 0;
  return out;
}

/** Keeps the values of a previous request where the features are the same. */
export function carryOver(schema: ModelSchema | null | undefined, previous: FeatureValues): FeatureValues {
  const out = prefill(schema);
  for (const name of Object.keys(out)) {
    const v = previous[name];
    if (typeof v === 'number' && Number.isFinite(v)) out[name] = v;
  }
  return out;
}

/** The request as the raw JSON tab shows it, features in schema order. */
export function featuresToText(values: FeatureValues): string {
  return JSON.stringify(values, null, 2);
}

export type FeaturesParse = { ok: true; features: FeatureValues } | { ok: false; message: string };

/**
 * Reads the raw JSON tab: an object of finite numbers. Which features the model needs is
 * the engine's call (its message names missing and unknown ones); this only refuses what
 * cannot be sent at all.
 */
export function parseFeaturesText(text: string): FeaturesParse {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return { ok: false, message: `not valid JSON: ${e instanceof Error ? e.message : String(e)}` };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, message: 'the request is an object like {"sepal_length": 5.1, …}' };
  }
  const features: FeatureValues = {};
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      return { ok: false, message: `'${k}' must be a number, got ${JSON.stringify(v)}` };
    }
    features[k] = v;
  }
  return { ok: true, features };
}

/** A problem with one form field, or null: int64 features take whole numbers. */
export function fieldProblem(feature: Feature, value: number | null | undefined): string | null {
  if (value === null || value === undefined || Number.isNaN(value)) return 'a number is needed';
  if (!Number.isFinite(value)) return 'must be finite';
  if (feature.dtype === 'int64' && !Number.isInteger(value)) return 'int64: a whole number is needed';
  if (feature.dtype === 'float32' && Math.abs(value) > 3.4028234663852886e38) return 'out of range for float32';
  return null;
}

/** The form's values if every field is valid, else null. */
export function formFeatures(features: Feature[], values: Record<string, number | null | undefined>): FeatureValues | null {
  const out: FeatureValues = {};
  for (const f of features) {
    const v = values[f.name];
    if (fieldProblem(f, v) !== null) return null;
    out[f.name] = v as number;
  }
  return out;
}

/** The input schema of a generation, from the service's versions. */
export function schemaOf(versions: { id: string; schema: ModelSchema }[], generation: string | undefined): ModelSchema | null {
  if (!generation) return null;
  return versions.find((v) => v.id === generation)?.schema ?? null;
}

/** A stable key of a schema's request shape: a new key means a new form. */
export function schemaKey(schema: ModelSchema | null): string {
  return schema ? schema.features.map((f) => `${f.name}:${f.dtype}`).join(',') : '';
}
