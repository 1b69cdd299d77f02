//! Traffic capture and replay: seeded sampling within its binomial bound, capture under a
//! stalled registry (predictions all answered, drops counted, nothing twice), dropped and
//! hashed features at rest and in exports, and replays (against itself, against another
//! version, ground truth, bad input, cancellation). On SQLite, and on PostgreSQL with
//! `SWITCHYARD_TEST_BACKEND=postgres`.

use std::collections::HashSet;
use std::time::Duration;

use rand::{Rng, SeedableRng, rngs::StdRng};
use serde_json::{Map, Value, json};
use sha2::Digest;
use sqlx::{Connection, Executor};
use statrs::distribution::{Binomial, DiscreteCDF};
use switchyard::EngineConfig;
use switchyard::engine::Routing;
use switchyard::model::{LoadedModel, Prediction};
use switchyard::node::NodeConfig;

use crate::support::{AtRest, SEED, TestNode, fixture, on_postgres, registry, spawn_with, wait_until};

async fn node_with(queue: usize) -> TestNode {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = EngineConfig {
        router_seed: Some(SEED),
        capture_queue: queue,
        capture_tick: None,
        ..EngineConfig::new(dir.path())
    };
    let node = spawn_with(dir, config, NodeConfig::default()).await;
    node.with_iris().await;
    node
}

async fn set_policy(node: &TestNode, service: &str, policy: Value) -> Value {
    let r = node
        .http
        .put(node.url(&format!("/admin/v1/deployments/{service}/capture")))
        .json(&json!({ "policy": policy }))
        .send()
        .await
        .expect("send");
    let status = r.status();
    let body: Value = r.json().await.expect("json");
    assert_eq!(status, 200, "{body}");
    body
}

async fn stored(node: &TestNode, service: &str) -> i64 {
    node.engine.capture_status(service).await.expect("capture status").stored
}

async fn wait_stored(node: &TestNode, service: &str, n: i64) {
    wait_until("captured rows in the registry", Duration::from_secs(120), Duration::from_millis(20), async || {
        stored(node, service).await >= n
    })
    .await;
    assert_eq!(stored(node, service).await, n);
}

/// Iris-like rows from a seeded source, spread so that two models disagree on some.
fn rows(n: usize, seed: u64) -> Vec<Map<String, Value>> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let mut v = |lo: f64, hi: f64| ((lo + rng.random::<f64>() * (hi - lo)) * 100.0).round() / 100.0;
            json!({"sepal_length": v(4.0, 8.0), "sepal_width": v(2.0, 4.5), "petal_length": v(1.0, 7.0), "petal_width": v(0.1, 2.5)})
                .as_object()
                .cloned()
                .expect("object")
        })
        .collect()
}

/// Sends `rows` as predictions; answers each label (classifiers) and request id.
async fn send(node: &TestNode, service: &str, rows: &[Map<String, Value>]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for row in rows {
        let r = node.predict(service, &Value::Object(row.clone())).await;
        assert_eq!(r.status(), 200);
        let body: Value = r.json().await.expect("json");
        out.push((
            body["prediction"].as_str().unwrap_or_default().to_owned(),
            body["request_id"].as_str().unwrap_or_default().to_owned(),
        ));
    }
    out
}

/// Every captured request id at rest, read out of the blocks' JSON by the database itself
/// (each row an array: the request id is its fifth value).
async fn stored_request_ids(db: &mut sqlx::AnyConnection) -> Vec<String> {
    let sql = if on_postgres() {
        "SELECT r->>4 FROM capture_blocks, json_array_elements((rows_json::json)->'rows') r"
    } else {
        "SELECT json_extract(r.value, '$[4]') FROM capture_blocks, json_each(capture_blocks.rows_json, '$.rows') r"
    };
    sqlx::query_scalar(sql).fetch_all(db).await.expect("request ids")
}

/// Rewrites the stored capture time of `request_id`'s row (and its block's first time), as if
/// it had been captured at `at_ms` (each row an array: time second, request id fifth).
async fn age(db: &mut sqlx::AnyConnection, request_id: &str, at_ms: i64) {
    use sqlx::Row;
    let blocks = sqlx::query("SELECT id, rows_json FROM capture_blocks").fetch_all(&mut *db).await.expect("blocks");
    for block in blocks {
        let mut stored: Value = serde_json::from_str(&block.get::<String, _>("rows_json")).expect("rows");
        let rows = stored["rows"].as_array_mut().expect("rows");
        let Some(row) = rows.iter_mut().find(|r| r[4] == request_id) else { continue };
        row[1] = json!(at_ms);
        let first = rows.iter().filter_map(|r| r[1].as_i64()).min().expect("rows");
        sqlx::query("UPDATE capture_blocks SET rows_json = $1, first_ms = $2 WHERE id = $3")
            .bind(stored.to_string())
            .bind(first)
            .bind(block.get::<i64, _>("id"))
            .execute(&mut *db)
            .await
            .expect("age a row");
        return;
    }
    panic!("{request_id} is not stored");
}

