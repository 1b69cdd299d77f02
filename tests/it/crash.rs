//! Crash safety: a real `switchyard serve` process is killed with SIGKILL at random points
//! during version uploads, deploys and rollbacks, 100 times, and restarted each time. After
//! every restart the registry must be consistent (on SQLite its integrity and foreign key
//! checks; on both backends, by SQL, no row referring to a missing one and every version's
//! artifact present with its hash), the node must serve the last committed revision, and no
//! acknowledged change may be missing.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use sqlx::Connection;
use switchyard::registry::artifacts::sha256_hex;

use crate::support::{NodeProcess, fixture, on_postgres, registry};

/// Kills and restarts, on either backend (a round takes well under a second on both: the
/// kill points are scaled to how long the operations take).
const ROUNDS: usize = 100;
const SERVICE: &str = "crash";
/// A 1.4 MB forest (slow to inspect and load: a wide window to be killed in) and a small
/// linear model, both over the diabetes features.
const MODELS: [&str; 2] = ["diabetes_rf100.onnx", "diabetes_linear.onnx"];

#[derive(Debug, Clone)]
enum Op {
    Upload(&'static str),
    Deploy(String),
    Rollback,
}

impl Op {
    fn kind(&self) -> &'static str {
        match self {
            Op::Upload(model) => model,
            Op::Deploy(_) => "deploy",
            Op::Rollback => "rollback",
        }
    }
}

/// What the node acknowledged (a 2xx answer received before the kill).
#[derive(Default)]
struct Acknowledged {
    versions: BTreeMap<String, String>,
    /// Revision number → its config.
    revisions: BTreeMap<i64, Value>,
}

