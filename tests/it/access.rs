//! Per-deployment access control over HTTP: modes, keys shown once and stored hashed,
//! rotation with an overlap, revocation, refusals counted before any model runs, and the
//! same rules on the OIP routes, the CLI and run-and-test.

use std::sync::Arc;

use serde_json::{Value, json};
use switchyard::auth::{AuthMode, ClientCredential};
use switchyard::client::NodeClient;
use switchyard::clock::{Clock, ManualClock};
use switchyard::runtest::{RunRequest, run};

use switchyard::registry::artifacts::sha256_hex;

use crate::cli::cli;
use crate::support::{AtRest, TestNode, error_code, iris_row, spawn_node, spawn_node_on};

/// The name of the first key: distinctive, so that a scan of the registry finds it.
const KEY_NAME: &str = "ci-pipeline-7c1e";

impl TestNode {
    async fn admin(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self.http.request(method, self.url(&format!("/admin/v1{path}")));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.expect("send");
        (r.status().as_u16(), r.json().await.expect("json"))
    }

    async fn predict_with(
        &self,
        service: &str,
        auth: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
    ) -> reqwest::Response {
        let req = self.http.post(self.url(&format!("/v1/services/{service}/predict")));
        auth(req.json(&json!({"features": iris_row()}))).send().await.expect("send")
    }
}

