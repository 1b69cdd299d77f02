//! The model-compatibility corpus over HTTP: every skl2onnx export in `fixtures/corpus/`
//! (default options and the zipmap=False variants) is uploaded, deployed and asked for each
//! of its evaluation rows; answers must equal onnxruntime's stored outputs (labels
//! identical, probabilities and values within 1e-5 relative). And a model with an operator
//! Switchyard does not run is refused at upload with the operator and the way around it.

use serde_json::{Value, json};

use crate::support::{Expected, error_code, fixtures_dir, spawn_node};

fn corpus() -> Vec<(String, Expected)> {
    let dir = fixtures_dir().join("corpus/expected");
    let mut paths: Vec<_> = std::fs::read_dir(&dir).expect("corpus dir").map(|e| e.expect("entry").path()).collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let name = p.file_stem().and_then(|s| s.to_str()).expect("name").to_owned();
            (name, Expected::load(&p))
        })
        .collect()
}

async fn upload_corpus_model(node: &crate::support::TestNode, service: &str, file: &str) -> reqwest::Response {
    let bytes = std::fs::read(fixtures_dir().join("corpus/models").join(file)).expect("model");
    let form = reqwest::multipart::Form::new()
        .part("model", reqwest::multipart::Part::bytes(bytes).file_name(file.to_owned()))
        .text("meta", "{}");
    node.http
        .post(node.url(&format!("/admin/v1/services/{service}/versions")))
        .multipart(form)
        .send()
        .await
        .expect("send")
}

#[tokio::test]
async fn every_corpus_model_matches_onnxruntime_over_http() {
    let node = spawn_node().await;
    let corpus = corpus();
    assert!(corpus.len() >= 40, "{} corpus models", corpus.len());
    for (name, exp) in &corpus {
        let service = name.replace('_', "-");
        node.create_service(&service).await;
        let r = upload_corpus_model(&node, &service, &exp.model).await;
        let status = r.status();
        let body: Value = r.json().await.expect("json");
        assert_eq!(status, 201, "{name}: {body}");
        if exp.kind == "classifier" {
            assert_eq!(body["schema"]["output"]["classes"], json!(exp.class_labels), "{name}");
        }
        node.deploy_ok(&service, json!({"mode": "single", "generation": "v1"})).await;
        assert!(exp.rows.len() >= 100, "{name}: {} rows", exp.rows.len());
        for i in 0..exp.rows.len() {
            let r = node.predict(&service, &exp.features(i)).await;
            assert_eq!(r.status(), 200, "{name} row {i}");
            let body: Value = r.json().await.expect("json");
            exp.assert_answer(name, i, &body);
        }
    }
}

#[tokio::test]
async fn unsupported_operator_is_refused_at_upload_and_nothing_is_registered() {
    let node = spawn_node().await;
    node.create_service("iris").await;
    let r = upload_corpus_model(&node, "iris", "iris_svc.onnx").await;
    let (status, code, message) = error_code(r).await;
    assert_eq!((status, code.as_str()), (400, "invalid_model"), "{message}");
    assert_eq!(
        message,
        "the model uses operators Switchyard cannot run: SVMClassifier (ai.onnx.ml): no skl2onnx option avoids it; \
         use LinearSVC / LinearSVR (exported as LinearClassifier / LinearRegressor) or another supported model"
    );
    let versions: Value = node.get_json("/admin/v1/services/iris/versions").await;
    assert_eq!(versions, json!([]));
    let artifacts = node.dir.path().join("artifacts");
    let stored = std::fs::read_dir(&artifacts).map(|d| d.count()).unwrap_or(0);
    assert!(stored == 0 || walk_empty(&artifacts), "artifacts left behind");
    // The default skl2onnx export (LinearClassifier + Normalizer + ZipMap) is now accepted.
    assert_eq!(node.upload_ok("iris", "iris_logreg_zipmap.onnx").await, "v1");
}

fn walk_empty(dir: &std::path::Path) -> bool {
    std::fs::read_dir(dir).into_iter().flatten().flatten().all(|e| e.path().is_dir() && walk_empty(&e.path()))
}
