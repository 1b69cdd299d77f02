//! Canary plans on a real node: a good version is promoted through every step, a failing or
//! slow one is rolled back by its gate, too little traffic is inconclusive, manual actions
//! work, and a restarted node resumes the plan. The engine runs on a [`ManualClock`] with no
//! controller loop: each test sends a known number of requests, moves the clock past the bake
//! time and runs one controller pass itself, then checks the exact state.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};
use switchyard::EngineConfig;
use switchyard::clock::ManualClock;
use switchyard::engine::Faults;
use switchyard::node::NodeConfig;

use crate::support::{SEED, TestNode, error_code, iris_row, spawn_with};

/// Every plan's bake time, in seconds: a realistic one, since the clock is moved, not waited for.
const BAKE: i64 = 300;
/// Every plan's inconclusive timeout, in seconds.
const TIMEOUT: i64 = 600;
/// The p99 gate of the plans, in ms: far above (> 20×) a prediction's normal latency, so a
/// slow machine never fails a good version.
const MAX_P99_MS: u64 = 250;
/// The slow version's test: its gate, and the delay injected into v2, 20× above it (a version
/// that sleeps this long is never faster, on any machine).
const SLOW_GATE_MS: u64 = 20;
const SLOW: Duration = Duration::from_millis(20 * SLOW_GATE_MS);

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new("2026-03-02T09:00:00Z".parse().expect("time")))
}

fn config(dir: &tempfile::TempDir, clock: &Arc<ManualClock>, faults: Faults) -> EngineConfig {
    EngineConfig {
        router_seed: Some(SEED),
        canary_tick: None,
        clock: Arc::clone(clock) as _,
        faults,
        ..EngineConfig::new(dir.path())
    }
}

/// A node serving `iris` (v1 live, v2 uploaded) on its own manual clock.
async fn node_with(faults: Faults) -> (TestNode, Arc<ManualClock>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = clock();
    let cfg = config(&dir, &clock, faults);
    let node = spawn_with(dir, cfg, NodeConfig::default()).await;
    node.with_iris().await;
    (node, clock)
}

fn v2(kind: &str) -> Faults {
    let key = ("iris".to_owned(), "v2".to_owned());
    match kind {
        "fail" => Faults { failures: [key].into_iter().collect(), ..Faults::default() },
        "slow" => Faults { delays: HashMap::from([(key, SLOW)]), ..Faults::default() },
        _ => Faults::default(),
    }
}

fn plan(steps: Value, min_requests: u64) -> Value {
    json!({"version": "v2", "steps": steps, "bake_seconds": BAKE,
           "gates": {"max_error_rate": 0.05, "max_p99_ms": MAX_P99_MS, "min_requests": min_requests},
           "inconclusive_timeout_seconds": TIMEOUT, "on_inconclusive": "pause"})
}

async fn post(node: &TestNode, path: &str, body: Value) -> reqwest::Response {
    node.http.post(node.url(path)).json(&body).send().await.expect("send")
}

async fn start(node: &TestNode, plan: Value) -> Value {
    let r = post(node, "/admin/v1/deployments/iris/canary", plan).await;
    let status = r.status();
    let body: Value = r.json().await.expect("json");
    assert_eq!(status, 201, "{body}");
    body
}

async fn canary(node: &TestNode) -> Value {
    node.get_json("/admin/v1/deployments/iris/canary").await
}

/// Moves the clock `seconds` on, runs one controller pass, and returns the canary.
async fn pass_after(node: &TestNode, clock: &ManualClock, seconds: i64) -> Value {
    clock.advance(chrono::Duration::seconds(seconds));
    node.engine.canary_pass().await.expect("controller pass");
    canary(node).await
}

/// The canary's status, step index, last verdict and the requests that verdict counted.
fn state(c: &Value) -> (&str, u64, &str, u64) {
    let reading = &c["last_reading"];
    (
        c["status"].as_str().expect("status"),
        c["step"].as_u64().expect("step"),
        reading["verdict"].as_str().unwrap_or("none"),
        reading["requests"].as_u64().unwrap_or(0),
    )
}

