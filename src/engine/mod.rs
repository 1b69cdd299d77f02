//! [`Engine`]: the handle every front end holds (the HTTP node, the CLI's `serve`, the
//! desktop shell). It owns the registry pool, the artifact store and the live deployments.
//! Cheap to clone; no global state, so tests open as many engines as they like.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use arc_swap::ArcSwap;
use chrono::{DateTime, Utc};
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::clock::{Clock, SystemClock};
use crate::deploy::{self, ActiveDeployment, DeploymentConfig, Revision, RevisionKind, RevisionMeta, Serving};
use crate::error::{Error, Result};
use crate::model::{LoadedModel, Prediction};
use crate::monitor::feedback::RequestIds;
use crate::monitor::{Monitor, Totals};
use tokio_util::sync::CancellationToken;

mod access;
mod instance;
mod predict;
mod shared;

use crate::names::{ServiceName, VersionId};
use crate::registry::{self, NewVersion, Service, Version, artifacts::ArtifactStore};
use crate::store::{self, Pool};
pub(crate) use instance::SCHEDULER as SCHEDULER_LEASE;
pub use instance::{LEASE_TTL, default_instance};
pub use predict::InferOutcome;

/// The name of the embedded node in the registry's `deployments` table.
pub const LOCAL_NODE: &str = "local";

/// At most this many shadow runs at once.
const SHADOW_CONCURRENCY: usize = 64;

#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Holds `registry.db` and `artifacts/`.
    pub data_dir: PathBuf,
    /// Seeds the router's random picks (tests); None draws from the OS.
    pub router_seed: Option<u64>,
    /// Load the demo services when the registry is empty.
    pub seed_demo: bool,
    /// How often minute buckets are written to the registry.
    pub flush_interval: Duration,
    /// How often the canary controller evaluates running canaries.
    pub canary_tick: Duration,
    /// Injected latency and failures per generation: empty in production; tests use it to
    /// make a version slow or failing without a special model.
    pub faults: Faults,
    /// The wall clock of the scenario scheduler and of run timestamps; tests use a
    /// [`ManualClock`](crate::clock::ManualClock).
    pub clock: Arc<dyn Clock>,
    /// How often the scenario scheduler checks cron triggers; None runs no scheduler loop
    /// (tests call [`Engine::scheduler_tick`] themselves). Missed fires and abandoned runs
    /// are handled at open either way.
    pub scheduler_tick: Option<Duration>,
    /// The program `${switchyard}` names in scenarios (default: the current executable).
    pub switchyard_exe: Option<PathBuf>,
    /// A shared registry (`postgres://…`); None keeps it in `data_dir/registry.db` (SQLite).
    /// Artifacts stay in `data_dir/artifacts`, which nodes sharing a registry must share too.
    pub database_url: Option<String>,
    /// This process's name among the nodes sharing the registry (default: the host name);
    /// nodes on one host sharing a registry need one each.
    pub instance: String,
}

/// Latency and failures injected into given generations (`(service, version)`).
#[derive(Debug, Clone, Default)]
pub struct Faults {
    pub delays: HashMap<(String, String), Duration>,
    pub failures: std::collections::HashSet<(String, String)>,
}

impl EngineConfig {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            router_seed: None,
            seed_demo: false,
            flush_interval: Duration::from_secs(10),
            canary_tick: Duration::from_secs(1),
            faults: Faults::default(),
            clock: Arc::new(SystemClock),
            scheduler_tick: Some(Duration::from_secs(1)),
            switchyard_exe: None,
            database_url: None,
            instance: default_instance(),
        }
    }

    /// The platform's user data directory for Switchyard (e.g. `~/.local/share/switchyard`).
    pub fn default_data_dir() -> PathBuf {
        dirs::data_dir().unwrap_or_else(|| PathBuf::from(".")).join("switchyard")
    }
}

