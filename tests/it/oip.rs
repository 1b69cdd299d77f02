//! Open Inference Protocol v2 over HTTP with JSON data (the binary extension and a real
//! third-party client are covered by tests/python/test_oip.py).

use serde_json::{Value, json};

use crate::support::spawn_node;

#[tokio::test]
async fn infer_metadata_and_errors() {
    let node = spawn_node().await;
    node.with_iris().await;
    let meta: Value = node.get_json("/v2/models/iris").await;
    assert_eq!(meta["inputs"][0], json!({"name": "float_input", "datatype": "FP32", "shape": [-1, 4]}));
    assert_eq!(meta["versions"], json!(["v1", "v2"]));

    let body = json!({"id": "abc", "parameters": {"anything": 1}, "inputs": [{"name": "float_input", "shape": [2, 4], "datatype": "FP32",
        "data": [[5.1, 3.5, 1.4, 0.2], [7.3, 2.9, 6.3, 1.8]]}]});
    let r = node.http.post(node.url("/v2/models/iris/versions/v1/infer")).json(&body).send().await.expect("send");
    assert_eq!(r.status(), 200);
    let out: Value = r.json().await.expect("json");
    assert_eq!(
        (out["model_name"].as_str(), out["model_version"].as_str(), out["id"].as_str()),
        (Some("iris"), Some("v1"), Some("abc"))
    );
    assert_eq!(out["outputs"][0], json!({"name": "label", "datatype": "INT64", "shape": [2], "data": [0, 2]}));
    assert_eq!(out["outputs"][1]["shape"], json!([2, 3]));

    for (path, body, status, needle) in [
        ("/v2/models/iris/infer", json!({"inputs": []}), 400, "exactly one input"),
        (
            "/v2/models/iris/infer",
            json!({"inputs": [{"name": "float_input", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3]}]}),
            400,
            "needs 4 values",
        ),
        (
            "/v2/models/iris/infer",
            json!({"inputs": [{"name": "float_input", "shape": [1, 4], "datatype": "BYTES", "data": ["a"]}]}),
            400,
            "not supported",
        ),
        ("/v2/models/nope/infer", json!({"inputs": []}), 404, "does not exist"),
        (
            "/v2/models/iris/versions/v7/infer",
            json!({"inputs": [{"name": "float_input", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}),
            404,
            "not a live generation",
        ),
    ] {
        let r = node.http.post(node.url(path)).json(&body).send().await.expect("send");
        assert_eq!(r.status(), status, "{path} {body}");
        let err: Value = r.json().await.expect("json");
        let message = err["error"].as_str().unwrap_or_else(|| panic!("OIP error shape: {err}"));
        assert!(message.contains(needle), "{message}");
    }
    let r = node.http.post(node.url("/v2/models/iris/infer")).body("{").send().await.expect("send");
    assert_eq!(r.status(), 400);
    let ready = node.http.get(node.url("/v2/models/iris/versions/v2/ready")).send().await.expect("send");
    assert_eq!(ready.status(), 404, "v2 is not live: the protocol's 4xx for false");
    let server: Value = node.get_json("/v2").await;
    assert_eq!(server["name"], "switchyard");
}

/// 64 rows seeded in the ranges of the iris features.
fn iris_rows(n: usize) -> Vec<[f64; 4]> {
    use rand::{Rng, SeedableRng, rngs::StdRng};
    let mut rng = StdRng::seed_from_u64(crate::support::SEED);
    let mut draw = |lo: f64, hi: f64| (rng.random_range(lo..hi) * 10.0_f64).round() / 10.0;
    (0..n).map(|_| [draw(4.3, 7.9), draw(2.0, 4.4), draw(1.0, 6.9), draw(0.1, 2.5)]).collect()
}

async fn infer(node: &crate::support::TestNode, version: &str, rows: &[[f64; 4]]) -> Value {
    let body = json!({"inputs": [{"name": "float_input", "shape": [rows.len(), 4], "datatype": "FP32", "data": rows}]});
    let url = node.url(&format!("/v2/models/iris/versions/{version}/infer"));
    let r = node.http.post(url).json(&body).send().await.expect("send");
    assert_eq!(r.status(), 200);
    r.json().await.expect("json")
}

/// A 64-row request runs the model's batch plan once (not the one-row plan 64 times), and
/// its outputs equal those of 64 one-row requests exactly, for a linear model and an MLP.
#[tokio::test]
async fn a_batch_runs_the_batch_plan_once_with_the_answers_of_single_rows() {
    let node = spawn_node().await;
    node.with_iris().await;
    node.deploy_ok(
        "iris",
        json!({"mode": "multiple", "mapping": [
        {"generation": "v1", "proba": 0.5}, {"generation": "v2", "proba": 0.5}]}),
    )
    .await;
    let rows = iris_rows(64);
    for version in ["v1", "v2"] {
        let active = node.engine.active("iris").expect("deployed");
        let model = active.models.iter().find(|(g, _)| g.as_str() == version).expect("loaded").1.clone();
        let (one_before, many_before) = model.plan_runs();
        let batch = infer(&node, version, &rows).await;
        assert_eq!(model.plan_runs(), (one_before, many_before + 1), "{version}: one batch-plan run, no row-plan run");

        let mut labels = Vec::new();
        let mut probabilities = Vec::new();
        for row in &rows {
            let single = infer(&node, version, std::slice::from_ref(row)).await;
            labels.extend(single["outputs"][0]["data"].as_array().expect("labels").iter().cloned());
            probabilities.extend(single["outputs"][1]["data"].as_array().expect("probabilities").iter().cloned());
        }
        assert_eq!(batch["outputs"][0]["data"], Value::Array(labels), "{version}: labels");
        assert_eq!(batch["outputs"][1]["data"], Value::Array(probabilities), "{version}: probabilities");
        assert_eq!(batch["outputs"][1]["shape"], json!([64, 3]));
    }
}

/// A request without credentials to a protected model is refused before its body is read:
/// a body that is neither JSON nor within the size limit still gets 401, not 400 or 413.
#[tokio::test]
async fn infer_authorises_before_reading_the_body() {
    let node = spawn_node().await;
    node.with_iris().await;
    let key = node.http.post(node.url("/admin/v1/deployments/iris/keys")).json(&json!({"name": "ci"}));
    assert_eq!(key.send().await.expect("send").status(), 201);
    let mode = node.http.put(node.url("/admin/v1/deployments/iris/auth")).json(&json!({"mode": "api_key"}));
    assert_eq!(mode.send().await.expect("send").status(), 200);
    for body in [vec![b'{'; 8], vec![b'x'; 4 * 1024 * 1024]] {
        let r = node.http.post(node.url("/v2/models/iris/infer")).body(body).send().await.expect("send");
        assert_eq!(r.status(), 401);
        let err: Value = r.json().await.expect("json");
        assert!(err["error"].is_string(), "the protocol's error shape: {err}");
    }
}
