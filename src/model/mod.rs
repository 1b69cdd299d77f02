//! ONNX models: inspection at upload, loading at activation, prediction.
//!
//! A model is inspected once when a version is created ([`inspect`]): it goes through the
//! compatibility layer ([`compat`]: `ai.onnx.ml` operators lowered to core ONNX, tree
//! ensembles to Switchyard's operator, ZipMap stripped, labels turned into class indices),
//! then tract must load and optimise it, and it must have one 2-D input `[batch, features]`
//! and a usable output, or it is refused. At activation the same happens again from the
//! stored (original) bytes, the plan is warmed, and the request path only runs the plan.

mod attrs;
mod compat;
mod lower;
mod schema;
mod trees;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tract_onnx::pb;
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::internal::DimLike;

pub use schema::{Feature, InputType, ModelSchema, OutputKind};

use crate::error::{Error, Result};

/// Metadata keys a model may carry to name its features and classes.
pub const FEATURE_NAMES_KEY: &str = "switchyard.feature_names";
pub const CLASS_LABELS_KEY: &str = "switchyard.class_labels";

/// Models whose warm single-row run takes longer than this are run on the blocking pool;
/// faster ones run inline on the async worker (a thread hop would cost more than the run).
/// See ARCHITECTURE.md, "Inference", for the measurements behind the number.
pub const INLINE_BUDGET: Duration = Duration::from_micros(200);

/// Reads an ONNX file, checks it can serve single-row predictions, and returns its schema.
pub fn inspect(bytes: &[u8]) -> Result<ModelSchema> {
    LoadedModel::load(bytes).map(|m| m.schema.clone())
}

/// Which output tensor holds what.
#[derive(Debug, Clone, Copy)]
enum Outputs {
    /// Label tensor (integer) and probability tensor.
    Classifier {
        label: Option<usize>,
        probabilities: usize,
    },
    Regressor {
        value: usize,
    },
}

/// A model ready to serve: an optimised plan for a symbolic batch (one row on the request
/// path, many in [`LoadedModel::predict_batch`]) plus a pool of reusable states.
pub struct LoadedModel {
    schema: ModelSchema,
    plan: Arc<TypedSimplePlan>,
    outputs: Outputs,
    /// Spawned plan states, reused across calls (spawning one per call costs more than the
    /// inference itself for small models).
    states: Mutex<Vec<TypedSimpleState>>,
    warm_run: Duration,
}

impl std::fmt::Debug for LoadedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedModel").field("schema", &self.schema).field("warm_run", &self.warm_run).finish()
    }
}

/// One prediction.
#[derive(Debug, Clone, PartialEq)]
pub enum Prediction {
    Class { label: i64, class: String, probabilities: Vec<(String, f64)> },
    Value(f64),
}

fn invalid(msg: impl Into<String>) -> Error {
    Error::InvalidModel(msg.into())
}

impl LoadedModel {
    /// Loads (through the compatibility layer), optimises for a symbolic batch, warms and
    /// times the model. CPU-bound (up to tens of milliseconds for large forests): call it
    /// off the async executor.
    pub fn load(bytes: &[u8]) -> Result<LoadedModel> {
        let mut onnx = tract_onnx::onnx();
        trees::op::register(&mut onnx.op_register);
        let proto = onnx.proto_model_for_read(&mut &*bytes).map_err(|e| invalid(format!("not an ONNX model: {e}")))?;
        let graph = proto.graph.as_ref().ok_or_else(|| invalid("the ONNX file has no graph"))?;
        let (input_name, input_type, width) = single_input(graph)?;
        let meta = |key: &str| proto.metadata_props.iter().find(|p| p.key == key).map(|p| p.value.clone());
        let features = feature_names(meta(FEATURE_NAMES_KEY), width)?;
        let class_labels = meta(CLASS_LABELS_KEY);

        let registry = &onnx.op_register.0;
        let compat = compat::rewrite(proto, &|op| registry.contains_key(op)).map_err(invalid)?;
        let model = onnx
            .model_for_proto_model(&compat.model)
            .map_err(|e| invalid(format!("tract-onnx cannot load this model: {}", chain(&e))))?;
        let batch = model.sym("N");
        let fact = InferenceFact::dt_shape(input_type.datum_type(), tvec![batch.to_dim(), width.to_dim()]);
        let typed = model
            .with_input_fact(0, fact)
            .and_then(|m| m.into_optimized())
            .map_err(|e| invalid(format!("tract-onnx cannot run this model: {}", chain(&e))))?;
        let (outputs, output_kind) = classify_outputs(&typed, class_labels, compat.classes)?;
        let plan =
            typed.into_runnable().map_err(|e| invalid(format!("tract-onnx cannot plan this model: {}", chain(&e))))?;

        let schema = ModelSchema {
            input_name,
            input_type,
            features: features.into_iter().map(|name| Feature { name, dtype: input_type }).collect(),
            output: output_kind,
        };
        let mut model = LoadedModel { schema, plan, outputs, states: Mutex::new(Vec::new()), warm_run: Duration::ZERO };
        model.warm_run = model.warm_up()?;
        Ok(model)
    }

    /// Runs a zero row a few times: the first run allocates, the median of the rest is the
    /// steady-state cost used to decide where requests run.
    fn warm_up(&self) -> Result<Duration> {
        let zeros = vec![0.0; self.schema.features.len()];
        let mut times = Vec::with_capacity(9);
        for _ in 0..10 {
            let t = Instant::now();
            self.predict(&zeros).map_err(|e| invalid(format!("the model fails on a row of zeros: {e}")))?;
            times.push(t.elapsed());
        }
        times.remove(0);
        times.sort();
        Ok(times[times.len() / 2])
    }

