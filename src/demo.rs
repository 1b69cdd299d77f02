//! The demo registry loaded on first start: three services built from the shipped fixture
//! models (`fixtures/`), with their holdout metrics, deployed as a newcomer would try them;
//! and the `retrain_iris` scenario, which retrains the iris classifier with the built-in
//! demo trainer and deploys the result only if it beats the active generation.

use std::collections::BTreeMap;

use serde_json::json;

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::registry::{NewVersion, Provenance};
use crate::scenario::Scenario;

/// The iris data the demo scenario trains and evaluates on, written to `<data_dir>/demo/`.
const IRIS_TRAIN_CSV: &str = include_str!("../fixtures/data/iris_train.csv");
const IRIS_HOLDOUT_CSV: &str = include_str!("../fixtures/data/iris_holdout.csv");

/// The name of the demo scenario.
pub const DEMO_SCENARIO: &str = "retrain_iris";

/// The demo scenario: train (the built-in trainer, so it runs on any machine), register a
/// unique version with the training metrics, evaluate it against the active generation on
/// the holdout CSV, and deploy it only if it is better. On a fresh demo the first run
/// deploys (0.9778 against v1's 0.9333 accuracy); later runs stop at the gate.
pub fn demo_scenario() -> serde_json::Value {
    json!({
        "name": DEMO_SCENARIO,
        "description": "Retrain the iris classifier, register it as a unique version, and deploy it only if it beats the active generation on the holdout set. Monthly at midnight (UTC), or by hand.",
        "variables": {
            "train_csv": "${data_dir}/demo/iris_train.csv",
            "holdout_csv": "${data_dir}/demo/iris_holdout.csv"
        },
        "steps": [
            {
                "kind": "run_command",
                "name": "train",
                "command": ["${switchyard}", "train-demo", "--data", "${train_csv}",
                            "--out", "${run_dir}/model.onnx", "--metrics", "${run_dir}/metrics.json",
                            "--class-labels", "setosa,versicolor,virginica"],
                "timeout_seconds": 300,
                "outputs": {"model_file": "model.onnx", "metrics_file": "metrics.json"}
            },
            {
                "kind": "create_version",
                "name": "register",
                "service": "iris_classifier",
                "model_file": "${model_file}",
                "id": "retrained",
                "unique": true,
                "metrics_file": "${metrics_file}",
                "notes": "Retrained by scenario ${scenario} run ${run_id} on ${date}"
            },
            {
                "kind": "evaluate",
                "name": "compare",
                "service": "iris_classifier",
                "version": "${version_id}",
                "metric": "accuracy",
                "holdout_csv": "${holdout_csv}",
                "target_column": "target",
                "stop_unless_better": true
            },
            {
                "kind": "update_deployment",
                "name": "deploy",
                "service": "iris_classifier",
                "version": "${version_id}",
                "mode": "single"
            }
        ],
        "triggers": [
            {"kind": "manual"},
            {"kind": "cron", "schedule": "0 0 1 * *", "timezone": "UTC", "on_missed": "skip"}
        ]
    })
}

/// Writes the demo scenario's data files and saves the scenario.
pub async fn seed_scenario(engine: &Engine) -> Result<()> {
    let dir = engine.data_dir().join("demo");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("iris_train.csv"), IRIS_TRAIN_CSV)?;
    std::fs::write(dir.join("iris_holdout.csv"), IRIS_HOLDOUT_CSV)?;
    let spec: Scenario = serde_json::from_value(demo_scenario())
        .map_err(|e| Error::Internal(format!("the demo scenario does not parse: {e}")))?;
    engine.save_scenario(spec).await?;
    Ok(())
}

struct DemoVersion {
    model: &'static [u8],
    expected: &'static str,
    file: &'static str,
    notes: &'static str,
}

