//! Zero failed requests while the deployment is switched 50 times under 16 concurrent
//! clients, and every answer comes from a generation that was live at that moment. Each
//! revision serves requests of its own before the next switch (the switches wait for answers,
//! not for time).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{LiveRevisions, iris_row, spawn_node};

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
    let live = Arc::new(LiveRevisions::new(&node.get_json::<Value>("/admin/v1/deployments/iris").await));
    assert_eq!(live.current(), 1);
    let done = Arc::new(AtomicBool::new(false));

    let mut clients = Vec::new();
    for _ in 0..16 {
        let (node, live, done) = (Arc::clone(&node), Arc::clone(&live), Arc::clone(&done));
        clients.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            while !done.load(Ordering::Acquire) {
                let before = live.current();
                let r = node.predict("iris", &iris_row()).await;
                live.answered();
                let after = live.current();
                assert_eq!(r.status(), 200, "a request failed during a switch");
                let body: Value = r.json().await.expect("json");
                let revision = body["revision"].as_i64().expect("revision");
                let generation = body["generation"].as_str().expect("generation").to_owned();
                seen.push((before, after, revision, generation));
            }
            seen
        }));
    }
    let mut slowest = live.settle(16, Duration::from_secs(60)).await;
    for i in 0..50 {
        let rev = node.deploy_ok("iris", configs[i % configs.len()].clone()).await;
        assert_eq!(live.committed(&rev), i as i64 + 2);
        // Normally a few milliseconds; 60 s only catches a hang.
        slowest = slowest.max(live.settle(16, Duration::from_secs(60)).await);
    }
    done.store(true, Ordering::Release);
    let mut served: BTreeMap<i64, usize> = BTreeMap::new();
    for c in clients {
        for (before, after, revision, generation) in c.await.expect("client") {
            *served.entry(revision).or_default() += 1;
            live.check(before, after, revision, &generation).unwrap_or_else(|e| panic!("{e}"));
        }
    }
    println!("answers per revision: {served:?}; slowest wait for 32 answers after a switch: {slowest:?}");
    assert_eq!(served.keys().copied().collect::<Vec<_>>(), live.revisions(), "every revision served requests");
    assert!(served.values().all(|n| *n >= 16), "{served:?}");
}
