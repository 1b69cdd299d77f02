//! From a `TreeEnsembleClassifier` / `TreeEnsembleRegressor` node's attributes to a
//! validated [`Spec`], then to a flattened [`Forest`] in the precision the input needs.
//!
//! Everything onnxruntime would reject at load or at run time (and everything it would
//! evaluate into undefined memory) is refused here with the attribute named, so a model is
//! either run exactly or refused at upload.

use std::collections::HashMap;

use tract_onnx::pb;

use super::{Aggregate, FEATURE_MASK, Forest, IS_LEAF, MAX_FEATURE, MISSING_TRUE, MODE_SHIFT, Mode, Node, Post, Value};
use crate::model::attrs;

/// What the ensemble computes besides its trees.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Task {
    Classifier {
        n_classes: usize,
        /// onnxruntime's "binary case": two classes and every weight for the same class id.
        binary_case: bool,
        /// No weight in the attribute list is negative (decides the binary threshold).
        all_positive: bool,
    },
    Regressor {
        n_targets: usize,
        aggregate: Aggregate,
    },
}

impl Task {
    pub(crate) fn columns(&self) -> usize {
        match self {
            Task::Classifier { n_classes, .. } => *n_classes,
            Task::Regressor { n_targets, .. } => *n_targets,
        }
    }
}

/// The ensemble's attributes, checked, with children resolved to node positions.
#[derive(Debug, Clone)]
pub(crate) struct Spec {
    pub task: Task,
    pub post: Post,
    pub base: Vec<f64>,
    /// Class labels as given (`classlabels_int64s` as decimal strings, or
    /// `classlabels_strings`); empty for regressors.
    pub class_labels: Vec<String>,
    /// Some values came as double tensors (opset-3 `*_as_tensor`): evaluate in f64.
    pub doubles: bool,
    /// Per node: `None` for a leaf.
    mode: Vec<Option<Mode>>,
    feature: Vec<u32>,
    threshold: Vec<f64>,
    missing_true: Vec<bool>,
    yes: Vec<usize>,
    no: Vec<usize>,
    /// Positions of the first node of each run of equal tree ids: onnxruntime's roots.
    roots: Vec<usize>,
    /// Per leaf position: its weights (output id, value) in attribute order.
    leaf_weights: HashMap<usize, Vec<(u32, f64)>>,
}

/// A ready-to-run ensemble: the spec's semantics plus the trees in one precision.
#[derive(Debug, Clone)]
pub(crate) struct Ensemble {
    pub task: Task,
    pub post: Post,
    pub base: Vec<f64>,
    pub trees: Trees,
}

#[derive(Debug, Clone)]
pub(crate) enum Trees {
    F32(Forest<f32>),
    F64(Forest<f64>),
}

impl Spec {
    /// Flattens the trees: f64 when the input is double or attributes were doubles (as
    /// onnxruntime does), f32 otherwise.
    pub(crate) fn build(&self, double_input: bool) -> Result<Ensemble, String> {
        let trees = if double_input || self.doubles {
            Trees::F64(self.forest::<f64>()?)
        } else {
            Trees::F32(self.forest::<f32>()?)
        };
        Ok(Ensemble { task: self.task.clone(), post: self.post, base: self.base.clone(), trees })
    }

