use std::path::PathBuf;

use serde::Deserialize;

use tract_onnx::pb;

use super::*;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

fn read(path: PathBuf) -> Vec<u8> {
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn fixture(name: &str) -> Vec<u8> {
    read(fixtures().join("models").join(name))
}

fn close(got: f64, want: f64) -> bool {
    (got - want).abs() <= 1e-5 * want.abs().max(1.0) || (got.is_nan() && want.is_nan())
}

#[test]
fn iris_schema() {
    let m = LoadedModel::load(&fixture("iris_logreg.onnx")).expect("loads");
    let names: Vec<_> = m.schema().features.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["sepal_length", "sepal_width", "petal_length", "petal_width"]);
    assert_eq!(
        m.schema().output,
        OutputKind::Classifier { classes: vec!["setosa".into(), "versicolor".into(), "virginica".into()] }
    );
    let Prediction::Class { class, probabilities, .. } = m.predict(&[5.1, 3.5, 1.4, 0.2]).expect("predicts") else {
        panic!("classifier expected");
    };
    assert_eq!(class, "setosa");
    let sum: f64 = probabilities.iter().map(|(_, p)| p).sum();
    assert!((sum - 1.0).abs() < 1e-5);
}

#[test]
fn regressor_schema() {
    let m = LoadedModel::load(&fixture("diabetes_linear.onnx")).expect("loads");
    assert_eq!(m.schema().output, OutputKind::Regressor);
    assert_eq!(m.schema().features.len(), 10);
    assert!(matches!(m.predict(&[0.0; 10]), Ok(Prediction::Value(v)) if v.is_finite()));
}

#[test]
fn refuses_garbage_and_unsupported_operators() {
    let e = inspect(&fixture("not_onnx.onnx")).expect_err("garbage");
    assert!(e.to_string().starts_with("not an ONNX model"), "{e}");
    let e = inspect(&read(fixtures().join("corpus/models/iris_svc.onnx"))).expect_err("SVMClassifier");
    assert!(matches!(e, Error::InvalidModel(_)));
    assert_eq!(
        e.to_string(),
        "the model uses operators Switchyard cannot run: SVMClassifier (ai.onnx.ml): no skl2onnx option avoids it; \
         use LinearSVC / LinearSVR (exported as LinearClassifier / LinearRegressor) or another supported model"
    );
}

#[test]
fn every_unsupported_operator_is_listed_once() {
    let node = |op: &str, domain: &str| pb::NodeProto {
        op_type: op.into(),
        domain: domain.into(),
        input: vec!["x".into()],
        output: vec![format!("{op}_out")],
        ..Default::default()
    };
    let graph = pb::GraphProto {
        node: vec![
            node("SVMRegressor", "ai.onnx.ml"),
            node("OneHotEncoder", "ai.onnx.ml"),
            node("SVMRegressor", "ai.onnx.ml"),
            node("FusedGemm", "com.microsoft"),
            node("NoSuchCoreOp", ""),
            node("Relu", ""),
        ],
        ..Default::default()
    };
    let model = pb::ModelProto { graph: Some(graph), ..Default::default() };
    let registry = tract_onnx::onnx().op_register.0;
    let Err(message) = compat::rewrite(model, &|op| registry.contains_key(op)) else { panic!("refused") };
    assert_eq!(message.matches("SVMRegressor").count(), 1, "{message}");
    for expected in [
        "SVMRegressor (ai.onnx.ml): no skl2onnx option avoids it",
        "OneHotEncoder (ai.onnx.ml): no skl2onnx option avoids it; encode the features",
        "FusedGemm (com.microsoft): operators of domain 'com.microsoft' are not standard ONNX",
        "NoSuchCoreOp (ai.onnx): tract-onnx 0.23.9 does not implement it",
    ] {
        assert!(message.contains(expected), "{message}");
    }
    assert!(!message.contains("Relu"), "{message}");
}

