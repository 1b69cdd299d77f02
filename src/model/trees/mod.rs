//! Switchyard's tree-ensemble evaluator: `ai.onnx.ml` `TreeEnsembleClassifier` and
//! `TreeEnsembleRegressor` (ONNX-ML opsets 1 and 3) with onnxruntime's semantics.
//!
//! tract-onnx's own evaluator walks every leaf stored before a tree to find that tree's
//! leaves (slow on large forests), cannot run regressors, and mislabels binary classifiers.
//! Here the ensemble is flattened once, at load, into arrays indexed directly:
//!
//! - `nodes`: branch nodes of all trees, each tree laid out in preorder (the "true" child
//!   right after its parent), 16 bytes per node for f32 thresholds;
//! - child references carry a leaf bit: a walk ends when it reaches a leaf reference,
//!   whose index selects a slice of `weights` (class or target id, value).
//!
//! Evaluating a row is a loop over the roots, each a tight walk down one tree. Branch mode
//! and the missing-value flag are packed into the node's feature word; when every branch
//! uses the same mode and no node sends NaN to the true side (every scikit-learn forest),
//! the walk is monomorphised on that comparison.
//!
//! Scores are accumulated in the threshold type (f32 for float inputs, f64 for double
//! inputs or double attributes), in tree order, and finished exactly as onnxruntime does
//! (`finish.rs`), so results match it bit for bit in the common cases.

mod build;
mod finish;
pub(crate) mod op;
#[cfg(test)]
mod reference;

pub(crate) use build::parse;

/// Marks a child reference as a leaf index.
const LEAF: u32 = 1 << 31;
/// Low bits of `Node::feature`: the feature index.
const FEATURE_MASK: u32 = (1 << 24) - 1;
/// Bits 24..28 of `Node::feature`: the branch mode.
const MODE_SHIFT: u32 = 24;
/// Bit 28 of `Node::feature`: a NaN input takes the true branch.
const MISSING_TRUE: u32 = 1 << 28;

/// The largest feature index a node may test (the feature word keeps 24 bits for it).
pub(crate) const MAX_FEATURE: i64 = FEATURE_MASK as i64;

/// A node's comparison `x <op> threshold`; true sends the row to the true branch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub(crate) enum Mode {
    Leq = 0,
    Lt = 1,
    Gte = 2,
    Gt = 3,
    Eq = 4,
    Neq = 5,
}

impl Mode {
    fn from_bits(b: u32) -> Mode {
        match b {
            0 => Mode::Leq,
            1 => Mode::Lt,
            2 => Mode::Gte,
            3 => Mode::Gt,
            4 => Mode::Eq,
            _ => Mode::Neq,
        }
    }

    #[inline(always)]
    fn test<T: Value>(self, x: T, t: T) -> bool {
        match self {
            Mode::Leq => x <= t,
            Mode::Lt => x < t,
            Mode::Gte => x >= t,
            Mode::Gt => x > t,
            Mode::Eq => x == t,
            Mode::Neq => x != t,
        }
    }
}

/// `post_transform`, applied to the final scores (always in f32, as onnxruntime does).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Post {
    None,
    Logistic,
    Softmax,
    SoftmaxZero,
    Probit,
}

/// `aggregate_function` of a regressor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Aggregate {
    Sum,
    Average,
    Min,
    Max,
}

/// The numeric type thresholds, weights and scores are kept in: f32 or f64.
pub(crate) trait Value:
    Copy
    + PartialOrd
    + Default
    + std::fmt::Debug
    + Send
    + Sync
    + 'static
    + std::ops::Add<Output = Self>
    + std::ops::Sub<Output = Self>
    + std::ops::Div<Output = Self>
    + std::ops::Neg<Output = Self>
{
    fn from_f64(v: f64) -> Self;
    fn from_usize(v: usize) -> Self;
    fn to_f32(self) -> f32;
    fn is_nan(self) -> bool;
    fn one() -> Self;
}

impl Value for f32 {
    fn from_f64(v: f64) -> Self {
        v as f32
    }
    fn from_usize(v: usize) -> Self {
        v as f32
    }
    fn to_f32(self) -> f32 {
        self
    }
    fn is_nan(self) -> bool {
        f32::is_nan(self)
    }
    fn one() -> Self {
        1.0
    }
}

