//! Importing versions from a real MLflow tracking server (scripts/mlflow.sh,
//! `SWITCHYARD_TEST_MLFLOW`), into which each test logs real models with
//! tests/mlflow/models.py (scikit-learn → skl2onnx → `mlflow.onnx.log_model`, run by
//! `SWITCHYARD_TEST_MLFLOW_PYTHON`). Without the server these tests skip, except in CI
//! (`CI=true`), where they fail. Model names carry a random suffix: the server is shared.

use std::process::Command;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rand::Rng;
use serde_json::{Value, json};
use switchyard::clock::{Clock, ManualClock};
use switchyard::mlflow::{Connection, Credentials};
use switchyard::node::NodeConfig;
use switchyard::scenario::{RunStatus, TriggerKind};
use switchyard::{Engine, EngineConfig};

use crate::support::{NodeProcess, SEED, TestNode, bounded, fixtures_dir, run_ended, spawn_with};

struct Mlflow {
    uri: String,
    python: String,
    /// Environment for models.py (the auth server's admin credentials).
    env: Vec<(&'static str, String)>,
}

impl Mlflow {
    fn shared() -> Option<Mlflow> {
        match (std::env::var("SWITCHYARD_TEST_MLFLOW"), std::env::var("SWITCHYARD_TEST_MLFLOW_PYTHON")) {
            (Ok(uri), Ok(python)) => Some(Mlflow { uri, python, env: Vec::new() }),
            _ if std::env::var("CI").as_deref() == Ok("true") => {
                panic!(
                    "SWITCHYARD_TEST_MLFLOW(_PYTHON) is not set: CI must run the MLflow tests (scripts/test.sh starts the server)"
                )
            }
            _ => {
                eprintln!(
                    "skipped: set SWITCHYARD_TEST_MLFLOW=http://127.0.0.1:5056 and SWITCHYARD_TEST_MLFLOW_PYTHON (scripts/mlflow.sh starts one)"
                );
                None
            }
        }
    }

    /// The server running MLflow's basic-auth app (`SWITCHYARD_TEST_MLFLOW_AUTH`), with the
    /// password of its `admin` (`SWITCHYARD_TEST_MLFLOW_AUTH_PASSWORD`); models.py logs
    /// into it as that admin.
    fn with_auth() -> Option<(Mlflow, String)> {
        let shared = Mlflow::shared()?;
        let (uri, password) =
            match (std::env::var("SWITCHYARD_TEST_MLFLOW_AUTH"), std::env::var("SWITCHYARD_TEST_MLFLOW_AUTH_PASSWORD"))
            {
                (Ok(uri), Ok(password)) => (uri, password),
                _ if std::env::var("CI").as_deref() == Ok("true") => {
                    panic!("SWITCHYARD_TEST_MLFLOW_AUTH(_PASSWORD) is not set: scripts/test.sh starts that server")
                }
                _ => {
                    eprintln!("skipped: set SWITCHYARD_TEST_MLFLOW_AUTH and SWITCHYARD_TEST_MLFLOW_AUTH_PASSWORD");
                    return None;
                }
            };
        let env =
            vec![("MLFLOW_TRACKING_USERNAME", "admin".to_owned()), ("MLFLOW_TRACKING_PASSWORD", password.clone())];
        Some((Mlflow { uri, python: shared.python, env }, password))
    }

    /// Runs tests/mlflow/models.py with `args`; its last line of output is JSON.
    fn models(&self, args: &[&str]) -> Value {
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mlflow/models.py");
        let out = Command::new(&self.python)
            .arg(script)
            .arg(&self.uri)
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .output()
            .expect("run models.py");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "models.py {args:?}: {}\n{stdout}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_str(stdout.lines().last().unwrap_or_default())
            .unwrap_or_else(|e| panic!("models.py said {stdout}: {e}"))
    }

