//! Drift end to end: a version uploaded with a reference CSV, seeded traffic with one feature
//! shifted by one standard deviation, the ManualClock moved past the minute: that feature's
//! PSI is high and first, the others' low, and `/metrics` exports it. A version without a
//! reference takes its baseline from its first requests. A reference CSV that does not match
//! the model's features is refused with them named. On SQLite, and on PostgreSQL with
//! `SWITCHYARD_TEST_BACKEND=postgres`.

use std::sync::Arc;

use rand::{Rng, SeedableRng, rngs::StdRng};
use serde_json::{Value, json};
use switchyard::EngineConfig;
use switchyard::clock::{Clock, ManualClock};
use switchyard::node::NodeConfig;

use crate::support::{SEED, TestNode, error_code, fixture, spawn_with};

/// The iris features with a mean and standard deviation each (close to the data set's).
const FEATURES: [(&str, f64, f64); 4] =
    [("sepal_length", 5.8, 0.8), ("sepal_width", 3.0, 0.4), ("petal_length", 3.8, 1.7), ("petal_width", 1.2, 0.75)];

/// The feature whose live values move by one standard deviation.
const SHIFTED: &str = "petal_width";

const BASELINE: usize = 200;

fn normal(rng: &mut StdRng) -> f64 {
    let (u, v): (f64, f64) = (rng.random_range(f64::EPSILON..1.0), rng.random());
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

/// A row of the four features; `shift` standard deviations added to [`SHIFTED`].
fn row(rng: &mut StdRng, shift: f64) -> Vec<(&'static str, f64)> {
    FEATURES
        .iter()
        .map(|&(name, mean, sd)| {
            let moved = if name == SHIFTED { shift } else { 0.0 };
            (name, ((mean + sd * (normal(rng) + moved)) * 100.0).round() / 100.0)
        })
        .collect()
}

fn csv(rng: &mut StdRng, rows: usize) -> String {
    let mut text = FEATURES.iter().map(|f| f.0).collect::<Vec<_>>().join(",") + "\n";
    for _ in 0..rows {
        text += &(row(rng, 0.0).iter().map(|(_, v)| v.to_string()).collect::<Vec<_>>().join(",") + "\n");
    }
    text
}

async fn upload_with_reference(node: &TestNode, fixture_name: &str, reference: &str) -> reqwest::Response {
    let form = reqwest::multipart::Form::new()
        .part("model", reqwest::multipart::Part::bytes(fixture(fixture_name)).file_name(fixture_name.to_owned()))
        .part("reference", reqwest::multipart::Part::text(reference.to_owned()).file_name("holdout.csv"));
    node.http.post(node.url("/admin/v1/services/iris/versions")).multipart(form).send().await.expect("send")
}

async fn send(node: &TestNode, rng: &mut StdRng, n: usize, shift: f64) {
    for _ in 0..n {
        let features: serde_json::Map<String, Value> =
            row(rng, shift).into_iter().map(|(k, v)| (k.into(), json!(v))).collect();
        let r = node.predict("iris", &Value::Object(features)).await;
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    }
}

async fn drift(node: &TestNode) -> Value {
    node.get_json("/admin/v1/deployments/iris/drift?minutes=60").await
}

fn generation<'a>(report: &'a Value, g: &str) -> &'a Value {
    report["generations"].as_array().expect("generations").iter().find(|x| x["generation"] == g).expect("generation")
}

fn psi_of(g: &Value, feature: &str) -> f64 {
    let f = g["features"].as_array().expect("features").iter().find(|f| f["feature"] == feature).expect("feature");
    f["psi"].as_f64().expect("psi")
}

