//! Copying a registry's artifacts into another store (`switchyard artifacts migrate --to`),
//! so a registry kept on one desk can be shared: every artifact is read from the source with
//! its hash checked, written to the target, and read back from the target with its hash
//! checked again. The registry itself is not changed; nodes use the new store once started
//! with it. A copy that stops half-way is resumed by running it again (what the target
//! already holds intact is not written twice).

use serde::{Deserialize, Serialize};

use super::{Action, ArtifactProblem, ArtifactStore};
use crate::error::Result;

/// An artifact to copy, with the versions that use it (`iris_classifier v1`).
#[derive(Debug, Clone, PartialEq)]
pub struct Wanted {
    pub sha256: String,
    pub versions: Vec<String>,
}

/// What happened to one artifact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Written to the target, read back, hash equal.
    Copied,
    /// The target already held it intact (hash checked).
    AlreadyThere,
    /// The target held other bytes under its hash; replaced, read back, hash equal.
    Repaired,
}

/// One artifact done, as progress shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// 1-based position among `total`.
    pub index: usize,
    pub total: usize,
    pub sha256: String,
    pub size_bytes: u64,
    pub versions: Vec<String>,
    pub outcome: Outcome,
}

/// Copies every wanted artifact from `from` to `to`, calling `progress` after each. Stops
/// at the first artifact that cannot be read intact from the source or written intact to
/// the target, with that error (naming the store and the versions).
pub async fn migrate(
    from: &ArtifactStore,
    to: &ArtifactStore,
    wanted: &[Wanted],
    mut progress: impl FnMut(&Step),
) -> Result<Vec<Step>> {
    let mut done = Vec::new();
    for (i, w) in wanted.iter().enumerate() {
        let failed = |e: super::ArtifactError| {
            e.about(format!("the artifact of {}", w.versions.join(", "))).during(Action::Copy)
        };
        let bytes = from.download(&w.sha256).await.map_err(failed)?;
        let outcome = match to.download(&w.sha256).await {
            Ok(_) => Outcome::AlreadyThere,
            Err(e) => {
                let outcome = match e.problem {
                    ArtifactProblem::Missing => Outcome::Copied,
                    ArtifactProblem::Corrupt { .. } => Outcome::Repaired,
                    ArtifactProblem::Unreachable { .. } => return Err(failed(e).into()),
                };
                to.put(bytes.clone()).await.map_err(failed)?;
                to.download(&w.sha256).await.map_err(failed)?;
                outcome
            }
        };
        let step = Step {
            index: i + 1,
            total: wanted.len(),
            sha256: w.sha256.clone(),
            size_bytes: bytes.len() as u64,
            versions: w.versions.clone(),
            outcome,
        };
        progress(&step);
        done.push(step);
    }
    Ok(done)
}