async fn replay_to_end(node: &TestNode, service: &str, body: Value) -> Value {
    let r = node.http.post(node.url(&format!("/admin/v1/deployments/{service}/replays"))).json(&body).send().await;
    let r = r.expect("send");
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap_or_default());
    let started: Value = r.json().await.expect("json");
    let path = format!("/admin/v1/deployments/{service}/replays/{}", started["id"]);
    let mut last = Value::Null;
    wait_until("the replay to end", Duration::from_secs(120), Duration::from_millis(20), async || {
        last = node.get_json(&path).await;
        last["status"] != "running"
    })
    .await;
    last
}

/// Over 20,000 requests at 10 %, the rows captured are within the 99.9 % binomial interval,
/// none dropped, each request once; the draw is seeded, so the count repeats exactly.
#[tokio::test]
async fn sampling_at_ten_percent_is_within_the_binomial_bound() {
    const N: u64 = 20_000;
    let mut counts = Vec::new();
    for _ in 0..2 {
        let node = node_with(N as usize).await;
        set_policy(&node, "iris", json!({"percent": 10})).await;
        let features = rows(1, 1).remove(0);
        for _ in 0..N {
            node.engine.predict("iris", &features, Routing::default()).await.expect("prediction");
        }
        node.engine.close().await.expect("close flushes the capture queue");
        let status = node.engine.capture_status("iris").await.expect("status");
        assert_eq!(status.dropped, 0);
        let binomial = Binomial::new(0.1, N).expect("binomial");
        let (lo, hi) = (binomial.inverse_cdf(0.0005), binomial.inverse_cdf(0.9995));
        let n = status.stored as u64;
        assert!((lo..=hi).contains(&n), "{n} captured, outside [{lo}, {hi}]");
        let mut db = registry(node.dir.path()).await;
        let ids = stored_request_ids(&mut db).await;
        assert_eq!(ids.iter().collect::<HashSet<_>>().len() as i64, status.stored);
        assert_eq!(ids.len() as i64, status.stored);
        counts.push(n);
    }
    assert_eq!(counts[0], counts[1], "seeded sampling repeats");
}

/// With the registry's write lock held (SQLite: BEGIN IMMEDIATE from another connection;
/// PostgreSQL: a transaction holding an exclusive lock on the table), every prediction is
/// answered; rows beyond the queue are dropped and counted (status and /metrics); once the
/// lock goes, every row not dropped is stored exactly once.
#[tokio::test]
async fn capture_under_a_stalled_registry_answers_everything_and_counts_drops() {
    const N: usize = 300;
    let node = node_with(16).await;
    set_policy(&node, "iris", json!({"percent": 100})).await;
    let mut lock = registry(node.dir.path()).await;
    if on_postgres() {
        lock.execute("BEGIN").await.expect("begin");
        lock.execute("LOCK TABLE capture_blocks IN EXCLUSIVE MODE").await.expect("lock");
    } else {
        lock.execute("BEGIN IMMEDIATE").await.expect("take the write lock");
    }
    let answered = send(&node, "iris", &rows(N, 2)).await;
    assert_eq!(answered.len(), N, "every prediction answered");
    let dropped = node.engine.capture_status("iris").await.expect("status").dropped;
    assert!(dropped > 0, "a queue of 16 behind a stalled registry drops rows");
    let metrics = node.http.get(node.url("/metrics")).send().await.expect("send").text().await.expect("text");
    assert!(metrics.contains(&format!("switchyard_capture_dropped_total{{service=\"iris\"}} {dropped}")), "{metrics}");
    lock.execute("ROLLBACK").await.expect("release the lock");
    node.engine.close().await.expect("close flushes");

    let status = node.engine.capture_status("iris").await.expect("status");
    assert_eq!(status.dropped, dropped, "nothing dropped after the lock went");
    assert_eq!(status.stored as u64 + status.dropped, N as u64, "each request stored or dropped");
    let ids = stored_request_ids(&mut lock).await;
    let distinct: HashSet<&String> = ids.iter().collect();
    assert_eq!(distinct.len(), ids.len(), "no request captured twice");
    let answered: HashSet<&String> = answered.iter().map(|(_, id)| id).collect();
    assert!(distinct.is_subset(&answered));
    lock.close().await.expect("close");
}

