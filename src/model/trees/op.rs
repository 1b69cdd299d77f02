//! The tree ensemble as a tract operator, registered into tract-onnx's op registry under
//! Switchyard's own op types: the compatibility layer renames every `ai.onnx.ml`
//! `TreeEnsembleClassifier` / `TreeEnsembleRegressor` node to these, so tract's built-in
//! (and, for binary classifiers, wrong) evaluator is never used.
//!
//! Parsing keeps the checked [`Spec`]; wiring into the typed model picks the precision
//! from the input's datum type and flattens the trees once; evaluation is
//! [`Ensemble::run_f32`] / [`Ensemble::run_f64`] over the whole batch.

use std::sync::Arc;

use tract_onnx::model::{OnnxOpRegister, ParsingContext};
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;
use tract_onnx::tract_hir::tract_core::{as_op, op_as_typed_op, op_out_of_plan};

use super::build::{Ensemble, Spec, Task, parse};

/// Op types (in the `ai.switchyard` domain) the compatibility layer gives tree ensembles.
pub(crate) const CLASSIFIER_OP: &str = "SwitchyardTreeEnsembleClassifier";
pub(crate) const REGRESSOR_OP: &str = "SwitchyardTreeEnsembleRegressor";

pub(crate) fn register(reg: &mut OnnxOpRegister) {
    reg.insert(CLASSIFIER_OP, build_classifier);
    reg.insert(REGRESSOR_OP, build_regressor);
}

fn build_classifier(_ctx: &ParsingContext, node: &NodeProto) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    build(node, true)
}

fn build_regressor(_ctx: &ParsingContext, node: &NodeProto) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    build(node, false)
}

fn build(node: &NodeProto, classifier: bool) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let spec = parse(node, classifier).map_err(|e| anyhow::anyhow!(e))?;
    Ok((expand(TreeEnsemble { spec: Arc::new(spec) }), vec![]))
}

/// The parsed node, before the input type (hence the precision) is known.
#[derive(Debug, Clone)]
struct TreeEnsemble {
    spec: Arc<Spec>,
}

impl Expansion for TreeEnsemble {
    fn name(&self) -> StaticName {
        "SwitchyardTreeEnsemble".into()
    }

    fn nboutputs(&self) -> TractResult<usize> {
        Ok(match self.spec.task {
            Task::Classifier { .. } => 2,
            Task::Regressor { .. } => 1,
        })
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1)?;
        s.equals(&inputs[0].rank, 2)?;
        let columns = self.spec.task.columns().to_dim();
        let scores = match self.spec.task {
            Task::Classifier { .. } => {
                check_output_arity(outputs, 2)?;
                s.equals(&outputs[0].datum_type, i64::datum_type())?;
                s.equals(&outputs[0].rank, 1)?;
                s.equals(&outputs[0].shape[0], &inputs[0].shape[0])?;
                &outputs[1]
            }
            Task::Regressor { .. } => {
                check_output_arity(outputs, 1)?;
                &outputs[0]
            }
        };
        s.equals(&scores.datum_type, f32::datum_type())?;
        s.equals(&scores.rank, 2)?;
        s.equals(&scores.shape[0], &inputs[0].shape[0])?;
        s.equals(&scores.shape[1], columns)?;
        Ok(())
    }

    fn wire(&self, prefix: &str, model: &mut TypedModel, inputs: &[OutletId]) -> TractResult<TVec<OutletId>> {
        let fact = model.outlet_fact(inputs[0])?.clone();
        let ensemble = self.spec.build(fact.datum_type == f64::datum_type()).map_err(|e| anyhow::anyhow!(e))?;
        if let Some(width) = fact.shape.get(1).and_then(|d| d.to_usize().ok())
            && ensemble.width() > width
        {
            bail!("the trees read feature {} but the input has {width} features", ensemble.width() - 1);
        }
        model.wire_node(prefix, TreeEnsembleOp { ensemble: Arc::new(ensemble) }, inputs)
    }
}

/// The typed, runnable operator.
#[derive(Debug, Clone)]
pub(crate) struct TreeEnsembleOp {
    ensemble: Arc<Ensemble>,
}

/// Two ops are the same only if they share the flattened trees (comparing forests node by
/// node would cost more than it could save).
impl PartialEq for TreeEnsembleOp {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.ensemble, &other.ensemble)
    }
}
impl Eq for TreeEnsembleOp {}

impl Op for TreeEnsembleOp {
    fn name(&self) -> StaticName {
        "SwitchyardTreeEnsemble".into()
    }

    op_as_typed_op!();
}

impl EvalOp for TreeEnsembleOp {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        let shape = input.shape();
        let (n, stride) = match shape {
            [n, c] => (*n, *c),
            _ => bail!("tree ensemble input must be [batch, features], got {shape:?}"),
        };
        if stride < self.ensemble.width() {
            bail!("the trees read feature {} but the input has {stride} features", self.ensemble.width() - 1);
        }
        let out = if input.datum_type() == f64::datum_type() {
            let view = input.try_as_plain_ram()?;
            self.ensemble.run_f64(view.as_slice::<f64>()?, stride)
        } else {
            let cast = input.cast_to::<f32>()?;
            let view = cast.try_as_plain_ram()?;
            self.ensemble.run_f32(view.as_slice::<f32>()?, stride)
        };
        let scores = tract_ndarray::Array2::from_shape_vec((n, out.columns), out.scores)?.into_tvalue();
        Ok(match self.ensemble.task {
            Task::Classifier { .. } => {
                tvec!(tract_ndarray::Array1::from_vec(out.labels).into_tvalue(), scores)
            }
            Task::Regressor { .. } => tvec!(scores),
        })
    }
}

impl TypedOp for TreeEnsembleOp {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let n = inputs[0].shape[0].clone();
        let scores = f32::fact([n.clone(), self.ensemble.task.columns().to_dim()]);
        Ok(match self.ensemble.task {
            Task::Classifier { .. } => tvec!(i64::fact([n]), scores),
            Task::Regressor { .. } => tvec!(scores),
        })
    }

    as_op!();
}
