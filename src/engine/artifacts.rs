//! The artifact store's facade: where artifacts live (the console's sidebar), the garbage
//! collector (`switchyard gc`) and the migration to another store
//! (`switchyard artifacts migrate`).

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use super::{Engine, EngineConfig};
use crate::error::{Error, Result};
use crate::registry::artifacts::gc::GcReport;
use crate::registry::artifacts::migrate::{Step, Wanted};
use crate::registry::artifacts::{ArtifactStore, ArtifactStoreInfo};
use crate::registry::{self, artifacts};
use crate::store;

/// How often a deployment this node could not activate is tried again.
pub(super) const CATCH_UP: Duration = Duration::from_secs(2);

impl Engine {
    /// Where this node's artifacts live, and what its cache holds.
    pub async fn artifact_store(&self) -> Result<ArtifactStoreInfo> {
        let store = self.inner.deployments.artifacts().clone();
        tokio::task::spawn_blocking(move || store.info())
            .await
            .map_err(|e| Error::Internal(format!("cannot read the artifact cache: {e}")))
    }

    /// Finds the store's objects no version refers to and, unless `dry_run`, deletes those
    /// last written more than `grace` ago (by the engine's clock).
    pub async fn collect_garbage(&self, dry_run: bool, grace: Duration) -> Result<GcReport> {
        let store = self.inner.deployments.artifacts();
        let referenced = || async {
            Ok(registry::artifact_uses(self.pool()).await?.into_iter().map(|(sha, _)| sha).collect::<HashSet<_>>())
        };
        let report = artifacts::gc::collect(store, referenced, || self.now(), grace, dry_run).await?;
        tracing::info!(
            store = %report.store,
            dry_run,
            unreferenced = report.unreferenced.len(),
            deleted = report.deleted(),
            "artifact garbage collection"
        );
        Ok(report)
    }
}

/// Copies every artifact of the registry `config` names (its database and its artifact
/// store) into the store at `to`, each hash checked on both sides, calling `progress` after
/// each artifact. Needs no running node and changes no row: nodes use the new store once
/// started with it (`--artifacts`).
pub async fn migrate_artifacts(config: &EngineConfig, to: &str, progress: impl FnMut(&Step)) -> Result<Vec<Step>> {
    let pool = match &config.database_url {
        Some(url) => store::open_url(url).await?,
        None => store::open_sqlite(&config.data_dir.join("registry.db")).await?,
    };
    let from = ArtifactStore::open(config.artifacts.as_deref(), &config.data_dir)?;
    let target = ArtifactStore::open_uncached(to)?;
    if target.shown() == from.shown() {
        return Err(Error::InvalidConfig(format!("the artifacts already live in {}", from.shown())));
    }
    let mut uses: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut order = Vec::new();
    for (sha, version) in registry::artifact_uses(&pool).await? {
        if !uses.contains_key(&sha) {
            order.push(sha.clone());
        }
        uses.entry(sha).or_default().push(version);
    }
    pool.close().await;
    let wanted: Vec<Wanted> =
        order.into_iter().map(|sha| Wanted { versions: uses.remove(&sha).unwrap_or_default(), sha256: sha }).collect();
    artifacts::migrate::migrate(&from, &target, &wanted, progress).await
}
