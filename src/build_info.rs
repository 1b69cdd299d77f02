//! What this build is: the package version and the git commit it was built from
//! (`build.rs`; `unknown` when built outside a git checkout without `SWITCHYARD_GIT_COMMIT`).
//! `switchyard --version` prints [`LONG_VERSION`]; the console's sidebar shows both.

/// The package version (Cargo.toml).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The short git commit of the source tree this binary was built from.
pub const COMMIT: &str = env!("SWITCHYARD_GIT_COMMIT");

/// `0.1.0 (commit 1a2b3c4d5e)`.
pub const LONG_VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("SWITCHYARD_GIT_COMMIT"), ")");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_version_names_the_version_and_the_commit() {
        assert!(!COMMIT.is_empty());
        assert_eq!(LONG_VERSION, format!("{VERSION} (commit {COMMIT})"));
    }
}
