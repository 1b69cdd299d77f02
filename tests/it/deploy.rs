//! Deploy, rollback and the revision history through the admin API; the active config
//! survives a restart.

use serde_json::{Value, json};
use switchyard::node::NodeConfig;

use crate::support::{error_code, iris_row, spawn_node, spawn_node_in};

async fn get(node: &crate::support::TestNode, path: &str) -> Value {
    let r = node.http.get(node.url(path)).send().await.expect("send");
    assert_eq!(r.status(), 200);
    r.json().await.expect("json")
}

async fn rollback(node: &crate::support::TestNode, body: Value) -> reqwest::Response {
    node.http.post(node.url("/admin/v1/deployments/iris/rollback")).json(&body).send().await.expect("send")
}

async fn answering(node: &crate::support::TestNode) -> String {
    let r = node.predict("iris", &iris_row()).await;
    assert_eq!(r.status(), 200);
    r.headers()["x-switchyard-generation"].to_str().expect("ascii").to_owned()
}

#[tokio::test]
async fn deploy_rollback_and_history() {
    let node = spawn_node().await;
    node.with_iris().await; // revision 1: v1
    assert_eq!(answering(&node).await, "v1");
    let rev = node.deploy_ok("iris", json!({"mode": "single", "generation": "v2"})).await; // revision 2
    assert_eq!(rev["number"], 2);
    assert_eq!(answering(&node).await, "v2");

    // Roll back to the previous revision: a new revision 3 with revision 1's config.
    let r = rollback(&node, json!({"reason": "v2 looks wrong"})).await;
    assert_eq!(r.status(), 200);
    let rev: Value = r.json().await.expect("json");
    assert_eq!(
        (rev["number"].as_i64(), rev["kind"].as_str(), rev["rollback_of"].as_i64()),
        (Some(3), Some("rollback"), Some(1))
    );
    assert_eq!(rev["reason"], "v2 looks wrong (restores revision 1, the previous revision)");
    assert_eq!(answering(&node).await, "v1");

    // Roll back to an explicit revision.
    let r = rollback(&node, json!({"to_revision": 2})).await;
    let rev: Value = r.json().await.expect("json");
    assert_eq!(rev["number"], 4);
    assert_eq!(rev["reason"], "rollback: restores revision 2, chosen by the user");
    assert_eq!(answering(&node).await, "v2");

    let history = get(&node, "/admin/v1/deployments/iris/revisions").await;
    let numbers: Vec<i64> =
        history.as_array().expect("list").iter().map(|r| r["number"].as_i64().expect("n")).collect();
    assert_eq!(numbers, [1, 2, 3, 4]);
    assert_eq!(history[0]["config"], json!({"mode": "single", "generation": "v1", "sticky": false}));
    assert_eq!(history[2]["config"], history[0]["config"]);
    for r in history.as_array().expect("list") {
        assert!(r["author"].as_str().is_some_and(|a| !a.is_empty()));
        assert!(r["created_at"].as_str().is_some());
    }

    // Unknown revision, and rolling back to the active one, are refused without a change.
    let (status, code, _) = error_code(rollback(&node, json!({"to_revision": 99})).await).await;
    assert_eq!((status, code.as_str()), (404, "revision_not_found"));
    let (status, code, _) = error_code(rollback(&node, json!({"to_revision": 4})).await).await;
    assert_eq!((status, code.as_str()), (409, "unchanged"));
    assert_eq!(get(&node, "/admin/v1/deployments/iris").await["number"], 4);
}

#[tokio::test]
async fn a_change_that_changes_nothing_writes_no_revision() {
    let node = spawn_node().await;
    node.with_iris().await; // revision 1: v1
    node.deploy_ok("iris", json!({"mode": "single", "generation": "v2"})).await; // revision 2

    // Deploying the active config again is refused with `unchanged`, naming the revision.
    let (status, code, message) =
        error_code(node.deploy("iris", json!({"mode": "single", "generation": "v2", "sticky": false})).await).await;
    assert_eq!((status, code.as_str()), (409, "unchanged"));
    assert!(message.contains("revision 2") && message.contains("nothing to deploy"), "{message}");
    // Restoring a revision whose config is the active one is refused too.
    node.deploy_ok("iris", json!({"mode": "single", "generation": "v1"})).await; // revision 3
    let (status, code, message) = error_code(rollback(&node, json!({"to_revision": 1})).await).await;
    assert_eq!((status, code.as_str()), (409, "unchanged"), "{message}");
    let history = get(&node, "/admin/v1/deployments/iris/revisions").await;
    assert_eq!(history.as_array().expect("list").len(), 3, "no revision was written: {history}");

    // Any earlier revision with another config can be restored.
    let rev: Value = rollback(&node, json!({"to_revision": 2})).await.json().await.expect("json");
    assert_eq!((rev["number"].as_i64(), rev["rollback_of"].as_i64()), (Some(4), Some(2)));
    assert_eq!(answering(&node).await, "v2");
}

