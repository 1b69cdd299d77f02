//! The artifact store: where version artifacts (ONNX files) live, content-addressed as
//! `[prefix/]sha256/ab/abcdef…`. The default is the data dir's `artifacts/` on this node; with
//! a URL (`s3://`, `gs://`, `az://`, `file://`) it is an object store every node of a shared
//! registry reads, and each node keeps a verified local [`Cache`] of what it used.
//!
//! - An artifact is written (and HEAD-checked) before its version row is inserted, so a crash
//!   between the two leaves an unreferenced object, never a row without its object; [`gc`]
//!   finds such objects.
//! - Every read checks the SHA-256: a corrupt or truncated download is refused and fetched
//!   once more; a corrupt object is never loaded. A node serves from its cache without
//!   contacting the store.
//! - Local stores are fsynced after a write (file, then directory).

mod cache;
pub mod gc;
mod location;
pub mod migrate;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use object_store::path::Path as Key;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use cache::{Cache, CacheStats};
pub use location::{Location, StoreKind};

use crate::error::{Error, Result};

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Whether `s` is a SHA-256 as the registry writes them (64 lowercase hex digits): the only
/// names used as keys and cache file names.
pub fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Why an artifact could not be read or written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArtifactProblem {
    /// The store did not answer, or refused the request (`reason` is a short phrase; the
    /// store's own error is logged).
    Unreachable { reason: String },
    /// The store answered that it holds no such object.
    Missing,
    /// The bytes do not hash to the artifact's SHA-256 (`actual`), or the store kept a
    /// different size than was written.
    Corrupt { actual: String },
}

/// What was being done with the artifact when it failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Reading it to load a model (deploy, rollback, start).
    Load,
    /// Writing it at upload.
    Store,
    /// Copying it to another store (migration).
    Copy,
    /// Listing or deleting unreferenced objects (garbage collection).
    Collect,
}

/// An artifact the store could not give or take, with the store and, where known, the
/// version it belongs to: errors name both, so a person knows what to start or re-upload.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.message())]
pub struct ArtifactError {
    pub problem: ArtifactProblem,
    pub action: Action,
    /// The store as shown to people (`s3://bucket/prefix`, `data dir`).
    pub store: String,
    pub sha256: String,
    /// What the artifact is for: `version v3 of 'iris'`.
    pub subject: Option<String>,
}

impl ArtifactError {
    /// The same error, about `subject` (e.g. `version v3 of 'iris'`).
    pub fn about(mut self, subject: impl Into<String>) -> ArtifactError {
        self.subject = Some(subject.into());
        self
    }

    /// The same error, for another action.
    pub fn during(mut self, action: Action) -> ArtifactError {
        self.action = action;
        self
    }

    fn message(&self) -> String {
        let short = self.sha256.get(..12).unwrap_or(&self.sha256);
        let what = self.subject.clone().unwrap_or_else(|| format!("artifact sha256 {short}…"));
        let store = if self.store == "data dir" {
            "the data dir's artifact store".to_owned()
        } else {
            format!("the artifact store {}", self.store)
        };
        let restore = "upload the same model file again (as any version) to restore it";
        match (&self.problem, self.action) {
            (ArtifactProblem::Unreachable { reason }, Action::Load) => format!(
                "{what} is not in this node's cache and {store} {reason}; nothing was changed: bring the store back, or deploy a version this node has cached"
            ),
            (ArtifactProblem::Unreachable { reason }, Action::Store) => {
                format!(
                    "{store} {reason}, so the model could not be stored; nothing was saved: upload it again once the store is back"
                )
            }
            (ArtifactProblem::Unreachable { reason }, Action::Copy) => {
                format!("{store} {reason}, so {what} could not be copied: run the migration again once it is back")
            }
            (ArtifactProblem::Unreachable { reason }, Action::Collect) => {
                format!("{store} {reason}; the garbage collection stopped: run it again once the store is back")
            }
            (ArtifactProblem::Missing, _) => format!(
                "{store} has no object for {what} (sha256 {short}…): it was deleted or never written; nothing was changed: {restore}"
            ),
            (ArtifactProblem::Corrupt { actual }, _) => format!(
                "hash mismatch: {store} holds other bytes for {what} (expected sha256 {short}…, got {}); they are refused and nothing was changed: {restore}",
                actual.get(..12).map_or_else(|| actual.clone(), |a| format!("{a}…"))
            ),
        }
    }
}

/// An object of the store (as listed for the garbage collector).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredArtifact {
    pub sha256: String,
    pub size_bytes: u64,
    pub last_modified: DateTime<Utc>,
}

/// Where this node's artifacts live, for the console and `GET /admin/v1/artifacts`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct ArtifactStoreInfo {
    pub kind: StoreKind,
    /// The store's URL (without credentials), or `data dir` for the node's own `artifacts/`.
    pub location: String,
    /// Whether nodes sharing the registry read the same store (false for the data dir).
    pub shared: bool,
    /// This node's verified cache of a shared store (none for the data dir: it is local).
    pub cache: Option<CacheStats>,
}

