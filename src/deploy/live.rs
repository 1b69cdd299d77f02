//! [`Deployments`]: the configs this node serves, with their models loaded. It owns the live
//! map the request path reads (one atomic load per request), the cache of loaded models
//! (shared by artifact hash across deployments) and the lock that keeps the order of
//! revisions in the registry and in memory the same.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, Weak};

use arc_swap::ArcSwap;

use super::{ActiveDeployment, DeploymentConfig, Revision, RevisionMeta};
use crate::clock::Clock;
use crate::drift::{Drift, Reference};
use crate::error::{Error, Result};
use crate::events::{Change, Changes};
use crate::model::LoadedModel;
use crate::monitor::Monitor;
use crate::names::VersionId;
use crate::registry::{self, artifacts::ArtifactStore};
use crate::store::{self, Pool};

/// The models of a config, each with its version's drift reference (if it has one).
type Loaded = HashMap<VersionId, (Arc<LoadedModel>, Option<Reference>)>;

pub struct Deployments {
    pool: Pool,
    artifacts: ArtifactStore,
    clock: Arc<dyn Clock>,
    /// Where the request path counts each routed generation (handles kept per deployment).
    monitor: Arc<Monitor>,
    /// Where the request path bins each answered row for drift (trackers kept per deployment).
    drift: Arc<Drift>,
    live: ArcSwap<HashMap<String, Arc<ActiveDeployment>>>,
    /// Loaded models by artifact hash, shared by every deployment that serves them.
    models: Mutex<HashMap<String, Weak<LoadedModel>>>,
    /// Serialises "append revision, swap live config" so the registry's order and the live
    /// order of revisions agree.
    lock: tokio::sync::Mutex<()>,
    /// Where each activation is announced.
    changes: Changes,
    /// Services whose latest revision could not be activated here (at start, or when another
    /// node committed it), e.g. because the artifact store was down: [`Deployments::catch_up`]
    /// tries them again.
    behind: Mutex<BTreeSet<String>>,
}

impl Deployments {
    pub fn new(
        pool: Pool,
        artifacts: ArtifactStore,
        clock: Arc<dyn Clock>,
        monitor: Arc<Monitor>,
        drift: Arc<Drift>,
        changes: Changes,
    ) -> Self {
        Self {
            pool,
            artifacts,
            clock,
            monitor,
            drift,
            live: ArcSwap::from_pointee(HashMap::new()),
            models: Mutex::new(HashMap::new()),
            lock: tokio::sync::Mutex::new(()),
            changes,
            behind: Mutex::new(BTreeSet::new()),
        }
    }

    pub fn artifacts(&self) -> &ArtifactStore {
        &self.artifacts
    }

    /// The active deployment of a service on this node, if any.
    pub fn active(&self, service: &str) -> Option<Arc<ActiveDeployment>> {
        self.live.load().get(service).cloned()
    }

    /// Activates the latest revision of every deployment of this node (at open). One broken
    /// deployment does not keep the others from serving.
    pub async fn activate_all(&self) -> Result<()> {
        for service in super::deployed_services(&self.pool).await? {
            let Some(rev) = super::latest(&self.pool, &service).await? else { continue };
            match self.load_models(&service, &rev.config).await {
                Ok(models) => self.swap_in(&rev, models),
                Err(e) => {
                    tracing::error!(%service, revision = rev.number, "cannot activate: {e}");
                    self.mark_behind(&service, true);
                }
            }
        }
        Ok(())
    }

    /// Loads and warms every model of `config`, appends the revision, then swaps the config
    /// in. A model that fails to load leaves the registry and the live config untouched.
    pub async fn commit_and_activate(
        &self,
        service: &str,
        config: DeploymentConfig,
        meta: RevisionMeta<'_>,
    ) -> Result<Revision> {
        let service_name = registry::get_service(&self.pool, service).await?.name;
        let models = self.load_models(service, &config).await?;
        let _guard = self.lock.lock().await;
        let now = self.clock.now();
        let rev = super::append_revision(&self.pool, &service_name, &config, meta, now).await?;
        self.swap_in(&rev, models);
        self.mark_behind(service, false);
        tracing::info!(service, revision = rev.number, kind = ?rev.kind, reason = %rev.reason, "config activated");
        if let Err(e) = store::notify(&self.pool, service).await {
            tracing::warn!(service, "cannot announce the change to other nodes: {e}");
        }
        Ok(rev)
    }

    /// Activates the latest committed revision of `service` if it is newer than the live one
    /// (another node of a shared registry committed it). A failure leaves the live config as
    /// it was, and the service is tried again by [`Deployments::catch_up`].
    pub async fn refresh(&self, service: &str) -> Result<bool> {
        let outcome = self.refresh_once(service).await;
        self.mark_behind(service, outcome.is_err());
        outcome
    }

