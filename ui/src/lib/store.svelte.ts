// Application state shared by the screens: the node, the services list, the selected
// service with its versions and revisions. Loads go through `api`; every failure is kept as
// an ApiError for a banner, never only logged.

import { api, toApiError, useInfrastructure } from './api';
import type { ApiError } from './api';
import { ChangeBatcher } from './changes';
import type { Reload } from './changes';
import { activeRevision } from './format';
import { SERVICES_WINDOW_MINUTES, trafficSummary } from './traffic';
import type { TrafficSummary } from './traffic';
import { LeaveGuard } from './leave.svelte';
import { denied } from './permissions';
import type {
  ArtifactStoreInfo,
  Capabilities,
  InfraStatus,
  Infrastructure,
  NodeInfo,
  Permission,
  Revision,
  ServiceSummary,
  VersionView,
} from './types';

export type Tab = 'versions' | 'deployment' | 'run' | 'monitoring';
/** A screen of the sidebar's lower part (settings and scenarios). */
export type Screen = 'scenarios' | 'people' | 'notifications' | 'mlflow';

/** How often the screens reload from a remote node, which announces no changes to the window. */
export const REMOTE_POLL_MS = 5_000;

export const TABS: { id: Tab; label: string }[] = [
  { id: 'versions', label: 'Versions' },
  { id: 'deployment', label: 'Deployment' },
  { id: 'run', label: 'Run & test' },
  { id: 'monitoring', label: 'Monitoring' },
];

class AppState {
  node = $state<NodeInfo | null>(null);
  nodeError = $state<ApiError | null>(null);
  /** Where the local node's artifacts live (the sidebar shows it). */
  artifacts = $state<ArtifactStoreInfo | null>(null);
  artifactsError = $state<ApiError | null>(null);

  /** The infrastructure the deployment screens act on; null is the local node. */
  infra = $state<string | null>(null);
  infrastructures = $state<Infrastructure[]>([]);
  infraStatus = $state<InfraStatus | null>(null);
  infraError = $state<ApiError | null>(null);

  services = $state<ServiceSummary[]>([]);
  servicesLoaded = $state(false);
  servicesLoading = $state(false);
  servicesError = $state<ApiError | null>(null);

  /** The selected service; null shows the services list. */
  selected = $state<string | null>(null);
  tab = $state<Tab>('versions');

  /** Versions and revisions of `detailFor` (oldest first, as the engine lists them). */
  versions = $state<VersionView[]>([]);
  revisions = $state<Revision[]>([]);
  detailFor = $state<string | null>(null);
  detailLoading = $state(false);
  detailError = $state<ApiError | null>(null);

  /** A clock for relative times ("3 min ago"), ticking every 15 s. */
  now = $state(Date.now());

  #detailToken = 0;

  /** Bumped when the engine announces a change of the selected service's canary or access,
   *  or of any scenario: the panels showing them reload. */
  canaryChanges = $state(0);
  accessChanges = $state(0);
  scenarioChanges = $state(0);

  #changes = new ChangeBatcher((r) => this.applyReload(r));

