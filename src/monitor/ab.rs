//! A/B results from feedback outcomes: per generation n, mean and 95% interval; against the
//! baseline generation, the difference and its p-value (two-proportion z-test when every
//! outcome is 0/1, Welch's t-test otherwise), or "not enough data".

use serde::{Deserialize, Serialize};

use super::stats::{Z_975, normal_two_sided_p, t_critical, t_two_sided_p};

/// Each generation needs this many outcomes before any comparison is made.
pub const MIN_OUTCOMES: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeKind {
    Binary,
    Numeric,
}

/// The test behind a comparison; in JSON `two_proportion_z` or `welch_t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AbTest {
    /// Two-proportion z-test: every outcome is 0 or 1.
    TwoProportionZ,
    /// Welch's t-test: numeric outcomes.
    WelchT,
}

impl AbTest {
    /// The name in JSON, CSV and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            AbTest::TwoProportionZ => "two_proportion_z",
            AbTest::WelchT => "welch_t",
        }
    }
}

impl std::fmt::Display for AbTest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AbGroup {
    pub generation: String,
    pub n: usize,
    pub mean: Option<f64>,
    /// 95% interval of the mean (Wilson score for proportions, Student t for numeric means).
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AbComparison {
    pub generation: String,
    pub baseline: String,
    /// mean(generation) − mean(baseline).
    pub difference: f64,
    pub test: AbTest,
    pub statistic: f64,
    pub p_value: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AbReport {
    pub service: String,
    pub kind: Option<OutcomeKind>,
    pub groups: Vec<AbGroup>,
    pub comparisons: Vec<AbComparison>,
    /// Why no comparison is made, in a sentence; None when `comparisons` is filled.
    pub not_enough_data: Option<String>,
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// Sample variance (n − 1).
fn variance(v: &[f64]) -> f64 {
    let m = mean(v);
    v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() as f64 - 1.0)
}

fn group(generation: &str, v: &[f64], kind: OutcomeKind) -> AbGroup {
    let n = v.len();
    let (m, bounds) = match (n, kind) {
        (0, _) => (None, None),
        (1, _) => (Some(v[0]), None),
        (_, OutcomeKind::Binary) => (Some(mean(v)), Some(wilson(mean(v), n as f64))),
        (_, OutcomeKind::Numeric) => {
            let (m, se) = (mean(v), (variance(v) / n as f64).sqrt());
            let half = t_critical(0.05, n as f64 - 1.0) * se;
            (Some(m), Some((m - half, m + half)))
        }
    };
    AbGroup { generation: generation.to_owned(), n, mean: m, ci_low: bounds.map(|b| b.0), ci_high: bounds.map(|b| b.1) }
}

/// The 95 % Wilson score interval of a proportion `p` observed in `n` trials. Unlike the
/// Wald interval it stays inside [0, 1] and does not collapse to a point when every outcome
/// is the same.
pub(crate) fn wilson(p: f64, n: f64) -> (f64, f64) {
    let z2 = Z_975 * Z_975;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = Z_975 / (1.0 + z2 / n) * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

fn compare(generation: &str, a: &[f64], baseline: &str, b: &[f64], kind: OutcomeKind) -> AbComparison {
    let (na, nb) = (a.len() as f64, b.len() as f64);
    let difference = mean(a) - mean(b);
    let (test, statistic, p_value) = match kind {
        OutcomeKind::Binary => {
            let pooled = (a.iter().sum::<f64>() + b.iter().sum::<f64>()) / (na + nb);
            let se = (pooled * (1.0 - pooled) * (1.0 / na + 1.0 / nb)).sqrt();
            let z = if se > 0.0 { difference / se } else { 0.0 };
            (AbTest::TwoProportionZ, z, normal_two_sided_p(z))
        }
        OutcomeKind::Numeric => {
            let (va, vb) = (variance(a) / na, variance(b) / nb);
            let se = (va + vb).sqrt();
            if se > 0.0 {
                let t = difference / se;
                let df = (va + vb).powi(2) / (va * va / (na - 1.0) + vb * vb / (nb - 1.0));
                (AbTest::WelchT, t, t_two_sided_p(t, df))
            } else {
                (AbTest::WelchT, 0.0, if difference == 0.0 { 1.0 } else { 0.0 })
            }
        }
    };
    AbComparison {
        generation: generation.to_owned(),
        baseline: baseline.to_owned(),
        difference,
        test,
        statistic,
        p_value,
    }
}

/// Analyses outcomes per generation (in the order given; the first is the baseline unless
/// `baseline` names another).
pub fn analyse(service: &str, outcomes: &[(String, Vec<f64>)], baseline: Option<&str>) -> AbReport {
    let all_binary = outcomes.iter().all(|(_, v)| v.iter().all(|x| *x == 0.0 || *x == 1.0));
    let any = outcomes.iter().any(|(_, v)| !v.is_empty());
    let kind = if !any {
        None
    } else if all_binary {
        Some(OutcomeKind::Binary)
    } else {
        Some(OutcomeKind::Numeric)
    };
    let groups: Vec<AbGroup> =
        outcomes.iter().map(|(g, v)| group(g, v, kind.unwrap_or(OutcomeKind::Numeric))).collect();
    let short: Vec<String> =
        outcomes.iter().filter(|(_, v)| v.len() < MIN_OUTCOMES).map(|(g, v)| format!("{g} has {}", v.len())).collect();
    let not_enough_data = if outcomes.len() < 2 {
        Some("not enough data: an A/B comparison needs at least two generations with feedback".to_owned())
    } else if !short.is_empty() {
        Some(format!("not enough data: each generation needs at least {MIN_OUTCOMES} outcomes ({})", short.join(", ")))
    } else {
        None
    };
    let mut comparisons = Vec::new();
    if let (None, Some(kind)) = (&not_enough_data, kind) {
        let base = baseline.and_then(|b| outcomes.iter().find(|(g, _)| g == b)).unwrap_or(&outcomes[0]);
        for (g, v) in outcomes.iter().filter(|(g, _)| *g != base.0) {
            comparisons.push(compare(g, v, &base.0, &base.1, kind));
        }
    }
    AbReport { service: service.to_owned(), kind, groups, comparisons, not_enough_data }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Case {
        name: String,
        groups: Vec<(String, Vec<f64>)>,
        expected_groups: Vec<ExpectedGroup>,
        expected_comparisons: Vec<ExpectedComparison>,
    }
    #[derive(Deserialize)]
    struct ExpectedGroup {
        mean: f64,
        ci_low: f64,
        ci_high: f64,
    }
    #[derive(Deserialize)]
    struct ExpectedComparison {
        generation: String,
        difference: f64,
        statistic: f64,
        p_value: f64,
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-6
    }

    /// Reference values computed once with scipy.stats (fixtures/ab_reference.py).
    #[test]
    fn agrees_with_scipy() {
        let cases: Vec<Case> =
            serde_json::from_str(include_str!("../../fixtures/ab_reference.json")).expect("reference table parses");
        assert!(cases.len() >= 4);
        for case in cases {
            let report = analyse("s", &case.groups, None);
            assert!(report.not_enough_data.is_none(), "{}", case.name);
            for (got, want) in report.groups.iter().zip(&case.expected_groups) {
                let (m, lo, hi) = (got.mean.expect("mean"), got.ci_low.expect("lo"), got.ci_high.expect("hi"));
                assert!(
                    close(m, want.mean) && close(lo, want.ci_low) && close(hi, want.ci_high),
                    "{}: {got:?}",
                    case.name
                );
            }
            assert_eq!(report.comparisons.len(), case.expected_comparisons.len());
            for (got, want) in report.comparisons.iter().zip(&case.expected_comparisons) {
                assert_eq!(got.generation, want.generation);
                assert!(
                    close(got.difference, want.difference),
                    "{}: diff {} vs {}",
                    case.name,
                    got.difference,
                    want.difference
                );
                assert!(
                    close(got.statistic, want.statistic),
                    "{}: stat {} vs {}",
                    case.name,
                    got.statistic,
                    want.statistic
                );
                assert!(close(got.p_value, want.p_value), "{}: p {} vs {}", case.name, got.p_value, want.p_value);
            }
        }
    }

    /// The JSON names of the tests are those the API always had (the UI and clients read them).
    #[test]
    fn tests_keep_their_json_names() {
        for (test, name) in [(AbTest::TwoProportionZ, "two_proportion_z"), (AbTest::WelchT, "welch_t")] {
            assert_eq!(serde_json::to_value(test).expect("json"), serde_json::json!(name));
            assert_eq!(serde_json::from_value::<AbTest>(serde_json::json!(name)).expect("read"), test);
            assert_eq!((test.as_str(), test.to_string()), (name, name.to_owned()));
        }
        let binary = analyse("s", &[("v1".into(), [0.0, 1.0].repeat(6)), ("v2".into(), vec![1.0; 12])], None);
        assert_eq!(binary.comparisons[0].test, AbTest::TwoProportionZ);
        let numeric = analyse("s", &[("v1".into(), [0.5, 2.0].repeat(6)), ("v2".into(), vec![1.5; 12])], None);
        assert_eq!(numeric.comparisons[0].test, AbTest::WelchT);
        let json = serde_json::to_value(&numeric.comparisons[0]).expect("json");
        assert_eq!(json["test"], "welch_t");
    }

    #[test]
    fn not_enough_data_is_said_plainly() {
        let r = analyse("s", &[("v1".into(), vec![1.0; 12]), ("v2".into(), vec![0.0, 1.0])], None);
        assert_eq!(
            r.not_enough_data.as_deref(),
            Some("not enough data: each generation needs at least 10 outcomes (v2 has 2)")
        );
        assert!(r.comparisons.is_empty());
        assert_eq!(r.kind, Some(OutcomeKind::Binary));
        let r = analyse("s", &[("v1".into(), vec![])], None);
        assert_eq!(r.kind, None);
        assert!(r.not_enough_data.is_some());
    }
}
