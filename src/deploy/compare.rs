//! Comparative gates: the canary judged against the baseline generations serving at the same
//! moment, not only against fixed thresholds (DESIGN: gate).
//!
//! - **Error rate**: a one-sided two-proportion Wald test of H0 "canary − baseline ≤ Δ"
//!   (unpooled variance, as statsmodels' `test_proportions_2indep(method="wald",
//!   compare="diff", alternative="larger", value=Δ)`); the gate fails when p < α.
//! - **p99 latency**: a bootstrap of H0 "canary p99 ≤ (1 + r) × baseline p99" on the merged HDR
//!   histograms, computed exactly instead of by Monte Carlo: a resample's count above any
//!   value x is Binomial(n, share above x), so the distribution of a resample's p99 is a
//!   binomial CDF at every recorded value, and the p-value (the bootstrap probability that the
//!   canary's p99 stays within the margin) sums over the baseline's distinct values. Chosen
//!   over Mann–Whitney because that test compares whole distributions (a median shift) and
//!   misses a tail regression, which is what a p99 gate exists to catch; and because the
//!   histograms already exist, merged across nodes, with no latencies to sample or store.
//! - **Feature PSI**: the largest PSI of any feature on the canary's traffic against the
//!   canary version's uploaded reference, naming the feature (the baseline's PSI of the same
//!   feature is shown beside it).
//! - **Disagreement**: how often the canary, mirrored as the shadow of the live traffic,
//!   answers differently from the live answer.
//!
//! Every gate keeps the minimum-sample rule: below `min_requests` on either side it is
//! *inconclusive*, not passed. Error rate and p99 have no baseline at a 100 % step, so they
//! judge only the steps where a baseline still serves.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use statrs::distribution::{Binomial, ContinuousCDF, DiscreteCDF, Normal};

use super::canary::Verdict;

fn default_alpha() -> f64 {
    0.05
}

/// The comparative gates of a canary plan; each is off unless set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ComparativeGates {
    /// Fail when the canary's error rate is above the baseline's by more than this (a share:
    /// 0.005 is half a percentage point), by a one-sided test at level `alpha`.
    #[serde(default)]
    pub max_error_rate_increase: Option<f64>,
    /// Fail when the canary's p99 latency is above the baseline's by more than this many
    /// percent, by a bootstrap of the latency histograms at level `alpha`.
    #[serde(default)]
    pub max_p99_increase_percent: Option<f64>,
    /// Fail when any feature's PSI on the canary's traffic (against the canary version's
    /// reference) is above this.
    #[serde(default)]
    pub max_feature_psi: Option<f64>,
    /// Fail when the canary, as the shadow of the live traffic, disagrees with the live answer
    /// on more than this share of the compared requests.
    #[serde(default)]
    pub max_disagreement: Option<f64>,
    /// Significance level of the error-rate and latency tests.
    #[serde(default = "default_alpha")]
    pub alpha: f64,
}

impl ComparativeGates {
    /// Why the gates cannot be used as given, if they cannot.
    pub fn problem(&self) -> Option<String> {
        let set =
            [self.max_error_rate_increase, self.max_p99_increase_percent, self.max_feature_psi, self.max_disagreement];
        if set.iter().all(Option::is_none) {
            return Some("comparative gates: set at least one of max_error_rate_increase, max_p99_increase_percent, max_feature_psi, max_disagreement".into());
        }
        let share = |v: Option<f64>| v.is_none_or(|v| (0.0..=1.0).contains(&v));
        if !share(self.max_error_rate_increase) || !share(self.max_disagreement) {
            return Some("comparative gates: max_error_rate_increase and max_disagreement are shares in [0, 1] (0.005 is half a point)".into());
        }
        if self.max_p99_increase_percent.is_some_and(|r| !r.is_finite() || r < 0.0) {
            return Some(
                "comparative gates: max_p99_increase_percent is a non-negative percentage (20 allows 20 % slower)"
                    .into(),
            );
        }
        if self.max_feature_psi.is_some_and(|p| !p.is_finite() || p <= 0.0) {
            return Some("comparative gates: max_feature_psi is a positive PSI (0.2 is a common limit)".into());
        }
        if !(self.alpha > 0.0 && self.alpha <= 0.5) {
            return Some("comparative gates: alpha is a significance level in (0, 0.5], e.g. 0.05".into());
        }
        None
    }
}

