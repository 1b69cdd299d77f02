//! A pass over the optimised tract model that replaces operations on narrow `[batch, k]`
//! f32 rows by plain loops over the rows:
//!
//! - element-wise `Add`, `Sub`, `Mul`, `Div` with a constant holding one value per column
//!   (k < 32): tract evaluates them through its generic broadcasting path, an ndarray `Zip`
//!   with a closure call per element, unless a row is at least 32 values long. scikit-learn
//!   preprocessing exported with core operators (MinMaxScaler's `Mul` + `Add`, any pipeline
//!   over 4 to 30 features) lands exactly there, at several microseconds for 64 rows. The
//!   loop does the same IEEE operation per element: bit-identical results.
//! - `Softmax` and `ArgMax` over the last axis of a rank-2 tensor: tract runs its vector
//!   kernels once per row with an ndarray view each, which for the 2 to 10 classes of a
//!   classifier head (skl2onnx's MLP exports) costs more than the arithmetic. ArgMax keeps
//!   ONNX's first-maximum rule; softmax is `exp(x - max) / Σ` with the standard `exp`, within
//!   an ulp or two of tract's and onnxruntime's vectorised approximations.

use tract_onnx::tract_hir::internal::*;
use tract_onnx::tract_hir::tract_core::ops::binary::TypedBinOp;
use tract_onnx::tract_hir::tract_core::ops::nn::{Reduce, Reducer, Softmax, SoftmaxKind};
use tract_onnx::tract_hir::tract_core::{as_op, op_as_typed_op, op_out_of_plan};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Arith {
    Add,
    Sub,
    Mul,
    Div,
}

#[derive(Debug, Clone, PartialEq)]
enum Rowwise {
    /// `x op c[col]` (or `c[col] op x` when `constant_first`).
    Columns {
        arith: Arith,
        values: Vec<f32>,
        constant_first: bool,
    },
    Softmax,
    /// Index of the first maximum of each row, as `[batch, 1]` i64.
    ArgMax,
}

impl Eq for Rowwise {}

/// Replaces every eligible node of `model` (see the module documentation), one patch at a
/// time (a patch renumbers the outlets the next one would use).
pub(crate) fn fuse(model: &mut TypedModel) -> TractResult<()> {
    while let Some((id, input, op)) = candidate(model)? {
        let node = model.node(id).clone();
        TypedModelPatch::replace_single_op(model, &node, &[input], op)?.apply(model)?;
    }
    Ok(())
}

/// `[batch, k]` f32 with k known.
fn row_width(fact: &TypedFact) -> Option<usize> {
    (fact.rank() == 2 && fact.datum_type == f32::datum_type()).then(|| fact.shape[1].to_usize().ok()).flatten()
}

fn candidate(model: &TypedModel) -> TractResult<Option<(usize, OutletId, Rowwise)>> {
    for &id in &model.eval_order()? {
        let node = model.node(id);
        if let Some(softmax) = node.op_as::<Softmax>() {
            let fact = model.outlet_fact(node.inputs[0])?;
            if softmax.axes.as_slice() == [1]
                && softmax.kind == SoftmaxKind::Softmax
                && softmax.quant_output_dt.is_none()
                && row_width(fact).is_some()
            {
                return Ok(Some((id, node.inputs[0], Rowwise::Softmax)));
            }
            continue;
        }
        if let Some(reduce) = node.op_as::<Reduce>() {
            let fact = model.outlet_fact(node.inputs[0])?;
            if reduce.axes.as_slice() == [1] && reduce.reducer == Reducer::ArgMax(false) && row_width(fact).is_some() {
                return Ok(Some((id, node.inputs[0], Rowwise::ArgMax)));
            }
            continue;
        }
        let Some(bin) = node.op_as::<TypedBinOp>() else { continue };
        let arith = match bin.0.name() {
            "Add" => Arith::Add,
            "Sub" => Arith::Sub,
            "Mul" => Arith::Mul,
            "Div" => Arith::Div,
            _ => continue,
        };
        let facts = model.node_input_facts(node.id)?;
        let [a, b] = facts.as_slice() else { continue };
        let (x, c, constant_first) = match (&a.konst, &b.konst) {
            (None, Some(c)) => (0, c, false),
            (Some(c), None) => (1, c, true),
            _ => continue,
        };
        let Some(width) = row_width(facts[x]) else { continue };
        let per_column = matches!(c.shape(), [k] | [1, k] if *k == width);
        if !per_column || c.datum_type() != f32::datum_type() || bin.1.is_some() || width >= 32 {
            continue;
        }
        let values = c.try_as_plain_ram()?.as_slice::<f32>()?.to_vec();
        return Ok(Some((node.id, node.inputs[x], Rowwise::Columns { arith, values, constant_first })));
    }
    Ok(None)
}

impl Op for Rowwise {
    fn name(&self) -> StaticName {
        match self {
            Rowwise::Columns { .. } => "SwitchyardColumnwise".into(),
            Rowwise::Softmax => "SwitchyardRowSoftmax".into(),
            Rowwise::ArgMax => "SwitchyardRowArgMax".into(),
        }
    }

    op_as_typed_op!();
}

impl EvalOp for Rowwise {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        let (n, width) = match input.shape() {
            [n, w] => (*n, *w),
            other => bail!("expected [batch, columns], got {other:?}"),
        };
        let view = input.try_as_plain_ram()?;
        let x = view.as_slice::<f32>()?;
        let rows = x.chunks_exact(width.max(1));
        match self {
            Rowwise::ArgMax => {
                let best: Vec<i64> =
                    rows.map(|r| (1..r.len()).fold(0, |b, j| if r[j] > r[b] { j } else { b }) as i64).collect();
                Ok(tvec!(tract_ndarray::Array2::from_shape_vec((n, 1), best)?.into_tvalue()))
            }
            Rowwise::Softmax => {
                let mut out = x.to_vec();
                for row in out.chunks_exact_mut(width.max(1)) {
                    crate::model::trees::finish::softmax(row);
                }
                Ok(tvec!(tract_ndarray::Array2::from_shape_vec((n, width), out)?.into_tvalue()))
            }
            Rowwise::Columns { arith, values, constant_first } => {
                ensure!(width == values.len(), "expected {} columns, got {width}", values.len());
                let mut out = Vec::with_capacity(x.len());
                for row in rows {
                    let pairs = row.iter().zip(values);
                    match (arith, constant_first) {
                        (Arith::Add, _) => out.extend(pairs.map(|(&v, &c)| v + c)),
                        (Arith::Mul, _) => out.extend(pairs.map(|(&v, &c)| v * c)),
                        (Arith::Sub, false) => out.extend(pairs.map(|(&v, &c)| v - c)),
                        (Arith::Sub, true) => out.extend(pairs.map(|(&v, &c)| c - v)),
                        (Arith::Div, false) => out.extend(pairs.map(|(&v, &c)| v / c)),
                        (Arith::Div, true) => out.extend(pairs.map(|(&v, &c)| c / v)),
                    }
                }
                Ok(tvec!(tract_ndarray::Array2::from_shape_vec((n, width), out)?.into_tvalue()))
            }
        }
    }
}

impl TypedOp for Rowwise {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(match self {
            Rowwise::ArgMax => tvec!(i64::fact([inputs[0].shape[0].clone(), 1.to_dim()])),
            _ => tvec!(inputs[0].without_value()),
        })
    }

    as_op!();
}