  /**
   * Keeps every screen current: the local engine's changes as it announces them (whoever made
   * them: this window, the CLI, a canary, a scenario, another node), a remote node by polling.
   * Returns the stop function.
   */
  startLive(): () => void {
    api.watchChanges((c) => this.#changes.add(c)).catch((e) => {
      this.nodeError = toApiError(e, 'watch_changes');
    });
    const poll = setInterval(() => {
      if (this.remote) void this.refreshAll();
    }, REMOTE_POLL_MS);
    return () => clearInterval(poll);
  }

  /** Reloads what a batch of the local engine's changes touched. */
  applyReload(r: Reload): void {
    if (this.remote) return; // the screens show another node; its poll keeps them current
    if (r.all || r.services) void this.refreshServices();
    const s = this.selected;
    if (s && (r.all || r.details.has(s))) void this.refreshDetail();
    if (s && (r.all || r.canaries.has(s))) this.canaryChanges++;
    if (s && (r.all || r.access.has(s))) this.accessChanges++;
    if (r.all || r.scenarios.size > 0) this.scenarioChanges++;
  }

  /** The selected service's summary. */
  get summary(): ServiceSummary | null {
    return this.services.find((s) => s.name === this.selected) ?? null;
  }

  /** The active revision of the selected service, once its detail is loaded. */
  get active(): Revision | null {
    if (this.detailFor !== this.selected) return this.summary?.deployment ?? null;
    return activeRevision(this.revisions);
  }

  get detailReady(): boolean {
    return this.detailFor === this.selected && this.selected !== null;
  }

  /** Whether the deployment screens act on a remote node (local-only panels hide). */
  get remote(): boolean {
    return this.infra !== null;
  }

  async loadInfrastructures(): Promise<void> {
    try {
      this.infrastructures = await api.listInfrastructures();
      this.infraError = null;
    } catch (e) {
      this.infraError = toApiError(e, 'list_infrastructures');
    }
  }

  /** Switches every deployment screen to another node, and checks that it answers. */
  async useInfra(name: string | null): Promise<void> {
    this.infra = name;
    useInfrastructure(name);
    this.infraStatus = null;
    this.capabilities = null; // another node, another principal: known again after the next load
    this.services = [];
    this.traffic = {};
    this.servicesLoaded = false;
    this.select(null);
    if (name) {
      try {
        this.infraStatus = await api.infrastructureStatus(name);
        this.infraError = null;
      } catch (e) {
        this.infraError = toApiError(e, 'infrastructure_status');
      }
    }
    await this.refreshServices();
  }

  async loadNode(): Promise<void> {
    try {
      this.node = await api.nodeInfo();
      this.nodeError = null;
    } catch (e) {
      this.nodeError = toApiError(e, 'node_info');
    }
    try {
      this.artifacts = await api.artifactStore();
      this.artifactsError = null;
    } catch (e) {
      this.artifactsError = toApiError(e, 'artifact_store');
    }
  }

  /** Recent traffic per service (the services list's requests and error rate). */
  traffic = $state<Record<string, TrafficSummary>>({});

  /** Loads the last minutes of traffic of every listed service; failures leave a gap. */
  async refreshTraffic(): Promise<void> {
    const entries = await Promise.all(
      this.services.map(async (s) => {
        try {
          const snap = await api.monitor({ service: s.name, minutes: SERVICES_WINDOW_MINUTES });
          return [s.name, trafficSummary(snap)] as const;
        } catch {
          return null;
        }
      }),
    );
    this.traffic = Object.fromEntries(entries.filter((e) => e !== null));
  }

  /** What the console's principal may do on the current infrastructure (null: not known yet). */
  capabilities = $state<Capabilities | null>(null);

  /** Why the principal may not use `permission` (on `service`), for a control's hover; null when it may. */
  denied(permission: Permission, service: string | null = null): string | null {
    return denied(this.capabilities, permission, service);
  }

  async refreshServices(): Promise<void> {
    this.servicesLoading = true;
    try {
      const [services, capabilities] = await Promise.all([api.listServices(), api.capabilities().catch(() => null)]);
      this.services = services;
      this.capabilities = capabilities;
      this.servicesError = null;
      this.now = Date.now();
      void this.refreshTraffic();
    } catch (e) {
      this.servicesError = toApiError(e, 'list_services');
    } finally {
      this.servicesLoading = false;
      this.servicesLoaded = true;
    }
  }

  async refreshDetail(): Promise<void> {
    const service = this.selected;
    if (!service) return;
    const token = ++this.#detailToken;
    this.detailLoading = true;
    try {
      const [versions, revisions] = await Promise.all([api.listVersions(service), api.revisions(service)]);
      if (token !== this.#detailToken) return;
      this.versions = versions;
      this.revisions = revisions;
      this.now = Date.now();
      this.detailFor = service;
      this.detailError = null;
    } catch (e) {
      if (token !== this.#detailToken) return;
      this.detailError = toApiError(e, 'list_versions');
    } finally {
      if (token === this.#detailToken) this.detailLoading = false;
    }
  }

  /** After a change (deploy, rollback, upload): the list and the selected service. */
  async refreshAll(): Promise<void> {
    await Promise.all([this.refreshServices(), this.refreshDetail()]);
  }

  /** The screen shown instead of the services list or a service, if any. */
  screen = $state<Screen | null>(null);
  /** The Scenarios screen is shown. */
  get scenarios(): boolean {
    return this.screen === 'scenarios';
  }
  /** Settings → People is shown. */
  get people(): boolean {
    return this.screen === 'people';
  }
  /** Settings → Notifications is shown. */
  get notifications(): boolean {
    return this.screen === 'notifications';
  }
  /** Settings → MLflow is shown. */
  get mlflow(): boolean {
    return this.screen === 'mlflow';
  }

  /** Asks before a navigation would discard unsaved edits (the Scenarios editor sets it). */
  leave = new LeaveGuard();

  show(screen: Screen): void {
    if (this.screen === screen && this.selected === null) return;
    this.leave.attempt(() => {
      this.screen = screen;
      this.selected = null;
    });
  }

  showScenarios(): void {
    this.show('scenarios');
  }

  showPeople(): void {
    this.show('people');
  }

  showNotifications(): void {
    this.show('notifications');
  }

  select(service: string | null, tab: Tab = 'versions'): void {
    this.leave.attempt(() => this.#select(service, tab));
  }

  #select(service: string | null, tab: Tab): void {
    this.screen = null;
    if (service !== this.selected) {
      this.selected = service;
      this.detailError = null;
      if (service !== this.detailFor) {
        this.versions = [];
        this.revisions = [];
        this.detailFor = null;
      }
    }
    this.tab = tab;
    if (service) void this.refreshDetail();
    else void this.refreshServices();
  }
}

export const app = new AppState();
