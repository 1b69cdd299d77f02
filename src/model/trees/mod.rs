//! Switchyard's tree-ensemble evaluator: `ai.onnx.ml` `TreeEnsembleClassifier` and
//! `TreeEnsembleRegressor` (ONNX-ML opsets 1 and 3) with onnxruntime's semantics.
//!
//! tract-onnx's own evaluator walks every leaf stored before a tree to find that tree's
//! leaves (slow on large forests), cannot run regressors, and mislabels binary classifiers.
//! Here the ensemble is flattened once, at load, into arrays indexed directly:
//!
//! - `nodes`: the nodes of all trees, each tree laid out in preorder (the "true" child right
//!   after its parent), 16 bytes per node for f32 thresholds; a leaf is a node whose two
//!   children are itself, so a walk that reached it stays there;
//! - `leaf_start[i]..leaf_start[i + 1]`: node i's slice of `weights` (class or target id,
//!   value), empty for branch nodes.
//!
//! A walk is a chain of dependent loads (node, feature, compare, next node), so eight walks
//! advance together, without a branch per walk: rows of one tree when the batch has eight
//! rows or more (the tree's nodes stay in cache), trees of one row otherwise. Branch mode
//! and the missing-value flag are packed into the node's feature word; when every branch
//! uses the same mode (every scikit-learn ensemble: `BRANCH_LEQ`) the walk is
//! monomorphised on that comparison, with the NaN check only if some node needs it
//! (HistGradientBoosting).
//!
//! Scores are accumulated in the threshold type (f32 for float inputs, f64 for double
//! inputs or double attributes), in tree order, and finished exactly as onnxruntime does
//! (`finish.rs`), so results match it bit for bit in the common cases.

mod build;
pub(crate) mod finish;
pub(crate) mod op;
#[cfg(test)]
mod reference;

pub(crate) use build::parse;

/// Bit 29 of `Node::feature`: the node is a leaf.
const IS_LEAF: u32 = 1 << 29;
/// Low bits of `Node::feature`: the feature index.
const FEATURE_MASK: u32 = (1 << 24) - 1;
/// Bits 24..28 of `Node::feature`: the branch mode.
const MODE_SHIFT: u32 = 24;
/// Bit 28 of `Node::feature`: a NaN input takes the true branch.
const MISSING_TRUE: u32 = 1 << 28;

/// Walks advanced together (see `Forest::descend`).
const LANES: usize = 8;

/// Calls `$self.$method(args…, test)` with the node test monomorphised on the common mode
/// when all branches share it (with or without the missing-value check), or decoding each
/// node's mode otherwise.
macro_rules! with_test {
    ($self:ident, $method:ident ( $($arg:expr),* )) => {{
        // NaN fails every comparison but `!=`, so the missing check only matters after a
        // failed test: `x op t || (tracks NaN && x is NaN)`.
        macro_rules! missing {
            ($x:ident, $n:ident) => {
                ($n.feature & MISSING_TRUE != 0) & $x.is_nan()
            };
        }
        match ($self.uniform, $self.tracks_missing) {
            (Some(Mode::Leq), false) => $self.$method($($arg,)* |x: T, n: &Node<T>| x <= n.threshold),
            (Some(Mode::Lt), false) => $self.$method($($arg,)* |x: T, n: &Node<T>| x < n.threshold),
            (Some(Mode::Gte), false) => $self.$method($($arg,)* |x: T, n: &Node<T>| x >= n.threshold),
            (Some(Mode::Gt), false) => $self.$method($($arg,)* |x: T, n: &Node<T>| x > n.threshold),
            (Some(Mode::Eq), false) => $self.$method($($arg,)* |x: T, n: &Node<T>| x == n.threshold),
            (Some(Mode::Neq), false) => $self.$method($($arg,)* |x: T, n: &Node<T>| x != n.threshold),
            (Some(Mode::Leq), true) => $self.$method($($arg,)* |x: T, n: &Node<T>| (x <= n.threshold) | missing!(x, n)),
            (Some(Mode::Lt), true) => $self.$method($($arg,)* |x: T, n: &Node<T>| (x < n.threshold) | missing!(x, n)),
            (Some(Mode::Gte), true) => $self.$method($($arg,)* |x: T, n: &Node<T>| (x >= n.threshold) | missing!(x, n)),
            (Some(Mode::Gt), true) => $self.$method($($arg,)* |x: T, n: &Node<T>| (x > n.threshold) | missing!(x, n)),
            _ => $self.$method($($arg,)* |x: T, n: &Node<T>| {
                Mode::from_bits((n.feature >> MODE_SHIFT) & 0xF).test(x, n.threshold) | missing!(x, n)
            }),
        }
    }};
}

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

