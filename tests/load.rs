//! Zero downtime under load: 32 connections keep a real `switchyard serve` process busy while
//! its deployment is rolled forward and back 100 times. No request may fail, and each answer
//! must come from a generation live at some point during that request (the revisions known
//! committed before it was sent and after it was answered, as in tests/it/switching.rs).
//!
//! Asserts states and counts only; how latency behaves while swapping is measured by
//! bench/swap_latency.py. Each swap waits until 64 more requests were answered (not for a
//! time), so every revision serves requests of its own however slow the machine.

#[allow(dead_code)]
#[path = "it/support.rs"]
mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{LiveRevisions, NodeProcess, iris_row};

const CONNECTIONS: usize = 32;
const SWAPS: usize = 100;
const SERVICE: &str = "iris_classifier";

/// What one request saw: the revision committed before and after it, and its answer.
struct Seen {
    before: i64,
    after: i64,
    answer: Result<(i64, String), String>,
}

async fn predict(http: &reqwest::Client, url: &str, body: &Value) -> Result<(i64, String), String> {
    let r = http.post(url).json(body).send().await.map_err(|e| format!("request failed: {e}"))?;
    if r.status() != 200 {
        return Err(format!("status {}", r.status()));
    }
    let v: Value = r.json().await.map_err(|e| format!("unreadable answer: {e}"))?;
    match (v["revision"].as_i64(), v["generation"].as_str()) {
        (Some(revision), Some(generation)) => Ok((revision, generation.to_owned())),
        _ => Err(format!("answer without revision or generation: {v}")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_forward_and_back_100_times_under_32_connections_drops_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = NodeProcess::start(dir.path(), true);
    let url = node.url(&format!("/v1/services/{SERVICE}/predict"));
    let admin = node.url(&format!("/admin/v1/deployments/{SERVICE}"));
    let http = reqwest::Client::builder().pool_max_idle_per_host(CONNECTIONS).build().expect("client");
    let active: Value = http.get(&admin).send().await.expect("send").json().await.expect("json");
    let live = Arc::new(LiveRevisions::new(&active));
    assert_eq!(support::generations_of(&active["config"]), ["v1"]);

    let started = Instant::now();
    let done = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for _ in 0..CONNECTIONS {
        let (http, url, done, live) = (http.clone(), url.clone(), Arc::clone(&done), Arc::clone(&live));
        workers.push(tokio::spawn(async move {
            let body = json!({"features": iris_row()});
            let mut seen = Vec::new();
            while !done.load(Ordering::Acquire) {
                let before = live.current();
                let answer = predict(&http, &url, &body).await;
                live.answered();
                seen.push(Seen { before, after: live.current(), answer });
            }
            seen
        }));
    }

    // Deploy v2, roll back to v1, … each once the last change has served requests.
    let mut slowest = live.settle(CONNECTIONS, Duration::from_secs(60)).await;
    for swap in 0..SWAPS {
        let r = if swap % 2 == 0 {
            http.put(&admin)
                .json(&json!({"config": {"mode": "single", "generation": "v2"}, "reason": "load"}))
                .send()
                .await
        } else {
            http.post(format!("{admin}/rollback")).json(&json!({"reason": "load"})).send().await
        };
        let r = r.expect("admin request");
        assert_eq!(r.status(), 200, "swap {swap}");
        let revision: Value = r.json().await.expect("json");
        let expected = if swap % 2 == 0 { "v2" } else { "v1" };
        assert_eq!(support::generations_of(&revision["config"]), [expected], "swap {swap}");
        live.committed(&revision);
        // A few milliseconds normally; 60 s only catches a hang.
        slowest = slowest.max(live.settle(CONNECTIONS, Duration::from_secs(60)).await);
    }
    done.store(true, Ordering::Release);

    let mut failures = Vec::new();
    let mut served: BTreeMap<i64, usize> = BTreeMap::new();
    let mut total = 0;
    for w in workers {
        for seen in w.await.expect("worker") {
            total += 1;
            let checked = seen.answer.and_then(|(revision, generation)| {
                *served.entry(revision).or_default() += 1;
                live.check(seen.before, seen.after, revision, &generation)
            });
            if let Err(e) = checked {
                failures.push(e);
            }
        }
    }
    println!(
        "{total} requests in {:.1} s over {} revisions; slowest wait for {} answers after a swap: {slowest:?}",
        started.elapsed().as_secs_f64(),
        served.len(),
        2 * CONNECTIONS
    );
    assert!(
        failures.is_empty(),
        "{} failed requests, first: {:?}",
        failures.len(),
        &failures[..failures.len().min(10)]
    );
    assert_eq!(live.revisions().len(), SWAPS + 1);
    assert_eq!(served.keys().copied().collect::<Vec<_>>(), live.revisions(), "every revision served requests");
    assert!(served.values().all(|n| *n >= CONNECTIONS), "a revision served fewer than {CONNECTIONS}: {served:?}");
    let log = node.log();
    assert!(!log.contains("panicked"), "{log}");
    node.kill();
}