async fn new_key(node: &TestNode, name: &str) -> (i64, String) {
    let (status, body) = node.admin(reqwest::Method::POST, "/deployments/iris/keys", Some(json!({"name": name}))).await;
    assert_eq!(status, 201, "{body}");
    let secret = body["secret"].as_str().expect("secret").to_owned();
    assert!(secret.starts_with("sy_"), "{secret}");
    assert_eq!(body["key"]["prefix"].as_str().expect("prefix"), &secret[..9]);
    (body["key"]["id"].as_i64().expect("id"), secret)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_guard_predictions_and_rotate_without_a_gap() {
    let node = spawn_node().await;
    node.with_iris().await;

    // No keys: api_key mode would lock everyone out, so it is refused.
    let (status, body) =
        node.admin(reqwest::Method::PUT, "/deployments/iris/auth", Some(json!({"mode": "api_key"}))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("invalid_config")), "{body}");
    assert!(body["error"]["message"].as_str().expect("msg").contains("create a key first"));

    let (id, secret) = new_key(&node, KEY_NAME).await;
    let (status, view) =
        node.admin(reqwest::Method::PUT, "/deployments/iris/auth", Some(json!({"mode": "api_key"}))).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["mode"], "api_key");
    // The secret is never listed (nor stored: checked at the end).
    assert!(!view.to_string().contains(&secret));

    // Missing, wrong and mistyped credentials: 401 with a challenge, no prediction made.
    let before =
        node.engine.monitor("iris", 5).await.expect("monitor").generations.iter().map(|g| g.requests).sum::<u64>();
    let r = node.predict("iris", &iris_row()).await;
    assert_eq!(r.headers()["www-authenticate"], "Bearer realm=\"switchyard\"");
    let (status, code, message) = error_code(r).await;
    assert_eq!((status, code.as_str()), (401, "unauthorized"));
    assert!(message.contains("x-api-key"), "{message}");
    let wrong = format!("{}x", &secret[..secret.len() - 1]);
    assert_eq!(node.predict_with("iris", |r| r.bearer_auth(&wrong)).await.status(), 401);
    assert_eq!(node.predict_with("iris", |r| r.basic_auth("ci", Some(&secret))).await.status(), 401);
    assert_eq!(node.predict_with("iris", |r| r.header("authorization", "Token abc")).await.status(), 401);
    // Auth is checked before the body is read: a bad body without a key is still 401.
    let r = node.http.post(node.url("/v1/services/iris/predict")).body("{not json").send().await.expect("send");
    assert_eq!(r.status(), 401);
    let after =
        node.engine.monitor("iris", 5).await.expect("monitor").generations.iter().map(|g| g.requests).sum::<u64>();
    assert_eq!(before, after, "a refused request reached the router");

    // Both ways of sending the key work.
    assert_eq!(node.predict_with("iris", |r| r.bearer_auth(&secret)).await.status(), 200);
    assert_eq!(node.predict_with("iris", |r| r.header("x-api-key", &secret)).await.status(), 200);
    // Feedback is the deployment's API too.
    let r = node
        .http
        .post(node.url("/v1/services/iris/feedback"))
        .json(&json!({"request_id": "x", "outcome": 1}))
        .send()
        .await;
    assert_eq!(r.expect("send").status(), 401);

    // Refusals are counted, in the access view and in /metrics.
    let (_, view) = node.admin(reqwest::Method::GET, "/deployments/iris/auth", None).await;
    assert_eq!(view["failures"], 6, "{view}");
    let metrics = node.http.get(node.url("/metrics")).send().await.expect("send").text().await.expect("text");
    assert!(metrics.contains("switchyard_auth_failures_total{service=\"iris\"} 6"), "{metrics}");

    // Rotation: both secrets work during the overlap; with no overlap the old one stops.
    let (status, rotated) = node
        .admin(
            reqwest::Method::POST,
            &format!("/deployments/iris/keys/{id}/rotate"),
            Some(json!({"overlap_seconds": 3600})),
        )
        .await;
    assert_eq!(status, 201, "{rotated}");
    let new_secret = rotated["secret"].as_str().expect("secret").to_owned();
    let new_id = rotated["key"]["id"].as_i64().expect("id");
    assert_eq!(rotated["key"]["name"], KEY_NAME);
    assert_eq!(node.predict_with("iris", |r| r.bearer_auth(&secret)).await.status(), 200);
    assert_eq!(node.predict_with("iris", |r| r.bearer_auth(&new_secret)).await.status(), 200);
    let (_, view) = node.admin(reqwest::Method::GET, "/deployments/iris/auth", None).await;
    assert_eq!(view["keys"][0]["status"], "expiring", "{view}");
    assert_eq!(view["keys"][1]["status"], "active", "{view}");

    let (status, again) = node
        .admin(
            reqwest::Method::POST,
            &format!("/deployments/iris/keys/{new_id}/rotate"),
            Some(json!({"overlap_seconds": 0})),
        )
        .await;
    assert_eq!(status, 201, "{again}");
    let third = again["secret"].as_str().expect("secret").to_owned();
    assert_eq!(node.predict_with("iris", |r| r.bearer_auth(&new_secret)).await.status(), 401);
    assert_eq!(node.predict_with("iris", |r| r.bearer_auth(&third)).await.status(), 200);

    // Revocation is immediate, even for the last usable key.
    let third_id = again["key"]["id"].as_i64().expect("id");
    let (status, view) =
        node.admin(reqwest::Method::POST, &format!("/deployments/iris/keys/{third_id}/revoke"), None).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["keys"][2]["status"], "revoked");
    assert_eq!(node.predict_with("iris", |r| r.bearer_auth(&third)).await.status(), 401);
    let (status, body) =
        node.admin(reqwest::Method::POST, &format!("/deployments/iris/keys/{third_id}/revoke"), None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("invalid_input")));

    // Bad requests on the admin side are typed errors.
    let (status, body) =
        node.admin(reqwest::Method::PUT, "/deployments/iris/auth", Some(json!({"mode": "oauth"}))).await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = node.admin(reqwest::Method::POST, "/deployments/iris/keys", Some(json!({"name": "a:b"}))).await;
    assert_eq!(status, 400);
    let (status, _) = node.admin(reqwest::Method::GET, "/deployments/nothing/auth", None).await;
    assert_eq!(status, 404);
    let (status, _) = node
        .admin(reqwest::Method::POST, "/deployments/iris/keys/1/rotate", Some(json!({"overlap_seconds": 31 * 86_400})))
        .await;
    assert_eq!(status, 400);

    // Mode and keys survive a restart; a rollback does not change who may call.
    let dir = node.stop().await;
    let node = crate::support::spawn_node_in(dir, Default::default(), false).await;
    assert_eq!(node.predict("iris", &iris_row()).await.status(), 401);
    let (id, web_secret) = new_key(&node, "web").await;
    assert!(id > 3);
    node.deploy_ok("iris", json!({"mode": "single", "generation": "v2"})).await;
    let r =
        node.http.post(node.url("/admin/v1/deployments/iris/rollback")).json(&json!({})).send().await.expect("send");
    assert_eq!(r.status(), 200);
    assert_eq!(node.predict("iris", &iris_row()).await.status(), 401);
    assert_eq!(node.predict_with("iris", |r| r.bearer_auth(&web_secret)).await.status(), 200);

    // No secret is at rest anywhere: not in any file of the data directory (the registry,
    // its WAL, artifacts) nor, on PostgreSQL, in any row of any table. The same scan finds
    // what is stored: the key's name and a secret's SHA-256 digest.
    let secrets = [secret, new_secret, third, web_secret];
    for at_rest in [AtRest::read(node.dir.path()).await, AtRest::read(node.stop().await.path()).await] {
        assert!(!at_rest.places(KEY_NAME).is_empty(), "the scan does not see the registry's rows");
        assert!(!at_rest.places(&sha256_hex(secrets[0].as_bytes())).is_empty(), "no digest seen");
        for s in &secrets {
            assert_eq!(at_rest.places(s), Vec::<String>::new(), "a secret is stored in clear");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_mode_oip_run_and_test_and_cli() {
    let node = spawn_node().await;
    node.with_iris().await;
    let (_, secret) = new_key(&node, "checkout").await;
    let (status, _) = node.admin(reqwest::Method::PUT, "/deployments/iris/auth", Some(json!({"mode": "basic"}))).await;
    assert_eq!(status, 200);

    let r = node.predict_with("iris", |r| r.bearer_auth(&secret)).await;
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Basic realm=\"switchyard\"");
    assert_eq!(node.predict_with("iris", |r| r.basic_auth("checkout", Some(&secret))).await.status(), 200);
    assert_eq!(node.predict_with("iris", |r| r.basic_auth("other", Some(&secret))).await.status(), 401);

    // OIP: infer and metadata need the credentials (answered in the protocol's error shape);
    // health and readiness stay open for probes.
    let infer =
        json!({"inputs": [{"name": "float_input", "shape": [1, 4], "datatype": "FP32", "data": [5.1, 3.5, 1.4, 0.2]}]});
    let r = node.http.post(node.url("/v2/models/iris/infer")).json(&infer).send().await.expect("send");
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.expect("json");
    assert!(body["error"].is_string(), "{body}");
    let r = node
        .http
        .post(node.url("/v2/models/iris/infer"))
        .basic_auth("checkout", Some(&secret))
        .json(&infer)
        .send()
        .await;
    let r = r.expect("send");
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    assert_eq!(node.http.get(node.url("/v2/models/iris")).send().await.expect("send").status(), 401);
    assert_eq!(node.http.get(node.url("/v2/models/iris/ready")).send().await.expect("send").status(), 200);
    assert_eq!(node.http.get(node.url("/v2/health/ready")).send().await.expect("send").status(), 200);

    // Run-and-test sends what the mode asks for, like any client.
    let client = NodeClient::new(&node.url, None, "test").expect("client");
    let features = iris_row().as_object().expect("object").clone();
    let request = |credential| RunRequest {
        service: "iris".into(),
        features: features.clone(),
        count: 5,
        generation: None,
        credential,
        rows_csv: None,
    };
    let denied = run(&client, request(None), |_| {}).await.expect("run");
    assert_eq!(denied.errors, 5);
    assert_eq!(denied.results[0].error.as_ref().map(|e| e.code), Some(switchyard::ErrorCode::Unauthorized));
    let basic = ClientCredential::Basic { user: "checkout".into(), password: secret.clone() };
    let allowed = run(&client, request(Some(basic)), |_| {}).await.expect("run");
    assert_eq!(allowed.errors, 0);

    // The CLI: show, create, switch mode, predict with a key, revoke.
    let (ok, out, err) = cli(&node.url, &["auth", "show", "iris"]).await;
    assert!(ok, "{err}");
    assert!(out.contains("auth mode basic") && out.contains("checkout"), "{out}");
    let (ok, out, err) = cli(&node.url, &["auth", "create-key", "iris", "--name", "batch", "--json"]).await;
    assert!(ok, "{err}");
    let created: Value = serde_json::from_str(&out).expect("json");
    let batch_secret = created["secret"].as_str().expect("secret").to_owned();
    let (ok, _, err) = cli(&node.url, &["auth", "mode", "iris", "api_key"]).await;
    assert!(ok, "{err}");
    assert_eq!(node.engine.access("iris").await.expect("access").mode, AuthMode::ApiKey);
    let features = iris_row().to_string();
    let (ok, out, err) =
        cli(&node.url, &["predict", "iris", "--features", &features, "--api-key", &batch_secret]).await;
    assert!(ok, "{err}");
    assert!(out.contains("\"generation\": \"v1\""), "{out}");
    let (ok, _, err) = cli(&node.url, &["predict", "iris", "--features", &features]).await;
    assert!(!ok && err.contains("[unauthorized]") && err.contains("--api-key"), "{err}");
    let id = created["key"]["id"].as_i64().expect("id").to_string();
    let (ok, out, err) = cli(&node.url, &["auth", "rotate-key", "iris", &id, "--overlap", "10m"]).await;
    assert!(ok, "{err}");
    assert!(out.contains("shown this once"), "{out}");
    let (ok, out, err) = cli(&node.url, &["auth", "revoke-key", "iris", &id]).await;
    assert!(ok, "{err}");
    assert!(out.contains("revoked"), "{out}");
    let (ok, _, err) = cli(&node.url, &["predict", "iris", "--features", &features, "--api-key", &batch_secret]).await;
    assert!(!ok, "{err}");
    let (ok, _, err) = cli(&node.url, &["auth", "rotate-key", "iris", &id, "--overlap", "2 weeks"]).await;
    assert!(!ok && err.contains("not a duration"), "{err}");
    node.stop().await;
}

/// Rotates key `id` with an overlap; returns the new key's id and secret.
async fn rotate(node: &TestNode, id: i64, overlap_seconds: i64) -> (i64, String) {
    let path = format!("/deployments/iris/keys/{id}/rotate");
    let (status, body) =
        node.admin(reqwest::Method::POST, &path, Some(json!({"overlap_seconds": overlap_seconds}))).await;
    assert_eq!(status, 201, "{body}");
    (body["key"]["id"].as_i64().expect("id"), body["secret"].as_str().expect("secret").to_owned())
}

/// The statuses of a deployment's keys, in creation order.
async fn key_statuses(node: &TestNode) -> Vec<String> {
    let (_, view) = node.admin(reqwest::Method::GET, "/deployments/iris/auth", None).await;
    view["keys"].as_array().expect("keys").iter().map(|k| k["status"].as_str().expect("status").to_owned()).collect()
}

/// A rotated key works until its overlap ends by the engine's clock, and not a moment longer;
/// the new key works throughout, also after a restart. The clock is moved, not waited for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_key_works_until_its_overlap_ends() {
    let clock = Arc::new(ManualClock::new("2026-03-02T09:00:00Z".parse().expect("time")));
    let node = spawn_node_on(tempfile::tempdir().expect("tempdir"), &clock).await;
    node.with_iris().await;
    let (id, old) = new_key(&node, "ci").await;
    let (status, _) =
        node.admin(reqwest::Method::PUT, "/deployments/iris/auth", Some(json!({"mode": "api_key"}))).await;
    assert_eq!(status, 200);

    let (_, new) = rotate(&node, id, 3600).await;
    let (_, view) = node.admin(reqwest::Method::GET, "/deployments/iris/auth", None).await;
    assert_eq!(view["keys"][0]["expires_at"], "2026-03-02T10:00:00Z", "{view}");
    assert_eq!(view["keys"][1]["name"], "ci", "the new key keeps the client's name: {view}");
    // (seconds the clock moves, then: the old key's answer, the keys' statuses)
    let timeline =
        [(0, 200, ["expiring", "active"]), (3599, 200, ["expiring", "active"]), (1, 401, ["expired", "active"])];
    for (seconds, old_answer, statuses) in timeline {
        clock.advance(chrono::Duration::seconds(seconds));
        let at = clock.now();
        assert_eq!(answers(&node, [&old, &new]).await, [old_answer, 200], "at {at}");
        assert_eq!(key_statuses(&node).await, statuses, "at {at}");
    }

    // Restarted on the same clock, the old key stays expired.
    let dir = node.stop().await;
    let node = spawn_node_on(dir, &clock).await;
    assert_eq!(answers(&node, [&old, &new]).await, [401, 200]);
    node.stop().await;
}

/// The status of a prediction sent with each of `secrets` as a bearer token.
async fn answers<const N: usize>(node: &TestNode, secrets: [&str; N]) -> [u16; N] {
    let mut out = [0; N];
    for (answer, secret) in out.iter_mut().zip(secrets) {
        *answer = node.predict_with("iris", |r| r.bearer_auth(secret)).await.status().as_u16();
    }
    out
}
