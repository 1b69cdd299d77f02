//! The `switchyard` CLI against a running node: service, version, deploy, history, rollback.

use std::process::Command;

use crate::support::{fixtures_dir, spawn_node};

pub(crate) async fn cli(url: &str, args: &[&str]) -> (bool, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchyard"));
    cmd.args(args).env("SWITCHYARD_NODE", url).env_remove("SWITCHYARD_TOKEN_FILE");
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("run cli")).await.expect("join");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_manages_a_node() {
    let node = spawn_node().await;
    let url = node.url.clone();
    let model = fixtures_dir().join("models/iris_logreg.onnx");
    let model = model.to_str().expect("utf8");
    let mlp = fixtures_dir().join("models/iris_mlp.onnx");
    let mlp = mlp.to_str().expect("utf8");

    let (ok, out, err) = cli(&url, &["service", "create", "iris_classifier", "--description", "demo"]).await;
    assert!(ok, "{err}");
    assert!(out.contains("created service iris_classifier"));
    let (ok, out, err) = cli(&url, &["version", "add", "iris_classifier", model, "--metric", "accuracy=0.93"]).await;
    assert!(ok, "{err}");
    assert!(out.contains("created iris_classifier v1"), "{out}");
    let (ok, out, err) = cli(&url, &["version", "add", "iris_classifier", mlp, "--unique", "--id", "mlp"]).await;
    assert!(ok, "{err}");
    let unique_id = out.split_whitespace().nth(2).expect("id").to_owned();
    assert!(unique_id.starts_with("mlp-"), "{out}");

    let (ok, _, err) = cli(&url, &["deploy", "iris_classifier", "v1"]).await;
    assert!(ok, "{err}");
    let mapping = format!(r#"[{{"generation":"{unique_id}","proba":0.7}},{{"generation":"v1","proba":0.3}}]"#);
    let (ok, out, err) = cli(&url, &["deploy", "iris_classifier", "--mapping", &mapping, "--reason", "A/B"]).await;
    assert!(ok, "{err}");
    assert!(out.contains("revision 2"), "{out}");

    // An invalid mapping fails with the entry named, and a non-zero exit.
    let (ok, _, err) =
        cli(&url, &["deploy", "iris_classifier", "--mapping", r#"[{"generation":"v1","proba":0.5}]"#]).await;
    assert!(!ok);
    assert!(err.contains("sum to 0.5") && err.contains("[invalid_mapping]"), "{err}");

    let (ok, out, _) = cli(&url, &["version", "list", "iris_classifier"]).await;
    assert!(ok);
    assert!(out.contains("accuracy=0.93") && out.contains("30% since"), "{out}");
    let (ok, out, _) = cli(&url, &["rollback", "iris_classifier"]).await;
    assert!(ok);
    assert!(out.contains("revision 3: deploy v1"), "{out}");
    let (ok, out, _) = cli(&url, &["history", "iris_classifier"]).await;
    assert!(ok);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert!(lines[1].contains("rollback") && lines[2].contains("A/B"), "{out}");
    let (ok, out, _) = cli(&url, &["service", "list"]).await;
    assert!(ok && out.contains("iris_classifier") && out.contains("deploy v1"), "{out}");

    let features = r#"{"sepal_length":5.1,"sepal_width":3.5,"petal_length":1.4,"petal_width":0.2}"#;
    let (ok, out, err) = cli(&url, &["predict", "iris_classifier", "--features", features]).await;
    assert!(ok, "{err}");
    let answer: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(answer["generation"], "v1");

    let (ok, out, err) = cli(&url, &["ab", "iris_classifier"]).await;
    assert!(ok, "{err}");
    assert!(out.contains("not enough data"), "{out}");

    let (ok, out, err) =
        cli(&url, &["canary", "start", "iris_classifier", &unique_id, "--steps", "10,100", "--min-requests", "1000"])
            .await;
    assert!(ok, "{err}");
    assert!(out.contains(&format!("canary 1 of {unique_id} on iris_classifier: Running, step 1/2 (10%)")), "{out}");
    let (ok, out, err) = cli(&url, &["canary", "abort", "iris_classifier"]).await;
    assert!(ok, "{err}");
    assert!(out.contains("Aborted") && out.contains("rollback took effect"), "{out}");
    // Comparative gates from flags: a PSI gate on a version without a reference is refused
    // with the fix; the others go into the plan as given.
    let canary = ["canary", "start", "iris_classifier", &unique_id, "--min-requests", "1000"];
    let (ok, _, err) = cli(&url, &[&canary[..], &["--max-feature-psi", "0.2"]].concat()).await;
    assert!(!ok && err.contains("has none: upload a reference CSV"), "{err}");
    let flags = ["--max-error-rate-increase", "0.005", "--max-p99-increase-percent", "20", "--alpha", "0.01", "--json"];
    let (ok, out, err) = cli(&url, &[&canary[..], &flags].concat()).await;
    assert!(ok, "{err}");
    let started: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(
        started["plan"]["gates"]["comparative"],
        serde_json::json!({"max_error_rate_increase": 0.005, "max_p99_increase_percent": 20.0,
                           "max_feature_psi": null, "max_disagreement": null, "alpha": 0.01})
    );
    let (ok, _, err) = cli(&url, &["canary", "abort", "iris_classifier"]).await;
    assert!(ok, "{err}");

    // A negative drift alert limit is refused before anything starts (0 turns alerts off).
    let (ok, _, err) = cli(&url, &["serve", "--drift-alert-psi=-1", "--no-demo"]).await;
    assert!(!ok && err.contains("a number, 0 or more"), "{err}");

    // An unreachable node is a clear error, not a hang.
    let (ok, _, err) = cli("http://127.0.0.1:9", &["service", "list"]).await;
    assert!(!ok);
    assert!(err.contains("cannot be reached") && err.contains("hint"), "{err}");
}
