//! Embeds the git commit this build comes from (`SWITCHYARD_GIT_COMMIT`, read by
//! `src/build_info.rs`): `switchyard --version` and the console's sidebar show it.
//!
//! Order: the `SWITCHYARD_GIT_COMMIT` environment variable when set (a build from a tarball
//! can name its commit), else `git rev-parse --short=10 HEAD` in the source tree, else
//! `unknown` (no git, or not a checkout).

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=SWITCHYARD_GIT_COMMIT");
    let commit = match std::env::var("SWITCHYARD_GIT_COMMIT") {
        Ok(c) if !c.trim().is_empty() => c.trim().to_owned(),
        _ => from_git().unwrap_or_else(|| "unknown".to_owned()),
    };
    println!("cargo:rustc-env=SWITCHYARD_GIT_COMMIT={commit}");
}

fn git(args: &[&str]) -> Option<String> {
    let dir = std::env::var_os("CARGO_MANIFEST_DIR")?;
    let out = Command::new("git").arg("-C").arg(dir).args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (!s.is_empty()).then_some(s)
}

/// The short commit, and the files to watch so that a new commit or checkout reruns this
/// script: this checkout's HEAD and the branch it points to (not every branch: commits on
/// other branches or worktrees must not rebuild this one), and packed-refs. Only paths that
/// exist: a missing one would rerun the script on every build.
fn from_git() -> Option<String> {
    let commit = git(&["rev-parse", "--short=10", "HEAD"])?;
    let git_dir = PathBuf::from(git(&["rev-parse", "--absolute-git-dir"])?);
    let common =
        git(&["rev-parse", "--path-format=absolute", "--git-common-dir"]).map_or(git_dir.clone(), PathBuf::from);
    watch(&git_dir.join("HEAD"));
    watch(&common.join("packed-refs"));
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watch(&common.join(branch));
    }
    Some(commit)
}

fn watch(path: &Path) {
    if path.exists() {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}