    pub fn schema(&self) -> &ModelSchema {
        &self.schema
    }

    /// Median single-row run time measured at warm-up.
    pub fn warm_run(&self) -> Duration {
        self.warm_run
    }

    /// Whether a request may run this model inline on an async worker.
    pub fn runs_inline(&self) -> bool {
        self.warm_run <= INLINE_BUDGET
    }

    /// Predicts one row whose values are in the schema's feature order and already checked
    /// (finite, representable in the input type).
    pub fn predict(&self, row: &[f64]) -> Result<Prediction> {
        let width = self.schema.features.len();
        if row.len() != width {
            return Err(Error::InvalidInput(format!("expected {width} features, got {}", row.len())));
        }
        let mut out = self.predict_batch(row)?;
        out.pop().ok_or_else(|| Error::Internal("the model returned no prediction".into()))
    }

    /// Predicts several rows at once: `rows` holds them one after the other, each in the
    /// schema's feature order. One run of the plan for the whole batch.
    pub fn predict_batch(&self, rows: &[f64]) -> Result<Vec<Prediction>> {
        let width = self.schema.features.len();
        if rows.is_empty() || !rows.len().is_multiple_of(width) {
            return Err(Error::InvalidInput(format!(
                "expected whole rows of {width} features, got {} values",
                rows.len()
            )));
        }
        let n = rows.len() / width;
        let input: Tensor = match self.schema.input_type {
            InputType::Float32 => tensor_from(rows.iter().map(|&v| v as f32).collect(), n, width)?,
            InputType::Float64 => tensor_from(rows.to_vec(), n, width)?,
            InputType::Int64 => tensor_from(rows.iter().map(|&v| v as i64).collect(), n, width)?,
        };
        let mut state = match self.states.lock().map(|mut s| s.pop()) {
            Ok(Some(state)) => state,
            _ => self.plan.spawn().map_err(|e| Error::Internal(format!("cannot start the model: {e}")))?,
        };
        let result = state.run(tvec![input.into_tvalue()]);
        if let Ok(mut pool) = self.states.lock() {
            pool.push(state);
        }
        let outputs = result.map_err(|e| Error::Internal(format!("the model failed: {}", chain(&e))))?;
        self.decode(&outputs, n).map_err(|e| Error::Internal(format!("cannot read the model's output: {}", chain(&e))))
    }

    fn decode(&self, outputs: &[TValue], n: usize) -> TractResult<Vec<Prediction>> {
        match self.outputs {
            Outputs::Regressor { value } => {
                let t = outputs[value].cast_to::<f64>()?;
                let v = t.to_plain_array_view::<f64>()?;
                let values: Vec<f64> = v.iter().copied().collect();
                anyhow::ensure!(values.len() == n, "expected {n} values, got {}", values.len());
                Ok(values.into_iter().map(Prediction::Value).collect())
            }
            Outputs::Classifier { label, probabilities } => {
                let OutputKind::Classifier { classes } = &self.schema.output else {
                    anyhow::bail!("schema and outputs disagree");
                };
                let p = outputs[probabilities].cast_to::<f64>()?;
                let p: Vec<f64> = p.to_plain_array_view::<f64>()?.iter().copied().collect();
                let k = classes.len();
                anyhow::ensure!(p.len() == n * k, "expected {} probabilities, got {}", n * k, p.len());
                let labels: Vec<i64> = match label {
                    Some(i) => {
                        let t = outputs[i].cast_to::<i64>()?;
                        let l: Vec<i64> = t.to_plain_array_view::<i64>()?.iter().copied().collect();
                        anyhow::ensure!(l.len() == n, "expected {n} labels, got {}", l.len());
                        l
                    }
                    None => p.chunks(k).map(|row| argmax(row) as i64).collect(),
                };
                Ok(labels
                    .into_iter()
                    .zip(p.chunks(k))
                    .map(|(label, row)| {
                        let class = usize::try_from(label)
                            .ok()
                            .and_then(|i| classes.get(i))
                            .cloned()
                            .unwrap_or_else(|| label.to_string());
                        let probabilities = classes.iter().cloned().zip(row.iter().copied()).collect();
                        Prediction::Class { label, class, probabilities }
                    })
                    .collect())
            }
        }
    }
}

fn tensor_from<T: Datum>(values: Vec<T>, rows: usize, width: usize) -> Result<Tensor> {
    tract_ndarray::Array2::from_shape_vec((rows, width), values)
        .map(|a| a.into_tensor())
        .map_err(|e| Error::Internal(format!("cannot shape the input: {e}")))
}

fn argmax(p: &[f64]) -> usize {
    p.iter().enumerate().fold(0, |best, (i, &v)| if v > p[best] { i } else { best })
}

/// The error and its causes on one line.
fn chain(e: &anyhow::Error) -> String {
    e.chain().map(|c| c.to_string()).collect::<Vec<_>>().join(": ")
}

/// The graph's one real input (initialisers listed as inputs by old exporters do not count).
fn single_input(graph: &pb::GraphProto) -> Result<(String, InputType, usize)> {
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

fn feature_names(meta: Option<String>, width: usize) -> Result<Vec<String>> {
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
fn classify_outputs(
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

#[cfg(test)]
mod tests;
