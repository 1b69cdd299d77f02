// The engine's data as it crosses IPC: JSON exactly as the engine serialises it. Timestamps
// are RFC 3339 strings.
//
// Generated, not written here: these are the schemas of the node's OpenAPI document (the
// utoipa `ToSchema` of the engine types that the desktop commands also return), turned into
// TypeScript in ./generated/api.ts by `npm run gen:types`; `npm run check:types` (in
// scripts/test.sh) fails when the committed files drift from the engine. This file only gives
// them the names the components use.
//
// Hand-written below, each marked so: the few things the document does not carry (the Tauri
// shell's own DTOs, the desktop's run-and-test and infrastructures, a constant).

import type { components, paths } from './generated/api';

type Schemas = components['schemas'];

/** Fields the engine leaves out of its JSON when they are empty (serde `skip_serializing_if`). */
type Skipped = 'shadow' | 'log' | 'source_file' | 'details' | 'probabilities';

/**
 * A schema as the engine writes it. The document also says what the engine reads, where a
 * field with a serde default, or an `Option`, may be left out; the engine's own JSON always
 * has them (`None` as null), except the `Skipped` ones. Deep.
 */
export type Sent<T> = T extends readonly (infer E)[]
  ? Sent<E>[]
  : T extends object
    ? [Extract<keyof T, Skipped>] extends [never]
      ? { [K in keyof T]-?: Sent<Exclude<T[K], undefined>> }
      : { [K in keyof Omit<T, Skipped>]-?: Sent<Exclude<Omit<T, Skipped>[K], undefined>> } & {
          [K in keyof Pick<T, Extract<keyof T, Skipped>>]?: Sent<Pick<T, Extract<keyof T, Skipped>>[K]>;
        }
    : T;

export type Service = Sent<Schemas['Service']>;
/** A change of engine state, announced to the window (it reloads what the change names). */
export type Change = Sent<Schemas['Change']>;
export type ArtifactStoreInfo = Sent<Schemas['ArtifactStoreInfo']>;
/** A webhook (never its secret; its URL masked past the first path segment). */
export type Webhook = Sent<Schemas['Webhook']>;
/** One event sent (or to be sent) to one webhook, with every attempt. */
export type Delivery = Sent<Schemas['Delivery']>;
export type DeliveryState = Sent<Schemas['DeliveryState']>;
export type ServiceSummary = Sent<Schemas['ServiceSummary']>;

export type MappingEntry = Sent<Schemas['MappingEntry']>;
export type Shadow = Sent<Schemas['Shadow']>;
export type DeploymentConfig = Sent<Schemas['DeploymentConfig']>;
export type RevisionKind = Schemas['RevisionKind'];
export type Revision = Sent<Schemas['Revision']>;

export type DType = Schemas['InputType'];
export type Feature = Sent<Schemas['Feature']>;
export type OutputKind = Sent<Schemas['OutputKind']>;
export type ModelSchema = Sent<Schemas['ModelSchema']>;
export type Provenance = Sent<Schemas['Provenance']>;
export type Version = Sent<Schemas['Version']>;
export type VersionView = Sent<Schemas['VersionView']>;
export type MlflowModels = Sent<Schemas['MlflowModels']>;
export type MlflowVersion = Sent<Schemas['VersionSummary']>;
export type MlflowImport = Sent<Schemas['MlflowImport']>;
export type MlflowSettings = Sent<Schemas['MlflowSettings']>;
export type MlflowConnect = Schemas['MlflowConnect'];

export type MappingIssueKind = Schemas['IssueKind'];
export type MappingIssue = Sent<Schemas['MappingIssue']>;

export type PredictResponse = Sent<Schemas['PredictAnswer']>;

export type MinuteStats = Sent<Schemas['MinuteStats']>;
export type GenerationStats = Sent<Schemas['GenerationStats']>;
export type ShadowStats = Sent<Schemas['ShadowStats']>;
export type MonitorSnapshot = Sent<Schemas['MonitorSnapshot']>;
export type DriftReport = Sent<Schemas['DriftReport']>;
export type GenerationDrift = Sent<Schemas['GenerationDrift']>;
export type FeatureDrift = Sent<Schemas['FeatureDrift']>;
export type PredictionDrift = Sent<Schemas['PredictionDrift']>;

// ---- canary plans (src/deploy/canary.rs) ----

export type Gates = Sent<Schemas['Gates']>;
export type InconclusivePolicy = Schemas['InconclusivePolicy'];
export type CanaryPlan = Sent<Schemas['CanaryPlan']>;
export type CanaryStatus = Schemas['CanaryStatus'];
export type Verdict = Schemas['Verdict'];
export type GateReading = Sent<Schemas['GateReading']>;
export type ComparativeGates = Sent<Schemas['ComparativeGates']>;
export type ComparativeGate = Schemas['ComparativeGate'];
export type GateCheck = Sent<Schemas['GateCheck']>;
export type CanaryEvent = Sent<Schemas['CanaryEvent']>;
export type Canary = Sent<Schemas['Canary']>;
/** The `{action}` of the canary's action route. */
export type CanaryAction = paths['/admin/v1/deployments/{service}/canary/{action}']['post']['parameters']['path']['action'];

