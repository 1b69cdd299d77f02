//! The node's verified cache of a shared store: `<data-dir>/cache/<sha256>`, one file per
//! artifact. A file is written to a temporary name, fsynced and renamed, so a crash leaves
//! either no file or the whole file; its hash is checked on every read, and a copy that does
//! not match is deleted and counts as a miss. A node with a model here activates it while the
//! store is down.
//!
//! Blocking file I/O: call from a blocking context.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::sha256_hex;

#[derive(Debug)]
pub struct Cache {
    dir: PathBuf,
}

/// What the cache holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct CacheStats {
    /// Artifacts held.
    pub artifacts: u64,
    /// Their size in bytes.
    pub bytes: u64,
}

/// Makes temporary names unique between the writers of one process.
static NEXT_TMP: AtomicU64 = AtomicU64::new(0);

impl Cache {
    pub fn open(dir: impl Into<PathBuf>) -> std::io::Result<Cache> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)?;
        Ok(Cache { dir })
    }

    /// The file of an artifact (the hash is checked by the caller: 64 hex digits).
    pub fn path_of(&self, sha256: &str) -> PathBuf {
        self.dir.join(sha256)
    }

    /// The artifact's bytes if the cache holds an intact copy. A copy whose hash differs is
    /// deleted, so the next fetch replaces it.
    pub fn read(&self, sha256: &str) -> Option<Vec<u8>> {
        let path = self.path_of(sha256);
        let bytes = std::fs::read(&path).ok()?;
        if sha256_hex(&bytes) == sha256 {
            return Some(bytes);
        }
        tracing::warn!(sha256, path = %path.display(), "cached artifact is damaged (hash mismatch); fetching it again");
        if let Err(e) = std::fs::remove_file(&path) {
            tracing::warn!(sha256, "cannot delete the damaged cached artifact: {e}");
        }
        None
    }

    /// Whether an intact copy is held (reads and hashes it).
    pub fn holds(&self, sha256: &str) -> bool {
        self.read(sha256).is_some()
    }

    /// Stores bytes whose hash the caller checked.
    pub fn write(&self, sha256: &str, bytes: &[u8]) -> std::io::Result<()> {
        let dest = self.path_of(sha256);
        let tmp =
            self.dir.join(format!(".{sha256}.{}.{}.tmp", std::process::id(), NEXT_TMP.fetch_add(1, Ordering::Relaxed)));
        let written = (|| {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &dest)?;
            sync_dir(&self.dir)
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written
    }

    /// How many artifacts the cache holds and their size (temporary files left by a crash
    /// excluded).
    pub fn stats(&self) -> CacheStats {
        let mut stats = CacheStats::default();
        for entry in std::fs::read_dir(&self.dir).into_iter().flatten().flatten() {
            let name = entry.file_name();
            if super::is_sha256(&name.to_string_lossy())
                && let Ok(meta) = entry.metadata()
            {
                stats.artifacts += 1;
                stats.bytes += meta.len();
            }
        }
        stats
    }
}

pub(super) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_damaged_or_truncated_copy_is_a_miss_and_is_removed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = Cache::open(dir.path().join("cache")).expect("open");
        let sha = sha256_hex(b"model bytes");
        assert_eq!(cache.read(&sha), None);
        cache.write(&sha, b"model bytes").expect("write");
        assert_eq!(cache.read(&sha).as_deref(), Some(&b"model bytes"[..]));
        assert_eq!(cache.stats(), CacheStats { artifacts: 1, bytes: 11 });

        std::fs::write(cache.path_of(&sha), b"model by").expect("truncate");
        assert_eq!(cache.read(&sha), None);
        assert!(!cache.path_of(&sha).exists(), "the damaged copy is deleted");

        cache.write(&sha, b"model bytes").expect("write again");
        std::fs::write(cache.path_of(&sha), b"model bytez").expect("corrupt");
        assert!(!cache.holds(&sha));
        // Nothing but artifacts: no temporary file is left behind.
        cache.write(&sha, b"model bytes").expect("write again");
        let names: Vec<String> = std::fs::read_dir(dir.path().join("cache"))
            .expect("ls")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec![sha]);
    }
}
