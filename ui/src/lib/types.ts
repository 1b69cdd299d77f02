// The engine's data as it crosses IPC: JSON exactly as the engine serialises it.
// Timestamps are RFC 3339 strings.

export interface Service {
  name: string;
  description: string;
  created_at: string;
}

export interface MappingEntry {
  generation: string;
  proba: number;
}

/** The most traffic a shadow may receive, in percent (the engine's MAX_SHADOW_PERCENT). */
export const MAX_SHADOW_PERCENT = 50;

/** A share of requests mirrored to a generation off the response path. */
export interface Shadow {
  generation: string;
  /** Share of requests mirrored, 0–50 (percent, not a fraction). */
  percent: number;
}

/** `shadow` is absent (or null) when no traffic is mirrored. */
export type DeploymentConfig =
  | { mode: 'single'; generation: string; sticky: boolean; shadow?: Shadow | null }
  | { mode: 'multiple'; mapping: MappingEntry[]; sticky: boolean; shadow?: Shadow | null };

export type RevisionKind = 'deploy' | 'rollback';

export interface Revision {
  service: string;
  node: string;
  number: number;
  config: DeploymentConfig;
  kind: RevisionKind;
  /** For a rollback, the revision whose config it restored. */
  rollback_of: number | null;
  author: string;
  reason: string;
  created_at: string;
  /** The canary that wrote this revision (its steps, promotion or rollback), if any. */
  canary_id: number | null;
}

export interface ServiceSummary extends Service {
  version_count: number;
  /** The active revision on the local node, null when not deployed. */
  deployment: Revision | null;
}

export type DType = 'float32' | 'float64' | 'int64';

export interface Feature {
  name: string;
  dtype: DType;
}

export type OutputKind = { kind: 'classifier'; classes: string[] } | { kind: 'regressor' };

export interface ModelSchema {
  input_name: string;
  input_type: DType;
  features: Feature[];
  output: OutputKind;
}

export interface Provenance {
  created_by: string;
  source_file?: string;
  details?: Record<string, string>;
}

export interface Version {
  service: string;
  id: string;
  sha256: string;
  size_bytes: number;
  schema: ModelSchema;
  metrics: Record<string, number>;
  provenance: Provenance;
  notes: string;
  created_at: string;
}

export interface VersionView extends Version {
  /** Serves in the active config. */
  live: boolean;
  /** Since when it has served without interruption, if live. */
  live_since: string | null;
  /** Its share of traffic in the active config, if live. */
  share: number | null;
  /** Revision numbers whose config included it. */
  served_in: number[];
}

export type MappingIssueKind =
  | 'syntax'
  | 'not_a_list'
  | 'empty'
  | 'not_an_object'
  | 'unknown_field'
  | 'missing'
  | 'wrong_type'
  | 'unknown_generation'
  | 'duplicate'
  | 'out_of_range'
  | 'sum';

export interface MappingIssue {
  /** The entry (0-based), null for the whole mapping. */
  index: number | null;
  /** `generation`, `proba` or the unknown field's name, where it applies. */
  field: string | null;
  kind: MappingIssueKind;
  message: string;
}

export interface PredictResponse {
  request_id: string;
  service: string;
  generation: string;
  revision: number;
  prediction: string | number;
  probabilities?: Record<string, number>;
  latency_ms: number;
}

/** One request of a test run. */
export interface RunResult {
  index: number;
  ok: boolean;
  status?: number;
  /** The node's id for the request: feedback names it (null when it was not answered). */
  request_id: string | null;
  /** The generation that answered (null when the request failed before routing). */
  generation?: string | null;
  prediction?: string | number | null;
  latency_ms: number;
  error?: { code: string; message: string } | null;
}

export interface RunReport {
  service: string;
  count: number;
  results: RunResult[];
  /** Requests answered per generation. */
  counts: Record<string, number>;
  errors: number;
  /** The mapping's share per generation (or the forced generation at 1). */
  expected: Record<string, number>;
  elapsed_ms: number;
}

export interface RunProgress {
  done: number;
  total: number;
}