    fn connection(&self) -> Connection {
        Connection { uri: self.uri.clone(), credentials: Credentials::None }
    }
}

/// A registered-model name no other test (or earlier run) uses.
fn unique(prefix: &str) -> String {
    format!("{prefix}_{:08x}", rand::rng().random::<u32>())
}

async fn node_with(mlflow: Option<Connection>) -> TestNode {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = EngineConfig { router_seed: Some(SEED), mlflow, ..EngineConfig::new(dir.path()) };
    spawn_with(dir, config, NodeConfig::default()).await
}

/// A node on a manual clock whose scheduler passes the test drives (`scheduler_tick`).
async fn node_on(clock: &Arc<ManualClock>, mlflow: Connection) -> TestNode {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = EngineConfig {
        router_seed: Some(SEED),
        mlflow: Some(mlflow),
        clock: Arc::clone(clock) as _,
        scheduler_tick: None,
        ..EngineConfig::new(dir.path())
    };
    spawn_with(dir, config, NodeConfig::default()).await
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).expect("time").with_timezone(&Utc)
}

async fn save(node: &TestNode, spec: &Value) {
    let r = node.http.post(node.url("/admin/v1/scenarios")).json(spec).send().await.expect("send");
    let status = r.status();
    let body: Value = r.json().await.expect("json");
    assert_eq!(status, 200, "{body}");
}

/// One scheduler pass at the clock's time, `seconds` after it was.
async fn tick(engine: &Engine, clock: &ManualClock, seconds: i64) -> Vec<switchyard::scenario::Run> {
    clock.set(clock.now() + chrono::Duration::seconds(seconds));
    engine.scheduler_tick(clock.now()).await.expect("tick").into_iter().map(|f| f.run).collect()
}

async fn import(node: &TestNode, service: &str, uri: &str) -> (u16, Value) {
    let r = node
        .http
        .post(node.url(&format!("/admin/v1/services/{service}/versions/mlflow")))
        .json(&json!({"model_uri": uri}))
        .send()
        .await
        .expect("send");
    (r.status().as_u16(), r.json().await.expect("json"))
}

async fn versions(node: &TestNode, service: &str) -> Vec<Value> {
    node.get_json(&format!("/admin/v1/services/{service}/versions")).await
}

/// The node answers each row as onnxruntime did in the helper.
async fn answers_like_onnxruntime(node: &TestNode, service: &str, logged: &Value) {
    let names = ["sepal_length", "sepal_width", "petal_length", "petal_width"];
    for (i, row) in logged["rows"].as_array().expect("rows").iter().enumerate() {
        let features: serde_json::Map<String, Value> =
            names.iter().zip(row.as_array().expect("row")).map(|(n, v)| (n.to_string(), v.clone())).collect();
        let r = node.predict(service, &Value::Object(features)).await;
        assert_eq!(r.status(), 200);
        let body: Value = r.json().await.expect("json");
        assert_eq!(body["prediction"], logged["labels"][i].to_string().as_str(), "row {i}: {body}");
        for (class, want) in logged["probabilities"][i].as_array().expect("probabilities").iter().enumerate() {
            let got = body["probabilities"][class.to_string()].as_f64().expect("probability");
            let want = want.as_f64().expect("f64");
            assert!((got - want).abs() <= 1e-5, "row {i} class {class}: {got} vs {want}");
        }
    }
}