/// What one side (canary or baseline) served in the window: requests that reached a model,
/// the failed ones, and the latency of the successful ones (µs).
#[derive(Debug, Clone)]
pub struct Sample {
    pub requests: u64,
    pub errors: u64,
    pub latency: Histogram<u64>,
}

/// The canary's most drifting feature in the window.
#[derive(Debug, Clone, PartialEq)]
pub struct DriftReading {
    pub feature: String,
    pub psi: f64,
    /// The same feature's PSI on the baseline's traffic, where it is measured.
    pub baseline_psi: Option<f64>,
    /// Canary requests the drift counted.
    pub requests: u64,
}

/// Everything the comparative gates judge, over one window.
#[derive(Debug, Clone)]
pub struct Comparison {
    pub canary: Sample,
    pub baseline: Sample,
    /// False at a 100 % step: no baseline serves, error rate and p99 are not compared.
    pub baseline_serves: bool,
    /// None when the canary's traffic was not measured against an uploaded reference.
    pub drift: Option<DriftReading>,
    /// The canary as shadow: requests compared with the live answer, and those that agreed.
    pub compared: u64,
    pub agreed: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ComparativeGate {
    ErrorRate,
    P99Latency,
    FeaturePsi,
    Disagreement,
}

impl ComparativeGate {
    pub fn label(self) -> &'static str {
        match self {
            ComparativeGate::ErrorRate => "error rate vs baseline",
            ComparativeGate::P99Latency => "p99 latency vs baseline",
            ComparativeGate::FeaturePsi => "feature PSI",
            ComparativeGate::Disagreement => "shadow disagreement",
        }
    }
}

/// One comparative gate's reading: the measured value, the baseline's, the limit, and the
/// test's p-value where there is a test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GateCheck {
    pub gate: ComparativeGate,
    /// `passed`, `failed` or `inconclusive` (too few samples on a side).
    pub verdict: Verdict,
    /// The canary's value: a share, milliseconds (p99) or a PSI.
    pub canary: Option<f64>,
    pub baseline: Option<f64>,
    /// The gate's setting: Δ, r %, PSI or a share.
    pub limit: f64,
    pub p_value: Option<f64>,
    /// The feature the PSI gate names.
    #[serde(default)]
    pub feature: Option<String>,
    /// What the verdict rests on, in words.
    pub detail: String,
}

impl GateCheck {
    /// A gate's reading before anything decided it: inconclusive, nothing measured.
    fn undecided(gate: ComparativeGate, limit: f64) -> GateCheck {
        GateCheck {
            gate,
            verdict: Verdict::Inconclusive,
            canary: None,
            baseline: None,
            limit,
            p_value: None,
            feature: None,
            detail: String::new(),
        }
    }

    /// A failed gate's rollback reason: the gate, the measured value, the baseline value and
    /// the p-value.
    pub fn reason(&self) -> String {
        format!("{} failed: {}", self.gate.label(), self.detail)
    }
}

/// One-sided two-proportion Wald test of H0 `p_canary − p_baseline ≤ delta` against "more
/// than delta": (z, p-value).
pub fn error_rate_test(canary: (u64, u64), baseline: (u64, u64), delta: f64) -> (f64, f64) {
    let (ec, nc) = canary;
    let (eb, nb) = baseline;
    let pc = ec as f64 / nc as f64;
    let pb = eb as f64 / nb as f64;
    let diff = pc - pb - delta;
    let se = (pc * (1.0 - pc) / nc as f64 + pb * (1.0 - pb) / nb as f64).sqrt();
    if se == 0.0 {
        // No variance on either side: the difference is exact.
        return if diff > 0.0 { (f64::INFINITY, 0.0) } else { (f64::NEG_INFINITY, 1.0) };
    }
    let z = diff / se;
    (z, Normal::standard().sf(z))
}

