// The Scenarios screen's logic: step summaries, run durations and statuses, the spec editor.

import type { Run, RunStatus, ScenarioIssue, ScenarioStep, ScenarioTrigger, StepStatus } from './types';

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

/** Parses the editor's text; a syntax error becomes one issue at the root. */
export function parseSpec(text: string): { ok: true; spec: unknown } | { ok: false; issue: ScenarioIssue } {
  try {
    return { ok: true, spec: JSON.parse(text) };
  } catch (e) {
    return { ok: false, issue: { path: '', step: null, message: `not JSON: ${(e as Error).message}` } };
  }
}

/** Where an issue is, as shown: `steps[2].version`, or "spec" for the whole. */
export function issuePlace(issue: ScenarioIssue): string {
  return issue.path || 'spec';
}
