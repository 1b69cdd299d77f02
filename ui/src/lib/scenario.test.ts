import { describe, expect, it } from 'vitest';

import { duration, issuePlace, kindLabel, parseSpec, runDuration, specText, statusTone, stepSummary, triggerSummary } from './scenario';

describe('step summaries', () => {
  it('summarises each kind', () => {
    expect(stepSummary({ kind: 'run_command', name: 't', command: 'python train.py' })).toBe('python train.py');
    expect(stepSummary({ kind: 'run_command', name: 't', command: ['python', 'train.py'] })).toBe('python train.py');
    expect(stepSummary({ kind: 'create_version', name: 'c', service: 'iris', model_file: 'out/m.onnx' })).toBe('add out/m.onnx to iris');
    expect(
      stepSummary({ kind: 'evaluate', name: 'e', service: 'iris', version: '${version_id}', metric: 'accuracy', holdout_csv: 'h.csv', stop_unless_better: true }),
    ).toBe('accuracy of iris ${version_id}, stop unless better');
    expect(stepSummary({ kind: 'update_deployment', name: 'd', service: 'iris', version: 'v3' })).toBe('deploy v3 on iris');
    expect(stepSummary({ kind: 'update_deployment', name: 'd', service: 'iris', version: 'v3', mode: { replace: { generation: 'v1' } } })).toBe(
      'deploy v3 on iris replacing v1',
    );
    expect(kindLabel('update_deployment')).toBe('update deployment');
    expect(stepSummary({ kind: 'import_mlflow', name: 'i', service: 'churn', model_uri: '${mlflow_model_uri}' })).toBe(
      'import ${mlflow_model_uri} into churn',
    );
    expect(stepSummary({ kind: 'start_canary', name: 'c', service: 'churn', version: '${version_id}', plan: { steps: [10, 100] } })).toBe(
      'canary of ${version_id} on churn 10% → 100%',
    );
    expect(stepSummary({ kind: 'mlflow_set', name: 'm', model: 'churn', version: '7', alias: 'live', tags: { by: 'switchyard' } })).toBe(
      'MLflow churn 7: @live, by=switchyard',
    );
    expect(stepSummary({ kind: 'export_capture', name: 'x', service: 'iris', since: '7d', format: 'jsonl' })).toBe(
      "export iris's captured requests since 7d as jsonl",
    );
    expect(stepSummary({ kind: 'export_capture', name: 'x', service: 'iris' })).toBe("export iris's captured requests as csv");
  });

  it('summarises triggers', () => {
    expect(triggerSummary({ kind: 'manual' })).toBe('manual');
    expect(triggerSummary({ kind: 'cron', schedule: '0 0 1 * *', timezone: 'Europe/Paris' })).toBe('cron 0 0 1 * * (Europe/Paris)');
    expect(triggerSummary({ kind: 'cron', schedule: '0 0 * * *', enabled: false })).toBe('cron 0 0 * * * (UTC) (disabled)');
    expect(triggerSummary({ kind: 'mlflow_alias', model: 'churn', alias: 'champion' })).toBe('MLflow churn@champion, every 60 s');
    expect(triggerSummary({ kind: 'mlflow_alias', model: 'churn', alias: 'prod', poll_seconds: 30, enabled: false })).toBe(
      'MLflow churn@prod, every 30 s (disabled)',
    );
  });
});

describe('run durations and statuses', () => {
  it('formats durations', () => {
    expect(duration(250)).toBe('250 ms');
    expect(duration(1234)).toBe('1.2 s');
    expect(duration(184_000)).toBe('3 min 4 s');
    expect(duration(3_720_000)).toBe('1 h 02 min');
  });

  it('measures a finished run, and a running one up to now', () => {
    expect(runDuration({ started_at: '2026-01-01T00:00:00Z', ended_at: '2026-01-01T00:00:02.5Z' })).toBe('2.5 s');
    expect(runDuration({ started_at: '2026-01-01T00:00:00Z', ended_at: null }, Date.parse('2026-01-01T00:01:00Z'))).toBe('1 min 0 s');
    expect(runDuration({ started_at: 'nonsense', ended_at: null })).toBe('—');
  });

  it('colours statuses', () => {
    expect(statusTone('succeeded')).toBe('ok');
    expect(statusTone('failed')).toBe('bad');
    expect(statusTone('stopped')).toBe('warn');
    expect(statusTone('running')).toBe('busy');
    expect(statusTone('pending')).toBe('muted');
  });
});

describe('spec editor', () => {
  it('round-trips the spec and reports a syntax error at the root', () => {
    const spec = { name: 'retrain', steps: [] };
    expect(parseSpec(specText(spec))).toEqual({ ok: true, spec });
    const bad = parseSpec('{"name": ');
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(issuePlace(bad.issue)).toBe('spec');
    expect(issuePlace({ path: 'steps[2].version', step: 2, message: 'x' })).toBe('steps[2].version');
  });
});