fn last_event(c: &Value) -> &str {
    c["events"].as_array().and_then(|e| e.last()).and_then(|e| e["message"].as_str()).expect("an event")
}

/// What `n` predictions sent through the node's router got: answers per generation, and
/// server errors (the failing version's).
#[derive(Debug, Default)]
struct Tally {
    served: BTreeMap<String, u64>,
    failed: u64,
}

impl Tally {
    fn by(&self, generation: &str) -> u64 {
        self.served.get(generation).copied().unwrap_or(0)
    }
}

async fn traffic(node: &TestNode, n: usize) -> Tally {
    let answers: Vec<(u16, Value)> = futures_util::stream::iter(0..n)
        .map(|_| async {
            let r = node.predict("iris", &iris_row()).await;
            (r.status().as_u16(), r.json::<Value>().await.expect("json"))
        })
        .buffer_unordered(50)
        .collect()
        .await;
    let mut tally = Tally::default();
    for (status, body) in answers {
        match status {
            200 => *tally.served.entry(body["generation"].as_str().expect("generation").to_owned()).or_default() += 1,
            500 => tally.failed += 1,
            other => panic!("unexpected answer {other}: {body}"),
        }
    }
    tally
}

async fn active_config(node: &TestNode) -> Value {
    node.get_json::<Value>("/admin/v1/deployments/iris").await["config"].clone()
}

async fn revisions(node: &TestNode) -> Vec<Value> {
    node.get_json("/admin/v1/deployments/iris/revisions").await
}

