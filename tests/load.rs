//! Zero downtime under load: 32 connections keep a real `switchyard serve` process busy while
//! its deployment is rolled forward and back 100 times. No request may fail or be answered by
//! a generation that was not live, and p99 latency while swapping must stay within 2x of the
//! steady state.
//!
//! Its own test binary, so no other test competes for the 2 cores while it measures. Steady
//! and swapping windows alternate every 250 ms, and each request counts in the window it
//! started in: background noise lands in both histograms alike.

#[allow(dead_code)]
#[path = "it/support.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::{Value, json};
use support::{NodeProcess, iris_row};

const CONNECTIONS: usize = 32;
const SWAPS: usize = 100;
const WINDOW: Duration = Duration::from_millis(250);
const SERVICE: &str = "iris_classifier";

#[derive(Default)]
struct Tally {
    ok: AtomicUsize,
    failed: AtomicUsize,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_forward_and_back_100_times_under_32_connections_drops_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = NodeProcess::start(dir.path(), true);
    let url = format!("{}/v1/services/{SERVICE}/predict", node.url);
    let admin = node.url("/admin/v1/deployments/iris_classifier");
    let http = reqwest::Client::builder().pool_max_idle_per_host(CONNECTIONS).build().expect("client");

    let started = Instant::now();
    // Odd windows swap, even windows are steady.
    let swapping = move || (started.elapsed().as_millis() / WINDOW.as_millis()) % 2 == 1;
    let done = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let mut workers = Vec::new();
    for _ in 0..CONNECTIONS {
        let (http, url, done, tally) = (http.clone(), url.clone(), Arc::clone(&done), Arc::clone(&tally));
        workers.push(tokio::spawn(async move {
            let mut steady = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram");
            let mut swap = steady.clone();
            let mut failures = Vec::new();
            let body = json!({"features": iris_row()});
            while !done.load(Ordering::Relaxed) {
                let in_swap = swapping();
                let t = Instant::now();
                let answer = http.post(&url).json(&body).send().await;
                let us = t.elapsed().as_micros() as u64;
                let ok = match answer {
                    Ok(r) if r.status() == 200 => match r.json::<Value>().await {
                        Ok(v) if v["generation"] == "v1" || v["generation"] == "v2" => true,
                        Ok(v) => {
                            failures.push(format!("answered by {}", v["generation"]));
                            false
                        }
                        Err(e) => {
                            failures.push(format!("unreadable answer: {e}"));
                            false
                        }
                    },
                    Ok(r) => {
                        failures.push(format!("status {}", r.status()));
                        false
                    }
                    Err(e) => {
                        failures.push(format!("request failed: {e}"));
                        false
                    }
                };
                if ok {
                    tally.ok.fetch_add(1, Ordering::Relaxed);
                    let _ = if in_swap { swap.record(us) } else { steady.record(us) };
                } else {
                    tally.failed.fetch_add(1, Ordering::Relaxed);
                }
            }
            (steady, swap, failures)
        }));
    }

    // Warm up one window, then swap: deploy v2, roll back to v1, … in swapping windows only.
    tokio::time::sleep(WINDOW).await;
    let mut swaps = 0;
    let mut revisions = Vec::new();
    while swaps < SWAPS {
        if !swapping() {
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        }
        let r = if swaps % 2 == 0 {
            http.put(&admin)
                .json(&json!({"config": {"mode": "single", "generation": "v2"}, "reason": "load"}))
                .send()
                .await
        } else {
            http.post(format!("{admin}/rollback")).json(&json!({"reason": "load"})).send().await
        };
        let r = r.expect("admin request");
        assert_eq!(r.status(), 200, "swap {swaps}");
        let revision: Value = r.json().await.expect("json");
        revisions.push(revision["config"]["generation"].as_str().expect("single").to_owned());
        swaps += 1;
    }
    // End on a full steady window.
    tokio::time::sleep(WINDOW * 2).await;
    done.store(true, Ordering::Relaxed);

    let mut steady = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram");
    let mut swap = steady.clone();
    let mut failures = Vec::new();
    for w in workers {
        let (s, w, f) = w.await.expect("worker");
        steady.add(s).expect("merge");
        swap.add(w).expect("merge");
        failures.extend(f);
    }
    let (ok, failed) = (tally.ok.load(Ordering::Relaxed), tally.failed.load(Ordering::Relaxed));
    let p = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "{ok} requests in {:.1} s; steady: n={} p50={:.2} ms p99={:.2} ms; swapping: n={} p50={:.2} ms p99={:.2} ms",
        started.elapsed().as_secs_f64(),
        steady.len(),
        p(&steady, 0.5),
        p(&steady, 0.99),
        swap.len(),
        p(&swap, 0.5),
        p(&swap, 0.99)
    );
    assert_eq!(failed, 0, "{failed} failed requests, first: {:?}", &failures[..failures.len().min(10)]);
    assert_eq!(revisions.len(), SWAPS);
    assert!(revisions.iter().step_by(2).all(|g| g == "v2") && revisions.iter().skip(1).step_by(2).all(|g| g == "v1"));
    assert!(steady.len() > 1000 && swap.len() > 1000, "too few requests to compare: {} / {}", steady.len(), swap.len());
    assert!(
        p(&swap, 0.99) <= 2.0 * p(&steady, 0.99),
        "p99 while swapping {:.2} ms is over 2x the steady p99 {:.2} ms",
        p(&swap, 0.99),
        p(&steady, 0.99)
    );
    let log = node.log();
    assert!(!log.contains("panicked"), "{log}");
    node.kill();
}
