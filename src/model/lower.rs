//! Lowering of `ai.onnx.ml` preprocessing and linear operators to core ONNX subgraphs that
//! compute what onnxruntime computes (same f32 operations in the same order, except the
//! summation order inside matrix products and reductions).
//!
//! Each function takes the original node and appends replacement nodes to a [`Builder`];
//! the replacement writes the original output names, so the rest of the graph is untouched.
//! Attribute combinations onnxruntime treats in surprising ways are reproduced (and pinned
//! by `fixtures/semantics/`); combinations it leaves undefined are refused.

use tract_onnx::pb;

use crate::model::attrs::{self, describe};

/// Collects the nodes and constants of rewritten subgraphs, with fresh tensor names.
pub(crate) struct Builder {
    pub nodes: Vec<pb::NodeProto>,
    pub initializers: Vec<pb::TensorProto>,
    counter: usize,
    /// The model's core opset version: decides the form of version-dependent operators.
    pub opset: i64,
}

const FLOAT: i32 = attrs::FLOAT;
const INT64: i32 = attrs::INT64;

impl Builder {
    pub(crate) fn new(opset: i64) -> Builder {
        Builder { nodes: Vec::new(), initializers: Vec::new(), counter: 0, opset }
    }

    pub(crate) fn fresh(&mut self, hint: &str) -> String {
        self.counter += 1;
        format!("switchyard/{}/{hint}", self.counter)
    }

    pub(crate) fn node(&mut self, op: &str, inputs: &[&str], outputs: &[&str], attribute: Vec<pb::AttributeProto>) {
        self.nodes.push(pb::NodeProto {
            name: outputs.first().map(|o| format!("{o}/{op}")).unwrap_or_default(),
            op_type: op.into(),
            input: inputs.iter().map(|s| (*s).to_owned()).collect(),
            output: outputs.iter().map(|s| (*s).to_owned()).collect(),
            attribute,
            ..Default::default()
        });
    }

    /// Emits `op(inputs)` into a fresh tensor and returns its name.
    pub(crate) fn op(&mut self, op: &str, inputs: &[&str], attribute: Vec<pb::AttributeProto>) -> String {
        let out = self.fresh(&op.to_lowercase());
        self.node(op, inputs, &[&out], attribute);
        out
    }

    pub(crate) fn const_f32(&mut self, hint: &str, dims: &[i64], values: &[f32]) -> String {
        let name = self.fresh(hint);
        self.initializers.push(pb::TensorProto {
            name: name.clone(),
            dims: dims.to_vec(),
            data_type: FLOAT,
            float_data: values.to_vec(),
            ..Default::default()
        });
        name
    }

    pub(crate) fn const_i64(&mut self, hint: &str, dims: &[i64], values: &[i64]) -> String {
        let name = self.fresh(hint);
        self.initializers.push(pb::TensorProto {
            name: name.clone(),
            dims: dims.to_vec(),
            data_type: INT64,
            int64_data: values.to_vec(),
            ..Default::default()
        });
        name
    }

    pub(crate) fn cast(&mut self, input: &str, to: i32) -> String {
        self.op("Cast", &[input], vec![int_attr("to", i64::from(to))])
    }

    /// Sum or max over axis 1, keeping it: the axes are an attribute or an input depending
    /// on the opset (13 for ReduceSum, 18 for the others).
    fn reduce(&mut self, op: &str, input: &str) -> String {
        let axes_as_input = self.opset >= 18 || (op == "ReduceSum" && self.opset >= 13);
        if axes_as_input {
            let axes = self.const_i64("axes", &[1], &[1]);
            self.op(op, &[input, &axes], vec![int_attr("keepdims", 1)])
        } else {
            self.op(op, &[input], vec![ints_attr("axes", &[1]), int_attr("keepdims", 1)])
        }
    }

    /// `if cond { a } else { b }` element-wise.
    fn select(&mut self, cond: &str, a: &str, b: &str, out: Option<&str>) -> String {
        match out {
            Some(o) => {
                self.node("Where", &[cond, a, b], &[o], vec![]);
                o.to_owned()
            }
            None => self.op("Where", &[cond, a, b], vec![]),
        }
    }
}

