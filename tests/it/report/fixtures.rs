//! Registries with known content for the report tests: real traffic through a seeded node
//! (`seeded_node`), and four hours of history written straight into the registry
//! (`story_node`), on SQLite or, with `SWITCHYARD_TEST_BACKEND=postgres`, PostgreSQL.

use chrono::{Duration, Utc};
use hdrhistogram::Histogram;
use serde_json::{Value, json};

use sqlx::Connection;

use crate::support::{TestNode, iris_row, registry, spawn_node, spawn_node_in};

pub async fn db(node: &TestNode) -> sqlx::AnyConnection {
    registry(node.dir.path()).await
}

pub async fn post(node: &TestNode, path: &str, body: Value) -> Value {
    let r = node.http.post(node.url(path)).json(&body).send().await.expect("send");
    let status = r.status();
    let body: Value = r.json().await.expect("json");
    assert!(status.is_success(), "{path}: {status} {body}");
    body
}

/// Sends `n` predictions; with `feedback`, answers each with an outcome that favours v2.
pub async fn traffic(node: &TestNode, n: usize, feedback: bool) {
    for i in 0..n {
        let r: Value = node.predict("iris", &iris_row()).await.json().await.expect("json");
        if feedback {
            let good = if r["generation"] == "v2" { i % 4 != 0 } else { i % 2 == 0 };
            post(node, "/v1/services/iris/feedback", json!({"request_id": r["request_id"], "outcome": good})).await;
        }
    }
}

/// Known minutes written straight into the registry, three hours back: per generation a
/// fixed number of requests, errors, rejections and latencies.
async fn insert_minutes(node: &TestNode) {
    let mut db = db(node).await;
    let first = Utc::now().timestamp().div_euclid(60) - 180;
    for i in 0..10i64 {
        for (generation, requests, errors, rejected, latency) in [
            ("v1", 120 + i, i % 3, 1, json!([[800, 60], [1200, 50 + i], [9000, 9 - i % 3]])),
            ("v2", 40 + 2 * i, 0, i % 2, json!([[600, 30], [2500, 10 + 2 * i - i % 2]])),
        ] {
            sqlx::query(
                "INSERT INTO traffic_minutes (service, node, generation, role, minute, requests, errors, rejected, compared, agreed, abs_diff_sum, latency_json) \
                 VALUES ('iris', 'local', $1, 'live', $2, $3, $4, $5, 0, 0, 0.0, $6)",
            )
            .bind(generation)
            .bind(first + i)
            .bind(requests)
            .bind(errors)
            .bind(rejected)
            .bind(latency.to_string())
            .execute(&mut db)
            .await
            .expect("insert minute");
        }
    }
    db.close().await.expect("close");
}

/// A deployment with a history worth reporting: a 70/30 mapping with feedback, invalid
/// requests, a rollback, an aborted canary, and older minutes from the registry.
pub async fn seeded_node() -> TestNode {
    let node = spawn_node().await;
    node.with_iris().await;
    insert_minutes(&node).await;
    node.deploy_ok(
        "iris",
        json!({"mode": "multiple", "mapping": [{"generation": "v2", "proba": 0.7}, {"generation": "v1", "proba": 0.3}]}),
    )
    .await;
    traffic(&node, 160, true).await;
    let mut bad = iris_row();
    bad["petal_width"] = json!("wide");
    for _ in 0..5 {
        assert_eq!(node.predict("iris", &bad).await.status(), 400);
    }
    post(&node, "/admin/v1/deployments/iris/rollback", json!({"reason": "v2 under review"})).await;
    traffic(&node, 20, false).await;
    let plan = json!({"version": "v2", "steps": [10, 100], "bake_seconds": 3600,
        "gates": {"max_error_rate": 0.01, "max_p99_ms": 250, "min_requests": 1000}});
    post(&node, "/admin/v1/deployments/iris/canary", plan).await;
    traffic(&node, 30, false).await;
    post(&node, "/admin/v1/deployments/iris/canary/abort", json!({})).await;
    node
}

