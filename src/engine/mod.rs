//! [`Engine`]: the handle every front end holds (the HTTP node, the CLI's `serve`, the
//! desktop shell). A thin handle: it owns the registry pool, the clock and the background
//! tasks, and composes the subsystems that own their state:
//!
//! - [`Deployments`]: live configs and the model cache; deploy and rollback
//!   (`deployments.rs`), the request path (`predict.rs`);
//! - [`Rollout`]: the canary controller's windows and lock (`rollout.rs`);
//! - [`Scenarios`]: runs in progress and the scheduler (`scenarios.rs`);
//! - [`Monitor`]: traffic counters per generation and minute;
//! - [`Access`]: the access policies of the prediction API (`access.rs`);
//! - [`Notifier`]: webhooks and their outbox (`notify.rs`);
//! - [`Drift`]: live drift per generation against each version's reference (`drift.rs`).
//!
//! Cheap to clone; no global state, so tests open as many engines as they like.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::Access;
use crate::capture::replay::Replays;
use crate::capture::writer::Writer;
use crate::capture::{Capture, FeatureHasher};
use crate::clock::{Clock, SystemClock};
use crate::deploy::Deployments;
use crate::deploy::canary::Rollout;
use crate::drift::Drift;
use crate::error::Result;
use crate::events::{Change, Changes, Listener};
use crate::monitor::Monitor;
use crate::monitor::feedback::RequestIds;
use crate::notify::{Notifier, RetryPolicy};
use crate::registry::artifacts::ArtifactStore;
use crate::scenario::{Scenarios, ScenariosConfig};
use crate::store::{self, Pool};

mod access;
mod approvals;
mod artifacts;
mod audit;
mod capture;
mod deployments;
mod drift;
mod instance;
mod mlflow;
mod notify;
mod people;
mod predict;
mod report;
mod rollout;
mod scenarios;
mod shared;

pub use approvals::{CanaryOutcome, DeployOutcome};
pub use artifacts::migrate_artifacts;
pub use audit::AuditTarget;
pub use capture::CAPTURE_TICK;
pub use deployments::{ServiceSummary, VersionView, parse_metrics};
pub use instance::{LEASE_TTL, default_instance};
#[cfg(feature = "testing")]
pub use predict::Faults;
pub use predict::{InferOutcome, PredictOutcome, Routing};

#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Holds `registry.db` and `artifacts/`.
    pub data_dir: PathBuf,
    /// Seeds the router's random picks (tests); None draws from the OS.
    pub router_seed: Option<u64>,
    /// How often minute buckets are written to the registry.
    pub flush_interval: Duration,
    /// How often the canary controller evaluates running canaries; None runs no controller
    /// loop (tests call [`Engine::canary_pass`] themselves, on a manual clock).
    pub canary_tick: Option<Duration>,
    /// Injected latency and failures per generation (tests make a version slow or failing
    /// without a special model). Only with the `faults` feature, which only tests enable.
    #[cfg(feature = "testing")]
    pub faults: Faults,
    /// The wall clock of everything time-driven: monitor minutes, canary bake times and
    /// timeouts, key expiry, leases, the scheduler. Tests use a
    /// [`ManualClock`](crate::clock::ManualClock).
    pub clock: Arc<dyn Clock>,
    /// How often the scenario scheduler checks cron triggers; None runs no scheduler loop
    /// (tests call [`Engine::scheduler_tick`] themselves). Missed fires and abandoned runs
    /// are handled at open either way.
    pub scheduler_tick: Option<Duration>,
    /// The program `${switchyard}` names in scenarios (default: the current executable).
    pub switchyard_exe: Option<PathBuf>,
    /// A shared registry (`postgres://…`); None keeps it in `data_dir/registry.db` (SQLite).
    pub database_url: Option<String>,
    /// The artifact store: an object store URL (`s3://bucket/prefix`, `gs://…`, `az://…`,
    /// `file:///path`), read by every node of a shared registry, each with a verified cache in
    /// `data_dir/cache`; None keeps artifacts in `data_dir/artifacts` (this node only).
    pub artifacts: Option<String>,
    /// This process's name among the nodes sharing the registry (default: the host name);
    /// nodes on one host sharing a registry need one each.
    pub instance: String,
    /// Why this node refuses scenario `run_command` steps (a node bound beyond loopback
    /// without `--allow-commands`); None runs them.
    pub refuse_commands: Option<String>,
    /// The MLflow tracking server versions are imported from; None takes the one saved from
    /// the console (Settings → MLflow), if any.
    pub mlflow: Option<crate::mlflow::Connection>,
    /// How often the webhook deliverer sends due notifications; None runs no deliverer loop
    /// (tests call [`Engine::webhook_pass`] themselves, on a manual clock).
    pub webhook_tick: Option<Duration>,
    /// Webhook retries: attempts, backoff, per-attempt timeout.
    pub webhook_retry: RetryPolicy,
    /// Captured rows waiting for the capture writer; when full, new rows are dropped and
    /// counted (`switchyard_capture_dropped_total`), never waited for.
    pub capture_queue: usize,
    /// How often capture retention runs (and policies changed by other nodes are reloaded);
    /// None runs no loop (tests call [`Engine::capture_maintenance`] themselves).
    pub capture_tick: Option<Duration>,
    /// How many requests after a deployment make a generation's drift baseline when its
    /// version was uploaded without a reference.
    pub drift_baseline: usize,
    /// When a generation's drift is notified to the webhooks (`drift` events); None: never.
    pub drift_alert: Option<crate::drift::AlertRule>,
    /// How often drift is checked against `drift_alert`; None runs no loop (tests call
    /// [`Engine::drift_alert_pass`] themselves).
    pub drift_tick: Option<Duration>,
}

