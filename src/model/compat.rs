//! The compatibility layer: rewrites an uploaded ONNX model, before tract sees it, into one
//! tract can run with onnxruntime's results. Run on every load (it is cheap next to
//! optimisation); the stored artifact stays the bytes the user uploaded.
//!
//! 1. Every operator is checked first: core operators tract-onnx does not implement,
//!    `ai.onnx.ml` operators Switchyard does not handle and foreign domains are listed
//!    together, each with the export option that avoids it, and the model is refused.
//! 2. `ai.onnx.ml` operators tract lacks (or runs wrongly) are renamed to Switchyard's own
//!    operators, registered in tract's op registry: preprocessing and linear models
//!    ([`mlops`](super::mlops)), tree ensembles ([`trees::op`](super::trees::op)). `ZipMap`
//!    becomes an identity: the probability tensor is served as is.
//! 3. Labels become class indices: a classifier's label output is traced back through
//!    casts and reshapes; a lookup of the predicted index in a constant class list
//!    (`ArrayFeatureExtractor` or `Gather`, skl2onnx's MLP and core-op exports) is replaced
//!    by the index itself, and the list becomes the model's class names. String labels
//!    therefore never reach tract.

use std::collections::{HashMap, HashSet};

use tract_onnx::pb;

use super::attrs::{self, describe};
use super::builder::{Builder, int_attr};
use super::mlops;
use super::trees::{self, op as tree_op};

/// A rewritten model and what the rewrite learnt about it.
pub(crate) struct Compat {
    pub model: pb::ModelProto,
    /// Class names in score-column order, when the graph names them (classifier operator
    /// labels, ZipMap labels or a constant class list).
    pub classes: Option<Vec<String>>,
}

/// Core opset written into a model that has none (a graph of `ai.onnx.ml` operators only).
const DEFAULT_OPSET: i64 = 17;
/// The domain of Switchyard's operators (tract-onnx's registry is keyed by op type only; the
/// op types are prefixed `Switchyard` so they never collide with ONNX's).
const DOMAIN: &str = "ai.switchyard";
const ML: &str = "ai.onnx.ml";

/// `ai.onnx.ml` operators this layer replaces (besides [`mlops::ML_OPS`]).
const REPLACED: &[&str] = &["TreeEnsembleClassifier", "TreeEnsembleRegressor", "ZipMap"];
/// `ai.onnx.ml` operators tract-onnx runs correctly as they are.
const NATIVE: &[&str] = &["ArrayFeatureExtractor", "CategoryMapper"];

/// Ops a label may pass through between the classifier and the graph output.
const LABEL_PASSTHROUGH: &[&str] = &["Identity", "Cast", "Reshape", "Squeeze", "Unsqueeze", "Flatten"];

/// What to do instead of an operator Switchyard cannot run.
fn hint(domain: &str, op: &str) -> String {
    match (domain, op) {
        (ML, "SVMClassifier" | "SVMRegressor") => {
            "no skl2onnx option avoids it; use LinearSVC / LinearSVR (exported as LinearClassifier / LinearRegressor) or another supported model".into()
        }
        (ML, "OneHotEncoder" | "LabelEncoder" | "DictVectorizer" | "CastMap" | "FeatureVectorizer") => {
            "no skl2onnx option avoids it; encode the features before calling the model and export the estimator alone".into()
        }
        (ML, _) => "no skl2onnx option avoids it; Switchyard does not support this operator".into(),
        ("" | "ai.onnx", _) => "tract-onnx 0.23.9 does not implement it; no export option is known to avoid it".into(),
        _ => format!("operators of domain '{domain}' are not standard ONNX; export with standard operators only"),
    }
}

/// The core opset version the model declares (the highest, if listed twice).
fn core_opset(model: &pb::ModelProto) -> Option<i64> {
    model.opset_import.iter().filter(|o| o.domain.is_empty() || o.domain == "ai.onnx").map(|o| o.version).max()
}

/// Refuses a model using operators nothing here can run, naming each once.
fn check_operators(graph: &pb::GraphProto, core_supported: &dyn Fn(&str) -> bool) -> Result<(), String> {
    let mut seen = HashSet::new();
    let mut problems = Vec::new();
    for node in &graph.node {
        let ok = match node.domain.as_str() {
            "" | "ai.onnx" => core_supported(&node.op_type),
            ML => [REPLACED, mlops::ML_OPS, NATIVE].iter().any(|ops| ops.contains(&node.op_type.as_str())),
            _ => false,
        };
        if !ok && seen.insert((node.domain.clone(), node.op_type.clone())) {
            let domain = if node.domain.is_empty() { "ai.onnx" } else { node.domain.as_str() };
            problems.push(format!("{} ({domain}): {}", node.op_type, hint(&node.domain, &node.op_type)));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("the model uses operators Switchyard cannot run: {}", problems.join("; ")))
    }
}

