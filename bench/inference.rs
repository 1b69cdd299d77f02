//! Inference micro-benchmark: single-row predict per fixture model, and the cost of the
//! thread hop (`spawn_blocking`) that a slow model pays. The numbers decide
//! `model::INLINE_BUDGET` (see ARCHITECTURE.md, "Inference").
//!
//! Run: `cargo bench --bench inference` (add `--profile dev` to reuse the test build).

use std::time::{Duration, Instant};

use switchyard::model::LoadedModel;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/models");
    println!("{:<28} {:>12} {:>12} {:>12}", "model", "load+warm", "predict p50", "predict p99");
    for name in ["iris_logreg", "iris_mlp", "breast_cancer_logreg", "breast_cancer_mlp", "diabetes_linear"] {
        let bytes = std::fs::read(dir.join(format!("{name}.onnx"))).expect("fixture");
        let t = Instant::now();
        let model = LoadedModel::load(&bytes).expect("loads");
        let load = t.elapsed();
        let row = vec![0.5; model.schema().features.len()];
        let mut times = Vec::with_capacity(20_000);
        for _ in 0..20_000 {
            let t = Instant::now();
            std::hint::black_box(model.predict(std::hint::black_box(&row)).expect("predicts"));
            times.push(t.elapsed());
        }
        times.sort();
        let p99 = times[times.len() * 99 / 100];
        println!(
            "{name:<28} {:>10.1}ms {:>10.2}µs {:>10.2}µs",
            load.as_secs_f64() * 1e3,
            median(times).as_secs_f64() * 1e6,
            p99.as_secs_f64() * 1e6
        );
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
}
