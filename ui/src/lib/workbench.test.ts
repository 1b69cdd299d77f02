import { describe, expect, it } from 'vitest';

import { MIN_PROGRESS_MS, RESULTS_CSV_HEADER, csvField, curlCommand, progressHold, resultsCsv, sampleRow, shellQuote } from './workbench';
import { ApiError } from './api';
import type { ModelSchema, RunResult } from './types';

const schema: ModelSchema = {
  input_name: 'x',
  input_type: 'float32',
  features: [
    { name: 'sepal_length', dtype: 'float32' },
    { name: 'petal_count', dtype: 'int64' },
    { name: 'width', dtype: 'float64' },
  ],
  output: { kind: 'classifier' } as ModelSchema['output'],
};

describe('sample row', () => {
  it('uses the row recorded with the version, as JSON or as a CSV row in feature order', () => {
    expect(sampleRow(schema, { sample_row: '{"sepal_length": 5.1, "petal_count": 3, "width": 0.2, "extra": 1}' })).toEqual({
      values: { sepal_length: 5.1, petal_count: 3, width: 0.2 },
      source: 'recorded',
    });
    expect(sampleRow(schema, { sample_row: ' 5.1, 3 ,0.2' })).toEqual({
      values: { sepal_length: 5.1, petal_count: 3, width: 0.2 },
      source: 'recorded',
    });
  });
  it('makes a valid row from the schema when none (or no valid one) is recorded', () => {
    const made = { values: { sepal_length: 0.5, petal_count: 2, width: 1.5 }, source: 'schema' };
    expect(sampleRow(schema)).toEqual(made);
    expect(sampleRow(schema, { sample_row: '5.1, 3.5, 0.2' })).toEqual(made); // 3.5 is not an int64
    expect(sampleRow(schema, { sample_row: '5.1, 3' })).toEqual(made); // a feature short
    expect(sampleRow(schema, { sample_row: '{"sepal_length": 5.1}' })).toEqual(made);
    expect(sampleRow(schema, { sample_row: '[1, 2, 3]' })).toEqual(made);
  });
});

describe('copy as curl', () => {
  const base = { baseUrl: 'http://127.0.0.1:8080/', service: 'iris', features: { a: 1.5, "it's": 2 } };
  it('calls the predict route with the request as JSON, quoted for the shell', () => {
    expect(curlCommand({ ...base, mode: 'none' })).toBe(
      `curl -sS 'http://127.0.0.1:8080/v1/services/iris/predict' -H 'content-type: application/json' -d '{"features":{"a":1.5,"it'\\''s":2}}'`,
    );
    expect(shellQuote("a'b")).toBe(`'a'\\''b'`);
  });
  it('forces the generation with the header the node reads', () => {
    expect(curlCommand({ ...base, mode: 'none', generation: 'v2' })).toContain(`-H 'x-switchyard-generation: v2'`);
  });
  it('sends the auth the mode asks for with a placeholder, never a secret', () => {
    const key = curlCommand({ ...base, mode: 'api_key' });
    expect(key).toContain(`-H "Authorization: Bearer $SWITCHYARD_KEY"`);
    expect(curlCommand({ ...base, mode: 'basic', user: 'ci' })).toContain(`-u "ci:$SWITCHYARD_KEY"`);
    expect(curlCommand({ ...base, mode: 'basic' })).toContain(`-u "KEY_NAME:$SWITCHYARD_KEY"`);
    expect(curlCommand({ ...base, mode: 'basic', user: 'a"$b' })).toContain(`-u "a\\"\\$b:$SWITCHYARD_KEY"`);
    expect(curlCommand({ ...base, mode: 'none' })).not.toContain('Authorization');
  });
});

describe('results as CSV', () => {
  it('quotes fields with commas, quotes and line breaks', () => {
    expect(csvField('plain')).toBe('plain');
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('two\nlines')).toBe('"two\nlines"');
    expect(csvField(null)).toBe('');
    expect(csvField(0.25)).toBe('0.25');
    expect(csvField({ a: 1 })).toBe('"{""a"":1}"');
  });
  it('writes a header and one row per request, counted from 1', () => {
    const results: RunResult[] = [
      {
        index: 0,
        ok: true,
        request_id: 'r-1',
        generation: 'v2',
        prediction: 'setosa',
        probabilities: { setosa: 0.9, versicolor: 0.1 },
        latency_ms: 1.25,
        server_latency_ms: 0.05,
        error: null,
      },
      {
        index: 1,
        ok: false,
        request_id: null,
        generation: null,
        prediction: null,
        latency_ms: 3,
        server_latency_ms: null,
        error: { code: 'unauthorized', message: 'this deployment requires an API key: send "Bearer", or x-api-key' },
      },
    ];
    expect(resultsCsv(results)).toBe(
      [
        RESULTS_CSV_HEADER.join(','),
        '1,r-1,true,v2,setosa,"{""setosa"":0.9,""versicolor"":0.1}",1.25,0.05,,',
        '2,,false,,,,3,,unauthorized,"this deployment requires an API key: send ""Bearer"", or x-api-key"',
        '',
      ].join('\r\n'),
    );
  });
});

describe('the workbench keeps each service\'s state', () => {
  it('returns the same bench for a service on a node, a separate one elsewhere', async () => {
    const { workbench } = await import('./workbench.svelte');
    const a = workbench.of(null, 'iris');
    a.fill({ x: 1 }, 'schema');
    a.edit(null); // the JSON tab holds something that does not parse
    a.forced = 'v2';
    a.error = new ApiError('unauthorized', 'refused');
    a.edit(null);
    expect(a.error).not.toBeNull(); // nothing changed
    a.edit({ x: 2 });
    expect(a.error).toBeNull(); // the input changed: the error is stale
    a.edit(null);
    expect(workbench.of(null, 'iris')).toBe(a);
    expect(workbench.of(null, 'iris').saved).toEqual({ x: 2 });
    expect(workbench.of(null, 'iris').request).toBeNull();
    expect(workbench.of(null, 'iris').edits).toBe(1);
    expect(workbench.of('prod', 'iris')).not.toBe(a);
    expect(workbench.of(null, 'other').forced).toBe('');
  });
});

describe('progress display time', () => {
  it('keeps a fast run\'s progress shown for the minimum, a slow one not at all', () => {
    expect(progressHold(1000, 1000)).toBe(MIN_PROGRESS_MS);
    expect(progressHold(1000, 1100)).toBe(MIN_PROGRESS_MS - 100);
    expect(progressHold(1000, 1000 + MIN_PROGRESS_MS)).toBe(0);
    expect(progressHold(1000, 5000)).toBe(0);
    expect(progressHold(0, 10, 50)).toBe(40);
    // A clock that went back never holds longer than the minimum.
    expect(progressHold(1000, 0)).toBe(MIN_PROGRESS_MS);
  });
});
