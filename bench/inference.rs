//! Inference benchmark: for every model of the compatibility corpus (and the original core-op
//! fixtures), load time, the median time of one single-row `predict` and of one 64-row
//! `predict_batch`; plus the cost of the thread hop (`spawn_blocking`) that a slow model pays,
//! which decides `model::INLINE_BUDGET` (see ARCHITECTURE.md, "Inference").
//!
//! Run: `cargo bench --bench inference --profile dev` (reuses the test build; dependencies
//! are optimised, Switchyard's own code is not) or `--release`. Writes
//! `bench/results/switchyard.json`; `bench/peers.py` times onnxruntime and scikit-learn on the
//! same rows and `bench/report.py` turns both into the table in `bench/RESULTS.md`.
//! `SWITCHYARD_BENCH_FILTER=<substring>` limits the models.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchyard::model::LoadedModel;

/// Each measurement runs for about this long, in samples of about `SAMPLE` each.
const BUDGET: Duration = Duration::from_millis(600);
const SAMPLE: Duration = Duration::from_millis(2);
const BATCH: usize = 64;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Time per call of `f`: (best, median) over samples of consecutive calls. The machine is
/// shared with other builds, so the best sample, the least disturbed, is the number
/// compared (as Python's `timeit` advises); `bench/peers.py` measures the same way.
fn time(mut f: impl FnMut()) -> (Duration, Duration) {
    let t = Instant::now();
    f();
    let one = t.elapsed().max(Duration::from_nanos(50));
    let calls = (SAMPLE.as_nanos() / one.as_nanos()).clamp(1, 100_000) as u32;
    let start = Instant::now();
    let mut samples = Vec::new();
    while samples.len() < 5 || start.elapsed() < BUDGET {
        let t = Instant::now();
        for _ in 0..calls {
            f();
        }
        samples.push(t.elapsed() / calls);
    }
    let best = samples.iter().copied().min().unwrap_or_default();
    (best, median(samples))
}

fn rows_of(expected: &Path) -> Vec<Vec<f64>> {
    let v: Value = serde_json::from_slice(&std::fs::read(expected).expect("expected json")).expect("json");
    v["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r.as_array().expect("row").iter().map(|x| x.as_f64().expect("number")).collect())
        .collect()
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let filter = std::env::var("SWITCHYARD_BENCH_FILTER").unwrap_or_default();
    let mut models: Vec<(String, PathBuf, PathBuf)> = Vec::new();
    let mut corpus: Vec<PathBuf> =
        std::fs::read_dir(root.join("corpus/expected")).expect("corpus").map(|e| e.expect("entry").path()).collect();
    corpus.sort();
    for exp in corpus {
        let name = exp.file_stem().and_then(|s| s.to_str()).expect("name").to_owned();
        models.push((name.clone(), root.join(format!("corpus/models/{name}.onnx")), exp));
    }
    for name in ["iris_logreg", "iris_mlp", "breast_cancer_logreg", "breast_cancer_mlp", "diabetes_linear"] {
        models.push((
            format!("core/{name}"),
            root.join(format!("models/{name}.onnx")),
            root.join(format!("expected/{name}.json")),
        ));
    }
    models.retain(|(name, ..)| name.contains(&filter));

    println!("{:<42} {:>10} {:>11} {:>12} {:>11}", "model", "load ms", "1 row µs", "64 rows µs", "µs/row@64");
    let mut results = Vec::new();
    for (name, path, expected) in models {
        let bytes = std::fs::read(&path).expect("model");
        let t = Instant::now();
        let model = LoadedModel::load(&bytes).expect("loads");
        let load = t.elapsed();
        let rows = rows_of(&expected);
        let one = rows[0].clone();
        // the first 64 rows (repeated if a dataset had fewer)
        let batch: Vec<f64> = rows.iter().cycle().take(BATCH).flatten().copied().collect();
        let (single, single_median) = time(|| {
            std::hint::black_box(model.predict(std::hint::black_box(&one)).expect("predicts"));
        });
        let (many, many_median) = time(|| {
            std::hint::black_box(model.predict_batch(std::hint::black_box(&batch)).expect("predicts"));
        });
        println!(
            "{name:<42} {:>10.2} {:>11.2} {:>12.1} {:>11.2}",
            load.as_secs_f64() * 1e3,
            single.as_secs_f64() * 1e6,
            many.as_secs_f64() * 1e6,
            many.as_secs_f64() * 1e6 / BATCH as f64
        );
        results.push(json!({
            "model": name,
            "bytes": bytes.len(),
            "load_ms": load.as_secs_f64() * 1e3,
            "one_row_us": single.as_secs_f64() * 1e6,
            "batch_us": many.as_secs_f64() * 1e6,
            "one_row_median_us": single_median.as_secs_f64() * 1e6,
            "batch_median_us": many_median.as_secs_f64() * 1e6,
            "batch": BATCH,
            "warm_run_us": model.warm_run().as_secs_f64() * 1e6,
        }));
    }

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let hop = rt.block_on(async {
        let mut times = Vec::with_capacity(20_000);
        for _ in 0..20_000 {
            let t = Instant::now();
            tokio::task::spawn_blocking(|| std::hint::black_box(1)).await.expect("join");
            times.push(t.elapsed());
        }
        median(times)
    });
    println!("spawn_blocking round trip p50: {:.2}µs", hop.as_secs_f64() * 1e6);

    let profile = if cfg!(debug_assertions) { "dev (dependencies at opt-level 2)" } else { "release" };
    let out = json!({ "profile": profile, "spawn_blocking_us": hop.as_secs_f64() * 1e6, "models": results });
    if filter.is_empty() {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("bench/results");
        std::fs::create_dir_all(&dir).expect("results dir");
        std::fs::write(dir.join("switchyard.json"), serde_json::to_string_pretty(&out).expect("json") + "\n")
            .expect("write results");
    }
}
