//! The `ai.onnx.ml` operators tract-onnx lacks or runs wrongly, except tree ensembles
//! (`trees/`): `LinearClassifier`, `LinearRegressor`, `Normalizer`, `Scaler`, `Binarizer`
//! and `Imputer`, as Switchyard's own tract operators computing what onnxruntime computes
//! (f32 arithmetic, the same quirks).
//!
//! They were first lowered to core ONNX, exactly, and measured: a classifier head in core
//! ops is eight to ten tract nodes (matrix product, argmax, softmax, the L1 normaliser
//! skl2onnx adds after it with its zero guard…), and tract evaluates an element-wise op
//! with a per-column constant on rows narrower than 32 values through a generic ndarray
//! loop (about 5 µs for a 64×10 `Sub`). A one-row logistic regression was slower than
//! onnxruntime, a 64-row scaled ridge twice as slow. As one node each, with plain loops,
//! they cost a few hundred nanoseconds.
//!
//! onnxruntime's behaviours reproduced here (pinned by `fixtures/semantics/`):
//! - scores are `x · Wᵀ + b` in f32, inputs of other types cast to f32 first;
//! - the label is the first maximum of the raw scores; with one coefficient row and two
//!   labels it is `score > 0`, and the probabilities are `[1 - p, p]`, p the transformed score;
//! - a single-target `LinearRegressor` ignores every post_transform;
//! - a `Normalizer` leaves rows whose norm is 0 unchanged, and computes L2 as
//!   `sign(x) * sqrt(x² / Σx²)`; MAX divides by the largest (signed) value;
//! - `Scaler` is `(x - offset) * scale`, `Binarizer` `x > threshold` (default 0), `Imputer`
//!   replaces NaN (or `replaced_value_float`, default 0) by the column's imputed value.
//!
//! Inputs of other types are cast to f32 first; onnxruntime computes a double `Scaler` in
//! f64 before rounding to f32, so double inputs may differ in the last bit. onnxruntime's
//! `Binarizer` fails on NaN where this one answers 0 (requests cannot carry NaN anyway).

use std::sync::Arc;

use tract_onnx::model::{OnnxOpRegister, ParsingContext};
use tract_onnx::pb::{self, NodeProto};
use tract_onnx::tract_hir::internal::*;
use tract_onnx::tract_hir::tract_core::{as_op, op_as_typed_op, op_out_of_plan};

use super::attrs::{self, describe};
use super::trees::finish::{logistic, softmax};

pub(crate) const LINEAR_CLASSIFIER_OP: &str = "SwitchyardLinearClassifier";
pub(crate) const LINEAR_REGRESSOR_OP: &str = "SwitchyardLinearRegressor";
pub(crate) const NORMALIZER_OP: &str = "SwitchyardNormalizer";
pub(crate) const ELEMENTWISE_OP: &str = "SwitchyardElementwise";

/// The `ai.onnx.ml` op types handled here.
pub(crate) const ML_OPS: &[&str] =
    &["LinearClassifier", "LinearRegressor", "Normalizer", "Scaler", "Binarizer", "Imputer"];

pub(crate) fn register(reg: &mut OnnxOpRegister) {
    reg.insert(LINEAR_CLASSIFIER_OP, |_: &ParsingContext, node: &NodeProto| wrap(parse_classifier(node)));
    reg.insert(LINEAR_REGRESSOR_OP, |_: &ParsingContext, node: &NodeProto| wrap(parse_regressor(node)));
    reg.insert(NORMALIZER_OP, |_: &ParsingContext, node: &NodeProto| wrap(parse_normalizer(node)));
    reg.insert(ELEMENTWISE_OP, |_: &ParsingContext, node: &NodeProto| wrap(parse_elementwise(node)));
}

