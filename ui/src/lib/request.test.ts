import { describe, expect, it } from 'vitest';

import { carryOver, featuresToText, fieldProblem, formFeatures, parseFeaturesText, prefill, schemaKey, schemaOf } from './request';
import type { ModelSchema } from './types';

const iris: ModelSchema = {
  input_name: 'X',
  input_type: 'float32',
  features: ['sepal_length', 'sepal_width', 'petal_length', 'petal_width'].map((name) => ({ name, dtype: 'float32' as const })),
  output: { kind: 'classifier', classes: ['setosa', 'versicolor', 'virginica'] },
};

describe('request prefill from a schema', () => {
  it('has every feature at 0, in schema order', () => {
    const values = prefill(iris);
    expect(Object.keys(values)).toEqual(['sepal_length', 'sepal_width', 'petal_length', 'petal_width']);
    expect(Object.values(values)).toEqual([0, 0, 0, 0]);
    expect(prefill(null)).toEqual({});
  });

  it('carries over values of the same features', () => {
    expect(carryOver(iris, { sepal_length: 5.1, other: 3, petal_width: Number.NaN })).toEqual({
      sepal_length: 5.1,
      sepal_width: 0,
      petal_length: 0,
      petal_width: 0,
    });
  });

  it('finds the schema of a generation', () => {
    expect(schemaOf([{ id: 'v1', schema: iris }], 'v1')).toBe(iris);
    expect(schemaOf([{ id: 'v1', schema: iris }], 'v2')).toBeNull();
    expect(schemaOf([], undefined)).toBeNull();
    expect(schemaKey(iris)).toBe('sepal_length:float32,sepal_width:float32,petal_length:float32,petal_width:float32');
  });
});

describe('form and JSON stay in sync', () => {
  it('round-trips through the JSON tab', () => {
    const values = { ...prefill(iris), sepal_length: 5.1 };
    const parsed = parseFeaturesText(featuresToText(values));
    expect(parsed).toEqual({ ok: true, features: values });
  });

  it('refuses what cannot be sent', () => {
    expect(parseFeaturesText('{"a": 1,')).toMatchObject({ ok: false });
    expect(parseFeaturesText('[1, 2]')).toMatchObject({ ok: false, message: expect.stringContaining('object') });
    expect(parseFeaturesText('{"a": "1"}')).toEqual({ ok: false, message: `'a' must be a number, got "1"` });
    expect(parseFeaturesText('{"a": null}')).toMatchObject({ ok: false });
  });

  it('lets the engine judge feature names', () => {
    expect(parseFeaturesText('{"unknown": 1}')).toEqual({ ok: true, features: { unknown: 1 } });
  });

  it('checks form fields by dtype', () => {
    expect(fieldProblem({ name: 'a', dtype: 'float32' }, 1.5)).toBeNull();
    expect(fieldProblem({ name: 'a', dtype: 'int64' }, 1.5)).toMatch(/whole number/);
    expect(fieldProblem({ name: 'a', dtype: 'int64' }, 2)).toBeNull();
    expect(fieldProblem({ name: 'a', dtype: 'float32' }, 1e39)).toMatch(/float32/);
    expect(fieldProblem({ name: 'a', dtype: 'float64' }, 1e39)).toBeNull();
    expect(fieldProblem({ name: 'a', dtype: 'float64' }, null)).toMatch(/number/);
    expect(fieldProblem({ name: 'a', dtype: 'float64' }, Number.NaN)).toMatch(/number/);
  });

  it('gives the form values only when all are valid', () => {
    expect(formFeatures(iris.features, { sepal_length: 1, sepal_width: 2, petal_length: 3, petal_width: 4 })).toEqual({
      sepal_length: 1,
      sepal_width: 2,
      petal_length: 3,
      petal_width: 4,
    });
    expect(formFeatures(iris.features, { sepal_length: 1, sepal_width: null, petal_length: 3, petal_width: 4 })).toBeNull();
  });
});
