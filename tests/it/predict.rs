//! Predictions over HTTP equal the fixtures' expected outputs (computed by onnxruntime when
//! the fixtures were generated), for every fixture model.

use serde_json::{Value, json};

use crate::support::{Expected, fixtures_dir, spawn_node};

#[tokio::test]
async fn every_fixture_matches_onnxruntime() {
    let node = spawn_node().await;
    for name in ["iris_logreg", "iris_mlp", "breast_cancer_logreg", "breast_cancer_mlp", "diabetes_linear"] {
        let path = fixtures_dir().join("expected").join(format!("{name}.json"));
        let exp = Expected::load(&path);
        let service = name.replace('_', "-");
        node.create_service(&service).await;
        assert_eq!(node.upload_ok(&service, &exp.model).await, "v1");
        node.deploy_ok(&service, json!({"mode": "single", "generation": "v1"})).await;
        assert!(exp.rows.len() >= 45);
        for i in 0..exp.rows.len() {
            let r = node.predict(&service, &exp.features(i)).await;
            assert_eq!(r.status(), 200);
            assert_eq!(r.headers()["x-switchyard-generation"], "v1");
            let body: Value = r.json().await.expect("json");
            assert_eq!(body["generation"], "v1");
            assert_eq!(body["service"], service.as_str());
            let generation = body["generation"].as_str().expect("generation");
            assert!(body["request_id"].as_str().is_some_and(|s| s.ends_with(&format!("-{generation}"))), "{body}");
            assert!(body["latency_ms"].as_f64().is_some_and(|l| l >= 0.0));
            exp.assert_answer(name, i, &body);
        }
    }
}

#[tokio::test]
async fn version_records_schema_and_metrics() {
    let node = spawn_node().await;
    node.create_service("iris").await;
    let r = node
        .upload("iris", "iris_logreg.onnx", json!({"id": "baseline", "metrics": {"accuracy": 0.93}, "notes": "first"}))
        .await;
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["id"], "baseline");
    assert_eq!(v["metrics"]["accuracy"], 0.93);
    assert_eq!(v["schema"]["output"]["kind"], "classifier");
    assert_eq!(v["schema"]["features"][0]["name"], "sepal_length");
    assert_eq!(v["schema"]["features"][0]["dtype"], "float32");
    assert_eq!(v["provenance"]["source_file"], "iris_logreg.onnx");
    let sha = v["sha256"].as_str().expect("sha");
    assert_eq!(sha.len(), 64);
    let stored = node.dir.path().join("artifacts/sha256").join(&sha[..2]).join(sha);
    assert_eq!(std::fs::read(stored).expect("artifact stored"), crate::support::fixture("iris_logreg.onnx"));

    // Automatic ids continue after given ones; unique ids get a date and a suffix.
    assert_eq!(node.upload_ok("iris", "iris_mlp.onnx").await, "v1");
    let r = node.upload("iris", "iris_mlp.onnx", json!({"id": "retrained_model", "unique": true})).await;
    let v: Value = r.json().await.expect("json");
    let id = v["id"].as_str().expect("id");
    let today = chrono::Utc::now().format("%Y%m%d").to_string();
    assert!(id.starts_with(&format!("retrained_model-{today}-")), "{id}");
    // A given id is never reused.
    let r = node.upload("iris", "iris_mlp.onnx", json!({"id": "baseline"})).await;
    let (status, code, _) = crate::support::error_code(r).await;
    assert_eq!((status, code.as_str()), (409, "already_exists"));
}

#[tokio::test]
async fn refused_models_leave_nothing_behind() {
    let node = spawn_node().await;
    node.create_service("iris").await;
    // (An unsupported operator is refused the same way: see compat.rs.)
    for (fixture, expected) in [("not_onnx.onnx", "not an ONNX model")] {
        let r = node.upload("iris", fixture, json!({})).await;
        let (status, code, message) = crate::support::error_code(r).await;
        assert_eq!((status, code.as_str()), (400, "invalid_model"), "{message}");
        assert!(message.contains(expected), "{message}");
    }
    let versions: Value = node.get_json("/admin/v1/services/iris/versions").await;
    assert_eq!(versions, json!([]));
    let stored = walk(&node.dir.path().join("artifacts"));
    assert!(stored.is_empty(), "artifacts left behind: {stored:?}");
    // The next good upload still gets v1.
    assert_eq!(node.upload_ok("iris", "iris_logreg.onnx").await, "v1");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        if p.is_dir() { files.extend(walk(&p)) } else { files.push(p) }
    }
    files
}
