//! Rendering edge cases on synthetic report data (no node needed): every chart that is drawn
//! is well-formed SVG and a valid PNG, the ones with nothing to show say why, and text from
//! users is escaped.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use super::charts::{self, ChartKind};
use super::data::{GenerationSeries, ReportData, SeriesPoint, VersionRow};
use super::render_html;
use crate::deploy::{DeploymentConfig, Revision, RevisionKind};
use crate::monitor::ab;
use crate::names::ServiceName;

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).expect("time").with_timezone(&Utc)
}

fn point(start: DateTime<Utc>, requests: u64, errors: u64, p50: Option<f64>) -> SeriesPoint {
    SeriesPoint {
        start,
        requests,
        errors,
        rejected: 0,
        p50_ms: p50,
        p95_ms: p50.map(|v| v * 2.0),
        p99_ms: p50.map(|v| v * 3.0),
    }
}

fn series(generation: &str, points: Vec<SeriesPoint>) -> GenerationSeries {
    let requests = points.iter().map(|p| p.requests).sum();
    let errors = points.iter().map(|p| p.errors).sum();
    let p50 = points.iter().find_map(|p| p.p50_ms);
    GenerationSeries {
        generation: generation.to_owned(),
        requests,
        errors,
        rejected: 0,
        error_rate: errors as f64 / requests as f64,
        p50_ms: p50,
        p95_ms: p50,
        p99_ms: p50,
        points,
    }
}

fn version(id: &str) -> VersionRow {
    VersionRow {
        id: id.to_owned(),
        created_at: t("2026-11-01T00:00:00Z"),
        sha256: "ab".repeat(32),
        metrics: BTreeMap::from([("auc".to_owned(), 0.91)]),
        notes: String::new(),
        origin: (id == "v2").then(|| "MLflow churn 7 @champion, run 9c45".to_owned()),
        requests: 0,
        share: None,
        live: id == "v1",
    }
}

/// A week-long report with a few sparse points, feedback for one generation only, and a
/// revision whose author and reason try to inject markup.
fn week() -> ReportData {
    let since = t("2026-11-15T00:00:00Z");
    let config: DeploymentConfig =
        serde_json::from_value(json!({"mode": "single", "generation": "v1"})).expect("config");
    let revision = Revision {
        service: ServiceName::parse("iris").expect("name"),
        node: "local".into(),
        number: 1,
        config,
        kind: RevisionKind::Deploy,
        rollback_of: None,
        author: "<script>alert(1)</script>".into(),
        reason: "a \"quoted\" & <b>bold</b> reason".into(),
        created_at: since + Duration::hours(1),
        canary_id: None,
    };
    ReportData {
        service: "iris".into(),
        description: String::new(),
        node: "local".into(),
        since,
        until: since + Duration::days(7),
        generated_at: since + Duration::days(7),
        step_minutes: super::data::step_for(7 * 1440),
        last_author: revision.author.clone(),
        current: revision.clone(),
        revisions: vec![revision],
        versions: vec![version("v1"), version("v2")],
        generations: vec![
            series(
                "v1",
                vec![
                    point(since + Duration::hours(2), 40, 1, Some(0.8)),
                    point(since + Duration::minutes(135), 30, 0, Some(0.9)),
                    point(since + Duration::days(3), 12, 0, Some(1.2)),
                ],
            ),
            // Only failures: no latency at all.
            series("v2", vec![point(since + Duration::days(5), 3, 3, None)]),
        ],
        ab: ab::analyse("iris", &[("v1".into(), vec![1.0])], None),
        audit: Vec::new(),
        replays: Vec::new(),
        drift: None,
    }
}

fn well_formed(svg: &str) -> roxmltree::Document<'_> {
    roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("not well-formed: {e}"))
}

#[test]
fn drawn_charts_are_valid_svg_and_png() {
    let data = week();
    assert_eq!(data.step_minutes, 15);
    let dir = tempfile::tempdir().expect("tempdir");
    for kind in ChartKind::ALL {
        assert_eq!(charts::unavailable(&data, kind), None, "{kind:?}");
        let svg = charts::svg(&data, kind).expect("svg");
        let doc = well_formed(&svg);
        assert_eq!(doc.root_element().attribute("id"), Some(format!("chart-{}", kind.name()).as_str()));
        let path = dir.path().join(format!("{}.png", kind.name()));
        charts::png(&data, kind, &path).expect("png");
        let bytes = std::fs::read(&path).expect("read png");
        assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.len() > 4096, "{kind:?}");
    }
    // A week is labelled with dates.
    let svg = charts::svg(&data, ChartKind::ErrorRate).expect("svg");
    assert!(svg.contains("Nov 1"), "{svg}");
}