    fn forest<T: Value>(&self) -> Result<Forest<T>, String> {
        const UNSEEN: u32 = u32::MAX;
        let n = self.mode.len();
        let mut placed = vec![UNSEEN; n];
        // 0: not reached, 1: on the current path, 2: placed with its subtree.
        let mut state = vec![0u8; n];
        let mut nodes: Vec<Node<T>> = Vec::new();
        // weight ranges per placed node: (start, end) into `weights`
        let mut ranges: Vec<(u32, u32)> = Vec::new();
        let mut weights: Vec<(u32, T)> = Vec::new();
        let mut roots = Vec::with_capacity(self.roots.len());
        let mut stack: Vec<(usize, bool)> = Vec::new();
        for &root in &self.roots {
            stack.push((root, false));
            while let Some((i, expanded)) = stack.pop() {
                if expanded {
                    let (yes, no) = (placed[self.yes[i]], placed[self.no[i]]);
                    let node = &mut nodes[placed[i] as usize];
                    node.yes = yes;
                    node.no = no;
                    state[i] = 2;
                    continue;
                }
                if state[i] == 2 {
                    continue;
                }
                if state[i] == 1 {
                    return Err("a tree contains a cycle (a node is its own descendant)".into());
                }
                let at = u32::try_from(nodes.len()).ok().filter(|&a| a < UNSEEN).ok_or("too many nodes")?;
                placed[i] = at;
                let start = u32::try_from(weights.len()).map_err(|_| "too many leaf weights")?;
                match self.mode[i] {
                    None => {
                        for &(id, w) in self.leaf_weights.get(&i).map(Vec::as_slice).unwrap_or_default() {
                            weights.push((id, T::from_f64(w)));
                        }
                        let end = u32::try_from(weights.len()).map_err(|_| "too many leaf weights")?;
                        nodes.push(Node { threshold: T::default(), feature: IS_LEAF, yes: at, no: at });
                        ranges.push((start, end));
                        state[i] = 2;
                    }
                    Some(mode) => {
                        let flags = ((mode as u32) << MODE_SHIFT) | if self.missing_true[i] { MISSING_TRUE } else { 0 };
                        nodes.push(Node {
                            threshold: T::from_f64(self.threshold[i]),
                            feature: self.feature[i] | flags,
                            yes: at,
                            no: at,
                        });
                        ranges.push((start, start));
                        state[i] = 1;
                        stack.push((i, true));
                        stack.push((self.no[i], false));
                        stack.push((self.yes[i], false));
                    }
                }
            }
            roots.push(placed[root]);
        }
        let first: Vec<(u32, T)> =
            ranges.iter().map(|&(a, b)| if a < b { weights[a as usize] } else { (0, T::default()) }).collect();
        let one_weight = nodes.iter().zip(&ranges).all(|(n, &(a, b))| n.feature & IS_LEAF == 0 || b == a + 1);
        let mut leaf_start = Vec::with_capacity(ranges.len() + 1);
        leaf_start.extend(ranges.iter().map(|r| r.0));
        leaf_start.push(u32::try_from(weights.len()).map_err(|_| "too many leaf weights")?);
        let branches: Vec<&Node<T>> = nodes.iter().filter(|n| n.feature & IS_LEAF == 0).collect();
        let any_missing = branches.iter().any(|n| n.feature & MISSING_TRUE != 0);
        let modes: Vec<Mode> = branches.iter().map(|n| Mode::from_bits((n.feature >> MODE_SHIFT) & 0xF)).collect();
        let uniform = match modes.split_first() {
            Some((first, rest)) if rest.iter().all(|m| m == first) => Some(*first),
            None => Some(Mode::Leq),
            _ => None,
        };
        // a leaf reads feature 0, so every input needs at least one column
        let width = branches.iter().map(|n| (n.feature & FEATURE_MASK) as usize + 1).max().unwrap_or(1);
        Ok(Forest { nodes, roots, leaf_start, first, one_weight, weights, uniform, tracks_missing: any_missing, width })
    }
}

fn parse_mode(s: &str) -> Option<Option<Mode>> {
    Some(match s {
        "BRANCH_LEQ" => Some(Mode::Leq),
        "BRANCH_LT" => Some(Mode::Lt),
        "BRANCH_GTE" => Some(Mode::Gte),
        "BRANCH_GT" => Some(Mode::Gt),
        "BRANCH_EQ" => Some(Mode::Eq),
        "BRANCH_NEQ" => Some(Mode::Neq),
        "LEAF" => None,
        _ => return None,
    })
}

pub(crate) fn parse_post(s: &str) -> Option<Post> {
    Some(match s {
        "NONE" => Post::None,
        "LOGISTIC" => Post::Logistic,
        "SOFTMAX" => Post::Softmax,
        "SOFTMAX_ZERO" => Post::SoftmaxZero,
        "PROBIT" => Post::Probit,
        _ => return None,
    })
}