#[test]
fn wrong_row_width_is_an_input_error() {
    let m = LoadedModel::load(&fixture("iris_mlp.onnx")).expect("loads");
    assert!(matches!(m.predict(&[1.0]), Err(Error::InvalidInput(_))));
    assert!(matches!(m.predict_batch(&[1.0; 6]), Err(Error::InvalidInput(_))));
}

/// `fixtures/corpus/expected/<name>.json`.
#[derive(Deserialize)]
struct Corpus {
    model: String,
    kind: String,
    rows: Vec<Vec<f64>>,
    #[serde(default)]
    class_labels: Vec<String>,
    #[serde(default)]
    labels: Vec<usize>,
    #[serde(default)]
    probabilities: Vec<Vec<f64>>,
    #[serde(default)]
    values: Vec<f64>,
}

fn corpus() -> Vec<(String, Corpus)> {
    let dir = fixtures().join("corpus/expected");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir).expect("corpus").map(|e| e.expect("entry").path()).collect();
    names.sort();
    names
        .into_iter()
        .map(|p| {
            let name = p.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_owned();
            (name, serde_json::from_slice(&read(p)).expect("expected json"))
        })
        .collect()
}

/// The HTTP test (tests/it/compat.rs) checks every row through the node; this checks the
/// batch path and the one-row path against each other and onnxruntime, without a server.
#[test]
fn corpus_matches_onnxruntime_in_batches_and_single_rows() {
    let corpus = corpus();
    assert!(corpus.len() >= 40, "{} corpus models", corpus.len());
    for (name, exp) in corpus {
        let m = LoadedModel::load(&read(fixtures().join("corpus/models").join(&exp.model)))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let flat: Vec<f64> = exp.rows.iter().flatten().copied().collect();
        let out = m.predict_batch(&flat).unwrap_or_else(|e| panic!("{name}: {e}"));
        let batch = out.predictions();
        assert_eq!(batch.len(), exp.rows.len());
        for (i, (row, got)) in exp.rows.iter().zip(&batch).enumerate() {
            // What the Open Inference Protocol answers from (no `Prediction` per row) says
            // what the row's `Prediction` says.
            match got {
                Prediction::Class { label, probabilities, .. } => {
                    assert_eq!((out.label(i), out.output(i)), (*label, *label as f64), "{name} row {i}");
                    let k = probabilities.len();
                    let from_batch = &out.probabilities()[i * k..(i + 1) * k];
                    assert!(probabilities.iter().map(|(_, p)| p).eq(from_batch), "{name} row {i}");
                }
                Prediction::Value(v) => {
                    assert_eq!((out.label(i), out.output(i)), (*v as i64, *v), "{name} row {i}");
                    assert!(out.probabilities().is_empty(), "{name}");
                }
            }
            let single = m.predict(row).expect("predicts");
            match (&single, got) {
                (Prediction::Class { class: a, .. }, Prediction::Class { class: b, .. }) => {
                    assert_eq!(a, b, "{name} row {i}")
                }
                (Prediction::Value(a), Prediction::Value(b)) => assert!(close(*a, *b), "{name} row {i}: {a} vs {b}"),
                _ => panic!("{name}: kinds differ"),
            }
            match got {
                Prediction::Class { label, class, probabilities } => {
                    assert_eq!(exp.kind, "classifier");
                    assert_eq!(*label as usize, exp.labels[i], "{name} row {i}: label");
                    assert_eq!(class, &exp.class_labels[exp.labels[i]], "{name} row {i}");
                    for ((c, p), (want_c, want)) in
                        probabilities.iter().zip(exp.class_labels.iter().zip(&exp.probabilities[i]))
                    {
                        assert_eq!(c, want_c);
                        assert!(close(*p, *want), "{name} row {i} class {c}: {p} vs {want}");
                    }
                }
                Prediction::Value(v) => assert!(close(*v, exp.values[i]), "{name} row {i}: {v} vs {}", exp.values[i]),
            }
        }
    }
}

/// `fixtures/semantics/expected/<case>.json`.
#[derive(Deserialize)]
struct Semantics {
    input_type: String,
    rows: Vec<Vec<Option<f64>>>,
    #[serde(default)]
    labels: Vec<i64>,
    #[serde(default)]
    scores: Vec<Vec<f64>>,
    #[serde(default)]
    values: Vec<Vec<f64>>,
}