#[test]
fn nothing_to_chart_is_said_plainly() {
    let mut data = week();
    data.generations.retain(|g| g.generation == "v2");
    assert_eq!(
        charts::unavailable(&data, ChartKind::Latency).as_deref(),
        Some("No request succeeded in this range, so there is no latency to chart.")
    );
    assert!(charts::unavailable(&data, ChartKind::TrafficShare).is_some_and(|s| s.starts_with("Only v2 served")));
    assert_eq!(charts::unavailable(&data, ChartKind::ErrorRate), None);
    data.ab = ab::analyse("iris", &[], None);
    assert!(charts::unavailable(&data, ChartKind::AbOutcome).is_some_and(|s| s.starts_with("No feedback")));
    let html = render_html(&data);
    assert_eq!(html.matches("<svg ").count(), 1, "only the error rate is charted");
}

#[test]
fn user_text_is_escaped_and_nothing_is_fetched() {
    let html = render_html(&week());
    assert!(!html.contains("<script"), "markup from users is escaped");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("a &quot;quoted&quot; &amp; &lt;b&gt;bold&lt;/b&gt; reason"));
    for bad in ["src=\"http", "href=\"http", "url(http", "@import"] {
        assert!(!html.contains(bad), "{bad}");
    }
    // The embedded CSV can be downloaded without a network.
    assert!(html.contains("href=\"data:text/csv;charset=utf-8,revision,created_at"));
}

#[test]
fn a_version_names_where_it_came_from() {
    let html = render_html(&week());
    let row = html.split("<tr id=\"version-v2\">").nth(1).expect("v2 row");
    let row = &row[..row.find("</tr>").expect("row end")];
    assert!(row.contains("<div class=\"muted origin\">MLflow churn 7 @champion, run 9c45</div>"), "{row}");
    let v1 = html.split("<tr id=\"version-v1\">").nth(1).expect("v1 row");
    assert!(!v1[..v1.find("</tr>").expect("row end")].contains("origin"));
}

/// The drift section: each generation's reference, its features most drifting first with PSI
/// and KS, and the predicted class shares; a report without drift says so.
#[test]
fn drift_is_reported_per_generation() {
    use crate::drift::*;
    let mut data = week();
    let html = render_html(&data);
    assert!(html.contains("<section id=\"drift\"><h2>Drift</h2>") && html.contains("No drift measured"), "{html}");
    let feature = |name: &str, psi: f64| FeatureDrift {
        feature: name.into(),
        psi: Some(psi),
        ks: Some(psi / 4.0),
        psi_by_minute: vec![Some(psi * 2.0), None, Some(psi)],
        cuts: vec![1.0],
        reference: vec![5, 5],
        live: vec![2, 8],
    };
    data.drift = Some(DriftReport {
        service: "iris".into(),
        window_minutes: 60,
        generations: vec![GenerationDrift {
            generation: "v1".into(),
            reference: Some(ReferenceSummary { source: ReferenceSource::Upload, rows: 1000 }),
            baseline: None,
            requests: 600,
            minutes: Vec::new(),
            features: vec![feature("petal_width", 0.9), feature("<sepal>", 0.01)],
            prediction: Some(PredictionDrift::Classifier {
                classes: vec!["setosa".into(), "virginica".into()],
                reference: vec![50, 50],
                live: vec![25, 75],
                chi_square: Some(12.5),
                dof: Some(1),
                p_value: Some(0.0004),
            }),
        }],
    });
    let html = render_html(&data);
    let section = &html[html.find("<section id=\"drift\">").expect("section")..];
    assert!(section.contains("600 requests, against a reference of 1,000 rows (upload)"), "{section}");
    let (top, other) = (section.find("petal_width").expect("top"), section.find("&lt;sepal&gt;").expect("escaped"));
    assert!(top < other, "most drifting first");
    assert!(
        section.contains("<td class=\"num\">0.900</td><td class=\"num\">0.225</td><td>1.800, 0.900</td>"),
        "{section}"
    );
    assert!(
        section.contains("reference setosa 50.0%, virginica 50.0%; live setosa 25.0%, virginica 75.0%"),
        "{section}"
    );
}
