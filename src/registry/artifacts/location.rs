//! Where artifacts live: the data dir's `artifacts/` (the default), or a URL naming an object
//! store (`s3://bucket/prefix`, `gs://bucket/prefix`, `az://container/prefix`,
//! `file:///path`), opened with the `object_store` crate. Credentials and endpoints come from
//! the standard environment variables of each service (`AWS_ACCESS_KEY_ID`,
//! `AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_ALLOW_HTTP`, `GOOGLE_SERVICE_ACCOUNT`,
//! `AZURE_STORAGE_ACCOUNT_NAME`, …), never from the URL shown to people.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::local::LocalFileSystem;
use object_store::path::Path as Key;
use object_store::{BackoffConfig, ClientConfigKey, ObjectStore, ObjectStoreScheme, RetryConfig};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// What kind of store holds the artifacts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StoreKind {
    /// `artifacts/` in this node's data dir (the default; not shared with other nodes).
    DataDir,
    S3,
    Gcs,
    Azure,
    /// A directory named by a `file://` URL (for instance a mount every node sees).
    File,
}

/// An opened store: the client, the key prefix inside it, and how to name it.
pub struct Location {
    pub kind: StoreKind,
    /// The store as people see it in messages and in the console: the URL without
    /// credentials, query or fragment, or `data dir` for the default.
    pub shown: String,
    pub store: Arc<dyn ObjectStore>,
    /// Where the artifacts start inside the store (`prefix/sha256/ab/abcdef…`).
    pub prefix: Key,
    /// The directory of a local store, whose writes are fsynced.
    pub local_root: Option<PathBuf>,
}

impl std::fmt::Debug for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Location").field("kind", &self.kind).field("shown", &self.shown).finish_non_exhaustive()
    }
}

/// A request that does not get through is retried twice within 10 s, then the store counts as
/// unreachable: a deploy must not hang for minutes behind a store that is down.
fn retry() -> RetryConfig {
    RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
            base: 2.0,
        },
        max_retries: 2,
        retry_timeout: Duration::from_secs(10),
    }
}

/// Client settings given before the environment's, which may override them
/// (`AWS_CONNECT_TIMEOUT`, `AWS_TIMEOUT`, …): a dead store is noticed within seconds, and a
/// large model still has two minutes to download.
const CLIENT_DEFAULTS: [(ClientConfigKey, &str); 2] =
    [(ClientConfigKey::ConnectTimeout, "5 seconds"), (ClientConfigKey::Timeout, "120 seconds")];

/// The environment variables starting with `prefix` (`AWS_`), lowercased as the builders'
/// config keys read them.
fn env_with(prefix: &str) -> Vec<(String, String)> {
    std::env::vars().filter(|(k, _)| k.starts_with(prefix)).map(|(k, v)| (k.to_ascii_lowercase(), v)).collect()
}

fn bad_url(url: &str, why: &str) -> Error {
    Error::InvalidConfig(format!(
        "artifact store '{url}': {why}; use s3://BUCKET/PREFIX, gs://BUCKET/PREFIX, az://CONTAINER/PREFIX or file:///PATH"
    ))
}

/// The data dir's `artifacts/` directory, the default store.
pub fn data_dir(root: &Path) -> Result<Location> {
    std::fs::create_dir_all(root)?;
    let store = LocalFileSystem::new_with_prefix(root)
        .map_err(|e| Error::Internal(format!("cannot open the artifact directory {}: {e}", root.display())))?;
    Ok(Location {
        kind: StoreKind::DataDir,
        shown: "data dir".to_owned(),
        store: Arc::new(store),
        prefix: Key::default(),
        local_root: Some(root.to_owned()),
    })
}