/// A dropped feature is nowhere at rest, nor in exports; a hashed one's raw value and its
/// plain SHA-256 are nowhere either (the hash is keyed with the registry's secret), and the
/// export follows the model's feature order.
#[tokio::test]
async fn dropped_and_hashed_features_never_reach_storage_or_exports() {
    let node = node_with(1024).await;
    set_policy(
        &node,
        "iris",
        json!({"percent": 100, "drop_features": ["sepal_width"], "hash_features": ["petal_width"]}),
    )
    .await;
    let secret_rows: Vec<Map<String, Value>> = [(3.123457, 1.987653), (3.234561, 2.076541)]
        .iter()
        .map(|(w, pw)| {
            json!({"sepal_length": 5.5, "sepal_width": w, "petal_length": 4.2, "petal_width": pw})
                .as_object()
                .cloned()
                .expect("object")
        })
        .collect();
    send(&node, "iris", &secret_rows).await;
    wait_stored(&node, "iris", 2).await;
    let csv = node.engine.export_capture("iris", Some("7d"), "csv".parse().expect("format")).await.expect("csv");
    let jsonl = node.engine.export_capture("iris", None, "jsonl".parse().expect("format")).await.expect("jsonl");
    assert_eq!(
        csv.lines().next(),
        Some(
            "at_ms,request_id,instance,revision,generation,sepal_length,petal_length,petal_width,prediction,latency_ms,shadow_generation,shadow_prediction,feedback"
        )
    );
    assert_eq!(csv.lines().count(), 3);
    assert_eq!(jsonl.lines().count(), 2);
    node.engine.close().await.expect("close");
    let at_rest = AtRest::read(node.dir.path()).await;
    let rows = node.engine.capture_rows("iris", &Default::default()).await.expect("rows");
    for row in &rows {
        assert!(!row.features.contains_key("sepal_width"), "{row:?}");
        assert!(row.features["petal_width"].as_str().is_some_and(|h| h.starts_with("hmac-sha256:")));
    }
    for (w, pw) in [("3.123457", "1.987653"), ("3.234561", "2.076541")] {
        let plain = hex::encode(sha2::Sha256::digest(pw.as_bytes()));
        for needle in [w, pw, plain.as_str()] {
            assert_eq!(at_rest.places(needle), Vec::<String>::new(), "{needle} is stored");
            assert!(!csv.contains(needle) && !jsonl.contains(needle), "{needle} exported");
        }
    }
    assert!(!csv.contains("sepal_width") && !jsonl.contains("sepal_width"));
}

