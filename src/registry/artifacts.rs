//! Content-addressed artifact store: `artifacts/sha256/ab/abcdef…`.
//!
//! A file is written to a temporary name in the same directory, fsynced, renamed into place
//! and the directory fsynced, so a crash leaves either no file or the whole file. The hash is
//! checked again on every read: a corrupted artifact is never served.

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

#[derive(Debug, Clone)]
pub struct ArtifactStore {
    root: PathBuf,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl ArtifactStore {
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        std::fs::create_dir_all(root.join("sha256"))?;
        Ok(Self { root })
    }

    pub fn path_of(&self, sha256: &str) -> PathBuf {
        let prefix = sha256.get(..2).unwrap_or("00");
        self.root.join("sha256").join(prefix).join(sha256)
    }

    /// Stores `bytes` under their hash (a no-op if already present) and returns the hash.
    /// Blocking file I/O: call from a blocking context.
    pub fn put(&self, bytes: &[u8]) -> Result<String> {
        let sha = sha256_hex(bytes);
        let dest = self.path_of(&sha);
        if dest.exists() && self.get(&sha).is_ok() {
            return Ok(sha);
        }
        let dir = dest.parent().ok_or_else(|| Error::Internal("artifact path has no parent".into()))?;
        std::fs::create_dir_all(dir)?;
        let tmp = dir.join(format!(".{sha}.{}.tmp", std::process::id()));
        {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &dest)?;
        sync_dir(dir)?;
        Ok(sha)
    }

    /// Reads an artifact and checks its hash.
    pub fn get(&self, sha256: &str) -> Result<Vec<u8>> {
        let path = self.path_of(sha256);
        let bytes = std::fs::read(&path)
            .map_err(|e| Error::Internal(format!("artifact {sha256} is missing from {}: {e}", self.root.display())))?;
        if sha256_hex(&bytes) != sha256 {
            return Err(Error::Internal(format!(
                "artifact {sha256} is corrupted (hash mismatch) at {}",
                path.display()
            )));
        }
        Ok(bytes)
    }
}

fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_get_and_corruption() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = ArtifactStore::open(dir.path()).expect("open");
        let sha = store.put(b"hello").expect("put");
        assert_eq!(sha, "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
        assert_eq!(store.get(&sha).expect("get"), b"hello");
        assert_eq!(store.put(b"hello").expect("idempotent"), sha);
        std::fs::write(store.path_of(&sha), b"hellO").expect("corrupt");
        assert!(store.get(&sha).is_err());
        // A second put repairs a corrupted file.
        store.put(b"hello").expect("repair");
        assert_eq!(store.get(&sha).expect("get"), b"hello");
        // No temporary files are left behind.
        let leftovers = std::fs::read_dir(store.path_of(&sha).parent().expect("dir"))
            .expect("ls")
            .filter(|e| e.as_ref().is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".tmp")))
            .count();
        assert_eq!(leftovers, 0);
    }
}