/// Rewrites `model` (see the module documentation). `core_supported` answers whether
/// tract-onnx implements a core operator.
pub(crate) fn rewrite(mut model: pb::ModelProto, core_supported: &dyn Fn(&str) -> bool) -> Result<Compat, String> {
    let Some(mut graph) = model.graph.take() else { return Err("the ONNX file has no graph".into()) };
    check_operators(&graph, core_supported)?;
    if core_opset(&model).is_none() {
        model.opset_import.push(pb::OperatorSetIdProto { domain: String::new(), version: DEFAULT_OPSET });
    }
    let mut b = Builder::new();
    let mut classes: Option<Vec<String>> = None;
    let mut retyped: HashSet<String> = HashSet::new();
    let mut uses_own_ops = false;
    let mut zipmap_outputs: HashSet<String> = HashSet::new();
    // Label outputs of rewritten classifiers: class indices already.
    let mut label_outputs: HashSet<String> = HashSet::new();
    for node in std::mem::take(&mut graph.node) {
        if node.domain != ML {
            b.nodes.push(node);
            continue;
        }
        retyped.extend(node.output.iter().cloned());
        match node.op_type.as_str() {
            op if mlops::ML_OPS.contains(&op) => {
                if node.op_type == "LinearClassifier" {
                    classes.get_or_insert(mlops::classifier_labels(&node)?);
                    label_outputs.extend(node.output.first().cloned());
                }
                let wanted = if node.op_type == "LinearClassifier" { 2 } else { 1 };
                let node = name_outputs(&mut b, mlops::adopt(node, DOMAIN)?, wanted);
                uses_own_ops = true;
                b.nodes.push(node);
            }
            "TreeEnsembleClassifier" | "TreeEnsembleRegressor" => {
                let classifier = node.op_type == "TreeEnsembleClassifier";
                let spec = trees::parse(&node, classifier)?;
                if classifier {
                    classes.get_or_insert(spec.class_labels.clone());
                    label_outputs.extend(node.output.first().cloned());
                }
                uses_own_ops = true;
                let renamed = tree_node(&mut b, node, classifier);
                b.nodes.push(renamed);
            }
            "ZipMap" => {
                let strings = attrs::strings(&node, "classlabels_strings")?;
                let labels = if strings.is_empty() {
                    attrs::ints(&node, "classlabels_int64s").iter().map(i64::to_string).collect()
                } else {
                    strings
                };
                if !labels.is_empty() {
                    classes.get_or_insert(labels);
                }
                let (Some(i), Some(o)) = (node.input.first(), node.output.first()) else {
                    return Err(format!("{} needs one input and one output", describe(&node)));
                };
                b.node("Identity", &[i], &[o], vec![]);
                zipmap_outputs.insert(o.clone());
            }
            _ => b.nodes.push(node),
        }
    }
    graph.node = std::mem::take(&mut b.nodes);
    if uses_own_ops {
        model.opset_import.push(pb::OperatorSetIdProto { domain: DOMAIN.into(), version: 1 });
    }
    // ZipMap outputs were sequences of maps; they are now the probability tensor.
    for output in graph.output.iter_mut().filter(|o| zipmap_outputs.contains(&o.name)) {
        output.r#type = Some(float_tensor_type());
    }
    if let Some(found) = labels_to_indices(&mut graph, &label_outputs, &mut retyped)? {
        classes.get_or_insert(found);
    }
    graph.value_info.retain(|v| !retyped.contains(&v.name));
    model.graph = Some(graph);
    Ok(Compat { model, classes })
}

/// The tree ensemble node renamed to Switchyard's operator, both classifier outputs named.
fn tree_node(b: &mut Builder, mut node: pb::NodeProto, classifier: bool) -> pb::NodeProto {
    node.op_type = if classifier { tree_op::CLASSIFIER_OP } else { tree_op::REGRESSOR_OP }.into();
    node.domain = DOMAIN.into();
    name_outputs(b, node, if classifier { 2 } else { 1 })
}

