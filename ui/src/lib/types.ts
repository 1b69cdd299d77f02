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

export type DeploymentConfig =
  | { mode: 'single'; generation: string; sticky: boolean }
  | { mode: 'multiple'; mapping: MappingEntry[]; sticky: boolean };

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
  rejected?: number;
  p50_ms: number;
  p95_ms: number;
  p99_ms: number;
}

export interface GenerationStats {
  generation: string;
  requests: number;
  errors: number;
  rejected?: number;
  error_rate: number;
  p50_ms: number;
  p95_ms: number;
  p99_ms: number;
  minutes: MinuteStats[];
}

export interface MonitorSnapshot {
  service: string;
  window_minutes: number;
  generations: GenerationStats[];
}