#[tokio::test]
async fn versions_import_by_number_and_by_alias_and_answer_as_onnxruntime_does() {
    let Some(mlflow) = Mlflow::shared() else { return };
    let model = unique("churn");
    let features = "sepal_length,sepal_width,petal_length,petal_width";
    let first = mlflow.models(&["onnx", &model, "--seed", "1", "--features", features, "--tag", "team=churn"]);
    let second =
        mlflow.models(&["onnx", &model, "--seed", "2", "--c", "0.05", "--alias", "champion", "--features", features]);
    let node = node_with(Some(mlflow.connection())).await;
    node.create_service("churn").await;

    // What the console's browser shows: the model with its alias, its versions newest first
    // with their aliases and run metrics.
    let found: Value = node.get_json("/admin/v1/mlflow/models").await;
    assert_eq!(found["tracking_uri"], mlflow.uri.as_str());
    let entry = found["models"].as_array().expect("models").iter().find(|m| m["name"] == model.as_str()).cloned();
    let entry = entry.unwrap_or_else(|| panic!("{model} not listed: {found}"));
    assert_eq!(entry["latest_version"], "2");
    assert_eq!(entry["aliases"], json!([{"alias": "champion", "version": "2"}]));
    let listed: Vec<Value> = node.get_json(&format!("/admin/v1/mlflow/models/{model}/versions")).await;
    let numbers: Vec<&str> = listed.iter().map(|v| v["version"].as_str().unwrap_or_default()).collect();
    assert_eq!(numbers, ["2", "1"]);
    assert_eq!(listed[0]["aliases"], json!(["champion"]));
    assert_eq!(listed[1]["aliases"], json!([]));
    assert_eq!(listed[1]["metrics"]["accuracy"], first["metrics"]["accuracy"]);
    // The run's own tags; MLflow's system tags (mlflow.user, mlflow.source.name…) left out.
    assert_eq!(listed[1]["tags"], json!({"team": "churn"}));
    assert_eq!(listed[0]["tags"], json!({}));
    assert_eq!(listed[0]["run_id"], second["run_id"]);

    // By number: the run's metrics and the provenance come with it.
    let (status, v1) = import(&node, "churn", &format!("models:/{model}/1")).await;
    assert_eq!(status, 201, "{v1}");
    assert_eq!(v1["created"], true);
    let v1 = &v1["version"];
    assert_eq!(v1["id"], "v1");
    assert_eq!(v1["metrics"]["accuracy"], first["metrics"]["accuracy"]);
    let details = &v1["provenance"]["details"];
    assert_eq!(details["mlflow.model"], model.as_str());
    assert_eq!(details["mlflow.version"], "1");
    assert_eq!(details["mlflow.run_id"], first["run_id"]);
    assert_eq!(details["mlflow.tracking_uri"], mlflow.uri.as_str());
    assert!(details["mlflow.source"].as_str().is_some_and(|s| s.starts_with("models:/")), "{details}");
    assert!(details.get("mlflow.alias").is_none(), "{details}");

    // By alias: the version the alias points at, with the alias recorded.
    let (status, v2) = import(&node, "churn", &format!("models:/{model}@champion")).await;
    assert_eq!(status, 201, "{v2}");
    assert_eq!(v2["version"]["id"], "v2");
    assert_eq!(v2["version"]["provenance"]["details"]["mlflow.version"], second["version"]);
    assert_eq!(v2["version"]["provenance"]["details"]["mlflow.alias"], "champion");
    assert_eq!(v2["version"]["metrics"]["accuracy"], second["metrics"]["accuracy"]);

    // Each serves what onnxruntime computed in the helper.
    node.deploy_ok("churn", json!({"mode": "single", "generation": "v1"})).await;
    answers_like_onnxruntime(&node, "churn", &first).await;
    node.deploy_ok("churn", json!({"mode": "single", "generation": "v2"})).await;
    answers_like_onnxruntime(&node, "churn", &second).await;

    // The same model again (the alias now names version 2): recognised, nothing added.
    let (status, again) = import(&node, "churn", &format!("models:/{model}/2")).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!((again["created"].as_bool(), again["version"]["id"].as_str()), (Some(false), Some("v2")));
    assert_eq!(versions(&node, "churn").await.len(), 2);
    node.stop().await;
}

#[tokio::test]
async fn a_model_not_logged_as_onnx_is_refused_with_the_fix_and_nothing_is_registered() {
    let Some(mlflow) = Mlflow::shared() else { return };
    let model = unique("pickled");
    mlflow.models(&["sklearn", &model]);
    let node = node_with(Some(mlflow.connection())).await;
    node.create_service("churn").await;
    let (status, body) = import(&node, "churn", &format!("models:/{model}/1")).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("invalid_model")), "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("sklearn flavour") && message.contains("mlflow.onnx.log_model"), "{message}");
    assert!(versions(&node, "churn").await.is_empty());
    node.stop().await;
}

