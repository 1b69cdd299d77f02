//! Every kind of bad input answers a 4xx JSON error with the right code, never a 5xx, and
//! the node keeps answering correctly afterwards.

use serde_json::json;

use crate::support::{error_code, iris_row, spawn_node};

#[tokio::test]
async fn bad_predict_requests() {
    let node = spawn_node().await;
    node.with_iris().await;
    let raw = |body: String| {
        node.http
            .post(node.url("/v1/services/iris/predict"))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let row = r#""sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4"#;
    let cases: Vec<(String, u16, &str, &str)> = vec![
        ("{\"features\": {".into(), 400, "malformed_json", "EOF"),
        ("".into(), 400, "malformed_json", "empty"),
        ("not json".into(), 400, "malformed_json", "expected"),
        (format!("{{\"features\": {{{row}, \"petal_width\": NaN}}}}"), 400, "malformed_json", ""),
        (format!("{{\"features\": {{{row}, \"petal_width\": Infinity}}}}"), 400, "malformed_json", ""),
        (format!("{{\"features\": {{{row}, \"petal_width\": 1e400}}}}"), 400, "malformed_json", ""),
        (
            format!("{{\"features\": {{{row}, \"petal_width\": 1e39}}}}"),
            400,
            "invalid_input",
            "out of range for float32",
        ),
        (format!("{{\"features\": {{{row}}}}}"), 400, "invalid_input", "missing features: petal_width"),
        (
            format!("{{\"features\": {{{row}, \"petal_width\": 0.2, \"colour\": 1}}}}"),
            400,
            "invalid_input",
            "unknown features: colour",
        ),
        (
            format!("{{\"features\": {{{row}, \"petal_width\": \"0.2\"}}}}"),
            400,
            "invalid_input",
            "must be a number, got a string",
        ),
        (format!("{{\"features\": {{{row}, \"petal_width\": true}}}}"), 400, "invalid_input", "got a boolean"),
        (format!("{{\"features\": {{{row}, \"petal_width\": [0.2]}}}}"), 400, "invalid_input", "got a list"),
        ("{\"features\": [5.1, 3.5, 1.4, 0.2]}".into(), 400, "invalid_input", "invalid type"),
        ("{\"rows\": []}".into(), 400, "invalid_input", "unknown field"),
        ("{}".into(), 400, "invalid_input", "missing field `features`"),
        ("[]".into(), 400, "invalid_input", ""),
        (
            format!("{{\"features\": {{{row}, \"petal_width\": 0.2, \"ünïcødé ✓\": 1}}}}"),
            400,
            "invalid_input",
            "ünïcødé",
        ),
    ];
    for (body, status, code, needle) in cases {
        let r = raw(body.clone()).await.expect("send");
        let (got_status, got_code, message) = error_code(r).await;
        assert_eq!((got_status, got_code.as_str()), (status, code), "{body}: {message}");
        assert!(message.contains(needle), "{body}: {message}");
    }

    // Over the 1 MiB limit.
    let big = format!("{{\"features\": {{\"pad\": \"{}\"}}}}", "x".repeat(1024 * 1024 + 10));
    let (status, code, _) = error_code(raw(big).await.expect("send")).await;
    assert_eq!((status, code.as_str()), (413, "payload_too_large"));

    // Unknown service; known service not deployed; unknown endpoint; wrong method.
    let (status, code, _) = error_code(node.predict("nope", &iris_row()).await).await;
    assert_eq!((status, code.as_str()), (404, "service_not_found"));
    node.create_service("empty").await;
    let (status, code, message) = error_code(node.predict("empty", &iris_row()).await).await;
    assert_eq!((status, code.as_str()), (404, "not_deployed"), "{message}");
    let r = node.http.get(node.url("/v1/nothing")).send().await.expect("send");
    assert_eq!(error_code(r).await.1, "not_found");
    let r = node.http.get(node.url("/v1/services/iris/predict")).send().await.expect("send");
    assert_eq!(r.headers().get("allow").map(|v| v.to_str().expect("ascii")), Some("POST"));
    assert_eq!(
        error_code(r).await,
        (405, "method_not_allowed".into(), "/v1/services/iris/predict does not accept GET".into())
    );
    let r = node.http.request(reqwest::Method::TRACE, node.url("/v2/health/live")).send().await.expect("send");
    assert_eq!(r.status(), 405);
    let body: serde_json::Value = r.json().await.expect("json");
    assert!(body["error"].is_string(), "the protocol's error shape on /v2: {body}");
    // Valid JSON that is not an object is not read as a struct's fields by position.
    let (status, code, message) = error_code(raw(r#"[{"sepal_length": 5.1}]"#.into()).await.expect("send")).await;
    assert_eq!((status, code.as_str()), (400, "invalid_input"), "{message}");
    assert!(message.contains("must be a JSON object"), "{message}");

    // Still answering correctly.
    let r = node.predict("iris", &iris_row()).await;
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(body["prediction"], "setosa");
}

#[tokio::test]
async fn bad_admin_requests() {
    let node = spawn_node().await;
    node.with_iris().await;
    let post = |path: &str, body: serde_json::Value| node.http.post(node.url(path)).json(&body).send();
    let (status, code, _) =
        error_code(post("/admin/v1/services", json!({"name": "Bad Name"})).await.expect("send")).await;
    assert_eq!((status, code.as_str()), (400, "invalid_name"));
    let (status, code, _) = error_code(post("/admin/v1/services", json!({"name": "iris"})).await.expect("send")).await;
    assert_eq!((status, code.as_str()), (409, "already_exists"));
    let (status, code, _) = error_code(post("/admin/v1/services", json!({"nom": "x"})).await.expect("send")).await;
    assert_eq!((status, code.as_str()), (400, "invalid_input"));
    let (status, code, message) =
        error_code(post("/admin/v1/services", json!(["positional", ""])).await.expect("send")).await;
    assert_eq!((status, code.as_str()), (400, "invalid_input"), "{message}");
    let r = node.http.post(node.url("/admin/v1/deployments/iris/rollback")).body("[null, null]").send();
    assert_eq!(error_code(r.await.expect("send")).await.1, "invalid_input");
    // Every refusal is JSON, whatever part of the request is wrong: a query, the form.
    let r = node.http.get(node.url("/admin/v1/deployments/iris/monitor?minutes=many")).send().await.expect("send");
    let (status, code, message) = error_code(r).await;
    assert_eq!((status, code.as_str()), (400, "invalid_input"), "{message}");
    assert!(message.contains("query string"), "{message}");
    let r = node.http.post(node.url("/admin/v1/services/iris/versions")).json(&json!({})).send().await.expect("send");
    let (status, code, message) = error_code(r).await;
    assert_eq!((status, code.as_str()), (400, "invalid_input"), "{message}");
    assert!(message.contains("multipart/form-data"), "{message}");
    // Upload to an unknown service; upload without a model part.
    let (status, code, _) = error_code(node.upload("ghost", "iris_logreg.onnx", json!({})).await).await;
    assert_eq!((status, code.as_str()), (404, "service_not_found"));
    let form = reqwest::multipart::Form::new().text("meta", "{}");
    let r = node.http.post(node.url("/admin/v1/services/iris/versions")).multipart(form).send().await.expect("send");
    assert_eq!(error_code(r).await.1, "invalid_input");
    let (status, code, _) =
        error_code(node.upload("iris", "iris_logreg.onnx", json!({"metrics": {"acc": "high"}})).await).await;
    assert_eq!((status, code.as_str()), (400, "invalid_input"));
    // Deploy to unknown service / with an unknown version / a bad mode.
    let (status, code, _) = error_code(node.deploy("ghost", json!({"mode": "single", "generation": "v1"})).await).await;
    assert_eq!((status, code.as_str()), (404, "service_not_found"));
    let (status, code, _) = error_code(node.deploy("iris", json!({"mode": "single", "generation": "v7"})).await).await;
    assert_eq!((status, code.as_str()), (400, "invalid_config"));
    let (status, code, _) = error_code(node.deploy("iris", json!({"mode": "canary"})).await).await;
    assert_eq!((status, code.as_str()), (400, "invalid_config"));
    let r = node.http.get(node.url("/admin/v1/services/iris/versions/v9")).send().await.expect("send");
    assert_eq!(error_code(r).await.1, "version_not_found");
    let r = node.http.get(node.url("/admin/v1/deployments/ghost")).send().await.expect("send");
    assert_eq!(error_code(r).await.1, "service_not_found");
}