/// A histogram's distinct recorded values, ascending, with their counts.
fn recorded(h: &Histogram<u64>) -> Vec<(u64, u64)> {
    h.iter_recorded().map(|v| (h.highest_equivalent(v.value_iterated_to()), v.count_at_value())).collect()
}

/// The p99 of `n` values as [`Histogram::value_at_quantile`] reads it: the smallest value
/// with at least ⌈0.99 n⌉ values at or below it. The most values a sample may have above x
/// with its p99 still at or below x.
fn tail_allowance(n: u64) -> u64 {
    n - (n as f64 * 0.99).ceil() as u64
}

/// P(the p99 of a resample of n values is ≤ x), where `above` of the n values exceed x.
fn resample_p99_at_most(n: u64, above: u64) -> f64 {
    if above == 0 {
        return 1.0;
    }
    let k = tail_allowance(n);
    match Binomial::new(above as f64 / n as f64, n) {
        Ok(b) => b.cdf(k),
        Err(_) => 0.0,
    }
}

/// The bootstrap p-value of H0 `p99(canary) ≤ factor × p99(baseline)`: the probability,
/// over independent resamples of both histograms, that the canary's resampled p99 is within
/// `factor` of the baseline's. Computed exactly (see the module's notes).
pub fn p99_bootstrap_p(canary: &Histogram<u64>, baseline: &Histogram<u64>, factor: f64) -> f64 {
    let (nc, nb) = (canary.len(), baseline.len());
    if nc == 0 || nb == 0 {
        return 1.0;
    }
    let c = recorded(canary);
    let b = recorded(baseline);
    // Canary values above x, for any x: nc minus those at or below it.
    let mut c_cum = Vec::with_capacity(c.len());
    let mut sum = 0;
    for &(_, count) in &c {
        sum += count;
        c_cum.push(sum);
    }
    let c_above = |x: f64| {
        let at_or_below = c.partition_point(|&(v, _)| (v as f64) <= x);
        nc - if at_or_below == 0 { 0 } else { c_cum[at_or_below - 1] }
    };
    let mut p = 0.0;
    let mut below = 0; // baseline values at or below the current one
    let mut previous_cdf = 0.0;
    for &(value, count) in &b {
        below += count;
        let cdf = resample_p99_at_most(nb, nb - below);
        let mass = cdf - previous_cdf;
        previous_cdf = cdf;
        if mass > 1e-15 {
            p += mass * resample_p99_at_most(nc, c_above(factor * value as f64));
        }
        if cdf >= 1.0 {
            break;
        }
    }
    p.clamp(0.0, 1.0)
}

fn p99_ms(h: &Histogram<u64>) -> Option<f64> {
    (!h.is_empty()).then(|| h.value_at_quantile(0.99) as f64 / 1000.0)
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 { 0.0 } else { part as f64 / whole as f64 }
}