#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pool: Pool,
    artifacts: ArtifactStore,
    node: String,
    data_dir: PathBuf,
    live: ArcSwap<HashMap<String, Arc<ActiveDeployment>>>,
    /// Loaded models by artifact hash, shared by every deployment that serves them.
    models: Mutex<HashMap<String, Weak<LoadedModel>>>,
    /// Serialises "append revision, swap live config" so the database order and the live
    /// order of revisions agree.
    deploy_lock: tokio::sync::Mutex<()>,
    picker: Picker,
    monitor: Monitor,
    /// Issues and checks the request ids feedback names.
    request_ids: RequestIds,
    faults: Faults,
    /// Bounds concurrent shadow runs; a request finding none free is not mirrored.
    shadow_permits: Arc<tokio::sync::Semaphore>,
    /// Cancelled when the last engine handle is dropped: stops the background tasks.
    shutdown: CancellationToken,
    /// Per running canary, the start of its measurement window and the canary's counters then.
    canary_windows: Mutex<HashMap<(String, i64), (i64, Totals)>>,
    /// Serialises monitor flushes: two flushes committing out of order could overwrite a
    /// bucket's newer state with an older one.
    flush_lock: tokio::sync::Mutex<()>,
    clock: Arc<dyn Clock>,
    switchyard_exe: PathBuf,
    /// The scenario runs in progress in this process: scenario → (run id, its cancel token).
    /// At most one per scenario: runs of a scenario never overlap.
    scenario_runs: Mutex<HashMap<String, (i64, CancellationToken)>>,
    /// Serialises scheduler passes (the loop, tests' direct ticks, the pass at open).
    scheduler_lock: tokio::sync::Mutex<()>,
    /// Access policies of deployments that have one, by service (none: open).
    access: ArcSwap<HashMap<String, Arc<crate::auth::Policy>>>,
    /// Serialises access changes with their reload.
    access_lock: tokio::sync::Mutex<()>,
    /// Serialises every read-modify-write of canaries (controller passes, user actions), so
    /// neither overwrites the other's newer state.
    canary_lock: tokio::sync::Mutex<()>,
    identity: instance::Identity,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

enum Picker {
    Entropy,
    Seeded(Box<Mutex<StdRng>>),
}

impl Picker {
    fn uniform(&self) -> f64 {
        match self {
            Picker::Entropy => rand::random::<f64>(),
            Picker::Seeded(rng) => match rng.lock() {
                Ok(mut rng) => rng.random::<f64>(),
                Err(_) => rand::random::<f64>(),
            },
        }
    }
}

/// A service with its deployment on this node, as lists show it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ServiceSummary {
    #[serde(flatten)]
    pub service: Service,
    pub version_count: usize,
    pub deployment: Option<Revision>,
}

/// A version with where it stands in the deployment.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct VersionView {
    #[serde(flatten)]
    pub version: Version,
    /// Serves in the active config.
    pub live: bool,
    /// Since when it has served without interruption, if live.
    pub live_since: Option<DateTime<Utc>>,
    /// Its share of traffic in the active config, if live.
    pub share: Option<f64>,
    /// Revision numbers whose config included it.
    pub served_in: Vec<i64>,
}

/// A prediction and the generation that produced it.
#[derive(Debug, Clone)]
pub struct PredictOutcome {
    pub request_id: String,
    pub service: ServiceName,
    pub generation: VersionId,
    pub revision: i64,
    pub prediction: Prediction,
    pub latency_ms: f64,
}

/// How a request asks to be routed.
#[derive(Debug, Clone, Copy, Default)]
pub struct Routing<'a> {
    /// Force this generation (`x-switchyard-generation`).
    pub generation: Option<&'a str>,
    /// Sticky key (`x-switchyard-key`), used when the config has sticky assignment on.
    pub key: Option<&'a str>,
}

