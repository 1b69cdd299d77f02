//! Aggregation of leaf weights and the final scores and labels, as onnxruntime computes
//! them (its `TreeAggregator*` classes and `write_scores`), including the behaviours the
//! ONNX-ML specification leaves open:
//!
//! - a score no leaf contributed to reads as 0, even after base values were added to it
//!   (except for classifiers with more than two classes, where a base value counts);
//! - a single-target regressor uses the first weight of each leaf and ignores every
//!   post_transform but PROBIT;
//! - a binary classifier whose weights all go to one class keeps one score column and
//!   derives the other (`1 - p` for non-negative weights, else `-s` or `logistic(-s)`),
//!   with the label decided by `p > 0.5` or `s > 0`;
//! - post transforms are computed in f32 whatever the threshold type.
//!
//! `fixtures/semantics/` holds onnxruntime's outputs for each of these cases.

use super::build::{Ensemble, Task, Trees};
use super::{Aggregate, Forest, LANES, Output, Post, Value};

impl Ensemble {
    /// Evaluates `rows` (row-major, `stride` values per row). The caller checked that
    /// `stride` covers every feature the trees read.
    pub(crate) fn run_f32(&self, rows: &[f32], stride: usize) -> Output {
        match &self.trees {
            Trees::F32(f) => run(f, &self.task, self.post, &self.base, rows, stride),
            Trees::F64(f) => {
                let wide: Vec<f64> = rows.iter().map(|&v| f64::from(v)).collect();
                run(f, &self.task, self.post, &self.base, &wide, stride)
            }
        }
    }

    pub(crate) fn run_f64(&self, rows: &[f64], stride: usize) -> Output {
        match &self.trees {
            Trees::F64(f) => run(f, &self.task, self.post, &self.base, rows, stride),
            Trees::F32(f) => {
                let narrow: Vec<f32> = rows.iter().map(|&v| v as f32).collect();
                run(f, &self.task, self.post, &self.base, &narrow, stride)
            }
        }
    }

    /// 1 + the largest feature index the trees read.
    pub(crate) fn width(&self) -> usize {
        match &self.trees {
            Trees::F32(f) => f.width(),
            Trees::F64(f) => f.width(),
        }
    }
}

/// Rows are evaluated in chunks so that the per-row accumulators stay small and hot.
const CHUNK: usize = 128;

fn run<T: Value>(forest: &Forest<T>, task: &Task, post: Post, base: &[f64], rows: &[T], stride: usize) -> Output {
    let n = rows.len().checked_div(stride).unwrap_or(0);
    let columns = task.columns();
    let mut out = Output { labels: Vec::new(), scores: Vec::with_capacity(n * columns), columns };
    let base: Vec<T> = base.iter().map(|&b| T::from_f64(b)).collect();
    let mut scores = vec![T::default(); CHUNK * columns];
    let mut has = vec![false; CHUNK * columns];
    let mut leaves = Vec::with_capacity(CHUNK.max(forest.n_trees()));
    for chunk in rows.chunks(CHUNK * stride.max(1)) {
        let m = chunk.len() / stride.max(1);
        scores[..m * columns].fill(T::default());
        has[..m * columns].fill(false);
        let (scores, has) = (&mut scores[..m * columns], &mut has[..m * columns]);
        match task {
            Task::Regressor { n_targets: 1, aggregate } => {
                // onnxruntime's single-target path reads only each leaf's first weight
                let one = |s: &mut T, h: &mut bool, v: T| match aggregate {
                    Aggregate::Sum | Aggregate::Average => *s = *s + v,
                    Aggregate::Min => {
                        if !*h || v < *s {
                            *s = v;
                        }
                        *h = true;
                    }
                    Aggregate::Max => {
                        if !*h || v > *s {
                            *s = v;
                        }
                        *h = true;
                    }
                };
                if matches!(aggregate, Aggregate::Sum | Aggregate::Average) {
                    for_each_leaf(forest, chunk, stride, &mut leaves, |r, leaf| {
                        scores[r] = scores[r] + forest.first_of(leaf).1;
                    });
                } else {
                    for_each_leaf(forest, chunk, stride, &mut leaves, |r, leaf| {
                        one(&mut scores[r], &mut has[r], forest.first_of(leaf).1);
                    });
                }
                for r in 0..m {
                    out.scores.push(finish_one(forest.n_trees(), *aggregate, post, &base, scores[r], has[r]));
                }
            }
            Task::Regressor { aggregate, .. } => {
                accumulate(forest, chunk, stride, columns, *aggregate, scores, has, &mut leaves);
                for r in 0..m {
                    let (s, h) = (&mut scores[r * columns..(r + 1) * columns], &has[r * columns..(r + 1) * columns]);
                    finish_targets(forest.n_trees(), *aggregate, &base, s);
                    write_scores(post, s, h, &mut out.scores);
                }
            }
            Task::Classifier { n_classes, binary_case, all_positive } => {
                accumulate(forest, chunk, stride, columns, Aggregate::Sum, scores, has, &mut leaves);
                for r in 0..m {
                    let (s, h) =
                        (&mut scores[r * columns..(r + 1) * columns], &mut has[r * columns..(r + 1) * columns]);
                    let label = if *n_classes > 2 {
                        finish_multiclass(&base, s, h, post, &mut out.scores)
                    } else {
                        finish_binary(&base, s, h, *binary_case, *all_positive, post, &mut out.scores)
                    };
                    out.labels.push(label);
                }
            }
        }
    }
    out
}

