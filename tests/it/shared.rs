//! Three `switchyard serve` processes sharing one PostgreSQL registry and one artifacts
//! directory: a deploy or a rollback committed on any node goes live on all three (the time
//! it took is printed, not asserted), all three assign sticky keys alike, and a report counts
//! the traffic of all three (each records its minutes under its own instance). A node killed
//! with SIGKILL loses its leases to a surviving node once they expire.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use sqlx::Connection;

use crate::support::{NodeProcess, iris_row, on_postgres, test_database, wait_until};

/// Predictions this test sent, on every node.
static SENT: AtomicU64 = AtomicU64::new(0);

/// One prediction on `node` (counted in [`SENT`]), its answer.
async fn predict(http: &reqwest::Client, node: &NodeProcess, key: Option<&str>) -> Value {
    SENT.fetch_add(1, Ordering::Relaxed);
    let mut req = http.post(node.url("/v1/services/iris_classifier/predict")).json(&json!({"features": iris_row()}));
    if let Some(k) = key {
        req = req.header("x-switchyard-key", k);
    }
    req.send().await.expect("send").json().await.expect("json")
}

async fn served_by(http: &reqwest::Client, node: &NodeProcess, key: Option<&str>) -> (String, i64) {
    let v = predict(http, node, key).await;
    (v["generation"].as_str().expect("generation").to_owned(), v["revision"].as_i64().expect("revision"))
}

async fn get(http: &reqwest::Client, url: &str) -> Value {
    http.get(url).send().await.expect("send").json().await.expect("json")
}

/// The requests of every generation in a monitor snapshot or a report at `url`.
async fn requests(http: &reqwest::Client, url: &str) -> u64 {
    let v = get(http, url).await;
    v["generations"].as_array().expect("generations").iter().map(|g| g["requests"].as_u64().expect("requests")).sum()
}

