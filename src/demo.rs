//! The demo registry loaded on first start: three services built from the shipped fixture
//! models (`fixtures/`), with their holdout metrics, deployed as a newcomer would try them.

use std::collections::BTreeMap;

use serde_json::json;

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::registry::{NewVersion, Provenance};

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
    tracing::info!("demo services loaded: iris_classifier, breast_cancer, diabetes_progression");
    Ok(())
}
