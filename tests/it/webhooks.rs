//! Notifications on a real node: a receiver (axum on 127.0.0.1:0, in the test) checks each
//! request's signature with its own HMAC computation; events arrive in order with their
//! fields; a receiver failing twice gets the event on the third attempt after the backoff; an
//! event enqueued while the receiver is down survives a node restart; a dead endpoint never
//! holds a deploy up. The engine runs on a [`ManualClock`] with no deliverer loop: tests move
//! the clock and call [`Engine::webhook_pass`](switchyard::Engine::webhook_pass) themselves.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use switchyard::EngineConfig;
use switchyard::clock::ManualClock;
use switchyard::node::NodeConfig;
use switchyard::notify::RetryPolicy;

use crate::support::{SEED, TestNode, bounded, spawn_with};

const SECRET: &str = "receiver-shares-this-secret";

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new("2026-03-02T09:00:00Z".parse().expect("time")))
}

fn config(dir: &tempfile::TempDir, clock: &Arc<ManualClock>) -> EngineConfig {
    EngineConfig {
        router_seed: Some(SEED),
        canary_tick: None,
        scheduler_tick: None,
        webhook_tick: None,
        clock: Arc::clone(clock) as _,
        ..EngineConfig::new(dir.path())
    }
}

async fn node_on(dir: tempfile::TempDir, clock: &Arc<ManualClock>) -> TestNode {
    let cfg = config(&dir, clock);
    spawn_with(dir, cfg, NodeConfig::default()).await
}

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Got {
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Got {
    fn header(&self, name: &str) -> String {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    /// The receiver's own check: HMAC-SHA256 over "<timestamp>.<body>" with the shared secret.
    fn signature_valid(&self) -> bool {
        let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).expect("key");
        mac.update(self.header("x-switchyard-timestamp").as_bytes());
        mac.update(b".");
        mac.update(&self.body);
        let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        expected == self.header("x-switchyard-signature")
    }
}

#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<Got>>>,
    /// Statuses to answer, in order; 200 once empty.
    script: Arc<Mutex<VecDeque<u16>>>,
}

impl Receiver {
    fn got(&self) -> Vec<Got> {
        self.got.lock().expect("lock").clone()
    }
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: axum::body::Bytes) -> StatusCode {
    r.got.lock().expect("lock").push(Got { headers, body: body.to_vec() });
    let status = r.script.lock().expect("lock").pop_front().unwrap_or(200);
    StatusCode::from_u16(status).expect("status")
}

