//! Services, versions and deployments: the facade over the registry, [`Deployments`] (live
//! configs, model cache) and the canary check that guards a deploy.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Engine;
use crate::deploy::{self, ActiveDeployment, DeploymentConfig, Revision, RevisionKind, RevisionMeta, Serving};
use crate::error::{Error, Result};
use crate::events::Change;
use crate::model::LoadedModel;
use crate::notify::EventKind;
use crate::registry::{self, NewVersion, Service, Version};

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

impl Engine {
    pub async fn create_service(&self, name: &str, description: &str) -> Result<Service> {
        let service = registry::create_service(self.pool(), name, description, self.now()).await?;
        tracing::info!(service = %service.name, "service created");
        self.announce(Change::Services);
        Ok(service)
    }

    pub async fn list_services(&self) -> Result<Vec<ServiceSummary>> {
        let mut out = Vec::new();
        for service in registry::list_services(self.pool()).await? {
            let versions = registry::list_versions(self.pool(), service.name.as_str()).await?;
            let deployment = deploy::latest(self.pool(), service.name.as_str()).await?;
            out.push(ServiceSummary { service, version_count: versions.len(), deployment });
        }
        Ok(out)
    }

    pub async fn get_service(&self, name: &str) -> Result<Service> {
        registry::get_service(self.pool(), name).await
    }

    /// Creates a version from ONNX bytes: the model is inspected (tract must run it), the
    /// artifact stored in the artifact store, then the row inserted. A refused model leaves
    /// nothing behind.
    pub async fn create_version(&self, service: &str, bytes: Vec<u8>, mut new: NewVersion) -> Result<Version> {
        let service = registry::get_service(self.pool(), service).await?.name;
        if bytes.is_empty() {
            return Err(Error::InvalidModel("the model file is empty".into()));
        }
        let bytes = bytes::Bytes::from(bytes);
        let inspected = bytes.clone();
        let schema = tokio::task::spawn_blocking(move || crate::model::inspect(&inspected))
            .await
            .map_err(|e| Error::Internal(format!("model inspection stopped: {e}")))??;
        // The reference is built (the model run on its rows) before anything is written: a
        // refused CSV leaves nothing behind.
        let reference = match new.reference_csv.clone() {
            Some(csv) => {
                let loaded = bytes.clone();
                let model = tokio::task::spawn_blocking(move || LoadedModel::load(&loaded))
                    .await
                    .map_err(|e| Error::Internal(format!("model loading stopped: {e}")))??;
                let (reference, first_row) = super::drift::build_reference(Arc::new(model), csv).await?;
                new.provenance.details.entry(registry::SAMPLE_ROW.to_owned()).or_insert(first_row);
                Some(reference)
            }
            None => None,
        };
        let size = bytes.len();
        // The object is in the store (HEAD-checked) before the row commits: a crash between
        // the two leaves an unreferenced object for `gc`, never a version without its model.
        let sha = self.inner.deployments.artifacts().put(bytes).await?;
        let version =
            registry::insert_version(self.pool(), &service, &new, &sha, size, &schema, reference.as_ref(), self.now())
                .await?;
        tracing::info!(%service, version = %version.id, sha256 = %sha, "version created");
        self.announce(Change::Service { service: service.to_string() });
        Ok(version)
    }

    pub async fn get_version(&self, service: &str, id: &str) -> Result<Version> {
        registry::get_version(self.pool(), service, id).await
    }

    /// Versions of a service, oldest first, with whether each is live and since when.
    pub async fn list_versions(&self, service: &str) -> Result<Vec<VersionView>> {
        let versions = registry::list_versions(self.pool(), service).await?;
        let revisions = deploy::revisions(self.pool(), service).await?;
        Ok(versions.into_iter().map(|v| version_view(v, &revisions)).collect())
    }

    // ---- deployments ------------------------------------------------------------------

    /// The active revision of a service's deployment on this node.
    pub async fn deployment(&self, service: &str) -> Result<Revision> {
        registry::get_service(self.pool(), service).await?;
        deploy::latest(self.pool(), service).await?.ok_or_else(|| Error::NotDeployed(service.to_owned()))
    }

    pub async fn revisions(&self, service: &str) -> Result<Vec<Revision>> {
        registry::get_service(self.pool(), service).await?;
        deploy::revisions(self.pool(), service).await
    }