impl Engine {
    /// Opens (or creates) the registry in `config.data_dir`, seeds the demo if asked and the
    /// registry is empty, and activates every deployment of this node.
    pub async fn open(config: EngineConfig) -> Result<Engine> {
        std::fs::create_dir_all(&config.data_dir)?;
        let pool = match &config.database_url {
            Some(url) => store::open_url(url).await?,
            None => store::open_sqlite(&config.data_dir.join("registry.db")).await?,
        };
        let artifacts = ArtifactStore::open(config.data_dir.join("artifacts"))?;
        let picker = match config.router_seed {
            Some(seed) => Picker::Seeded(Box::new(Mutex::new(StdRng::seed_from_u64(seed)))),
            None => Picker::Entropy,
        };
        let request_ids = RequestIds::new(&store::shared_secret(&pool, "request_ids").await?);
        let engine = Engine {
            inner: Arc::new(Inner {
                pool,
                artifacts,
                node: LOCAL_NODE.to_owned(),
                data_dir: config.data_dir.clone(),
                live: ArcSwap::from_pointee(HashMap::new()),
                models: Mutex::new(HashMap::new()),
                deploy_lock: tokio::sync::Mutex::new(()),
                picker,
                monitor: Monitor::default(),
                request_ids,
                faults: config.faults.clone(),
                shadow_permits: Arc::new(tokio::sync::Semaphore::new(SHADOW_CONCURRENCY)),
                shutdown: CancellationToken::new(),
                canary_windows: Mutex::new(HashMap::new()),
                flush_lock: tokio::sync::Mutex::new(()),
                clock: Arc::clone(&config.clock),
                switchyard_exe: config.switchyard_exe.clone().unwrap_or_else(crate::scenario::current_exe),
                scenario_runs: Mutex::new(HashMap::new()),
                scheduler_lock: tokio::sync::Mutex::new(()),
                access: ArcSwap::from_pointee(HashMap::new()),
                access_lock: tokio::sync::Mutex::new(()),
                canary_lock: tokio::sync::Mutex::new(()),
                identity: instance::Identity::new(config.instance.clone()),
            }),
        };
        crate::monitor::load(&engine.inner.pool, &engine.inner.node, engine.instance(), &engine.inner.monitor).await?;
        engine.heartbeat().await?;
        if config.seed_demo && registry::list_services(&engine.inner.pool).await?.is_empty() {
            crate::demo::seed(&engine).await?;
        }
        engine.load_access().await?;
        engine.activate_all().await?;
        engine.scheduler_start().await?;
        engine.spawn_background(&config);
        if let Some(url) =
            config.database_url.as_ref().filter(|u| matches!(store::Backend::of_url(u), Ok(store::Backend::Postgres)))
        {
            engine.spawn_listener(url.clone());
        }
        Ok(engine)
    }

    /// The metrics flusher, the canary controller and the scenario scheduler. They hold a
    /// weak handle: dropping the last `Engine` (or [`Engine::close`]) stops them.
    fn spawn_background(&self, config: &EngineConfig) {
        self.every(config.flush_interval, "traffic flusher", |engine| async move {
            engine.flush_monitor().await.map(|_| ())
        });
        self.every(instance::HEARTBEAT, "liveness lease", |engine| async move { engine.heartbeat().await });
        // One node of a shared registry at a time drives canaries and fires scenarios.
        self.every(config.canary_tick, "canary controller", |engine| async move {
            if engine.lead(instance::CONTROLLER).await? { engine.canary_pass().await } else { Ok(()) }
        });
        if let Some(every) = config.scheduler_tick {
            self.every(every, "scenario scheduler", |engine| async move {
                let now = engine.clock().now();
                engine.scheduler_round(now).await.map(|_| ())
            });
        }
    }

