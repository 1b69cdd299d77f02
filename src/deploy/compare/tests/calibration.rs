//! Calibration of the comparative gates (issue: drift and comparative canary analysis): 200
//! simulated canaries per case, each run through the canary plan's steps by the controller's
//! own pure parts ([`compare::evaluate`] then [`canary::judge`]), on seeded synthetic traffic,
//! with time read from a [`ManualClock`] advanced one controller tick (one second) at a time.
//!
//! - **False alarms**: canary and baseline are the same model on the same traffic; at most
//!   5 % of the canaries may end in a rollback.
//! - **Power**: +30 ms on the canary's latency, +2 percentage points of canary errors, or one
//!   feature's mean shifted by 1σ on the canary's traffic; at least 95 % must roll back, and
//!   the 95th percentile of the canary requests served before the rollback is reported.
//!
//! The numbers and the procedure are in `bench/RESULTS.md` ("Canary calibration"); run
//! `cargo test --lib calibration -- --nocapture` to print them.

use chrono::{DateTime, Duration, Utc};
use rand::{Rng, SeedableRng, rngs::StdRng};
use statrs::distribution::{ContinuousCDF, Normal};

use crate::clock::{Clock, ManualClock};
use crate::deploy::canary::{self, CanaryPlan, Decision, Gates, InconclusivePolicy, Measured};
use crate::deploy::compare::{self, ComparativeGates, Comparison, DriftReading, Sample};
use crate::drift::stats;
use crate::names::VersionId;

const RUNS: usize = 200;
/// Simulated traffic: requests per second across canary and baseline.
const RATE: usize = 200;
const FEATURES: usize = 2;
const REFERENCE_ROWS: usize = 2000;
/// Baseline latency: lognormal, median 5 ms, σ 0.5 (p99 about 16 ms).
const MEDIAN_US: f64 = 5000.0;
const SIGMA: f64 = 0.5;
const BASE_ERROR_RATE: f64 = 0.01;

#[derive(Clone, Copy, Debug)]
enum Case {
    SameModel,
    SlowerBy30ms,
    TwoPointsMoreErrors,
    FeatureShiftedOneSigma,
}

fn plan() -> CanaryPlan {
    CanaryPlan {
        version: VersionId::parse("v2").expect("id"),
        steps: vec![5.0, 25.0, 50.0, 100.0],
        bake_seconds: 60.0,
        // The absolute gates are set out of the way: the comparative ones are calibrated.
        gates: Gates {
            max_error_rate: 0.5,
            max_p99_ms: 10_000.0,
            min_requests: 1000,
            comparative: Some(ComparativeGates {
                max_error_rate_increase: Some(0.005),
                max_p99_increase_percent: Some(20.0),
                max_feature_psi: Some(0.2),
                max_disagreement: None,
                alpha: 0.05,
            }),
        },
        inconclusive_timeout_seconds: 3600.0,
        on_inconclusive: InconclusivePolicy::Pause,
    }
}

/// One side's traffic in the current step.
struct Side {
    requests: u64,
    errors: u64,
    latency: hdrhistogram::Histogram<u64>,
    features: Vec<Vec<u64>>,
}

impl Side {
    fn new(reference: &[(Vec<f64>, Vec<u64>)]) -> Side {
        Side {
            requests: 0,
            errors: 0,
            latency: crate::monitor::histogram(),
            features: reference.iter().map(|(cuts, _)| vec![0; cuts.len() + 1]).collect(),
        }
    }

    fn sample(&self) -> Sample {
        Sample { requests: self.requests, errors: self.errors, latency: self.latency.clone() }
    }
}

struct Traffic {
    rng: StdRng,
    normal: Normal,
}

impl Traffic {
    fn z(&mut self) -> f64 {
        // Inverse-transform sampling through statrs' quantile function.
        let u: f64 = self.rng.random_range(f64::EPSILON..1.0);
        self.normal.inverse_cdf(u)
    }

    fn request(&mut self, side: &mut Side, canary: bool, case: Case, reference: &[(Vec<f64>, Vec<u64>)]) {
        side.requests += 1;
        let error_rate = match (canary, case) {
            (true, Case::TwoPointsMoreErrors) => BASE_ERROR_RATE + 0.02,
            _ => BASE_ERROR_RATE,
        };
        if self.rng.random::<f64>() < error_rate {
            side.errors += 1;
        } else {
            let mut us = MEDIAN_US * (SIGMA * self.z()).exp();
            if canary && matches!(case, Case::SlowerBy30ms) {
                us += 30_000.0;
            }
            let _ = side.latency.record(us.max(1.0) as u64);
        }
        if canary {
            for (i, (cuts, _)) in reference.iter().enumerate() {
                let shift = if i == 0 && matches!(case, Case::FeatureShiftedOneSigma) { 1.0 } else { 0.0 };
                let x = self.z() + shift;
                side.features[i][stats::bin_of(cuts, x)] += 1;
            }
        }
    }
}

