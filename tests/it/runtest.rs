//! Run and test over HTTP: N requests, the observed split against the mapping, forcing.

use serde_json::json;
use switchyard::client::NodeClient;
use switchyard::runtest::{RunRequest, run};

use crate::support::{iris_row, spawn_node};

#[tokio::test]
async fn run_reports_the_split_and_progress() {
    let node = spawn_node().await;
    node.with_iris().await;
    node.deploy_mapping("iris", &[("v2", 0.7), ("v1", 0.3)]).await;
    let client = NodeClient::new(&node.url, None, "test").expect("client");
    let features = iris_row().as_object().cloned().expect("object");
    let mut seen = Vec::new();
    let report = run(
        &client,
        RunRequest {
            service: "iris".into(),
            features: features.clone(),
            count: 200,
            generation: None,
            credential: None,
        },
        |p| seen.push(p.done),
    )
    .await
    .expect("run");
    assert_eq!(seen, (1..=200).collect::<Vec<_>>());
    assert_eq!(report.results.len(), 200);
    assert_eq!(report.errors, 0);
    assert_eq!(report.counts.values().sum::<usize>(), 200);
    assert_eq!(report.expected, [("v1".to_owned(), 0.3), ("v2".to_owned(), 0.7)].into_iter().collect());
    // 99.9% bound for Binomial(200, 0.7): 3.29 * 6.48 = 21.3.
    let v2 = report.counts["v2"] as f64;
    assert!((v2 - 140.0).abs() <= 21.3, "{:?}", report.counts);
    assert!(report.results.iter().enumerate().all(|(i, r)| r.index == i && r.prediction == Some(json!("setosa"))));
    // Each answer carries the class probabilities and the node's own time next to the round trip.
    for r in &report.results {
        let p = r.probabilities.as_ref().expect("probabilities");
        assert_eq!(p.keys().collect::<Vec<_>>(), ["setosa", "versicolor", "virginica"]);
        assert!((p.values().sum::<f64>() - 1.0).abs() < 1e-5, "{p:?}");
        assert!(r.server_latency_ms.is_some_and(|s| s >= 0.0));
    }

    let forced = RunRequest {
        service: "iris".into(),
        features: features.clone(),
        count: 10,
        generation: Some("v1".into()),
        credential: None,
    };
    let report = run(&client, forced, |_| {}).await.expect("run");
    assert_eq!(report.counts, [("v1".to_owned(), 10)].into_iter().collect());

    // Bad input: every request fails with the node's error, and the run still reports.
    let mut bad = features.clone();
    bad.remove("petal_width");
    let report = run(
        &client,
        RunRequest { service: "iris".into(), features: bad, count: 3, generation: None, credential: None },
        |_| {},
    )
    .await
    .expect("run");
    assert_eq!(report.errors, 3);
    let err = report.results[0].error.as_ref().expect("error");
    assert!(err.message.contains("missing features: petal_width"), "{}", err.message);

    let zero = RunRequest { service: "iris".into(), features, count: 0, generation: None, credential: None };
    assert!(run(&client, zero, |_| {}).await.is_err());
}