/// Calls `visit(row, leaf)` for every row and tree, each row's trees in order: tree by
/// tree over the rows when there are enough of them, else row by row.
#[inline(always)]
fn for_each_leaf<T: Value>(
    forest: &Forest<T>,
    rows: &[T],
    stride: usize,
    leaves: &mut Vec<u32>,
    mut visit: impl FnMut(usize, u32),
) {
    let m = rows.len() / stride.max(1);
    if m >= LANES {
        let rows: Vec<&[T]> = rows.chunks_exact(stride.max(1)).collect();
        for t in 0..forest.n_trees() {
            forest.tree_leaves(t, &rows, leaves);
            for (r, &leaf) in leaves.iter().enumerate() {
                visit(r, leaf);
            }
        }
    } else {
        for (r, row) in rows.chunks_exact(stride.max(1)).enumerate() {
            forest.row_leaves(row, leaves);
            for &leaf in leaves.iter() {
                visit(r, leaf);
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn accumulate<T: Value>(
    forest: &Forest<T>,
    rows: &[T],
    stride: usize,
    columns: usize,
    aggregate: Aggregate,
    scores: &mut [T],
    has: &mut [bool],
    leaves: &mut Vec<u32>,
) {
    if forest.one_weight_per_leaf() && matches!(aggregate, Aggregate::Sum | Aggregate::Average) {
        // binary classifiers and single-class ensembles: one weight per leaf
        for_each_leaf(forest, rows, stride, leaves, |r, leaf| {
            let (id, v) = forest.first_of(leaf);
            let k = r * columns + id as usize;
            scores[k] = scores[k] + v;
            has[k] = true;
        });
        return;
    }
    for_each_leaf(forest, rows, stride, leaves, |r, leaf| {
        for &(id, v) in forest.weights_of(leaf) {
            let k = r * columns + id as usize;
            match aggregate {
                Aggregate::Sum | Aggregate::Average => scores[k] = scores[k] + v,
                Aggregate::Min => {
                    if !has[k] || v < scores[k] {
                        scores[k] = v;
                    }
                }
                Aggregate::Max => {
                    if !has[k] || v > scores[k] {
                        scores[k] = v;
                    }
                }
            }
            has[k] = true;
        }
    });
}

fn finish_one<T: Value>(n_trees: usize, aggregate: Aggregate, post: Post, base: &[T], s: T, has: bool) -> f32 {
    let origin = if base.len() == 1 { base[0] } else { T::default() };
    let v = match aggregate {
        Aggregate::Sum => s + origin,
        Aggregate::Average => s / T::from_usize(n_trees) + origin,
        Aggregate::Min | Aggregate::Max if has => s + origin,
        Aggregate::Min | Aggregate::Max => origin,
    };
    if post == Post::Probit { probit(v.to_f32()) } else { v.to_f32() }
}

fn finish_targets<T: Value>(n_trees: usize, aggregate: Aggregate, base: &[T], s: &mut [T]) {
    let use_base = base.len() == s.len();
    for (j, v) in s.iter_mut().enumerate() {
        let b = if use_base { base[j] } else { T::default() };
        *v = match aggregate {
            Aggregate::Sum => *v + b,
            Aggregate::Average => *v / T::from_usize(n_trees) + b,
            // the unscored case is decided when writing: such a score reads as 0 anyway
            Aggregate::Min | Aggregate::Max => b + *v,
        };
    }
}

/// Label: the first class with the highest score among those that have one.
fn finish_multiclass<T: Value>(base: &[T], s: &mut [T], h: &mut [bool], post: Post, out: &mut Vec<f32>) -> i64 {
    for (k, &b) in base.iter().enumerate() {
        if h[k] {
            s[k] = s[k] + b;
        } else {
            s[k] = b;
            h[k] = true;
        }
    }
    let mut best: Option<usize> = None;
    for k in 0..s.len() {
        if h[k] && best.is_none_or(|b| s[k] > s[b]) {
            best = Some(k);
        }
    }
    write_scores(post, s, h, out);
    best.map_or(0, |b| b as i64)
}

fn finish_binary<T: Value>(
    base: &[T],
    s: &mut [T],
    h: &mut [bool],
    binary_case: bool,
    all_positive: bool,
    post: Post,
    out: &mut Vec<f32>,
) -> i64 {
    let mut second = -1; // onnxruntime's `add_second_class`
    let mut two_columns = true;
    match base.len() {
        2 if h[1] => {
            // onnxruntime: "base_value_[0] is not used"; class 1 becomes base + class-0 sum
            s[1] = base[1] + s[0];
            s[0] = -s[1];
        }
        2 => {
            s[1] = s[1] + base[1];
            s[0] = s[0] + base[0];
        }
        1 => {
            s[0] = s[0] + base[0];
            two_columns = h[1];
        }
        0 => {
            second = 3;
            two_columns = h[1];
        }
        _ => {}
    }
    let positive = if two_columns && h[1] {
        s[1]
    } else if h[0] {
        s[0]
    } else {
        T::default()
    };
    let label = if binary_case {
        let (wins, code) =
            if all_positive { (positive > T::from_f64(0.5), (0, 1)) } else { (positive > T::default(), (2, 3)) };
        second = if wins { code.0 } else { code.1 };
        i64::from(wins)
    } else {
        i64::from(positive > T::default())
    };
    if two_columns {
        write_scores(post, s, h, out);
        return label;
    }
    let v = if h[0] { s[0] } else { T::default() };
    match second {
        0 | 1 => out.extend([(T::one() - v).to_f32(), v.to_f32()]),
        2 | 3 if post == Post::Logistic => out.extend([logistic((-v).to_f32()), logistic(v.to_f32())]),
        2 | 3 => out.extend([(-v).to_f32(), v.to_f32()]),
        // Refused at load (binary classifier with weights for both classes and one base value).
        _ => out.extend([v.to_f32(), 0.0]),
    }
    label
}

/// Writes one row's scores after the post transform; an unscored entry reads as 0.
fn write_scores<T: Value>(post: Post, s: &[T], h: &[bool], out: &mut Vec<f32>) {
    let start = out.len();
    out.extend(s.iter().zip(h).map(|(&v, &has)| if has { v.to_f32() } else { 0.0 }));
    let row = &mut out[start..];
    match post {
        Post::None => {}
        Post::Logistic => row.iter_mut().for_each(|v| *v = logistic(*v)),
        Post::Probit => row.iter_mut().for_each(|v| *v = probit(*v)),
        Post::Softmax => softmax(row),
        Post::SoftmaxZero => softmax_zero(row),
    }
}

/// onnxruntime's `ComputeLogistic`: symmetric, so large negative scores do not underflow
/// differently from positive ones.
pub(crate) fn logistic(x: f32) -> f32 {
    let v = 1.0 / (1.0 + exp(-x.abs()));
    if x < 0.0 { 1.0 - v } else { v }
}

/// onnxruntime's `ComputeProbit`: sqrt(2) * an approximation of erf⁻¹(2x - 1).
pub(crate) fn probit(x: f32) -> f32 {
    std::f32::consts::SQRT_2 * erf_inv(2.0 * x - 1.0)
}

fn erf_inv(x: f32) -> f32 {
    let sgn = if x < 0.0 { -1.0f32 } else { 1.0 };
    let x = (1.0 - x) * (1.0 + x);
    let log = x.ln();
    let v = 2.0 / (std::f32::consts::PI * 0.147f32) + 0.5 * log;
    let v2 = 1.0 / 0.147f32 * log;
    let v3 = -v + (v * v - v2).sqrt();
    sgn * v3.sqrt()
}

/// `e^x` from the `libm` crate (compiled with the rest of this crate) rather than the C
/// library's `expf`: glibc dispatches to a VEX-encoded variant, and called from this crate's
/// SSE code right after tract's AVX kernels left the upper vector registers dirty it paid a
/// state transition per call, about 100 ns on the benchmark machine (a third of a 64-row
/// inference's CPU, bench/RESULTS.md). FreeBSD's `expf`, under an ulp of error like glibc's.
fn exp(x: f32) -> f32 {
    libm::expf(x)
}

pub(crate) fn softmax(row: &mut [f32]) {
    let max = row.iter().fold(-f32::MAX, |m, &v| if v > m { v } else { m });
    let mut sum = 0.0f32;
    for v in row.iter_mut() {
        *v = exp(*v - max);
        sum += *v;
    }
    row.iter_mut().for_each(|v| *v /= sum);
}

/// Softmax that leaves (near-)zero scores out of the sum, as onnxruntime's SOFTMAX_ZERO.
fn softmax_zero(row: &mut [f32]) {
    let max = row.iter().fold(-f32::MAX, |m, &v| if v > m { v } else { m });
    let exp_neg_max = exp(-max);
    let mut sum = 0.0f32;
    for v in row.iter_mut() {
        if *v > 0.000_000_1 || *v < -0.000_000_1 {
            *v = exp(*v - max);
            sum += *v;
        } else {
            *v *= exp_neg_max;
        }
    }
    row.iter_mut().for_each(|v| *v /= sum);
}
