//! ONNX models: inspection at upload, loading at activation, prediction.
//!
//! A model is inspected once when a version is created ([`inspect`]): it goes through the
//! compatibility layer (`compat.rs`: `ai.onnx.ml` operators replaced by Switchyard's own
//! operators, ZipMap stripped, labels turned into class indices), then
//! tract must load and optimise it, and it must have one 2-D input `[batch, features]` and a
//! usable output, or it is refused. At activation the same happens again from the stored
//! (original) bytes, the plans are warmed, and the request path only runs a plan.

mod attrs;
mod builder;
mod compat;
mod mlops;
mod rowwise;
mod schema;
mod signature;
mod trees;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tract_onnx::prelude::*;

pub use schema::{Feature, InputType, ModelSchema, OutputKind};
use signature::{Outputs, classify_outputs, feature_names, single_input};

use crate::error::{Error, Result};

/// Metadata keys a model may carry to name its features and classes.
pub const FEATURE_NAMES_KEY: &str = "switchyard.feature_names";
pub const CLASS_LABELS_KEY: &str = "switchyard.class_labels";

/// Models whose warm single-row run takes longer than this are run on the blocking pool;
/// faster ones run inline on the async worker (a thread hop would cost more than the run).
/// See ARCHITECTURE.md, "Inference", for the measurements behind the number.
pub const INLINE_BUDGET: Duration = Duration::from_micros(200);

/// Reads an ONNX file, checks it can serve predictions, and returns its schema.
pub fn inspect(bytes: &[u8]) -> Result<ModelSchema> {
    LoadedModel::load(bytes).map(|m| m.schema.clone())
}

/// tract-onnx with Switchyard's operators registered (tree ensembles, linear models,
/// preprocessing), under the op types the compatibility layer gives them.
fn onnx() -> tract_onnx::Onnx {
    let mut onnx = tract_onnx::onnx();
    trees::op::register(&mut onnx.op_register);
    mlops::register(&mut onnx.op_register);
    onnx
}

/// An optimised plan and its pool of spawned states, reused across calls (spawning one
/// per call costs more than the inference itself for small models).
struct Plan {
    plan: Arc<TypedSimplePlan>,
    states: Mutex<Vec<TypedSimpleState>>,
    /// How many times the plan ran (tests check that a batch runs the batch plan once).
    #[cfg(feature = "testing")]
    runs: std::sync::atomic::AtomicU64,
}

impl Plan {
    fn new(model: TypedModel) -> Result<Plan> {
        let plan =
            model.into_runnable().map_err(|e| invalid(format!("tract-onnx cannot plan this model: {}", chain(&e))))?;
        Ok(Plan {
            plan,
            states: Mutex::new(Vec::new()),
            #[cfg(feature = "testing")]
            runs: std::sync::atomic::AtomicU64::new(0),
        })
    }

    fn run(&self, input: Tensor) -> Result<TVec<TValue>> {
        #[cfg(feature = "testing")]
        self.runs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut state = match self.states.lock().map(|mut s| s.pop()) {
            Ok(Some(state)) => state,
            _ => self.plan.spawn().map_err(|e| Error::Internal(format!("cannot start the model: {e}")))?,
        };
        let result = state.run(tvec![input.into_tvalue()]);
        if let Ok(mut pool) = self.states.lock() {
            pool.push(state);
        }
        result.map_err(|e| Error::Internal(format!("the model failed: {}", chain(&e))))
    }
}

/// A model ready to serve: a plan optimised for one row (the request path) and one for a
/// symbolic batch ([`LoadedModel::predict_batch`]). A fixed batch of one saves tract the
/// shape arithmetic of every node on every call.
pub struct LoadedModel {
    schema: ModelSchema,
    one: Plan,
    many: Plan,
    outputs: Outputs,
    /// The class names (classifiers), shared by every batch result.
    classes: Arc<[String]>,
    warm_run: Duration,
    /// What one row adds to a run of the batch plan, measured on a batch of
    /// [`WARM_BATCH_ROWS`] (a batch costs far less than its rows one by one).
    warm_batch_row: Duration,
}

