//! The router: which generation answers a request.
//!
//! A [`Mapping`] is a validated list of generations with probabilities that sum to one; a
//! [`Route`] is the precomputed form the request path uses (cumulative weights). Picks are
//! either random (the caller supplies a uniform number, so tests seed it) or sticky: a stable
//! hash of deployment and key that every node computes the same way, across restarts.

mod mapping;

pub use mapping::{IssueKind, Mapping, MappingEntry, MappingIssue, SUM_TOLERANCE};

use crate::names::VersionId;

/// What the request path needs to pick a generation, derived once per activated config.
#[derive(Debug, Clone)]
pub struct Route {
    generations: Vec<VersionId>,
    /// Upper bounds of each generation's interval in [0, 1); the last is forced to 1.0 so
    /// rounding can never leave a point unassigned.
    cumulative: Vec<f64>,
}

impl Route {
    pub fn single(generation: VersionId) -> Self {
        Self { generations: vec![generation], cumulative: vec![1.0] }
    }

    pub fn weighted(mapping: &Mapping) -> Self {
        let mut acc = 0.0;
        let mut generations = Vec::with_capacity(mapping.entries().len());
        let mut cumulative = Vec::with_capacity(mapping.entries().len());
        for e in mapping.entries() {
            acc += e.proba;
            generations.push(e.generation.clone());
            cumulative.push(acc);
        }
        // The last entry with a non-zero probability closes the interval at exactly 1.0.
        if let Some(last) = mapping.entries().iter().rposition(|e| e.proba > 0.0) {
            for c in cumulative.iter_mut().skip(last) {
                *c = 1.0;
            }
        }
        Self { generations, cumulative }
    }

    /// The generation whose interval contains `u`, a number in [0, 1).
    pub fn pick(&self, u: f64) -> &VersionId {
        let i = self.cumulative.iter().position(|&c| u < c).unwrap_or(self.generations.len() - 1);
        &self.generations[i]
    }

    pub fn generations(&self) -> &[VersionId] {
        &self.generations
    }
}

/// A point in [0, 1) that depends only on the deployment and the key: FNV-1a over both, then
/// a 64-bit finaliser (murmur3's fmix64) so that similar keys spread evenly. No per-process
/// salt: every node and every restart computes the same point.
pub fn sticky_point(deployment: &str, key: &str) -> f64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in deployment.bytes().chain(std::iter::once(0xff)).chain(key.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    (h >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn mapping(v: serde_json::Value) -> Mapping {
        Mapping::from_value(&v, |_| true).expect("valid mapping")
    }

    #[test]
    fn pick_follows_intervals() {
        let r = Route::weighted(&mapping(json!([
            {"generation": "v2", "proba": 0.7}, {"generation": "v1", "proba": 0.3}
        ])));
        assert_eq!(r.pick(0.0).as_str(), "v2");
        assert_eq!(r.pick(0.6999).as_str(), "v2");
        assert_eq!(r.pick(0.7).as_str(), "v1");
        assert_eq!(r.pick(0.999_999_999).as_str(), "v1");
    }

    #[test]
    fn zero_probability_entries_are_never_picked() {
        let r = Route::weighted(&mapping(json!([
            {"generation": "a", "proba": 0.0}, {"generation": "b", "proba": 1.0}, {"generation": "c", "proba": 0.0}
        ])));
        for i in 0..1000 {
            assert_eq!(r.pick(i as f64 / 1000.0).as_str(), "b");
        }
    }

    #[test]
    fn rounding_never_leaves_a_gap() {
        // 0.1 * 10 sums to 0.9999999999999999 in floating point.
        let entries: Vec<_> = (0..10).map(|i| json!({"generation": format!("v{i}"), "proba": 0.1})).collect();
        let r = Route::weighted(&mapping(serde_json::Value::Array(entries)));
        assert_eq!(r.pick(0.999_999_999_999_999_9).as_str(), "v9");
    }

    #[test]
    fn sticky_points_are_stable_and_spread() {
        // Pinned values: a change here breaks sticky assignment across upgrades.
        assert_eq!(sticky_point("iris_classifier", "user-1"), sticky_point("iris_classifier", "user-1"));
        assert_ne!(sticky_point("iris_classifier", "user-1"), sticky_point("other", "user-1"));
        let n = 10_000;
        let below = (0..n).filter(|i| sticky_point("d", &format!("user-{i}")) < 0.3).count();
        // Binomial(10000, 0.3): sd ≈ 45.8; 5 sd ≈ 229.
        assert!((below as f64 - 3000.0).abs() < 230.0, "{below}");
    }

    #[test]
    fn sticky_point_is_pinned() {
        // The exact value is part of the contract between nodes and releases: if this changes,
        // every sticky key moves to another generation on upgrade.
        assert_eq!(format!("{:.12}", sticky_point("iris_classifier", "customer-42")), "0.331660897710");
    }
}
