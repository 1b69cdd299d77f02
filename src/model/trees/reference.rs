//! Property test: the flattened evaluator against a straightforward recursive evaluator
//! that reads the node attributes directly, on random ensembles.
//!
//! Weights and base values are multiples of 1/8 and trees are shallow, so every sum is
//! exact in f32 and f64 alike: labels (first maximum) and values must then agree exactly,
//! except for AVERAGE's division.

use std::collections::HashMap;

use proptest::prelude::*;
use tract_onnx::pb;

use super::build::parse;

/// A tiny deterministic generator (SplitMix64) for the shape of the trees.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn grid(&mut self) -> f32 {
        (self.below(33) as f32 - 16.0) / 8.0
    }
}

const MODES: [&str; 6] = ["BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT", "BRANCH_EQ", "BRANCH_NEQ"];

#[derive(Debug, Clone)]
struct Case {
    seed: u64,
    trees: usize,
    depth: usize,
    features: usize,
    /// Classifier with this many classes (≥ 3), or regressor.
    classes: Option<usize>,
    targets: usize,
    aggregate: &'static str,
    mixed_modes: bool,
    missing: bool,
    base: bool,
}

/// One node as listed in the attributes.
#[derive(Debug, Clone)]
struct Raw {
    tree: i64,
    id: i64,
    feature: i64,
    threshold: f32,
    mode: String,
    yes: i64,
    no: i64,
    missing: i64,
}

struct Ensemble {
    nodes: Vec<Raw>,
    /// (tree, node, output id, weight)
    weights: Vec<(i64, i64, i64, f32)>,
    base: Vec<f32>,
}