/// Opens the store a URL names. Nothing is contacted yet: a store that is down at start only
/// matters to the artifacts this node has not cached.
pub fn parse(url: &str) -> Result<Location> {
    let parsed = url::Url::parse(url.trim()).map_err(|e| bad_url(url, &format!("not a URL ({e})")))?;
    let shown = shown(&parsed);
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(bad_url(
            &shown,
            "credentials do not belong in the URL (it is shown in the console and in logs): set them in the environment, e.g. AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
        ));
    }
    let (scheme, prefix) = ObjectStoreScheme::parse(&parsed).map_err(|_| bad_url(&shown, "unknown kind of store"))?;
    let failed = |e: object_store::Error| bad_url(&shown, &format!("cannot be configured ({e})"));
    let (kind, store, local_root): (_, Arc<dyn ObjectStore>, _) = match scheme {
        ObjectStoreScheme::AmazonS3 => {
            let mut b = AmazonS3Builder::new();
            for (key, value) in CLIENT_DEFAULTS {
                b = b.with_config(AmazonS3ConfigKey::Client(key), value);
            }
            for (key, value) in env_with("AWS_") {
                if let Ok(key) = key.parse() {
                    b = b.with_config(key, value);
                }
            }
            (StoreKind::S3, Arc::new(b.with_url(url.trim()).with_retry(retry()).build().map_err(failed)?), None)
        }
        ObjectStoreScheme::GoogleCloudStorage => {
            let mut b = GoogleCloudStorageBuilder::new();
            for (key, value) in CLIENT_DEFAULTS {
                b = b.with_config(GoogleConfigKey::Client(key), value);
            }
            for (key, value) in env_with("GOOGLE_") {
                if let Ok(key) = key.parse() {
                    b = b.with_config(key, value);
                }
            }
            (StoreKind::Gcs, Arc::new(b.with_url(url.trim()).with_retry(retry()).build().map_err(failed)?), None)
        }
        ObjectStoreScheme::MicrosoftAzure => {
            let mut b = MicrosoftAzureBuilder::new();
            for (key, value) in CLIENT_DEFAULTS {
                b = b.with_config(AzureConfigKey::Client(key), value);
            }
            for (key, value) in env_with("AZURE_") {
                if let Ok(key) = key.parse() {
                    b = b.with_config(key, value);
                }
            }
            (StoreKind::Azure, Arc::new(b.with_url(url.trim()).with_retry(retry()).build().map_err(failed)?), None)
        }
        ObjectStoreScheme::Local => {
            let dir = parsed.to_file_path().map_err(|()| bad_url(&shown, "not an absolute local path"))?;
            std::fs::create_dir_all(&dir)
                .map_err(|e| bad_url(&shown, &format!("cannot create the directory ({e})")))?;
            let store = LocalFileSystem::new_with_prefix(&dir).map_err(failed)?;
            return Ok(Location {
                kind: StoreKind::File,
                shown,
                store: Arc::new(store),
                prefix: Key::default(),
                local_root: Some(dir),
            });
        }
        _ => return Err(bad_url(&shown, "not an artifact store (memory:// and http(s):// cannot hold artifacts)")),
    };
    Ok(Location { kind, shown, store, prefix, local_root })
}

/// The URL as people see it: no credentials, query or fragment, no trailing slash.
fn shown(url: &url::Url) -> String {
    let mut u = url.clone();
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.set_query(None);
    u.set_fragment(None);
    u.to_string().trim_end_matches('/').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_open_the_right_store_and_are_shown_without_secrets() {
        let s3 = parse("s3://models/prod/").expect("s3");
        assert_eq!((s3.kind, s3.shown.as_str(), s3.prefix.as_ref()), (StoreKind::S3, "s3://models/prod", "prod"));
        let gs = parse("gs://models").expect("gs");
        assert_eq!((gs.kind, gs.prefix.as_ref()), (StoreKind::Gcs, ""));
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("file://{}/store?x=1", dir.path().display());
        let file = parse(&url).expect("file");
        assert_eq!(file.kind, StoreKind::File);
        assert_eq!(file.shown, format!("file://{}/store", dir.path().display()));
        assert!(dir.path().join("store").is_dir());
    }

    #[test]
    fn unusable_urls_are_refused_with_what_to_write() {
        for (url, says) in [
            ("models", "not a URL"),
            ("ftp://host/x", "unknown kind of store"),
            ("memory:///", "not an artifact store"),
            ("http://example.com/x", "not an artifact store"),
            ("file://relative/x", "unknown kind of store"),
        ] {
            let e = parse(url).expect_err(url);
            assert_eq!(e.code(), crate::error::ErrorCode::InvalidConfig, "{url}");
            let text = e.to_string();
            assert!(text.contains(says) && text.contains("s3://BUCKET/PREFIX"), "{url}: {text}");
        }
        let e = parse("s3://AKIA:topsecret@bucket/x").expect_err("credentials");
        assert!(!e.to_string().contains("topsecret"), "{e}");
        assert!(e.to_string().contains("AWS_ACCESS_KEY_ID"), "{e}");
    }
}