/// Values of a float attribute that may instead be given as a tensor (`<name>_as_tensor`).
fn values(node: &pb::NodeProto, name: &str, doubles: &mut bool) -> Result<Option<Vec<f64>>, String> {
    let plain = attrs::find(node, name).map(|a| a.floats.iter().map(|&v| f64::from(v)).collect::<Vec<f64>>());
    let tensor = attrs::float_tensor(node, &format!("{name}_as_tensor"))?;
    match (plain, tensor) {
        (Some(p), Some((t, _))) if !p.is_empty() && !t.is_empty() => {
            Err(format!("both '{name}' and '{name}_as_tensor' are set; onnxruntime refuses that"))
        }
        (_, Some((t, double))) if !t.is_empty() => {
            *doubles |= double;
            Ok(Some(t))
        }
        (p, _) => Ok(p),
    }
}

/// Parses and checks a tree ensemble node (`classifier` selects the attribute family).
pub(crate) fn parse(node: &pb::NodeProto, classifier: bool) -> Result<Spec, String> {
    parse_inner(node, classifier).map_err(|e| format!("{}: {e}", attrs::describe(node)))
}

fn parse_inner(node: &pb::NodeProto, classifier: bool) -> Result<Spec, String> {
    let tree = attrs::ints(node, "nodes_treeids");
    let id = attrs::ints(node, "nodes_nodeids");
    let feature = attrs::ints(node, "nodes_featureids");
    let modes = attrs::strings(node, "nodes_modes")?;
    let yes_id = attrs::ints(node, "nodes_truenodeids");
    let no_id = attrs::ints(node, "nodes_falsenodeids");
    let missing = attrs::ints(node, "nodes_missing_value_tracks_true");
    let mut doubles = false;
    let threshold = values(node, "nodes_values", &mut doubles)?.unwrap_or_default();
    let n = tree.len();
    for (name, len) in [
        ("nodes_nodeids", id.len()),
        ("nodes_featureids", feature.len()),
        ("nodes_modes", modes.len()),
        ("nodes_truenodeids", yes_id.len()),
        ("nodes_falsenodeids", no_id.len()),
        ("nodes_values", threshold.len()),
    ] {
        if len != n {
            return Err(format!("'{name}' has {len} entries but 'nodes_treeids' has {n}"));
        }
    }
    if !missing.is_empty() && missing.len() != n {
        return Err(format!("'nodes_missing_value_tracks_true' has {} entries for {n} nodes", missing.len()));
    }
    if n == 0 {
        return Err("the ensemble has no trees".into());
    }
    let mode = modes
        .iter()
        .map(|m| parse_mode(m).ok_or_else(|| format!("unknown node mode '{m}'")))
        .collect::<Result<Vec<_>, _>>()?;

    let mut position = HashMap::with_capacity(n);
    for i in 0..n {
        if position.insert((tree[i], id[i]), i).is_some() {
            return Err(format!("node {} appears twice in tree {}", id[i], tree[i]));
        }
    }
    let (mut yes, mut no, mut features) = (vec![0; n], vec![0; n], vec![0u32; n]);
    for i in 0..n {
        if mode[i].is_none() {
            continue;
        }
        let child =
            |c: i64, side: &str| {
                position.get(&(tree[i], c)).copied().filter(|&p| p != i).ok_or_else(|| {
                    format!("node {} of tree {}: {side} branch points to missing node {c}", id[i], tree[i])
                })
            };
        yes[i] = child(yes_id[i], "true")?;
        no[i] = child(no_id[i], "false")?;
        if !(0..=MAX_FEATURE).contains(&feature[i]) {
            return Err(format!("node {} of tree {} reads feature {}", id[i], tree[i], feature[i]));
        }
        features[i] = feature[i] as u32;
    }
    let roots: Vec<usize> = (0..n).filter(|&i| i == 0 || tree[i] != tree[i - 1]).collect();

    let prefix = if classifier { "class" } else { "target" };
    let w_tree = attrs::ints(node, &format!("{prefix}_treeids"));
    let w_node = attrs::ints(node, &format!("{prefix}_nodeids"));
    let w_id = attrs::ints(node, &format!("{prefix}_ids"));
    let w_value = values(node, &format!("{prefix}_weights"), &mut doubles)?.unwrap_or_default();
    if w_node.len() != w_tree.len() || w_id.len() != w_tree.len() || w_value.len() != w_tree.len() {
        return Err(format!(
            "'{prefix}_treeids', '{prefix}_nodeids', '{prefix}_ids' and '{prefix}_weights' differ in length"
        ));
    }

    let class_labels = if classifier {
        let strings = attrs::strings(node, "classlabels_strings")?;
        if strings.is_empty() {
            attrs::ints(node, "classlabels_int64s").iter().map(i64::to_string).collect()
        } else {
            strings
        }
    } else {
        Vec::new()
    };
    let columns = if classifier {
        class_labels.len()
    } else {
        usize::try_from(attrs::int(node, "n_targets").unwrap_or(0)).unwrap_or(0)
    };
    if classifier && columns < 2 {
        return Err(
            "a classifier needs at least two class labels ('classlabels_int64s' or 'classlabels_strings')".into()
        );
    }
    if columns == 0 {
        return Err("'n_targets' must be at least 1".into());
    }

    // Weights in onnxruntime's order: by (tree, node), then attribute order.
    let mut order: Vec<usize> = (0..w_tree.len()).collect();
    order.sort_by_key(|&k| (w_tree[k], w_node[k]));
    let mut leaf_weights: HashMap<usize, Vec<(u32, f64)>> = HashMap::new();
    for k in order {
        let at = *position
            .get(&(w_tree[k], w_node[k]))
            .ok_or_else(|| format!("a weight refers to missing node {} of tree {}", w_node[k], w_tree[k]))?;
        let out = usize::try_from(w_id[k])
            .ok()
            .filter(|&o| o < columns)
            .ok_or_else(|| format!("a weight targets {prefix} {} but there are {columns}", w_id[k]))?;
        if mode[at].is_none() {
            leaf_weights.entry(at).or_default().push((out as u32, w_value[k]));
        }
        // onnxruntime ignores weights attached to branch nodes (old converters wrote some).
    }
    if let Some(i) = (0..n).find(|&i| mode[i].is_none() && !leaf_weights.contains_key(&i)) {
        return Err(format!("leaf {} of tree {} has no weight", id[i], tree[i]));
    }

    let post_name = attrs::string(node, "post_transform")?.unwrap_or_else(|| "NONE".into());
    let post = parse_post(&post_name).ok_or_else(|| format!("unknown post_transform '{post_name}'"))?;
    let base = values(node, "base_values", &mut doubles)?.unwrap_or_default();

    let task = if classifier {
        let distinct: std::collections::HashSet<i64> = w_id.iter().copied().collect();
        let binary_case = columns == 2 && distinct.len() == 1;
        if columns == 2 && post == Post::Probit {
            return Err("PROBIT on a binary classifier: onnxruntime leaves the second probability undefined".into());
        }
        if columns == 2 && !binary_case && base.len() == 1 {
            return Err(
                "a binary classifier with weights for both classes and one base value: onnxruntime leaves the second probability undefined"
                    .into(),
            );
        }
        if columns > 2 && base.len() > columns {
            return Err(format!("{} base values for {columns} classes", base.len()));
        }
        Task::Classifier { n_classes: columns, binary_case, all_positive: w_value.iter().all(|&w| w >= 0.0) }
    } else {
        let agg = attrs::string(node, "aggregate_function")?.unwrap_or_else(|| "SUM".into());
        let aggregate = match agg.as_str() {
            "SUM" => Aggregate::Sum,
            "AVERAGE" => Aggregate::Average,
            "MIN" => Aggregate::Min,
            "MAX" => Aggregate::Max,
            other => return Err(format!("unknown aggregate_function '{other}'")),
        };
        Task::Regressor { n_targets: columns, aggregate }
    };
    let missing_true = (0..n).map(|i| missing.get(i).is_some_and(|&m| m == 1)).collect();
    Ok(Spec {
        task,
        post,
        base,
        class_labels,
        doubles,
        mode,
        feature: features,
        threshold,
        missing_true,
        yes,
        no,
        roots,
        leaf_weights,
    })
}