#[tokio::test]
async fn version_history_shows_what_is_live_and_since_when() {
    let node = spawn_node().await;
    node.with_iris().await;
    node.deploy_mapping("iris", &[("v2", 0.25), ("v1", 0.75)]).await;
    let versions = get(&node, "/admin/v1/services/iris/versions").await;
    let history = get(&node, "/admin/v1/deployments/iris/revisions").await;
    let v1 = &versions[0];
    let v2 = &versions[1];
    assert_eq!((v1["id"].as_str(), v1["live"].as_bool(), v1["share"].as_f64()), (Some("v1"), Some(true), Some(0.75)));
    assert_eq!(v1["live_since"], history[0]["created_at"], "v1 has served since revision 1");
    assert_eq!(v2["live_since"], history[1]["created_at"], "v2 since revision 2");
    assert_eq!(v1["served_in"], json!([1, 2]));
    assert_eq!(v2["share"], 0.25);

    node.deploy_ok("iris", json!({"mode": "single", "generation": "v2"})).await;
    let versions = get(&node, "/admin/v1/services/iris/versions").await;
    assert_eq!(versions[0]["live"], false);
    assert_eq!(versions[0]["live_since"], Value::Null);
    assert_eq!(versions[1]["share"], 1.0);
    assert_eq!(versions[1]["live_since"], history[1]["created_at"]);

    let services = get(&node, "/admin/v1/services").await;
    assert_eq!(services[0]["name"], "iris");
    assert_eq!(services[0]["version_count"], 2);
    assert_eq!(services[0]["deployment"]["number"], 3);
}

#[tokio::test]
async fn invalid_mapping_is_refused_and_changes_nothing() {
    let node = spawn_node().await;
    node.with_iris().await;
    let r = node
        .deploy(
            "iris",
            json!({"mode": "multiple", "mapping": [
                {"generation": "v2", "proba": 0.7}, {"generation": "v9", "proba": 0.3}
            ]}),
        )
        .await;
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["error"]["code"], "invalid_mapping");
    assert_eq!(body["error"]["details"][0]["index"], 1);
    assert_eq!(body["error"]["details"][0]["field"], "generation");
    assert!(body["error"]["message"].as_str().expect("message").contains("entry 1, generation"), "{body}");

    let r = node
        .deploy(
            "iris",
            json!({"mode": "multiple", "mapping": [
                {"generation": "v2", "proba": 0.7}, {"generation": "v1", "proba": 0.2}
            ]}),
        )
        .await;
    let (status, code, message) = error_code(r).await;
    assert_eq!((status, code.as_str()), (400, "invalid_mapping"));
    assert!(message.contains("sum to 0.9"), "{message}");

    let history = get(&node, "/admin/v1/deployments/iris/revisions").await;
    assert_eq!(history.as_array().expect("list").len(), 1);
    assert_eq!(answering(&node).await, "v1");
}

#[tokio::test]
async fn generations_must_take_the_same_features() {
    let node = spawn_node().await;
    node.with_iris().await;
    assert_eq!(node.upload_ok("iris", "diabetes_linear.onnx").await, "v3");
    let r = node
        .deploy(
            "iris",
            json!({"mode": "multiple", "mapping": [
                {"generation": "v1", "proba": 0.5}, {"generation": "v3", "proba": 0.5}
            ]}),
        )
        .await;
    let (status, code, message) = error_code(r).await;
    assert_eq!((status, code.as_str()), (400, "invalid_config"));
    assert!(message.contains("different features"), "{message}");
}

#[tokio::test]
async fn active_config_survives_restart() {
    let node = spawn_node().await;
    node.with_iris().await;
    node.deploy_ok("iris", json!({"mode": "single", "generation": "v2"})).await;
    let dir = node.stop().await;
    let node = spawn_node_in(dir, NodeConfig::default(), false).await;
    assert_eq!(answering(&node).await, "v2");
    assert_eq!(get(&node, "/admin/v1/deployments/iris").await["number"], 2);
    let ready = node.http.get(node.url("/v2/health/ready")).send().await.expect("send");
    assert_eq!(ready.status(), 200);
}

#[tokio::test]
async fn demo_registry_is_seeded_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = spawn_node_in(dir, NodeConfig::default(), true).await;
    let services = get(&node, "/admin/v1/services").await;
    let names: Vec<&str> =
        services.as_array().expect("list").iter().map(|s| s["name"].as_str().expect("name")).collect();
    assert_eq!(names, ["breast_cancer", "diabetes_progression", "iris_classifier"]);
    for s in services.as_array().expect("list") {
        assert!(s["deployment"].is_object(), "{s}");
    }
    let r = node.predict("iris_classifier", &iris_row()).await;
    assert_eq!(r.status(), 200);
    let dir = node.stop().await;
    let node = spawn_node_in(dir, NodeConfig::default(), true).await;
    let versions = get(&node, "/admin/v1/services/iris_classifier/versions").await;
    assert_eq!(versions.as_array().expect("list").len(), 2, "seeding twice would duplicate versions");
}

#[tokio::test]
async fn admin_token_is_required_when_configured() {
    let config = NodeConfig { admin_token: Some("s3cret-token-for-tests".into()), ..NodeConfig::default() };
    let node = spawn_node_in(tempfile::tempdir().expect("tempdir"), config, false).await;
    let r = node.http.get(node.url("/admin/v1/services")).send().await.expect("send");
    assert_eq!(error_code(r).await.1, "unauthorized");
    let r =
        node.http.get(node.url("/admin/v1/services")).bearer_auth("wrong-token-for-tests").send().await.expect("send");
    assert_eq!(r.status(), 401);
    let r =
        node.http.get(node.url("/admin/v1/services")).bearer_auth("s3cret-token-for-tests").send().await.expect("send");
    assert_eq!(r.status(), 200);
    // Predictions do not need the admin token.
    let r = node.predict("nothing", &iris_row()).await;
    assert_eq!(r.status(), 404);
    // Binding beyond loopback without a token is refused.
    let addr: std::net::SocketAddr = "0.0.0.0:8080".parse().expect("addr");
    assert!(switchyard::node::check_bind(&addr, &NodeConfig::default()).is_err());
}