/// Serves the receiver on `listener`; answers `script` first, then 200.
fn serve_receiver(listener: tokio::net::TcpListener, script: &[u16]) -> Receiver {
    let receiver = Receiver { got: Arc::default(), script: Arc::new(Mutex::new(script.iter().copied().collect())) };
    let app = axum::Router::new().route("/hook/{tail}", axum::routing::post(receive)).with_state(receiver.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    receiver
}

async fn receiver(script: &[u16]) -> (Receiver, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/hook/t0ken", listener.local_addr().expect("addr"));
    (serve_receiver(listener, script), url)
}

async fn post(node: &TestNode, path: &str, body: Value) -> (u16, Value) {
    let r = node.http.post(node.url(path)).json(&body).send().await.expect("send");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn add_webhook(node: &TestNode, body: Value) -> Value {
    let (status, hook) = post(node, "/admin/v1/webhooks", body).await;
    assert_eq!(status, 201, "{hook}");
    hook
}

async fn deliveries(node: &TestNode) -> Vec<Value> {
    node.get_json("/admin/v1/webhooks/deliveries").await
}

/// Deploy and rollback reach a signed global webhook in order, with every field; the
/// secret is never shown again; a webhook of another service hears nothing.
#[tokio::test]
async fn signed_events_arrive_in_order_and_verify() {
    let clock = clock();
    let node = node_on(tempfile::tempdir().expect("dir"), &clock).await;
    node.with_iris().await;
    node.create_service("other").await;
    let (rx, url) = receiver(&[]).await;
    let hook = add_webhook(&node, json!({"url": url, "secret": SECRET})).await;
    assert_eq!(hook["signed"], true);
    let (other_rx, other_url) = receiver(&[]).await;
    add_webhook(&node, json!({"url": other_url, "service": "other"})).await;
    let listed = node.http.get(node.url("/admin/v1/webhooks")).send().await.expect("list").text().await.expect("text");
    assert!(!listed.contains(SECRET) && !listed.contains("t0ken"), "secrets and URL tokens stay hidden: {listed}");

    node.deploy_ok("iris", json!({"mode": "single", "generation": "v2"})).await;
    let (status, _) = post(&node, "/admin/v1/deployments/iris/rollback", json!({"reason": "v2 misbehaves"})).await;
    assert_eq!(status, 200);
    assert!(rx.got().is_empty(), "nothing is sent on the deploy's path");
    assert_eq!(node.engine.webhook_pass().await.expect("pass"), 2);

    let got = rx.got();
    let events: Vec<String> = got.iter().map(|g| g.json()["event"].as_str().unwrap_or("").to_owned()).collect();
    assert_eq!(events, ["deploy", "rollback"]);
    for g in &got {
        assert!(g.signature_valid(), "signature of {:?}", g.json());
        assert_eq!(g.header("x-switchyard-timestamp"), "1772442000", "the engine's clock signs");
        assert_eq!(g.header("content-type"), "application/json");
    }
    let rollback = got[1].json();
    assert_eq!(rollback["service"], "iris");
    assert_eq!(rollback["revision"], 3);
    assert_eq!(rollback["time"], "2026-03-02T09:00:00Z");
    assert!(rollback["why"].as_str().unwrap_or("").starts_with("v2 misbehaves"), "{rollback}");
    assert!(rollback["text"].as_str().unwrap_or("").contains("rolled back iris (revision 3)"), "{rollback}");
    assert!(other_rx.got().is_empty(), "another service's webhook hears nothing of iris");

    let listed = deliveries(&node).await;
    let states: Vec<(&str, &str)> =
        listed.iter().map(|d| (d["event"].as_str().unwrap_or(""), d["state"].as_str().unwrap_or(""))).collect();
    assert_eq!(states, [("rollback", "delivered"), ("deploy", "delivered")], "newest first");
    assert_eq!(listed[0]["attempt_log"][0]["status"], 200);
    assert_eq!(node.engine.webhook_pass().await.expect("pass"), 0, "a delivered event is sent once");
    node.stop().await;
}

/// A receiver answering 500 twice then 200 gets the event on the third attempt, each after
/// its backoff (not before), with the same delivery id and body; every attempt is listed.
#[tokio::test]
async fn failures_are_retried_with_backoff_until_delivered() {
    let clock = clock();
    let node = node_on(tempfile::tempdir().expect("dir"), &clock).await;
    node.with_iris().await;
    let (rx, url) = receiver(&[500, 500]).await;
    add_webhook(&node, json!({"url": url, "service": "iris", "secret": SECRET})).await;
    node.deploy_ok("iris", json!({"mode": "single", "generation": "v2"})).await;
    let backoff = RetryPolicy::default().first_backoff;
    assert_eq!(node.engine.webhook_pass().await.expect("pass"), 1);
    let d = &deliveries(&node).await[0];
    assert_eq!(
        (d["state"].as_str(), d["attempts"].as_i64(), d["last_status"].as_i64()),
        (Some("pending"), Some(1), Some(500))
    );
    assert!(d["last_error"].as_str().unwrap_or("").contains("500"), "{d}");
    clock.advance(chrono::Duration::from_std(backoff).expect("d") - chrono::Duration::seconds(1));
    assert_eq!(node.engine.webhook_pass().await.expect("pass"), 0, "not before the backoff");
    clock.advance(chrono::Duration::seconds(1));
    assert_eq!(node.engine.webhook_pass().await.expect("pass"), 1);
    clock.advance(chrono::Duration::from_std(backoff * 2).expect("d"));
    assert_eq!(node.engine.webhook_pass().await.expect("pass"), 1);
    let d = &deliveries(&node).await[0];
    assert_eq!(d["state"], "delivered", "{d}");
    let statuses: Vec<i64> =
        d["attempt_log"].as_array().expect("log").iter().filter_map(|a| a["status"].as_i64()).collect();
    assert_eq!(statuses, [500, 500, 200]);
    let got = rx.got();
    assert_eq!(got.len(), 3);
    assert!(got.iter().all(|g| g.signature_valid() && g.body == got[0].body));
    let id = d["id"].to_string();
    assert!(got.iter().all(|g| g.header("x-switchyard-delivery") == id));
    node.stop().await;
}

/// An event enqueued while the receiver is down is still in the outbox after the node
/// restarts on the same registry, and is delivered once the receiver is back.
#[tokio::test]
async fn nothing_is_lost_across_a_node_restart() {
    let clock = clock();
    let node = node_on(tempfile::tempdir().expect("dir"), &clock).await;
    node.with_iris().await;
    // The receiver's port, with nobody listening on it yet.
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    add_webhook(&node, json!({"url": format!("http://127.0.0.1:{port}/hook/x"), "secret": SECRET})).await;
    node.deploy_ok("iris", json!({"mode": "single", "generation": "v2"})).await;
    assert_eq!(node.engine.webhook_pass().await.expect("pass"), 1);
    let d = &deliveries(&node).await[0];
    assert_eq!((d["state"].as_str(), d["attempts"].as_i64()), (Some("pending"), Some(1)));
    assert!(d["last_error"].as_str().unwrap_or("").contains("cannot connect"), "{d}");

    let dir = node.stop().await;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.expect("the receiver's port again");
    let rx = serve_receiver(listener, &[]);
    let node = node_on(dir, &clock).await;
    clock.advance(chrono::Duration::minutes(1));
    assert_eq!(node.engine.webhook_pass().await.expect("pass"), 1);
    let got = rx.got();
    assert_eq!(got.len(), 1);
    assert!(got[0].signature_valid());
    assert_eq!((got[0].json()["event"].as_str(), got[0].json()["revision"].as_i64()), (Some("deploy"), Some(2)));
    let d = &deliveries(&node).await[0];
    assert_eq!((d["state"].as_str(), d["attempts"].as_i64()), (Some("delivered"), Some(2)));
    node.stop().await;
}

/// An endpoint that accepts connections and never answers, with the deliverer loop running
/// and a per-attempt timeout of five minutes: deploys and rollbacks still complete (far within
/// that), and the delivery waits, unanswered, without an attempt recorded.
#[tokio::test]
async fn a_dead_endpoint_never_blocks_a_deploy() {
    let dir = tempfile::tempdir().expect("dir");
    let cfg = EngineConfig {
        router_seed: Some(SEED),
        webhook_tick: Some(Duration::from_millis(20)),
        webhook_retry: RetryPolicy { timeout: Duration::from_secs(300), ..RetryPolicy::default() },
        ..EngineConfig::new(dir.path())
    };
    let node = spawn_with(dir, cfg, NodeConfig::default()).await;
    node.with_iris().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let held = Arc::new(Mutex::new(Vec::new()));
    let holder = Arc::clone(&held);
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            holder.lock().expect("lock").push(socket); // accepted, never answered
        }
    });
    add_webhook(&node, json!({"url": format!("http://{addr}/hook/dead")})).await;
    let bound = Duration::from_secs(60);
    for (i, generation) in ["v2", "v1", "v2"].into_iter().enumerate() {
        bounded(
            &format!("deploy {i}"),
            bound,
            node.deploy_ok("iris", json!({"mode": "single", "generation": generation})),
        )
        .await;
        if i == 0 {
            // The deliverer is now stuck on the first event's request.
            crate::support::wait_until("the endpoint is called", bound, Duration::from_millis(20), async || {
                !held.lock().expect("lock").is_empty()
            })
            .await;
        }
    }
    let listed = deliveries(&node).await;
    assert_eq!(listed.len(), 3);
    assert!(listed.iter().all(|d| d["state"] == "pending" && d["attempts"] == 0), "{listed:?}");
    bounded("the node stops", bound, node.stop()).await;
}

