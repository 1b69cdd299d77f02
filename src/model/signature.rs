//! The model's signature: its one input `[batch, features]`, the names of its features
//! and classes (metadata, else what the graph says), and which outputs hold the label,
//! the probabilities or the value.

use tract_onnx::pb;
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::internal::DimLike;

use super::{CLASS_LABELS_KEY, FEATURE_NAMES_KEY, InputType, OutputKind, invalid};
use crate::error::Result;

/// Which output tensor holds what.
#[derive(Debug, Clone, Copy)]
pub(super) enum Outputs {
    /// Label tensor (integer class index) and probability tensor.
    Classifier {
        label: Option<usize>,
        probabilities: usize,
    },
    Regressor {
        value: usize,
    },
}

/// The graph's one real input (initialisers listed as inputs by old exporters do not count).
pub(super) fn single_input(graph: &pb::GraphProto) -> Result<(String, InputType, usize)> {
    let initialisers: std::collections::HashSet<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let inputs: Vec<&pb::ValueInfoProto> =
        graph.input.iter().filter(|i| !initialisers.contains(i.name.as_str())).collect();
    let [input] = inputs.as_slice() else {
        let names: Vec<&str> = inputs.iter().map(|i| i.name.as_str()).collect();
        return Err(invalid(format!(
            "the model has {} inputs ({}); Switchyard serves models with one input of shape [batch, features] (with skl2onnx, convert with a single FloatTensorType([None, n_features]) input)",
            inputs.len(),
            names.join(", ")
        )));
    };
    let Some(pb::type_proto::Value::TensorType(tensor)) = input.r#type.as_ref().and_then(|t| t.value.as_ref()) else {
        return Err(invalid(format!("input '{}' is not a tensor", input.name)));
    };
    let input_type = InputType::from_onnx(tensor.elem_type).ok_or_else(|| {
        invalid(format!(
            "input '{}' has an unsupported element type (ONNX type {}); use float, double or int64",
            input.name, tensor.elem_type
        ))
    })?;
    let dims: Vec<Option<i64>> = tensor
        .shape
        .as_ref()
        .map(|s| {
            s.dim
                .iter()
                .map(|d| match d.value {
                    Some(pb::tensor_shape_proto::dimension::Value::DimValue(v)) => Some(v),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    match dims.as_slice() {
        [_, Some(width)] if *width > 0 && *width <= 100_000 => Ok((input.name.clone(), input_type, *width as usize)),
        _ => Err(invalid(format!(
            "input '{}' must have shape [batch, n_features] with a fixed number of features (found {})",
            input.name,
            describe_dims(&dims)
        ))),
    }
}

fn describe_dims(dims: &[Option<i64>]) -> String {
    let parts: Vec<String> = dims.iter().map(|d| d.map_or("?".into(), |v| v.to_string())).collect();
    format!("[{}]", parts.join(", "))
}

pub(super) fn feature_names(meta: Option<String>, width: usize) -> Result<Vec<String>> {
    let Some(text) = meta else {
        return Ok((0..width).map(|i| format!("f{i}")).collect());
    };
    let names: Vec<String> = serde_json::from_str(&text)
        .map_err(|e| invalid(format!("metadata '{FEATURE_NAMES_KEY}' must be a JSON list of strings: {e}")))?;
    if names.len() != width {
        return Err(invalid(format!(
            "metadata '{FEATURE_NAMES_KEY}' names {} features but the input has {width}",
            names.len()
        )));
    }
    let mut seen = std::collections::HashSet::new();
    for n in &names {
        if n.is_empty() || !seen.insert(n) {
            return Err(invalid(format!(
                "metadata '{FEATURE_NAMES_KEY}': feature names must be unique and non-empty ('{n}')"
            )));
        }
    }
    Ok(names)
}

/// Finds the label and probability outputs of a classifier, or the value of a regressor.
/// Class names come from the metadata, else from the graph (`found` by the compatibility
/// layer), else are the column numbers.
pub(super) fn classify_outputs(
    model: &TypedModel,
    class_labels: Option<String>,
    found: Option<Vec<String>>,
) -> Result<(Outputs, OutputKind)> {
    let mut ints = Vec::new();
    let mut floats = Vec::new();
    for (i, outlet) in model.output_outlets().map_err(|e| invalid(e.to_string()))?.iter().enumerate() {
        let fact = model.outlet_fact(*outlet).map_err(|e| invalid(e.to_string()))?;
        let dt = fact.datum_type;
        // the batch (first) dimension is symbolic; the others must be known
        let width = fact.shape.iter().skip(1).map(|d| d.to_usize().unwrap_or(0)).product::<usize>();
        if dt.is_integer() || dt == TDim::datum_type() {
            ints.push(i);
        } else if dt.is_float() {
            floats.push((i, width));
        }
    }
    let classes_from = |n: usize| -> Result<Vec<String>> {
        match &class_labels {
            None => match &found {
                Some(names) if names.len() == n => Ok(names.clone()),
                Some(names) => {
                    Err(invalid(format!("the model names {} classes but outputs {n} probabilities", names.len())))
                }
                None => Ok((0..n).map(|i| i.to_string()).collect()),
            },
            Some(text) => {
                let labels: Vec<String> = serde_json::from_str(text).map_err(|e| {
                    invalid(format!("metadata '{CLASS_LABELS_KEY}' must be a JSON list of strings: {e}"))
                })?;
                if labels.len() != n {
                    return Err(invalid(format!(
                        "metadata '{CLASS_LABELS_KEY}' names {} classes but the model outputs {n} probabilities",
                        labels.len()
                    )));
                }
                Ok(labels)
            }
        }
    };
    match (ints.first(), floats.as_slice()) {
        (label, [(p, width), ..]) if (label.is_some() || *width > 1) && *width >= 1 => {
            let classes = classes_from(*width)?;
            Ok((Outputs::Classifier { label: label.copied(), probabilities: *p }, OutputKind::Classifier { classes }))
        }
        (None, [(v, 1)]) => Ok((Outputs::Regressor { value: *v }, OutputKind::Regressor)),
        _ => Err(invalid(
            "the model has no usable output: expected a label and a probability tensor (classifier, exported with zipmap=False) or one numeric value per row (regressor)",
        )),
    }
}