#[tokio::test]
async fn missing_models_unknown_aliases_and_an_unreachable_server_are_named_and_import_nothing() {
    let Some(mlflow) = Mlflow::shared() else { return };
    let model = unique("churn");
    mlflow.models(&["onnx", &model, "--seed", "3"]);
    let node = node_with(Some(mlflow.connection())).await;
    node.create_service("churn").await;
    for (uri, what) in [
        (format!("models:/{model}/9"), "version 9"),
        (format!("models:/{model}@nope"), "alias 'nope'"),
        (format!("models:/{}/1", unique("absent")), "version 1"),
    ] {
        let (status, body) = import(&node, "churn", &uri).await;
        assert_eq!((status, body["error"]["code"].as_str()), (404, Some("mlflow_not_found")), "{uri}: {body}");
        assert!(body["error"]["message"].as_str().unwrap_or_default().contains(what), "{uri}: {body}");
    }
    let (status, body) = import(&node, "churn", "churn/7").await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("invalid_input")), "{body}");
    let (status, body) = import(&node, "nope", &format!("models:/{model}/1")).await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("service_not_found")), "{body}");
    node.stop().await;

    // A server that is down: named, and nothing imported.
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let down = Connection { uri: format!("http://127.0.0.1:{port}"), credentials: Credentials::None };
    let node = node_with(Some(down)).await;
    node.create_service("churn").await;
    let (status, body) = import(&node, "churn", &format!("models:/{model}/1")).await;
    assert_eq!((status, body["error"]["code"].as_str()), (502, Some("mlflow_unavailable")), "{body}");
    assert!(body["error"]["message"].as_str().unwrap_or_default().contains(&format!("127.0.0.1:{port}")), "{body}");
    assert!(versions(&node, "churn").await.is_empty());
    node.stop().await;

    // No server configured: the message says where to set one.
    let node = node_with(None).await;
    node.create_service("churn").await;
    let (status, body) = import(&node, "churn", &format!("models:/{model}/1")).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("mlflow_not_configured")), "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("--mlflow-uri") && message.contains("Settings → MLflow"), "{body}");
    node.stop().await;
}