/// The store with this node's cache. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ArtifactStore {
    location: Arc<Location>,
    cache: Option<Arc<Cache>>,
}

impl ArtifactStore {
    /// The store of a node over `data_dir`: the URL's object store with a cache in
    /// `data_dir/cache`, or, without a URL, `data_dir/artifacts` (local, no cache).
    pub fn open(url: Option<&str>, data_dir: &Path) -> Result<ArtifactStore> {
        match url.map(str::trim).filter(|u| !u.is_empty()) {
            None => Ok(ArtifactStore::at(location::data_dir(&data_dir.join("artifacts"))?, None)),
            Some(url) => {
                let cache = Cache::open(data_dir.join("cache"))?;
                Ok(ArtifactStore::at(location::parse(url)?, Some(cache)))
            }
        }
    }

    /// The store a URL names, without a cache (a migration's target: every read goes to it).
    pub fn open_uncached(url: &str) -> Result<ArtifactStore> {
        Ok(ArtifactStore::at(location::parse(url)?, None))
    }

    /// A store over an opened location (unit tests give an in-memory one).
    pub fn at(location: Location, cache: Option<Cache>) -> ArtifactStore {
        ArtifactStore { location: Arc::new(location), cache: cache.map(Arc::new) }
    }

    /// The store as people see it.
    pub fn shown(&self) -> &str {
        &self.location.shown
    }

    pub fn info(&self) -> ArtifactStoreInfo {
        ArtifactStoreInfo {
            kind: self.location.kind,
            location: self.location.shown.clone(),
            shared: self.location.kind != StoreKind::DataDir,
            cache: self.cache.as_ref().map(|c| c.stats()),
        }
    }

    /// The file a local store keeps an artifact in, or the cache's copy for a remote one
    /// (tests and tools read it).
    pub fn local_path(&self, sha256: &str) -> Option<PathBuf> {
        match (&self.location.local_root, &self.cache) {
            (Some(root), _) => Some(root.join(self.key(sha256).as_ref())),
            (None, Some(cache)) => Some(cache.path_of(sha256)),
            (None, None) => None,
        }
    }

    fn key(&self, sha256: &str) -> Key {
        let dir = sha256.get(..2).unwrap_or("00");
        ["sha256", dir, sha256].into_iter().fold(self.location.prefix.clone(), |key, part| key.child(part))
    }

    fn problem(&self, sha256: &str, problem: ArtifactProblem) -> ArtifactError {
        ArtifactError {
            problem,
            action: Action::Load,
            store: self.location.shown.clone(),
            sha256: sha256.to_owned(),
            subject: None,
        }
    }

    /// Classifies a store error; the store's own text is logged, not shown.
    fn failed(&self, sha256: &str, doing: &str, e: object_store::Error) -> ArtifactError {
        let problem = match &e {
            object_store::Error::NotFound { .. } => ArtifactProblem::Missing,
            object_store::Error::PermissionDenied { .. } | object_store::Error::Unauthenticated { .. } => {
                ArtifactProblem::Unreachable { reason: "refused access (check its credentials)".into() }
            }
            _ => ArtifactProblem::Unreachable { reason: "cannot be reached or answered with an error".into() },
        };
        tracing::warn!(store = %self.location.shown, sha256, "artifact store: {doing} failed: {e}");
        self.problem(sha256, problem)
    }

    /// Stores `bytes` under their hash and returns it, once the store holds them: the object
    /// is written (overwriting a damaged one; a local store is fsynced), then its size is
    /// checked with a HEAD. The uploading node also caches it.
    pub async fn put(&self, bytes: Bytes) -> Result<String, ArtifactError> {
        self.write(bytes).await.map_err(|e| e.during(Action::Store))
    }