/// A replay of the live version through itself agrees on every row with identical answers;
/// through another version its agreement is the share of rows where that version's answer
/// (computed here, from the model file) equals the live answer the node gave; feedback gives
/// the ground-truth comparison, with McNemar on the discordant pairs.
#[tokio::test]
async fn replays_agree_with_themselves_and_count_another_version_as_computed() {
    const N: usize = 200;
    let node = node_with(1024).await;
    set_policy(&node, "iris", json!({"percent": 100})).await;
    let rows = rows(N, 3);
    let answered = send(&node, "iris", &rows).await;
    wait_stored(&node, "iris", N as i64).await;

    let same = replay_to_end(&node, "iris", json!({"version": "v1"})).await;
    assert_eq!(same["status"], "done", "{same}");
    assert_eq!(same["figures"]["rows"], N);
    assert_eq!(same["figures"]["agreement"], 1.0);
    assert_eq!(same["figures"]["identical"], N);
    assert_eq!(same["figures"]["disagreements"], json!([]));
    let confusion = &same["figures"]["confusion"];
    let diagonal: u64 = (0..3).map(|i| confusion["counts"][i][i].as_u64().unwrap_or(0)).sum();
    assert_eq!(diagonal, N as u64);

    // Independently: the candidate's labels from its model file.
    let v2 = LoadedModel::load(&fixture("iris_mlp.onnx")).expect("model");
    let names: Vec<String> = v2.schema().features.iter().map(|f| f.name.clone()).collect();
    let labels: Vec<String> = rows
        .iter()
        .map(|r| {
            let row: Vec<f64> = names.iter().map(|n| r[n].as_f64().unwrap_or(f64::NAN)).collect();
            match v2.predict(&row).expect("predict") {
                Prediction::Class { class, .. } => class,
                Prediction::Value(v) => v.to_string(),
            }
        })
        .collect();
    let agree = answered.iter().zip(&labels).filter(|((live, _), cand)| live == *cand).count();
    assert!(agree < N, "the rows must make the versions disagree somewhere");

    // Ground truth on the first 80 rows: the candidate's label is the truth there.
    let classes = ["setosa", "versicolor", "virginica"];
    let mut discordant = 0;
    for ((live, id), cand) in answered.iter().zip(&labels).take(80) {
        let truth = classes.iter().position(|c| c == cand).expect("a class");
        discordant += usize::from(live != cand);
        let r =
            node.http.post(node.url("/v1/services/iris/feedback")).json(&json!({"request_id": id, "outcome": truth}));
        assert_eq!(r.send().await.expect("send").status(), 202);
    }

    // The console's listing: newest first, filtered by feedback, answer and generation.
    let list = |filter: Value| {
        let filter: switchyard::capture::store::RowFilter = serde_json::from_value(filter).expect("filter");
        let engine = node.engine.clone();
        async move { engine.capture_rows("iris", &filter).await.expect("rows") }
    };
    let ids =
        |rows: &[switchyard::capture::store::CaptureRow]| rows.iter().map(|r| r.request_id.clone()).collect::<Vec<_>>();
    let newest: Vec<String> = answered.iter().rev().take(5).map(|(_, id)| id.clone()).collect();
    assert_eq!(ids(&list(json!({"limit": 5})).await), newest);
    let with = list(json!({"has_feedback": true, "limit": 1000})).await;
    let first: Vec<String> = answered.iter().take(80).rev().map(|(_, id)| id.clone()).collect();
    assert_eq!(ids(&with), first);
    assert!(with.iter().all(|r| r.feedback.is_some()));
    let without = list(json!({"has_feedback": false, "limit": 1000})).await;
    assert_eq!(without.len(), N - 80);
    assert!(without.iter().all(|r| r.feedback.is_none()));
    let setosa = answered.iter().filter(|(label, _)| label == "setosa").count();
    assert_eq!(list(json!({"prediction": "setosa", "limit": 1000})).await.len(), setosa);
    assert_eq!(list(json!({"generation": "v1", "limit": 1000})).await.len(), N);
    assert_eq!(list(json!({"generation": "v2"})).await.len(), 0);
    let all = list(json!({"limit": 1000})).await;
    assert!(all.windows(2).all(|w| w[0].id > w[1].id), "newest first");
    let oldest = all.iter().map(|r| r.at_ms).min().expect("rows");
    assert_eq!(list(json!({"until_ms": oldest - 1})).await.len(), 0);
    assert_eq!(list(json!({"since_ms": oldest, "limit": 1000})).await.len(), N);

    let other = replay_to_end(&node, "iris", json!({"version": "v2", "since": "1h"})).await;
    assert_eq!(other["status"], "done", "{other}");
    let figures = &other["figures"];
    assert_eq!(figures["rows"], N);
    assert_eq!(figures["agreement"].as_f64(), Some(agree as f64 / N as f64));
    let off_diagonal: u64 = (0..3)
        .flat_map(|i| (0..3).map(move |j| (i, j)))
        .filter(|(i, j)| i != j)
        .map(|(i, j)| figures["confusion"]["counts"][i][j].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(off_diagonal as usize, N - agree);
    let truth = &figures["ground_truth"];
    assert_eq!(truth["n"], 80);
    assert_eq!(truth["candidate"]["value"], 1.0);
    assert_eq!(truth["live"]["value"].as_f64(), Some((80 - discordant) as f64 / 80.0));
    assert_eq!(truth["test"], "mcnemar");
    let (statistic, p) = switchyard::capture::replay::mcnemar(0, discordant as u64);
    assert_eq!(truth["statistic"].as_f64(), Some(statistic));
    assert_eq!(truth["p_value"].as_f64(), Some(p));
    assert_eq!(figures["disagreements"].as_array().map(Vec::len), Some((N - agree).min(20)));

    // Both saved, newest first, with who and the window.
    let list: Value = node.get_json("/admin/v1/deployments/iris/replays").await;
    assert_eq!(list.as_array().map(Vec::len), Some(2));
    assert_eq!(list[0]["version"], "v2");
    assert_eq!(list[1]["version"], "v1");
    assert!(list[0]["since_ms"].as_i64() > list[1]["since_ms"].as_i64());
    assert!(list[0]["created_by"].is_string());

    // A deployment report of the range lists them.
    let now = node.engine.now();
    let data = node.engine.report_data("iris", now - chrono::Duration::hours(1), now).await.expect("report data");
    assert_eq!(data.replays.iter().map(|r| r.version.as_str()).collect::<Vec<_>>(), ["v1", "v2"]);
    let html = switchyard::report::render_html(&data);
    assert!(html.contains("<section id=\"replays\"><h2>Replays</h2>"), "no replays section");
    assert!(html.contains(&format!("{:.1}%", agree as f64 / N as f64 * 100.0)), "the v2 agreement is in the report");
}

/// A version whose features differ names the missing and extra ones and replays nothing; an
/// empty window says so; a replay cancelled early stops after a batch.
#[tokio::test]
async fn bad_replays_name_the_problem_and_replays_can_be_cancelled() {
    let node = node_with(20_000).await;
    node.create_service("other").await;
    node.upload_ok("other", "iris_logreg.onnx").await;
    node.deploy_ok("other", json!({"mode": "single", "generation": "v1"})).await;
    set_policy(&node, "other", json!({"percent": 100})).await;
    let r =
        node.http.post(node.url("/admin/v1/deployments/other/replays")).json(&json!({"version": "v1"})).send().await;
    let r = r.expect("send");
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.expect("json");
    assert!(
        body["error"]["message"].as_str().unwrap_or_default().contains("no captured requests of 'other'"),
        "{body}"
    );

    set_policy(&node, "iris", json!({"percent": 100, "hash_features": ["petal_width"]})).await;
    let features = rows(1, 4).remove(0);
    for _ in 0..6000 {
        node.engine.predict("iris", &features, Routing::default()).await.expect("prediction");
    }
    wait_stored(&node, "iris", 6000).await;
    // A version of other features: the breast cancer model, uploaded to iris.
    let v3 = node.upload_ok("iris", "breast_cancer_logreg.onnx").await;
    for version in [v3.as_str(), "v1"] {
        let r = node
            .http
            .post(node.url("/admin/v1/deployments/iris/replays"))
            .json(&json!({"version": version}))
            .send()
            .await;
        let r = r.expect("send");
        assert_eq!(r.status(), 400);
        let body: Value = r.json().await.expect("json");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("missing") && message.contains("extra") && message.contains("Nothing was replayed"),
            "{message}"
        );
        if version == "v1" {
            // Hashed by the policy: present, but not replayable.
            assert!(message.contains("missing petal_width (") && message.contains("extra none ("), "{message}");
        } else {
            assert!(message.contains("sepal_length"), "{message}");
        }
    }
    let list: Value = node.get_json("/admin/v1/deployments/iris/replays").await;
    assert_eq!(list, json!([]), "nothing saved");

    // Without the hash, new rows replay; cancelled at once, it stops after a batch.
    set_policy(&node, "iris", json!({"percent": 100})).await;
    let mut db = registry(node.dir.path()).await;
    db.execute("DELETE FROM capture_blocks").await.expect("clear");
    for _ in 0..6000 {
        node.engine.predict("iris", &features, Routing::default()).await.expect("prediction");
    }
    wait_stored(&node, "iris", 6000).await;
    let started = node
        .engine
        .start_replay("iris", &serde_json::from_value(json!({"version": "v2"})).expect("request"), "test")
        .await
        .expect("start");
    node.engine.cancel_replay("iris", started.id).await.expect("cancel");
    let mut last = started.clone();
    wait_until("the replay to stop", Duration::from_secs(120), Duration::from_millis(20), async || {
        last = node.engine.replay("iris", started.id).await.expect("replay");
        last.status != switchyard::capture::replay::ReplayStatus::Running
    })
    .await;
    assert_eq!(last.status, switchyard::capture::replay::ReplayStatus::Cancelled);
    assert!(last.replayed < last.total, "{} of {}", last.replayed, last.total);
    assert_eq!(last.replayed % switchyard::capture::replay::REPLAY_BATCH, 0);
    assert_eq!(last.figures.map(|f| f.rows as i64), Some(last.replayed));
    db.close().await.expect("close");
}