/// A node. `feature` packs the feature index, the mode, the missing-value flag and the
/// leaf flag; a leaf reads feature 0 and both its children are itself.
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
    /// The first node of each tree, in onnxruntime's tree order.
    roots: Vec<u32>,
    /// `leaf_start[i]..leaf_start[i + 1]` is node i's slice of `weights`.
    leaf_start: Vec<u32>,
    /// Per node: its first weight ((0, 0) for branches).
    first: Vec<(u32, T)>,
    /// Every leaf has exactly one weight (accumulation then skips the slice).
    one_weight: bool,
    weights: Vec<(u32, T)>,
    /// The mode of every branch node when they all agree.
    uniform: Option<Mode>,
    /// Some node sends NaN to its true branch.
    tracks_missing: bool,
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

    /// The weights of the leaf at node index `leaf`.
    #[inline]
    pub(crate) fn weights_of(&self, leaf: u32) -> &[(u32, T)] {
        let i = leaf as usize;
        &self.weights[self.leaf_start[i] as usize..self.leaf_start[i + 1] as usize]
    }

    /// The first weight (output id, value) of the leaf at node index `leaf`: what
    /// onnxruntime's single-target path reads; (0, 0) for a branch.
    #[inline]
    pub(crate) fn first_of(&self, leaf: u32) -> (u32, T) {
        self.first[leaf as usize]
    }

    /// Every leaf has exactly one weight (binary classifiers exported by skl2onnx).
    pub(crate) fn one_weight_per_leaf(&self) -> bool {
        self.one_weight
    }

    /// The leaf (node index) each row reaches in tree `tree`, into `out`.
    pub(crate) fn tree_leaves(&self, tree: usize, rows: &[&[T]], out: &mut Vec<u32>) {
        out.clear();
        with_test!(self, tree_leaves_with(tree, rows, out));
    }

    /// The leaf (node index) `row` reaches in each tree, in tree order, into `out`.
    pub(crate) fn row_leaves(&self, row: &[T], out: &mut Vec<u32>) {
        out.clear();
        with_test!(self, row_leaves_with(row, out));
    }

    #[inline(always)]
    fn tree_leaves_with(
        &self,
        tree: usize,
        rows: &[&[T]],
        out: &mut Vec<u32>,
        test: impl Fn(T, &Node<T>) -> bool + Copy,
    ) {
        let root = self.roots[tree];
        for group in rows.chunks(LANES) {
            let mut inputs = [group[group.len() - 1]; LANES];
            inputs[..group.len()].copy_from_slice(group);
            let at = self.descend([root; LANES], &inputs, test);
            out.extend_from_slice(&at[..group.len()]);
        }
    }

    #[inline(always)]
    fn row_leaves_with(&self, row: &[T], out: &mut Vec<u32>, test: impl Fn(T, &Node<T>) -> bool + Copy) {
        let inputs = [row; LANES];
        for roots in self.roots.chunks(LANES) {
            let mut start = [roots[roots.len() - 1]; LANES];
            start[..roots.len()].copy_from_slice(roots);
            let at = self.descend(start, &inputs, test);
            out.extend_from_slice(&at[..roots.len()]);
        }
    }

    /// Moves every lane down its tree until all stand on a leaf (which they then keep):
    /// no branch per lane, so the eight chains of dependent loads overlap.
    #[inline(always)]
    fn descend(&self, mut at: [u32; LANES], rows: &[&[T]; LANES], test: impl Fn(T, &Node<T>) -> bool) -> [u32; LANES] {
        loop {
            let mut branches = 0u32;
            for j in 0..LANES {
                let node = &self.nodes[at[j] as usize];
                let x = rows[j][(node.feature & FEATURE_MASK) as usize];
                at[j] = if test(x, node) { node.yes } else { node.no };
                branches |= !node.feature & IS_LEAF;
            }
            if branches == 0 {
                return at;
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