    async fn write(&self, bytes: Bytes) -> Result<String, ArtifactError> {
        let sha = {
            let bytes = bytes.clone();
            tokio::task::spawn_blocking(move || sha256_hex(&bytes)).await.unwrap_or_default()
        };
        if !is_sha256(&sha) {
            return Err(self.problem(&sha, ArtifactProblem::Unreachable { reason: "could not be written".into() }));
        }
        let key = self.key(&sha);
        let store = &self.location.store;
        store.put(&key, bytes.clone().into()).await.map_err(|e| self.failed(&sha, "write", e))?;
        if let Some(path) = self.location.local_root.is_some().then(|| self.local_path(&sha)).flatten() {
            let synced = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
                std::fs::File::open(&path)?.sync_all()?;
                match path.parent() {
                    Some(dir) => cache::sync_dir(dir),
                    None => Ok(()),
                }
            })
            .await;
            if !matches!(synced, Ok(Ok(()))) {
                tracing::warn!(sha256 = %sha, "cannot fsync the stored artifact: {synced:?}");
                return Err(self.problem(&sha, ArtifactProblem::Unreachable { reason: "could not be written".into() }));
            }
        }
        let meta = store.head(&key).await.map_err(|e| self.failed(&sha, "check after write", e))?;
        if meta.size != bytes.len() as u64 {
            tracing::warn!(sha256 = %sha, kept = meta.size, sent = bytes.len(), "artifact store kept another size");
            return Err(self.problem(&sha, ArtifactProblem::Corrupt { actual: format!("{} bytes", meta.size) }));
        }
        self.cache_write(&sha, bytes).await;
        Ok(sha)
    }

    /// The artifact's bytes, hash checked: from the cache when it holds an intact copy (the
    /// store is not contacted), else from the store (a corrupt or truncated download is
    /// fetched once more, then refused), then cached.
    pub async fn fetch(&self, sha256: &str) -> Result<Bytes, ArtifactError> {
        if !is_sha256(sha256) {
            return Err(self.problem(sha256, ArtifactProblem::Missing));
        }
        if let Some(cache) = &self.cache {
            let (cache, sha) = (Arc::clone(cache), sha256.to_owned());
            if let Ok(Some(bytes)) = tokio::task::spawn_blocking(move || cache.read(&sha)).await {
                return Ok(Bytes::from(bytes));
            }
        }
        let bytes = self.download(sha256).await?;
        self.cache_write(sha256, bytes.clone()).await;
        Ok(bytes)
    }

    /// Reads the artifact from the store itself (never the cache) and checks its hash; one
    /// more try after a mismatch, which a truncated transfer explains.
    pub async fn download(&self, sha256: &str) -> Result<Bytes, ArtifactError> {
        let key = self.key(sha256);
        let mut actual = String::new();
        for attempt in 1..=2 {
            let got = self.location.store.get(&key).await.map_err(|e| self.failed(sha256, "read", e))?;
            let bytes = got.bytes().await.map_err(|e| self.failed(sha256, "read", e))?;
            let hashed = bytes.clone();
            actual = tokio::task::spawn_blocking(move || sha256_hex(&hashed)).await.unwrap_or_default();
            if actual == sha256 {
                return Ok(bytes);
            }
            tracing::warn!(store = %self.location.shown, sha256, actual, attempt, "downloaded artifact has another hash");
        }
        Err(self.problem(sha256, ArtifactProblem::Corrupt { actual }))
    }

    /// Whether this node's cache holds an intact copy (always false without a cache).
    pub async fn is_cached(&self, sha256: &str) -> bool {
        let Some(cache) = self.cache.clone() else { return false };
        let sha = sha256.to_owned();
        is_sha256(sha256) && tokio::task::spawn_blocking(move || cache.holds(&sha)).await.unwrap_or(false)
    }

    async fn cache_write(&self, sha256: &str, bytes: Bytes) {
        let Some(cache) = self.cache.clone() else { return };
        let sha = sha256.to_owned();
        match tokio::task::spawn_blocking(move || cache.write(&sha, &bytes)).await {
            Ok(Ok(())) => {}
            outcome => tracing::warn!(sha256, "cannot cache the artifact (it will be fetched again): {outcome:?}"),
        }
    }

    /// Every artifact object of the store. Other keys under the prefix are not artifacts
    /// and are left out (and alone).
    pub async fn list(&self) -> Result<Vec<StoredArtifact>, ArtifactError> {
        let root = self.location.prefix.child("sha256");
        let mut out = Vec::new();
        let mut objects = self.location.store.list(Some(&root));
        while let Some(meta) = objects.next().await {
            let meta = meta.map_err(|e| self.failed("", "list", e).during(Action::Collect))?;
            let Some(name) = meta.location.filename() else { continue };
            if is_sha256(name) && meta.location == self.key(name) {
                out.push(StoredArtifact {
                    sha256: name.to_owned(),
                    size_bytes: meta.size,
                    last_modified: meta.last_modified,
                });
            }
        }
        out.sort_by(|a, b| (a.last_modified, &a.sha256).cmp(&(b.last_modified, &b.sha256)));
        Ok(out)
    }

    /// The object's last modification, or None if the store has no such object.
    pub async fn modified(&self, sha256: &str) -> Result<Option<DateTime<Utc>>, ArtifactError> {
        match self.location.store.head(&self.key(sha256)).await {
            Ok(meta) => Ok(Some(meta.last_modified)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.failed(sha256, "check", e).during(Action::Collect)),
        }
    }

    /// Deletes an object (the garbage collector's, for unreferenced ones only).
    pub async fn delete(&self, sha256: &str) -> Result<(), ArtifactError> {
        match self.location.store.delete(&self.key(sha256)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.failed(sha256, "delete", e).during(Action::Collect)),
        }
    }
}

impl From<ArtifactError> for Error {
    fn from(e: ArtifactError) -> Self {
        Error::Artifact(e)
    }
}

#[cfg(test)]
mod tests;