/// The value of one `switchyard_feature_psi` series in `/metrics`.
async fn metric(node: &TestNode, generation: &str, feature: &str) -> Option<f64> {
    let text = node.http.get(node.url("/metrics")).send().await.expect("send").text().await.expect("text");
    let series =
        format!("switchyard_feature_psi{{service=\"iris\",generation=\"{generation}\",feature=\"{feature}\"}} ");
    text.lines().find_map(|l| l.strip_prefix(&series)).map(|v| v.parse().expect("number"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shifted_feature_is_named_against_the_reference_and_against_a_traffic_baseline() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new("2026-12-07T10:00:05Z".parse().expect("time")));
    let config = EngineConfig {
        router_seed: Some(SEED),
        clock: clock.clone(),
        drift_baseline: BASELINE,
        canary_tick: None,
        scheduler_tick: None,
        webhook_tick: None,
        capture_tick: None,
        ..EngineConfig::new(dir.path())
    };
    let node = spawn_with(dir, config, NodeConfig::default()).await;
    node.create_service("iris").await;
    let mut rng = StdRng::seed_from_u64(20_261_207);

    // A reference that does not match the model is refused, naming what is wrong, and
    // creates nothing.
    let wrong = csv(&mut rng, 30).replacen("petal_width", "species", 1);
    let (status, code, message) = error_code(upload_with_reference(&node, "iris_logreg.onnx", &wrong).await).await;
    assert_eq!((status, code.as_str()), (400, "invalid_input"));
    assert!(message.contains("missing features: petal_width"), "{message}");
    assert!(message.contains("not features of the model: species"), "{message}");
    let versions: Vec<Value> = node.get_json("/admin/v1/services/iris/versions").await;
    assert!(versions.is_empty(), "a refused reference leaves no version");

    // v1 with a reference of 1000 rows; its first row becomes the version's sample row.
    let holdout = csv(&mut rng, 1000);
    let r = upload_with_reference(&node, "iris_logreg.onnx", &holdout).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
    let created: Value = r.json().await.expect("json");
    let sample: Value =
        serde_json::from_str(created["provenance"]["details"]["sample_row"].as_str().expect("a sample row"))
            .expect("json");
    let first: Vec<f64> = holdout.lines().nth(1).expect("row").split(',').map(|v| v.parse().expect("f64")).collect();
    for ((name, _, _), value) in FEATURES.iter().zip(&first) {
        assert_eq!(sample[name].as_f64(), Some(*value), "{name} in {sample}");
    }
    node.deploy_ok("iris", json!({"mode": "single", "generation": "v1"})).await;
    let report = drift(&node).await;
    let v1 = generation(&report, "v1");
    assert_eq!(v1["reference"], json!({"source": "upload", "rows": 1000}));
    assert_eq!(v1["requests"], 0);
    let reference: u64 =
        v1["prediction"]["reference"].as_array().expect("class counts").iter().map(|c| c.as_u64().expect("n")).sum();
    assert_eq!((v1["prediction"]["kind"].as_str(), reference), (Some("classifier"), 1000));

    // A webhook hears of drift over the alert limit (its deliverer does not run here: the
    // outbox shows what it would send).
    let r = node.http.post(node.url("/admin/v1/webhooks")).json(&json!({"url": "http://127.0.0.1:9/hook"}));
    assert_eq!(r.send().await.expect("send").status(), 201);
    assert_eq!(node.engine.drift_alert_pass().await.expect("pass"), 0, "no traffic, no alert");

    // One minute of traffic with petal_width one standard deviation up, then the next minute.
    send(&node, &mut rng, 600, 1.0).await;
    clock.advance(chrono::Duration::seconds(60));
    assert_eq!(node.engine.drift_alert_pass().await.expect("pass"), 1);
    assert_eq!(node.engine.drift_alert_pass().await.expect("pass"), 0, "told once per crossing");
    let deliveries: Vec<Value> = node.get_json("/admin/v1/webhooks/deliveries").await;
    assert_eq!(deliveries.len(), 1, "{deliveries:?}");
    assert_eq!((deliveries[0]["event"].as_str(), deliveries[0]["service"].as_str()), (Some("drift"), Some("iris")));
    let body: Value = serde_json::from_str(deliveries[0]["body"].as_str().expect("body")).expect("json");
    let why = body["why"].as_str().expect("why");
    assert!(why.starts_with(&format!("drift on v1: '{SHIFTED}' PSI ")), "{why}");
    assert!(why.contains("> 0.25 over the last 60 min (600 requests on "), "{why}");
    assert!(body["text"].as_str().is_some_and(|t| t.starts_with("Drift on iris (revision 1): ")), "{body}");
    let report = drift(&node).await;
    let v1 = generation(&report, "v1");
    assert_eq!(v1["requests"], 600);
    assert_eq!(v1["features"][0]["feature"], SHIFTED, "the shifted feature is the top drifting one: {v1}");
    let shifted = psi_of(v1, SHIFTED);
    assert!(shifted > 0.5, "{SHIFTED}: PSI {shifted}");
    assert!(v1["features"][0]["ks"].as_f64().expect("ks") > 0.2);
    for (name, _, _) in FEATURES.iter().filter(|f| f.0 != SHIFTED) {
        let psi = psi_of(v1, name);
        assert!(psi < 0.15, "{name}: PSI {psi}");
    }
    assert_eq!(v1["minutes"].as_array().map(Vec::len), Some(1), "one minute with traffic");
    let heat = v1["features"][0]["psi_by_minute"][0].as_f64().expect("the minute's PSI");
    assert!((heat - shifted).abs() < 1e-12, "one minute: its PSI is the window's");
    let live: u64 = v1["features"][0]["live"].as_array().expect("live").iter().map(|c| c.as_u64().expect("n")).sum();
    assert_eq!(live, 600);
    let exported = metric(&node, "v1", SHIFTED).await.expect("the shifted feature's PSI is exported");
    assert!((exported - shifted).abs() < 1e-9, "{exported} vs {shifted}");
    assert!(metric(&node, "v1", "sepal_length").await.expect("exported") < 0.15);

    // v2 without a reference: its first BASELINE requests are its baseline.
    let r = node.upload("iris", "iris_mlp.onnx", json!({})).await;
    assert_eq!(r.status(), 201);
    node.deploy_ok("iris", json!({"mode": "single", "generation": "v2"})).await;
    send(&node, &mut rng, BASELINE - 1, 0.0).await;
    let report = drift(&node).await;
    let v2 = generation(&report, "v2");
    assert_eq!(v2["reference"], Value::Null);
    assert_eq!(v2["baseline"], json!({"collected": BASELINE - 1, "target": BASELINE}));
    assert!(metric(&node, "v2", SHIFTED).await.is_none(), "no PSI before the baseline is complete");
    send(&node, &mut rng, 1, 0.0).await;
    send(&node, &mut rng, 400, 1.0).await;
    clock.advance(chrono::Duration::seconds(60));
    let report = drift(&node).await;
    let v2 = generation(&report, "v2");
    assert_eq!(v2["reference"], json!({"source": "traffic", "rows": BASELINE}));
    assert_eq!(v2["requests"], 400, "the baseline's requests are not measured against themselves");
    assert_eq!(v2["features"][0]["feature"], SHIFTED, "{v2}");
    assert!(psi_of(v2, SHIFTED) > 0.5, "{v2}");
    assert!(metric(&node, "v2", SHIFTED).await.expect("exported") > 0.5);
    // v1 keeps its window: it served in the last hour.
    assert_eq!(generation(&report, "v1")["requests"], 600);

    // The deployment report's data carries the same drift over its range.
    let until = clock.now().timestamp_millis();
    let data: Value =
        node.get_json(&format!("/admin/v1/deployments/iris/report?since={}&until={until}", until - 3_600_000)).await;
    let in_report = &data["drift"];
    assert_eq!(generation(in_report, "v1")["features"][0]["feature"], SHIFTED, "{in_report}");
    assert_eq!(generation(in_report, "v1")["requests"], 600);
    assert_eq!(generation(in_report, "v2")["requests"], 400);
    node.stop().await;
}

/// A scenario's `create_version` step with `reference_csv` stores the reference; the version
/// it creates measures drift against it as soon as it is deployed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scenario_creates_a_version_with_its_reference() {
    let node = crate::support::spawn_node().await;
    node.create_service("iris").await;
    // The training data without its target column: the model's four features.
    let train = std::fs::read_to_string(crate::support::fixtures_dir().join("data/iris_train.csv")).expect("csv");
    let features: String =
        train.lines().map(|l| l.rsplit_once(',').expect("a target column").0.to_owned() + "\n").collect();
    let reference = node.dir.path().join("holdout-features.csv");
    std::fs::write(&reference, &features).expect("write");
    let model = crate::support::fixtures_dir().join("models/iris_logreg.onnx");
    let spec = json!({
        "name": "register",
        "steps": [
            {"kind": "create_version", "name": "register", "service": "iris", "model_file": model,
             "reference_csv": reference},
            {"kind": "update_deployment", "name": "deploy", "service": "iris", "version": "${version_id}"}
        ]
    });
    let r = node.http.post(node.url("/admin/v1/scenarios")).json(&spec).send().await.expect("send");
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    let r = node.http.post(node.url("/admin/v1/scenarios/register/runs")).send().await.expect("send");
    assert_eq!(r.status(), 202);
    let mut run = Value::Null;
    crate::support::wait_until(
        "the scenario run ends",
        std::time::Duration::from_secs(120),
        std::time::Duration::from_millis(50),
        async || {
            run = node.get_json("/admin/v1/scenarios/register/runs/1").await;
            run["status"] != "running"
        },
    )
    .await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let report = drift(&node).await;
    let rows = features.lines().count() - 1;
    assert_eq!(generation(&report, "v1")["reference"], json!({"source": "upload", "rows": rows}));
    let f = &generation(&report, "v1")["features"][0];
    let reference: u64 = f["reference"].as_array().expect("counts").iter().map(|c| c.as_u64().expect("n")).sum();
    assert_eq!(reference as usize, rows);
    node.stop().await;
}