impl Value for f64 {
    fn from_f64(v: f64) -> Self {
        v
    }
    fn from_usize(v: usize) -> Self {
        v as f64
    }
    fn to_f32(self) -> f32 {
        self as f32
    }
    fn is_nan(self) -> bool {
        f64::is_nan(self)
    }
    fn one() -> Self {
        1.0
    }
}

/// A branch node. `feature` packs the feature index, the mode and the missing-value flag.
#[derive(Debug, Clone, Copy)]
struct Node<T> {
    threshold: T,
    feature: u32,
    yes: u32,
    no: u32,
}

/// The flattened trees of one ensemble, in one precision.
#[derive(Debug, Clone)]
pub(crate) struct Forest<T> {
    nodes: Vec<Node<T>>,
    /// One reference per tree, in onnxruntime's tree order; may be a leaf reference.
    roots: Vec<u32>,
    /// `leaf_start[i]..leaf_start[i + 1]` is leaf i's slice of `weights`.
    leaf_start: Vec<u32>,
    weights: Vec<(u32, T)>,
    /// The mode of every branch node when they all agree and none tracks missing values.
    uniform: Option<Mode>,
    /// 1 + the largest feature index any node reads.
    width: usize,
}

impl<T: Value> Forest<T> {
    pub(crate) fn n_trees(&self) -> usize {
        self.roots.len()
    }

    pub(crate) fn width(&self) -> usize {
        self.width
    }

    fn leaf_weights(&self, leaf: u32) -> &[(u32, T)] {
        let i = leaf as usize;
        &self.weights[self.leaf_start[i] as usize..self.leaf_start[i + 1] as usize]
    }

    /// Finds, for each row of `rows` (row-major, `stride` values each) and each tree in
    /// order, the leaf the row reaches, and hands `(row, leaf weights)` to `visit`. Trees
    /// are the outer loop so that one tree's nodes stay in cache across the rows.
    pub(crate) fn for_each_leaf(&self, rows: &[T], stride: usize, mut visit: impl FnMut(usize, &[(u32, T)])) {
        match self.uniform {
            Some(Mode::Leq) => self.walk_all(rows, stride, &mut visit, |x, t| x <= t),
            Some(Mode::Lt) => self.walk_all(rows, stride, &mut visit, |x, t| x < t),
            Some(Mode::Gte) => self.walk_all(rows, stride, &mut visit, |x, t| x >= t),
            Some(Mode::Gt) => self.walk_all(rows, stride, &mut visit, |x, t| x > t),
            Some(Mode::Eq) => self.walk_all(rows, stride, &mut visit, |x, t| x == t),
            Some(Mode::Neq) => self.walk_all(rows, stride, &mut visit, |x, t| x != t),
            None => self.walk_all_general(rows, stride, &mut visit),
        }
    }

    #[inline(always)]
    fn walk_all(
        &self,
        rows: &[T],
        stride: usize,
        visit: &mut impl FnMut(usize, &[(u32, T)]),
        test: impl Fn(T, T) -> bool + Copy,
    ) {
        for &root in &self.roots {
            for (r, row) in rows.chunks_exact(stride).enumerate() {
                let mut at = root;
                while at & LEAF == 0 {
                    let n = &self.nodes[at as usize];
                    let x = row[(n.feature & FEATURE_MASK) as usize];
                    at = if test(x, n.threshold) { n.yes } else { n.no };
                }
                visit(r, self.leaf_weights(at & !LEAF));
            }
        }
    }

    fn walk_all_general(&self, rows: &[T], stride: usize, visit: &mut impl FnMut(usize, &[(u32, T)])) {
        for &root in &self.roots {
            for (r, row) in rows.chunks_exact(stride).enumerate() {
                let mut at = root;
                while at & LEAF == 0 {
                    let n = &self.nodes[at as usize];
                    let x = row[(n.feature & FEATURE_MASK) as usize];
                    let mode = Mode::from_bits((n.feature >> MODE_SHIFT) & 0xF);
                    let go = mode.test(x, n.threshold) || (n.feature & MISSING_TRUE != 0 && x.is_nan());
                    at = if go { n.yes } else { n.no };
                }
                visit(r, self.leaf_weights(at & !LEAF));
            }
        }
    }
}

/// The scores and labels of a batch of rows, as the operator outputs them.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Output {
    /// Classifiers: the class index of each row (into the class labels); empty for regressors.
    pub labels: Vec<i64>,
    /// Row-major `[rows, columns]`: class scores or regression targets.
    pub scores: Vec<f32>,
    pub columns: usize,
}