/// Rows in the batch timed at warm-up.
const WARM_BATCH_ROWS: usize = 64;

/// Whether a batch of `rows` may run inline: its estimated cost, the one-row run plus each
/// row's share of a warm batch, within [`INLINE_BUDGET`].
fn batch_inline(warm_run: Duration, warm_batch_row: Duration, rows: usize) -> bool {
    let rows = u32::try_from(rows).unwrap_or(u32::MAX);
    warm_run.saturating_add(warm_batch_row.saturating_mul(rows)) <= INLINE_BUDGET
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

/// The predictions for a batch of rows, as the model returned them (no per-row
/// allocation until a row is turned into a [`Prediction`]).
#[derive(Debug, Clone)]
pub struct Batch {
    rows: usize,
    /// Classifiers: the class index of each row; empty for regressors.
    labels: Vec<i64>,
    /// Classifiers: `rows × classes` probabilities; regressors: one value per row.
    values: Vec<f64>,
    classes: Arc<[String]>,
}

impl Batch {
    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Row `i` as a [`Prediction`].
    pub fn get(&self, i: usize) -> Option<Prediction> {
        if i >= self.rows {
            return None;
        }
        if self.labels.is_empty() {
            return self.values.get(i).copied().map(Prediction::Value);
        }
        let k = self.classes.len();
        let label = self.labels[i];
        let class =
            usize::try_from(label).ok().and_then(|c| self.classes.get(c)).cloned().unwrap_or_else(|| label.to_string());
        let probabilities = self.classes.iter().cloned().zip(self.values[i * k..(i + 1) * k].iter().copied()).collect();
        Some(Prediction::Class { label, class, probabilities })
    }

    pub fn predictions(&self) -> Vec<Prediction> {
        (0..self.rows).filter_map(|i| self.get(i)).collect()
    }

    /// Row `i`'s label (`i < len()`): a classifier's class index, a regressor's value
    /// truncated (what a [`Prediction`]'s `label` or value would give, without building one).
    pub fn label(&self, i: usize) -> i64 {
        match self.labels.get(i) {
            Some(&label) => label,
            None => self.values[i] as i64,
        }
    }

    /// Row `i` as one number (`i < len()`): a classifier's class index, a regressor's value.
    pub fn output(&self, i: usize) -> f64 {
        match self.labels.get(i) {
            Some(&label) => label as f64,
            None => self.values[i],
        }
    }

    /// Every row's class probabilities, `rows × classes` in class order; empty for a
    /// regressor.
    pub fn probabilities(&self) -> &[f64] {
        if self.labels.is_empty() { &[] } else { &self.values }
    }
}

fn invalid(msg: impl Into<String>) -> Error {
    Error::InvalidModel(msg.into())
}

impl LoadedModel {
    /// Loads (through the compatibility layer), optimises for one row and for a symbolic
    /// batch, warms and times the model. CPU-bound (up to tens of milliseconds for large
    /// forests): call it off the async executor.
    pub fn load(bytes: &[u8]) -> Result<LoadedModel> {
        let onnx = onnx();
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
        let optimise = |batch: TDim| {
            let fact = InferenceFact::dt_shape(input_type.datum_type(), tvec![batch, width.to_dim()]);
            model
                .clone()
                .with_input_fact(0, fact)
                .and_then(|m| m.into_optimized())
                .and_then(|mut m| rowwise::fuse(&mut m).map(|()| m))
                .map_err(|e| invalid(format!("tract-onnx cannot run this model: {}", chain(&e))))
        };
        let many = optimise(model.sym("N").to_dim())?;
        let one = optimise(1.to_dim())?;
        let (outputs, output_kind) = classify_outputs(&many, class_labels, compat.classes)?;
        let classes: Arc<[String]> = match &output_kind {
            OutputKind::Classifier { classes } => classes.clone().into(),
            OutputKind::Regressor => Arc::new([]),
        };
        let schema = ModelSchema {
            input_name,
            input_type,
            features: features.into_iter().map(|name| Feature { name, dtype: input_type }).collect(),
            output: output_kind,
        };
        let mut model = LoadedModel {
            schema,
            one: Plan::new(one)?,
            many: Plan::new(many)?,
            outputs,
            classes,
            warm_run: Duration::ZERO,
            warm_batch_row: Duration::ZERO,
        };
        (model.warm_run, model.warm_batch_row) = model.warm_up()?;
        Ok(model)
    }

    /// Runs a zero row a few times, then a batch of zero rows: the first run allocates, the
    /// median of the rest is the steady-state cost used to decide where requests run. The
    /// batch is timed only for a model that may run inline at all (a slow model's batches
    /// go to the blocking pool whatever their size, and it runs a batch of two once, to
    /// check the batch plan); its per-row share is then the median batch time over its rows.
    fn warm_up(&self) -> Result<(Duration, Duration)> {
        let zeros = vec![0.0; self.schema.features.len()];
        let median = |mut times: Vec<Duration>| {
            times.remove(0);
            times.sort();
            times[times.len() / 2]
        };
        let mut times = Vec::with_capacity(10);
        for _ in 0..10 {
            let t = Instant::now();
            self.predict(&zeros).map_err(|e| invalid(format!("the model fails on a row of zeros: {e}")))?;
            times.push(t.elapsed());
        }
        let warm_run = median(times);
        let inline = warm_run <= INLINE_BUDGET;
        let (rows, runs) = if inline { (WARM_BATCH_ROWS, 4) } else { (2, 1) };
        let batch = vec![0.0; rows * zeros.len()];
        let mut times = Vec::with_capacity(runs);
        for _ in 0..runs {
            let t = Instant::now();
            self.predict_batch(&batch).map_err(|e| invalid(format!("the model fails on a batch of zeros: {e}")))?;
            times.push(t.elapsed());
        }
        let warm_batch_row = if inline { median(times) / rows as u32 } else { warm_run };
        Ok((warm_run, warm_batch_row))
    }

    pub fn schema(&self) -> &ModelSchema {
        &self.schema
    }

    /// How many times the one-row plan and the batch plan have run, warm-up included.
    #[cfg(feature = "testing")]
    pub fn plan_runs(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (self.one.runs.load(Relaxed), self.many.runs.load(Relaxed))
    }

    /// Median single-row run time measured at warm-up.
    pub fn warm_run(&self) -> Duration {
        self.warm_run
    }

    /// Whether a request may run this model inline on an async worker.
    pub fn runs_inline(&self) -> bool {
        self.warm_run <= INLINE_BUDGET
    }

    /// Whether a batch of `rows` may run inline on an async worker: the one-row run plus
    /// each row's share of a warm batch is within [`INLINE_BUDGET`].
    pub fn batch_runs_inline(&self, rows: usize) -> bool {
        batch_inline(self.warm_run, self.warm_batch_row, rows)
    }

    /// Predicts one row whose values are in the schema's feature order and already checked
    /// (finite, representable in the input type).
    pub fn predict(&self, row: &[f64]) -> Result<Prediction> {
        let width = self.schema.features.len();
        if row.len() != width {
            return Err(Error::InvalidInput(format!("expected {width} features, got {}", row.len())));
        }
        let outputs = self.one.run(self.input(row, 1)?)?;
        self.decode(&outputs, 1)?.get(0).ok_or_else(|| Error::Internal("the model returned no prediction".into()))
    }

    /// Predicts several rows in one run: `rows` holds them one after the other, each in
    /// the schema's feature order.
    pub fn predict_batch(&self, rows: &[f64]) -> Result<Batch> {
        let width = self.schema.features.len();
        if rows.is_empty() || !rows.len().is_multiple_of(width) {
            return Err(Error::InvalidInput(format!(
                "expected whole rows of {width} features, got {} values",
                rows.len()
            )));
        }
        let n = rows.len() / width;
        let outputs = self.many.run(self.input(rows, n)?)?;
        self.decode(&outputs, n)
    }

    /// A batch of no rows (what an empty request answers).
    pub fn empty_batch(&self) -> Batch {
        Batch { rows: 0, labels: Vec::new(), values: Vec::new(), classes: Arc::clone(&self.classes) }
    }

    /// The input tensor of `n` rows: one aligned allocation, written in place in the
    /// model's input type (no intermediate vector or array to copy from).
    fn input(&self, rows: &[f64], n: usize) -> Result<Tensor> {
        let shape = [n, self.schema.features.len()];
        let fill = |dt: DatumType| -> TractResult<Tensor> {
            let mut t = Tensor::zero_dt(dt, &shape)?;
            let plain = &mut t.try_as_plain_ram_mut()?;
            match self.schema.input_type {
                InputType::Float32 => {
                    plain.as_slice_mut::<f32>()?.iter_mut().zip(rows).for_each(|(o, &v)| *o = v as f32)
                }
                InputType::Float64 => plain.as_slice_mut::<f64>()?.copy_from_slice(rows),
                InputType::Int64 => plain.as_slice_mut::<i64>()?.iter_mut().zip(rows).for_each(|(o, &v)| *o = v as i64),
            }
            Ok(t)
        };
        fill(self.schema.input_type.datum_type())
            .map_err(|e| Error::Internal(format!("cannot build the input tensor: {}", chain(&e))))
    }

    fn decode(&self, outputs: &[TValue], n: usize) -> Result<Batch> {
        let read = || -> TractResult<Batch> {
            let (labels, values) = match self.outputs {
                Outputs::Regressor { value } => {
                    let values = as_f64(&outputs[value])?;
                    anyhow::ensure!(values.len() == n, "expected {n} values, got {}", values.len());
                    (Vec::new(), values)
                }
                Outputs::Classifier { label, probabilities } => {
                    let k = self.classes.len();
                    let p = as_f64(&outputs[probabilities])?;
                    anyhow::ensure!(p.len() == n * k, "expected {} probabilities, got {}", n * k, p.len());
                    let labels: Vec<i64> = match label {
                        Some(i) => {
                            let t = outputs[i].cast_to::<i64>()?;
                            let view = t.try_as_plain_ram()?;
                            view.as_slice::<i64>()?.to_vec()
                        }
                        None => p.chunks(k).map(|row| argmax(row) as i64).collect(),
                    };
                    anyhow::ensure!(labels.len() == n, "expected {n} labels, got {}", labels.len());
                    (labels, p)
                }
            };
            Ok(Batch { rows: n, labels, values, classes: Arc::clone(&self.classes) })
        };
        read().map_err(|e| Error::Internal(format!("cannot read the model's output: {}", chain(&e))))
    }
}

/// A tensor's values as f64, read straight from f32 (the usual case) without a cast tensor.
fn as_f64(t: &TValue) -> TractResult<Vec<f64>> {
    if t.datum_type() == f32::datum_type() {
        let view = t.try_as_plain_ram()?;
        return Ok(view.as_slice::<f32>()?.iter().map(|&v| f64::from(v)).collect());
    }
    let cast = t.cast_to::<f64>()?;
    let view = cast.try_as_plain_ram()?;
    Ok(view.as_slice::<f64>()?.to_vec())
}

fn argmax(p: &[f64]) -> usize {
    p.iter().enumerate().fold(0, |best, (i, &v)| if v > p[best] { i } else { best })
}

/// The error and its causes on one line.
fn chain(e: &anyhow::Error) -> String {
    e.chain().map(|c| c.to_string()).collect::<Vec<_>>().join(": ")
}

#[cfg(test)]
mod tests;
