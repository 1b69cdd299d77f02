use chrono::{DateTime, Duration, Utc};
use rand::{Rng, SeedableRng, rngs::StdRng};

use super::stats::MAX_BINS;
use super::*;
use crate::model::{Feature, InputType};

fn schema(output: OutputKind) -> ModelSchema {
    ModelSchema {
        input_name: "x".into(),
        input_type: InputType::Float64,
        features: ["a", "b", "c"].iter().map(|n| Feature { name: (*n).into(), dtype: InputType::Float64 }).collect(),
        output,
    }
}

fn classifier() -> ModelSchema {
    schema(OutputKind::Classifier { classes: vec!["no".into(), "yes".into()] })
}

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-12-07T10:00:05Z").expect("t").with_timezone(&Utc)
}

fn class(label: i64) -> Prediction {
    Prediction::Class { label, class: label.to_string(), probabilities: Vec::new() }
}

/// A standard normal draw (Box–Muller).
fn normal(rng: &mut StdRng) -> f64 {
    let (u, v): (f64, f64) = (rng.random_range(f64::EPSILON..1.0), rng.random());
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

/// Rows of three standard normal features, `b` shifted by `shift`; the class is `a > 0`.
fn rows(rng: &mut StdRng, n: usize, shift: f64) -> Vec<(Vec<f64>, Prediction)> {
    (0..n)
        .map(|_| {
            let row = vec![normal(rng), normal(rng) + shift, normal(rng)];
            let label = i64::from(row[0] > 0.0);
            (row, class(label))
        })
        .collect()
}

fn reference_of(rows: &[(Vec<f64>, Prediction)]) -> Reference {
    let columns: Vec<Vec<f64>> = (0..3).map(|j| rows.iter().map(|(r, _)| r[j]).collect()).collect();
    let predictions: Vec<Prediction> = rows.iter().map(|(_, p)| p.clone()).collect();
    Reference::from_rows(ReferenceSource::Upload, &classifier(), &columns, &predictions).expect("reference")
}

#[test]
fn a_shifted_feature_drifts_and_leads() {
    let mut rng = StdRng::seed_from_u64(19);
    let reference = reference_of(&rows(&mut rng, 2000, 0.0));
    assert_eq!(reference.features[0].counts.len(), MAX_BINS);
    let drift = Drift::new(100);
    let tracker = drift.tracker("s", "v1", &classifier(), Some(reference.clone()));
    for (row, p) in rows(&mut rng, 1500, 1.0) {
        tracker.record(&row, output_value(&p), t0());
    }
    for (row, p) in rows(&mut rng, 500, 0.0) {
        tracker.record(&row, output_value(&p), t0() + Duration::minutes(1));
    }
    let report = drift.report("s", &["v1".into()], 60, t0() + Duration::minutes(2));
    let g = &report.generations[0];
    assert_eq!((g.generation.as_str(), g.requests, g.minutes.len()), ("v1", 2000, 2));
    assert_eq!(g.reference, Some(ReferenceSummary { source: ReferenceSource::Upload, rows: 2000 }));
    let b = &g.features[0];
    assert_eq!(b.feature, "b", "the shifted feature comes first");
    let (psi_b, ks_b) = (b.psi.expect("psi"), b.ks.expect("ks"));
    assert!(psi_b > 0.25 && ks_b > 0.2, "b: PSI {psi_b}, KS {ks_b}");
    assert!(b.psi_by_minute[0].expect("minute 0") > 0.5, "{:?}", b.psi_by_minute);
    assert!(b.psi_by_minute[1].expect("minute 1") < 0.1, "{:?}", b.psi_by_minute);
    for f in &g.features[1..] {
        assert!(f.psi.expect("psi") < 0.05, "{}: {:?}", f.feature, f.psi);
    }
    assert_eq!(b.live.iter().sum::<u64>(), 2000);
    let Some(PredictionDrift::Classifier { reference, live, p_value, .. }) = &g.prediction else {
        panic!("classifier drift")
    };
    assert_eq!(reference.iter().sum::<u64>(), 2000);
    assert_eq!(live.iter().sum::<u64>(), 2000);
    assert!(p_value.expect("p") > 1e-4, "the class depends on a, which did not move: p {p_value:?}");

    let metrics = drift.prometheus(t0() + Duration::minutes(2));
    assert!(metrics.contains("# TYPE switchyard_feature_psi gauge"), "{metrics}");
    let line = metrics
        .lines()
        .find(|l| l.starts_with("switchyard_feature_psi{service=\"s\",generation=\"v1\",feature=\"b\"}"))
        .expect("b's PSI");
    let value: f64 = line.rsplit(' ').next().and_then(|v| v.parse().ok()).expect("value");
    assert!((value - psi_b).abs() < 1e-12, "{line}");
    assert!(drift.prometheus(t0() + Duration::minutes(90)).lines().all(|l| l.starts_with('#')), "no traffic, no PSI");
}

#[test]
fn without_a_reference_the_first_requests_are_the_baseline() {
    let mut rng = StdRng::seed_from_u64(7);
    let drift = Drift::new(300);
    let tracker = drift.tracker("s", "v1", &classifier(), None);
    for (row, p) in rows(&mut rng, 299, 0.0) {
        tracker.record(&row, output_value(&p), t0());
    }
    let report = drift.report("s", &[], 60, t0());
    let g = &report.generations[0];
    assert_eq!(
        (g.reference.clone(), g.baseline.clone()),
        (None, Some(BaselineProgress { collected: 299, target: 300 }))
    );
    assert!(g.features.is_empty());
    let (row, p) = rows(&mut rng, 1, 0.0).remove(0);
    tracker.record(&row, output_value(&p), t0());
    for (row, p) in rows(&mut rng, 400, 2.0) {
        tracker.record(&row, output_value(&p), t0() + Duration::minutes(1));
    }
    let g = drift.report("s", &[], 60, t0() + Duration::minutes(1)).generations.remove(0);
    assert_eq!(g.reference, Some(ReferenceSummary { source: ReferenceSource::Traffic, rows: 300 }));
    assert_eq!(g.requests, 400, "the baseline's requests are not live traffic");
    assert_eq!(g.features[0].feature, "b");
    assert!(g.features[0].psi.expect("psi") > 1.0);
    // A later activation without a reference keeps the baseline; one with a reference does not.
    assert!(Arc::ptr_eq(&tracker, &drift.tracker("s", "v1", &classifier(), None)));
    let uploaded = reference_of(&rows(&mut rng, 100, 0.0));
    let replaced = drift.tracker("s", "v1", &classifier(), Some(uploaded.clone()));
    assert!(!Arc::ptr_eq(&tracker, &replaced));
    assert!(Arc::ptr_eq(&replaced, &drift.tracker("s", "v1", &classifier(), Some(uploaded))));
}

#[test]
fn regressors_get_a_value_histogram() {
    let mut rng = StdRng::seed_from_u64(3);
    let schema = schema(OutputKind::Regressor);
    let sample: Vec<Vec<f64>> = (0..500).map(|_| (0..3).map(|_| rng.random_range(0.0..1.0)).collect()).collect();
    let columns: Vec<Vec<f64>> = (0..3).map(|j| sample.iter().map(|r| r[j]).collect()).collect();
    let predictions: Vec<Prediction> = sample.iter().map(|r| Prediction::Value(r.iter().sum())).collect();
    let reference = Reference::from_rows(ReferenceSource::Upload, &schema, &columns, &predictions).expect("reference");
    let PredictionBins::Regressor { cuts, counts } = &reference.prediction else { panic!("regressor") };
    assert_eq!((cuts.len(), counts.iter().sum::<u64>()), (MAX_BINS - 1, 500));
    let drift = Drift::new(100);
    let tracker = drift.tracker("s", "v1", &schema, Some(reference));
    for r in &sample {
        let row: Vec<f64> = r.iter().map(|v| v + 0.5).collect();
        tracker.record(&row, row.iter().sum(), t0());
    }
    let g = drift.report("s", &[], 60, t0()).generations.remove(0);
    let Some(PredictionDrift::Regressor { psi, ks, live, .. }) = g.prediction else { panic!("regressor drift") };
    assert!(psi.expect("psi") > 1.0 && ks.expect("ks") > 0.5, "{psi:?} {ks:?}");
    assert_eq!(live.iter().sum::<u64>(), 500);
}

#[test]
fn too_few_rows_make_no_reference() {
    let columns = vec![vec![1.0; 5]; 3];
    let err = Reference::from_rows(ReferenceSource::Upload, &classifier(), &columns, &vec![class(0); 5])
        .expect_err("refused")
        .to_string();
    assert_eq!(err, "a reference needs at least 20 rows, got 5");
}

/// A generation over the alert limit is reported once, again only after it came back; too
/// few requests decide nothing.
#[test]
fn drift_alerts_fire_once_per_crossing() {
    let mut rng = StdRng::seed_from_u64(23);
    let reference = reference_of(&rows(&mut rng, 2000, 0.0));
    let drift = Drift::new(100);
    let tracker = drift.tracker("s", "v1", &classifier(), Some(reference));
    let rule = AlertRule { max_psi: 0.25, minutes: 5, min_requests: 200 };
    let at = |minutes: i64| t0() + Duration::minutes(minutes);
    // Shifted, but only 100 requests: nothing yet.
    for (row, p) in rows(&mut rng, 100, 1.5) {
        tracker.record(&row, output_value(&p), at(0));
    }
    assert_eq!(drift.crossings(&rule, at(0)), Vec::new());
    for (row, p) in rows(&mut rng, 400, 1.5) {
        tracker.record(&row, output_value(&p), at(1));
    }
    let alerts = drift.crossings(&rule, at(1));
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let a = &alerts[0];
    assert_eq!((a.service.as_str(), a.generation.as_str(), a.feature.as_str(), a.requests), ("s", "v1", "b", 500));
    assert!(a.psi > 0.25, "{a:?}");
    // Still over: not told twice.
    assert_eq!(drift.crossings(&rule, at(2)), Vec::new());
    // Back in line (the shifted minutes left the window): re-armed, then over again.
    for (row, p) in rows(&mut rng, 1000, 0.0) {
        tracker.record(&row, output_value(&p), at(8));
    }
    assert_eq!(drift.crossings(&rule, at(8)), Vec::new());
    for (row, p) in rows(&mut rng, 3000, 2.0) {
        tracker.record(&row, output_value(&p), at(9));
    }
    assert_eq!(drift.crossings(&rule, at(9)).len(), 1);
}
