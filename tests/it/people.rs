//! Principals and roles on the admin API: the permission matrix (every admin route as every
//! role, from the node's own route table), scoped roles, and what `/me` says.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use switchyard::auth::Role;
use switchyard::clock::ManualClock;

use crate::support::{TestNode, fixture, iris_row, spawn_node, spawn_node_on, wait_until};

/// Creates a principal (as the bootstrap admin: the test node has no admin token, so a call
/// without one is the bootstrap admin) and answers a token of it.
pub async fn principal(node: &TestNode, name: &str, roles: Value) -> String {
    let r = node.http.post(node.url("/admin/v1/users")).json(&json!({"name": name, "roles": roles})).send().await;
    let r = r.expect("send");
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
    let r = node.http.post(node.url(&format!("/admin/v1/users/{name}/tokens"))).json(&json!({"name": "test"}));
    let body: Value = r.send().await.expect("send").json().await.expect("json");
    body["secret"].as_str().unwrap_or_else(|| panic!("token: {body}")).to_owned()
}

/// A request as a principal (None: as the bootstrap admin).
pub async fn call(
    node: &TestNode,
    token: Option<&str>,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut req = node.http.request(method, node.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(b);
    }
    let r = req.send().await.expect("send");
    let status = r.status().as_u16();
    let text = r.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

async fn admin(node: &TestNode, method: &str, path: &str, body: Value) -> Value {
    let (status, answer) = call(node, None, method, path, Some(&body)).await;
    assert!((200..300).contains(&status), "{method} {path}: {status} {answer}");
    answer
}

fn plan() -> Value {
    json!({"version": "v2", "steps": [50.0, 100.0], "bake_seconds": 600,
           "gates": {"max_error_rate": 0.5, "max_p99_ms": 10000.0, "min_requests": 0},
           "inconclusive_timeout_seconds": 3600, "on_inconclusive": "pause"})
}

fn noop_scenario(name: &str) -> Value {
    json!({"name": name, "steps": [{"kind": "update_deployment", "name": "deploy", "service": "iris", "version": "v1"}]})
}

async fn run_over(node: &TestNode, scenario: &str) {
    let path = format!("/admin/v1/scenarios/{scenario}");
    wait_until("the run to end", Duration::from_secs(60), Duration::from_millis(20), async || {
        let (_, s) = call(node, None, "GET", &path, None).await;
        s["running"].is_null()
    })
    .await;
}

/// A request for operation `id` as role `role`: its setup runs first, as the bootstrap admin.
/// Every operation of the route table must have one (a new route fails here until it does).
async fn prepare(node: &TestNode, id: &str, role: &str) -> (&'static str, String, Option<Value>) {
    let p = |s: &str| s.to_owned();
    match id {
        "me" => ("GET", p("/admin/v1/me"), None),
        "list_services" => ("GET", p("/admin/v1/services"), None),
        "create_service" => ("POST", p("/admin/v1/services"), Some(json!({"name": format!("made_by_{role}")}))),
        "get_service" => ("GET", p("/admin/v1/services/iris"), None),
        "list_versions" => ("GET", p("/admin/v1/services/iris/versions"), None),
        "create_version" => ("POST", p("/admin/v1/services/iris/versions"), None),
        // This node has no MLflow server: a permitted call gets past the check to the 409.
        "import_mlflow_version" => {
            ("POST", p("/admin/v1/services/iris/versions/mlflow"), Some(json!({"model_uri": "models:/iris/1"})))
        }
        "mlflow_models" => ("GET", p("/admin/v1/mlflow/models"), None),
        "mlflow_versions" => ("GET", p("/admin/v1/mlflow/models/iris/versions"), None),
        "get_version" => ("GET", p("/admin/v1/services/iris/versions/v1"), None),
        "get_deployment" => ("GET", p("/admin/v1/deployments/iris"), None),
        "deploy" => (
            "PUT",
            p("/admin/v1/deployments/iris"),
            Some(
                json!({"config": {"mode": "single", "generation": other_than_live(node, "iris").await}, "reason": "matrix"}),
            ),
        ),
        "rollback" => ("POST", p("/admin/v1/deployments/iris/rollback"), Some(json!({"reason": "matrix"}))),
        "revisions" => ("GET", p("/admin/v1/deployments/iris/revisions"), None),
        "monitor" => ("GET", p("/admin/v1/deployments/iris/monitor"), None),
        "drift" => ("GET", p("/admin/v1/deployments/iris/drift"), None),
        "ab" => ("GET", p("/admin/v1/deployments/iris/ab"), None),
        "report" => ("GET", p("/admin/v1/deployments/iris/report"), None),
        "get_canary" => ("GET", p("/admin/v1/deployments/iris/canary"), None),
        "start_canary" => ("POST", p("/admin/v1/deployments/iris/canary"), Some(plan())),
        "canary_action" => {
            admin(node, "POST", "/admin/v1/deployments/iris/canary", plan()).await;
            ("POST", p("/admin/v1/deployments/iris/canary/abort"), None)
        }
        "get_access" => ("GET", p("/admin/v1/deployments/iris/auth"), None),
        "set_auth_mode" => ("PUT", p("/admin/v1/deployments/iris/auth"), Some(json!({"mode": "none"}))),
        "create_key" => ("POST", p("/admin/v1/deployments/iris/keys"), Some(json!({"name": role}))),
        "rotate_key" | "revoke_key" => {
            let key = admin(node, "POST", "/admin/v1/deployments/iris/keys", json!({"name": "k"})).await;
            let path = format!("/admin/v1/deployments/iris/keys/{}", key["key"]["id"]);
            if id == "rotate_key" {
                ("POST", format!("{path}/rotate"), Some(json!({"overlap_seconds": 0})))
            } else {
                ("POST", format!("{path}/revoke"), None)
            }
        }
        "get_protection" => ("GET", p("/admin/v1/deployments/iris/protection"), None),
        "set_protection" => ("PUT", p("/admin/v1/deployments/iris/protection"), Some(json!({"protected": false}))),
        "service_approvals" => ("GET", p("/admin/v1/deployments/guarded/approvals"), None),
        "list_approvals" => ("GET", p("/admin/v1/approvals?pending=true"), None),
        "request_approval" => (
            "POST",
            p("/admin/v1/deployments/guarded/approvals"),
            Some(json!({"kind": "deploy", "payload": {"mode": "single", "generation": "v2"}, "reason": "matrix"})),
        ),
        "list_scenarios" => ("GET", p("/admin/v1/scenarios"), None),
        "save_scenario" => ("POST", p("/admin/v1/scenarios"), Some(noop_scenario(&format!("saved_by_{role}")))),
        "validate_scenario" => ("POST", p("/admin/v1/scenarios/validate"), Some(noop_scenario("check"))),
        "get_scenario" => ("GET", p("/admin/v1/scenarios/noop"), None),
        "delete_scenario" => {
            admin(node, "POST", "/admin/v1/scenarios", noop_scenario("doomed")).await;
            ("DELETE", p("/admin/v1/scenarios/doomed"), None)
        }
        "next_fires" => ("GET", p("/admin/v1/scenarios/noop/next"), None),
        "scenario_runs" => ("GET", p("/admin/v1/scenarios/noop/runs"), None),
        "start_run" => ("POST", p("/admin/v1/scenarios/noop/runs"), None),
        "scenario_run" => ("GET", p("/admin/v1/scenarios/noop/runs/1"), None),
        "cancel_run" => {
            let run = admin(node, "POST", "/admin/v1/scenarios/sleeper/runs", json!({})).await;
            ("POST", format!("/admin/v1/scenarios/sleeper/runs/{}/cancel", run["id"]), None)
        }
        "get_capture" => ("GET", p("/admin/v1/deployments/iris/capture"), None),
        "set_capture" => ("PUT", p("/admin/v1/deployments/iris/capture"), Some(json!({"policy": {"percent": 100}}))),
        "capture_rows" => ("GET", p("/admin/v1/deployments/iris/capture/rows?limit=5"), None),
        "export_capture" => ("GET", p("/admin/v1/deployments/iris/capture/export?format=jsonl"), None),
        "list_replays" => ("GET", p("/admin/v1/deployments/iris/replays"), None),
        "start_replay" | "get_replay" | "cancel_replay" => {
            captured(node).await;
            if id == "start_replay" {
                return ("POST", p("/admin/v1/deployments/iris/replays"), Some(json!({"version": "v1"})));
            }
            let replay = admin(node, "POST", "/admin/v1/deployments/iris/replays", json!({"version": "v1"})).await;
            let path = format!("/admin/v1/deployments/iris/replays/{}", replay["id"]);
            if id == "get_replay" { ("GET", path, None) } else { ("POST", format!("{path}/cancel"), None) }
        }
        "list_principals" => ("GET", p("/admin/v1/users"), None),
        "get_principal" => ("GET", p("/admin/v1/users/victim"), None),
        "create_principal" => {
            ("POST", p("/admin/v1/users"), Some(json!({"name": format!("new_{role}"), "roles": [{"role": "viewer"}]})))
        }
        "remove_principal" | "set_roles" => {
            let name = format!("{id}_{role}");
            admin(node, "POST", "/admin/v1/users", json!({"name": name, "roles": [{"role": "viewer"}]})).await;
            if id == "set_roles" {
                ("PUT", format!("/admin/v1/users/{name}/roles"), Some(json!({"roles": [{"role": "deployer"}]})))
            } else {
                ("DELETE", format!("/admin/v1/users/{name}"), None)
            }
        }
        "create_token" => ("POST", p("/admin/v1/users/victim/tokens"), Some(json!({"name": role}))),
        "revoke_token" => {
            let token = admin(node, "POST", "/admin/v1/users/victim/tokens", json!({"name": "t"})).await;
            ("POST", format!("/admin/v1/users/victim/tokens/{}/revoke", token["token"]["id"]), None)
        }
        "list_webhooks" => ("GET", p("/admin/v1/webhooks"), None),
        "webhook_deliveries" => ("GET", p("/admin/v1/webhooks/deliveries?limit=5"), None),
        // Port 9 (discard) has no listener here: a permitted test send fails fast, recorded.
        "create_webhook" => {
            ("POST", p("/admin/v1/webhooks"), Some(json!({"url": format!("http://127.0.0.1:9/{role}")})))
        }
        "remove_webhook" | "test_webhook" => {
            let hook = admin(node, "POST", "/admin/v1/webhooks", json!({"url": "http://127.0.0.1:9/matrix"})).await;
            if id == "remove_webhook" {
                ("DELETE", format!("/admin/v1/webhooks/{}", hook["id"]), None)
            } else {
                ("POST", format!("/admin/v1/webhooks/{}/test", hook["id"]), None)
            }
        }
        "audit" => ("GET", p("/admin/v1/audit?limit=5"), None),
        "verify_audit" => ("GET", p("/admin/v1/audit/verify"), None),
        "artifact_store" => ("GET", p("/admin/v1/artifacts"), None),
        "collect_garbage" => ("POST", p("/admin/v1/artifacts/gc"), Some(json!({"dry_run": true}))),
        other => panic!("the matrix has no request for admin operation '{other}': add one to tests/it/people.rs"),
    }
}

/// Makes sure iris has a captured request to replay (capture at 100 %, one prediction, the
/// writer's row in the registry).
async fn captured(node: &TestNode) {
    let (_, status) = call(node, None, "GET", "/admin/v1/deployments/iris/capture", None).await;
    if status["stored"].as_i64().unwrap_or(0) > 0 {
        return;
    }
    admin(node, "PUT", "/admin/v1/deployments/iris/capture", json!({"policy": {"percent": 100}})).await;
    assert_eq!(node.predict("iris", &iris_row()).await.status(), 200);
    wait_until("the captured row", Duration::from_secs(60), Duration::from_millis(20), async || {
        let (_, status) = call(node, None, "GET", "/admin/v1/deployments/iris/capture", None).await;
        status["stored"].as_i64().unwrap_or(0) > 0
    })
    .await;
}

/// Undoes what a call (allowed or not) left running, so the next role starts alike.
async fn after(node: &TestNode, id: &str) {
    match id {
        "start_canary" | "canary_action" => {
            let _ = call(node, None, "POST", "/admin/v1/deployments/iris/canary/abort", None).await;
        }
        "start_run" => run_over(node, "noop").await,
        "cancel_run" => {
            let (_, runs) = call(node, None, "GET", "/admin/v1/scenarios/sleeper/runs", None).await;
            let _ =
                call(node, None, "POST", &format!("/admin/v1/scenarios/sleeper/runs/{}/cancel", runs[0]["id"]), None)
                    .await;
            run_over(node, "sleeper").await;
        }
        _ => {}
    }
}

/// Whether a concrete path is an instance of a route template.
fn instance_of(template: &str, path: &str) -> bool {
    let path = path.split('?').next().unwrap_or(path);
    let (t, p): (Vec<&str>, Vec<&str>) = (template.split('/').collect(), path.split('/').collect());
    t.len() == p.len() && t.iter().zip(&p).all(|(t, p)| t == p || (t.starts_with('{') && !p.is_empty()))
}

/// Every admin route of the node's route table, called as every role: 2xx when the role has
/// the permission the route declares, else 403 naming it. Generated from the table the node
/// checks, so a new route is in the matrix (and fails it until it has a request here).
#[tokio::test]
async fn every_admin_route_answers_each_role_as_declared() {
    let node = spawn_node().await;
    node.with_iris().await;
    node.deploy_ok("iris", json!({"mode": "single", "generation": "v2"})).await;
    node.create_service("guarded").await;
    assert_eq!(node.upload_ok("guarded", "iris_logreg.onnx").await, "v1");
    assert_eq!(node.upload_ok("guarded", "iris_mlp.onnx").await, "v2");
    node.deploy_ok("guarded", json!({"mode": "single", "generation": "v1"})).await;
    admin(&node, "PUT", "/admin/v1/deployments/guarded/protection", json!({"protected": true})).await;
    admin(&node, "POST", "/admin/v1/scenarios", noop_scenario("noop")).await;
    admin(&node, "POST", "/admin/v1/scenarios/noop/runs", json!({})).await;
    run_over(&node, "noop").await;
    let sleeper = json!({"name": "sleeper", "steps": [{"kind": "run_command", "name": "wait", "command": "sleep 60", "timeout_seconds": 120}]});
    admin(&node, "POST", "/admin/v1/scenarios", sleeper).await;
    admin(&node, "POST", "/admin/v1/users", json!({"name": "victim", "roles": [{"role": "viewer"}]})).await;
    admin(&node, "POST", "/admin/v1/deployments/iris/canary", plan()).await;
    admin(&node, "POST", "/admin/v1/deployments/iris/canary/abort", json!({})).await;
    let requester = principal(&node, "requester", json!([{"role": "deployer"}])).await;
    // Requests that roles approve or reject come from a principal none of them is.
    let mut tokens = Vec::new();
    for role in Role::ALL {
        let name = format!("as_{}", role.as_str());
        tokens.push((role, principal(&node, &name, json!([{"role": role.as_str()}])).await));
    }

    let table = switchyard::node::admin_permissions();
    assert!(table.len() >= 45, "{} admin operations", table.len());
    let mut checked = 0;
    for (method, template, id, permission) in &table {
        for (role, token) in &tokens {
            let (m, path, body) = prepare_as(&node, id, role.as_str(), &requester).await;
            assert_eq!(m, method, "{id}: the matrix calls {m}, the route is {method}");
            assert!(instance_of(template, &path), "{id}: {path} is not an instance of {template}");
            let (status, answer) = if id == "create_version" {
                upload_as(&node, token, role.as_str()).await
            } else {
                call(&node, Some(token), m, &path, body.as_ref()).await
            };
            if role.permits(*permission) && id.contains("mlflow") {
                assert_eq!(
                    (status, answer["error"]["code"].as_str()),
                    (409, Some("mlflow_not_configured")),
                    "{id} as {role:?}"
                );
            } else if role.permits(*permission) {
                assert!((200..300).contains(&status), "{id} as {role:?}: {status} {answer}");
            } else {
                assert_eq!(status, 403, "{id} as {role:?}: {answer}");
                assert_eq!(answer["error"]["code"], "forbidden", "{id} as {role:?}");
                let message = answer["error"]["message"].as_str().unwrap_or_default();
                assert!(message.contains(&format!("'{}' permission", permission.as_str())), "{id}: {message}");
            }
            after(&node, id).await;
            checked += 1;
        }
    }
    assert_eq!(checked, table.len() * Role::ALL.len());
    // Each role got the answers above, and the document says what each route needs.
    let doc: Value = node.get_json("/openapi.json").await;
    for (method, template, id, permission) in &table {
        let op = &doc["paths"][template.as_str()][method.to_lowercase()];
        assert_eq!(op["x-permission"], permission.as_str(), "{id}");
        assert!(op["responses"]["403"].is_object(), "{id}: no 403 answer documented");
    }
}

/// v1 or v2, whichever does not serve `service` alone now: deploying it changes the live
/// config (the same config again is refused as `unchanged`).
async fn other_than_live(node: &TestNode, service: &str) -> &'static str {
    let live: Value = node.get_json(&format!("/admin/v1/deployments/{service}")).await;
    if live["config"]["generation"] == "v1" { "v2" } else { "v1" }
}