/// Retention deletes rows older than the policy keeps, and the cap keeps the newest rows.
#[tokio::test]
async fn retention_and_the_cap_bound_what_is_kept() {
    let node = node_with(1024).await;
    set_policy(&node, "iris", json!({"percent": 100, "max_rows": 50, "retention_seconds": 3600})).await;
    let sent = send(&node, "iris", &rows(80, 5)).await;
    node.engine.close().await.expect("close flushes");
    assert_eq!(stored(&node, "iris").await, 50);
    let kept: HashSet<String> = node
        .engine
        .capture_rows("iris", &serde_json::from_value(json!({"limit": 1000})).expect("filter"))
        .await
        .expect("rows")
        .into_iter()
        .map(|r| r.request_id)
        .collect();
    let newest: HashSet<String> = sent[30..].iter().map(|(_, id)| id.clone()).collect();
    assert_eq!(kept, newest, "the newest 50 are kept");
    let mut db = registry(node.dir.path()).await;
    let old = node.engine.now_ms() - 2 * 3600 * 1000;
    age(&mut db, &sent[79].1, old).await;
    assert_eq!(node.engine.capture_maintenance().await.expect("retention"), 1);
    assert_eq!(stored(&node, "iris").await, 49);
    db.close().await.expect("close");
}

/// The CLI: set a policy, show it, export in the model's order, replay with a progress line
/// and the figures, and the features check naming what differs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_sets_policies_exports_and_replays() {
    let node = node_with(1024).await;
    let url = node.url.clone();
    let (ok, out, err) =
        crate::cli::cli(&url, &["capture", "policy", "iris", "--percent", "100", "--drop", "sepal_width"]).await;
    assert!(ok, "{err}");
    assert!(out.contains("capture of iris: 100% of requests") && out.contains("dropped: sepal_width"), "{out}");
    send(&node, "iris", &rows(30, 6)).await;
    wait_stored(&node, "iris", 30).await;
    let (ok, out, err) =
        crate::cli::cli(&url, &["capture", "export", "iris", "--since", "7d", "--format", "csv"]).await;
    assert!(ok, "{err}");
    assert_eq!(out.lines().count(), 31, "{out}");
    assert!(
        out.starts_with(
            "at_ms,request_id,instance,revision,generation,sepal_length,petal_length,petal_width,prediction"
        )
    );
    let (ok, out, err) = crate::cli::cli(&url, &["capture", "show", "iris"]).await;
    assert!(ok, "{err}");
    assert!(out.contains("stored: 30 rows; dropped on this node: 0"), "{out}");
    // sepal_width was dropped: no version can replay these rows.
    let (ok, _, err) = crate::cli::cli(&url, &["replay", "iris", "--version", "v2"]).await;
    assert!(!ok);
    assert!(err.contains("missing sepal_width"), "{err}");
    let (ok, _, _) = crate::cli::cli(&url, &["capture", "policy", "iris", "--percent", "100"]).await;
    assert!(ok);
    send(&node, "iris", &rows(30, 7)).await;
    wait_stored(&node, "iris", 60).await;
    let mut db = registry(node.dir.path()).await;
    // Each batch was written (and is its own block) before the policy changed.
    sqlx::query("DELETE FROM capture_blocks WHERE rows_json NOT LIKE '%sepal_width%'")
        .execute(&mut db)
        .await
        .expect("keep the replayable rows");
    db.close().await.expect("close");
    let (ok, out, err) =
        crate::cli::cli(&url, &["replay", "iris", "--version", "v2", "--since", "1h", "--limit", "20"]).await;
    assert!(ok, "{err}");
    assert!(err.contains("replayed 20/20 rows"), "{err}");
    assert!(
        out.contains("rows: 20; agreement with live:") && out.contains("confusion (rows: live, columns: v2)"),
        "{out}"
    );
}

