//! Zero failed requests while the deployment is switched 50 times under 16 concurrent
//! clients, and every answer comes from a generation that was live at that moment.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use serde_json::{Value, json};

use crate::support::{iris_row, spawn_node};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switching_under_load_fails_no_request() {
    let node = Arc::new(spawn_node().await);
    node.with_iris().await;
    assert_eq!(node.upload_ok("iris", "iris_logreg.onnx").await, "v3");
    let configs = [
        json!({"mode": "single", "generation": "v2"}),
        json!({"mode": "multiple", "mapping": [{"generation": "v1", "proba": 0.5}, {"generation": "v3", "proba": 0.5}]}),
        json!({"mode": "single", "generation": "v3"}),
        json!({"mode": "multiple", "mapping": [{"generation": "v2", "proba": 0.9}, {"generation": "v1", "proba": 0.1}]}),
        json!({"mode": "single", "generation": "v1"}),
    ];
    // Revision number -> its generations; revision 1 is v1.
    let mut live: Vec<Vec<String>> = vec![vec![], vec!["v1".into()]];
    let current = Arc::new(AtomicI64::new(1));
    let done = Arc::new(AtomicBool::new(false));

    let mut clients = Vec::new();
    for _ in 0..16 {
        let (node, current, done) = (Arc::clone(&node), Arc::clone(&current), Arc::clone(&done));
        clients.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            while !done.load(Ordering::Acquire) {
                let before = current.load(Ordering::Acquire);
                let r = node.predict("iris", &iris_row()).await;
                let after = current.load(Ordering::Acquire);
                assert_eq!(r.status(), 200, "a request failed during a switch");
                let body: Value = r.json().await.expect("json");
                let revision = body["revision"].as_i64().expect("revision");
                let generation = body["generation"].as_str().expect("generation").to_owned();
                seen.push((before, after, revision, generation));
            }
            seen
        }));
    }
    for i in 0..50 {
        let rev = node.deploy_ok("iris", configs[i % configs.len()].clone()).await;
        let gens: Vec<String> = match rev["config"]["mode"].as_str() {
            Some("single") => vec![rev["config"]["generation"].as_str().expect("g").to_owned()],
            _ => rev["config"]["mapping"]
                .as_array()
                .expect("mapping")
                .iter()
                .map(|e| e["generation"].as_str().expect("g").to_owned())
                .collect(),
        };
        assert_eq!(rev["number"].as_i64(), Some(live.len() as i64));
        live.push(gens);
        current.store(rev["number"].as_i64().expect("n"), Ordering::Release);
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    done.store(true, Ordering::Release);
    let mut total = 0;
    for c in clients {
        for (before, after, revision, generation) in c.await.expect("client") {
            total += 1;
            // The answering revision was live during the request: at or after the one
            // confirmed before it started, at most one past the one confirmed after it ended
            // (a deploy swaps in before its call returns).
            assert!(
                revision >= before && revision <= after + 1,
                "revision {revision} outside [{before}, {}]",
                after + 1
            );
            assert!(live[revision as usize].contains(&generation), "{generation} not live in revision {revision}");
        }
    }
    assert!(total > 500, "only {total} requests were sent during the switches");
}