/// Waits until every node serves `revision`; prints how long it took. Normally well under a
/// second (a NOTIFY); 60 s only catches a change that never arrives.
async fn until_everywhere(http: &reqwest::Client, nodes: &[&NodeProcess], revision: i64) -> Duration {
    let what = format!("revision {revision} live on every node");
    wait_until(&what, Duration::from_secs(60), Duration::from_millis(5), async || {
        for node in nodes {
            if served_by(http, node, None).await.1 != revision {
                return false;
            }
        }
        true
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_on_one_node_goes_live_on_all_three() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = test_database(dir.path()).await;
    let args = |instance: &'static str| ["--database-url", url.as_str(), "--instance", instance];
    // The first node seeds the demo; the others join the registry it filled.
    let a = NodeProcess::start_with(dir.path(), true, &args("a"));
    let b = NodeProcess::start_with(dir.path(), false, &args("b"));
    let c = NodeProcess::start_with(dir.path(), false, &args("c"));
    let http = reqwest::Client::new();
    let all = [&a, &b, &c];
    for node in all {
        assert_eq!(served_by(&http, node, None).await, ("v1".to_owned(), 1), "{}", node.url);
    }

    // Deploy on A.
    let r = http
        .put(a.url("/admin/v1/deployments/iris_classifier"))
        .json(&json!({"config": {"mode": "single", "generation": "v2"}, "reason": "shared deploy"}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    let deploy = until_everywhere(&http, &all, 2).await;

    // Roll back on B: live on all three, A and C included.
    let r = http
        .post(b.url("/admin/v1/deployments/iris_classifier/rollback"))
        .json(&json!({"reason": "shared rollback"}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    let rollback = until_everywhere(&http, &all, 3).await;
    for node in all {
        assert_eq!(served_by(&http, node, None).await.0, "v1");
    }
    println!("deploy live everywhere after {deploy:?}, rollback after {rollback:?}");

    // A sticky mapping committed on C: every node gives each key the same generation.
    let r = http
        .put(c.url("/admin/v1/deployments/iris_classifier"))
        .json(&json!({"config": {"mode": "multiple", "sticky": true, "mapping": [
            {"generation": "v2", "proba": 0.5}, {"generation": "v1", "proba": 0.5}]}}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    until_everywhere(&http, &all, 4).await;
    for i in 0..40 {
        let key = format!("customer-{i}");
        let on_a = served_by(&http, &a, Some(&key)).await.0;
        assert_eq!(served_by(&http, &b, Some(&key)).await.0, on_a, "{key}");
        assert_eq!(served_by(&http, &c, Some(&key)).await.0, on_a, "{key}");
    }

    // Feedback on a prediction can go to any node: the request id says what answered.
    let answer = predict(&http, &a, None).await;
    let r = http
        .post(b.url("/v1/services/iris_classifier/feedback"))
        .json(&json!({"request_id": answer["request_id"], "outcome": 1}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap_or_default());
    let ab = get(&http, &c.url("/admin/v1/deployments/iris_classifier/ab")).await;
    let n: u64 = ab["groups"].as_array().expect("groups").iter().map(|g| g["n"].as_u64().expect("n")).sum();
    assert_eq!(n, 1, "{ab}");

    // Every node counts its own traffic; stopped (flushing its minutes), then the report and
    // the monitor of a fourth node, which served nothing, count every request sent.
    for node in all {
        let served = requests(&http, &node.url("/admin/v1/deployments/iris_classifier/monitor")).await;
        assert!(served > 40, "{} served {served}", node.url);
    }
    for node in [a, b, c] {
        let log = node.log();
        assert!(!log.contains("panicked"), "{log}");
        node.stop();
    }
    let d = NodeProcess::start_with(dir.path(), false, &args("d"));
    let sent = SENT.load(Ordering::Relaxed);
    let reported = requests(&http, &d.url("/admin/v1/deployments/iris_classifier/report")).await;
    assert_eq!(reported, sent, "the report counts every node's requests");
    let monitored = requests(&http, &d.url("/admin/v1/deployments/iris_classifier/monitor")).await;
    assert_eq!(monitored, sent, "the monitor counts every node's requests");
    d.kill();
}

/// The leases only one node may hold at a time (src/engine/instance.rs).
const WORK_LEASES: [&str; 2] = ["scenario-scheduler", "canary-controller"];

/// The work leases as stored, expired or not: name → (holder, expires_at in Unix ms).
async fn work_leases(db: &mut sqlx::PgConnection) -> BTreeMap<String, (String, i64)> {
    let rows: Vec<(String, String, i64)> =
        sqlx::query_as("SELECT name, holder, expires_at FROM leases WHERE name = ANY($1)")
            .bind(WORK_LEASES.map(str::to_owned).to_vec())
            .fetch_all(db)
            .await
            .expect("leases");
    rows.into_iter().map(|(name, holder, until)| (name, (holder, until))).collect()
}

/// Succeeded runs of the `tick` scenario per instance that ran them.
async fn ticks(db: &mut sqlx::PgConnection) -> BTreeMap<String, i64> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT instance, count(*) FROM scenario_runs WHERE scenario = 'tick' AND status = 'succeeded' GROUP BY instance",
    )
    .fetch_all(db)
    .await
    .expect("runs");
    rows.into_iter().collect()
}

/// Two nodes on one registry; the one leading the scenario scheduler (and whatever else it
/// leads) is SIGKILLed, so it never gives its leases up. The survivor takes each of them over
/// only after it expired, and its scheduler then fires the cron scenario the dead one fired.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkilled_leaders_leases_pass_to_the_survivor_once_expired() {
    if !on_postgres() {
        println!("skipped: leases are shared only on a PostgreSQL registry (SWITCHYARD_TEST_BACKEND=postgres)");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let url = test_database(dir.path()).await;
    let args = |instance: &'static str| ["--database-url", url.as_str(), "--instance", instance];
    let a = NodeProcess::start_with(dir.path(), true, &args("a"));
    let b = NodeProcess::start_with(dir.path(), false, &args("b"));
    let http = reqwest::Client::new();
    let tick = json!({"name": "tick",
        "steps": [{"kind": "run_command", "name": "work", "command": "echo tick", "timeout_seconds": 30}],
        "triggers": [{"kind": "cron", "schedule": "*/2 * * * * *"}]});
    let r = http.post(a.url("/admin/v1/scenarios")).json(&tick).send().await.expect("send");
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    let mut db = sqlx::PgConnection::connect(&url).await.expect("registry");

    // Both work leases are held and the scheduler's holder fires the scenario (a few
    // seconds: the cron fires every 2 s).
    let bound = Duration::from_secs(120);
    wait_until("leases held and a tick fired", bound, Duration::from_millis(100), async || {
        let leases = work_leases(&mut db).await;
        let fired = ticks(&mut db).await;
        leases.len() == 2 && leases.get(WORK_LEASES[0]).is_some_and(|(h, _)| fired.contains_key(h))
    })
    .await;
    let leases = work_leases(&mut db).await;
    let leader = leases[WORK_LEASES[0]].0.clone();
    let (victim, survivor, survivor_name) = match leader.as_str() {
        "a" => (a, b, "b"),
        "b" => (b, a, "a"),
        other => panic!("the scheduler is held by {other}"),
    };
    assert_eq!(ticks(&mut db).await.get(survivor_name), None, "only the scheduler's holder fires");
    let victims: BTreeMap<String, i64> =
        leases.into_iter().filter(|(_, (h, _))| *h == leader).map(|(name, (_, until))| (name, until)).collect();
    println!("{leader} holds {victims:?}; SIGKILL");
    victim.kill();

    // LEASE_TTL is 15 s: the survivor takes over within it after the last renewal. 120 s
    // only catches a lease that is never taken over.
    wait_until("the survivor holds the killed node's leases", bound, Duration::from_millis(200), async || {
        let now = work_leases(&mut db).await;
        victims.keys().all(|name| now.get(name).is_some_and(|(h, _)| h == survivor_name))
    })
    .await;
    let ttl = switchyard::engine::LEASE_TTL.as_millis() as i64;
    for (name, (holder, until)) in work_leases(&mut db).await.into_iter().filter(|(n, _)| victims.contains_key(n)) {
        assert_eq!(holder, survivor_name);
        // Taken at `until - ttl` or before a renewal: never while the killed node's lease ran.
        assert!(until - ttl > victims[&name], "{name} taken over before {leader}'s lease expired");
    }
    wait_until("the survivor fires the scenario", bound, Duration::from_millis(200), async || {
        ticks(&mut db).await.contains_key(survivor_name)
    })
    .await;
    let fired = ticks(&mut db).await;
    println!("succeeded ticks per instance: {fired:?}");

    // Not through `predict`: the other test here counts every prediction it sends.
    let r = http.get(survivor.url("/admin/v1/deployments/iris_classifier")).send().await.expect("send");
    assert_eq!(r.status(), 200);
    let log = survivor.log();
    assert!(!log.contains("panicked"), "{log}");
    survivor.stop();
}
