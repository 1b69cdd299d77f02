//! Canary plans on a real node: a good version is promoted through every step, a failing or
//! slow one is rolled back by its gate, too little traffic is inconclusive, manual actions
//! work, and a restarted node resumes the plan. Bake times are shortened by configuration.
//! Gates leave wide margins, so a busy machine changes no outcome: a good version must stay
//! under a p99 of 500 ms, a slow one takes 1 s, and only the gates end a step (the
//! inconclusive timeout is a minute) except where a test is about that timeout.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use switchyard::EngineConfig;
use switchyard::engine::Faults;
use switchyard::node::NodeConfig;

use crate::support::{SEED, TestNode, error_code, iris_row, spawn_with, wait_until};

fn config(dir: &tempfile::TempDir, faults: Faults) -> EngineConfig {
    EngineConfig {
        router_seed: Some(SEED),
        canary_tick: Some(Duration::from_millis(50)),
        faults,
        ..EngineConfig::new(dir.path())
    }
}

async fn node_with(faults: Faults) -> TestNode {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(&dir, faults);
    let node = spawn_with(dir, cfg, NodeConfig::default()).await;
    node.with_iris().await;
    node
}

fn v2(kind: &str) -> Faults {
    let key = ("iris".to_owned(), "v2".to_owned());
    match kind {
        "fail" => Faults { failures: [key].into_iter().collect(), ..Faults::default() },
        "slow" => Faults { delays: HashMap::from([(key, Duration::from_secs(1))]), ..Faults::default() },
        _ => Faults::default(),
    }
}

fn plan(steps: Value, min_requests: u64) -> Value {
    json!({"version": "v2", "steps": steps, "bake_seconds": 0.3,
           "gates": {"max_error_rate": 0.05, "max_p99_ms": 500, "min_requests": min_requests},
           "inconclusive_timeout_seconds": 60, "on_inconclusive": "pause"})
}

async fn post(node: &TestNode, path: &str, body: Value) -> reqwest::Response {
    node.http.post(node.url(path)).json(&body).send().await.expect("send")
}

async fn canary(node: &TestNode) -> Value {
    node.get_json("/admin/v1/deployments/iris/canary").await
}

/// Keeps traffic flowing until dropped.
struct Load(Arc<AtomicBool>);
impl Drop for Load {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}
fn load(node: &Arc<TestNode>) -> Load {
    let stop = Arc::new(AtomicBool::new(false));
    for _ in 0..4 {
        let (node, stop) = (Arc::clone(node), Arc::clone(&stop));
        tokio::spawn(async move {
            while !stop.load(Ordering::Acquire) {
                let _ = node.predict("iris", &iris_row()).await;
            }
        });
    }
    Load(stop)
}

/// Polls until the canary leaves `from` (running or paused). A plan here takes a few
/// seconds; 180 s only catches one that never ends (an inconclusive step pauses after 60 s).
async fn settle(node: &TestNode, from: &str) -> Value {
    let mut c = Value::Null;
    wait_until(&format!("the canary leaves {from}"), Duration::from_secs(180), Duration::from_millis(50), async || {
        c = canary(node).await;
        c["status"] != from
    })
    .await;
    c
}

