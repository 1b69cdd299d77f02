// The Scenarios screen's logic: step summaries, run durations and statuses, the spec editor
// (where each issue is in the text, the template of a new scenario).

import { lineColumn, parseJson } from './json';
import type { JsonNode } from './json';
import type { Run, RunStatus, Scenario, ScenarioIssue, ScenarioStep, ScenarioTrigger, StepStatus } from './types';

/** What a step does, in a few words. */
export function stepSummary(step: ScenarioStep): string {
  switch (step.kind) {
    case 'run_command':
      return Array.isArray(step.command) ? step.command.join(' ') : step.command;
    case 'create_version':
      return `add ${step.model_file} to ${step.service}`;
    case 'evaluate': {
      const metric = typeof step.metric === 'string' ? step.metric : JSON.stringify(step.metric);
      return `${metric} of ${step.service} ${step.version}${step.stop_unless_better ? ', stop unless better' : ''}`;
    }
    case 'update_deployment': {
      const mode = step.mode && typeof step.mode === 'object' ? ` replacing ${step.mode.replace.generation}` : '';
      return `deploy ${step.version} on ${step.service}${mode}`;
    }
    case 'import_mlflow':
      return `import ${step.model_uri} into ${step.service}`;
    case 'start_canary': {
      const steps = Array.isArray(step.plan?.steps) ? ` ${(step.plan.steps as number[]).map((p) => `${p}%`).join(' → ')}` : '';
      return `canary of ${step.version} on ${step.service}${steps}`;
    }
    case 'mlflow_set': {
      const alias = step.alias ? [`@${step.alias}`] : [];
      const tags = Object.entries(step.tags ?? {}).map(([k, v]) => `${k}=${v}`);
      return `MLflow ${step.model} ${step.version}: ${[...alias, ...tags].join(', ')}`;
    }
    case 'export_capture':
      return `export ${step.service}'s captured requests${step.since ? ` since ${step.since}` : ''} as ${step.format ?? 'csv'}`;
    default:
      return '';
  }
}

/** The step kind as shown: `run_command` → `run command`. */
export function kindLabel(kind: string): string {
  return kind.replace(/_/g, ' ');
}

export function triggerSummary(trigger: ScenarioTrigger): string {
  if (trigger.kind === 'manual') return 'manual';
  const off = trigger.enabled === false ? ' (disabled)' : '';
  if (trigger.kind === 'mlflow_alias') return `MLflow ${trigger.model}@${trigger.alias}, every ${trigger.poll_seconds ?? 60} s${off}`;
  return `cron ${trigger.schedule} (${trigger.timezone ?? 'UTC'})${off}`;
}

/** A run's duration, "1.2 s", "3 min 4 s", "1 h 02 min"; up to `now` while it runs. */
export function runDuration(run: Pick<Run, 'started_at' | 'ended_at'>, now: number = Date.now()): string {
  const start = Date.parse(run.started_at);
  const end = run.ended_at ? Date.parse(run.ended_at) : now;
  if (Number.isNaN(start) || Number.isNaN(end)) return '—';
  return duration(Math.max(0, end - start));
}

export function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const total = Math.floor(s);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  if (h > 0) return `${h} h ${String(m).padStart(2, '0')} min`;
  return `${m} min ${total % 60} s`;
}

export type Tone = 'ok' | 'bad' | 'warn' | 'busy' | 'muted';

/** The badge colour of a run or step status. */
export function statusTone(status: RunStatus | StepStatus): Tone {
  switch (status) {
    case 'succeeded':
      return 'ok';
    case 'failed':
    case 'abandoned':
      return 'bad';
    case 'stopped':
    case 'cancelled':
      return 'warn';
    case 'running':
      return 'busy';
    default:
      return 'muted';
  }
}

export function isRunning(run: Pick<Run, 'status'> | null | undefined): boolean {
  return run?.status === 'running';
}

/** The spec as the editor holds it. */
export function specText(spec: unknown): string {
  return JSON.stringify(spec, null, 2);
}

/** Parses the editor's text as the engine does; a syntax error becomes one issue at the root. */
export function parseSpec(text: string): { ok: true; spec: unknown } | { ok: false; issue: ScenarioIssue } {
  const parsed = parseJson(text);
  if (parsed.ok) return { ok: true, spec: JSON.parse(text) };
  return { ok: false, issue: { path: '', step: null, message: `not JSON: ${parsed.error.message}` } };
}

