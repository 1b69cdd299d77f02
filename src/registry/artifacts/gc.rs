//! The garbage collector of the artifact store: objects no version refers to. An upload
//! writes its object before its version row commits, so an unreferenced object is either an
//! upload that never committed (a crash, a refused insert) or one committing right now; the
//! grace period keeps the second kind. Versions are never deleted, so nothing referenced
//! ever becomes garbage.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{ArtifactStore, StoredArtifact};
use crate::error::Result;

/// How long an unreferenced object is kept by default: far longer than any upload takes
/// between writing its object and committing its row.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(3600);

/// An object no version refers to.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Unreferenced {
    pub sha256: String,
    pub size_bytes: u64,
    pub last_modified: DateTime<Utc>,
    /// Older than the grace period: deleted by `gc` (in a dry run: would be).
    pub expired: bool,
    /// Deleted by this run.
    pub deleted: bool,
}

/// What a garbage collection found and did.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct GcReport {
    /// The store examined.
    pub store: String,
    pub dry_run: bool,
    pub grace_seconds: u64,
    /// Objects some version refers to (kept).
    pub referenced: usize,
    /// Objects no version refers to, oldest first.
    pub unreferenced: Vec<Unreferenced>,
}

impl GcReport {
    pub fn deleted(&self) -> usize {
        self.unreferenced.iter().filter(|u| u.deleted).count()
    }
}

/// The unreferenced objects among `objects`, each marked expired when older than `grace`
/// at `now`. Pure: the collector's decision, apart from its I/O.
pub fn plan(
    objects: &[StoredArtifact],
    referenced: &HashSet<String>,
    now: DateTime<Utc>,
    grace: Duration,
) -> Vec<Unreferenced> {
    let grace = chrono::Duration::from_std(grace).unwrap_or(chrono::Duration::MAX);
    objects
        .iter()
        .filter(|o| !referenced.contains(&o.sha256))
        .map(|o| Unreferenced {
            sha256: o.sha256.clone(),
            size_bytes: o.size_bytes,
            last_modified: o.last_modified,
            expired: now.signed_duration_since(o.last_modified) >= grace,
            deleted: false,
        })
        .collect()
}

/// Lists the store, then asks `referenced` which hashes versions use (after the listing, so
/// a version committed meanwhile is seen), and, unless `dry_run`, deletes the expired
/// objects. Each is checked again just before its deletion: one rewritten since the
/// listing (an upload of the same bytes) is young again and kept.
pub async fn collect<F, Fut>(
    store: &ArtifactStore,
    referenced: F,
    now: impl Fn() -> DateTime<Utc>,
    grace: Duration,
    dry_run: bool,
) -> Result<GcReport>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<HashSet<String>>>,
{
    let objects = store.list().await?;
    let referenced = referenced().await?;
    let mut unreferenced = plan(&objects, &referenced, now(), grace);
    if !dry_run {
        for u in unreferenced.iter_mut().filter(|u| u.expired) {
            let Some(modified) = store.modified(&u.sha256).await? else { continue };
            let still = plan(
                &[StoredArtifact { sha256: u.sha256.clone(), size_bytes: u.size_bytes, last_modified: modified }],
                &referenced,
                now(),
                grace,
            );
            if still.first().is_some_and(|s| s.expired) {
                store.delete(&u.sha256).await?;
                u.deleted = true;
                tracing::info!(store = %store.shown(), sha256 = %u.sha256, "unreferenced artifact deleted");
            } else {
                u.expired = false;
            }
        }
    }
    Ok(GcReport {
        store: store.shown().to_owned(),
        dry_run,
        grace_seconds: grace.as_secs(),
        referenced: objects.len() - unreferenced.len(),
        unreferenced,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).expect("time")
    }

    #[test]
    fn only_unreferenced_objects_are_listed_and_only_old_ones_expire() {
        let object = |sha: &str, s| StoredArtifact { sha256: sha.to_owned(), size_bytes: 3, last_modified: at(s) };
        let objects = [object("a", 0), object("b", 0), object("c", 3000), object("d", 3599)];
        let referenced: HashSet<String> = ["b".to_owned()].into();
        let planned = plan(&objects, &referenced, at(3600), Duration::from_secs(3600));
        let seen: Vec<(&str, bool)> = planned.iter().map(|u| (u.sha256.as_str(), u.expired)).collect();
        assert_eq!(seen, [("a", true), ("c", false), ("d", false)]);
        // A zero grace period expires everything unreferenced; an enormous one nothing.
        assert!(plan(&objects, &referenced, at(3600), Duration::ZERO).iter().all(|u| u.expired));
        assert!(plan(&objects, &referenced, at(3600), Duration::MAX).iter().all(|u| !u.expired));
    }
}