/// Every set gate's reading over the window, in a fixed order.
pub fn evaluate(gates: &ComparativeGates, min_requests: u64, m: &Comparison) -> Vec<GateCheck> {
    let alpha = gates.alpha;
    let mut checks = Vec::new();
    let (c, b) = (&m.canary, &m.baseline);
    let too_few = |what: &str, n: u64| format!("{what} {n}, below the minimum of {min_requests}");
    // The sides below the minimum, named.
    let short = |sides: [(&str, u64); 2]| {
        sides
            .iter()
            .filter(|(_, n)| *n < min_requests)
            .map(|(what, n)| too_few(what, *n))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let judged = |p: f64| if p < alpha { Verdict::Failed } else { Verdict::Passed };
    if let Some(delta) = gates.max_error_rate_increase
        && m.baseline_serves
    {
        let (rc, rb) = (ratio(c.errors, c.requests), ratio(b.errors, b.requests));
        let mut check = GateCheck {
            canary: Some(rc),
            baseline: Some(rb),
            ..GateCheck::undecided(ComparativeGate::ErrorRate, delta)
        };
        if c.requests < min_requests || b.requests < min_requests {
            check.detail = short([("canary requests", c.requests), ("baseline requests", b.requests)]);
        } else {
            let (_, p) = error_rate_test((c.errors, c.requests), (b.errors, b.requests), delta);
            check.verdict = judged(p);
            check.p_value = Some(p);
            check.detail = format!(
                "canary {rc:.4} ({}/{}) vs baseline {rb:.4} ({}/{}), allowed +{delta}; p = {p:.4} (α {alpha})",
                c.errors, c.requests, b.errors, b.requests
            );
        }
        checks.push(check);
    }
    if let Some(r) = gates.max_p99_increase_percent
        && m.baseline_serves
    {
        let (pc, pb) = (p99_ms(&c.latency), p99_ms(&b.latency));
        let mut check = GateCheck { canary: pc, baseline: pb, ..GateCheck::undecided(ComparativeGate::P99Latency, r) };
        let (lc, lb) = (c.latency.len(), b.latency.len());
        if lc < min_requests || lb < min_requests {
            check.detail = short([("successful canary requests", lc), ("successful baseline requests", lb)]);
        } else {
            let p = p99_bootstrap_p(&c.latency, &b.latency, 1.0 + r / 100.0);
            check.verdict = judged(p);
            check.p_value = Some(p);
            check.detail = format!(
                "canary {:.1} ms vs baseline {:.1} ms, allowed +{r}%; p = {p:.4} (α {alpha}) over {lc} / {lb} requests",
                pc.unwrap_or(0.0),
                pb.unwrap_or(0.0)
            );
        }
        checks.push(check);
    }
    if let Some(limit) = gates.max_feature_psi {
        let mut check = GateCheck {
            detail: "no drift measured on the canary's traffic yet".into(),
            ..GateCheck::undecided(ComparativeGate::FeaturePsi, limit)
        };
        if let Some(d) = &m.drift {
            check.canary = Some(d.psi);
            check.baseline = d.baseline_psi;
            check.feature = Some(d.feature.clone());
            if d.requests < min_requests {
                check.detail = too_few("canary requests binned for drift", d.requests);
            } else {
                check.verdict = if d.psi > limit { Verdict::Failed } else { Verdict::Passed };
                let baseline = d.baseline_psi.map_or("not measured".to_owned(), |p| format!("{p:.3}"));
                check.detail = format!(
                    "'{}' PSI {:.3} on the canary (max {limit}), baseline {baseline}, over {} requests",
                    d.feature, d.psi, d.requests
                );
            }
        }
        checks.push(check);
    }
    if let Some(limit) = gates.max_disagreement
        && m.baseline_serves
    {
        let share = (m.compared > 0).then(|| 1.0 - ratio(m.agreed, m.compared));
        let mut check = GateCheck {
            canary: share,
            detail: too_few("requests compared with the canary as shadow", m.compared),
            ..GateCheck::undecided(ComparativeGate::Disagreement, limit)
        };
        if m.compared >= min_requests {
            let share = share.unwrap_or(0.0);
            check.verdict = if share > limit { Verdict::Failed } else { Verdict::Passed };
            check.detail = format!(
                "disagreed on {} of {} mirrored requests ({share:.4}, max {limit})",
                m.compared - m.agreed,
                m.compared
            );
        }
        checks.push(check);
    }
    checks
}

#[cfg(test)]
mod tests;
