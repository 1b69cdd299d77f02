//! Scenarios on a real node: a full retrain → create version → evaluate → deploy run with the
//! built-in demo trainer (the `switchyard` binary), the evaluate gate, failing and timed-out
//! steps, cancel, validation at save; the scheduler on a manual clock (fires once per due
//! time, no overlap, missed fires after a restart per policy); restart recovery; the CLI.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use switchyard::clock::{Clock, ManualClock};
use switchyard::node::NodeConfig;
use switchyard::scenario::{RunStatus, TriggerKind};
use switchyard::{Engine, EngineConfig};

use crate::cli::cli;
use crate::support::{
    SEED, TestNode, bounded, error_code, fixtures_dir, iris_row, run_ended, spawn_node, spawn_with, wait_until,
};

const BIN: &str = env!("CARGO_BIN_EXE_switchyard");

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).expect("time").with_timezone(&Utc)
}

fn data(name: &str) -> String {
    fixtures_dir().join("data").join(name).display().to_string()
}

/// An engine config for scenario tests: no scheduler loop (tests tick by hand), `${switchyard}`
/// is the CLI binary, and an optional manual clock.
fn config(dir: &tempfile::TempDir, clock: Option<Arc<ManualClock>>) -> EngineConfig {
    let mut c = EngineConfig {
        router_seed: Some(SEED),
        scheduler_tick: None,
        switchyard_exe: Some(BIN.into()),
        ..EngineConfig::new(dir.path())
    };
    if let Some(clock) = clock {
        c.clock = clock;
    }
    c
}

async fn node_with(clock: Option<Arc<ManualClock>>) -> TestNode {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(&dir, clock);
    let node = spawn_with(dir, cfg, NodeConfig::default()).await;
    node.with_iris().await;
    node
}

/// Retrain iris with the demo trainer, register a unique version, gate on accuracy, deploy.
fn retrain(program: &str, epochs: u32) -> Value {
    json!({
        "name": "retrain",
        "description": "retrain iris",
        "variables": {"train": data("iris_train.csv"), "holdout": data("iris_holdout.csv")},
        "steps": [
            {"kind": "run_command", "name": "train",
             "command": [program, "train-demo", "--data", "${train}", "--out", "model.onnx", "--metrics", "metrics.json",
                         "--epochs", epochs.to_string(), "--class-labels", "setosa,versicolor,virginica"],
             "timeout_seconds": 120,
             "outputs": {"model_file": "model.onnx", "metrics_file": "metrics.json"}},
            {"kind": "create_version", "name": "register", "service": "iris", "model_file": "${model_file}",
             "id": "retrained", "unique": true, "metrics_file": "${metrics_file}", "notes": "run ${run_id}"},
            {"kind": "evaluate", "name": "gate", "service": "iris", "version": "${version_id}", "metric": "accuracy",
             "holdout_csv": "${holdout}", "stop_unless_better": true},
            {"kind": "update_deployment", "name": "deploy", "service": "iris", "version": "${version_id}"}
        ]
    })
}

/// A scenario of shell steps, then a deployment of v2 that must never happen.
fn shell(name: &str, script: &str, timeout: f64, triggers: Value) -> Value {
    json!({
        "name": name,
        "steps": [
            {"kind": "run_command", "name": "work", "command": script, "timeout_seconds": timeout},
            {"kind": "update_deployment", "name": "deploy", "service": "iris", "version": "v2"}
        ],
        "triggers": triggers
    })
}

async fn save(node: &TestNode, spec: &Value) -> reqwest::Response {
    node.http.post(node.url("/admin/v1/scenarios")).json(spec).send().await.expect("send")
}

async fn save_ok(node: &TestNode, spec: &Value) -> Value {
    let r = save(node, spec).await;
    let status = r.status();
    let body: Value = r.json().await.expect("json");
    assert_eq!(status, 200, "{body}");
    body
}

async fn start(node: &TestNode, name: &str) -> Value {
    let r = node.http.post(node.url(&format!("/admin/v1/scenarios/{name}/runs"))).send().await.expect("send");
    let status = r.status();
    let body: Value = r.json().await.expect("json");
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["status"], "running", "{body}");
    body
}