/// A scenario's `export_capture` step writes the captured rows to the run's directory (model
/// order, dropped features left out) and names the file and the row count for later steps.
#[tokio::test]
async fn a_scenario_step_exports_the_capture() {
    let node = node_with(1024).await;
    set_policy(&node, "iris", json!({"percent": 100, "drop_features": ["sepal_width"]})).await;
    send(&node, "iris", &rows(12, 8)).await;
    wait_stored(&node, "iris", 12).await;
    let spec = json!({"name": "retrain_on_traffic", "steps": [
        {"kind": "export_capture", "name": "traffic", "service": "iris", "since": "7d"},
        {"kind": "export_capture", "name": "lines", "service": "iris", "format": "jsonl", "path": "${run_dir}/t.jsonl"},
    ]});
    let r = node.http.post(node.url("/admin/v1/scenarios")).json(&spec).send().await.expect("send");
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    let run: Value = node
        .http
        .post(node.url("/admin/v1/scenarios/retrain_on_traffic/runs"))
        .json(&json!({}))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let path = format!("/admin/v1/scenarios/retrain_on_traffic/runs/{}", run["id"]);
    let mut last = Value::Null;
    wait_until("the run to end", Duration::from_secs(60), Duration::from_millis(20), async || {
        last = node.get_json(&path).await;
        last["status"] != "running"
    })
    .await;
    assert_eq!(last["status"], "succeeded", "{last}");
    assert_eq!(last["variables"]["capture_rows"], "12");
    let file = last["variables"]["capture_file"].as_str().expect("capture_file").to_owned();
    assert!(file.ends_with("t.jsonl"), "{file}");
    assert_eq!(std::fs::read_to_string(&file).expect("jsonl").lines().count(), 12);
    let csv = last["steps"][0]["outputs"]["capture_file"].as_str().expect("csv file").to_owned();
    let text = std::fs::read_to_string(&csv).expect("csv");
    assert_eq!(text.lines().count(), 13);
    assert!(
        text.starts_with("at_ms,request_id,instance,revision,generation,sepal_length,petal_length,petal_width,"),
        "{text}"
    );
    // A window that does not parse is refused when the scenario is saved.
    let bad =
        json!({"name": "bad", "steps": [{"kind": "export_capture", "name": "x", "service": "iris", "since": "soon"}]});
    let r = node.http.post(node.url("/admin/v1/scenarios")).json(&bad).send().await.expect("send");
    assert_eq!(r.status(), 400);
}

/// Where the shadow ran on a captured request, the row holds its answer too (written once the
/// shadow has answered); elsewhere the shadow columns are empty.
#[tokio::test]
async fn captured_rows_hold_the_shadow_answer_where_one_ran() {
    const N: usize = 60;
    let node = node_with(1024).await;
    node.deploy_ok(
        "iris",
        json!({"mode": "single", "generation": "v1", "shadow": {"generation": "v2", "percent": 50}}),
    )
    .await;
    set_policy(&node, "iris", json!({"percent": 100})).await;
    send(&node, "iris", &rows(N, 9)).await;
    wait_stored(&node, "iris", N as i64).await;
    let rows = node
        .engine
        .capture_rows("iris", &serde_json::from_value(json!({"limit": 1000})).expect("filter"))
        .await
        .expect("rows");
    let shadowed: Vec<_> = rows.iter().filter(|r| r.shadow_generation.is_some()).collect();
    assert!(!shadowed.is_empty() && shadowed.len() < N, "{} of {N} mirrored at 50 %", shadowed.len());
    for r in &rows {
        assert_eq!(r.generation, "v1");
        match &r.shadow_generation {
            Some(g) => {
                assert_eq!(g, "v2");
                assert!(r.shadow_label.is_some(), "{r:?}");
            }
            None => assert!(r.shadow_label.is_none() && r.shadow_value.is_none()),
        }
    }
}

/// Two nodes on one PostgreSQL registry: a policy set on one is applied by the other at once
/// (NOTIFY, no retention tick), and each node's captured rows are visible to both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_shared_registry_every_node_captures_and_sees_all_rows() {
    let (dir_a, dir_b) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    let store = tempfile::tempdir().expect("artifact store");
    let url = crate::support::test_database(dir_a.path()).await;
    let config = |dir: &std::path::Path, instance: &str| EngineConfig {
        router_seed: Some(SEED),
        capture_tick: None,
        database_url: Some(url.clone()),
        artifacts: Some(format!("file://{}", store.path().display())),
        instance: instance.to_owned(),
        ..EngineConfig::new(dir)
    };
    let (config_a, config_b) = (config(dir_a.path(), "a"), config(dir_b.path(), "b"));
    let a = spawn_with(dir_a, config_a, NodeConfig::default()).await;
    a.with_iris().await;
    let b = spawn_with(dir_b, config_b, NodeConfig::default()).await;
    set_policy(&a, "iris", json!({"percent": 100})).await;
    let features = rows(1, 10).remove(0);
    wait_until("the policy on node b", Duration::from_secs(60), Duration::from_millis(20), async || {
        b.engine.predict("iris", &features, Routing::default()).await.expect("prediction on b");
        stored(&a, "iris").await > 0
    })
    .await;
    send(&a, "iris", &rows(5, 11)).await;
    a.engine.close().await.expect("close a");
    b.engine.close().await.expect("close b");
    for node in [&a, &b] {
        let rows = node.engine.capture_rows("iris", &Default::default()).await.expect("rows");
        let instances: HashSet<&str> = rows.iter().map(|r| r.instance.as_str()).collect();
        assert_eq!(instances, HashSet::from(["a", "b"]), "every node's rows on every node");
    }
}

