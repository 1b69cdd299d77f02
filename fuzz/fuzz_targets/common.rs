//! Shared by the fuzz targets: the schemas requests are decoded against and the invariant
//! every refusal keeps (a typed client error with a message, never an internal one).

#![allow(dead_code)] // each target uses its own part

use std::sync::LazyLock;

use switchyard::model::{Feature, InputType, ModelSchema, OutputKind};
use switchyard::{Error, ErrorCode};

/// The iris fixture's schema as the registry stores it (four float32 features), and a
/// hand-made one with a feature of each type (int64 refuses fractions and |x| > 2^53).
/// Both take the input `float_input`, so one corpus reaches both.
pub static SCHEMAS: LazyLock<Vec<ModelSchema>> = LazyLock::new(|| {
    let iris = switchyard::model::inspect(include_bytes!("../../fixtures/models/iris_logreg.onnx"))
        .expect("the iris fixture loads");
    let feature = |name: &str, dtype| Feature { name: name.into(), dtype };
    let mixed = ModelSchema {
        input_name: iris.input_name.clone(),
        input_type: InputType::Float64,
        features: vec![
            feature("count", InputType::Int64),
            feature("ratio", InputType::Float64),
            feature("sepal_length", InputType::Float32),
            feature("ünïcødé ✓", InputType::Float32),
        ],
        output: OutputKind::Regressor,
    };
    vec![iris, mixed]
});

/// The widest input a version may have (model/signature.rs): a request's declared shape must
/// not make the node allocate for rows it was not sent.
pub static WIDE: LazyLock<ModelSchema> = LazyLock::new(|| ModelSchema {
    input_name: SCHEMAS[0].input_name.clone(),
    input_type: InputType::Float32,
    features: (0..100_000).map(|i| Feature { name: format!("f{i}"), dtype: InputType::Float32 }).collect(),
    output: OutputKind::Regressor,
});

/// A refusal of hostile input: one of the `expected` codes (all client errors), with a
/// message that says something.
pub fn assert_client_error(err: &Error, expected: &[ErrorCode]) {
    let code = err.code();
    assert!(code.is_client_error(), "bad input answered {code}: {err}");
    assert!(expected.contains(&code), "unexpected code {code} (expected one of {expected:?}): {err}");
    assert!(!err.to_string().trim().is_empty(), "empty message for {code}");
}

/// A row the model may be given: the schema's width, each value finite and representable.
pub fn assert_valid_row(row: &[f64], schema: &ModelSchema) {
    assert_eq!(row.len(), schema.features.len(), "row width");
    for (v, f) in row.iter().zip(&schema.features) {
        assert!(v.is_finite(), "{}: {v} is not finite", f.name);
        assert!(f.dtype.accepts(*v), "{}: {v} is not a {}", f.name, f.dtype.name());
    }
}