    /// Runs `pass` every `period` until the engine shuts down or its last handle is dropped
    /// (the task holds only a weak handle between passes). A failed pass is logged; the next
    /// one runs on time.
    pub(crate) fn every<F, Fut>(&self, period: Duration, what: &'static str, pass: F)
    where
        F: Fn(Engine) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<()>> + Send,
    {
        let weak = Arc::downgrade(&self.inner);
        let token = self.inner.shutdown.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = token.cancelled() => break,
                    _ = tick.tick() => {}
                }
                let Some(engine) = Engine::from_weak(&weak) else { break };
                if let Err(e) = pass(engine).await {
                    tracing::warn!("{what} pass failed: {e}");
                }
            }
        });
    }

    /// Writes pending traffic minutes and stops the background tasks; scenario runs in
    /// progress are stopped and recorded as abandoned. Engine handles stay usable for reads;
    /// call at graceful shutdown.
    pub async fn close(&self) -> Result<()> {
        self.inner.shutdown.cancel();
        self.flush_monitor().await?;
        // Let the runs record that they were stopped (their commands are killed at once).
        for _ in 0..200 {
            if self.inner.scenario_runs.lock().map(|r| r.is_empty()).unwrap_or(true) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        self.release_leases().await
    }

    /// The engine's wall clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// What `${switchyard}` names in scenarios.
    pub fn switchyard_exe(&self) -> &Path {
        &self.inner.switchyard_exe
    }

    pub(crate) fn canary_lock(&self) -> &tokio::sync::Mutex<()> {
        &self.inner.canary_lock
    }

    pub(crate) fn scheduler_lock(&self) -> &tokio::sync::Mutex<()> {
        &self.inner.scheduler_lock
    }

    /// The scenario runs in progress in this process : scenario → (run id, cancel token).
    pub(crate) fn runs_in_progress(&self) -> &Mutex<HashMap<String, (i64, CancellationToken)>> {
        &self.inner.scenario_runs
    }

    /// Writes the monitor's changed minute buckets to the registry now (reports read the
    /// registry, and must include the current minute).
    pub(crate) async fn flush_monitor(&self) -> Result<usize> {
        let _guard = self.inner.flush_lock.lock().await;
        crate::monitor::flush(&self.inner.pool, &self.inner.node, self.instance(), &self.inner.monitor).await
    }

    pub(crate) fn from_weak(weak: &Weak<Inner>) -> Option<Engine> {
        weak.upgrade().map(|inner| Engine { inner })
    }

    pub(crate) fn shutdown_token(&self) -> CancellationToken {
        self.inner.shutdown.clone()
    }

    pub(crate) fn pool(&self) -> &Pool {
        &self.inner.pool
    }

    pub(crate) fn canary_window(&self, key: &(String, i64)) -> Option<(i64, Totals)> {
        self.inner.canary_windows.lock().ok()?.get(key).cloned()
    }

    pub(crate) fn set_canary_window(&self, key: &(String, i64), window: Option<(i64, Totals)>) {
        if let Ok(mut windows) = self.inner.canary_windows.lock() {
            match window {
                Some(w) => windows.insert(key.clone(), w),
                None => windows.remove(key),
            };
        }
    }

    pub(crate) fn monitor_totals(&self, service: &str, generation: &str) -> Totals {
        self.inner.monitor.totals(service, generation)
    }

    pub fn data_dir(&self) -> &Path {
        &self.inner.data_dir
    }

    pub fn node_name(&self) -> &str {
        &self.inner.node
    }

    async fn activate_all(&self) -> Result<()> {
        let inner = &self.inner;
        for service in deploy::deployed_services(&inner.pool, &inner.node).await? {
            let Some(rev) = deploy::latest(&inner.pool, &service, &inner.node).await? else { continue };
            match self.load_models(&service, &rev.config).await {
                Ok(models) => self.swap_in(&rev, models),
                // One broken deployment must not keep the others from serving.
                Err(e) => tracing::error!(%service, revision = rev.number, "cannot activate: {e}"),
            }
        }
        Ok(())
    }

    // ---- services and versions --------------------------------------------------------

    pub async fn create_service(&self, name: &str, description: &str) -> Result<Service> {
        let service = registry::create_service(&self.inner.pool, name, description).await?;
        tracing::info!(service = %service.name, "service created");
        Ok(service)
    }

    pub async fn list_services(&self) -> Result<Vec<ServiceSummary>> {
        let mut out = Vec::new();
        for service in registry::list_services(&self.inner.pool).await? {
            let versions = registry::list_versions(&self.inner.pool, service.name.as_str()).await?;
            let deployment = deploy::latest(&self.inner.pool, service.name.as_str(), &self.inner.node).await?;
            out.push(ServiceSummary { service, version_count: versions.len(), deployment });
        }
        Ok(out)
    }

    pub async fn get_service(&self, name: &str) -> Result<Service> {
        registry::get_service(&self.inner.pool, name).await
    }

    /// Creates a version from ONNX bytes: the model is inspected (tract must run it), the
    /// artifact stored, then the row inserted. A refused model leaves nothing behind.
    pub async fn create_version(&self, service: &str, bytes: Vec<u8>, new: NewVersion) -> Result<Version> {
        let service = registry::get_service(&self.inner.pool, service).await?.name;
        if bytes.is_empty() {
            return Err(Error::InvalidModel("the model file is empty".into()));
        }
        let artifacts = self.inner.artifacts.clone();
        let (schema, sha, size) = tokio::task::spawn_blocking(move || -> Result<_> {
            let schema = crate::model::inspect(&bytes)?;
            let sha = artifacts.put(&bytes)?;
            Ok((schema, sha, bytes.len()))
        })
        .await
        .map_err(|e| Error::Internal(format!("model inspection stopped: {e}")))??;
        let version = registry::insert_version(&self.inner.pool, &service, &new, &sha, size, &schema).await?;
        tracing::info!(%service, version = %version.id, sha256 = %sha, "version created");
        Ok(version)
    }

    pub async fn get_version(&self, service: &str, id: &str) -> Result<Version> {
        registry::get_version(&self.inner.pool, service, id).await
    }

    /// Versions of a service, oldest first, with whether each is live and since when.
    pub async fn list_versions(&self, service: &str) -> Result<Vec<VersionView>> {
        let versions = registry::list_versions(&self.inner.pool, service).await?;
        let revisions = deploy::revisions(&self.inner.pool, service, &self.inner.node).await?;
        Ok(versions.into_iter().map(|v| version_view(v, &revisions)).collect())
    }

    // ---- deployments ------------------------------------------------------------------

    /// The active revision of a service's deployment on this node.
    pub async fn deployment(&self, service: &str) -> Result<Revision> {
        registry::get_service(&self.inner.pool, service).await?;
        deploy::latest(&self.inner.pool, service, &self.inner.node)
            .await?
            .ok_or_else(|| Error::NotDeployed(service.to_owned()))
    }

    pub async fn revisions(&self, service: &str) -> Result<Vec<Revision>> {
        registry::get_service(&self.inner.pool, service).await?;
        deploy::revisions(&self.inner.pool, service, &self.inner.node).await
    }

    /// Deploys a config as a client sent it (`{"mode":"single","generation":"v2"}` or
    /// `{"mode":"multiple","mapping":[…]}`): validated, models loaded and warmed, revision
    /// written, then swapped in atomically. Nothing changes if any step fails.
    pub async fn deploy(&self, service: &str, config: &Value, author: &str, reason: &str) -> Result<Revision> {
        let versions = self.version_map(service).await?;
        if let Some(c) = self.active_canary(service).await? {
            return Err(Error::CanaryConflict(format!(
                "canary {} of {} is {} on '{service}': promote or abort it before deploying",
                c.id,
                c.plan.version,
                if c.status == crate::deploy::canary::CanaryStatus::Paused { "paused" } else { "running" }
            )));
        }
        let config = DeploymentConfig::from_value(config, |g| versions.contains_key(g))?;
        check_same_input(&config, &versions)?;
        let reason = if reason.trim().is_empty() { describe(&config) } else { reason.trim().to_owned() };
        let meta =
            RevisionMeta { kind: RevisionKind::Deploy, rollback_of: None, author, reason: &reason, canary_id: None };
        self.commit_and_activate(service, config, meta).await
    }

    /// The engine's verdict on a mapping as typed in an editor: every problem, at its entry
    /// (empty when valid). The same rules as [`Engine::deploy`], without deploying.
    pub async fn validate_mapping(&self, service: &str, text: &str) -> Result<Vec<crate::router::MappingIssue>> {
        let versions = self.version_map(service).await?;
        Ok(match crate::router::Mapping::from_text(text, |g| versions.contains_key(g)) {
            Ok(_) => Vec::new(),
            Err(issues) => issues,
        })
    }

    /// Deploys one version as the single generation, keeping the sticky setting.
    pub async fn deploy_version(&self, service: &str, version: &str, author: &str, reason: &str) -> Result<Revision> {
        let current = deploy::latest(&self.inner.pool, service, &self.inner.node).await?.map(|r| r.config);
        self.deploy(service, &deploy::single_config(current, version), author, reason).await
    }

    /// Rolls back to revision `to` (default: the one before the active one) by appending a
    /// new revision with its config. History is never rewritten.
    pub async fn rollback(&self, service: &str, to: Option<i64>, author: &str, reason: &str) -> Result<Revision> {
        let current = self.deployment(service).await?;
        // A manual rollback wins over a running canary: the canary stops first.
        if self.active_canary(service).await?.is_some() {
            self.stop_canary_for_rollback(service, author).await?;
        }
        let target = to.unwrap_or(current.number - 1);
        if target < 1 {
            return Err(Error::InvalidConfig(format!(
                "nothing to roll back to: revision {} is the first of '{service}'",
                current.number
            )));
        }
        if target == current.number {
            return Err(Error::InvalidConfig(format!(
                "revision {target} is already the active revision of '{service}'"
            )));
        }
        let old = deploy::revision(&self.inner.pool, service, &self.inner.node, target).await?;
        let reason =
            if reason.trim().is_empty() { format!("rollback to revision {target}") } else { reason.trim().to_owned() };
        let meta = RevisionMeta {
            kind: RevisionKind::Rollback,
            rollback_of: Some(target),
            author,
            reason: &reason,
            canary_id: None,
        };
        self.commit_and_activate(service, old.config, meta).await
    }

    pub(crate) async fn commit_and_activate(
        &self,
        service: &str,
        config: DeploymentConfig,
        meta: RevisionMeta<'_>,
    ) -> Result<Revision> {
        let service_name = registry::get_service(&self.inner.pool, service).await?.name;
        // Load and warm first: a model that fails here leaves the registry and the live
        // config untouched.
        let models = self.load_models(service, &config).await?;
        let _guard = self.inner.deploy_lock.lock().await;
        let rev = deploy::append_revision(&self.inner.pool, &service_name, &self.inner.node, &config, meta).await?;
        self.swap_in(&rev, models);
        tracing::info!(service, revision = rev.number, kind = ?rev.kind, reason = %rev.reason, "config activated");
        if let Err(e) = store::notify(&self.inner.pool, service).await {
            tracing::warn!(service, "cannot announce the change to other nodes: {e}");
        }
        Ok(rev)
    }

    fn swap_in(&self, rev: &Revision, models: HashMap<VersionId, Arc<LoadedModel>>) {
        let active = Arc::new(ActiveDeployment {
            service: rev.service.clone(),
            revision: rev.number,
            route: rev.config.route(),
            config: rev.config.clone(),
            models,
        });
        self.inner.live.rcu(|current| {
            let mut next = HashMap::clone(current);
            next.insert(rev.service.as_str().to_owned(), Arc::clone(&active));
            next
        });
    }

    async fn version_map(&self, service: &str) -> Result<HashMap<String, Version>> {
        Ok(registry::list_versions(&self.inner.pool, service)
            .await?
            .into_iter()
            .map(|v| (v.id.as_str().to_owned(), v))
            .collect())
    }

    async fn load_models(
        &self,
        service: &str,
        config: &DeploymentConfig,
    ) -> Result<HashMap<VersionId, Arc<LoadedModel>>> {
        let mut models = HashMap::new();
        for generation in config.loaded_generations() {
            let version = registry::get_version(&self.inner.pool, service, generation.as_str()).await?;
            models.insert(generation.clone(), self.load_model(&version.sha256).await?);
        }
        Ok(models)
    }

    /// The loaded model for an artifact, shared while any deployment holds it.
    pub(crate) async fn load_model(&self, sha256: &str) -> Result<Arc<LoadedModel>> {
        if let Some(model) = self.cached_model(sha256) {
            return Ok(model);
        }
        let artifacts = self.inner.artifacts.clone();
        let sha = sha256.to_owned();
        let model = tokio::task::spawn_blocking(move || -> Result<LoadedModel> {
            let bytes = artifacts.get(&sha)?;
            LoadedModel::load(&bytes)
        })
        .await
        .map_err(|e| Error::Internal(format!("model loading stopped: {e}")))??;
        let model = Arc::new(model);
        tracing::debug!(
            sha256,
            warm_run_us = model.warm_run().as_micros() as u64,
            inline = model.runs_inline(),
            "model loaded"
        );
        if let Ok(mut cache) = self.inner.models.lock() {
            cache.retain(|_, weak| weak.strong_count() > 0);
            cache.insert(sha256.to_owned(), Arc::downgrade(&model));
        }
        Ok(model)
    }

    fn cached_model(&self, sha256: &str) -> Option<Arc<LoadedModel>> {
        self.inner.models.lock().ok()?.get(sha256)?.upgrade()
    }

    /// Whether every deployment of this node is active (a deployment whose models failed to
    /// load at start is not).
    pub async fn is_ready(&self) -> bool {
        match deploy::deployed_services(&self.inner.pool, &self.inner.node).await {
            Ok(services) => {
                let live = self.inner.live.load();
                services.iter().all(|s| live.contains_key(s))
            }
            Err(_) => false,
        }
    }

    /// The active deployment of a service on this node, if any.
    pub fn active(&self, service: &str) -> Option<Arc<ActiveDeployment>> {
        self.inner.live.load().get(service).cloned()
    }
}