/// Open Inference Protocol batches are captured row by row: the features named by the
/// schema, the batch's answer for each row, a request id each.
#[tokio::test]
async fn oip_batches_are_captured_row_by_row() {
    let node = node_with(1024).await;
    set_policy(&node, "iris", json!({"percent": 100})).await;
    let rows = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]];
    let body = json!({"inputs": [{"name": "float_input", "shape": [3, 4], "datatype": "FP32", "data": rows}]});
    let r = node.http.post(node.url("/v2/models/iris/infer")).json(&body).send().await.expect("send");
    assert_eq!(r.status(), 200);
    wait_stored(&node, "iris", 3).await;
    let mut captured = node.engine.capture_rows("iris", &Default::default()).await.expect("rows");
    captured.reverse();
    let ids: HashSet<&str> = captured.iter().map(|r| r.request_id.as_str()).collect();
    assert_eq!(ids.len(), 3);
    for (row, c) in rows.iter().zip(&captured) {
        assert_eq!(c.features["sepal_length"].as_f64(), Some(row[0]));
        assert_eq!(c.features["petal_width"].as_f64(), Some(row[3]));
        assert!(c.label.is_some());
    }
}

/// The writer's batches: one batch of two services' rows (more than one block of `BATCH` rows
/// each, and a short tail) is stored whole, each service's rows in their order with every
/// field as given; the same blocks again store nothing (a retried batch never captures
/// twice); trimming to the cap keeps exactly the newest `cap` rows, across blocks.
#[tokio::test]
async fn a_batch_is_stored_whole_in_order_once_and_trimmed_to_the_cap() {
    use switchyard::capture::{Captured, store};
    let node = node_with(16).await;
    let url = match std::fs::read_to_string(node.dir.path().join("test-database-url")) {
        Ok(url) => url,
        Err(_) => format!("sqlite://{}?mode=rw", node.dir.path().join("registry.db").display()),
    };
    let pool = switchyard::store::open_url(&url).await.expect("registry pool");
    let per_service = switchyard::capture::BATCH + 21;
    let features = rows(2 * per_service, 9);
    let batch: Vec<Captured> = (0..2 * per_service)
        .map(|i| {
            let (service, prediction) = if i.is_multiple_of(2) {
                (
                    "alpha",
                    Prediction::Class {
                        label: (i % 3) as i64,
                        class: format!("class-{}", i % 3),
                        probabilities: vec![("class-0".into(), 0.25), ("class-1".into(), 0.75)],
                    },
                )
            } else {
                ("beta", Prediction::Value(i as f64 / 4.0))
            };
            Captured {
                service: service.into(),
                at_ms: 1_000 + i as i64,
                revision: 3,
                generation: "v1".into(),
                request_id: format!("req-{i}"),
                features: features[i].clone(),
                prediction,
                latency_ms: i as f64 / 8.0,
                shadow: i.is_multiple_of(5).then(|| ("v2".to_owned(), Some(Prediction::Value(-(i as f64))))),
            }
        })
        .collect();
    let blocks = store::encode(batch.clone()).expect("encode");
    assert_eq!(blocks.len(), 4, "two blocks per service");
    let inserted = store::insert(&pool, "node-a", &blocks).await.expect("insert");
    assert_eq!(inserted.get("alpha"), Some(&(per_service as u64)));
    assert_eq!(inserted.get("beta"), Some(&(per_service as u64)));
    for (service, parity) in [("alpha", 0), ("beta", 1)] {
        let stored = store::page(&pool, service, i64::MIN, i64::MAX, 0, 10_000).await.expect("page");
        let expected: Vec<&Captured> = batch.iter().filter(|c| c.service == service).collect();
        assert_eq!(stored.len(), expected.len());
        for (s, c) in stored.iter().zip(&expected) {
            assert_eq!(s.request_id, c.request_id, "{service}: stored in the batch's order");
            assert_eq!(s.instance, "node-a");
            assert_eq!((s.at_ms, s.revision, s.generation.as_str()), (c.at_ms, c.revision, "v1"));
            assert_eq!(s.features, c.features);
            assert_eq!(s.latency_ms, c.latency_ms);
            let i: usize = c.request_id["req-".len()..].parse().expect("index");
            assert_eq!(i % 2, parity);
            match &c.prediction {
                Prediction::Class { class, probabilities, .. } => {
                    assert_eq!(s.label.as_ref(), Some(class));
                    assert_eq!(s.probabilities.as_ref(), Some(probabilities));
                    assert_eq!(s.value, None);
                }
                Prediction::Value(v) => assert_eq!((s.label.as_ref(), s.value), (None, Some(*v))),
            }
            let shadow = i.is_multiple_of(5).then(|| ("v2".to_owned(), -(i as f64)));
            assert_eq!(s.shadow_generation.clone().zip(s.shadow_value), shadow);
        }
        assert!(stored.windows(2).all(|w| w[0].id < w[1].id));
    }
    let again = store::insert(&pool, "node-a", &blocks).await.expect("insert again");
    assert_eq!(again.values().sum::<u64>(), 0, "nothing captured twice");
    assert_eq!(store::count(&pool, "alpha").await.expect("count"), per_service as i64);

    let cap = 50;
    assert_eq!(
        store::trim_to_cap(&pool, "alpha", cap, store::Cut::Exact).await.expect("trim"),
        per_service as u64 - cap as u64
    );
    let kept: Vec<String> = store::page(&pool, "alpha", i64::MIN, i64::MAX, 0, 10_000)
        .await
        .expect("page")
        .into_iter()
        .map(|r| r.request_id)
        .collect();
    let newest: Vec<String> = batch
        .iter()
        .filter(|c| c.service == "alpha")
        .skip(per_service - cap as usize)
        .map(|c| c.request_id.clone())
        .collect();
    assert_eq!(kept, newest, "the newest {cap} are kept");
    assert_eq!(store::count(&pool, "beta").await.expect("count"), per_service as i64, "another service untouched");
    pool.close().await;
}