/// `switchyard version add --reference` uploads the CSV with the model; `switchyard drift`
/// prints each feature's PSI and KS, most drifting first; a CSV missing a feature fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_adds_a_reference_and_prints_drift() {
    use crate::cli::cli;
    let node = crate::support::spawn_node().await;
    node.create_service("iris").await;
    let mut rng = StdRng::seed_from_u64(7);
    let holdout = node.dir.path().join("holdout.csv");
    std::fs::write(&holdout, csv(&mut rng, 500)).expect("write");
    let partial = node.dir.path().join("partial.csv");
    std::fs::write(&partial, csv(&mut rng, 50).replacen("sepal_width,", "", 1)).expect("write");
    let model = crate::support::fixtures_dir().join("models/iris_logreg.onnx");
    let (model, holdout, partial) =
        (model.to_str().expect("utf8"), holdout.to_str().expect("utf8"), partial.to_str().expect("utf8"));

    let (ok, _, err) = cli(&node.url, &["version", "add", "iris", model, "--reference", partial]).await;
    assert!(!ok);
    assert!(err.contains("missing features: sepal_width") && err.contains("[invalid_input]"), "{err}");
    let (ok, out, err) = cli(&node.url, &["version", "add", "iris", model, "--reference", holdout]).await;
    assert!(ok, "{err}");
    assert!(out.contains("created iris v1"), "{out}");
    node.deploy_ok("iris", json!({"mode": "single", "generation": "v1"})).await;
    send(&node, &mut rng, 300, 1.0).await;

    let (ok, out, err) = cli(&node.url, &["drift", "iris"]).await;
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "v1: 300 requests, against a reference of 500 rows (upload)", "{out}");
    assert!(lines[1].starts_with("  FEATURE") && lines[2].trim_start().starts_with(SHIFTED), "{out}");
    assert!(lines[6].starts_with("  prediction: class shares chi-square"), "{out}");
    node.stop().await;
}