impl EngineConfig {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            router_seed: None,
            flush_interval: Duration::from_secs(10),
            canary_tick: Some(Duration::from_secs(1)),
            #[cfg(feature = "testing")]
            faults: Faults::default(),
            clock: Arc::new(SystemClock),
            scheduler_tick: Some(Duration::from_secs(1)),
            switchyard_exe: None,
            database_url: None,
            artifacts: None,
            instance: default_instance(),
            refuse_commands: None,
            mlflow: None,
            webhook_tick: Some(Duration::from_secs(1)),
            webhook_retry: RetryPolicy::default(),
            capture_queue: crate::capture::DEFAULT_QUEUE,
            capture_tick: Some(capture::CAPTURE_TICK),
            drift_baseline: crate::drift::DEFAULT_BASELINE_REQUESTS,
            drift_alert: Some(crate::drift::AlertRule::default()),
            drift_tick: Some(Duration::from_secs(60)),
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
    clock: Arc<dyn Clock>,
    data_dir: PathBuf,
    /// The background loops and the scenario runs: waited for at close.
    tasks: TaskTracker,
    /// Cancelled at close or when the last engine handle is dropped: stops the tasks.
    shutdown: CancellationToken,
    deployments: Deployments,
    requests: predict::RequestPath,
    monitor: Arc<Monitor>,
    /// Drift trackers per generation (the request path holds them through `ActiveDeployment`).
    drift: Arc<Drift>,
    drift_alert: Option<crate::drift::AlertRule>,
    access: Access,
    rollout: Rollout,
    scenarios: Scenarios,
    identity: instance::Identity,
    /// Where state changes are announced (the desktop's window listens).
    changes: Changes,
    /// The MLflow tracking server: the one set at start, else the one saved from the console.
    mlflow: arc_swap::ArcSwapOption<crate::mlflow::Connection>,
    /// Whether it was set at start (`EngineConfig::mlflow`): the console cannot change it.
    mlflow_fixed: bool,
    notifier: Notifier,
    /// Capture policies, the queue to the capture writer, drop counters and the sampler.
    capture: Arc<Capture>,
    /// Replays running on this node.
    replays: Replays,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl Engine {
    /// Opens (or creates) the registry in `config.data_dir` and activates every deployment
    /// of this node. The demo is the front ends' to seed ([`crate::demo::seed`]).
    pub async fn open(config: EngineConfig) -> Result<Engine> {
        std::fs::create_dir_all(&config.data_dir)?;
        let pool = match &config.database_url {
            Some(url) => store::open_url(url).await?,
            None => store::open_sqlite(&config.data_dir.join("registry.db")).await?,
        };
        let clock = Arc::clone(&config.clock);
        let artifacts = ArtifactStore::open(config.artifacts.as_deref(), &config.data_dir)?;
        let request_ids = RequestIds::new(&store::shared_secret(&pool, "request_ids").await?);
        let (tasks, shutdown) = (TaskTracker::new(), CancellationToken::new());
        let changes = Changes::default();
        let scenarios = Scenarios::new(ScenariosConfig {
            pool: pool.clone(),
            clock: Arc::clone(&clock),
            data_dir: config.data_dir.clone(),
            exe: config.switchyard_exe.clone().unwrap_or_else(crate::scenario::current_exe),
            instance: config.instance.clone(),
            shutdown: shutdown.clone(),
            tasks: tasks.clone(),
            changes: changes.clone(),
            commands_refused: config.refuse_commands.clone(),
        });
        let monitor = Arc::new(Monitor::default());
        let drift = Arc::new(Drift::new(config.drift_baseline));
        let capture = Capture::new(config.capture_queue, config.router_seed);
        capture.set_policies(crate::capture::store::policies(&pool).await?);
        let capture = Arc::new(capture);
        let writer = Writer {
            pool: pool.clone(),
            instance: config.instance.clone(),
            capture: Arc::clone(&capture),
            hasher: FeatureHasher::new(&store::shared_secret(&pool, crate::capture::SECRET_NAME).await?),
            since_trim: Default::default(),
        };
        let engine = Engine {
            inner: Arc::new(Inner {
                deployments: Deployments::new(
                    pool.clone(),
                    artifacts,
                    Arc::clone(&clock),
                    Arc::clone(&monitor),
                    Arc::clone(&drift),
                    changes.clone(),
                ),
                requests: predict::RequestPath::new(
                    config.router_seed,
                    request_ids,
                    #[cfg(feature = "testing")]
                    config.faults.clone(),
                ),
                monitor,
                drift,
                drift_alert: config.drift_alert.clone(),
                access: Access::open(pool.clone(), Arc::clone(&clock)).await?,
                rollout: Rollout::default(),
                scenarios,
                identity: instance::Identity::new(config.instance.clone()),
                changes,
                mlflow: arc_swap::ArcSwapOption::from(match &config.mlflow {
                    Some(c) => Some(Arc::new(c.clone())),
                    None => crate::mlflow::settings::load(&config.data_dir)?.map(Arc::new),
                }),
                mlflow_fixed: config.mlflow.is_some(),
                notifier: Notifier::new(pool.clone(), Arc::clone(&clock), &config.instance, config.webhook_retry)?,
                capture,
                replays: Replays::default(),
                data_dir: config.data_dir.clone(),
                pool,
                clock,
                tasks,
                shutdown,
            }),
        };
        let inner = &engine.inner;
        crate::monitor::load(&inner.pool, engine.instance(), &inner.monitor, engine.now()).await?;
        engine.heartbeat().await?;
        inner.deployments.activate_all().await?;
        engine.scheduler_start().await?;
        engine.spawn_background(&config);
        // The capture writer: stopped at close, after a final flush of what is queued.
        inner.tasks.spawn(writer.run(inner.shutdown.clone()));
        if let Some(url) =
            config.database_url.as_ref().filter(|u| matches!(store::Backend::of_url(u), Ok(store::Backend::Postgres)))
        {
            engine.spawn_listener(url.clone());
        }
        Ok(engine)
    }

    /// Listens to every later change of the engine's state (deployments, canaries, access,
    /// scenarios), wherever it came from.
    pub fn subscribe(&self) -> Listener {
        self.inner.changes.subscribe()
    }

    pub(crate) fn announce(&self, change: Change) {
        self.inner.changes.announce(change);
    }

    /// The background loops: metrics flusher, liveness lease, catch-up, capture retention,
    /// canary controller, webhook deliverer, drift alerts, scenario scheduler and MLflow alias
    /// poller. They hold a weak handle: dropping the last `Engine` (or [`Engine::close`])
    /// stops them.
    fn spawn_background(&self, config: &EngineConfig) {
        self.every(config.flush_interval, "traffic flusher", |engine| async move {
            engine.flush_monitor().await.map(|_| ())
        });
        self.every(instance::HEARTBEAT, "liveness lease", |engine| async move { engine.heartbeat().await });
        // A deployment this node could not activate (its artifact store was down, say) is
        // tried again until it is live.
        self.every(artifacts::CATCH_UP, "catch-up", |engine| async move {
            engine.inner.deployments.catch_up().await;
            Ok(())
        });
        if let Some(every) = config.capture_tick {
            self.every(
                every,
                "capture retention",
                |engine| async move { engine.capture_maintenance().await.map(|_| ()) },
            );
        }
        // One node of a shared registry at a time drives canaries and fires scenarios.
        if let Some(every) = config.canary_tick {
            self.every(every, "canary controller", |engine| async move {
                if engine.lead(instance::CONTROLLER).await? { engine.canary_pass().await } else { Ok(()) }
            });
        }
        // Every node delivers: a delivery is claimed by one of them at a time.
        if let Some(every) = config.webhook_tick {
            // An attempt in flight at shutdown is dropped unrecorded; its claim expires and
            // a node tries it again.
            self.every(every, "webhook deliverer", |engine| async move {
                let stop = engine.inner.shutdown.clone();
                tokio::select! {
                    _ = stop.cancelled() => Ok(()),
                    done = engine.webhook_pass() => done.map(|_| ()),
                }
            });
        }
        // Each node tells of the drift of its own traffic.
        if let Some(every) = config.drift_tick {
            self.every(every, "drift alerts", |engine| async move { engine.drift_alert_pass().await.map(|_| ()) });
        }
        if let Some(every) = config.scheduler_tick {
            self.every(every, "scenario scheduler", |engine| async move {
                let now = engine.now();
                engine.scheduler_round(now).await.map(|_| ())
            });
            // Its own loop: a slow MLflow server delays the next alias poll, never a cron fire.
            self.every(every, "MLflow alias poller", |engine| async move {
                let now = engine.now();
                engine.alias_round(now).await.map(|_| ())
            });
        }
    }

    /// Runs `pass` every `period` until the engine shuts down or its last handle is dropped
    /// (the task holds only a weak handle between passes). A failed pass is logged; the next
    /// one runs on time.
    fn every<F, Fut>(&self, period: Duration, what: &'static str, pass: F)
    where
        F: Fn(Engine) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<()>> + Send,
    {
        let weak = Arc::downgrade(&self.inner);
        let token = self.inner.shutdown.clone();
        self.inner.tasks.spawn(async move {
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

    /// Stops the background tasks and waits for them; scenario runs in progress are stopped
    /// (their commands killed) and recorded as abandoned. Then writes pending traffic minutes
    /// and gives up this node's leases. Engine handles stay usable for reads; call at
    /// graceful shutdown.
    pub async fn close(&self) -> Result<()> {
        let inner = &self.inner;
        inner.shutdown.cancel();
        inner.tasks.close();
        // Bounded: a task stuck in I/O must not keep the node from stopping.
        if tokio::time::timeout(Duration::from_secs(10), inner.tasks.wait()).await.is_err() {
            tracing::warn!("background tasks still running after 10 s; closing anyway");
        }
        self.flush_monitor().await?;
        self.release_leases().await
    }

    /// The engine's wall clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// Now, by the engine's clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.inner.clock.now()
    }

    /// Milliseconds since the epoch, by the engine's clock (tests read it too).
    pub fn now_ms(&self) -> i64 {
        self.now().timestamp_millis()
    }

    /// What `${switchyard}` names in scenarios.
    pub fn switchyard_exe(&self) -> &Path {
        self.inner.scenarios.switchyard_exe()
    }

    /// Writes the monitor's changed minute buckets to the registry now (reports read the
    /// registry, and must include the current minute).
    pub(crate) async fn flush_monitor(&self) -> Result<usize> {
        crate::monitor::flush(&self.inner.pool, self.instance(), &self.inner.monitor).await
    }

    fn from_weak(weak: &Weak<Inner>) -> Option<Engine> {
        weak.upgrade().map(|inner| Engine { inner })
    }

    pub(crate) fn pool(&self) -> &Pool {
        &self.inner.pool
    }

    pub fn data_dir(&self) -> &Path {
        &self.inner.data_dir
    }
}
