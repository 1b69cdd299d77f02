//! The engine announces every change of its state (what the desktop's window listens to):
//! services, versions and deployments, canaries, access, scenario runs, whichever caller
//! made them.

use std::time::Duration;

use serde_json::json;
use switchyard::events::{Change, Listener};

use crate::support::{bounded, spawn_node};

/// The next change; a change normally arrives within milliseconds, 20 s only catches one
/// that never comes.
async fn next(listener: &mut Listener) -> Change {
    bounded("the next change", Duration::from_secs(20), listener.next()).await.expect("the engine is open")
}

fn service(name: &str) -> Change {
    Change::Service { service: name.into() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_is_announced_once_in_order() {
    let node = spawn_node().await;
    let mut changes = node.engine.subscribe();

    node.create_service("iris").await;
    assert_eq!(next(&mut changes).await, Change::Services);
    node.upload_ok("iris", "iris_logreg.onnx").await;
    node.upload_ok("iris", "iris_mlp.onnx").await;
    node.deploy_ok("iris", json!({"mode": "single", "generation": "v1"})).await;
    for _ in 0..3 {
        assert_eq!(next(&mut changes).await, service("iris"));
    }
    // A refused change announces nothing: the next change is the key.
    assert_eq!(node.deploy("iris", json!({"mode": "single", "generation": "v1"})).await.status(), 409);
    let r = node.http.post(node.url("/admin/v1/deployments/iris/keys")).json(&json!({"name": "app"})).send().await;
    assert_eq!(r.expect("send").status(), 201);
    assert_eq!(next(&mut changes).await, Change::Access { service: "iris".into() });

    // A canary: its first step is a revision, then the canary's state.
    let plan = json!({"version": "v2", "steps": [10, 100], "bake_seconds": 60,
                      "gates": {"max_error_rate": 0.05, "max_p99_ms": 1000, "min_requests": 10}});
    let r = node.http.post(node.url("/admin/v1/deployments/iris/canary")).json(&plan).send().await.expect("send");
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
    assert_eq!(next(&mut changes).await, service("iris"));
    assert_eq!(next(&mut changes).await, Change::Canary { service: "iris".into() });

    // A scenario: saved, its run started, its run ended.
    let spec = json!({"name": "noop", "steps": [{"kind": "run_command", "name": "work", "command": "true"}]});
    let r = node.http.post(node.url("/admin/v1/scenarios")).json(&spec).send().await.expect("send");
    assert_eq!(r.status(), 200);
    let r = node.http.post(node.url("/admin/v1/scenarios/noop/runs")).send().await.expect("send");
    assert_eq!(r.status(), 202);
    let scenario = Change::Scenario { scenario: "noop".into() };
    for _ in 0..3 {
        assert_eq!(next(&mut changes).await, scenario);
    }
}