    /// Deploys a config as a client sent it (`{"mode":"single","generation":"v2"}` or
    /// `{"mode":"multiple","mapping":[…]}`): validated, models loaded and warmed, revision
    /// written, then swapped in atomically. Nothing changes if any step fails.
    ///
    /// A protected service refuses it: its deploys go through an approval request
    /// ([`Engine::deploy_as`]).
    pub async fn deploy(&self, service: &str, config: &Value, author: &str, reason: &str) -> Result<Revision> {
        self.refuse_if_protected(service, "deploys").await?;
        self.deploy_unchecked(service, config, author, reason).await
    }

    /// [`Engine::deploy`] without the protection check: an approved request's deploy.
    pub(crate) async fn deploy_unchecked(
        &self,
        service: &str,
        config: &Value,
        author: &str,
        reason: &str,
    ) -> Result<Revision> {
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
        if let Some(live) = deploy::latest(self.pool(), service).await?.filter(|r| r.config == config) {
            return Err(Error::Unchanged(format!(
                "revision {} of '{service}' already serves this config ({}): nothing to deploy",
                live.number,
                config.describe()
            )));
        }
        let reason = if reason.trim().is_empty() { config.describe() } else { reason.trim().to_owned() };
        let meta =
            RevisionMeta { kind: RevisionKind::Deploy, rollback_of: None, author, reason: &reason, canary_id: None };
        let revision = self.inner.deployments.commit_and_activate(service, config, meta).await?;
        self.notify_service(EventKind::Deploy, service, Some(revision.number), author, &reason).await;
        Ok(revision)
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
        let current = deploy::latest(self.pool(), service).await?.map(|r| r.config);
        self.deploy(service, &deploy::single_config(current, version), author, reason).await
    }

    /// Rolls back to revision `to` by appending a new revision with its config. Without `to`,
    /// the target is what served before: the previous revision with a different config, and
    /// after a canary the revision live before it started ([`deploy::rollback_target`]). The
    /// new revision's reason says which revision was restored and why. History is never
    /// rewritten.
    pub async fn rollback(&self, service: &str, to: Option<i64>, author: &str, reason: &str) -> Result<Revision> {
        let current = self.deployment(service).await?;
        let (target, why) = match to {
            Some(n) => (n, "chosen by the user".to_owned()),
            None => deploy::rollback_target(&self.revisions(service).await?).ok_or_else(|| {
                Error::InvalidConfig(format!(
                    "nothing to roll back to: no revision of '{service}' before {} has a different config",
                    current.number
                ))
            })?,
        };
        if target == current.number {
            return Err(Error::Unchanged(format!("revision {target} is already the active revision of '{service}'")));
        }
        let old = deploy::revision(self.pool(), service, target).await?;
        if old.config == current.config {
            return Err(Error::Unchanged(format!(
                "revision {target} has the active config of '{service}' ({}): nothing to roll back",
                current.config.describe()
            )));
        }
        // A manual rollback wins over a running canary: the canary stops first.
        if self.active_canary(service).await?.is_some() {
            self.stop_canary_for_rollback(service, author).await?;
        }
        let restored = format!("restores revision {target}, {why}");
        let reason = if reason.trim().is_empty() {
            format!("rollback: {restored}")
        } else {
            format!("{} ({restored})", reason.trim())
        };
        let meta = RevisionMeta {
            kind: RevisionKind::Rollback,
            rollback_of: Some(target),
            author,
            reason: &reason,
            canary_id: None,
        };
        let revision = self.inner.deployments.commit_and_activate(service, old.config, meta).await?;
        self.notify_service(EventKind::Rollback, service, Some(revision.number), author, &reason).await;
        Ok(revision)
    }

    async fn version_map(&self, service: &str) -> Result<HashMap<String, Version>> {
        Ok(registry::list_versions(self.pool(), service)
            .await?
            .into_iter()
            .map(|v| (v.id.as_str().to_owned(), v))
            .collect())
    }

    /// The loaded model for an artifact, shared while any deployment holds it.
    pub(crate) async fn load_model(&self, sha256: &str) -> Result<Arc<LoadedModel>> {
        self.inner.deployments.load_model(sha256).await
    }

    /// Whether every deployment of this node is active (a deployment whose models failed to
    /// load at start is not).
    pub async fn is_ready(&self) -> bool {
        self.inner.deployments.is_ready().await
    }

    /// The active deployment of a service on this node, if any.
    pub fn active(&self, service: &str) -> Option<Arc<ActiveDeployment>> {
        self.inner.deployments.active(service)
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
