import { describe, expect, it } from 'vitest';

import {
  duration,
  freeName,
  issuePlace,
  issuesByLine,
  kindLabel,
  locateIssue,
  newScenario,
  parseSpec,
  pathSegments,
  runDuration,
  specMarks,
  specText,
  statusTone,
  stepSummary,
  triggerSummary,
} from './scenario';

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

/** A spec as the editor shows it (two-space JSON), with a bad step and a bad cron trigger. */
const SPEC = specText({
  name: 'retrain',
  variables: { 'a.b': 'x' },
  steps: [
    { kind: 'run_command', name: 'train', command: ['python', 'train.py'], timeout_seconds: 'long' },
    { kind: 'update_deployment', name: 'deploy', version: 'v2', mode: { replace: { generation: 'v1' } } },
  ],
  triggers: [{ kind: 'cron', schedule: '0 0 32 * *', timezone: 'Moon/Base' }],
});

/** The 1-based line of the first line holding `needle`. */
const lineOf = (needle: string) => SPEC.split('\n').findIndex((l) => l.includes(needle)) + 1;

describe('issues in the editor text', () => {
  it('splits paths into keys and indices', () => {
    expect(pathSegments('')).toEqual([]);
    expect(pathSegments('name')).toEqual(['name']);
    expect(pathSegments('steps[2].mode.replace.generation')).toEqual(['steps', 2, 'mode', 'replace', 'generation']);
    expect(pathSegments('steps[0].command[1]')).toEqual(['steps', 0, 'command', 1]);
    expect(pathSegments('triggers[1]')).toEqual(['triggers', 1]);
  });

  it('finds each field at its line, the value of a scalar marked whole', () => {
    const spot = locateIssue(SPEC, 'steps[0].timeout_seconds');
    expect(spot).toMatchObject({ line: lineOf('"timeout_seconds"'), exact: true });
    expect(SPEC.slice(spot!.from, spot!.to)).toBe('"long"');
    const schedule = locateIssue(SPEC, 'triggers[0].schedule')!;
    expect(schedule.line).toBe(lineOf('"schedule"'));
    expect(SPEC.slice(schedule.from, schedule.to)).toBe('"0 0 32 * *"');
    expect(locateIssue(SPEC, 'triggers[0].timezone')!.line).toBe(lineOf('"timezone"'));
    expect(locateIssue(SPEC, 'steps[1].mode.replace.generation')!.line).toBe(lineOf('"generation"'));
    expect(locateIssue(SPEC, 'steps[0].command[1]')!.line).toBe(lineOf('"train.py"'));
  });

  it('marks an object by its key, not over many lines', () => {
    const spot = locateIssue(SPEC, 'steps[1].mode')!;
    expect(SPEC.slice(spot.from, spot.to)).toBe('"mode"');
  });

  it('places a missing field at the part that should hold it', () => {
    // steps[1] lacks its service: the step's opening brace.
    const spot = locateIssue(SPEC, 'steps[1].service')!;
    expect(spot.exact).toBe(false);
    expect(SPEC[spot.from]).toBe('{');
    expect(spot.line).toBe(lineOf('"update_deployment"') - 1);
    // The whole spec: its first brace.
    expect(locateIssue(SPEC, '')).toMatchObject({ from: 0, to: 1, line: 1, exact: true });
    expect(locateIssue(SPEC, 'steps[7]')).toMatchObject({ exact: false });
  });

  it('finds a variable whose name has a dot as one key', () => {
    expect(locateIssue(SPEC, 'variables.a.b')).toMatchObject({ line: lineOf('"a.b"'), exact: true });
  });

  it('takes the last of duplicate keys, as the engine does', () => {
    const text = '{"name": "a",\n "name": 5}';
    expect(locateIssue(text, 'name')).toMatchObject({ line: 2 });
  });

  it('marks a syntax error where the parser stopped, else every issue', () => {
    expect(locateIssue('{"name": ', 'name')).toBeNull();
    const syntax = specMarks('{\n  "name": "a",\n}', []);
    expect(syntax).toHaveLength(1);
    expect(syntax[0].message).toMatch(/trailing comma at line 3/);
    const issues = [
      { path: 'triggers[0].schedule', step: null, message: "'0 0 32 * *' is not a cron pattern" },
      { path: 'steps[0].timeout_seconds', step: 0, message: 'invalid type' },
    ];
    const marks = specMarks(SPEC, issues);
    expect(marks.map((m) => SPEC.slice(m.from, m.to))).toEqual(['"0 0 32 * *"', '"long"']);
    expect(marks[0]).toMatchObject({ severity: 'error', message: "triggers[0].schedule: '0 0 32 * *' is not a cron pattern" });
    expect(issuesByLine(SPEC, issues).map((p) => p.line)).toEqual([lineOf('"timeout_seconds"'), lineOf('"schedule"')]);
  });
});

describe('a new scenario', () => {
  it('takes a free name', () => {
    expect(freeName([])).toBe('new_scenario');
    expect(freeName(['new_scenario', 'new_scenario_2'])).toBe('new_scenario_3');
  });

  it('exports the first service\'s capture, or echoes without one; a manual and a disabled cron trigger', () => {
    const spec = newScenario(['iris', 'churn'], ['new_scenario']);
    expect(spec.name).toBe('new_scenario_2');
    expect(spec.steps).toEqual([{ kind: 'export_capture', name: 'export', service: 'iris', since: '7d', format: 'csv' }]);
    expect(spec.triggers).toEqual([
      { kind: 'manual' },
      { kind: 'cron', schedule: '0 3 * * 1', timezone: 'UTC', on_missed: 'skip', enabled: false },
    ]);
    const bare = newScenario([], []);
    expect(bare.steps[0]).toMatchObject({ kind: 'run_command', name: 'hello' });
    expect(parseSpec(specText(bare))).toEqual({ ok: true, spec: bare });
  });
});