/// How one simulated canary ended: rolled back or not, and the canary requests it served.
fn run_one(case: Case, seed: u64, start: DateTime<Utc>) -> (bool, u64) {
    let mut traffic = Traffic { rng: StdRng::seed_from_u64(seed), normal: Normal::standard() };
    // The canary version's reference: FEATURES standard normal features.
    let reference: Vec<(Vec<f64>, Vec<u64>)> = (0..FEATURES)
        .map(|_| {
            let values: Vec<f64> = (0..REFERENCE_ROWS).map(|_| traffic.z()).collect();
            let cuts = stats::cuts(&values);
            let counts = stats::counts(&cuts, &values);
            (cuts, counts)
        })
        .collect();
    let plan = plan();
    let gates = plan.gates.comparative.clone().expect("comparative gates");
    let clock = ManualClock::new(start);
    let mut served = 0;
    for step in 0..plan.steps.len() {
        let share = plan.steps[step] / 100.0;
        let step_started = clock.now();
        let (mut canary, mut baseline) = (Side::new(&reference), Side::new(&reference));
        loop {
            for _ in 0..RATE {
                if traffic.rng.random::<f64>() < share {
                    traffic.request(&mut canary, true, case, &reference);
                    served += 1;
                } else {
                    traffic.request(&mut baseline, false, case, &reference);
                }
            }
            clock.set(clock.now() + Duration::seconds(1));
            let elapsed = (clock.now() - step_started).as_seconds_f64();
            let measured = Measured {
                requests: canary.requests,
                errors: canary.errors,
                p99_ms: canary.latency.value_at_quantile(0.99) as f64 / 1000.0,
            };
            // The controller evaluates at every tick (the console shows the readings while a
            // step bakes); `judge` looks at them only past the bake time with the minimum
            // sample, so the simulation skips the rest (4× faster).
            let ready = elapsed >= plan.bake_seconds && canary.requests >= plan.gates.min_requests;
            let checks = if ready {
                let (feature, psi) = reference
                    .iter()
                    .zip(&canary.features)
                    .enumerate()
                    .filter_map(|(i, ((_, expected), live))| stats::psi(expected, live).map(|p| (i, p)))
                    .max_by(|a, b| a.1.total_cmp(&b.1))
                    .expect("psi");
                let comparison = Comparison {
                    canary: canary.sample(),
                    baseline: baseline.sample(),
                    baseline_serves: share < 1.0,
                    drift: Some(DriftReading {
                        feature: format!("x{feature}"),
                        psi,
                        baseline_psi: None,
                        requests: canary.requests,
                    }),
                    compared: 0,
                    agreed: 0,
                };
                compare::evaluate(&gates, plan.gates.min_requests, &comparison)
            } else {
                Vec::new()
            };
            match canary::judge(&plan, step, &measured, &checks, elapsed) {
                Decision::Bake | Decision::Wait => continue,
                Decision::Advance { .. } => break,
                Decision::Promote { .. } => return (false, served),
                Decision::RollBack { .. } => return (true, served),
                Decision::GiveUp { why, .. } => panic!("a simulated canary never runs out of traffic: {why}"),
            }
        }
    }
    (false, served)
}

/// Rollbacks out of [`RUNS`], and the 95th percentile of canary requests served before a
/// rollback (0 without any).
fn calibrate(case: Case, seed: u64) -> (usize, u64) {
    let start = DateTime::from_timestamp(1_800_000_000, 0).expect("time");
    let mut served: Vec<u64> = Vec::new();
    for run in 0..RUNS {
        let (rolled_back, n) = run_one(case, seed * 1_000_003 + run as u64, start);
        if rolled_back {
            served.push(n);
        }
    }
    served.sort_unstable();
    let p95 = served.get((served.len() * 95).div_ceil(100).saturating_sub(1)).copied().unwrap_or(0);
    println!("calibration {case:?}: {} of {RUNS} rolled back; p95 canary requests before rollback {p95}", served.len());
    (served.len(), p95)
}

#[test]
fn same_model_canaries_rarely_roll_back() {
    let (rollbacks, _) = calibrate(Case::SameModel, 1);
    assert!(rollbacks * 100 <= RUNS * 5, "false alarms: {rollbacks} of {RUNS}");
}

#[test]
fn a_worse_canary_is_rolled_back_in_95_percent_of_runs() {
    for (case, seed, within) in [
        (Case::SlowerBy30ms, 2, 1_100),
        (Case::TwoPointsMoreErrors, 3, 4_100),
        (Case::FeatureShiftedOneSigma, 4, 1_100),
    ] {
        let (rollbacks, p95) = calibrate(case, seed);
        assert!(rollbacks * 100 >= RUNS * 95, "{case:?}: {rollbacks} of {RUNS} rolled back");
        assert!(p95 <= within, "{case:?}: 95 % of rollbacks within {within} canary requests, got {p95}");
    }
}