#[test]
fn the_cli_imports_through_a_node_started_with_mlflow_uri() {
    let Some(mlflow) = Mlflow::shared() else { return };
    let model = unique("churn");
    let logged = mlflow.models(&["onnx", &model, "--seed", "4", "--alias", "champion"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let node = NodeProcess::start_with(dir.path(), true, &["--mlflow-uri", &mlflow.uri]);
    let cli = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_switchyard"))
            .args(args)
            .args(["--node", &node.url])
            .output()
            .expect("cli");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let uri = format!("models:/{model}@champion");
    let (ok, stdout, stderr) = cli(&["mlflow", "versions", &model]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.lines().any(|l| l.contains("@champion") && l.contains(logged["run_id"].as_str().unwrap_or("?"))),
        "{stdout}"
    );
    let (ok, stdout, stderr) = cli(&["mlflow", "import", "iris_classifier", &uri]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains(&format!("imported {uri} as iris_classifier v")), "{stdout}");
    assert!(stdout.contains(logged["run_id"].as_str().expect("run id")), "{stdout}");
    let (ok, stdout, stderr) = cli(&["mlflow", "import", "iris_classifier", &uri]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("nothing imported"), "{stdout}");
    let (ok, _, stderr) = cli(&["mlflow", "import", "iris_classifier", &format!("models:/{model}/7")]);
    assert!(!ok);
    assert!(stderr.contains("[mlflow_not_found]"), "{stderr}");
    node.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moving_the_alias_imports_evaluates_and_starts_a_canary_and_a_worse_model_stops_at_the_gate() {
    let Some(mlflow) = Mlflow::shared() else { return };
    let model = unique("follow");
    let features = "sepal_length,sepal_width,petal_length,petal_width";
    // On fixtures/data/iris_holdout.csv: v1 0.71, v2 0.98, v3 0.42 accuracy.
    mlflow.models(&["onnx", &model, "--seed", "1", "--c", "0.01", "--alias", "champion", "--features", features]);
    let clock = Arc::new(ManualClock::new(utc("2026-03-01T09:00:00Z")));
    let node = node_on(&clock, mlflow.connection()).await;
    let engine = &node.engine;
    node.create_service("churn").await;
    assert_eq!(import(&node, "churn", &format!("models:/{model}/1")).await.0, 201);
    node.deploy_ok("churn", json!({"mode": "single", "generation": "v1"})).await;
    let holdout = fixtures_dir().join("data/iris_holdout.csv").display().to_string();
    save(&node, &json!({
        "name": "follow",
        "steps": [
            {"kind": "import_mlflow", "name": "import", "service": "churn", "model_uri": "${mlflow_model_uri}"},
            {"kind": "evaluate", "name": "gate", "service": "churn", "version": "${version_id}", "metric": "accuracy",
             "holdout_csv": holdout, "stop_unless_better": true},
            {"kind": "start_canary", "name": "canary", "service": "churn", "version": "${version_id}",
             "plan": {"steps": [10, 100], "bake_seconds": 600}},
            {"kind": "mlflow_set", "name": "tell", "model": "${mlflow_model}", "version": "${mlflow_version}",
             "alias": "canary", "tags": {"switchyard": "canary ${canary_id} on churn"}}
        ],
        "triggers": [{"kind": "mlflow_alias", "model": model, "alias": "champion", "poll_seconds": 60}]
    })).await;

    // The first poll finds the alias where it was: no move, no run.
    assert!(tick(engine, &clock, 0).await.is_empty());
    mlflow.models(&["onnx", &model, "--seed", "2", "--c", "1", "--alias", "champion", "--features", features]);
    assert!(tick(engine, &clock, 30).await.is_empty(), "polled before poll_seconds");
    let fired = tick(engine, &clock, 31).await;
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(fired[0].trigger, TriggerKind::MlflowAlias);
    assert_eq!(fired[0].trigger_detail, format!("MLflow {model}@champion moved from version 1 to 2"));
    let run = run_ended(engine, "follow", fired[0].id).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{run:?}");
    assert_eq!(run.variables["version_id"], "v2");
    assert_eq!(run.variables["mlflow_model_uri"], format!("models:/{model}/2"));
    // A canary of v2 runs on churn, and MLflow says so on version 2.
    let canary: Value = node.get_json("/admin/v1/deployments/churn/canary").await;
    assert_eq!(
        (canary["status"].as_str(), canary["plan"]["version"].as_str()),
        (Some("running"), Some("v2")),
        "{canary}"
    );
    let v2: Value = node
        .http
        .get(format!("{}/api/2.0/mlflow/model-versions/get?name={model}&version=2", mlflow.uri))
        .send()
        .await
        .expect("mlflow")
        .json()
        .await
        .expect("json");
    let tags = v2["model_version"]["tags"].as_array().cloned().unwrap_or_default();
    let expected = json!({"key": "switchyard", "value": format!("canary {} on churn", canary["id"])});
    assert!(tags.contains(&expected), "{v2}");
    // The console's browser shows it: the alias the step set, and the version's tag.
    let listed: Vec<Value> = node.get_json(&format!("/admin/v1/mlflow/models/{model}/versions")).await;
    assert_eq!(listed[0]["version"], "2");
    assert_eq!(listed[0]["aliases"], json!(["canary", "champion"]), "{listed:?}");
    assert_eq!(listed[0]["tags"]["switchyard"], expected["value"]);

    // A worse model: imported, evaluated, and stopped at the gate; the canary stays v2's.
    mlflow.models(&["onnx", &model, "--seed", "3", "--c", "0.0001", "--alias", "champion", "--features", features]);
    let fired = tick(engine, &clock, 60).await;
    assert_eq!(fired.len(), 1, "{fired:?}");
    let run = run_ended(engine, "follow", fired[0].id).await;
    assert_eq!(run.status, RunStatus::Stopped, "{run:?}");
    assert_eq!(run.variables["version_id"], "v3");
    let canary: Value = node.get_json("/admin/v1/deployments/churn/canary").await;
    assert_eq!(canary["plan"]["version"], "v2", "{canary}");
    // Nothing moved: no more runs.
    assert!(tick(engine, &clock, 60).await.is_empty());
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quick_moves_run_one_at_a_time_and_lose_none_and_a_move_back_starts_nothing() {
    let Some(mlflow) = Mlflow::shared() else { return };
    let model = unique("quick");
    mlflow.models(&["onnx", &model, "--seed", "1", "--alias", "champion"]);
    let clock = Arc::new(ManualClock::new(utc("2026-03-01T09:00:00Z")));
    let node = node_on(&clock, mlflow.connection()).await;
    let engine = &node.engine;
    let gate = node.dir.path().to_path_buf();
    // Each run waits until the test lets the version it is for through.
    save(&node, &json!({
        "name": "hold",
        "steps": [{"kind": "run_command", "name": "wait", "timeout_seconds": 300,
                   "command": "until [ -e \"${data_dir}/go-${mlflow_version}\" ]; do sleep 0.05; done; echo version ${mlflow_version}"}],
        "triggers": [{"kind": "mlflow_alias", "model": model, "alias": "champion", "poll_seconds": 10}]
    })).await;
    assert!(tick(engine, &clock, 0).await.is_empty());

    mlflow.models(&["onnx", &model, "--seed", "2", "--alias", "champion"]);
    let first = tick(engine, &clock, 10).await;
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!(first[0].variables["mlflow_version"], "2");
    // Two more moves while it runs: no second run, nothing recorded as skipped.
    mlflow.models(&["onnx", &model, "--seed", "3", "--alias", "champion"]);
    assert!(tick(engine, &clock, 10).await.is_empty());
    mlflow.models(&["onnx", &model, "--seed", "4", "--alias", "champion"]);
    assert!(tick(engine, &clock, 10).await.is_empty());
    std::fs::write(gate.join("go-2"), "").expect("gate");
    assert_eq!(run_ended(engine, "hold", first[0].id).await.status, RunStatus::Succeeded);

    // The next poll runs for where the alias is now.
    let second = tick(engine, &clock, 10).await;
    assert_eq!(second.len(), 1, "{second:?}");
    assert_eq!(second[0].trigger_detail, format!("MLflow {model}@champion moved from version 2 to 4"));
    std::fs::write(gate.join("go-4"), "").expect("gate");
    assert_eq!(run_ended(engine, "hold", second[0].id).await.status, RunStatus::Succeeded);

    // Back to 3: recorded, not run.
    mlflow.models(&["alias", &model, "champion", "3"]);
    let back = tick(engine, &clock, 10).await;
    assert_eq!(back.len(), 1, "{back:?}");
    assert_eq!(back[0].status, RunStatus::Skipped);
    assert!(back[0].message.contains("a move back; not run (on_move_back: false)"), "{}", back[0].message);
    let runs: Vec<Value> = node.get_json("/admin/v1/scenarios/hold/runs").await;
    let statuses: Vec<&str> = runs.iter().map(|r| r["status"].as_str().unwrap_or_default()).collect();
    assert_eq!(statuses, ["skipped", "succeeded", "succeeded"]);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alias_that_cannot_be_read_is_retried_at_the_next_poll() {
    let Some(mlflow) = Mlflow::shared() else { return };
    let model = unique("later");
    let clock = Arc::new(ManualClock::new(utc("2026-03-01T09:00:00Z")));
    let node = node_on(&clock, mlflow.connection()).await;
    let engine = &node.engine;
    node.create_service("churn").await;
    save(&node, &json!({
        "name": "later",
        "steps": [{"kind": "import_mlflow", "name": "import", "service": "churn", "model_uri": "${mlflow_model_uri}"}],
        "triggers": [{"kind": "mlflow_alias", "model": model, "alias": "champion", "poll_seconds": 30}]
    })).await;
    // The model does not exist yet: the poll fails, nothing runs, the scheduler goes on.
    assert!(tick(engine, &clock, 0).await.is_empty());
    mlflow.models(&["onnx", &model, "--seed", "1", "--alias", "champion"]);
    // Not polled again before poll_seconds (had it been, it would read version 1 now).
    assert!(tick(engine, &clock, 10).await.is_empty());
    mlflow.models(&["onnx", &model, "--seed", "2", "--alias", "champion"]);
    // The next poll's first reading (version 2) is no move.
    assert!(tick(engine, &clock, 30).await.is_empty());
    mlflow.models(&["onnx", &model, "--seed", "3", "--alias", "champion"]);
    let fired = tick(engine, &clock, 30).await;
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(fired[0].trigger_detail, format!("MLflow {model}@champion moved from version 2 to 3"));
    let run = run_ended(engine, "later", fired[0].id).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{run:?}");
    assert_eq!(versions(&node, "churn").await.len(), 1);
    // By hand, the run takes the version the alias names now.
    let r = node.http.post(node.url("/admin/v1/scenarios/later/runs")).send().await.expect("send");
    let manual: Value = r.json().await.expect("json");
    assert_eq!(manual["variables"]["mlflow_version"], "3", "{manual}");
    node.stop().await;
}

#[tokio::test]
async fn the_console_connects_a_server_that_is_kept_for_the_next_start_and_never_shows_its_secret() {
    let Some(mlflow) = Mlflow::shared() else { return };
    use switchyard::mlflow::settings::{MlflowAuth, MlflowConnect, MlflowSource};
    let dir = tempfile::tempdir().expect("tempdir");
    let open = || Engine::open(EngineConfig { router_seed: Some(SEED), ..EngineConfig::new(dir.path()) });
    let engine = open().await.expect("engine");
    assert_eq!(engine.mlflow_settings().source, MlflowSource::None);
    assert_eq!(engine.mlflow_models().await.expect_err("none yet").code().as_str(), "mlflow_not_configured");
    // A token the test server ignores: what matters is that it is kept and never shown.
    let connect = MlflowConnect {
        uri: format!("{}/", mlflow.uri),
        auth: MlflowAuth::Token,
        token: Some("tok-3f9a".into()),
        username: None,
        password: None,
    };
    let shown = engine.set_mlflow(Some(&connect)).expect("connect");
    assert_eq!(
        (shown.uri.as_deref(), shown.auth, shown.source),
        (Some(mlflow.uri.as_str()), MlflowAuth::Token, MlflowSource::Console)
    );
    assert!(!serde_json::to_string(&shown).expect("json").contains("tok-3f9a"));
    engine.mlflow_models().await.expect("the server answers");
    engine.close().await.expect("close");

    // The next start has it.
    let engine = open().await.expect("engine again");
    assert_eq!(engine.mlflow_settings().uri.as_deref(), Some(mlflow.uri.as_str()));
    engine.mlflow_models().await.expect("still connected");
    let bad = MlflowConnect { uri: "mlflow:5000".into(), ..connect.clone() };
    assert_eq!(engine.set_mlflow(Some(&bad)).expect_err("not a URL").code().as_str(), "invalid_input");
    assert_eq!(engine.mlflow_settings().uri.as_deref(), Some(mlflow.uri.as_str()), "a refused form changes nothing");
    engine.set_mlflow(None).expect("disconnect");
    assert_eq!(engine.mlflow_settings().source, MlflowSource::None);
    engine.close().await.expect("close");

    // A server given at start wins, and the console cannot change it.
    let config = EngineConfig { mlflow: Some(mlflow.connection()), ..EngineConfig::new(dir.path()) };
    let engine = Engine::open(config).await.expect("engine with a flag");
    assert_eq!(engine.mlflow_settings().source, MlflowSource::Start);
    assert_eq!(engine.set_mlflow(Some(&connect)).expect_err("fixed").code().as_str(), "invalid_config");
    engine.close().await.expect("close");
}

/// An MLflow server that takes connections and never answers (a listener nobody accepts
/// from) holds up the alias poll, not the cron triggers, and not the engine's close.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_mlflow_server_delays_neither_cron_fires_nor_shutdown() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let uri = format!("http://{}", silent.local_addr().expect("addr"));
    let clock = Arc::new(ManualClock::new(utc("2026-03-01T09:00:00Z")));
    let dir = tempfile::tempdir().expect("tempdir");
    let config = EngineConfig {
        router_seed: Some(SEED),
        mlflow: Some(Connection { uri, credentials: Credentials::None }),
        clock: Arc::clone(&clock) as _,
        scheduler_tick: None,
        ..EngineConfig::new(dir.path())
    };
    let engine = Engine::open(config).await.expect("engine");
    let spec = |v: Value| serde_json::from_value(v).expect("spec");
    engine
        .save_scenario(spec(json!({
            "name": "follow",
            "steps": [{"kind": "run_command", "name": "work", "command": "true"}],
            "triggers": [{"kind": "mlflow_alias", "model": "churn", "alias": "champion", "poll_seconds": 30}]
        })))
        .await
        .expect("save follow");
    engine
        .save_scenario(spec(json!({
            "name": "nightly",
            "steps": [{"kind": "run_command", "name": "work", "command": "true"}],
            "triggers": [{"kind": "cron", "schedule": "* * * * *"}]
        })))
        .await
        .expect("save nightly");
    let first = engine.scheduler_round(clock.now()).await.expect("the first cron pass");
    assert!(first.is_empty(), "{first:?}");

    let poller = engine.clone();
    let at = clock.now();
    let poll = tokio::spawn(async move { poller.alias_round(at).await });
    clock.set(clock.now() + chrono::Duration::seconds(60));
    let fired = bounded("a cron pass while the alias poll waits", std::time::Duration::from_secs(20), async {
        engine.scheduler_round(clock.now()).await.expect("cron pass")
    })
    .await;
    let names: Vec<&str> = fired.iter().map(|f| f.scenario.as_str()).collect();
    assert_eq!(names, ["nightly"]);
    assert!(!poll.is_finished(), "the alias poll is still waiting on the silent server");
    run_ended(&engine, "nightly", fired[0].run.id).await;

    // Closing gives the poll up: it counts as a poll that could not read the alias.
    bounded("close while the alias poll waits", std::time::Duration::from_secs(20), engine.close())
        .await
        .expect("close");
    let polled = bounded("the poll ends", std::time::Duration::from_secs(20), poll).await.expect("join");
    assert!(polled.expect("the pass itself succeeds").is_empty());
    drop(silent);
}

/// Against MLflow's basic-auth app: the right username and password import; a wrong token or
/// password is named as refused credentials and registers nothing; an alias trigger whose
/// credentials are refused runs nothing and reads the alias again at the next poll, with the
/// credentials fixed in the console by then.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_credentials_are_named_import_nothing_and_the_next_poll_tries_again() {
    let Some((mlflow, password)) = Mlflow::with_auth() else { return };
    let model = unique("guarded");
    let features = "sepal_length,sepal_width,petal_length,petal_width";
    let logged = mlflow.models(&["onnx", &model, "--seed", "1", "--alias", "champion", "--features", features]);
    let basic = |password: &str| Credentials::Basic { username: "admin".into(), password: password.into() };

    let node = node_with(Some(Connection { uri: mlflow.uri.clone(), credentials: basic(&password) })).await;
    node.create_service("churn").await;
    let (status, body) = import(&node, "churn", &format!("models:/{model}@champion")).await;
    assert_eq!(status, 201, "{body}");
    node.deploy_ok("churn", json!({"mode": "single", "generation": "v1"})).await;
    answers_like_onnxruntime(&node, "churn", &logged).await;
    node.stop().await;

    for wrong in [Credentials::Token("not-a-token".into()), basic("not-the-password")] {
        let node = node_with(Some(Connection { uri: mlflow.uri.clone(), credentials: wrong })).await;
        node.create_service("churn").await;
        let (status, body) = import(&node, "churn", &format!("models:/{model}/1")).await;
        assert_eq!((status, body["error"]["code"].as_str()), (502, Some("mlflow_unauthorized")), "{body}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("refused the credentials (HTTP 401)"), "{message}");
        assert!(!message.contains("not-the-password") && !message.contains("not-a-token"), "{message}");
        assert!(versions(&node, "churn").await.is_empty(), "nothing registered");
        node.stop().await;
    }

    // The console's connection: a wrong token first, then the right password.
    use switchyard::mlflow::settings::{MlflowAuth, MlflowConnect};
    let clock = Arc::new(ManualClock::new(utc("2026-03-01T09:00:00Z")));
    let dir = tempfile::tempdir().expect("tempdir");
    let config = EngineConfig {
        router_seed: Some(SEED),
        clock: Arc::clone(&clock) as _,
        scheduler_tick: None,
        ..EngineConfig::new(dir.path())
    };
    let node = spawn_with(dir, config, NodeConfig::default()).await;
    let engine = &node.engine;
    let token = MlflowConnect {
        uri: mlflow.uri.clone(),
        auth: MlflowAuth::Token,
        token: Some("not-a-token".into()),
        username: None,
        password: None,
    };
    engine.set_mlflow(Some(&token)).expect("connect");
    node.create_service("churn").await;
    save(&node, &json!({
        "name": "guarded",
        "steps": [{"kind": "import_mlflow", "name": "import", "service": "churn", "model_uri": "${mlflow_model_uri}"}],
        "triggers": [{"kind": "mlflow_alias", "model": model, "alias": "champion", "poll_seconds": 30}]
    })).await;
    assert!(tick(engine, &clock, 0).await.is_empty(), "refused: nothing runs");
    let right = MlflowConnect {
        auth: MlflowAuth::Basic,
        token: None,
        username: Some("admin".into()),
        password: Some(password.clone()),
        ..token.clone()
    };
    engine.set_mlflow(Some(&right)).expect("reconnect");
    // Polled again only after poll_seconds; that reading (version 1) is the first: no move.
    assert!(tick(engine, &clock, 10).await.is_empty());
    assert!(tick(engine, &clock, 30).await.is_empty());
    mlflow.models(&["onnx", &model, "--seed", "2", "--alias", "champion"]);
    let fired = tick(engine, &clock, 30).await;
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(fired[0].trigger_detail, format!("MLflow {model}@champion moved from version 1 to 2"));
    let run = run_ended(engine, "guarded", fired[0].id).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{run:?}");
    let imported = versions(&node, "churn").await;
    assert_eq!(imported.len(), 1, "{imported:?}");
    node.stop().await;
}