fn wrap(op: Result<MlOp, String>) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let op = op.map_err(|e| anyhow::anyhow!(e))?;
    Ok((expand(op), vec![]))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Post {
    None,
    Logistic,
    Softmax,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Norm {
    Max,
    L1,
    L2,
}

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    /// `rows == 1` with two labels: one score, label `score > 0`, probabilities `[1 - p, p]`.
    Classifier {
        post: Post,
    },
    Regressor {
        post: Post,
    },
    Normalizer(Norm),
    /// `(x - offset[c]) * scale[c]`; one value or one per column.
    Scaler {
        offset: Vec<f32>,
        scale: Vec<f32>,
    },
    /// `x > threshold`, as 1.0 or 0.0.
    Binarizer {
        threshold: f32,
    },
    /// `values[c]` where x is NaN (`replaced` NaN) or equal to `replaced`.
    Imputer {
        values: Vec<f32>,
        replaced: f32,
    },
}

/// One of the three operators, parsed and checked.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MlOp {
    kind: Kind,
    /// Row-major `[rows, features]` coefficients (empty for the normalizer).
    weights: Arc<Vec<f32>>,
    intercepts: Option<Vec<f32>>,
    rows: usize,
    features: usize,
}

impl Eq for MlOp {}

fn post(node: &NodeProto, avoid: &str) -> Result<Post, String> {
    match attrs::string(node, "post_transform")?.as_deref().unwrap_or("NONE") {
        "NONE" => Ok(Post::None),
        "LOGISTIC" => Ok(Post::Logistic),
        "SOFTMAX" => Ok(Post::Softmax),
        other => Err(format!("{}: post_transform {other} is not supported; {avoid}", describe(node))),
    }
}

fn coefficients(node: &NodeProto, rows: usize) -> Result<(Vec<f32>, usize), String> {
    let w = attrs::floats(node, "coefficients");
    if rows == 0 || w.is_empty() || !w.len().is_multiple_of(rows) {
        return Err(format!("{}: {} coefficients cannot be split into {rows} rows", describe(node), w.len()));
    }
    let features = w.len() / rows;
    Ok((w, features))
}

/// The class labels of a `LinearClassifier`, checked against its coefficient rows.
pub(crate) fn classifier_labels(node: &NodeProto) -> Result<Vec<String>, String> {
    let strings = attrs::strings(node, "classlabels_strings")?;
    let labels: Vec<String> = if strings.is_empty() {
        attrs::ints(node, "classlabels_ints").iter().map(i64::to_string).collect()
    } else {
        strings
    };
    let rows = attrs::floats(node, "intercepts").len();
    let expected = if rows == 1 { 2 } else { rows };
    if labels.len() != expected {
        return Err(format!(
            "{}: {} class labels for {rows} coefficient rows (onnxruntime needs {expected})",
            describe(node),
            labels.len()
        ));
    }
    Ok(labels)
}

fn parse_classifier(node: &NodeProto) -> Result<MlOp, String> {
    const AVOID: &str = "export with black_op={'LinearClassifier'} to get core operators";
    classifier_labels(node)?;
    let intercepts = attrs::floats(node, "intercepts");
    let rows = intercepts.len();
    let (weights, features) = coefficients(node, rows)?;
    let post = post(node, AVOID)?;
    if rows == 1 && post == Post::Softmax {
        return Err(format!("{}: SOFTMAX with one coefficient row is not supported; {AVOID}", describe(node)));
    }
    Ok(MlOp {
        kind: Kind::Classifier { post },
        weights: Arc::new(weights),
        intercepts: Some(intercepts),
        rows,
        features,
    })
}

fn parse_regressor(node: &NodeProto) -> Result<MlOp, String> {
    const AVOID: &str = "export with black_op={'LinearRegressor'} to get core operators";
    let rows = usize::try_from(attrs::int(node, "targets").unwrap_or(1)).unwrap_or(0);
    let (weights, features) = coefficients(node, rows)?;
    let intercepts = Some(attrs::floats(node, "intercepts")).filter(|b| b.len() == rows);
    // one target: onnxruntime ignores every post transform but PROBIT, which is refused
    let post = if rows == 1 {
        match attrs::string(node, "post_transform")?.as_deref() {
            Some("PROBIT") => {
                return Err(format!("{}: post_transform PROBIT is not supported; {AVOID}", describe(node)));
            }
            _ => Post::None,
        }
    } else {
        post(node, AVOID)?
    };
    Ok(MlOp { kind: Kind::Regressor { post }, weights: Arc::new(weights), intercepts, rows, features })
}

