// The only IPC surface of the UI. Components call `api.*`, never `invoke`.
//
// Every Tauri command rejects with `{code, message, details?}` on failure; `call` rebuilds
// that as an `ApiError` whose `code` is one of the engine's closed set of error codes, so
// components match on `code`, never on message text. Anything else thrown (a string from
// Tauri itself, an Error from outside a Tauri webview, undefined) becomes code `internal`
// with a readable message.

import { Channel, invoke } from '@tauri-apps/api/core';
import type { InvokeArgs, InvokeOptions } from '@tauri-apps/api/core';
import { save } from '@tauri-apps/plugin-dialog';
import { openPath, revealItemInDir } from '@tauri-apps/plugin-opener';

import { errorCodeValues } from './generated/api';
import type { components } from './generated/api';

import type {
  AbReport,
  MlflowConnect,
  MlflowImport,
  MlflowModels,
  MlflowSettings,
  MlflowVersion,
  Change,
  ArtifactStoreInfo,
  Delivery,
  Webhook,
  InfraStatus,
  Infrastructure,
  AccessView,
  AuthMode,
  ClientCredential,
  NewKey,
  ApprovalRequest,
  Canary,
  CanaryAction,
  CapturePolicy,
  CaptureRow,
  CaptureStatus,
  Replay,
  ReplayRequest,
  RowFilter,
  CanaryOutcome,
  CanaryPlan,
  Capabilities,
  DeployOutcome,
  Grant,
  NewToken,
  PrincipalView,
  Protection,
  DeploymentConfig,
  MappingIssue,
  MonitorSnapshot,
  DriftReport,
  NodeInfo,
  Revision,
  RunProgress,
  RunReport,
  Run,
  ScenarioIssue,
  ScenarioView,
  TriggerFires,
  Service,
  ServiceSummary,
  Version,
  VersionView,
} from './types';

/** The engine's closed set of error codes: the ErrorCode enum of its OpenAPI document, generated. */
export const ERROR_CODES: readonly ErrorCode[] = errorCodeValues;

export type ErrorCode = components['schemas']['ErrorCode'];

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && (ERROR_CODES as readonly string[]).includes(value);
}

/** A failed backend call, as the engine reported it. */
export class ApiError extends Error {
  readonly code: ErrorCode;
  /** Per-entry mapping problems when `code` is `invalid_mapping`; empty otherwise. */
  readonly details: MappingIssue[];