pub(crate) fn int_attr(name: &str, i: i64) -> pb::AttributeProto {
    pb::AttributeProto { name: name.into(), r#type: 2, i, ..Default::default() }
}

fn ints_attr(name: &str, ints: &[i64]) -> pb::AttributeProto {
    pb::AttributeProto { name: name.into(), r#type: 7, ints: ints.to_vec(), ..Default::default() }
}

fn input(node: &pb::NodeProto) -> Result<&str, String> {
    node.input
        .first()
        .map(String::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| format!("{} has no input", describe(node)))
}

fn output(node: &pb::NodeProto, i: usize) -> Option<&str> {
    node.output.get(i).map(String::as_str).filter(|s| !s.is_empty())
}

fn post_transform(node: &pb::NodeProto) -> Result<String, String> {
    Ok(attrs::string(node, "post_transform")?.unwrap_or_else(|| "NONE".into()))
}

/// `Scaler`: y = (x - offset) * scale in f32.
pub(crate) fn scaler(b: &mut Builder, node: &pb::NodeProto) -> Result<(), String> {
    let (offset, scale) = (attrs::floats(node, "offset"), attrs::floats(node, "scale"));
    if scale.is_empty() || offset.len() != scale.len() {
        return Err(format!(
            "{}: 'offset' ({}) and 'scale' ({}) must be non-empty and of equal length",
            describe(node),
            offset.len(),
            scale.len()
        ));
    }
    let x = b.cast(input(node)?, FLOAT);
    let off = b.const_f32("offset", &[offset.len() as i64], &offset);
    let sc = b.const_f32("scale", &[scale.len() as i64], &scale);
    let centered = b.op("Sub", &[&x, &off], vec![]);
    let Some(y) = output(node, 0) else { return Ok(()) };
    b.node("Mul", &[&centered, &sc], &[y], vec![]);
    Ok(())
}

/// `Normalizer`: rows divided by their max (signed), L1 or L2 norm; rows whose norm is 0
/// pass unchanged. L2 is computed as onnxruntime does: sign(x) * sqrt(x² / Σx²).
pub(crate) fn normalizer(b: &mut Builder, node: &pb::NodeProto) -> Result<(), String> {
    let norm = attrs::string(node, "norm")?.unwrap_or_else(|| "MAX".into());
    let x = b.cast(input(node)?, FLOAT);
    let zero = b.const_f32("zero", &[], &[0.0]);
    let Some(y) = output(node, 0) else { return Ok(()) };
    let (norm_value, normalized) = match norm.as_str() {
        "MAX" => {
            let m = b.reduce("ReduceMax", &x);
            let d = b.op("Div", &[&x, &m], vec![]);
            (m, d)
        }
        "L1" => {
            let a = b.op("Abs", &[&x], vec![]);
            let s = b.reduce("ReduceSum", &a);
            let d = b.op("Div", &[&x, &s], vec![]);
            (s, d)
        }
        "L2" => {
            let sq = b.op("Mul", &[&x, &x], vec![]);
            let s = b.reduce("ReduceSum", &sq);
            let q = b.op("Div", &[&sq, &s], vec![]);
            let r = b.op("Sqrt", &[&q], vec![]);
            let neg = b.op("Neg", &[&r], vec![]);
            let negative = b.op("Less", &[&x, &zero], vec![]);
            let d = b.select(&negative, &neg, &r, None);
            (s, d)
        }
        other => return Err(format!("{}: unknown norm '{other}'", describe(node))),
    };
    let is_zero = b.op("Equal", &[&norm_value, &zero], vec![]);
    b.select(&is_zero, &x, &normalized, Some(y));
    Ok(())
}

/// `Binarizer`: 1 where x > threshold (default 0), else 0, in f32 (onnxruntime runs it on
/// floats only).
pub(crate) fn binarizer(b: &mut Builder, node: &pb::NodeProto) -> Result<(), String> {
    let threshold = attrs::float(node, "threshold").unwrap_or(0.0);
    let x = b.cast(input(node)?, FLOAT);
    let t = b.const_f32("threshold", &[], &[threshold]);
    let above = b.op("Greater", &[&x, &t], vec![]);
    let Some(y) = output(node, 0) else { return Ok(()) };
    b.node("Cast", &[&above], &[y], vec![int_attr("to", i64::from(FLOAT))]);
    Ok(())
}

/// `Imputer` on floats: values equal to `replaced_value_float` (or NaN when that is NaN)
/// become the imputed value of their column.
pub(crate) fn imputer(b: &mut Builder, node: &pb::NodeProto) -> Result<(), String> {
    let imputed = attrs::floats(node, "imputed_value_floats");
    if imputed.is_empty() {
        return Err(format!("{}: only float imputation ('imputed_value_floats') is supported", describe(node)));
    }
    let replaced = attrs::float(node, "replaced_value_float").unwrap_or(0.0);
    let x = b.cast(input(node)?, FLOAT);
    let cond = if replaced.is_nan() {
        b.op("IsNaN", &[&x], vec![])
    } else {
        let r = b.const_f32("replaced", &[], &[replaced]);
        b.op("Equal", &[&x, &r], vec![])
    };
    let values = b.const_f32("imputed", &[imputed.len() as i64], &imputed);
    let Some(y) = output(node, 0) else { return Ok(()) };
    b.select(&cond, &values, &x, Some(y));
    Ok(())
}

/// `x · Wᵀ (+ b)` with W given row-major `[rows, features]` in `coefficients`.
fn linear(b: &mut Builder, node: &pb::NodeProto, rows: usize, with_intercepts: bool) -> Result<String, String> {
    let coefficients = attrs::floats(node, "coefficients");
    if rows == 0 || coefficients.is_empty() || !coefficients.len().is_multiple_of(rows) {
        return Err(format!(
            "{}: {} coefficients cannot be split into {rows} rows",
            describe(node),
            coefficients.len()
        ));
    }
    let features = coefficients.len() / rows;
    let mut transposed = vec![0.0f32; coefficients.len()];
    for r in 0..rows {
        for f in 0..features {
            transposed[f * rows + r] = coefficients[r * features + f];
        }
    }
    let x = b.cast(input(node)?, FLOAT);
    let w = b.const_f32("coefficients", &[features as i64, rows as i64], &transposed);
    let xw = b.op("MatMul", &[&x, &w], vec![]);
    if !with_intercepts {
        return Ok(xw);
    }
    let bias = b.const_f32("intercepts", &[rows as i64], &attrs::floats(node, "intercepts"));
    Ok(b.op("Add", &[&xw, &bias], vec![]))
}

/// Post transforms a linear operator can have as core ops (on `[N, k]`, k ≥ 2).
fn transform(b: &mut Builder, node: &pb::NodeProto, scores: &str, post: &str, avoid: &str) -> Result<String, String> {
    match post {
        "NONE" => Ok(scores.to_owned()),
        "LOGISTIC" => Ok(b.op("Sigmoid", &[scores], vec![])),
        "SOFTMAX" => Ok(b.op("Softmax", &[scores], vec![int_attr("axis", 1)])),
        other => Err(format!("{}: post_transform {other} is not supported; {avoid}", describe(node))),
    }
}

/// `LinearClassifier`: scores, then the class index (argmax of the raw scores, first
/// maximum; with one coefficient row, `score > 0`) and the transformed scores. With one
/// row and two labels the probabilities are `[1 - p, p]`, p the transformed score.
/// Returns the class labels.
pub(crate) fn linear_classifier(b: &mut Builder, node: &pb::NodeProto) -> Result<Vec<String>, String> {
    const AVOID: &str = "export with black_op={'LinearClassifier'} to get core operators";
    let intercepts = attrs::floats(node, "intercepts");
    let strings = attrs::strings(node, "classlabels_strings")?;
    let labels: Vec<String> = if strings.is_empty() {
        attrs::ints(node, "classlabels_ints").iter().map(i64::to_string).collect()
    } else {
        strings
    };
    let rows = intercepts.len();
    let post = post_transform(node)?;
    let scores = linear(b, node, rows, true)?;
    let (label_out, prob_out) = (output(node, 0), output(node, 1));
    if rows == 1 {
        if labels.len() != 2 {
            return Err(format!(
                "{}: one coefficient row needs exactly two class labels, found {}",
                describe(node),
                labels.len()
            ));
        }
        if let Some(label) = label_out {
            let zero = b.const_f32("zero", &[], &[0.0]);
            let positive = b.op("Greater", &[&scores, &zero], vec![]);
            let index = b.cast(&positive, INT64);
            let shape = b.const_i64("shape", &[1], &[-1]);
            b.node("Reshape", &[&index, &shape], &[label], vec![]);
        }
        if let Some(prob) = prob_out {
            let p = match post.as_str() {
                "NONE" => scores.clone(),
                "LOGISTIC" => b.op("Sigmoid", &[&scores], vec![]),
                other => {
                    return Err(format!(
                        "{}: post_transform {other} with one coefficient row is not supported; {AVOID}",
                        describe(node)
                    ));
                }
            };
            let one = b.const_f32("one", &[], &[1.0]);
            let q = b.op("Sub", &[&one, &p], vec![]);
            b.node("Concat", &[&q, &p], &[prob], vec![int_attr("axis", 1)]);
        }
        return Ok(labels);
    }
    if labels.len() != rows {
        return Err(format!("{}: {} class labels for {rows} coefficient rows", describe(node), labels.len()));
    }
    if let Some(label) = label_out {
        b.node("ArgMax", &[&scores], &[label], vec![int_attr("axis", 1), int_attr("keepdims", 0)]);
    }
    if let Some(prob) = prob_out {
        let p = transform(b, node, &scores, &post, AVOID)?;
        b.node("Identity", &[&p], &[prob], vec![]);
    }
    Ok(labels)
}

/// `LinearRegressor`: `x · Wᵀ + b` (intercepts only when there is one per target). As in
/// onnxruntime, a post transform other than PROBIT is ignored for a single target.
pub(crate) fn linear_regressor(b: &mut Builder, node: &pb::NodeProto) -> Result<(), String> {
    const AVOID: &str = "export with black_op={'LinearRegressor'} to get core operators";
    let targets = usize::try_from(attrs::int(node, "targets").unwrap_or(1)).unwrap_or(0);
    let with_intercepts = attrs::floats(node, "intercepts").len() == targets;
    let scores = linear(b, node, targets, with_intercepts)?;
    let post = post_transform(node)?;
    let y = if targets == 1 {
        if post == "PROBIT" {
            return Err(format!("{}: post_transform PROBIT is not supported; {AVOID}", describe(node)));
        }
        scores
    } else {
        transform(b, node, &scores, &post, AVOID)?
    };
    if let Some(out) = output(node, 0) {
        b.node("Identity", &[&y], &[out], vec![]);
    }
    Ok(())
}
