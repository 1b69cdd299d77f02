use hdrhistogram::Histogram;
use rand::{Rng, SeedableRng, rngs::StdRng};

use super::*;

fn histogram(values: &[(u64, u64)]) -> Histogram<u64> {
    let mut h = crate::monitor::histogram();
    for &(value, count) in values {
        h.record_n(value, count).expect("in range");
    }
    h
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

/// Pinned against statsmodels 0.14: `test_proportions_2indep(c1, n1, c2, n2, value=Δ,
/// method="wald", compare="diff", alternative="larger")`.
#[test]
fn error_rate_test_matches_statsmodels() {
    for ((ec, nc, eb, nb, delta), (z, p)) in [
        ((15, 300, 20, 2700, 0.005), (2.962191665943565, 0.0015272878713362928)),
        ((30, 500, 10, 1000, 0.01), (3.6110849893523684, 0.0001524593557266481)),
        ((4, 1000, 5, 1000, 0.0), (-0.33409519661592046, 0.6308461377103809)),
    ] {
        let (got_z, got_p) = error_rate_test((ec, nc), (eb, nb), delta);
        assert!(close(got_z, z, 1e-9) && close(got_p, p, 1e-9), "{ec}/{nc} vs {eb}/{nb}: {got_z} {got_p}");
    }
    // No variance on either side: the difference decides alone.
    assert_eq!(error_rate_test((0, 500), (0, 500), 0.0).1, 1.0);
    assert_eq!(error_rate_test((500, 500), (0, 500), 0.1).1, 0.0);
}

/// The exact bootstrap on hand-checkable histograms, pinned against scipy's binomial CDF.
#[test]
fn p99_bootstrap_is_exact_on_small_cases() {
    // Baseline: 97 × 1 ms, 3 × 2 ms; canary: 196 × 1 ms, 4 × 5 ms.
    let baseline = histogram(&[(1000, 97), (2000, 3)]);
    let canary = histogram(&[(1000, 196), (5000, 4)]);
    // With no margin the canary's resampled p99 must stay at 1 ms whatever the baseline's:
    // binom.cdf(2, 200, 0.02).
    let p = p99_bootstrap_p(&canary, &baseline, 1.0);
    assert!(close(p, 0.23514813577270552, 1e-9), "{p}");
    // A 2.6× margin forgives the canary's 5 ms whenever the baseline's p99 resamples to 2 ms:
    // F·G + (1 − F) with F = binom.cdf(1, 100, 0.03), G = binom.cdf(2, 200, 0.02).
    let p = p99_bootstrap_p(&canary, &baseline, 2.6);
    assert!(close(p, 0.8511429086477774, 1e-9), "{p}");
    // A one-valued baseline and the example: binom.cdf(1, 100, 0.02).
    let p = p99_bootstrap_p(&histogram(&[(1000, 98), (5000, 2)]), &histogram(&[(1000, 100)]), 1.0);
    assert!(close(p, 0.40327171078200386, 1e-9), "{p}");
    // Nothing to compare: no evidence against the canary.
    assert_eq!(p99_bootstrap_p(&crate::monitor::histogram(), &baseline, 1.0), 1.0);
}

/// The exact computation agrees with a plain Monte Carlo bootstrap (resample both sides,
/// count the resamples whose p99 ratio stays within the margin) on skewed latencies.
#[test]
fn p99_bootstrap_agrees_with_monte_carlo_resampling() {
    let mut rng = StdRng::seed_from_u64(7);
    let draw = |rng: &mut StdRng, n: usize, scale: f64| -> Vec<u64> {
        (0..n).map(|_| (scale * (1.0 + 4.0 * rng.random::<f64>().powi(8))) as u64).collect()
    };
    let c_values = draw(&mut rng, 400, 1150.0);
    let b_values = draw(&mut rng, 900, 1000.0);
    let to_hist = |values: &[u64]| {
        let mut h = crate::monitor::histogram();
        values.iter().for_each(|v| h.record(*v).expect("in range"));
        h
    };
    let (ch, bh) = (to_hist(&c_values), to_hist(&b_values));
    let exact = p99_bootstrap_p(&ch, &bh, 1.1);
    let resampled_p99 = |rng: &mut StdRng, values: &[u64]| {
        let mut r = crate::monitor::histogram();
        for _ in 0..values.len() {
            r.record(values[rng.random_range(0..values.len())]).expect("in range");
        }
        r.value_at_quantile(0.99)
    };
    let rounds = 4000;
    let within = (0..rounds)
        .filter(|_| {
            let c = resampled_p99(&mut rng, &c_values) as f64;
            let b = resampled_p99(&mut rng, &b_values) as f64;
            c <= 1.1 * b
        })
        .count();
    let monte_carlo = within as f64 / rounds as f64;
    // Four thousand rounds: a standard error under 0.008.
    assert!(close(exact, monte_carlo, 0.03), "exact {exact}, Monte Carlo {monte_carlo}");
    assert!(exact > 0.05 && exact < 0.95, "a case where the test is not trivial: {exact}");
}

fn gates() -> ComparativeGates {
    ComparativeGates {
        max_error_rate_increase: Some(0.005),
        max_p99_increase_percent: Some(20.0),
        max_feature_psi: Some(0.2),
        max_disagreement: Some(0.05),
        alpha: 0.05,
    }
}

fn comparison(canary: (u64, u64), baseline: (u64, u64)) -> Comparison {
    let sample = |(requests, errors): (u64, u64), us: u64| Sample {
        requests,
        errors,
        latency: histogram(&[(us, requests - errors)]),
    };
    Comparison {
        canary: sample(canary, 1000),
        baseline: sample(baseline, 1000),
        baseline_serves: true,
        drift: Some(DriftReading {
            feature: "petal_length".into(),
            psi: 0.05,
            baseline_psi: Some(0.04),
            requests: canary.0,
        }),
        compared: canary.0,
        agreed: canary.0,
    }
}

/// Each gate passes, fails or stays inconclusive, and a failure names the gate, both values
/// and the p-value.
#[test]
fn each_gate_passes_fails_or_waits_for_its_sample() {
    let all = |m: &Comparison| evaluate(&gates(), 100, m).iter().map(|c| c.verdict).collect::<Vec<_>>();
    let healthy = comparison((500, 5), (5000, 50));
    assert_eq!(all(&healthy), vec![Verdict::Passed; 4]);

    let mut errors = healthy.clone();
    errors.canary.errors = 30;
    let checks = evaluate(&gates(), 100, &errors);
    assert_eq!(checks[0].verdict, Verdict::Failed);
    let reason = checks[0].reason();
    for part in ["error rate vs baseline failed", "canary 0.0600 (30/500)", "baseline 0.0100 (50/5000)", "p = 0.0000"] {
        assert!(reason.contains(part), "{part} missing from: {reason}");
    }

    let mut slow = healthy.clone();
    slow.canary.latency = histogram(&[(1000, 480), (40_000, 15)]);
    let checks = evaluate(&gates(), 100, &slow);
    assert_eq!(checks[1].verdict, Verdict::Failed, "{:?}", checks[1]);
    // HDR keeps three significant digits: 40 ms is recorded in the bucket up to 40.031 ms.
    assert_eq!((checks[1].canary, checks[1].baseline), (Some(40.031), Some(1.0)));
    assert!(checks[1].reason().contains("canary 40.0 ms vs baseline 1.0 ms"), "{}", checks[1].reason());

    let mut drifted = healthy.clone();
    drifted.drift =
        Some(DriftReading { feature: "sepal_width".into(), psi: 0.9, baseline_psi: Some(0.03), requests: 500 });
    let checks = evaluate(&gates(), 100, &drifted);
    assert_eq!((checks[2].verdict, checks[2].feature.as_deref()), (Verdict::Failed, Some("sepal_width")));
    assert!(checks[2].reason().contains("'sepal_width' PSI 0.900 on the canary (max 0.2), baseline 0.030"));

    let mut disagreeing = healthy.clone();
    disagreeing.agreed = 450;
    assert_eq!(evaluate(&gates(), 100, &disagreeing)[3].verdict, Verdict::Failed);

    // Too few on either side: inconclusive, never passed.
    let few = comparison((500, 5), (60, 0));
    let checks = evaluate(&gates(), 100, &few);
    assert_eq!((checks[0].verdict, checks[1].verdict), (Verdict::Inconclusive, Verdict::Inconclusive));
    assert_eq!(checks[0].detail, "baseline requests 60, below the minimum of 100");
    let mut no_drift = healthy.clone();
    no_drift.drift = None;
    no_drift.compared = 20;
    no_drift.agreed = 20;
    let checks = evaluate(&gates(), 100, &no_drift);
    assert_eq!((checks[2].verdict, checks[3].verdict), (Verdict::Inconclusive, Verdict::Inconclusive));

    // At 100 % no baseline serves: only the PSI gate judges.
    let mut full = healthy;
    full.baseline_serves = false;
    let checks = evaluate(&gates(), 100, &full);
    assert_eq!(checks.iter().map(|c| c.gate).collect::<Vec<_>>(), vec![ComparativeGate::FeaturePsi]);
}

#[test]
fn unusable_settings_are_refused_with_the_fix() {
    assert_eq!(gates().problem(), None);
    let none = ComparativeGates {
        max_error_rate_increase: None,
        max_p99_increase_percent: None,
        max_feature_psi: None,
        max_disagreement: None,
        alpha: 0.05,
    };
    assert!(none.problem().is_some_and(|p| p.contains("set at least one")));
    for (bad, words) in [
        (ComparativeGates { max_error_rate_increase: Some(2.0), ..gates() }, "shares in [0, 1]"),
        (ComparativeGates { max_p99_increase_percent: Some(-1.0), ..gates() }, "non-negative percentage"),
        (ComparativeGates { max_feature_psi: Some(0.0), ..gates() }, "positive PSI"),
        (ComparativeGates { alpha: 0.0, ..gates() }, "significance level"),
    ] {
        assert!(bad.problem().is_some_and(|p| p.contains(words)), "{bad:?}");
    }
}

mod calibration;