export interface NodeInfo {
  url: string;
  port: number;
  data_dir: string;
  version: string;
}

export interface MinuteStats {
  start: string;
  requests: number;
  /** Model or node failures (5xx). */
  errors: number;
  /** Requests refused as invalid (4xx): counted, not model errors. */
  rejected: number;
  p50_ms: number;
  p95_ms: number;
  p99_ms: number;
}

export interface GenerationStats {
  generation: string;
  requests: number;
  errors: number;
  rejected: number;
  error_rate: number;
  p50_ms: number;
  p95_ms: number;
  p99_ms: number;
  minutes: MinuteStats[];
}

/** A shadow generation over the window: its own latency and errors, and how often its
 * answer agreed with the live one. */
export interface ShadowStats {
  generation: string;
  requests: number;
  errors: number;
  p50_ms: number;
  p99_ms: number;
  /** Shadow answers compared with the live answer. */
  compared: number;
  /** Share (0..1) of compared answers that agreed; null before any comparison. */
  agreement: number | null;
  /** Mean |shadow − live| (meaningful for regressors); null before any comparison. */
  mean_abs_diff: number | null;
}

export interface MonitorSnapshot {
  service: string;
  window_minutes: number;
  generations: GenerationStats[];
  shadows: ShadowStats[];
}

// ---- canary plans (src/deploy/canary.rs) ----

export interface Gates {
  /** Server errors / requests served by the canary during the step, 0..1. */
  max_error_rate: number;
  /** 99th percentile latency of the canary's successful requests during the step. */
  max_p99_ms: number;
  /** Below this many requests the step is inconclusive: no gate decides. */
  min_requests: number;
}

export type InconclusivePolicy = 'pause' | 'rollback';

export interface CanaryPlan {
  version: string;
  /** Traffic percentages of the canary, increasing, ending at 100. */
  steps: number[];
  bake_seconds: number;
  gates: Gates;
  /** How long a step may stay inconclusive after its bake time before the policy applies. */
  inconclusive_timeout_seconds: number;
  on_inconclusive: InconclusivePolicy;
}

export type CanaryStatus = 'running' | 'paused' | 'promoted' | 'rolled_back' | 'aborted';

/** baking: bake time not over; inconclusive: over, but fewer requests than the minimum. */
export type Verdict = 'baking' | 'inconclusive' | 'passed' | 'failed';

/** What the gates saw during the current step. */
export interface GateReading {
  at: string;
  requests: number;
  errors: number;
  error_rate: number;
  p99_ms: number;
  verdict: Verdict;
}

export interface CanaryEvent {
  at: string;
  message: string;
}

export interface Canary {
  id: number;
  service: string;
  plan: CanaryPlan;
  status: CanaryStatus;
  /** Index of the current step in `plan.steps`. */
  step: number;
  step_started_at: string;
  /** The config live when the canary started: what a rollback restores. */
  base: DeploymentConfig;
  base_revision: number;
  last_reading: GateReading | null;
  /** Oldest first. */
  events: CanaryEvent[];
}

export type CanaryAction = 'pause' | 'resume' | 'promote' | 'abort';

// ---- A/B results (src/monitor/ab.rs) ----

export type OutcomeKind = 'binary' | 'numeric';

export interface AbGroup {
  generation: string;
  n: number;
  mean: number | null;
  /** 95% interval of the mean (Wald for proportions, Student t for numeric means). */
  ci_low: number | null;
  ci_high: number | null;
}

export interface AbComparison {
  generation: string;
  baseline: string;
  /** mean(generation) − mean(baseline). */
  difference: number;
  /** `two_proportion_z` or `welch_t`. */
  test: string;
  statistic: number;
  p_value: number;
}

export interface AbReport {
  service: string;
  /** null when no outcome was recorded at all. */
  kind: OutcomeKind | null;
  groups: AbGroup[];
  comparisons: AbComparison[];
  /** Why no comparison is made, in a sentence; null when `comparisons` is filled. */
  not_enough_data: string | null;
}

// Scenarios: specs, triggers' next fire times, runs with their logs.

export type CommandLine = string | string[];