fn parse_normalizer(node: &NodeProto) -> Result<MlOp, String> {
    let norm = match attrs::string(node, "norm")?.as_deref().unwrap_or("MAX") {
        "MAX" => Norm::Max,
        "L1" => Norm::L1,
        "L2" => Norm::L2,
        other => return Err(format!("{}: unknown norm '{other}'", describe(node))),
    };
    Ok(MlOp { kind: Kind::Normalizer(norm), weights: Arc::new(Vec::new()), intercepts: None, rows: 0, features: 0 })
}

fn elementwise(kind: Kind) -> MlOp {
    MlOp { kind, weights: Arc::new(Vec::new()), intercepts: None, rows: 0, features: 0 }
}

/// `Scaler`, `Binarizer` and `Imputer` share one op type; the original op type is kept in
/// the `switchyard_op` attribute.
fn parse_elementwise(node: &NodeProto) -> Result<MlOp, String> {
    let op = attrs::string(node, "switchyard_op")?.unwrap_or_else(|| node.op_type.clone());
    match op.as_str() {
        "Scaler" => {
            let (offset, scale) = (attrs::floats(node, "offset"), attrs::floats(node, "scale"));
            if scale.is_empty() || offset.len() != scale.len() {
                return Err(format!(
                    "{}: 'offset' ({}) and 'scale' ({}) must be non-empty and of equal length; \
                     or export with black_op={{'Scaler'}} to get core operators",
                    describe(node),
                    offset.len(),
                    scale.len()
                ));
            }
            Ok(elementwise(Kind::Scaler { offset, scale }))
        }
        "Binarizer" => Ok(elementwise(Kind::Binarizer { threshold: attrs::float(node, "threshold").unwrap_or(0.0) })),
        "Imputer" => {
            let values = attrs::floats(node, "imputed_value_floats");
            if values.is_empty() {
                return Err(format!("{}: only float imputation ('imputed_value_floats') is supported", describe(node)));
            }
            Ok(elementwise(Kind::Imputer {
                values,
                replaced: attrs::float(node, "replaced_value_float").unwrap_or(0.0),
            }))
        }
        other => Err(format!("{}: unknown element-wise operator '{other}'", describe(node))),
    }
}

/// Renames an `ai.onnx.ml` node (one of [`ML_OPS`]) to the matching Switchyard operator
/// after checking it.
pub(crate) fn adopt(mut node: pb::NodeProto, domain: &str) -> Result<pb::NodeProto, String> {
    let op = match node.op_type.as_str() {
        "LinearClassifier" => {
            parse_classifier(&node)?;
            LINEAR_CLASSIFIER_OP
        }
        "LinearRegressor" => {
            parse_regressor(&node)?;
            LINEAR_REGRESSOR_OP
        }
        "Normalizer" => {
            parse_normalizer(&node)?;
            NORMALIZER_OP
        }
        _ => {
            parse_elementwise(&node)?;
            let original = node.op_type.clone().into_bytes();
            node.attribute.push(pb::AttributeProto {
                name: "switchyard_op".into(),
                r#type: 3,
                s: original,
                ..Default::default()
            });
            ELEMENTWISE_OP
        }
    };
    node.op_type = op.into();
    node.domain = domain.into();
    Ok(node)
}

impl MlOp {
    fn outputs(&self) -> usize {
        if matches!(self.kind, Kind::Classifier { .. }) { 2 } else { 1 }
    }

    fn columns(&self) -> usize {
        match self.kind {
            Kind::Classifier { .. } if self.rows == 1 => 2,
            Kind::Classifier { .. } | Kind::Regressor { .. } => self.rows,
            _ => 0,
        }
    }

    /// Whether the output has the input's shape.
    fn same_shape(&self) -> bool {
        !matches!(self.kind, Kind::Classifier { .. } | Kind::Regressor { .. })
    }