// ---- A/B results (src/monitor/ab.rs) ----

export type OutcomeKind = Schemas['OutcomeKind'];
export type AbGroup = Sent<Schemas['AbGroup']>;
export type AbComparison = Sent<Schemas['AbComparison']>;
export type AbReport = Sent<Schemas['AbReport']>;

// ---- traffic capture and replay (src/capture) ----

/** A capture policy as sent (cap, retention and feature lists may be left out). */
export type CapturePolicy = Schemas['CapturePolicy'];
export type CaptureStatus = Sent<Schemas['CaptureStatus']>;
export type CaptureRow = Sent<Schemas['CaptureRow']>;
/** The filter of captured rows, as sent (every field optional). */
export type RowFilter = Schemas['RowFilter'];
export type ReplayRequest = Schemas['ReplayRequest'];
export type ReplayStatus = Schemas['ReplayStatus'];
export type Replay = Sent<Schemas['Replay']>;
export type ReplayFigures = Sent<Schemas['ReplayFigures']>;
export type Confusion = Sent<Schemas['Confusion']>;
export type Disagreement = Sent<Schemas['Disagreement']>;

// ---- scenarios: specs, triggers' next fire times, runs with their logs ----

export type CommandLine = Schemas['CommandLine'];
/** Steps, triggers and specs as written (defaults may be left out), not as the engine writes them. */
export type ScenarioStep = Schemas['Step'];
export type OnMissed = Schemas['OnMissed'];
export type ScenarioTrigger = Schemas['Trigger'];
export type Scenario = Schemas['Scenario'];
export type FireTime = Sent<Schemas['FireTime']>;
export type RunStatus = Schemas['RunStatus'];
export type StepStatus = Schemas['StepStatus'];
export type TriggerKind = Schemas['TriggerKind'];
export type StepRun = Sent<Schemas['StepRun']>;
export type Run = Sent<Schemas['Run']>;
export type ScenarioView = Sent<Schemas['ScenarioView']>;
export type ScenarioIssue = Sent<Schemas['ScenarioIssue']>;
export type TriggerFires = Sent<Schemas['TriggerFires']>;

// ---- access control (src/auth) ----

export type AuthMode = Schemas['AuthMode'];
export type KeyStatus = Schemas['KeyStatus'];
export type ApiKey = Sent<Schemas['ApiKey']>;
export type NewKey = Sent<Schemas['NewKey']>;
export type AccessView = Sent<Schemas['AccessView']>;

// People, roles, approvals
export type Role = Schemas['Role'];
export type Permission = Schemas['Permission'];
export type Grant = Sent<Schemas['Grant']>;
export type Capabilities = Sent<Schemas['Capabilities']>;
export type PrincipalView = Sent<Schemas['PrincipalView']>;
export type NewToken = Sent<Schemas['NewToken']>;
export type ApprovalRequest = Sent<Schemas['ApprovalRequest']>;
export type ApprovalStatus = Schemas['ApprovalStatus'];
export type Protection = Sent<Schemas['Protection']>;
export type DeployOutcome = Sent<Schemas['DeployOutcome']>;
export type CanaryOutcome = Sent<Schemas['CanaryOutcome']>;
/** Run & test (src/runtest.rs): each answer, with the console's round trip and the node's time. */
export type RunReport = Sent<Schemas['RunReport']>;
export type RunResult = Sent<Schemas['RunResult']>;
export type RunProgress = Sent<Schemas['RunProgress']>;

// ---- hand-written: not in the OpenAPI document --------------------------------------------

/** The most traffic a shadow may receive, in percent (the engine's MAX_SHADOW_PERCENT; the
 * document gives no maximum). Hand-written. */
export const MAX_SHADOW_PERCENT = 50;

/** What run-and-test sends to a deployment that requires credentials (src/auth
 * `ClientCredential`: desktop IPC only, no route takes it). Hand-written. */
export type ClientCredential = { kind: 'api_key'; key: string } | { kind: 'basic'; user: string; password: string };

/** The desktop's own node (the Tauri shell's `node_info`, not an engine type). Hand-written. */
export interface NodeInfo {
  url: string;
  port: number;
  data_dir: string;
  version: string;
  /** The git commit the app was built from (`unknown` outside a git checkout). */
  commit: string;
}

// Infrastructures (src/infra.rs): the console's remote nodes, desktop IPC only. Hand-written.

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