export type ScenarioStep =
  | { kind: 'run_command'; name: string; command: CommandLine; working_dir?: string | null; env?: Record<string, string>; timeout_seconds?: number; outputs?: Record<string, string> }
  | { kind: 'create_version'; name: string; service: string; model_file: string; id?: string | null; unique?: boolean; metrics_file?: string | null; notes?: string; target_variable?: string }
  | { kind: 'evaluate'; name: string; service: string; version: string; metric: unknown; holdout_csv: string; target_column?: string; stop_unless_better?: boolean; baseline?: string | null }
  | { kind: 'update_deployment'; name: string; service: string; version: string; mode?: 'single' | { replace: { generation: string } } };

export type OnMissed = 'run_once' | 'skip';

export type ScenarioTrigger =
  | { kind: 'manual' }
  | { kind: 'cron'; schedule: string; timezone?: string; on_missed?: OnMissed; enabled?: boolean };

export interface Scenario {
  name: string;
  description?: string;
  variables?: Record<string, string>;
  steps: ScenarioStep[];
  triggers?: ScenarioTrigger[];
}

export interface FireTime {
  at: string;
  /** The wall clock of the trigger's zone, e.g. `2026-03-01 00:00:00 CET`. */
  local: string;
}

export type RunStatus = 'running' | 'succeeded' | 'failed' | 'stopped' | 'cancelled' | 'abandoned' | 'skipped';
export type StepStatus = 'pending' | 'running' | 'succeeded' | 'failed' | 'stopped' | 'skipped' | 'cancelled' | 'abandoned';
export type TriggerKind = 'manual' | 'cron' | 'missed';

export interface StepRun {
  name: string;
  kind: string;
  status: StepStatus;
  started_at: string | null;
  ended_at: string | null;
  message: string;
  outputs: Record<string, string>;
}

export interface Run {
  scenario: string;
  id: number;
  trigger: TriggerKind;
  trigger_detail: string;
  status: RunStatus;
  message: string;
  steps: StepRun[];
  variables: Record<string, string>;
  started_at: string;
  ended_at: string | null;
  /** In [0, 1]; 1 once the run has ended. */
  progress: number;
  /** Only when one run is asked for. */
  log?: string;
}

export interface ScenarioView {
  spec: Scenario;
  created_at: string;
  updated_at: string;
  running: number | null;
  last_run: Run | null;
  next_fire: FireTime | null;
}

export interface ScenarioIssue {
  /** `steps[i].field`, `triggers[i].field`, `variables.name` or `name`. */
  path: string;
  step: number | null;
  message: string;
}

export interface TriggerFires {
  trigger: number;
  schedule: string;
  timezone: string;
  description: string;
  enabled: boolean;
  on_missed: OnMissed;
  next: FireTime[];
}

// ---- access control (src/auth) ---------------------------------------------------------

export type AuthMode = 'none' | 'api_key' | 'basic';
export type KeyStatus = 'active' | 'expiring' | 'expired' | 'revoked';

/** A key as lists show it: never its secret. */
export interface ApiKey {
  id: number;
  name: string;
  /** The secret's first characters, to tell keys apart. */
  prefix: string;
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
  status: KeyStatus;
}

/** A key just created: the only time its secret is visible. */
export interface NewKey {
  key: ApiKey;
  secret: string;
}

export interface AccessView {
  service: string;
  mode: AuthMode;
  keys: ApiKey[];
  /** Requests refused for missing or wrong credentials since the node started. */
  failures: number;
}

/** What run-and-test sends to a deployment that requires credentials. */
export type ClientCredential = { kind: 'api_key'; key: string } | { kind: 'basic'; user: string; password: string };

// ---- infrastructures (src/infra.rs) ----------------------------------------------------

/** A remote API node the console manages; its token never comes back from the engine. */
export interface Infrastructure {
  name: string;
  url: string;
  has_token: boolean;
  created_at: string;
}

export type InfraState = 'online' | 'unauthorized' | 'unreachable';

export interface InfraStatus {
  name: string;
  state: InfraState;
  services: number | null;
  message: string;
}