fn version_view(version: Version, revisions: &[Revision]) -> VersionView {
    let includes = |r: &Revision| r.config.generations().iter().any(|g| **g == version.id);
    let served_in: Vec<i64> = revisions.iter().filter(|r| includes(r)).map(|r| r.number).collect();
    let live_since = revisions.iter().rev().take_while(|r| includes(r)).last().map(|r| r.created_at);
    let share = revisions.last().filter(|r| includes(r)).map(|r| match &r.config.serving {
        Serving::Single { .. } => 1.0,
        Serving::Multiple { mapping } => {
            mapping.entries().iter().find(|e| e.generation == version.id).map_or(0.0, |e| e.proba)
        }
    });
    VersionView { live: live_since.is_some(), live_since, share, served_in, version }
}

/// Versions serving side by side must take the same request.
fn check_same_input(config: &DeploymentConfig, versions: &HashMap<String, Version>) -> Result<()> {
    let gens = config.loaded_generations();
    let Some(first) = gens.first().and_then(|g| versions.get(g.as_str())) else { return Ok(()) };
    for g in gens.iter().skip(1) {
        if let Some(v) = versions.get(g.as_str())
            && !v.schema.same_input(&first.schema)
        {
            return Err(Error::InvalidConfig(format!(
                "generations {} and {} take different features ({} vs {}): they cannot serve the same deployment",
                first.id,
                v.id,
                first.schema.feature_list(),
                v.schema.feature_list()
            )));
        }
    }
    Ok(())
}