/// Sends `n` requests, then checks the step passes exactly when its bake time is over: one
/// second before, it is still baking; one second after, it passed on the canary's requests.
/// Returns the canary after the pass and how many requests the canary served.
async fn bake_step(node: &TestNode, clock: &ManualClock, step: u64, n: usize) -> (Value, u64) {
    let served = traffic(node, n).await.by("v2");
    assert!(served >= 20, "the canary served {served} of {n} requests at step {step}: too few for its gate");
    let c = pass_after(node, clock, BAKE - 1).await;
    assert_eq!(state(&c), ("running", step, "baking", served), "{c}");
    (pass_after(node, clock, 2).await, served)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn good_version_is_promoted_through_every_step() {
    let (node, clock) = node_with(Faults::default()).await;
    // Three live generations take part: v1 and v3 share the base traffic.
    assert_eq!(node.upload_ok("iris", "iris_logreg.onnx").await, "v3");
    node.deploy_mapping("iris", &[("v1", 0.5), ("v3", 0.5)]).await;
    let started = start(&node, plan(json!([10, 50, 100]), 20)).await;
    assert_eq!(started["status"], "running");
    assert_eq!(
        active_config(&node).await["mapping"],
        json!([{"generation": "v2", "proba": 0.1}, {"generation": "v1", "proba": 0.45}, {"generation": "v3", "proba": 0.45}])
    );
    // A manual deploy during a canary is refused.
    let (status, code, _) = error_code(node.deploy("iris", json!({"mode": "single", "generation": "v1"})).await).await;
    assert_eq!((status, code.as_str()), (409, "canary_conflict"));

    // Step 1 (10 %) passes once baked; step 2 (50 %) is live as revision 4.
    let (c, served) = bake_step(&node, &clock, 0, 400).await;
    assert_eq!(state(&c), ("running", 1, "passed", served), "{c}");
    let event = last_event(&c);
    assert!(
        event.starts_with(&format!("step 1/3 (10%) passed: {served} requests, error rate 0.0000, p99 ")),
        "{event}"
    );
    assert!(event.ends_with("; now step 2/3 (50%) (revision 4)"), "{event}");
    assert_eq!(
        active_config(&node).await["mapping"],
        json!([{"generation": "v2", "proba": 0.5}, {"generation": "v1", "proba": 0.25}, {"generation": "v3", "proba": 0.25}])
    );

    // Step 2 passes; step 3 serves the canary alone.
    let (c, served) = bake_step(&node, &clock, 1, 80).await;
    assert_eq!(state(&c), ("running", 2, "passed", served), "{c}");
    assert!(last_event(&c).ends_with("; now step 3/3 (100%) (revision 5)"), "{c}");
    assert_eq!(active_config(&node).await["generation"], "v2");

    // Step 3 passing is the promotion: no new revision.
    let (done, served) = bake_step(&node, &clock, 2, 25).await;
    assert_eq!(served, 25, "step 3 serves the canary alone");
    assert_eq!(state(&done), ("promoted", 2, "passed", 25), "{done}");
    assert_eq!(last_event(&done), "promoted: v2 serves 100% (revision 5)");
    let revisions = revisions(&node).await;
    let canary_revs: Vec<(i64, &str)> = revisions
        .iter()
        .filter(|r| r["canary_id"] == 1)
        .map(|r| (r["number"].as_i64().expect("number"), r["reason"].as_str().expect("why")))
        .collect();
    assert_eq!(canary_revs.len(), 3, "one revision per step: {revisions:?}");
    assert!(canary_revs[0].1.starts_with("canary 1: v2 step 1/3 (10%) by "), "{canary_revs:?}");
    assert_eq!(canary_revs[1..], [(4, "canary 1: v2 step 2/3 (50%)"), (5, "canary 1: v2 step 3/3 (100%)")]);
    let passed =
        done["events"].as_array().expect("events").iter().filter(|e| e["message"].to_string().contains("passed"));
    assert_eq!(passed.count(), 3, "{done}");

    // Rolling back after the promotion returns to what served before the canary (revision
    // 2), not to one of its steps.
    let r = post(&node, "/admin/v1/deployments/iris/rollback", json!({})).await;
    let rev: Value = r.json().await.expect("json");
    assert_eq!((rev["number"].as_i64(), rev["rollback_of"].as_i64()), (Some(6), Some(2)), "{rev}");
    assert_eq!(rev["reason"], "rollback: restores revision 2, the revision live before canary 1 started");
    assert_eq!(
        active_config(&node).await["mapping"],
        json!([{"generation": "v1", "proba": 0.5}, {"generation": "v3", "proba": 0.5}])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_version_is_rolled_back_by_the_error_gate() {
    let (node, clock) = node_with(v2("fail")).await;
    start(&node, plan(json!([20, 100]), 20)).await;
    let failed = traffic(&node, 200).await.failed;
    assert!(failed >= 20, "{failed}");
    // No gate decides while the step bakes, failures or not.
    let c = pass_after(&node, &clock, 0).await;
    assert_eq!(state(&c), ("running", 0, "baking", failed), "{c}");

    let done = pass_after(&node, &clock, BAKE).await;
    assert_eq!(state(&done), ("rolled_back", 0, "failed", failed), "{done}");
    assert_eq!(
        (done["last_reading"]["errors"].as_u64(), done["last_reading"]["error_rate"].as_f64()),
        (Some(failed), Some(1.0))
    );
    assert_eq!(active_config(&node).await, json!({"mode": "single", "generation": "v1", "sticky": false}));
    let revisions = revisions(&node).await;
    let last = revisions.last().expect("revision");
    assert_eq!((last["kind"].as_str(), last["rollback_of"].as_i64()), (Some("rollback"), Some(1)));
    let why = format!("error rate 1.0000 > max 0.05 over {failed} requests at step 1/2 (20%)");
    assert_eq!(last["reason"], format!("canary 1 of v2 rolled back: {why}"));
    assert_eq!(last_event(&done), format!("rollback took effect: revision {} is live", last["number"]));
    // An aborted or rolled back canary can be retried.
    start(&node, plan(json!([20, 100]), 20)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_version_is_rolled_back_by_the_latency_gate() {
    let (node, clock) = node_with(v2("slow")).await;
    let mut p = plan(json!([50, 100]), 10);
    p["gates"]["max_p99_ms"] = json!(SLOW_GATE_MS);
    start(&node, p).await;
    let served = traffic(&node, 40).await.by("v2");
    assert!(served >= 10, "{served}");
    let done = pass_after(&node, &clock, BAKE).await;
    assert_eq!(state(&done), ("rolled_back", 0, "failed", served), "{done}");
    let why = done["events"].to_string();
    assert!(why.contains("v2 rolled back: p99 latency "), "{why}");
    assert!(why.contains(&format!(" ms > max {SLOW_GATE_MS} ms over {served} requests at step 1/2 (50%)")), "{why}");
    assert_eq!(active_config(&node).await["generation"], "v1");
}

/// With no traffic, a step is inconclusive from its bake time until the timeout, and then
/// the plan's policy applies. Returns the canary after that pass.
async fn inconclusive_until_the_timeout(node: &TestNode, clock: &ManualClock) -> Value {
    let c = pass_after(node, clock, BAKE + 1).await;
    assert_eq!(state(&c), ("running", 0, "inconclusive", 0), "never passed or failed below the minimum: {c}");
    let c = pass_after(node, clock, TIMEOUT - 2).await;
    assert_eq!(state(&c), ("running", 0, "inconclusive", 0), "{c}");
    let c = pass_after(node, clock, 2).await;
    let why =
        format!("step 1/2 (10%) inconclusive after {}s: 0 requests, below the minimum of 1000", BAKE + TIMEOUT + 1);
    assert!(c["events"].to_string().contains(&why), "{c}");
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_little_traffic_is_inconclusive_then_manual_actions() {
    let (node, clock) = node_with(Faults::default()).await;
    start(&node, plan(json!([10, 100]), 1000)).await;
    let paused = inconclusive_until_the_timeout(&node, &clock).await;
    assert_eq!(state(&paused), ("paused", 0, "inconclusive", 0), "the plan's policy applies after the timeout");
    assert!(last_event(&paused).starts_with("paused: step 1/2 (10%) inconclusive after"), "{paused}");
    // A paused canary is left alone by the controller.
    assert_eq!(state(&pass_after(&node, &clock, BAKE + TIMEOUT).await), ("paused", 0, "inconclusive", 0));
    // Resume, pause, resume, then abort: back to the base config.
    for (action, status) in [("resume", "running"), ("pause", "paused"), ("resume", "running")] {
        let r: Value = post(&node, &format!("/admin/v1/deployments/iris/canary/{action}"), json!({}))
            .await
            .json()
            .await
            .expect("json");
        assert_eq!(r["status"], status);
    }
    // Resumed, the step is measured afresh: baking again.
    assert_eq!(state(&pass_after(&node, &clock, BAKE - 1).await), ("running", 0, "baking", 0));
    let (status, code, _) = error_code(post(&node, "/admin/v1/deployments/iris/canary/resume", json!({})).await).await;
    assert_eq!((status, code.as_str()), (409, "canary_conflict"));
    let r: Value = post(&node, "/admin/v1/deployments/iris/canary/abort", json!({})).await.json().await.expect("json");
    assert_eq!(r["status"], "aborted");
    assert_eq!(active_config(&node).await["generation"], "v1");
    // Retried, then promoted by hand.
    start(&node, plan(json!([10, 100]), 1000)).await;
    let r: Value =
        post(&node, "/admin/v1/deployments/iris/canary/promote", json!({})).await.json().await.expect("json");
    assert_eq!(r["status"], "promoted");
    assert_eq!(active_config(&node).await["generation"], "v2");
    let (status, code, _) = error_code(post(&node, "/admin/v1/deployments/iris/canary/abort", json!({})).await).await;
    assert_eq!((status, code.as_str()), (404, "canary_not_found"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inconclusive_with_the_rollback_policy_rolls_back() {
    let (node, clock) = node_with(Faults::default()).await;
    let mut p = plan(json!([10, 100]), 1000);
    p["on_inconclusive"] = json!("rollback");
    start(&node, p).await;
    let done = inconclusive_until_the_timeout(&node, &clock).await;
    assert_eq!(state(&done), ("rolled_back", 0, "inconclusive", 0), "{done}");
    assert_eq!(active_config(&node).await["generation"], "v1");
    let last = revisions(&node).await.pop().expect("revision");
    assert_eq!(last["kind"], "rollback");
    assert!(last["reason"].as_str().expect("why").contains("step 1/2 (10%) inconclusive after"), "{last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_rollback_stops_a_canary() {
    let (node, _clock) = node_with(Faults::default()).await;
    start(&node, plan(json!([10, 100]), 1000)).await;
    let r = post(&node, "/admin/v1/deployments/iris/rollback", json!({"reason": "stop everything"})).await;
    assert_eq!(r.status(), 200);
    let c = canary(&node).await;
    assert_eq!(c["status"], "aborted");
    assert!(c["events"].to_string().contains("manual rollback"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_resumes_the_canary() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = clock();
    let cfg = config(&dir, &clock, Faults::default());
    let node = spawn_with(dir, cfg, NodeConfig::default()).await;
    node.with_iris().await;
    start(&node, plan(json!([10, 100]), 20)).await;
    // The controller measures some traffic, then the node stops mid-step.
    let before = traffic(&node, 300).await.by("v2");
    assert_eq!(state(&pass_after(&node, &clock, BAKE - 100).await), ("running", 0, "baking", before));
    let dir = node.stop().await;
    let cfg = config(&dir, &clock, Faults::default());
    let node = spawn_with(dir, cfg, NodeConfig::default()).await;
    assert_eq!(canary(&node).await["status"], "running");
    assert_eq!(active_config(&node).await["mode"], "multiple", "the step's config is live again after restart");

    // The step is measured afresh from the first pass after the restart: what the old process
    // counted is gone, and the bake time starts over.
    let c = pass_after(&node, &clock, 0).await;
    assert_eq!(state(&c), ("running", 0, "baking", 0), "{c}");
    assert_eq!(last_event(&c), "controller resumed after a restart: step 1/2 (10%) measured afresh");
    let (c, served) = bake_step(&node, &clock, 0, 300).await;
    assert_eq!(state(&c), ("running", 1, "passed", served), "{c}");
    let (done, served) = bake_step(&node, &clock, 1, 25).await;
    assert_eq!(state(&done), ("promoted", 1, "passed", served), "{done}");
}

/// A controller pass and a user's action on the same canary never overwrite each other:
/// with a controller loop ticking every millisecond and pausing at every pass (no bake, no
/// timeout), an abort right after a resume stays aborted, also after one more pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_actions_are_never_overwritten_by_the_controller() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = clock();
    let cfg = EngineConfig { canary_tick: Some(Duration::from_millis(1)), ..config(&dir, &clock, Faults::default()) };
    let node = spawn_with(dir, cfg, NodeConfig::default()).await;
    node.with_iris().await;
    for round in 0..30 {
        let mut p = plan(json!([10, 100]), 1000);
        p["bake_seconds"] = json!(0);
        p["inconclusive_timeout_seconds"] = json!(0);
        start(&node, p).await;
        let _ = post(&node, "/admin/v1/deployments/iris/canary/resume", json!({})).await;
        let r = post(&node, "/admin/v1/deployments/iris/canary/abort", json!({})).await;
        assert_eq!(r.status(), 200, "round {round}");
        let c = pass_after(&node, &clock, 0).await;
        assert_eq!(c["status"], "aborted", "round {round}: the controller overwrote the abort");
    }
}

/// Two nodes on one PostgreSQL registry and one clock: `a` runs the canary controller and
/// serves nothing; `b` serves the traffic, and its v2 fails. The controller's gates count
/// what `b` flushed (at its close), so the canary is rolled back on exactly `b`'s failures
/// (judged on `a`'s traffic alone it would stay inconclusive).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gates_count_the_traffic_of_every_node() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = crate::support::test_database(dir.path()).await;
    let clock = clock();
    let a_config = EngineConfig {
        database_url: Some(url.clone()),
        instance: "a".into(),
        ..config(&dir, &clock, Faults::default())
    };
    let b_config = EngineConfig { database_url: Some(url), instance: "b".into(), ..config(&dir, &clock, v2("fail")) };
    let a = spawn_with(dir, a_config, NodeConfig::default()).await;
    a.with_iris().await;
    start(&a, plan(json!([50, 100]), 20)).await;
    // Opened now, `b` activates the canary's first step from the registry.
    let b = switchyard::Engine::open(b_config).await.expect("second node");
    let features = iris_row().as_object().expect("row").clone();
    let mut failed = 0;
    for _ in 0..100 {
        if b.predict("iris", &features, switchyard::engine::Routing::default()).await.is_err() {
            failed += 1;
        }
    }
    assert!(failed >= 20, "{failed}");
    b.close().await.expect("close");
    let done = pass_after(&a, &clock, BAKE).await;
    assert_eq!(state(&done), ("rolled_back", 0, "failed", failed), "{done}");
    let why = format!("error rate 1.0000 > max 0.05 over {failed} requests at step 1/2 (50%)");
    assert!(done["events"].to_string().contains(&why), "{done}");
}

/// A plan whose absolute gates never decide (any error rate, any p99): only the comparative
/// gates `comparative` can fail it.
fn comparative_plan(steps: Value, min_requests: u64, comparative: Value) -> Value {
    let mut p = plan(steps, min_requests);
    p["gates"]["max_error_rate"] = json!(1.0);
    p["gates"]["max_p99_ms"] = json!(60_000);
    p["gates"]["comparative"] = comparative;
    p
}

fn check<'a>(c: &'a Value, gate: &str) -> &'a Value {
    let checks = c["last_reading"]["comparative"].as_array().expect("comparative readings");
    checks.iter().find(|x| x["gate"] == gate).unwrap_or_else(|| panic!("no {gate} reading in {c}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_canary_is_rolled_back_by_the_comparative_error_gate_naming_both_rates() {
    let (node, clock) = node_with(v2("fail")).await;
    start(&node, comparative_plan(json!([50, 100]), 20, json!({"max_error_rate_increase": 0.01}))).await;
    let tally = traffic(&node, 200).await;
    let (failed, baseline) = (tally.failed, tally.by("v1"));
    assert!(failed >= 20 && baseline >= 20, "{tally:?}");
    let done = pass_after(&node, &clock, BAKE).await;
    assert_eq!(state(&done), ("rolled_back", 0, "failed", failed), "{done}");
    let gate = check(&done, "error_rate");
    assert_eq!(
        (gate["verdict"].as_str(), gate["canary"].as_f64(), gate["baseline"].as_f64(), gate["p_value"].as_f64()),
        (Some("failed"), Some(1.0), Some(0.0), Some(0.0)),
        "{gate}"
    );
    let last = revisions(&node).await.pop().expect("revision");
    let why = format!(
        "canary 1 of v2 rolled back: error rate vs baseline failed: canary 1.0000 ({failed}/{failed}) vs baseline \
         0.0000 (0/{baseline}), allowed +0.01; p = 0.0000 (α 0.05) at step 1/2 (50%)"
    );
    assert_eq!(last["reason"], why);
    assert_eq!(active_config(&node).await["generation"], "v1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_canary_is_rolled_back_by_the_comparative_p99_gate() {
    let (node, clock) = node_with(v2("slow")).await;
    start(&node, comparative_plan(json!([50, 100]), 10, json!({"max_p99_increase_percent": 100}))).await;
    let tally = traffic(&node, 40).await;
    assert!(tally.by("v2") >= 10 && tally.by("v1") >= 10, "{tally:?}");
    let done = pass_after(&node, &clock, BAKE).await;
    assert_eq!(state(&done).0, "rolled_back", "{done}");
    let gate = check(&done, "p99_latency");
    // v2 sleeps 400 ms a request, v1 answers at once: more than twice as slow, whatever the machine.
    assert!(gate["canary"].as_f64().is_some_and(|ms| ms >= SLOW.as_millis() as f64), "{gate}");
    assert!(gate["baseline"].as_f64().is_some_and(|ms| ms * 2.0 < SLOW.as_millis() as f64), "{gate}");
    assert!(gate["p_value"].as_f64().is_some_and(|p| p < 0.05), "{gate}");
    let reason = revisions(&node).await.pop().expect("revision")["reason"].as_str().expect("reason").to_owned();
    assert!(reason.starts_with("canary 1 of v2 rolled back: p99 latency vs baseline failed: canary "), "{reason}");
    assert!(reason.contains("allowed +100%; p = ") && reason.ends_with("at step 1/2 (50%)"), "{reason}");
}

/// A good canary passes its comparative gates, and each reading shows the baseline's value;
/// too little baseline traffic leaves a gate inconclusive, and the timeout's policy applies
/// naming that gate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn comparative_gates_pass_a_good_canary_and_wait_for_the_baseline_sample() {
    let (node, clock) = node_with(Faults::default()).await;
    let gates = json!({"max_error_rate_increase": 0.01, "max_p99_increase_percent": 5000});
    start(&node, comparative_plan(json!([50, 100]), 20, gates.clone())).await;
    let tally = traffic(&node, 120).await;
    let c = pass_after(&node, &clock, BAKE).await;
    assert_eq!(state(&c), ("running", 1, "passed", tally.by("v2")), "{c}");
    let errors = check(&c, "error_rate");
    assert_eq!((errors["verdict"].as_str(), errors["baseline"].as_f64()), (Some("passed"), Some(0.0)), "{errors}");
    assert!(check(&c, "p99_latency")["baseline"].as_f64().is_some_and(|ms| ms > 0.0), "{c}");
    assert!(
        c["events"].to_string().contains("comparative gates passed: error rate vs baseline, p99 latency vs baseline")
    );
    // At 100 % nothing serves beside the canary: only the absolute gates judge, and it is promoted.
    traffic(&node, 30).await;
    let done = pass_after(&node, &clock, BAKE + 1).await;
    assert_eq!(state(&done).0, "promoted", "{done}");
    assert_eq!(done["last_reading"]["comparative"], json!([]));

    // A canary at 95 % leaves the baseline a handful of requests: inconclusive, then paused.
    node.deploy_ok("iris", json!({"mode": "single", "generation": "v1"})).await;
    start(&node, comparative_plan(json!([95, 100]), 20, gates)).await;
    let tally = traffic(&node, 60).await;
    assert!(tally.by("v1") < 20 && tally.by("v2") >= 20, "{tally:?}");
    let c = pass_after(&node, &clock, BAKE + 1).await;
    assert_eq!(state(&c).0, "running", "{c}");
    assert_eq!(state(&c).2, "inconclusive", "{c}");
    assert_eq!(check(&c, "error_rate")["verdict"], "inconclusive");
    let c = pass_after(&node, &clock, TIMEOUT).await;
    assert_eq!(state(&c).0, "paused", "{c}");
    let message = last_event(&c);
    assert!(message.contains("inconclusive after") && message.contains("error rate vs baseline: "), "{message}");
    assert!(message.contains(&format!("baseline requests {}, below the minimum of 20", tally.by("v1"))), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn comparative_gates_that_could_never_decide_are_refused_at_start() {
    let (node, _clock) = node_with(Faults::default()).await;
    let refused = |gates: Value| {
        let node = &node;
        async move {
            let p = comparative_plan(json!([50, 100]), 20, gates);
            error_code(post(node, "/admin/v1/deployments/iris/canary", p).await).await
        }
    };
    let (status, code, message) = refused(json!({"max_feature_psi": 0.2})).await;
    assert_eq!((status, code.as_str()), (400, "invalid_config"));
    assert!(
        message.contains("max_feature_psi judges v2's traffic against its reference, and v2 has none"),
        "{message}"
    );
    let (status, _, message) = refused(json!({"max_disagreement": 0.05})).await;
    assert_eq!(status, 400);
    assert!(message.contains("the live config must shadow v2"), "{message}");
    let (status, _, message) = refused(json!({"alpha": 0.05})).await;
    assert_eq!(status, 400);
    assert!(message.contains("set at least one of"), "{message}");
    let (status, _, message) = refused(json!({"max_error_rate_increase": 3})).await;
    assert_eq!(status, 400);
    assert!(message.contains("shares in [0, 1]"), "{message}");
    // Nothing started.
    let r = node.http.get(node.url("/admin/v1/deployments/iris/canary")).send().await.expect("send");
    assert_eq!(r.status(), 404);
}