async fn active_config(node: &TestNode) -> Value {
    node.http
        .get(node.url("/admin/v1/deployments/iris"))
        .send()
        .await
        .expect("send")
        .json::<Value>()
        .await
        .expect("json")["config"]
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn good_version_is_promoted_through_every_step() {
    let node = Arc::new(node_with(Faults::default()).await);
    // Three live generations take part: v1 and v3 share the base traffic.
    assert_eq!(node.upload_ok("iris", "iris_logreg.onnx").await, "v3");
    node.deploy_mapping("iris", &[("v1", 0.5), ("v3", 0.5)]).await;
    let r = post(&node, "/admin/v1/deployments/iris/canary", plan(json!([10, 50, 100]), 20)).await;
    assert_eq!(r.status(), 201);
    let started: Value = r.json().await.expect("json");
    assert_eq!(started["status"], "running");
    let first = active_config(&node).await;
    assert_eq!(
        first["mapping"],
        json!([{"generation": "v2", "proba": 0.1}, {"generation": "v1", "proba": 0.45}, {"generation": "v3", "proba": 0.45}])
    );
    // A manual deploy during a canary is refused.
    let (status, code, _) = error_code(node.deploy("iris", json!({"mode": "single", "generation": "v1"})).await).await;
    assert_eq!((status, code.as_str()), (409, "canary_conflict"));

    let traffic = load(&node);
    let done = settle(&node, "running").await;
    drop(traffic);
    assert_eq!(done["status"], "promoted", "{done}");
    assert_eq!(active_config(&node).await["generation"], "v2");
    let revisions: Vec<Value> = node.get_json("/admin/v1/deployments/iris/revisions").await;
    let canary_revs: Vec<&Value> = revisions.iter().filter(|r| r["canary_id"] == 1).collect();
    assert_eq!(canary_revs.len(), 3, "one revision per step: {revisions:?}");
    assert!(canary_revs[1]["reason"].as_str().expect("why").contains("step 2/3 (50%)"));
    let events: Vec<&str> =
        done["events"].as_array().expect("events").iter().map(|e| e["message"].as_str().expect("m")).collect();
    assert!(events.iter().filter(|e| e.contains("passed")).count() == 3, "{events:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_version_is_rolled_back_by_the_error_gate() {
    let node = Arc::new(node_with(v2("fail")).await);
    assert_eq!(post(&node, "/admin/v1/deployments/iris/canary", plan(json!([20, 100]), 20)).await.status(), 201);
    let traffic = load(&node);
    let done = settle(&node, "running").await;
    drop(traffic);
    assert_eq!(done["status"], "rolled_back", "{done}");
    assert_eq!(active_config(&node).await, json!({"mode": "single", "generation": "v1", "sticky": false}));
    let revisions: Vec<Value> = node.get_json("/admin/v1/deployments/iris/revisions").await;
    let last = revisions.last().expect("revision");
    assert_eq!((last["kind"].as_str(), last["rollback_of"].as_i64()), (Some("rollback"), Some(1)));
    let why = last["reason"].as_str().expect("why");
    assert!(why.contains("error rate 1.0000 > max 0.05"), "{why}");
    let events = done["events"].to_string();
    assert!(events.contains(&format!("rollback took effect: revision {} is live", last["number"])), "{events}");
    // An aborted or rolled back canary can be retried.
    assert_eq!(post(&node, "/admin/v1/deployments/iris/canary", plan(json!([20, 100]), 20)).await.status(), 201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_version_is_rolled_back_by_the_latency_gate() {
    let node = Arc::new(node_with(v2("slow")).await);
    assert_eq!(post(&node, "/admin/v1/deployments/iris/canary", plan(json!([50, 100]), 10)).await.status(), 201);
    let traffic = load(&node);
    let done = settle(&node, "running").await;
    drop(traffic);
    assert_eq!(done["status"], "rolled_back", "{done}");
    let why = done["events"].to_string();
    assert!(why.contains("p99 latency") && why.contains("> max 500 ms"), "{why}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_little_traffic_is_inconclusive_then_manual_actions() {
    let node = node_with(Faults::default()).await;
    let mut p = plan(json!([10, 100]), 1000);
    p["inconclusive_timeout_seconds"] = json!(0.4);
    assert_eq!(post(&node, "/admin/v1/deployments/iris/canary", p).await.status(), 201);
    // Past the bake time, with no traffic: inconclusive, never passed or failed.
    let bound = Duration::from_secs(60);
    wait_until("an inconclusive reading", bound, Duration::from_millis(20), async || {
        canary(&node).await["last_reading"]["verdict"] == "inconclusive"
    })
    .await;
    let paused = settle(&node, "running").await;
    assert_eq!(paused["status"], "paused", "the plan's policy applies after the timeout");
    assert!(paused["events"].to_string().contains("inconclusive after"));
    // Resume, pause, resume, then abort: back to the base config.
    for (action, status) in [("resume", "running"), ("pause", "paused"), ("resume", "running")] {
        let r: Value = post(&node, &format!("/admin/v1/deployments/iris/canary/{action}"), json!({}))
            .await
            .json()
            .await
            .expect("json");
        assert_eq!(r["status"], status);
    }
    let (status, code, _) = error_code(post(&node, "/admin/v1/deployments/iris/canary/resume", json!({})).await).await;
    assert_eq!((status, code.as_str()), (409, "canary_conflict"));
    let r: Value = post(&node, "/admin/v1/deployments/iris/canary/abort", json!({})).await.json().await.expect("json");
    assert_eq!(r["status"], "aborted");
    assert_eq!(active_config(&node).await["generation"], "v1");
    // Retried, then promoted by hand.
    assert_eq!(post(&node, "/admin/v1/deployments/iris/canary", plan(json!([10, 100]), 1000)).await.status(), 201);
    let r: Value =
        post(&node, "/admin/v1/deployments/iris/canary/promote", json!({})).await.json().await.expect("json");
    assert_eq!(r["status"], "promoted");
    assert_eq!(active_config(&node).await["generation"], "v2");
    let (status, code, _) = error_code(post(&node, "/admin/v1/deployments/iris/canary/abort", json!({})).await).await;
    assert_eq!((status, code.as_str()), (404, "canary_not_found"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_rollback_stops_a_canary() {
    let node = node_with(Faults::default()).await;
    assert_eq!(post(&node, "/admin/v1/deployments/iris/canary", plan(json!([10, 100]), 1000)).await.status(), 201);
    let r = post(&node, "/admin/v1/deployments/iris/rollback", json!({"reason": "stop everything"})).await;
    assert_eq!(r.status(), 200);
    let c = canary(&node).await;
    assert_eq!(c["status"], "aborted");
    assert!(c["events"].to_string().contains("manual rollback"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_resumes_the_canary() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(&dir, Faults::default());
    let node = spawn_with(dir, cfg, NodeConfig::default()).await;
    node.with_iris().await;
    let mut p = plan(json!([10, 100]), 20);
    p["bake_seconds"] = json!(0.5);
    p["inconclusive_timeout_seconds"] = json!(30);
    assert_eq!(post(&node, "/admin/v1/deployments/iris/canary", p).await.status(), 201);
    // Let the controller take a reading, then stop the node mid-step.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let dir = node.stop().await;
    let cfg = config(&dir, Faults::default());
    let node = Arc::new(spawn_with(dir, cfg, NodeConfig::default()).await);
    assert_eq!(canary(&node).await["status"], "running");
    assert_eq!(active_config(&node).await["mode"], "multiple", "the step's config is live again after restart");
    let traffic = load(&node);
    let done = settle(&node, "running").await;
    drop(traffic);
    assert_eq!(done["status"], "promoted", "{done}");
    assert!(done["events"].to_string().contains("resumed after a restart"));
}

/// A controller pass and a user's action on the same canary never overwrite each other:
/// with a controller ticking every millisecond and pausing at every tick (no bake, no
/// timeout), an abort right after a resume stays aborted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_actions_are_never_overwritten_by_the_controller() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = EngineConfig { canary_tick: Some(Duration::from_millis(1)), ..config(&dir, Faults::default()) };
    let node = spawn_with(dir, cfg, NodeConfig::default()).await;
    node.with_iris().await;
    for round in 0..30 {
        let mut p = plan(json!([10, 100]), 1000);
        p["bake_seconds"] = json!(0);
        p["inconclusive_timeout_seconds"] = json!(0);
        assert_eq!(post(&node, "/admin/v1/deployments/iris/canary", p).await.status(), 201, "round {round}");
        let _ = post(&node, "/admin/v1/deployments/iris/canary/resume", json!({})).await;
        let r = post(&node, "/admin/v1/deployments/iris/canary/abort", json!({})).await;
        assert_eq!(r.status(), 200, "round {round}");
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(canary(&node).await["status"], "aborted", "round {round}: the controller overwrote the abort");
    }
}

/// Two nodes on one PostgreSQL registry: `a` runs the canary controller and serves nothing;
/// `b` serves the traffic, and its v2 fails. The controller's gates count what `b` flushed,
/// so the failing canary is rolled back (judged on `a`'s traffic alone it would stay
/// inconclusive and pause).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gates_count_the_traffic_of_every_node() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = crate::support::test_database(dir.path()).await;
    let a_config =
        EngineConfig { database_url: Some(url.clone()), instance: "a".into(), ..config(&dir, Faults::default()) };
    let b_config = EngineConfig {
        database_url: Some(url),
        instance: "b".into(),
        flush_interval: Duration::from_millis(100),
        ..config(&dir, v2("fail"))
    };
    let a = spawn_with(dir, a_config, NodeConfig::default()).await;
    a.with_iris().await;
    let b = switchyard::Engine::open(b_config).await.expect("second node");
    // Inconclusive for long enough that only the gate can end the step, however slow the
    // machine (the other node's minutes arrive with its flushes).
    let mut plan = plan(json!([50, 100]), 20);
    plan["inconclusive_timeout_seconds"] = json!(60);
    assert_eq!(post(&a, "/admin/v1/deployments/iris/canary", plan).await.status(), 201);
    let features = iris_row().as_object().expect("row").clone();
    let mut outcome = Value::Null;
    for _ in 0..6000 {
        let _ = b.predict("iris", &features, switchyard::engine::Routing::default()).await;
        let c = canary(&a).await;
        if c["status"] != "running" {
            outcome = c;
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(outcome["status"], "rolled_back", "{outcome}");
    let why = outcome["events"].to_string();
    assert!(why.contains("error rate"), "{why}");
    b.close().await.expect("close");
}
