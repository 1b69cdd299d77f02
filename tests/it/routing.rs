//! The router over HTTP: the observed split matches the mapping, forced generations, sticky
//! keys.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::support::{iris_row, spawn_node};

/// 99.9% two-sided binomial bound: |observed - n p| <= 3.29 sqrt(n p (1 - p)).
fn within_bound(observed: usize, n: usize, p: f64) -> bool {
    let n = n as f64;
    (observed as f64 - n * p).abs() <= 3.2905 * (n * p * (1.0 - p)).sqrt()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_follows_the_mapping() {
    let node = Arc::new(spawn_node().await);
    node.with_iris().await;
    node.deploy_mapping("iris", &[("v2", 0.7), ("v1", 0.3)]).await;
    const N: usize = 20_000;
    const CLIENTS: usize = 16;
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let node = Arc::clone(&node);
        tasks.push(tokio::spawn(async move {
            let mut counts: HashMap<String, usize> = HashMap::new();
            for _ in 0..N / CLIENTS {
                let r = node.predict("iris", &iris_row()).await;
                assert_eq!(r.status(), 200);
                let header = r.headers()["x-switchyard-generation"].to_str().expect("ascii").to_owned();
                let body: Value = r.json().await.expect("json");
                assert_eq!(body["generation"], header.as_str());
                *counts.entry(header).or_default() += 1;
            }
            counts
        }));
    }
    let mut counts: HashMap<String, usize> = HashMap::new();
    for t in tasks {
        for (g, c) in t.await.expect("client") {
            *counts.entry(g).or_default() += c;
        }
    }
    assert_eq!(counts.values().sum::<usize>(), N);
    assert_eq!(counts.len(), 2, "{counts:?}");
    assert!(within_bound(counts["v2"], N, 0.7), "{counts:?}");
    assert!(within_bound(counts["v1"], N, 0.3), "{counts:?}");

    // The monitor counted exactly what the clients saw.
    let snapshot = node.engine.monitor("iris", 60).await.expect("monitor");
    for g in snapshot.generations {
        assert_eq!(g.requests as usize, counts[&g.generation], "{}", g.generation);
        assert_eq!(g.errors, 0);
        assert!(g.p50_ms > 0.0 && g.p50_ms <= g.p99_ms);
    }
}

#[tokio::test]
async fn forced_generation() {
    let node = spawn_node().await;
    node.with_iris().await;
    node.deploy_mapping("iris", &[("v2", 0.5), ("v1", 0.5)]).await;
    for g in ["v1", "v2"] {
        for _ in 0..20 {
            let r = node
                .http
                .post(node.url("/v1/services/iris/predict"))
                .header("x-switchyard-generation", g)
                .json(&json!({"features": iris_row()}))
                .send()
                .await
                .expect("send");
            assert_eq!(r.headers()["x-switchyard-generation"], g);
        }
    }
    // A version that exists but is not live, and one that does not exist.
    node.upload_ok("iris", "iris_logreg.onnx").await;
    for g in ["v3", "nope"] {
        let r = node
            .http
            .post(node.url("/v1/services/iris/predict"))
            .header("x-switchyard-generation", g)
            .json(&json!({"features": iris_row()}))
            .send()
            .await
            .expect("send");
        let (status, code, message) = crate::support::error_code(r).await;
        assert_eq!((status, code.as_str()), (404, "generation_not_live"));
        assert!(message.contains("live: v2, v1"), "{message}");
    }
}

#[tokio::test]
async fn sticky_keys_keep_their_generation() {
    let node = spawn_node().await;
    node.with_iris().await;
    node.deploy_ok(
        "iris",
        json!({"mode": "multiple", "sticky": true, "mapping": [
            {"generation": "v2", "proba": 0.5}, {"generation": "v1", "proba": 0.5}
        ]}),
    )
    .await;
    let mut first = HashMap::new();
    for round in 0..3 {
        for k in 0..200 {
            let key = format!("customer-{k}");
            let r = node
                .http
                .post(node.url("/v1/services/iris/predict"))
                .header("x-switchyard-key", &key)
                .json(&json!({"features": iris_row()}))
                .send()
                .await
                .expect("send");
            let g = r.headers()["x-switchyard-generation"].to_str().expect("ascii").to_owned();
            if round == 0 {
                first.insert(key, g);
            } else {
                assert_eq!(first[&key], g, "{key} moved");
            }
        }
    }
    let v2 = first.values().filter(|g| *g == "v2").count();
    assert!(within_bound(v2, 200, 0.5), "{v2}");
}
