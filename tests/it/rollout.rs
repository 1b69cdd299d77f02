//! Safe rollout over HTTP: monitoring (persisted minutes, /metrics), shadow traffic, sticky
//! assignment across restarts and nodes, feedback and A/B results.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Value, json};
use switchyard::EngineConfig;
use switchyard::engine::Faults;
use switchyard::node::NodeConfig;

use crate::support::{
    SEED, TestNode, bounded, error_code, iris_row, spawn_node, spawn_node_in, spawn_with, wait_until,
};

async fn predict_with(node: &TestNode, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut req = node.http.post(node.url("/v1/services/iris/predict")).json(&json!({"features": iris_row()}));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.expect("send")
}

fn within_bound(observed: u64, n: u64, p: f64) -> bool {
    let n = n as f64;
    (observed as f64 - n * p).abs() <= 3.2905 * (n * p * (1.0 - p)).sqrt()
}

#[tokio::test]
async fn minutes_persist_across_restart_and_metrics_are_valid() {
    let node = spawn_node().await;
    node.with_iris().await;
    for _ in 0..30 {
        assert_eq!(node.predict("iris", &iris_row()).await.status(), 200);
    }
    let mut bad = iris_row();
    bad["petal_width"] = json!("x");
    assert_eq!(node.predict("iris", &bad).await.status(), 400);
    let before = node.get_json::<Value>("/admin/v1/deployments/iris/monitor?minutes=5").await;
    assert_eq!(before["generations"][0]["requests"], 31);
    assert_eq!(before["generations"][0]["rejected"], 1);

    let metrics = node.http.get(node.url("/metrics")).send().await.expect("send");
    assert!(metrics.headers()["content-type"].to_str().expect("ascii").starts_with("text/plain; version=0.0.4"));
    let text = metrics.text().await.expect("text");
    assert!(text.contains(r#"switchyard_requests_total{service="iris",generation="v1",status="ok"} 30"#), "{text}");
    assert!(text.contains(r#"switchyard_requests_total{service="iris",generation="v1",status="rejected"} 1"#));
    assert!(text.contains(r#"switchyard_request_duration_seconds_count{service="iris",generation="v1"} 30"#));
    promtool_check(&text);

    // Stopping flushes the minutes; a new node over the same registry shows them.
    let dir = node.stop().await;
    let node = spawn_node_in(dir, NodeConfig::default(), false).await;
    let after = node.get_json::<Value>("/admin/v1/deployments/iris/monitor?minutes=5").await;
    assert_eq!(after["generations"], before["generations"]);
}

/// `promtool check metrics` (Debian package `prometheus`, installed by scripts/install-deps.sh).
fn promtool_check(text: &str) {
    use std::io::Write;
    let mut child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool is installed (scripts/install-deps.sh)");
    child.stdin.take().expect("stdin").write_all(text.as_bytes()).expect("write");
    let out = child.wait_with_output().expect("promtool runs");
    assert!(
        out.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shadow_gets_its_share_and_never_answers() {
    let node = spawn_node().await;
    node.with_iris().await;
    node.deploy_ok(
        "iris",
        json!({"mode": "single", "generation": "v1", "shadow": {"generation": "v2", "percent": 20}}),
    )
    .await;
    const N: u64 = 2000;
    for _ in 0..N {
        let r = node.predict("iris", &iris_row()).await;
        assert_eq!(r.headers()["x-switchyard-generation"], "v1", "the shadow never answers");
    }
    // Shadow runs finish off the response path (in milliseconds): wait until their count
    // holds still for half a second.
    let mut shadow = Value::Null;
    let mut unchanged = 0;
    wait_until("the shadow count settles", Duration::from_secs(60), Duration::from_millis(50), async || {
        let now = node.get_json::<Value>("/admin/v1/deployments/iris/monitor?minutes=5").await["shadows"][0].clone();
        unchanged = if now["requests"] == shadow["requests"] { unchanged + 1 } else { 0 };
        shadow = now;
        unchanged >= 10 && shadow["requests"].as_u64().is_some_and(|n| n > 0)
    })
    .await;
    let mirrored = shadow["requests"].as_u64().expect("shadow requests");
    assert!(within_bound(mirrored, N, 0.2), "{mirrored} of {N}");
    assert_eq!(shadow["generation"], "v2");
    // The logistic regression and the MLP agree on this row.
    assert_eq!(shadow["agreement"], 1.0);
    let live = node.get_json::<Value>("/admin/v1/deployments/iris/monitor?minutes=5").await;
    assert_eq!(live["generations"].as_array().expect("list").len(), 1);
    assert_eq!(live["generations"][0]["requests"], N);
}

/// A mirrored request waits 2 s, then fails. Clients never see either: every answer is v1's,
/// and the shadow's failures are only counted. Off the response path, the 200 requests take
/// about a second; awaited on it, the 100 or so mirrored ones alone would take over 200 s, so
/// the 100 s bound (a hang check, not a speed target) fails the test.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_or_failing_shadow_does_not_touch_clients() {
    let dir = tempfile::tempdir().expect("tempdir");
    let faults = Faults {
        delays: HashMap::from([(("iris".to_owned(), "v2".to_owned()), Duration::from_secs(2))]),
        failures: [("iris".to_owned(), "v2".to_owned())].into_iter().collect(),
    };
    let config = EngineConfig { router_seed: Some(SEED), faults, ..EngineConfig::new(dir.path()) };
    let node = spawn_with(dir, config, NodeConfig::default()).await;
    node.with_iris().await;
    node.deploy_ok(
        "iris",
        json!({"mode": "single", "generation": "v1", "shadow": {"generation": "v2", "percent": 50}}),
    )
    .await;
    bounded("200 requests with a slow, failing 50% shadow", Duration::from_secs(100), async {
        for _ in 0..200 {
            let r = node.predict("iris", &iris_row()).await;
            assert_eq!(r.status(), 200);
            assert_eq!(r.headers()["x-switchyard-generation"], "v1");
        }
    })
    .await;
    // Every mirrored request ends, as a counted failure (each takes 2 s after its request).
    let mut shadow = Value::Null;
    wait_until("every shadow run counted as failed", Duration::from_secs(60), Duration::from_millis(50), async || {
        shadow = node.get_json::<Value>("/admin/v1/deployments/iris/monitor?minutes=5").await["shadows"][0].clone();
        shadow["requests"].as_u64().is_some_and(|n| n > 50) && shadow["errors"] == shadow["requests"]
    })
    .await;
    let live = node.get_json::<Value>("/admin/v1/deployments/iris/monitor?minutes=5").await;
    assert_eq!(live["generations"].as_array().map(Vec::len), Some(1), "{live}");
    assert_eq!(live["generations"][0]["requests"], 200, "{live}");
    assert_eq!(live["generations"][0]["errors"], 0, "{live}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sticky_keys_agree_across_restart_and_nodes() {
    let mapping = json!({"mode": "multiple", "sticky": true, "mapping": [
        {"generation": "v2", "proba": 0.3}, {"generation": "v1", "proba": 0.7}
    ]});
    async fn assignments(node: &TestNode) -> Vec<String> {
        let mut out = Vec::with_capacity(10_000);
        for k in 0..10_000 {
            let key = format!("user-{k}");
            let r = predict_with(node, &[("x-switchyard-key", &key)]).await;
            out.push(r.headers()["x-switchyard-generation"].to_str().expect("ascii").to_owned());
        }
        out
    }
    let a = spawn_node().await;
    a.with_iris().await;
    a.deploy_ok("iris", mapping.clone()).await;
    let first = assignments(&a).await;
    let v2 = first.iter().filter(|g| *g == "v2").count() as u64;
    assert!(within_bound(v2, 10_000, 0.3), "{v2}");
    let dir = a.stop().await;
    let a = spawn_node_in(dir, NodeConfig::default(), false).await;
    assert_eq!(assignments(&a).await, first, "a restart moved keys");
    let b = spawn_node().await;
    b.with_iris().await;
    b.deploy_ok("iris", mapping).await;
    assert_eq!(assignments(&b).await, first, "another node assigns differently");
}

#[tokio::test]
async fn feedback_and_ab_results() {
    let node = spawn_node().await;
    node.with_iris().await;
    node.deploy_mapping("iris", &[("v2", 0.5), ("v1", 0.5)]).await;
    let ab = node.get_json::<Value>("/admin/v1/deployments/iris/ab").await;
    assert!(ab["not_enough_data"].as_str().is_some_and(|s| s.starts_with("not enough data")));

    let mut sent = HashMap::new();
    for i in 0..120 {
        let r: Value = node.predict("iris", &iris_row()).await.json().await.expect("json");
        let generation = r["generation"].as_str().expect("g").to_owned();
        // v2 converts more often than v1.
        let outcome = if generation == "v2" { i % 3 != 0 } else { i % 3 == 0 };
        let f = node
            .http
            .post(node.url("/v1/services/iris/feedback"))
            .json(&json!({"request_id": r["request_id"], "outcome": outcome}))
            .send()
            .await
            .expect("send");
        assert_eq!(f.status(), 202);
        *sent.entry(generation).or_insert(0u64) += 1;
        if i == 0 {
            let again = node
                .http
                .post(node.url("/v1/services/iris/feedback"))
                .json(&json!({"request_id": r["request_id"], "outcome": 1}))
                .send()
                .await
                .expect("send");
            assert_eq!(error_code(again).await.1, "already_exists");
        }
    }
    let r = node
        .http
        .post(node.url("/v1/services/iris/feedback"))
        .json(&json!({"request_id": "nope", "outcome": 1}))
        .send();
    let (status, code, _) = error_code(r.await.expect("send")).await;
    assert_eq!((status, code.as_str()), (404, "request_not_found"));
    let r = node
        .http
        .post(node.url("/v1/services/iris/feedback"))
        .json(&json!({"request_id": "x", "outcome": "good"}))
        .send();
    assert_eq!(error_code(r.await.expect("send")).await.1, "invalid_input");

    let ab = node.get_json::<Value>("/admin/v1/deployments/iris/ab").await;
    assert_eq!(ab["kind"], "binary");
    assert_eq!(ab["groups"][0]["generation"], "v1", "baseline is the oldest version");
    assert_eq!(ab["groups"][0]["n"], sent["v1"]);
    assert_eq!(ab["groups"][1]["n"], sent["v2"]);
    let cmp = &ab["comparisons"][0];
    assert_eq!(
        (cmp["generation"].as_str(), cmp["baseline"].as_str(), cmp["test"].as_str()),
        (Some("v2"), Some("v1"), Some("two_proportion_z"))
    );
    assert!(cmp["difference"].as_f64().expect("diff") > 0.2);
    assert!(cmp["p_value"].as_f64().expect("p") < 0.001);
}