/// A canary start and abort are notified (canary_step, then canary_aborted with the
/// restoring revision); the test send reports a delivery at once.
#[tokio::test]
async fn canary_events_and_a_test_send() {
    let clock = clock();
    let node = node_on(tempfile::tempdir().expect("dir"), &clock).await;
    node.with_iris().await;
    let (rx, url) = receiver(&[]).await;
    let hook = add_webhook(&node, json!({"url": url, "service": "iris"})).await;
    let plan = json!({"version": "v2", "steps": [50.0, 100.0], "bake_seconds": 600,
           "gates": {"max_error_rate": 0.5, "max_p99_ms": 10000.0, "min_requests": 0},
           "inconclusive_timeout_seconds": 3600, "on_inconclusive": "pause"});
    let (status, body) = post(&node, "/admin/v1/deployments/iris/canary", plan).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = post(&node, "/admin/v1/deployments/iris/canary/abort", json!({})).await;
    assert_eq!(status, 200, "{body}");
    node.engine.webhook_pass().await.expect("pass");
    let got: Vec<Value> = rx.got().iter().map(Got::json).collect();
    let kinds: Vec<(&str, i64)> =
        got.iter().map(|g| (g["event"].as_str().unwrap_or(""), g["revision"].as_i64().unwrap_or(0))).collect();
    assert_eq!(kinds, [("canary_step", 2), ("canary_aborted", 3)]);
    assert!(rx.got().iter().all(|g| g.header("x-switchyard-signature").is_empty()), "unsigned without a secret");

    let (status, test) = post(&node, &format!("/admin/v1/webhooks/{}/test", hook["id"]), json!({})).await;
    assert_eq!(status, 200, "{test}");
    assert_eq!((test["event"].as_str(), test["state"].as_str()), (Some("test"), Some("delivered")));
    assert_eq!(rx.got().len(), 3);
    let (status, _) = post(&node, "/admin/v1/webhooks/999/test", json!({})).await;
    assert_eq!(status, 404);
    let r = node.http.delete(node.url(&format!("/admin/v1/webhooks/{}", hook["id"]))).send().await.expect("delete");
    assert_eq!(r.status(), 204);
    let hooks: Vec<Value> = node.get_json("/admin/v1/webhooks").await;
    assert!(hooks.is_empty());
    let (status, err) = post(&node, "/admin/v1/webhooks", json!({"url": "ftp://x/y"})).await;
    assert_eq!((status, err["error"]["code"].as_str()), (400, Some("invalid_input")));
    let (status, err) = post(&node, "/admin/v1/webhooks", json!({"url": "http://x/y", "service": "nope"})).await;
    assert_eq!((status, err["error"]["code"].as_str()), (404, Some("service_not_found")));
    node.stop().await;
}