    /// `out[r] = x · w_r (+ b_r)` for one input row, summed in feature order.
    fn scores(&self, x: &[f32], out: &mut Vec<f32>) {
        for r in 0..self.rows {
            let w = &self.weights[r * self.features..(r + 1) * self.features];
            let dot = x.iter().zip(w).fold(0.0f32, |acc, (a, b)| acc + a * b);
            out.push(match &self.intercepts {
                Some(b) => dot + b[r],
                None => dot,
            });
        }
    }

    fn eval_rows(&self, x: &[f32], n: usize, width: usize) -> TractResult<TVec<TValue>> {
        // one value per column (a single value is repeated), checked against the width
        let columns = |v: &[f32]| -> TractResult<Vec<f32>> {
            ensure!(v.len() == 1 || v.len() == width, "{} values for {width} columns", v.len());
            Ok(if v.len() == 1 { vec![v[0]; width] } else { v.to_vec() })
        };
        let same_shape = |out: Vec<f32>| -> TractResult<TVec<TValue>> {
            Ok(tvec!(tract_ndarray::Array2::from_shape_vec((n, width), out)?.into_tvalue()))
        };
        let rows = x.chunks_exact(width.max(1));
        match &self.kind {
            Kind::Scaler { offset, scale } => {
                let (offset, scale) = (columns(offset)?, columns(scale)?);
                let mut out = Vec::with_capacity(x.len());
                for row in rows {
                    out.extend(row.iter().zip(offset.iter().zip(&scale)).map(|(&v, (&o, &s))| (v - o) * s));
                }
                same_shape(out)
            }
            Kind::Binarizer { threshold } => {
                same_shape(x.iter().map(|&v| if v > *threshold { 1.0 } else { 0.0 }).collect())
            }
            Kind::Imputer { values, replaced } => {
                let values = columns(values)?;
                let missing = |v: f32| if replaced.is_nan() { v.is_nan() } else { v == *replaced };
                let mut out = Vec::with_capacity(x.len());
                for row in rows {
                    out.extend(row.iter().zip(&values).map(|(&v, &fill)| if missing(v) { fill } else { v }));
                }
                same_shape(out)
            }
            &Kind::Normalizer(norm) => {
                let mut out = Vec::with_capacity(x.len());
                for row in x.chunks_exact(width.max(1)) {
                    normalize(norm, row, &mut out);
                }
                Ok(tvec!(tract_ndarray::Array2::from_shape_vec((n, width), out)?.into_tvalue()))
            }
            &Kind::Regressor { post } => {
                ensure!(width == self.features, "expected {} features, got {width}", self.features);
                let mut out = Vec::with_capacity(n * self.rows);
                for row in x.chunks_exact(width) {
                    let start = out.len();
                    self.scores(row, &mut out);
                    transform(post, &mut out[start..]);
                }
                Ok(tvec!(tract_ndarray::Array2::from_shape_vec((n, self.rows), out)?.into_tvalue()))
            }
            &Kind::Classifier { post } => {
                ensure!(width == self.features, "expected {} features, got {width}", self.features);
                let columns = self.columns();
                let mut labels = Vec::with_capacity(n);
                let mut out = Vec::with_capacity(n * columns);
                for row in x.chunks_exact(width) {
                    let start = out.len();
                    self.scores(row, &mut out);
                    let s = &mut out[start..];
                    if self.rows == 1 {
                        labels.push(i64::from(s[0] > 0.0));
                        let p = if post == Post::Logistic { logistic(s[0]) } else { s[0] };
                        s[0] = 1.0 - p;
                        out.push(p);
                    } else {
                        let best = (1..s.len()).fold(0, |b, j| if s[j] > s[b] { j } else { b });
                        labels.push(best as i64);
                        transform(post, s);
                    }
                }
                let scores = tract_ndarray::Array2::from_shape_vec((n, columns), out)?.into_tvalue();
                Ok(tvec!(tract_ndarray::Array1::from_vec(labels).into_tvalue(), scores))
            }
        }
    }
}