fn model_bytes(name: &str) -> Vec<u8> {
    if name == "diabetes_rf100.onnx" {
        let path = crate::support::fixtures_dir().join("corpus/models").join(name);
        return std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
    fixture(name)
}

async fn run_op(http: &reqwest::Client, url: &str, op: &Op) -> Option<Value> {
    let r = match op {
        Op::Upload(name) => {
            let form = reqwest::multipart::Form::new()
                .part("model", reqwest::multipart::Part::bytes(model_bytes(name)).file_name(*name))
                .text("meta", "{}");
            http.post(format!("{url}/admin/v1/services/{SERVICE}/versions")).multipart(form).send().await
        }
        Op::Deploy(version) => {
            let body = json!({"config": {"mode": "single", "generation": version}, "reason": "crash test"});
            http.put(format!("{url}/admin/v1/deployments/{SERVICE}")).json(&body).send().await
        }
        Op::Rollback => {
            http.post(format!("{url}/admin/v1/deployments/{SERVICE}/rollback")).json(&json!({})).send().await
        }
    };
    let r = r.ok()?;
    let ok = r.status().is_success();
    let body: Value = r.json().await.ok()?;
    ok.then_some(body)
}

fn record(ack: &mut Acknowledged, op: &Op, body: &Value) {
    match op {
        Op::Upload(_) => {
            let id = body["id"].as_str().expect("id").to_owned();
            ack.versions.insert(id, body["sha256"].as_str().expect("sha").to_owned());
        }
        Op::Deploy(_) | Op::Rollback => {
            ack.revisions.insert(body["number"].as_i64().expect("number"), body["config"].clone());
        }
    }
}

async fn get(http: &reqwest::Client, url: &str) -> Value {
    let r = http.get(url).send().await.expect("send");
    assert!(r.status().is_success(), "{url}: {}", r.status());
    r.json().await.expect("json")
}

/// SQLite's own checks of the file: integrity and foreign keys.
async fn sqlite_integrity(data_dir: &Path, round: usize) {
    let db_url = format!("sqlite://{}?mode=ro", data_dir.join("registry.db").display());
    let mut db = sqlx::SqliteConnection::connect(&db_url).await.expect("open registry read-only");
    let integrity: String = sqlx::query_scalar("PRAGMA integrity_check").fetch_one(&mut db).await.expect("pragma");
    assert_eq!(integrity, "ok", "round {round}");
    let broken: Vec<(String,)> =
        sqlx::query_as("SELECT \"table\" FROM pragma_foreign_key_check").fetch_all(&mut db).await.expect("fk check");
    assert!(broken.is_empty(), "round {round}: foreign keys broken in {broken:?}");
    db.close().await.expect("close");
}

/// The registry's rows, read by SQL on either backend: nothing refers to a missing row, every
/// deployment has revisions numbered 1..n, each deploys a version that exists, and every
/// version's artifact is present with its hash.
async fn registry_consistent(data_dir: &Path, round: usize) {
    let mut db = registry(data_dir).await;
    for (what, sql) in [
        (
            "versions of a missing service",
            "SELECT count(*) FROM versions v WHERE NOT EXISTS (SELECT 1 FROM services s WHERE s.name = v.service)",
        ),
        (
            "deployments of a missing service",
            "SELECT count(*) FROM deployments d WHERE NOT EXISTS (SELECT 1 FROM services s WHERE s.name = d.service)",
        ),
        (
            "revisions of a missing deployment",
            "SELECT count(*) FROM revisions r WHERE NOT EXISTS (SELECT 1 FROM deployments d WHERE d.service = r.service AND d.node = r.node)",
        ),
        (
            "deployments without a revision",
            "SELECT count(*) FROM deployments d WHERE NOT EXISTS (SELECT 1 FROM revisions r WHERE d.service = r.service AND d.node = r.node)",
        ),
    ] {
        let n: i64 = sqlx::query_scalar(sql).fetch_one(&mut db).await.unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(n, 0, "round {round}: {what}");
    }
    let versions: Vec<(String, String)> =
        sqlx::query_as("SELECT id, artifact_sha256 FROM versions WHERE service = $1 ORDER BY seq")
            .bind(SERVICE)
            .fetch_all(&mut db)
            .await
            .expect("versions");
    for (id, sha) in &versions {
        let path = data_dir.join("artifacts/sha256").join(&sha[..2]).join(sha);
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("round {round}: {id} references {sha}: {e}"));
        assert_eq!(sha256_hex(&bytes), *sha, "round {round}: artifact of {id} is half-written or corrupt");
    }
    let revisions: Vec<(i64, String)> =
        sqlx::query_as("SELECT number, config_json FROM revisions WHERE service = $1 ORDER BY number")
            .bind(SERVICE)
            .fetch_all(&mut db)
            .await
            .expect("revisions");
    let numbers: Vec<i64> = revisions.iter().map(|(n, _)| *n).collect();
    assert_eq!(numbers, (1..=numbers.len() as i64).collect::<Vec<_>>(), "round {round}: revision numbers");
    for (n, config) in &revisions {
        let config: Value = serde_json::from_str(config).expect("config json");
        let generation = config["generation"].as_str().expect("single");
        assert!(versions.iter().any(|(id, _)| id == generation), "round {round}: revision {n} deploys {generation}");
    }
    db.close().await.expect("close");
}