/** An issue's path as segments: `steps[2].mode.replace` → `['steps', 2, 'mode', 'replace']`. */
export function pathSegments(path: string): (string | number)[] {
  const out: (string | number)[] = [];
  for (const part of path.split('.')) {
    const m = /^([^[]*)((?:\[\d+\])*)$/.exec(part);
    if (!m) {
      out.push(part);
      continue;
    }
    if (m[1]) out.push(m[1]);
    for (const index of m[2].matchAll(/\[(\d+)\]/g)) out.push(Number(index[1]));
  }
  return out;
}

/** Where an issue is in the editor's text: the range to mark and its line (1-based). */
export interface IssueSpot {
  from: number;
  to: number;
  line: number;
  /** Whether the path's field itself was found (else the spot is the nearest part around it,
   * e.g. the step a missing field belongs to). */
  exact: boolean;
}

/** The last member named `key` (the engine keeps the last of duplicate keys). */
function member(node: Extract<JsonNode, { type: 'object' }>, key: string) {
  for (let i = node.members.length - 1; i >= 0; i--) if (node.members[i].key === key) return node.members[i];
  return undefined;
}

/**
 * Where the field an issue names is in `text` (null when the text does not parse). A scalar
 * is marked whole; an object or list by its key (or its opening bracket), so a mark never
 * spans many lines. A field that is not there (a missing one) marks the part that should hold
 * it. A variable name with dots (`variables.a.b`) is found as one key.
 */
export function locateIssue(text: string, path: string): IssueSpot | null {
  const parsed = parseJson(text);
  if (!parsed.ok) return null;
  let node: JsonNode = parsed.node;
  let key: { start: number; end: number } | null = null;
  const segs = pathSegments(path);
  let exact = true;
  let i = 0;
  while (i < segs.length) {
    const seg = segs[i];
    if (typeof seg === 'number') {
      if (node.type !== 'array' || seg >= node.items.length) {
        exact = false;
        break;
      }
      node = node.items[seg];
      key = null;
      i++;
      continue;
    }
    if (node.type !== 'object') {
      exact = false;
      break;
    }
    // The longest run of name segments that is one key (`a.b` before `a`).
    let j = i;
    while (j < segs.length && typeof segs[j] === 'string') j++;
    let found = false;
    for (let k = j; k > i; k--) {
      const m = member(node, segs.slice(i, k).join('.'));
      if (m) {
        node = m.value;
        key = { start: m.keyStart, end: m.keyEnd };
        i = k;
        found = true;
        break;
      }
    }
    if (!found) {
      exact = false;
      break;
    }
  }
  const scalar = node.type !== 'object' && node.type !== 'array';
  const from = scalar ? node.start : (key?.start ?? node.start);
  const to = scalar ? node.end : (key?.end ?? node.start + 1);
  return { from, to: Math.max(to, from + 1), line: lineColumn(text, from).line, exact };
}

/** A mark in the editor: CodeMirror's lint diagnostic. */
export interface SpecMark {
  from: number;
  to: number;
  severity: 'error';
  message: string;
}

/**
 * The marks of the editor's text: its syntax error where the parser stopped; else each
 * issue at its field (`issues` are the engine's verdict on this very text), the path
 * leading the message.
 */
export function specMarks(text: string, issues: ScenarioIssue[]): SpecMark[] {
  const parsed = parseJson(text);
  if (!parsed.ok) {
    const from = Math.min(parsed.error.pos, Math.max(0, text.length - 1));
    return [{ from, to: Math.min(text.length, from + 1), severity: 'error', message: parsed.error.message }];
  }
  return issues.map((issue) => {
    const spot = locateIssue(text, issue.path) ?? { from: 0, to: Math.min(1, text.length) };
    return { from: spot.from, to: spot.to, severity: 'error', message: `${issuePlace(issue)}: ${issue.message}` };
  });
}

/** The issues with their line in the text (null where the text does not parse), by line. */
export function issuesByLine(text: string, issues: ScenarioIssue[]): { issue: ScenarioIssue; line: number | null }[] {
  const placed = issues.map((issue) => ({ issue, line: locateIssue(text, issue.path)?.line ?? null }));
  return placed.sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
}

/** The first of `new_scenario`, `new_scenario_2`, … that no scenario has. */
export function freeName(taken: string[], base = 'new_scenario'): string {
  const names = new Set(taken);
  if (!names.has(base)) return base;
  for (let n = 2; ; n++) if (!names.has(`${base}_${n}`)) return `${base}_${n}`;
}

/**
 * The spec "New scenario" starts from: valid as it stands and safe to run. With a service,
 * it exports that service's captured requests of the last week (a first step towards
 * retraining on real traffic; no command runs); with none, it echoes where it runs. A
 * manual trigger, and a weekly cron trigger left disabled to show the syntax.
 */
export function newScenario(services: string[], taken: string[]): Scenario {
  const service = services[0];
  const step: ScenarioStep = service
    ? { kind: 'export_capture', name: 'export', service, since: '7d', format: 'csv' }
    : { kind: 'run_command', name: 'hello', command: ['echo', 'run ${run_id} of ${scenario} in ${run_dir}'] };
  return {
    name: freeName(taken),
    description: service ? `Export ${service}'s captured requests of the last week` : 'Says where it runs',
    variables: {},
    steps: [step],
    triggers: [{ kind: 'manual' }, { kind: 'cron', schedule: '0 3 * * 1', timezone: 'UTC', on_missed: 'skip', enabled: false }],
  };
}

/** Where an issue is, as shown: `steps[2].version`, or "spec" for the whole. */
export function issuePlace(issue: ScenarioIssue): string {
  return issue.path || 'spec';
}
