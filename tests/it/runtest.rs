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
            rows_csv: None,
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
        rows_csv: None,
    };
    let report = run(&client, forced, |_| {}).await.expect("run");
    assert_eq!(report.counts, [("v1".to_owned(), 10)].into_iter().collect());

    // Bad input: every request fails with the node's error, and the run still reports.
    let mut bad = features.clone();
    bad.remove("petal_width");
    let report = run(
        &client,
        RunRequest {
            service: "iris".into(),
            features: bad,
            count: 3,
            generation: None,
            credential: None,
            rows_csv: None,
        },
        |_| {},
    )
    .await
    .expect("run");
    assert_eq!(report.errors, 3);
    let err = report.results[0].error.as_ref().expect("error");
    assert!(err.message.contains("missing features: petal_width"), "{}", err.message);

    let zero =
        RunRequest { service: "iris".into(), features, count: 0, generation: None, credential: None, rows_csv: None };
    assert!(run(&client, zero, |_| {}).await.is_err());
}

/// A CSV of rows: each row one request, in the file's order, answered as that row sent alone
/// would be; a row the node refuses fails alone; a CSV that cannot be read sends nothing.
#[tokio::test]
async fn a_csv_of_rows_sends_each_row_once_in_order() {
    let node = spawn_node().await;
    node.with_iris().await;
    node.deploy_mapping("iris", &[("v2", 1.0)]).await;
    let client = NodeClient::new(&node.url, None, "test").expect("client");
    let csv = "sepal_length,sepal_width,petal_length,petal_width\n\
               5.1,3.5,1.4,0.2\n\
               6.7,3.0,5.2,2.3\n\
               5.9,3.0,4.2,1.5\n\
               5.0,wide,1.4,0.2\n";
    let request = |rows_csv: &str| RunRequest {
        service: "iris".into(),
        features: serde_json::Map::new(),
        count: 1,
        generation: None,
        credential: None,
        rows_csv: Some(rows_csv.to_owned()),
    };
    let mut seen = Vec::new();
    let report = run(&client, request(csv), |p| seen.push((p.done, p.total))).await.expect("run");
    assert_eq!(report.count, 4);
    assert_eq!(seen, [(1, 4), (2, 4), (3, 4), (4, 4)]);
    assert_eq!(report.errors, 1);
    for (i, line) in csv.lines().skip(1).take(3).enumerate() {
        let values: Vec<f64> = line.split(',').map(|v| v.parse().expect("number")).collect();
        let alone = json!({"sepal_length": values[0], "sepal_width": values[1], "petal_length": values[2], "petal_width": values[3]});
        let r = node.predict("iris", &alone).await;
        let body: serde_json::Value = r.json().await.expect("json");
        assert_eq!(report.results[i].prediction.as_ref(), Some(&body["prediction"]), "row {}", i + 1);
    }
    let refused = report.results[3].error.as_ref().expect("the fourth row is refused");
    assert!(refused.message.contains("sepal_width"), "{}", refused.message);

    let err = run(&client, request("sepal_length,sepal_width\n"), |_| {}).await.expect_err("no rows");
    assert_eq!(err.code().as_str(), "invalid_input");
    assert!(err.to_string().contains("a header but no rows"), "{err}");
}