/// Four hours of a deployment's life written straight into a registry (for the screenshot
/// and the browser test): v1 alone, a canary of v2 at 10% then 30% rolled back when its
/// latency rose, then a sticky 50/50 A/B test with feedback. Revisions, versions, minutes and
/// outcomes carry matching times. Deterministic.
pub async fn story_node() -> TestNode {
    use rand::{Rng, SeedableRng};
    let node = spawn_node().await;
    node.with_iris().await;
    let dir = node.stop().await;
    let mut db = registry(dir.path()).await;
    let now = Utc::now();
    let minute0 = now.timestamp().div_euclid(60);
    let at = |minutes_ago: i64| (now - Duration::minutes(minutes_ago)).timestamp_millis();
    sqlx::query(
        "UPDATE services SET description = 'Iris species from sepal and petal measurements' WHERE name = 'iris'",
    )
    .execute(&mut db)
    .await
    .expect("service");
    for (id, created, metrics, notes) in [
        ("v1", at(3 * 1440), r#"{"accuracy":0.953,"f1_macro":0.951}"#, "logistic regression"),
        ("v2", at(265), r#"{"accuracy":0.967,"f1_macro":0.966}"#, "MLP, 2 hidden layers"),
    ] {
        sqlx::query(
            "UPDATE versions SET created_at = $1, metrics_json = $2, notes = $3 WHERE service = 'iris' AND id = $4",
        )
        .bind(created)
        .bind(metrics)
        .bind(notes)
        .bind(id)
        .execute(&mut db)
        .await
        .expect("version");
    }
    let mapping = |v2: f64, sticky: bool| {
        json!({"mode": "multiple", "sticky": sticky,
            "mapping": [{"generation": "v2", "proba": v2}, {"generation": "v1", "proba": 1.0 - v2}]})
        .to_string()
    };
    let single = json!({"mode": "single", "generation": "v1", "sticky": false}).to_string();
    sqlx::query("UPDATE revisions SET created_at = $1, author = 'alice', reason = 'first release of the iris service' WHERE service = 'iris' AND number = 1")
        .bind(at(250))
        .execute(&mut db)
        .await
        .expect("revision 1");
    let revisions = [
        (
            2,
            mapping(0.1, false),
            "deploy",
            None,
            Some(1),
            "canary-controller",
            "canary 1: v2 step 1/3 (10%) by bob",
            185,
        ),
        (
            3,
            mapping(0.3, false),
            "deploy",
            None,
            Some(1),
            "canary-controller",
            "canary 1: v2 step 2/3 (30%): gates passed (1,236 requests, error rate 0.0008, p99 6.1 ms)",
            125,
        ),
        (
            4,
            single.clone(),
            "rollback",
            Some(1),
            Some(1),
            "canary-controller",
            "canary 1 of v2 rolled back: p99 latency 287.4 ms over the gate's 250 ms",
            70,
        ),
        (
            5,
            mapping(0.5, true),
            "deploy",
            None,
            None,
            "bob",
            "A/B test of v2 after the cache fix, sticky per customer",
            35,
        ),
    ];
    for (number, config, kind, rollback_of, canary, author, reason, ago) in revisions {
        sqlx::query(
            "INSERT INTO revisions (service, node, number, config_json, kind, rollback_of, author, reason, created_at, canary_id) \
             VALUES ('iris', 'local', $1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(number)
        .bind(config)
        .bind(kind)
        .bind(rollback_of)
        .bind(author)
        .bind(reason)
        .bind(at(ago))
        .bind(canary)
        .execute(&mut db)
        .await
        .expect("revision");
    }
    // Minutes: the share of v2 per period, latencies drawn from log-normal distributions.
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let normal = |rng: &mut rand::rngs::StdRng| {
        let (u1, u2): (f64, f64) = (rng.random_range(1e-12..1.0), rng.random());
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    };
    for ago in (1..=250i64).rev() {
        let v2_share = match ago {
            186.. => 0.0,
            126..=185 => 0.1,
            71..=125 => 0.3,
            36..=70 => 0.0,
            _ => 0.5,
        };
        let requests = (110.0 + 35.0 * ((ago as f64) / 38.0).sin() + rng.random_range(-8.0..8.0)) as i64;
        let v2 = (requests as f64 * v2_share + rng.random_range(-0.5..0.5)).round().max(0.0) as i64;
        let slow = (71..=95).contains(&ago);
        for (generation, n) in [("v1", requests - v2), ("v2", v2)] {
            if n == 0 {
                continue;
            }
            let (median_us, sigma, error_p) = match (generation, slow) {
                ("v1", _) => (850.0, 0.35, 0.001),
                (_, false) => (620.0, 0.45, 0.002),
                (_, true) => (9_000.0, 1.3, 0.03),
            };
            let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram");
            let (mut errors, mut rejected) = (0, 0);
            for _ in 0..n {
                let roll: f64 = rng.random();
                if roll < error_p {
                    errors += 1;
                } else if roll < error_p + 0.004 {
                    rejected += 1;
                } else {
                    let us = (median_us * (sigma * normal(&mut rng)).exp()).clamp(1.0, 60e6) as u64;
                    h.record(us).expect("record");
                }
            }
            let latency: Vec<(u64, u64)> =
                h.iter_recorded().map(|v| (v.value_iterated_to(), v.count_at_value())).collect();
            sqlx::query(
                "INSERT INTO traffic_minutes (service, node, generation, role, minute, requests, errors, rejected, compared, agreed, abs_diff_sum, latency_json) \
                 VALUES ('iris', 'local', $1, 'live', $2, $3, $4, $5, 0, 0, 0.0, $6)",
            )
            .bind(generation)
            .bind(minute0 - ago)
            .bind(n)
            .bind(errors)
            .bind(rejected)
            .bind(serde_json::to_string(&latency).expect("json"))
            .execute(&mut db)
            .await
            .expect("minute");
        }
    }
    // Feedback during the A/B test: v2 converts more often.
    for i in 0..820i64 {
        let (generation, outcome) = if i % 2 == 0 { ("v1", (i / 2) % 9 == 0) } else { ("v2", (i / 2) % 7 == 0) };
        sqlx::query(
            "INSERT INTO feedback (service, node, request_id, generation, revision, outcome, \"binary\", created_at) \
             VALUES ('iris', 'local', $1, $2, 5, $3, 1, $4)",
        )
        .bind(format!("story-{i}"))
        .bind(generation)
        .bind(if outcome { 1.0 } else { 0.0 })
        .bind(at(34) + i * 2_000)
        .execute(&mut db)
        .await
        .expect("feedback");
    }
    db.close().await.expect("close");
    spawn_node_in(dir, Default::default(), false).await
}