/// Rows captured before blocks (one table row each) are kept by the migration to blocks: one
/// block each, in their order, every field as it was.
#[tokio::test]
async fn rows_captured_before_blocks_survive_the_migration() {
    use switchyard::capture::store;
    let dir = tempfile::tempdir().expect("tempdir");
    let url = if on_postgres() {
        crate::support::test_database(dir.path()).await
    } else {
        format!("sqlite://{}?mode=rwc", dir.path().join("registry.db").display())
    };
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&url).await.expect("connect");
    let all =
        if on_postgres() { sqlx::migrate!("./migrations/postgres") } else { sqlx::migrate!("./migrations/sqlite") };
    let mut before =
        if on_postgres() { sqlx::migrate!("./migrations/postgres") } else { sqlx::migrate!("./migrations/sqlite") };
    before.migrations =
        before.migrations.iter().filter(|m| m.version < 20261208001001).cloned().collect::<Vec<_>>().into();
    before.run(&pool).await.expect("the schema before blocks");
    let insert = "INSERT INTO capture_rows (service, node, instance, at_ms, revision, generation, request_id, features_json, \
                  label, value, probabilities_json, latency_ms, shadow_generation, shadow_label, shadow_value) \
                  VALUES ($1, 'local', 'a', $2, 3, 'v1', $3, $4, $5, $6, $7, 0.25, $8, $9, $10)";
    sqlx::query(insert)
        .bind("iris")
        .bind(1_000_i64)
        .bind("req-1")
        .bind(r#"{"sepal_length":5.1,"petal_width":"hmac-sha256:ab"}"#)
        .bind(Some("setosa"))
        .bind(None::<f64>)
        .bind(Some(r#"[["setosa",0.75],["versicolor",0.25]]"#))
        .bind(Some("v2"))
        .bind(Some("versicolor"))
        .bind(None::<f64>)
        .execute(&pool)
        .await
        .expect("a classifier's row");
    sqlx::query(insert)
        .bind("iris")
        .bind(2_000_i64)
        .bind("req-2")
        .bind(r#"{"sepal_length":6.0}"#)
        .bind(None::<String>)
        .bind(Some(1.5))
        .bind(None::<String>)
        .bind(None::<String>)
        .bind(None::<String>)
        .bind(None::<f64>)
        .execute(&pool)
        .await
        .expect("a regressor's row");
    all.run(&pool).await.expect("the migration to blocks");
    pool.close().await;

    let pool = switchyard::store::open_url(&url).await.expect("open");
    let rows = store::page(&pool, "iris", i64::MIN, i64::MAX, 0, 10).await.expect("page");
    assert_eq!(rows.iter().map(|r| r.request_id.as_str()).collect::<Vec<_>>(), ["req-1", "req-2"]);
    let (one, two) = (&rows[0], &rows[1]);
    assert_eq!((one.at_ms, one.revision, one.generation.as_str(), one.instance.as_str()), (1_000, 3, "v1", "a"));
    assert_eq!(
        one.features,
        json!({"sepal_length": 5.1, "petal_width": "hmac-sha256:ab"}).as_object().cloned().expect("object")
    );
    assert_eq!(one.label.as_deref(), Some("setosa"));
    assert_eq!(one.probabilities, Some(vec![("setosa".to_owned(), 0.75), ("versicolor".to_owned(), 0.25)]));
    assert_eq!((one.shadow_generation.as_deref(), one.shadow_label.as_deref()), (Some("v2"), Some("versicolor")));
    assert_eq!((one.latency_ms, one.value), (0.25, None));
    assert_eq!((two.label.as_deref(), two.value, two.probabilities.as_ref()), (None, Some(1.5), None));
    assert_eq!(store::count(&pool, "iris").await.expect("count"), 2);
    pool.close().await;
}