const IRIS_LOGREG: DemoVersion = DemoVersion {
    model: include_bytes!("../fixtures/models/iris_logreg.onnx"),
    expected: include_str!("../fixtures/expected/iris_logreg.json"),
    file: "iris_logreg.onnx",
    notes: "Logistic regression, scikit-learn",
};
const IRIS_MLP: DemoVersion = DemoVersion {
    model: include_bytes!("../fixtures/models/iris_mlp.onnx"),
    expected: include_str!("../fixtures/expected/iris_mlp.json"),
    file: "iris_mlp.onnx",
    notes: "MLP (16 hidden units), scikit-learn",
};
const CANCER_LOGREG: DemoVersion = DemoVersion {
    model: include_bytes!("../fixtures/models/breast_cancer_logreg.onnx"),
    expected: include_str!("../fixtures/expected/breast_cancer_logreg.json"),
    file: "breast_cancer_logreg.onnx",
    notes: "Logistic regression on raw features",
};
const CANCER_MLP: DemoVersion = DemoVersion {
    model: include_bytes!("../fixtures/models/breast_cancer_mlp.onnx"),
    expected: include_str!("../fixtures/expected/breast_cancer_mlp.json"),
    file: "breast_cancer_mlp.onnx",
    notes: "Standardised features + MLP",
};
const DIABETES_LINEAR: DemoVersion = DemoVersion {
    model: include_bytes!("../fixtures/models/diabetes_linear.onnx"),
    expected: include_str!("../fixtures/expected/diabetes_linear.json"),
    file: "diabetes_linear.onnx",
    notes: "Linear regression",
};

/// Holdout metrics recorded by the fixture generator.
fn metrics(expected: &str) -> Result<BTreeMap<String, f64>> {
    let v: serde_json::Value =
        serde_json::from_str(expected).map_err(|e| Error::Internal(format!("demo fixture unreadable: {e}")))?;
    let mut out = BTreeMap::new();
    if let Some(a) = v["sklearn_accuracy"].as_f64() {
        out.insert("accuracy".to_owned(), (a * 10_000.0).round() / 10_000.0);
    }
    if let Some(r2) = v["sklearn_r2"].as_f64() {
        out.insert("r2".to_owned(), (r2 * 10_000.0).round() / 10_000.0);
    }
    Ok(out)
}

async fn add(engine: &Engine, service: &str, v: &DemoVersion) -> Result<()> {
    let new = NewVersion {
        metrics: metrics(v.expected)?,
        notes: v.notes.to_owned(),
        provenance: Provenance {
            created_by: "demo".to_owned(),
            source_file: Some(format!("fixtures/models/{}", v.file)),
            details: BTreeMap::from([("trained_with".to_owned(), "fixtures/generate.py".to_owned())]),
        },
        ..NewVersion::default()
    };
    engine.create_version(service, v.model.to_vec(), new).await?;
    Ok(())
}

/// Seeds the demo into an empty registry (no service yet); says whether it did. The front
/// ends call it after [`Engine::open`]: the desktop always, `serve` unless `--no-demo`.
pub async fn seed_if_empty(engine: &Engine) -> Result<bool> {
    if !engine.list_services().await?.is_empty() {
        return Ok(false);
    }
    seed(engine).await?;
    Ok(true)
}

pub async fn seed(engine: &Engine) -> Result<()> {
    const WHO: &str = "demo";
    engine.create_service("iris_classifier", "Iris species from sepal and petal sizes (3 classes)").await?;
    add(engine, "iris_classifier", &IRIS_LOGREG).await?;
    add(engine, "iris_classifier", &IRIS_MLP).await?;
    engine.deploy_version("iris_classifier", "v1", WHO, "first release").await?;

    engine.create_service("breast_cancer", "Malignant or benign tumour from 30 measurements (binary)").await?;
    add(engine, "breast_cancer", &CANCER_LOGREG).await?;
    add(engine, "breast_cancer", &CANCER_MLP).await?;
    engine.deploy_version("breast_cancer", "v1", WHO, "first release").await?;
    let ab = json!({"mode": "multiple", "mapping": [
        {"generation": "v2", "proba": 0.5}, {"generation": "v1", "proba": 0.5}
    ]});
    engine.deploy("breast_cancer", &ab, WHO, "A/B test: MLP against logistic regression").await?;

    engine.create_service("diabetes_progression", "Disease progression one year after baseline (regression)").await?;
    add(engine, "diabetes_progression", &DIABETES_LINEAR).await?;
    engine.deploy_version("diabetes_progression", "v1", WHO, "first release").await?;
    seed_scenario(engine).await?;
    tracing::info!("demo loaded: iris_classifier, breast_cancer, diabetes_progression; scenario {DEMO_SCENARIO}");
    Ok(())
}