/// A one-line description of a config, used as the default "why" of a revision.
pub fn describe(config: &DeploymentConfig) -> String {
    let mut extra = String::new();
    if config.sticky {
        extra.push_str(", sticky");
    }
    if let Some(shadow) = &config.shadow {
        extra.push_str(&format!(", shadow {} {}%", shadow.generation, shadow.percent));
    }
    let sticky = extra;
    match &config.serving {
        Serving::Single { generation } => format!("deploy {generation}{sticky}"),
        Serving::Multiple { mapping } => {
            let parts: Vec<String> = mapping
                .entries()
                .iter()
                .map(|e| format!("{} {}%", e.generation, (e.proba * 1000.0).round() / 10.0))
                .collect();
            format!("mapping {}{sticky}", parts.join(", "))
        }
    }
}

/// Metrics given as `name=value` pairs (the CLI's `--metric accuracy=0.93`).
pub fn parse_metrics<'a>(pairs: impl IntoIterator<Item = &'a str>) -> Result<BTreeMap<String, f64>> {
    let mut out = BTreeMap::new();
    for pair in pairs {
        let (k, v) = pair.split_once('=').ok_or_else(|| {
            Error::InvalidInput(format!("metric '{pair}' must look like name=value, e.g. accuracy=0.93"))
        })?;
        let v: f64 = v
            .trim()
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite())
            .ok_or_else(|| Error::InvalidInput(format!("metric '{k}' needs a finite number, got '{v}'")))?;
        out.insert(k.trim().to_owned(), v);
    }
    Ok(out)
}