/// Gives the node exactly `wanted` outputs, naming those the model left unnamed (tract
/// maps outputs by position).
fn name_outputs(b: &mut Builder, mut node: pb::NodeProto, wanted: usize) -> pb::NodeProto {
    node.output.resize(wanted.max(node.output.len()), String::new());
    for o in node.output.iter_mut().take(wanted) {
        if o.is_empty() {
            *o = b.fresh("unused");
        }
    }
    node.output.truncate(wanted);
    node
}

fn tensor_type(value: &pb::ValueInfoProto) -> Option<&pb::type_proto::Tensor> {
    let pb::type_proto::Value::TensorType(t) = value.r#type.as_ref()?.value.as_ref()?;
    Some(t)
}

fn float_tensor_type() -> pb::TypeProto {
    pb::TypeProto {
        value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor { elem_type: attrs::FLOAT, shape: None })),
        ..Default::default()
    }
}

fn set_elem_type(value: &mut pb::ValueInfoProto, elem_type: i32) {
    let shape = tensor_type(value).and_then(|t| t.shape.clone());
    value.r#type = Some(pb::TypeProto {
        value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor { elem_type, shape })),
        ..Default::default()
    });
}

/// A constant tensor: an initializer or the value of a `Constant` node.
fn constant<'a>(graph: &'a pb::GraphProto, name: &str) -> Option<&'a pb::TensorProto> {
    graph.initializer.iter().find(|t| t.name == name).or_else(|| {
        graph
            .node
            .iter()
            .find(|n| n.op_type == "Constant" && n.output.first().is_some_and(|o| o == name))
            .and_then(|n| attrs::find(n, "value"))
            .and_then(|a| a.t.as_ref())
    })
}

/// Makes every integer or string graph output carry the class index: follows each back
/// through [`LABEL_PASSTHROUGH`] ops to a classifier's label (`indices`: already an
/// index) or to a lookup of an index in a constant class list, which is replaced by the
/// index; casts to strings on the way become casts to int64. Returns the class list of the
/// first lookup found.
fn labels_to_indices(
    graph: &mut pb::GraphProto,
    indices: &HashSet<String>,
    retyped: &mut HashSet<String>,
) -> Result<Option<Vec<String>>, String> {
    let producer: HashMap<String, usize> =
        graph.node.iter().enumerate().flat_map(|(i, n)| n.output.iter().map(move |o| (o.clone(), i))).collect();
    let mut found = None;
    for k in 0..graph.output.len() {
        let elem = tensor_type(&graph.output[k]).map(|t| t.elem_type);
        if !matches!(elem, Some(attrs::INT64 | attrs::INT32 | attrs::STRING)) {
            continue;
        }
        let mut name = graph.output[k].name.clone();
        let mut path = Vec::new();
        let mut index = false;
        while let Some(&i) = producer.get(&name) {
            if indices.contains(&name) {
                index = true;
                break;
            }
            let node = &graph.node[i];
            let core = node.domain.is_empty() || node.domain == "ai.onnx";
            if core && LABEL_PASSTHROUGH.contains(&node.op_type.as_str()) {
                path.push(i);
                name = node.input.first().cloned().unwrap_or_default();
                continue;
            }
            if core && node.op_type == "ArgMax" {
                index = true;
                break;
            }
            let lookup = matches!(node.op_type.as_str(), "ArrayFeatureExtractor" | "Gather")
                && node.input.len() == 2
                && attrs::int(node, "axis").unwrap_or(0) == 0;
            if let Some(labels) = constant(graph, &node.input[0]).filter(|_| lookup).and_then(attrs::label_values) {
                let at = node.input[1].clone();
                graph.node[i] = pb::NodeProto {
                    name: format!("{name}/class_index"),
                    op_type: "Cast".into(),
                    input: vec![at],
                    output: vec![name.clone()],
                    attribute: vec![int_attr("to", i64::from(attrs::INT64))],
                    ..Default::default()
                };
                retyped.insert(name.clone());
                found.get_or_insert(labels);
                index = true;
            }
            break;
        }
        if !index {
            if elem == Some(attrs::STRING) {
                return Err(format!(
                    "output '{}' is a string tensor Switchyard cannot map to class indices; export the classifier's labels as integers",
                    graph.output[k].name
                ));
            }
            continue;
        }
        for i in path {
            let node = &mut graph.node[i];
            retyped.extend(node.output.iter().cloned());
            if node.op_type == "Cast" {
                node.attribute.retain(|a| a.name != "to");
                node.attribute.push(int_attr("to", i64::from(attrs::INT64)));
            }
        }
        set_elem_type(&mut graph.output[k], attrs::INT64);
    }
    Ok(found)
}