fn transform(post: Post, s: &mut [f32]) {
    match post {
        Post::None => {}
        Post::Logistic => s.iter_mut().for_each(|v| *v = logistic(*v)),
        Post::Softmax => softmax(s),
    }
}

/// onnxruntime's `NormalizeMax` / `NormalizeL1` / `NormalizeL2` on one row.
fn normalize(norm: Norm, row: &[f32], out: &mut Vec<f32>) {
    match norm {
        Norm::Max => {
            let max = row.iter().fold(f32::MIN, |m, &v| m.max(v));
            out.extend(row.iter().map(|&v| if max != 0.0 { v / max } else { v }));
        }
        Norm::L1 => {
            let sum = row.iter().fold(0.0f32, |s, &v| s + v.abs());
            out.extend(row.iter().map(|&v| if sum != 0.0 { v / sum } else { v }));
        }
        Norm::L2 => {
            let sum = row.iter().fold(0.0f32, |s, &v| s + v * v);
            out.extend(row.iter().map(|&v| {
                if sum == 0.0 {
                    v
                } else if v < 0.0 {
                    -(v * v / sum).sqrt()
                } else {
                    (v * v / sum).sqrt()
                }
            }));
        }
    }
}

impl Expansion for MlOp {
    fn name(&self) -> StaticName {
        match self.kind {
            Kind::Classifier { .. } => LINEAR_CLASSIFIER_OP.into(),
            Kind::Regressor { .. } => LINEAR_REGRESSOR_OP.into(),
            Kind::Normalizer(_) => NORMALIZER_OP.into(),
            Kind::Scaler { .. } => "SwitchyardScaler".into(),
            Kind::Binarizer { .. } => "SwitchyardBinarizer".into(),
            Kind::Imputer { .. } => "SwitchyardImputer".into(),
        }
    }

    fn nboutputs(&self) -> TractResult<usize> {
        Ok(self.outputs())
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1)?;
        check_output_arity(outputs, self.outputs())?;
        s.equals(&inputs[0].rank, 2)?;
        let values = outputs.last().ok_or_else(|| anyhow::anyhow!("no output"))?;
        s.equals(&values.datum_type, f32::datum_type())?;
        s.equals(&values.rank, 2)?;
        s.equals(&values.shape[0], &inputs[0].shape[0])?;
        if self.same_shape() {
            s.equals(&values.shape[1], &inputs[0].shape[1])?;
        } else {
            s.equals(&values.shape[1], self.columns().to_dim())?;
        }
        if self.outputs() == 2 {
            s.equals(&outputs[0].datum_type, i64::datum_type())?;
            s.equals(&outputs[0].rank, 1)?;
            s.equals(&outputs[0].shape[0], &inputs[0].shape[0])?;
        }
        Ok(())
    }

    fn wire(&self, prefix: &str, model: &mut TypedModel, inputs: &[OutletId]) -> TractResult<TVec<OutletId>> {
        model.wire_node(prefix, self.clone(), inputs)
    }
}

impl Op for MlOp {
    fn name(&self) -> StaticName {
        Expansion::name(self)
    }

    op_as_typed_op!();
}

impl EvalOp for MlOp {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        let (n, width) = match input.shape() {
            [n, w] => (*n, *w),
            other => bail!("expected [batch, features], got {other:?}"),
        };
        let cast = input.cast_to::<f32>()?;
        let view = cast.try_as_plain_ram()?;
        self.eval_rows(view.as_slice::<f32>()?, n, width)
    }
}

impl TypedOp for MlOp {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let n = inputs[0].shape[0].clone();
        Ok(match self.kind {
            Kind::Regressor { .. } => tvec!(f32::fact([n, self.rows.to_dim()])),
            Kind::Classifier { .. } => tvec!(i64::fact([n.clone()]), f32::fact([n, self.columns().to_dim()])),
            _ => tvec!(f32::fact([n, inputs[0].shape[1].clone()])),
        })
    }

    as_op!();
}