/// Runs a model's raw outputs (no decoding) through the compatibility layer and tract.
fn run_raw(bytes: &[u8], exp: &Semantics) -> TVec<TValue> {
    let onnx = onnx();
    let proto = onnx.proto_model_for_read(&mut &*bytes).expect("protobuf");
    let registry = &onnx.op_register.0;
    let compat = compat::rewrite(proto, &|op| registry.contains_key(op)).expect("compat");
    let model = onnx.model_for_proto_model(&compat.model).expect("tract loads");
    let (n, width) = (exp.rows.len(), exp.rows[0].len());
    let flat = exp.rows.iter().flatten().map(|v| v.unwrap_or(f64::NAN));
    let shaped = |t: Tensor| t.into_shape(&[n, width]).expect("input");
    let (dt, input) = if exp.input_type == "double" {
        (f64::datum_type(), shaped(tensor1(&flat.collect::<Vec<f64>>())))
    } else {
        (f32::datum_type(), shaped(tensor1(&flat.map(|v| v as f32).collect::<Vec<f32>>())))
    };
    let batch = model.sym("N");
    let plan = model
        .with_input_fact(0, InferenceFact::dt_shape(dt, tvec![batch.to_dim(), width.to_dim()]))
        .and_then(|m| m.into_optimized())
        .and_then(|m| m.into_runnable())
        .expect("plan");
    plan.run(tvec![input.into_tvalue()]).expect("runs")
}

fn matrix(t: &TValue) -> Vec<f64> {
    t.cast_to::<f64>().expect("cast").to_plain_array_view::<f64>().expect("view").iter().copied().collect()
}

#[test]
fn tree_and_linear_semantics_match_onnxruntime() {
    let dir = fixtures().join("semantics");
    let mut cases: Vec<PathBuf> =
        std::fs::read_dir(dir.join("expected")).expect("semantics").map(|e| e.expect("entry").path()).collect();
    cases.sort();
    assert!(cases.len() >= 30);
    let mut failures = Vec::new();
    for path in cases {
        let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_owned();
        let exp: Semantics = serde_json::from_slice(&read(path)).expect("json");
        let out = run_raw(&read(dir.join("models").join(format!("{name}.onnx"))), &exp);
        let (got, want): (Vec<f64>, Vec<f64>) = if exp.values.is_empty() {
            let labels: Vec<i64> = matrix(&out[0]).iter().map(|&v| v as i64).collect();
            if labels != exp.labels {
                failures.push(format!("{name}: labels {labels:?} vs {:?}", exp.labels));
            }
            (matrix(&out[1]), exp.scores.iter().flatten().copied().collect())
        } else {
            (matrix(&out[0]), exp.values.iter().flatten().copied().collect())
        };
        if got.len() != want.len() {
            failures.push(format!("{name}: {} scores vs {}", got.len(), want.len()));
        } else if let Some(i) = (0..got.len()).find(|&i| !close(got[i], want[i])) {
            failures.push(format!("{name}: score {i}: {} vs {}", got[i], want[i]));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A batch runs inline when the one-row run plus each row's share of a warm batch fits the
/// budget: a 64-row batch of a small model does (it costs a few rows, not 64), a batch whose
/// rows cost as much as single runs does not, and a huge count saturates instead of wrapping.
#[test]
fn batches_run_inline_by_their_warm_cost_per_row() {
    let us = Duration::from_micros;
    assert!(super::batch_inline(us(3), Duration::from_nanos(100), 64));
    assert!(!super::batch_inline(us(10), us(3), 64), "10 + 64 × 3 µs is over 200 µs");
    assert!(super::batch_inline(us(8), us(3), 64), "8 + 64 × 3 µs is exactly 200 µs");
    assert!(!super::batch_inline(us(3), Duration::from_nanos(1), usize::MAX));
    assert!(!super::batch_inline(us(201), Duration::ZERO, 1), "a model over budget never runs inline");
}