/// [`prepare`], with approval requests made by `requester`.
async fn prepare_as(node: &TestNode, id: &str, role: &str, requester: &str) -> (&'static str, String, Option<Value>) {
    if id == "approve" || id == "reject" {
        // A change of the live config (an approved one is deployed; the same config again
        // would be refused as `unchanged`).
        let other = other_than_live(node, "guarded").await;
        let body = json!({"kind": "deploy", "payload": {"mode": "single", "generation": other}, "reason": "matrix"});
        let (status, request) =
            call(node, Some(requester), "POST", "/admin/v1/deployments/guarded/approvals", Some(&body)).await;
        assert_eq!(status, 202, "{request}");
        return ("POST", format!("/admin/v1/deployments/guarded/approvals/{}/{id}", request["id"]), Some(json!({})));
    }
    prepare(node, id, role).await
}

async fn upload_as(node: &TestNode, token: &str, role: &str) -> (u16, Value) {
    let meta = json!({"id": format!("by_{role}"), "notes": "matrix"}).to_string();
    let form = reqwest::multipart::Form::new()
        .part("model", reqwest::multipart::Part::bytes(fixture("iris_logreg.onnx")).file_name("m.onnx"))
        .text("meta", meta);
    let r = node.http.post(node.url("/admin/v1/services/iris/versions")).bearer_auth(token).multipart(form);
    let r = r.send().await.expect("send");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// A deployer scoped to `churn_*` deploys churn services, is refused on `iris_classifier`
/// (403 naming the permission and the service), and `/me` says so per service.
#[tokio::test]
async fn a_scoped_role_covers_only_matching_services() {
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let node = spawn_node_on(tempfile::tempdir().expect("tempdir"), &clock).await;
    for service in ["churn_eu", "iris_classifier"] {
        node.create_service(service).await;
        node.upload_ok(service, "iris_logreg.onnx").await;
        node.upload_ok(service, "iris_mlp.onnx").await;
        node.deploy_ok(service, json!({"mode": "single", "generation": "v1"})).await;
    }
    let dee = principal(&node, "dee", json!([{"role": "deployer", "scope": "churn_*"}, {"role": "viewer"}])).await;
    let deploy = json!({"config": {"mode": "single", "generation": "v2"}, "reason": "scoped"});

    let (status, answer) = call(&node, Some(&dee), "PUT", "/admin/v1/deployments/churn_eu", Some(&deploy)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["author"], "dee", "the revision names the principal");
    let (status, answer) = call(&node, Some(&dee), "PUT", "/admin/v1/deployments/iris_classifier", Some(&deploy)).await;
    assert_eq!(status, 403, "{answer}");
    let message = answer["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("'deploy' permission on service 'iris_classifier'"), "{message}");
    // Reading stays open through the unscoped viewer role; creating services needs manage.
    assert_eq!(call(&node, Some(&dee), "GET", "/admin/v1/deployments/iris_classifier", None).await.0, 200);
    assert_eq!(call(&node, Some(&dee), "POST", "/admin/v1/services", Some(&json!({"name": "churn_x"}))).await.0, 403);

    let (_, me) = call(&node, Some(&dee), "GET", "/admin/v1/me", None).await;
    assert_eq!(me["principal"], "dee");
    assert_eq!(me["services"]["churn_eu"], json!(["read", "deploy"]));
    assert_eq!(me["services"]["iris_classifier"], json!(["read"]));
    assert_eq!(me["node"], json!(["read"]));

    // A wrong, revoked or expired token is 401, not someone.
    assert_eq!(call(&node, Some("sy_not_a_token"), "GET", "/admin/v1/me", None).await.0, 401);
    let (_, view) = call(&node, None, "GET", "/admin/v1/users/dee", None).await;
    let id = view["tokens"][0]["id"].as_i64().expect("token id");
    admin(&node, "POST", &format!("/admin/v1/users/dee/tokens/{id}/revoke"), json!({})).await;
    assert_eq!(call(&node, Some(&dee), "GET", "/admin/v1/me", None).await.0, 401);
    let short =
        admin(&node, "POST", "/admin/v1/users/dee/tokens", json!({"name": "short", "expires_in_seconds": 1})).await;
    let secret = short["secret"].as_str().expect("secret").to_owned();
    assert_eq!(call(&node, Some(&secret), "GET", "/admin/v1/me", None).await.0, 200);
    clock.advance(chrono::TimeDelta::seconds(1));
    assert_eq!(call(&node, Some(&secret), "GET", "/admin/v1/me", None).await.0, 401, "expired");
}

fn command_scenario(name: &str) -> Value {
    json!({"name": name, "steps": [{"kind": "run_command", "name": "hello", "command": "echo hello", "timeout_seconds": 30}]})
}

/// `run_command` steps need `run_commands` (admin) to save or run, on any node.
#[tokio::test]
async fn only_admins_save_or_run_commands() {
    let node = spawn_node().await;
    node.with_iris().await;
    let olga = principal(&node, "olga", json!([{"role": "operator"}])).await;
    let dee = principal(&node, "dee", json!([{"role": "deployer"}])).await;
    let root = principal(&node, "root", json!([{"role": "admin"}])).await;
    // The route needs `manage`; its commands need `run_commands` on top.
    for (token, lacks) in [(&olga, "run_commands"), (&dee, "manage")] {
        let (status, answer) =
            call(&node, Some(token), "POST", "/admin/v1/scenarios", Some(&command_scenario("cmd"))).await;
        assert_eq!(status, 403, "{answer}");
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(&format!("'{lacks}' permission")), "{answer}");
    }
    // Without commands the operator may save, and the deployer may run.
    let (status, answer) = call(&node, Some(&olga), "POST", "/admin/v1/scenarios", Some(&noop_scenario("plain"))).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(call(&node, Some(&dee), "POST", "/admin/v1/scenarios/plain/runs", None).await.0, 202);
    run_over(&node, "plain").await;
    let (status, answer) =
        call(&node, Some(&root), "POST", "/admin/v1/scenarios", Some(&command_scenario("cmd"))).await;
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = call(&node, Some(&dee), "POST", "/admin/v1/scenarios/cmd/runs", None).await;
    assert_eq!(status, 403, "{answer}");
    let (status, run) = call(&node, Some(&root), "POST", "/admin/v1/scenarios/cmd/runs", None).await;
    assert_eq!((status, run["trigger_detail"].as_str()), (202, Some("manual by root")), "{run}");
    run_over(&node, "cmd").await;
}

/// A node bound beyond loopback refuses `run_command` steps, even from an admin, unless it
/// was started with `--allow-commands`; the refusal says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_beyond_loopback_refuses_commands_unless_allowed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "s3cret-admin-token-for-commands").expect("token");
    let token = token_file.to_str().expect("utf8");
    for (allow, data) in [(false, "refusing"), (true, "allowing")] {
        let data_dir = dir.path().join(data);
        let mut args = vec!["--bind", "0.0.0.0:0", "--admin-token-file", token];
        if allow {
            args.push("--allow-commands");
        }
        let node = crate::support::NodeProcess::start_with(&data_dir, false, &args);
        let http = reqwest::Client::new();
        let save = http
            .post(node.url("/admin/v1/scenarios"))
            .bearer_auth("s3cret-admin-token-for-commands")
            .json(&command_scenario("cmd"))
            .send()
            .await
            .expect("send");
        let status = save.status().as_u16();
        let body: Value = save.json().await.expect("json");
        if allow {
            assert_eq!(status, 200, "{body}");
        } else {
            assert_eq!(status, 403, "{body}");
            let message = body["error"]["message"].as_str().unwrap_or_default();
            assert!(message.contains("beyond loopback") && message.contains("--allow-commands"), "{message}");
        }
        node.stop();
    }
}