async fn get_run(node: &TestNode, name: &str, id: i64) -> Value {
    let r = node.http.get(node.url(&format!("/admin/v1/scenarios/{name}/runs/{id}"))).send().await.expect("send");
    assert_eq!(r.status(), 200);
    r.json().await.expect("json")
}

/// Polls until the run leaves `running`. The longest runs here (a 1000-epoch retrain) take
/// seconds; 300 s only catches a run that never ends.
async fn wait(node: &TestNode, name: &str, id: i64) -> Value {
    let mut run = Value::Null;
    wait_until(&format!("run {id} of {name} ends"), Duration::from_secs(300), Duration::from_millis(50), async || {
        run = get_run(node, name, id).await;
        run["status"] != "running"
    })
    .await;
    run
}

/// Polls until the run's persisted log contains `text` (the command is running). Normally
/// within a second; 120 s only catches a log that never shows it.
async fn wait_for_log(node: &TestNode, name: &str, id: i64, text: &str) {
    let what = format!("the log of run {id} of {name} shows '{text}'");
    wait_until(&what, Duration::from_secs(120), Duration::from_millis(50), async || {
        get_run(node, name, id).await["log"].as_str().is_some_and(|l| l.contains(text))
    })
    .await;
}

async fn deployment(node: &TestNode, service: &str) -> Value {
    node.get_json(&format!("/admin/v1/deployments/{service}")).await
}

async fn revision_count(node: &TestNode, service: &str) -> usize {
    let revs: Value = node.get_json(&format!("/admin/v1/deployments/{service}/revisions")).await;
    revs.as_array().expect("list").len()
}