/// Every invariant, on a freshly restarted node.
async fn check(node: &NodeProcess, data_dir: &Path, ack: &Acknowledged, round: usize) {
    let http = reqwest::Client::new();
    if !on_postgres() {
        sqlite_integrity(data_dir, round).await;
    }
    registry_consistent(data_dir, round).await;

    let versions = get(&http, &node.url(&format!("/admin/v1/services/{SERVICE}/versions"))).await;
    let versions = versions.as_array().expect("array");
    let listed: BTreeMap<String, String> = versions
        .iter()
        .map(|v| (v["id"].as_str().expect("id").to_owned(), v["sha256"].as_str().expect("sha").to_owned()))
        .collect();
    for (id, sha) in &ack.versions {
        assert_eq!(listed.get(id), Some(sha), "round {round}: acknowledged version {id} lost");
    }

    let revisions = get(&http, &node.url(&format!("/admin/v1/deployments/{SERVICE}/revisions"))).await;
    let revisions = revisions.as_array().expect("array");
    let numbers: Vec<i64> = revisions.iter().map(|r| r["number"].as_i64().expect("n")).collect();
    assert_eq!(numbers, (1..=numbers.len() as i64).collect::<Vec<_>>(), "round {round}: revision numbers");
    for (n, config) in &ack.revisions {
        let found = revisions.iter().find(|r| r["number"] == *n);
        assert_eq!(found.map(|r| &r["config"]), Some(config), "round {round}: acknowledged revision {n} lost");
    }
    let last = revisions.last().expect("a revision");
    let active = get(&http, &node.url(&format!("/admin/v1/deployments/{SERVICE}"))).await;
    assert_eq!((&active["number"], &active["config"]), (&last["number"], &last["config"]), "round {round}");

    // The node serves exactly that revision.
    let generation = last["config"]["generation"].as_str().expect("single");
    let version = versions.iter().find(|v| v["id"] == generation).expect("live version is listed");
    let features: serde_json::Map<String, Value> = version["schema"]["features"]
        .as_array()
        .expect("features")
        .iter()
        .map(|f| (f["name"].as_str().expect("name").to_owned(), json!(0.01)))
        .collect();
    let r = http
        .post(node.url(&format!("/v1/services/{SERVICE}/predict")))
        .json(&json!({"features": features}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200, "round {round}");
    let answer: Value = r.json().await.expect("json");
    assert_eq!((&answer["generation"], &answer["revision"]), (&json!(generation), &last["number"]), "round {round}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_uploads_deploys_and_rollbacks_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let http = reqwest::Client::new();
    let mut ack = Acknowledged::default();
    let mut rng = StdRng::seed_from_u64(0xC4A5_4000);

    let node = NodeProcess::start(dir.path(), false);
    let r = http.post(node.url("/admin/v1/services")).json(&json!({"name": SERVICE})).send().await.expect("send");
    assert_eq!(r.status(), 201);
    for op in [Op::Upload(MODELS[1]), Op::Deploy("v1".into())] {
        let body = run_op(&http, &node.url, &op).await.expect("setup succeeds");
        record(&mut ack, &op, &body);
    }
    node.kill();

    let mut acknowledged_at_kill = 0;
    let mut took: BTreeMap<&'static str, Duration> = BTreeMap::new();
    for round in 0..ROUNDS {
        let node = NodeProcess::start(dir.path(), false);
        check(&node, dir.path(), &ack, round).await;
        let known: Vec<String> = ack.versions.keys().cloned().collect();
        let op = match rng.random_range(0..10) {
            0..4 => Op::Upload(MODELS[rng.random_range(0..2)]),
            4..8 => Op::Deploy(known[rng.random_range(0..known.len())].clone()),
            _ => Op::Rollback,
        };
        // Kill at a random point: before the request lands, while it runs, or after. The
        // point is drawn within twice what the last acknowledged operation of its kind took
        // (120 ms until one was), so that about half the kills land before the answer and
        // half after, on a fast machine or a slow one.
        let span = took.get(op.kind()).map_or(Duration::from_millis(120), |t| *t * 2);
        let delay = span.mul_f64(rng.random::<f64>());
        let url = node.url.clone();
        let request = {
            let (http, op) = (http.clone(), op.clone());
            tokio::spawn(async move {
                let t = Instant::now();
                let body = run_op(&http, &url, &op).await;
                (body, t.elapsed())
            })
        };
        tokio::time::sleep(delay).await;
        node.kill();
        if let (Some(body), elapsed) = request.await.expect("join") {
            record(&mut ack, &op, &body);
            took.insert(op.kind(), elapsed);
            acknowledged_at_kill += 1;
        }
    }
    println!("last acknowledged time per operation: {took:?}");
    let node = NodeProcess::start(dir.path(), false);
    check(&node, dir.path(), &ack, ROUNDS).await;
    node.kill();
    // The kills landed both before and after acknowledgements, not only on one side.
    println!("{acknowledged_at_kill} of {ROUNDS} changes acknowledged before the kill");
    assert!(
        acknowledged_at_kill > 5 && acknowledged_at_kill < ROUNDS - 5,
        "{acknowledged_at_kill} of {ROUNDS} acknowledged"
    );
}