  constructor(code: ErrorCode, message: string, details: MappingIssue[] = []) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.details = details;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

function asIssues(value: unknown): MappingIssue[] {
  if (!Array.isArray(value)) return [];
  return value.filter(
    (i): i is MappingIssue => isObject(i) && typeof i.kind === 'string' && typeof i.message === 'string',
  );
}

/** Rebuilds whatever a backend call rejected with as an `ApiError`. */
export function toApiError(error: unknown, command = 'backend call'): ApiError {
  if (error instanceof ApiError) return error;
  if (isObject(error) && typeof error.code === 'string' && typeof error.message === 'string') {
    const details = asIssues(error.details);
    if (isErrorCode(error.code)) return new ApiError(error.code, error.message, details);
    // An unknown code is a contract drift: keep it visible in the message.
    return new ApiError('internal', `${error.message} (code ${error.code})`, details);
  }
  if (typeof error === 'string') {
    return new ApiError('internal', error.trim() || `${command} failed without an error message`);
  }
  if (error instanceof Error) {
    return new ApiError('internal', error.message || `${command} failed: ${error.name}`);
  }
  if (isObject(error) && typeof error.message === 'string' && error.message) {
    return new ApiError('internal', error.message);
  }
  if (error === undefined || error === null) {
    return new ApiError('internal', `${command} failed without an error message`);
  }
  let shown: string;
  try {
    shown = JSON.stringify(error);
  } catch {
    shown = String(error);
  }
  return new ApiError('internal', `${command} failed: ${shown}`);
}

/** Whether the page runs inside a Tauri webview (or under Tauri's IPC mocks). */
function hasTauriIpc(): boolean {
  return typeof window !== 'undefined' && '__TAURI_INTERNALS__' in window;
}

/** Rebuilds a failure of `command`; says so plainly when there is no backend at all. */
function failure(error: unknown, command: string): ApiError {
  if (error instanceof TypeError && typeof window !== 'undefined' && !hasTauriIpc()) {
    return new ApiError('internal', `${command}: the Switchyard backend is not available (this page must run inside the desktop app)`);
  }
  return toApiError(error, command);
}

async function call<T>(command: string, args?: InvokeArgs, options?: InvokeOptions): Promise<T> {
  try {
    return await invoke<T>(command, args, options);
  } catch (e) {
    throw failure(e, command);
  }
}

/** A call into a Tauri plugin (dialog, opener), its failure an `ApiError` like a command's. */
async function plugin<T>(what: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (e) {
    throw failure(e, what);
  }
}

export interface AddVersionInput {
  service: string;
  fileName: string;
  bytes: Uint8Array;
  /** A given id; empty or absent for the next `vN`. */
  id?: string;
  unique: boolean;
  metrics: Record<string, number>;
  notes: string;
  /** A reference CSV (holdout features): the version's drift reference and sample row. */
  reference?: Uint8Array | null;
}

export interface RunTestInput {
  service: string;
  features: Record<string, number>;
  count: number;
  /** Force this live generation; null lets the router decide. */
  generation: string | null;
  /** What the deployment's auth mode asks for; null sends none. */
  credential?: ClientCredential | null;
  /** A CSV of rows (a header naming the features): each row is sent once, in order,
   * instead of `features` `count` times. */
  rowsCsv?: string | null;
  onProgress?: (progress: RunProgress) => void;
}

/** Everything the UI asks of the engine. */
export interface Backend {
  nodeInfo(): Promise<NodeInfo>;
  /** Where the local node's artifacts live, and what its cache holds. */
  artifactStore(): Promise<ArtifactStoreInfo>;
  listServices(): Promise<ServiceSummary[]>;
  createService(input: { name: string; description: string }): Promise<Service>;
  listVersions(service: string): Promise<VersionView[]>;
  addVersion(input: AddVersionInput): Promise<Version>;
  /** The MLflow tracking server the console was started with (MLFLOW_TRACKING_URI) and its models. */
  mlflowModels(): Promise<MlflowModels>;
  mlflowVersions(model: string): Promise<MlflowVersion[]>;
  /** Imports `models:/NAME/VERSION` or `models:/NAME@ALIAS`; `created: false` names the version imported before. */
  importMlflow(input: { service: string; modelUri: string }): Promise<MlflowImport>;
  /** How the console's engine reaches MLflow (never a secret). */
  mlflowSettings(): Promise<MlflowSettings>;
  /** Connects to a tracking server (null disconnects); kept for the next start. */
  setMlflow(connect: MlflowConnect | null): Promise<MlflowSettings>;
  revisions(service: string): Promise<Revision[]>;
  /** Deployed, or (on a protected service) an approval request waiting for another principal. */
  deploy(input: { service: string; config: DeploymentConfig; reason: string }): Promise<DeployOutcome>;
  deployVersion(input: { service: string; version: string; reason: string }): Promise<DeployOutcome>;
  rollback(input: { service: string; toRevision: number | null; reason: string }): Promise<Revision>;
  /** The engine's verdict on a mapping's text: empty means valid. */
  validateMapping(input: { service: string; text: string }): Promise<MappingIssue[]>;
  runTest(input: RunTestInput): Promise<RunReport>;
  monitor(input: { service: string; minutes: number }): Promise<MonitorSnapshot>;
  /** Drift of each generation against its reference: PSI/KS per feature and minute, the prediction distribution. */
  drift(input: { service: string; minutes: number }): Promise<DriftReport>;
  /** The deployment's auth mode, keys (never their secrets) and refused requests. */
  access(service: string): Promise<AccessView>;
  /** Rejects with `invalid_config` when the mode needs keys and none is usable. */
  setAuthMode(input: { service: string; mode: AuthMode }): Promise<AccessView>;
  /** Resolves with the secret: shown once, stored nowhere. */
  createKey(input: { service: string; name: string }): Promise<NewKey>;
  /** A new key under the same name; the old one keeps working for `overlapSeconds`. */
  rotateKey(input: { service: string; id: number; overlapSeconds: number }): Promise<NewKey>;
  revokeKey(input: { service: string; id: number }): Promise<AccessView>;
  /** Writes the deployment report (one HTML file) for `since` (e.g. "24h", "7d") up to now;
   * an empty path writes to the downloads folder. Resolves to the path written. */
  exportReport(input: { service: string; since: string; path: string }): Promise<string>;
  /** The native Save dialog for a report of `service`, starting at the engine's default
   * report path (Downloads, `<service>-report-<date>.html`); null when cancelled. */
  chooseReportPath(service: string): Promise<string | null>;
  /** Opens a written report with the desktop's default application. */
  openFile(path: string): Promise<void>;
  /** Shows a written file selected in its folder (the file manager). */
  showInFolder(path: string): Promise<void>;
  /** The deployment's latest canary, running or finished; rejects with `canary_not_found` if it never had one. */
  canary(service: string): Promise<Canary>;
  /** Started, or (on a protected service) an approval request. */
  startCanary(input: { service: string; plan: CanaryPlan }): Promise<CanaryOutcome>;
  /** What the console's principal may do on the current infrastructure, per service. */
  capabilities(): Promise<Capabilities>;
  /** Approval requests of a service (or every service), newest first. */
  approvals(input: { service: string | null; pendingOnly: boolean }): Promise<ApprovalRequest[]>;
  /** Approves (runs the change in the requester's name) or rejects a request. */
  decideApproval(input: { service: string; id: number; approve: boolean; note: string }): Promise<ApprovalRequest>;
  protection(service: string): Promise<Protection>;
  setProtection(input: { service: string; protected: boolean }): Promise<Protection>;
  listPrincipals(): Promise<PrincipalView[]>;
  createPrincipal(input: { name: string; roles: Grant[] }): Promise<PrincipalView>;
  setRoles(input: { name: string; roles: Grant[] }): Promise<PrincipalView>;
  removePrincipal(name: string): Promise<PrincipalView>;
  /** Resolves with the secret: shown once, stored nowhere. */
  createToken(input: { principal: string; name: string; expiresInSeconds: number | null }): Promise<NewToken>;
  revokeToken(input: { principal: string; id: number }): Promise<PrincipalView>;
  canaryAction(input: { service: string; action: CanaryAction }): Promise<Canary>;
  abResults(service: string): Promise<AbReport>;
  /** The deployment's capture policy (null: off), rows stored and rows dropped on this node. */
  captureStatus(service: string): Promise<CaptureStatus>;
  /** Sets the capture policy; null turns capture off. */
  setCapturePolicy(input: { service: string; policy: CapturePolicy | null }): Promise<CaptureStatus>;
  /** Captured requests, newest first, with their feedback. */
  captureRows(input: { service: string; filter: RowFilter }): Promise<CaptureRow[]>;
  /** Starts a replay of captured requests through a version; rejects with `invalid_input`
   * naming the missing and extra features, or saying the window is empty. */
  startReplay(input: { service: string; request: ReplayRequest }): Promise<Replay>;
  /** One replay: progress while it runs, figures when done. */
  replay(input: { service: string; id: number }): Promise<Replay>;
  /** The service's replays, newest first. */
  replays(service: string): Promise<Replay[]>;
  cancelReplay(input: { service: string; id: number }): Promise<Replay>;
  /** Records the outcome of a request this node answered (once per request). */
  feedback(input: { service: string; requestId: string; outcome: number | boolean }): Promise<null>;
  listScenarios(): Promise<ScenarioView[]>;
  getScenario(name: string): Promise<ScenarioView>;
  /** Saves the spec as edited (any JSON: one that is not a scenario is `invalid_input`). */
  saveScenario(spec: unknown): Promise<ScenarioView>;
  /** Every problem of the spec, each at its place; empty when it can be saved. */
  validateScenario(spec: unknown): Promise<ScenarioIssue[]>;
  deleteScenario(name: string): Promise<null>;
  scenarioNextFires(input: { name: string; count: number }): Promise<TriggerFires[]>;
  /** Starts a run by hand; resolves at once with the run (status `running`). */
  startScenarioRun(name: string): Promise<Run>;
  scenarioRuns(input: { name: string; limit: number }): Promise<Run[]>;
  /** One run with its log. */
  scenarioRun(input: { name: string; id: number }): Promise<Run>;
  cancelScenarioRun(input: { name: string; id: number }): Promise<Run>;
  /** Streams the run (with its log) on each change until it ends; resolves to the final run. */
  watchScenarioRun(input: { name: string; id: number; onUpdate?: (run: Run) => void }): Promise<Run>;
  /** Calls `onChange` for every change of the local engine's state, for as long as the window lives. */
  watchChanges(onChange: (change: Change) => void): Promise<void>;
  listInfrastructures(): Promise<Infrastructure[]>;
  /** Rejects with `invalid_input` for a URL that is not http(s)://host[:port]. */
  addInfrastructure(input: { name: string; url: string; token: string | null }): Promise<Infrastructure>;
  removeInfrastructure(name: string): Promise<null>;
  /** Online, unauthorized (token refused) or unreachable; answers within a few seconds. */
  infrastructureStatus(name: string): Promise<InfraStatus>;
  /** The local node's webhooks (Settings → Notifications). */
  listWebhooks(): Promise<Webhook[]>;
  /** Rejects with `invalid_input` for a URL that is not http(s) or a secret not 16–256 characters. */
  createWebhook(input: { url: string; service: string | null; secret: string | null }): Promise<Webhook>;
  removeWebhook(id: number): Promise<null>;
  /** Sends a test event now (one attempt) and resolves to how it went. */
  testWebhook(id: number): Promise<Delivery>;
  /** Recent deliveries, newest first. */
  webhookDeliveries(input: { webhook: number | null; limit: number | null }): Promise<Delivery[]>;
}

/**
 * The infrastructure the deployment screens act on: null is the local node. Services,
 * versions, revisions, deploy, rollback, mapping checks, run-and-test, monitoring, and
 * Settings → People (capabilities, principals, tokens, approvals) go to it; everything else
 * is local-only.
 */
let infra: string | null = null;

export function useInfrastructure(name: string | null): void {
  infra = name;
}

export function currentInfrastructure(): string | null {
  return infra;
}

/** The metadata header of `add_version`, whose body is the raw .onnx bytes. */
export function addVersionMeta(input: AddVersionInput): string {
  const meta: Record<string, unknown> = {
    service: input.service,
    file_name: input.fileName,
    unique: input.unique,
    metrics: input.metrics,
    notes: input.notes,
  };
  const id = input.id?.trim();
  if (id) meta.id = id;
  // The body is the model's bytes followed by the reference CSV's: this says where it starts.
  if (input.reference?.length) meta.reference_bytes = input.reference.length;
  return JSON.stringify(meta);
}

/** The body of `add_version`: the model's bytes, then the reference CSV's when there is one. */
export function addVersionBody(input: AddVersionInput): Uint8Array {
  if (!input.reference?.length) return input.bytes;
  const body = new Uint8Array(input.bytes.length + input.reference.length);
  body.set(input.bytes, 0);
  body.set(input.reference, input.bytes.length);
  return body;
}

export const tauriBackend: Backend = {
  nodeInfo: () => call('node_info'),
  artifactStore: () => call('artifact_store'),
  listServices: () => call('list_services', { infra }),
  createService: ({ name, description }) => call('create_service', { name, description }),
  listVersions: (service) => call('list_versions', { infra, service }),
  addVersion: (input) =>
    call('add_version', addVersionBody(input), { headers: { 'x-switchyard-meta': addVersionMeta(input) } }),
  mlflowModels: () => call('mlflow_models'),
  mlflowVersions: (model) => call('mlflow_versions', { model }),
  importMlflow: ({ service, modelUri }) => call('import_mlflow', { service, modelUri }),
  mlflowSettings: () => call('mlflow_settings'),
  setMlflow: (connect) => call('set_mlflow', { connect }),
  revisions: (service) => call('revisions', { infra, service }),
  deploy: ({ service, config, reason }) => call('deploy', { infra, service, config, reason }),
  deployVersion: ({ service, version, reason }) => call('deploy_version', { infra, service, version, reason }),
  rollback: ({ service, toRevision, reason }) => call('rollback', { infra, service, toRevision, reason }),
  validateMapping: ({ service, text }) => call('validate_mapping', { infra, service, text }),
  runTest: async ({ service, features, count, generation, credential, rowsCsv, onProgress }) => {
    let channel: Channel<RunProgress>;
    try {
      channel = new Channel<RunProgress>(onProgress);
    } catch (e) {
      throw failure(e, 'run_test');
    }
    const request = { service, features, count, generation, credential: credential ?? null, rows_csv: rowsCsv ?? null };
    return call('run_test', { infra, request, onProgress: channel });
  },
  monitor: ({ service, minutes }) => call('monitor', { infra, service, minutes }),
  drift: ({ service, minutes }) => call('drift', { infra, service, minutes }),
  access: (service) => call('access', { service }),
  setAuthMode: ({ service, mode }) => call('set_auth_mode', { service, mode }),
  createKey: ({ service, name }) => call('create_key', { service, name }),
  rotateKey: ({ service, id, overlapSeconds }) => call('rotate_key', { service, id, overlapSeconds }),
  revokeKey: ({ service, id }) => call('revoke_key', { service, id }),
  exportReport: ({ service, since, path }) => call('export_report', { service, since, path }),
  chooseReportPath: async (service) => {
    const defaultPath = await call<string>('default_report_path', { service });
    return plugin('the Save dialog', () =>
      save({ title: 'Export report', defaultPath, filters: [{ name: 'HTML report', extensions: ['html'] }] }),
    );
  },
  openFile: (path) => plugin('open the file', () => openPath(path)),
  showInFolder: (path) => plugin('show the file in its folder', () => revealItemInDir(path)),
  canary: (service) => call('canary', { service }),
  startCanary: ({ service, plan }) => call('start_canary', { service, plan }),
  canaryAction: ({ service, action }) => call('canary_action', { service, action }),
  capabilities: () => call('capabilities', { infra }),
  approvals: ({ service, pendingOnly }) => call('approvals', { infra, service, pendingOnly }),
  decideApproval: ({ service, id, approve, note }) => call('decide_approval', { infra, service, id, approve, note }),
  protection: (service) => call('protection', { service }),
  setProtection: ({ service, protected: on }) => call('set_protection', { service, protected: on }),
  listPrincipals: () => call('list_principals', { infra }),
  createPrincipal: ({ name, roles }) => call('create_principal', { infra, name, roles }),
  setRoles: ({ name, roles }) => call('set_roles', { infra, name, roles }),
  removePrincipal: (name) => call('remove_principal', { infra, name }),
  createToken: ({ principal, name, expiresInSeconds }) => call('create_token', { infra, principal, name, expiresInSeconds }),
  revokeToken: ({ principal, id }) => call('revoke_token', { infra, principal, id }),
  abResults: (service) => call('ab_results', { service }),
  captureStatus: (service) => call('capture_status', { service }),
  setCapturePolicy: ({ service, policy }) => call('set_capture_policy', { service, policy }),
  captureRows: ({ service, filter }) => call('capture_rows', { service, filter }),
  startReplay: ({ service, request }) => call('start_replay', { service, request }),
  replay: ({ service, id }) => call('replay', { service, id }),
  replays: (service) => call('replays', { service }),
  cancelReplay: ({ service, id }) => call('cancel_replay', { service, id }),
  feedback: ({ service, requestId, outcome }) => call('feedback', { service, requestId, outcome }),
  listInfrastructures: () => call('list_infrastructures'),
  addInfrastructure: ({ name, url, token }) => call('add_infrastructure', { name, url, token }),
  removeInfrastructure: (name) => call('remove_infrastructure', { name }),
  infrastructureStatus: (name) => call('infrastructure_status', { name }),
  listWebhooks: () => call('list_webhooks'),
  createWebhook: ({ url, service, secret }) => call('create_webhook', { url, service, secret }),
  removeWebhook: (id) => call('remove_webhook', { id }),
  testWebhook: (id) => call('test_webhook', { id }),
  webhookDeliveries: ({ webhook, limit }) => call('webhook_deliveries', { webhook, limit }),
  listScenarios: () => call('list_scenarios'),
  getScenario: (name) => call('get_scenario', { name }),
  saveScenario: (spec) => call('save_scenario', { spec }),
  validateScenario: (spec) => call('validate_scenario', { spec }),
  deleteScenario: (name) => call('delete_scenario', { name }),
  scenarioNextFires: ({ name, count }) => call('scenario_next_fires', { name, count }),
  startScenarioRun: (name) => call('start_scenario_run', { name }),
  scenarioRuns: ({ name, limit }) => call('scenario_runs', { name, limit }),
  scenarioRun: ({ name, id }) => call('scenario_run', { name, id }),
  cancelScenarioRun: ({ name, id }) => call('cancel_scenario_run', { name, id }),
  watchScenarioRun: async ({ name, id, onUpdate }) => {
    let channel: Channel<Run>;
    try {
      channel = new Channel<Run>(onUpdate);
    } catch (e) {
      throw failure(e, 'watch_scenario_run');
    }
    return call('watch_scenario_run', { name, id, onUpdate: channel });
  },
  watchChanges: async (onChange) => {
    let channel: Channel<Change>;
    try {
      channel = new Channel<Change>(onChange);
    } catch (e) {
      throw failure(e, 'watch_changes');
    }
    return call('watch_changes', { onChange: channel });
  },
};

export const api: Backend = tauriBackend;

/**
 * What an error banner says: the human message as the headline, the code apart (shown small
 * under it). A message that is empty or only a code (an internal drift) is replaced by the
 * code in words, so a bare code is never the headline.
 */
export function errorHeadline(error: Pick<ApiError, 'code' | 'message'>): { headline: string; code: string } {
  const message = error.message.trim();
  if (message && message !== error.code && !isErrorCode(message)) return { headline: message, code: error.code };
  if (error.code === 'internal') return { headline: 'Something went wrong inside Switchyard: the node log has the details.', code: error.code };
  const words = error.code.replaceAll('_', ' ');
  return { headline: `${words.charAt(0).toUpperCase()}${words.slice(1)}.`, code: error.code };
}