fn statuses(run: &Value) -> Vec<String> {
    run["steps"].as_array().expect("steps").iter().map(|s| s["status"].as_str().unwrap_or("?").to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_run_deploys_the_new_unique_version() {
    let node = spawn_node().await;
    node.with_iris().await;
    save_ok(&node, &retrain(BIN, 1000)).await;
    let started = start(&node, "retrain").await;
    assert_eq!(started["id"], 1);
    assert_eq!(started["trigger"], "manual");
    let run = wait(&node, "retrain", 1).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(statuses(&run), ["succeeded"; 4]);
    assert_eq!(run["progress"], 1.0);

    let version = run["variables"]["version_id"].as_str().expect("version_id").to_owned();
    assert!(version.starts_with("retrained-"), "{version}");
    let accuracy: f64 = run["variables"]["accuracy"].as_str().expect("accuracy").parse().expect("number");
    let baseline: f64 = run["variables"]["baseline_accuracy"].as_str().expect("baseline").parse().expect("number");
    assert!((accuracy - 44.0 / 45.0).abs() < 1e-9 && (baseline - 42.0 / 45.0).abs() < 1e-9, "{run}");
    assert_eq!(run["variables"]["baseline_version"], "v1");
    let log = run["log"].as_str().expect("log");
    assert!(log.contains("epoch 1000/1000") && log.contains("train-demo"), "{log}");
    // The log is appended as it grows, never twice.
    assert_eq!(log.matches("epoch 1000/1000").count(), 1, "{log}");
    assert_eq!(log.matches("step 1/4 'train' (run_command) started").count(), 1, "{log}");

    // The deployment serves the new version, and the revision says which run put it there.
    let rev = deployment(&node, "iris").await;
    assert_eq!(rev["config"]["generation"], version.as_str(), "{rev}");
    assert_eq!(rev["author"], "scenario retrain");
    let why = rev["reason"].as_str().expect("reason");
    assert!(
        why.starts_with("scenario retrain run 1: deploy retrained-")
            && why.ends_with("(accuracy 0.9778 vs 0.9333 of v1)"),
        "{why}"
    );
    let answer: Value = node.predict("iris", &iris_row()).await.json().await.expect("json");
    assert_eq!(answer["generation"], version.as_str());
    assert_eq!(answer["prediction"], "setosa");

    // The version carries the training metrics and its provenance.
    let v: Value = node.get_json(&format!("/admin/v1/services/iris/versions/{version}")).await;
    assert!(v["metrics"]["train_accuracy"].as_f64().expect("metric") > 0.95, "{v}");
    assert_eq!(v["provenance"]["created_by"], "scenario retrain run 1");
    assert_eq!(v["notes"], "run 1");

    // Run again: the same training gives the same model, which is not *better*: stopped.
    start(&node, "retrain").await;
    let again = wait(&node, "retrain", 2).await;
    assert_eq!(again["status"], "stopped", "{again}");
    assert!(again["message"].as_str().expect("message").contains("is not better than 0.9778"), "{again}");
    assert_eq!(deployment(&node, "iris").await["config"]["generation"], version.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_evaluate_gate_stops_a_worse_candidate() {
    let node = node_with(None).await;
    let revisions = revision_count(&node, "iris").await;
    save_ok(&node, &retrain("${switchyard}", 1)).await;
    start(&node, "retrain").await;
    let run = wait(&node, "retrain", 1).await;
    assert_eq!(run["status"], "stopped", "{run}");
    assert_eq!(statuses(&run), ["succeeded", "succeeded", "stopped", "skipped"]);
    let message = run["message"].as_str().expect("message");
    assert!(message.contains("stopped at step 'gate'"), "{message}");
    assert!(message.contains("is not better than 0.9333 of v1") && message.contains("nothing deployed"), "{message}");
    assert_eq!(run["steps"][2]["message"].as_str().map(|m| m.contains("accuracy")), Some(true), "{run}");
    // The deployment is unchanged: same generation, no new revision.
    assert_eq!(deployment(&node, "iris").await["config"]["generation"], "v1");
    assert_eq!(revision_count(&node, "iris").await, revisions);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_or_timed_out_step_stops_the_run_with_its_log() {
    let node = node_with(None).await;
    let revisions = revision_count(&node, "iris").await;

    save_ok(&node, &shell("boom", "echo boom; echo on-stderr >&2; exit 3", 10.0, json!([]))).await;
    start(&node, "boom").await;
    let run = wait(&node, "boom", 1).await;
    assert_eq!(run["status"], "failed", "{run}");
    assert_eq!(statuses(&run), ["failed", "skipped"]);
    assert!(run["message"].as_str().expect("message").contains("exited with status 3"), "{run}");
    let log = run["log"].as_str().expect("log");
    assert!(log.contains("boom\n") && log.contains("on-stderr"), "{log}");

    // Killed at its timeout: waited for, it would outlast `wait`'s bound.
    save_ok(&node, &shell("slow", "echo started; sleep 600; echo never", 0.2, json!([]))).await;
    start(&node, "slow").await;
    let run = wait(&node, "slow", 1).await;
    assert_eq!(run["status"], "failed", "{run}");
    assert!(run["message"].as_str().expect("message").contains("timed out after 0.2 s"), "{run}");
    let log = run["log"].as_str().expect("log");
    assert!(log.contains("\nstarted\n") && !log.lines().any(|l| l == "never"), "{log}");

    // Nothing half-done was deployed.
    assert_eq!(deployment(&node, "iris").await["config"]["generation"], "v1");
    assert_eq!(revision_count(&node, "iris").await, revisions);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploying_what_is_already_live_succeeds_without_a_revision() {
    let node = node_with(None).await;
    node.deploy_ok("iris", json!({"mode": "single", "generation": "v2"})).await;
    let revisions = revision_count(&node, "iris").await;
    save_ok(&node, &shell("again", "true", 10.0, json!([]))).await;
    start(&node, "again").await;
    let run = wait(&node, "again", 1).await;
    assert_eq!((run["status"].as_str(), statuses(&run)), (Some("succeeded"), vec!["succeeded".into(); 2]), "{run}");
    assert!(run["log"].to_string().contains("already serves this config"), "{run}");
    assert_eq!(revision_count(&node, "iris").await, revisions, "no empty revision");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_can_be_cancelled_and_runs_never_overlap() {
    let node = node_with(None).await;
    save_ok(&node, &shell("long", "echo working; sleep 600", 900.0, json!([]))).await;
    start(&node, "long").await;
    wait_for_log(&node, "long", 1, "working").await;
    // A second manual run while the first runs is refused.
    let r = node.http.post(node.url("/admin/v1/scenarios/long/runs")).send().await.expect("send");
    let (status, code, message) = error_code(r).await;
    assert_eq!((status, code.as_str()), (409, "run_conflict"));
    assert!(message.contains("run 1 of 'long' is still running"), "{message}");

    // The command is killed, not waited for: normally well under a second; 60 s only
    // catches a cancel that waits for the 600 s command.
    let cancel = node.http.post(node.url("/admin/v1/scenarios/long/runs/1/cancel")).send();
    let r = bounded("cancelling a running run", Duration::from_secs(60), cancel).await.expect("send");
    assert_eq!(r.status(), 200);
    let run: Value = r.json().await.expect("json");
    assert_eq!(run["status"], "cancelled", "{run}");
    assert_eq!(statuses(&run), ["cancelled", "skipped"]);
    assert_eq!(deployment(&node, "iris").await["config"]["generation"], "v1");
    // Cancelling a finished run is a conflict; an unknown run is 404.
    let r = node.http.post(node.url("/admin/v1/scenarios/long/runs/1/cancel")).send().await.expect("send");
    assert_eq!(error_code(r).await.1, "run_conflict");
    let r = node.http.get(node.url("/admin/v1/scenarios/long/runs/9")).send().await.expect("send");
    assert_eq!(error_code(r).await.1, "run_not_found");
    // The scenario can run again.
    start(&node, "long").await;
    let r = node.http.post(node.url("/admin/v1/scenarios/long/runs/2/cancel")).send().await.expect("send");
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_variable_is_refused_at_save() {
    let node = node_with(None).await;
    let mut spec = retrain(BIN, 1000);
    spec["steps"][2]["version"] = json!("${versoin_id}");
    spec["steps"][3]["service"] = json!("nope");
    let (status, code, message) = error_code(save(&node, &spec).await).await;
    assert_eq!((status, code.as_str()), (400, "invalid_config"));
    assert!(message.contains("steps[2].version: unknown variable ${versoin_id}"), "{message}");
    assert!(message.contains("steps[3].service: service 'nope' does not exist"), "{message}");
    let r = node.http.get(node.url("/admin/v1/scenarios/retrain")).send().await.expect("send");
    assert_eq!(error_code(r).await.1, "scenario_not_found");

    // The editor's check lists each issue at its place.
    let issues: Value = node
        .http
        .post(node.url("/admin/v1/scenarios/validate"))
        .json(&spec)
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(issues[0]["path"], "steps[2].version");
    assert_eq!(issues[0]["step"], 2);
    assert_eq!(issues[1]["path"], "steps[3].service");
    let bad_cron = shell("x", "true", 1.0, json!([{"kind": "cron", "schedule": "0 0 1 * *", "timezone": "Moon/Base"}]));
    let (_, code, message) = error_code(save(&node, &bad_cron).await).await;
    assert_eq!(code, "invalid_config");
    assert!(message.contains("triggers[0].timezone"), "{message}");
    // A malformed spec is refused by shape.
    let (status, _, _) = error_code(save(&node, &json!({"name": "x", "steps": [{"kind": "sleep"}]})).await).await;
    assert_eq!(status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_answers_every_problem_at_once_each_at_its_field() {
    let node = node_with(None).await;
    let mut spec = retrain(BIN, 1000);
    // A step that does not parse (a wrong type), a step naming a missing service, a bad
    // variable, and a cron trigger with a bad zone and a bad pattern: one answer names them all.
    spec["steps"][0]["timeout_seconds"] = json!("two minutes");
    spec["steps"][3]["service"] = json!("nope");
    spec["variables"]["date"] = json!("today");
    spec["triggers"] = json!([{"kind": "manual"}, {"kind": "cron", "schedule": "0 0 32 * *", "timezone": "Moon/Base"}]);
    let issues: Value = node
        .http
        .post(node.url("/admin/v1/scenarios/validate"))
        .json(&spec)
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let places: Vec<(&str, &Value)> =
        issues.as_array().expect("list").iter().map(|i| (i["path"].as_str().expect("path"), &i["step"])).collect();
    assert_eq!(
        places,
        [
            ("variables.date", &Value::Null),
            ("steps[0].timeout_seconds", &json!(0)),
            ("steps[3].service", &json!(3)),
            ("triggers[1].timezone", &Value::Null),
            ("triggers[1].schedule", &Value::Null),
        ],
        "{issues}"
    );
    assert!(issues[3]["message"].as_str().is_some_and(|m| m.contains("Moon/Base")), "{issues}");
    assert!(issues[4]["message"].as_str().is_some_and(|m| m.contains("0 0 32 * *")), "{issues}");
    // Saving it is refused with the same problems, all of them, and saves nothing.
    let r = node.http.post(node.url("/admin/v1/scenarios")).json(&spec).send().await.expect("send");
    let status = r.status().as_u16();
    let body: Value = r.json().await.expect("json");
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("invalid_config")), "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    for issue in issues.as_array().expect("list") {
        let text = issue["message"].as_str().expect("message");
        assert!(message.contains(text), "{text} missing from: {message}");
    }
    let listed: Vec<Value> = node.get_json("/admin/v1/scenarios").await;
    assert!(listed.iter().all(|v| v["spec"]["name"] != spec["name"]), "nothing saved");
    // Fixed, it has no problem left, and saves.
    spec["steps"][0]["timeout_seconds"] = json!(120);
    spec["steps"][3]["service"] = json!("iris");
    spec["variables"].as_object_mut().expect("variables").remove("date");
    spec["triggers"][1] = json!({"kind": "cron", "schedule": "0 0 1 * *", "timezone": "Europe/Berlin"});
    let issues: Value = node
        .http
        .post(node.url("/admin/v1/scenarios/validate"))
        .json(&spec)
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(issues, json!([]));
    save_ok(&node, &spec).await;
}

/// Waits for a run started by the scheduler, through the engine.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduler_fires_once_per_due_time_on_a_manual_clock() {
    let clock = Arc::new(ManualClock::new(utc("2026-01-15T00:00:00Z")));
    let node = node_with(Some(Arc::clone(&clock))).await;
    let engine = &node.engine;
    // Only the work step (timezone defaults to UTC).
    let mut spec = shell("daily", "echo tick ${date}", 10.0, json!([{"kind": "cron", "schedule": "0 0 * * *"}]));
    spec["steps"].as_array_mut().expect("steps").truncate(1);
    save_ok(&node, &spec).await;
    // A disabled trigger never fires.
    let mut off = spec.clone();
    off["name"] = json!("off");
    off["triggers"][0]["enabled"] = json!(false);
    save_ok(&node, &off).await;
    let fires: Value = node.get_json("/admin/v1/scenarios/daily/next?count=2").await;
    assert_eq!(fires[0]["next"][0]["at"], "2026-01-16T00:00:00Z", "{fires}");
    assert_eq!(fires[0]["next"][1]["local"], "2026-01-17 00:00:00 UTC", "{fires}");

    assert!(engine.scheduler_tick(clock.now()).await.expect("tick").is_empty());
    clock.set(utc("2026-01-15T23:59:59Z"));
    assert!(engine.scheduler_tick(clock.now()).await.expect("tick").is_empty());
    clock.set(utc("2026-01-16T00:00:00Z"));
    let fired = engine.scheduler_tick(clock.now()).await.expect("tick");
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].run.trigger, TriggerKind::Cron);
    assert_eq!(fired[0].run.trigger_detail, "cron '0 0 * * *' (UTC), due 2026-01-16 00:00:00 UTC");
    let run = run_ended(engine, "daily", fired[0].run.id).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{run:?}");
    assert!(run.log.as_deref().unwrap_or_default().contains("tick 2026-01-16\n"), "{run:?}");
    // The same due time never fires twice, however often the scheduler looks.
    assert!(engine.scheduler_tick(clock.now()).await.expect("tick").is_empty());
    clock.set(utc("2026-01-16T00:00:30Z"));
    assert!(engine.scheduler_tick(clock.now()).await.expect("tick").is_empty());
    // Two due times since the last look (a suspended laptop): one run says so.
    clock.set(utc("2026-01-18T00:00:00Z"));
    let fired = engine.scheduler_tick(clock.now()).await.expect("tick");
    assert_eq!(fired.len(), 1);
    assert!(fired[0].run.trigger_detail.contains("2 fire times since the last check, run once"), "{:?}", fired[0].run);
    run_ended(engine, "daily", fired[0].run.id).await;
    assert_eq!(engine.scenario_runs("daily", 10).await.expect("runs").len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fire_during_a_run_is_recorded_as_skipped() {
    let clock = Arc::new(ManualClock::new(utc("2026-01-15T10:30:00Z")));
    let node = node_with(Some(Arc::clone(&clock))).await;
    let engine = &node.engine;
    let hourly = json!([{"kind": "cron", "schedule": "0 * * * *", "timezone": "UTC"}]);
    save_ok(&node, &shell("hourly", "sleep 30", 60.0, hourly)).await;
    clock.set(utc("2026-01-15T11:00:00Z"));
    let fired = engine.scheduler_tick(clock.now()).await.expect("tick");
    assert_eq!((fired.len(), fired[0].run.status), (1, RunStatus::Running));
    clock.set(utc("2026-01-15T12:00:00Z"));
    let fired = engine.scheduler_tick(clock.now()).await.expect("tick");
    assert_eq!(fired.len(), 1);
    let skipped = &fired[0].run;
    assert_eq!((skipped.id, skipped.status), (2, RunStatus::Skipped));
    assert!(skipped.message.contains("skipped: run 1 was still running"), "{skipped:?}");
    // Still exactly one run in progress.
    assert_eq!(engine.running_run("hourly"), Some(1));
    engine.cancel_run("hourly", 1, "test").await.expect("cancel");
    let runs = engine.scenario_runs("hourly", 10).await.expect("runs");
    let seen: Vec<(i64, RunStatus)> = runs.iter().map(|r| (r.id, r.status)).collect();
    assert_eq!(seen, [(2, RunStatus::Skipped), (1, RunStatus::Cancelled)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missed_fires_after_a_restart_follow_the_policy() {
    let clock = Arc::new(ManualClock::new(utc("2026-01-15T08:00:00Z")));
    let node = node_with(Some(Arc::clone(&clock))).await;
    for (name, policy) in [("catch_up", "run_once"), ("no_catch_up", "skip")] {
        let monthly = json!([{"kind": "cron", "schedule": "0 0 1 * *", "timezone": "UTC", "on_missed": policy}]);
        let mut spec = shell(name, "echo ran", 10.0, monthly);
        spec["steps"].as_array_mut().expect("steps").truncate(1);
        save_ok(&node, &spec).await;
    }
    let dir = node.stop().await;

    // Down for 2.5 months: three monthly fires missed.
    clock.set(utc("2026-04-02T12:00:00Z"));
    let cfg = config(&dir, Some(Arc::clone(&clock)));
    let node = spawn_with(dir, cfg, NodeConfig::default()).await;
    let engine = &node.engine;
    let run = run_ended(engine, "catch_up", 1).await;
    assert_eq!((run.status, run.trigger), (RunStatus::Succeeded, TriggerKind::Missed), "{run:?}");
    assert_eq!(
        run.trigger_detail,
        "3 missed fire(s) of cron '0 0 1 * *' (UTC) while the node was down: 2026-02-01 00:00:00 UTC to 2026-04-01 00:00:00 UTC"
    );
    let skipped = engine.scenario_run("no_catch_up", 1).await.expect("run");
    assert_eq!(skipped.status, RunStatus::Skipped);
    assert!(skipped.message.contains("not run (on_missed: skip)"), "{skipped:?}");
    assert!(skipped.message.contains("3 missed fire(s)"), "{skipped:?}");
    // Handled once: the scheduler does not fire them again.
    assert!(engine.scheduler_tick(clock.now()).await.expect("tick").is_empty());
    assert_eq!(engine.scenario_runs("catch_up", 10).await.expect("runs").len(), 1);
}

/// Two nodes on one registry (instances `a` and `b`): only the node leading the scheduler
/// fires a due time; when it stops, the other takes over. A node opening never abandons the
/// run of another live instance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_sharing_a_registry_fire_each_due_time_once() {
    let clock = Arc::new(ManualClock::new(utc("2026-01-15T10:30:00Z")));
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = EngineConfig { instance: "a".into(), ..config(&dir, Some(Arc::clone(&clock))) };
    let a = spawn_with(dir, cfg, NodeConfig::default()).await;
    a.with_iris().await;
    let mut hourly = shell("hourly", "echo tick", 10.0, json!([{"kind": "cron", "schedule": "0 * * * *"}]));
    hourly["steps"].as_array_mut().expect("steps").truncate(1);
    save_ok(&a, &hourly).await;
    save_ok(&a, &shell("long", "echo working; sleep 30", 60.0, json!([]))).await;
    start(&a, "long").await;
    wait_for_log(&a, "long", 1, "working").await;

    let shared = std::fs::read_to_string(a.dir.path().join("test-database-url")).ok();
    let b_config =
        EngineConfig { database_url: shared, instance: "b".into(), ..config(&a.dir, Some(Arc::clone(&clock))) };
    let b = Engine::open(b_config).await.expect("second node");
    assert_eq!(b.instance(), "b");
    assert_eq!(b.scenario_run("long", 1).await.expect("run").status, RunStatus::Running, "a's run is a's");

    // Leases run on the engine's clock: `a` took the scheduler's at open, and `b` finds it held.
    assert!(b.scheduler_round(clock.now()).await.expect("round").is_empty(), "a leads the scheduler");
    // Moving the clock past the lease's 15 s expires it; `a`, a live leader, renews it on its
    // next round (the node's loop runs every second) and fires the due time, once.
    clock.set(utc("2026-01-15T11:00:00Z"));
    let fired = a.engine.scheduler_round(clock.now()).await.expect("round");
    assert_eq!(fired.len(), 1);
    run_ended(&a.engine, "hourly", fired[0].run.id).await;
    assert!(b.scheduler_round(clock.now()).await.expect("round").is_empty(), "a leads the scheduler");
    assert!(a.engine.scheduler_round(clock.now()).await.expect("round").is_empty(), "once per due time");

    // A stops (its run is recorded as stopped); B leads from its next round.
    a.engine.close().await.expect("close");
    assert_eq!(b.scenario_run("long", 1).await.expect("run").status, RunStatus::Abandoned);
    clock.set(utc("2026-01-15T12:00:00Z"));
    let fired = b.scheduler_round(clock.now()).await.expect("round");
    assert_eq!(fired.len(), 1, "b took over");
    run_ended(&b, "hourly", fired[0].run.id).await;
    let runs = b.scenario_runs("hourly", 10).await.expect("runs");
    assert_eq!(runs.iter().map(|r| r.status).collect::<Vec<_>>(), [RunStatus::Succeeded, RunStatus::Succeeded]);
    b.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_left_running_by_a_dead_process_is_marked_abandoned() {
    let node = node_with(None).await;
    save_ok(&node, &shell("long", "echo working; sleep 30", 60.0, json!([]))).await;
    start(&node, "long").await;
    wait_for_log(&node, "long", 1, "working").await;
    // A new process opens the registry while the row still says running (as after a crash).
    let shared = std::fs::read_to_string(node.dir.path().join("test-database-url")).ok();
    let other =
        Engine::open(EngineConfig { database_url: shared, ..config(&node.dir, None) }).await.expect("second engine");
    let run = other.scenario_run("long", 1).await.expect("run");
    assert_eq!(run.status, RunStatus::Abandoned, "{run:?}");
    assert!(run.message.contains("abandoned: the node stopped during step 'work'"), "{run:?}");
    let log = run.log.as_deref().unwrap_or_default();
    assert!(log.contains("working") && log.ends_with("and the run cannot resume\n"), "{log}");
    assert_eq!(run.steps[0].status, switchyard::scenario::StepStatus::Abandoned);
    // The old process cannot bring the run back: its late writes are refused.
    node.engine.cancel_run("long", 1, "test").await.expect("cancel");
    assert_eq!(other.scenario_run("long", 1).await.expect("run").status, RunStatus::Abandoned);
    other.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_scenario_deploys_only_if_better() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(&dir, None);
    let node = spawn_with(dir, cfg, NodeConfig::default()).await;
    switchyard::demo::seed_if_empty(&node.engine).await.expect("demo seeded");
    let list: Value = node.get_json("/admin/v1/scenarios").await;
    assert_eq!(list[0]["spec"]["name"], "retrain_iris", "{list}");
    assert!(list[0]["next_fire"]["local"].as_str().is_some_and(|l| l.ends_with("00:00:00 UTC")), "{list}");
    start(&node, "retrain_iris").await;
    let run = wait(&node, "retrain_iris", 1).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let version = run["variables"]["version_id"].as_str().expect("version").to_owned();
    assert_eq!(deployment(&node, "iris_classifier").await["config"]["generation"], version.as_str());
    // The next run trains the same model, which does not beat the one now active.
    start(&node, "retrain_iris").await;
    let run = wait(&node, "retrain_iris", 2).await;
    assert_eq!(run["status"], "stopped", "{run}");
    assert_eq!(deployment(&node, "iris_classifier").await["config"]["generation"], version.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_saves_runs_and_shows_scenarios() {
    let node = node_with(None).await;
    let url = node.url.clone();
    let file = node.dir.path().join("retrain.json");
    std::fs::write(&file, retrain("${switchyard}", 1000).to_string()).expect("write");
    let file = file.to_str().expect("utf8");

    let (ok, out, err) = cli(&url, &["scenario", "validate", file]).await;
    assert!(ok && out.contains("is a valid scenario"), "{out}{err}");
    let (ok, out, err) = cli(&url, &["scenario", "save", file]).await;
    assert!(ok && out.contains("saved scenario retrain (4 steps)"), "{out}{err}");
    let (ok, out, err) = cli(&url, &["scenario", "run", "retrain", "--wait"]).await;
    assert!(ok, "{out}{err}");
    assert!(out.contains("epoch 1000/1000") && out.contains("run 1 of retrain: succeeded"), "{out}");
    let (ok, out, _) = cli(&url, &["scenario", "runs", "retrain"]).await;
    assert!(ok && out.lines().nth(1).is_some_and(|l| l.contains("succeeded")), "{out}");
    let (ok, out, _) = cli(&url, &["scenario", "logs", "retrain", "1"]).await;
    assert!(ok && out.contains("step 4/4 'deploy' succeeded"), "{out}");
    let (ok, out, _) = cli(&url, &["scenario", "list"]).await;
    assert!(ok && out.contains("retrain") && out.contains("1 succeeded"), "{out}");
    // The gate stops the second run: exit status 3.
    let mut cmd = std::process::Command::new(BIN);
    cmd.args(["scenario", "run", "retrain", "--wait"]).env("SWITCHYARD_NODE", &url);
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("run")).await.expect("join");
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stdout));
    let (ok, _, err) = cli(&url, &["scenario", "cancel", "retrain", "1"]).await;
    assert!(!ok && err.contains("[run_conflict]"), "{err}");
    let (ok, out, _) = cli(&url, &["scenario", "next", "retrain"]).await;
    assert!(ok && out.contains("no cron trigger"), "{out}");
    let (ok, _, err) = cli(&url, &["scenario", "show", "missing"]).await;
    assert!(!ok && err.contains("[scenario_not_found]"), "{err}");
}
