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