    /// Tries again every service whose latest revision could not be activated (the artifact
    /// store is back, the model is cached now…). Returns how many caught up.
    pub async fn catch_up(&self) -> usize {
        let behind: Vec<String> = self.behind.lock().map(|b| b.iter().cloned().collect()).unwrap_or_default();
        let mut caught_up = 0;
        for service in behind {
            match self.refresh(&service).await {
                Ok(activated) => {
                    if activated {
                        tracing::info!(service, "latest revision activated after an earlier failure");
                    }
                    caught_up += 1;
                }
                Err(e) => tracing::debug!(service, "still cannot activate the latest revision: {e}"),
            }
        }
        caught_up
    }

    fn mark_behind(&self, service: &str, behind: bool) {
        if let Ok(mut set) = self.behind.lock() {
            if behind {
                set.insert(service.to_owned());
            } else {
                set.remove(service);
            }
        }
    }

    async fn refresh_once(&self, service: &str) -> Result<bool> {
        let Some(rev) = super::latest(&self.pool, service).await? else { return Ok(false) };
        let current = || self.active(service).is_some_and(|a| a.revision >= rev.number);
        if current() {
            return Ok(false);
        }
        let models = self.load_models(service, &rev.config).await?;
        let _guard = self.lock.lock().await;
        if current() {
            return Ok(false);
        }
        self.swap_in(&rev, models);
        tracing::info!(service, revision = rev.number, "config activated (committed by another node)");
        Ok(true)
    }

    /// Makes `rev` the live config of its service, and announces it.
    fn swap_in(&self, rev: &Revision, loaded: Loaded) {
        let route = rev.config.route();
        let counters = route
            .generations()
            .iter()
            .map(|g| (g.clone(), self.monitor.counter(rev.service.as_str(), g.as_str())))
            .collect();
        let mut models = HashMap::new();
        let mut drift = HashMap::new();
        for (generation, (model, reference)) in loaded {
            if route.generations().contains(&generation) {
                let tracker = self.drift.tracker(rev.service.as_str(), generation.as_str(), model.schema(), reference);
                drift.insert(generation.clone(), tracker);
            }
            models.insert(generation, model);
        }
        let active = Arc::new(ActiveDeployment {
            service: rev.service.clone(),
            revision: rev.number,
            route,
            config: rev.config.clone(),
            models,
            counters,
            drift,
        });
        self.live.rcu(|current| {
            let mut next = HashMap::clone(current);
            next.insert(rev.service.as_str().to_owned(), Arc::clone(&active));
            next
        });
        self.changes.announce(Change::Service { service: rev.service.to_string() });
    }

    /// Loads every model of `config`, with each version's drift reference.
    async fn load_models(&self, service: &str, config: &DeploymentConfig) -> Result<Loaded> {
        let mut models = HashMap::new();
        for generation in config.loaded_generations() {
            let version = registry::get_version(&self.pool, service, generation.as_str()).await?;
            let model = self.load_model(&version.sha256).await.map_err(|e| match e {
                Error::Artifact(a) => Error::Artifact(a.about(format!("version {generation} of '{service}'"))),
                e => e,
            })?;
            let reference = crate::drift::store::get(&self.pool, service, generation.as_str()).await?;
            models.insert(generation.clone(), (model, reference));
        }
        Ok(models)
    }

    /// The loaded model for an artifact, shared while any deployment holds it.
    pub async fn load_model(&self, sha256: &str) -> Result<Arc<LoadedModel>> {
        if let Some(model) = self.cached_model(sha256) {
            return Ok(model);
        }
        let bytes = self.artifacts.fetch(sha256).await?;
        let model = tokio::task::spawn_blocking(move || -> Result<LoadedModel> { LoadedModel::load(&bytes) })
            .await
            .map_err(|e| Error::Internal(format!("model loading stopped: {e}")))??;
        let model = Arc::new(model);
        tracing::debug!(
            sha256,
            warm_run_us = model.warm_run().as_micros() as u64,
            inline = model.runs_inline(),
            "model loaded"
        );
        if let Ok(mut cache) = self.models.lock() {
            cache.retain(|_, weak| weak.strong_count() > 0);
            cache.insert(sha256.to_owned(), Arc::downgrade(&model));
        }
        Ok(model)
    }

    fn cached_model(&self, sha256: &str) -> Option<Arc<LoadedModel>> {
        self.models.lock().ok()?.get(sha256)?.upgrade()
    }

    /// Whether every deployment of this node is active (one whose models failed to load at
    /// start is not).
    pub async fn is_ready(&self) -> bool {
        match super::deployed_services(&self.pool).await {
            Ok(services) => {
                let live = self.live.load();
                services.iter().all(|s| live.contains_key(s))
            }
            Err(_) => false,
        }
    }
}