/// `switchyard webhooks add|list|test|deliveries|remove` against a node: the secret comes
/// from a file and is never printed; a test send reports its state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_manages_webhooks() {
    let clock = clock();
    let node = node_on(tempfile::tempdir().expect("dir"), &clock).await;
    let (rx, url) = receiver(&[]).await;
    let secret_file = node.dir.path().join("hook-secret");
    std::fs::write(&secret_file, format!("{SECRET}\n")).expect("write");
    let cli = |args: Vec<String>| {
        let url = node.url.clone();
        async move { crate::cli::cli(&url, &args.iter().map(String::as_str).collect::<Vec<_>>()).await }
    };
    let s = |v: &[&str]| v.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>();
    let secret_path = secret_file.to_str().expect("utf8");
    let (ok, out, err) = cli(s(&["webhooks", "add", &url, "--secret-file", secret_path])).await;
    assert!(ok, "{err}");
    assert!(out.contains("webhook 1 added") && out.contains("signed"), "{out}");
    let (ok, out, err) = cli(s(&["webhooks", "list"])).await;
    assert!(ok, "{err}");
    assert!(out.contains("every service") && !out.contains(SECRET) && !out.contains("t0ken"), "{out}");
    let (ok, out, err) = cli(s(&["webhooks", "test", "1"])).await;
    assert!(ok, "{err}");
    assert!(out.contains("test") && out.contains("delivered after 1/1 attempts"), "{out}");
    assert!(rx.got()[0].signature_valid());
    let (ok, out, err) = cli(s(&["webhooks", "deliveries", "--webhook", "1"])).await;
    assert!(ok, "{err}");
    assert_eq!(out.lines().count(), 1, "{out}");
    let (ok, out, err) = cli(s(&["webhooks", "remove", "1"])).await;
    assert!(ok && out.contains("webhook 1 removed"), "{out}{err}");
    let (ok, _, err) = cli(s(&["webhooks", "test", "1"])).await;
    assert!(!ok && err.contains("webhook_not_found"), "{err}");
    node.stop().await;
}

/// A scenario run that fails is notified, with the scenario, the run and why.
#[tokio::test]
async fn a_failed_scenario_run_is_notified() {
    let clock = clock();
    let node = node_on(tempfile::tempdir().expect("dir"), &clock).await;
    node.with_iris().await;
    let (rx, url) = receiver(&[]).await;
    add_webhook(&node, json!({"url": url})).await;
    let spec = json!({"name": "broken", "steps": [
        {"kind": "update_deployment", "name": "deploy", "service": "iris", "version": "missing"}]});
    let (status, body) = post(&node, "/admin/v1/scenarios", spec).await;
    assert!(status == 200 || status == 201, "{body}");
    let (status, run) = post(&node, "/admin/v1/scenarios/broken/runs", json!({})).await;
    assert!((200..300).contains(&status), "{run}");
    let path = format!("/admin/v1/scenarios/broken/runs/{}", run["id"]);
    crate::support::wait_until("the run ends", Duration::from_secs(60), Duration::from_millis(20), async || {
        let run: Value = node.get_json(&path).await;
        run["status"] != "running"
    })
    .await;
    let run: Value = node.get_json(&path).await;
    assert_eq!(run["status"], "failed", "{run}");
    crate::support::wait_until(
        "the failure is enqueued",
        Duration::from_secs(60),
        Duration::from_millis(20),
        async || !deliveries(&node).await.is_empty(),
    )
    .await;
    node.engine.webhook_pass().await.expect("pass");
    let got: Vec<Value> = rx.got().iter().map(Got::json).collect();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!((got[0]["event"].as_str(), got[0]["scenario"].as_str()), (Some("scenario_failed"), Some("broken")));
    assert_eq!(got[0]["run"], run["id"]);
    assert_eq!(got[0]["why"], run["message"]);
    node.stop().await;
}