fn generate(c: &Case) -> Ensemble {
    let mut rng = Rng(c.seed);
    let outputs = c.classes.unwrap_or(c.targets) as u64;
    let mut nodes = Vec::new();
    let mut weights = Vec::new();
    for t in 0..c.trees {
        let tree = (t as i64) * 7 + 3;
        // grow in preorder, then give nodes shuffled ids and shuffle all but the root
        let mut shape: Vec<Option<(usize, usize)>> = Vec::new();
        fn grow(rng: &mut Rng, shape: &mut Vec<Option<(usize, usize)>>, depth: usize, max: usize) -> usize {
            let i = shape.len();
            shape.push(None);
            if depth < max && (depth == 0 || !rng.chance(30)) {
                let yes = grow(rng, shape, depth + 1, max);
                let no = grow(rng, shape, depth + 1, max);
                shape[i] = Some((yes, no));
            }
            i
        }
        grow(&mut rng, &mut shape, 0, c.depth);
        let mut ids: Vec<i64> = (0..shape.len() as i64).collect();
        for i in (1..ids.len()).rev() {
            ids.swap(i, rng.below(i as u64 + 1) as usize);
        }
        let mut listed: Vec<Raw> = Vec::new();
        for (i, s) in shape.iter().enumerate() {
            let node = match s {
                Some((yes, no)) => Raw {
                    tree,
                    id: ids[i],
                    feature: rng.below(c.features as u64) as i64,
                    threshold: rng.grid() / 2.0,
                    mode: if c.mixed_modes { MODES[rng.below(6) as usize] } else { "BRANCH_LEQ" }.into(),
                    yes: ids[*yes],
                    no: ids[*no],
                    missing: i64::from(c.missing && rng.chance(50)),
                },
                None => {
                    let n = 1 + rng.below(outputs.min(3));
                    for _ in 0..n {
                        weights.push((tree, ids[i], rng.below(outputs) as i64, rng.grid()));
                    }
                    Raw { tree, id: ids[i], feature: 0, threshold: 0.0, mode: "LEAF".into(), yes: 0, no: 0, missing: 0 }
                }
            };
            listed.push(node);
        }
        for i in (2..listed.len()).rev() {
            let j = 1 + rng.below(i as u64) as usize;
            listed.swap(i, j);
        }
        nodes.extend(listed);
    }
    for i in (1..weights.len()).rev() {
        weights.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let base = if c.base { (0..outputs).map(|_| rng.grid()).collect() } else { Vec::new() };
    Ensemble { nodes, weights, base }
}

fn node_proto(c: &Case, e: &Ensemble) -> pb::NodeProto {
    let ints =
        |name: &str, v: Vec<i64>| pb::AttributeProto { name: name.into(), r#type: 7, ints: v, ..Default::default() };
    let floats =
        |name: &str, v: Vec<f32>| pb::AttributeProto { name: name.into(), r#type: 6, floats: v, ..Default::default() };
    let strings = |name: &str, v: Vec<String>| pb::AttributeProto {
        name: name.into(),
        r#type: 8,
        strings: v.into_iter().map(String::into_bytes).collect(),
        ..Default::default()
    };
    let string = |name: &str, v: &str| pb::AttributeProto {
        name: name.into(),
        r#type: 3,
        s: v.as_bytes().to_vec(),
        ..Default::default()
    };
    let n = &e.nodes;
    let prefix = if c.classes.is_some() { "class" } else { "target" };
    let mut attribute = vec![
        ints("nodes_treeids", n.iter().map(|r| r.tree).collect()),
        ints("nodes_nodeids", n.iter().map(|r| r.id).collect()),
        ints("nodes_featureids", n.iter().map(|r| r.feature).collect()),
        floats("nodes_values", n.iter().map(|r| r.threshold).collect()),
        strings("nodes_modes", n.iter().map(|r| r.mode.clone()).collect()),
        ints("nodes_truenodeids", n.iter().map(|r| r.yes).collect()),
        ints("nodes_falsenodeids", n.iter().map(|r| r.no).collect()),
        ints("nodes_missing_value_tracks_true", n.iter().map(|r| r.missing).collect()),
        ints(&format!("{prefix}_treeids"), e.weights.iter().map(|w| w.0).collect()),
        ints(&format!("{prefix}_nodeids"), e.weights.iter().map(|w| w.1).collect()),
        ints(&format!("{prefix}_ids"), e.weights.iter().map(|w| w.2).collect()),
        floats(&format!("{prefix}_weights"), e.weights.iter().map(|w| w.3).collect()),
    ];
    if !e.base.is_empty() {
        attribute.push(floats("base_values", e.base.clone()));
    }
    match c.classes {
        Some(k) => attribute.push(ints("classlabels_int64s", (0..k as i64).collect())),
        None => {
            attribute.push(pb::AttributeProto {
                name: "n_targets".into(),
                r#type: 2,
                i: c.targets as i64,
                ..Default::default()
            });
            attribute.push(string("aggregate_function", c.aggregate));
        }
    }
    let op = if c.classes.is_some() { "TreeEnsembleClassifier" } else { "TreeEnsembleRegressor" };
    pb::NodeProto { op_type: op.into(), domain: "ai.onnx.ml".into(), attribute, ..Default::default() }
}

/// The leaf (position in `nodes`) a row reaches from the node at `at`, by recursion.
fn reach(e: &Ensemble, by_id: &HashMap<(i64, i64), usize>, at: usize, row: &[f32]) -> usize {
    let n = &e.nodes[at];
    if n.mode == "LEAF" {
        return at;
    }
    let x = row[n.feature as usize];
    let t = n.threshold;
    let test = match n.mode.as_str() {
        "BRANCH_LEQ" => x <= t,
        "BRANCH_LT" => x < t,
        "BRANCH_GTE" => x >= t,
        "BRANCH_GT" => x > t,
        "BRANCH_EQ" => x == t,
        _ => x != t,
    };
    let next = if test || (n.missing == 1 && x.is_nan()) { n.yes } else { n.no };
    reach(e, by_id, by_id[&(n.tree, next)], row)
}

/// (labels, scores row-major) computed plainly: for each tree (first node of each run of
/// equal tree ids), the reached leaf's weights are summed (or min/max-ed) per output.
fn evaluate(c: &Case, e: &Ensemble, row: &[f32]) -> (Option<i64>, Vec<f64>) {
    let by_id: HashMap<(i64, i64), usize> = e.nodes.iter().enumerate().map(|(i, r)| ((r.tree, r.id), i)).collect();
    let roots: Vec<usize> = (0..e.nodes.len()).filter(|&i| i == 0 || e.nodes[i].tree != e.nodes[i - 1].tree).collect();
    let k = c.classes.unwrap_or(c.targets);
    let mut score = vec![0.0f64; k];
    let mut has = vec![false; k];
    for &root in &roots {
        let leaf = reach(e, &by_id, root, row);
        let leaf = &e.nodes[leaf];
        let mut mine: Vec<(usize, f64)> = e
            .weights
            .iter()
            .enumerate()
            .filter(|(_, w)| w.0 == leaf.tree && w.1 == leaf.id)
            .map(|(i, w)| (i, w.2 as usize))
            .map(|(i, o)| (o, f64::from(e.weights[i].3)))
            .collect();
        if c.classes.is_none() && k == 1 {
            mine.truncate(1); // single target: the first weight only
        }
        for (o, w) in mine {
            // classifiers always sum (their aggregate_function is ignored)
            let aggregate = if c.classes.is_some() { "SUM" } else { c.aggregate };
            score[o] = match (aggregate, has[o]) {
                ("MIN", true) => score[o].min(w),
                ("MAX", true) => score[o].max(w),
                ("MIN" | "MAX", false) => w,
                _ => score[o] + w,
            };
            has[o] = true;
        }
    }
    let base: Vec<f64> = e.base.iter().map(|&b| f64::from(b)).collect();
    if c.classes.is_some() {
        for (j, b) in base.iter().enumerate() {
            score[j] += b;
            has[j] = true;
        }
        let label = (0..k).filter(|&j| has[j]).fold(None, |best: Option<usize>, j| match best {
            Some(b) if score[j] <= score[b] => Some(b),
            _ => Some(j),
        });
        let out = (0..k).map(|j| if has[j] { score[j] } else { 0.0 }).collect();
        return (label.map(|l| l as i64), out);
    }
    let trees = roots.len() as f64;
    if k == 1 {
        let origin = if base.len() == 1 { base[0] } else { 0.0 };
        let v = match c.aggregate {
            "AVERAGE" => score[0] / trees + origin,
            "MIN" | "MAX" if !has[0] => origin,
            _ => score[0] + origin,
        };
        return (None, vec![v]);
    }
    let out = (0..k)
        .map(|j| {
            let b = if base.len() == k { base[j] } else { 0.0 };
            let v = if c.aggregate == "AVERAGE" { score[j] / trees + b } else { score[j] + b };
            if has[j] { v } else { 0.0 }
        })
        .collect();
    (None, out)
}

fn case() -> impl Strategy<Value = Case> {
    (
        any::<u64>(),
        1usize..6,
        0usize..6,
        1usize..5,
        prop_oneof![Just(None), (3usize..6).prop_map(Some)],
        1usize..4,
        prop_oneof![Just("SUM"), Just("AVERAGE"), Just("MIN"), Just("MAX")],
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(seed, trees, depth, features, classes, targets, aggregate, mixed_modes, missing, base)| Case {
            seed,
            trees,
            depth,
            features,
            classes,
            targets,
            aggregate,
            mixed_modes,
            missing,
            base,
        })
}

fn rows(seed: u64, features: usize) -> Vec<f32> {
    let mut rng = Rng(seed ^ 0xA5A5);
    (0..32 * features)
        .map(|_| match rng.below(10) {
            0 => f32::NAN,
            1..=5 => rng.grid() / 2.0,
            _ => (rng.below(2001) as f32 - 1000.0) / 500.0,
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn flattened_trees_match_the_recursive_reference(c in case()) {
        let e = generate(&c);
        let node = node_proto(&c, &e);
        let spec = parse(&node, c.classes.is_some()).map_err(TestCaseError::fail)?;
        let ensemble = spec.build(false).map_err(TestCaseError::fail)?;
        let x = rows(c.seed, c.features);
        let out = ensemble.run_f32(&x, c.features);
        let k = c.classes.unwrap_or(c.targets);
        prop_assert_eq!(out.scores.len(), 32 * k);
        for (r, row) in x.chunks(c.features).enumerate() {
            let (label, want) = evaluate(&c, &e, row);
            if let Some(l) = label {
                prop_assert_eq!(out.labels[r], l, "row {} {:?}", r, row);
            }
            for (j, w) in want.iter().enumerate() {
                let got = f64::from(out.scores[r * k + j]);
                prop_assert!((got - w).abs() <= 1e-6 * w.abs().max(1.0), "row {} output {}: {} vs {}", r, j, got, w);
            }
        }
    }
}

#[test]
fn cycles_and_dangling_children_are_refused() {
    let mut c = Case {
        seed: 1,
        trees: 1,
        depth: 3,
        features: 2,
        classes: None,
        targets: 1,
        aggregate: "SUM",
        mixed_modes: false,
        missing: false,
        base: false,
    };
    let (mut e, branch) = loop {
        let e = generate(&c);
        let root = e.nodes[0].id;
        if let Some(b) = e.nodes.iter().position(|n| n.mode != "LEAF" && n.id != root) {
            break (e, b);
        }
        c.seed += 1;
    };
    let root = e.nodes[0].id;
    e.nodes[branch].yes = root;
    let err = parse(&node_proto(&c, &e), false).and_then(|s| s.build(false)).expect_err("cycle");
    assert!(err.contains("cycle"), "{err}");
    e.nodes[branch].yes = 999;
    let err = parse(&node_proto(&c, &e), false).expect_err("dangling");
    assert!(err.contains("missing node 999"), "{err}");
}
