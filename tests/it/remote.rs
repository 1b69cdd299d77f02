//! A second node process as a remote infrastructure: the CLI deploys, rolls back and reads
//! history over its admin API with a token; a node bound beyond loopback without a token
//! refuses to start; a wrong token, a refused port or a port that accepts and never answers
//! is a clear error, not a hang.

use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use switchyard::ErrorCode;

use crate::support::{NodeProcess, bounded, iris_row};

const BIN: &str = env!("CARGO_BIN_EXE_switchyard");

/// The URL of a loopback port nothing listens on (connections are refused).
fn refused_port() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    format!("http://{}", listener.local_addr().expect("addr"))
}

/// The URL of a loopback port that accepts connections and never answers (a hung node).
/// The connections stay open until the test process ends.
fn silent_port() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    url
}

fn cli(url: &str, token_file: Option<&std::path::Path>, args: &[&str]) -> (bool, String, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(args).arg("--node").arg(url).env_remove("SWITCHYARD_TOKEN_FILE").env_remove("SWITCHYARD_NODE");
    if let Some(f) = token_file {
        cmd.arg("--token-file").arg(f);
    }
    let out = cmd.output().expect("run cli");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn served_by(node: &NodeProcess) -> String {
    let r = reqwest::Client::new()
        .post(node.url("/v1/services/iris_classifier/predict"))
        .json(&serde_json::json!({"features": iris_row()}))
        .send()
        .await
        .expect("send");
    let v: Value = r.json().await.expect("json");
    v["generation"].as_str().expect("generation").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_deploys_and_rolls_back_on_a_remote_node_with_a_token() {
    // Beyond loopback without a token: refused before listening.
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(BIN)
        .args(["serve", "--bind", "0.0.0.0:0", "--no-demo", "--data-dir"])
        .arg(dir.path())
        .output()
        .expect("run serve");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refusing to bind 0.0.0.0:0 without an admin token"), "{err}");

    let token = dir.path().join("token");
    std::fs::write(&token, "s3cret-admin-token\n").expect("token");
    let wrong = dir.path().join("wrong");
    std::fs::write(&wrong, "a-wrong-guess-of-the-token").expect("token");
    let node = NodeProcess::start_with(
        &dir.path().join("registry"),
        true,
        &["--admin-token-file", token.to_str().expect("utf8")],
    );

    let (ok, _, err) = cli(&node.url, None, &["history", "iris_classifier"]);
    assert!(!ok && err.contains("[unauthorized]") && err.contains("--token-file"), "{err}");
    let (ok, _, err) = cli(&node.url, Some(&wrong), &["history", "iris_classifier"]);
    assert!(!ok && err.contains("[unauthorized]"), "{err}");

    let (ok, out, err) =
        cli(&node.url, Some(&token), &["deploy", "iris_classifier", "v2", "--reason", "remote deploy"]);
    assert!(ok, "{err}");
    assert!(out.contains("revision 2"), "{out}");
    assert_eq!(served_by(&node).await, "v2");
    let (ok, out, err) = cli(&node.url, Some(&token), &["rollback", "iris_classifier", "--reason", "remote rollback"]);
    assert!(ok, "{err}");
    assert!(out.contains("revision 3"), "{out}");
    assert_eq!(served_by(&node).await, "v1");
    let (ok, out, err) = cli(&node.url, Some(&token), &["history", "iris_classifier"]);
    assert!(ok, "{err}");
    assert!(out.contains("remote deploy") && out.contains("remote rollback"), "{out}");

    // An unreachable node is a clear error, not a hang: normally at once (a refused
    // connection); 60 s is 20 times the client's connect timeout.
    let dead = refused_port();
    let history = tokio::task::spawn_blocking(move || cli(&dead, Some(&token), &["history", "iris_classifier"]));
    let (ok, _, err) = bounded("the CLI against a refused port", Duration::from_secs(60), history).await.expect("join");
    assert!(!ok && err.contains("[node_unreachable]") && err.contains("cannot be reached"), "{err}");
    node.kill();
}

/// The console's view of a remote node: added with URL and token, checked, then deploy,
/// rollback, mapping checks, run-and-test and monitoring go over its admin API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_infrastructure_is_managed_like_the_local_node() {
    use switchyard::infra::{InfraState, Target};
    use switchyard::runtest::{RunRequest, run};

    let local = crate::support::spawn_node_in(tempfile::tempdir().expect("tempdir"), Default::default(), true).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let token = dir.path().join("token");
    std::fs::write(&token, "s3cret-admin-token").expect("token");
    let remote = NodeProcess::start_with(
        &dir.path().join("registry"),
        true,
        &["--admin-token-file", token.to_str().expect("utf8")],
    );
    let engine = &local.engine;

    let added =
        engine.add_infrastructure("prod", &format!("{}/", remote.url), Some("s3cret-admin-token")).await.expect("add");
    assert_eq!((added.url.as_str(), added.has_token), (remote.url.as_str(), true));
    let dup = engine.add_infrastructure("prod", &remote.url, None).await.expect_err("duplicate");
    assert_eq!(dup.code(), ErrorCode::AlreadyExists);
    assert_eq!(
        engine.add_infrastructure("bad", "10.0.0.1:80", None).await.expect_err("url").code(),
        ErrorCode::InvalidInput
    );
    engine.add_infrastructure("no-token", &remote.url, None).await.expect("add");
    engine.add_infrastructure("gone", &refused_port(), Some("x")).await.expect("add");
    engine.add_infrastructure("hung", &silent_port(), Some("x")).await.expect("add");
    let names: Vec<String> = engine.list_infrastructures().await.expect("list").into_iter().map(|i| i.name).collect();
    assert_eq!(names, ["gone", "hung", "no-token", "prod"]);

    let status = engine.infrastructure_status("prod").await.expect("status");
    assert_eq!((status.state, status.services), (InfraState::Online, Some(3)), "{}", status.message);
    assert_eq!(engine.infrastructure_status("no-token").await.expect("status").state, InfraState::Unauthorized);
    // Unreachable, refused or silent, within the check's own 5 s limit; 100 s (20 times
    // that) only catches a check that hangs.
    let bound = Duration::from_secs(100);
    let gone = bounded("status of a refused port", bound, engine.infrastructure_status("gone")).await.expect("status");
    assert_eq!(gone.state, InfraState::Unreachable, "{}", gone.message);
    assert!(gone.message.contains("cannot be reached"), "{}", gone.message);
    let hung = bounded("status of a silent port", bound, engine.infrastructure_status("hung")).await.expect("status");
    assert_eq!(hung.state, InfraState::Unreachable, "{}", hung.message);
    assert!(hung.message.contains("did not answer within 5 s"), "{}", hung.message);

    // Deploy, check a mapping, run and test, monitor and roll back: all on the remote node.
    let target = engine.target(Some("prod")).await.expect("target");
    assert!(matches!(target, Target::Remote(_)));
    // The console acts as its local user; the remote node knows it by its token: the bootstrap
    // admin, whom the revision names.
    let me = switchyard::auth::Principal::admin("console-user");
    let outcome = target.deploy_version(&me, "iris_classifier", "v2", "remote deploy").await.expect("deploy");
    let switchyard::engine::DeployOutcome::Deployed { revision: rev } = outcome else { panic!("{outcome:?}") };
    assert_eq!((rev.number, rev.author.as_str()), (2, "admin"));
    assert_eq!(served_by(&remote).await, "v2");
    // The local node's own iris_classifier did not move.
    let local_revisions = engine.target(None).await.expect("local").revisions("iris_classifier").await.expect("local");
    assert_eq!(local_revisions.len(), 1);
    let issues = target
        .validate_mapping("iris_classifier", r#"[{"generation":"v9","proba":0.5},{"generation":"v1","proba":0.5}]"#)
        .await
        .expect("validate");
    assert_eq!(issues.len(), 1, "{issues:?}");
    let Target::Remote(client) = &target else { unreachable!() };
    let features = iris_row().as_object().expect("object").clone();
    let request = RunRequest {
        service: "iris_classifier".into(),
        features,
        count: 20,
        generation: None,
        credential: None,
        rows_csv: None,
    };
    let report = run(client, request, |_| {}).await.expect("run");
    assert_eq!((report.errors, report.counts.get("v2")), (0, Some(&20)));
    let snapshot = target.monitor("iris_classifier", 5).await.expect("monitor");
    assert!(snapshot.generations.iter().any(|g| g.generation == "v2" && g.requests >= 21), "{snapshot:?}");
    let rev = target.rollback(&me, "iris_classifier", None, "remote rollback").await.expect("rollback");
    assert_eq!(rev.number, 3);
    assert_eq!(served_by(&remote).await, "v1");
    assert_eq!(target.revisions("iris_classifier").await.expect("revisions").len(), 3);

    // Settings → People on the remote node: its principals, managed with its admin token; the
    // local registry has none of them.
    use switchyard::auth::people::{Grant, Role};
    let viewer = [Grant { role: Role::Viewer, scope: "*".into() }];
    target.create_principal(&me, "vera", &viewer).await.expect("create");
    let token = target.create_token(&me, "vera", "console", None).await.expect("token");
    let names =
        |list: Vec<switchyard::auth::people::PrincipalView>| list.into_iter().map(|p| p.name).collect::<Vec<_>>();
    assert_eq!(names(target.list_principals(&me).await.expect("list")), ["vera"]);
    assert!(names(engine.target(None).await.expect("local").list_principals(&me).await.expect("local")).is_empty());
    // The token works on the remote node as vera, who may not manage people there.
    engine.add_infrastructure("prod-vera", &remote.url, Some(&token.secret)).await.expect("add");
    let as_vera = engine.target(Some("prod-vera")).await.expect("target");
    assert_eq!(as_vera.capabilities(&me).await.expect("me").principal, "vera");
    let refused = as_vera.list_principals(&me).await.expect_err("viewer");
    assert_eq!(refused.code(), ErrorCode::Forbidden, "{refused}");
    let revoked = target.revoke_token(&me, "vera", token.token.id).await.expect("revoke");
    assert!(revoked.tokens[0].revoked_at.is_some());
    assert_eq!(engine.infrastructure_status("prod-vera").await.expect("status").state, InfraState::Unauthorized);
    let operator = [Grant { role: Role::Operator, scope: "iris_*".into() }];
    assert_eq!(target.set_roles(&me, "vera", &operator).await.expect("roles").grants, operator);
    assert!(target.remove_principal(&me, "vera").await.expect("remove").removed_at.is_some());

    engine.remove_infrastructure("gone").await.expect("remove");
    engine.remove_infrastructure("hung").await.expect("remove");
    assert_eq!(engine.target(Some("gone")).await.err().map(|e| e.code()), Some(ErrorCode::InvalidInput));
    remote.kill();
    local.stop().await;
}

/// A node that accepts the connection and never answers: the CLI and the client library end
/// with a timeout error naming the node, at their request timeout (`--timeout`, here 2 s;
/// 120 s by default). The bound, 20 times that, only catches a hang.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_accepts_and_never_answers_is_a_timeout_error() {
    use switchyard::client::NodeClient;

    let silent = silent_port();
    let timeout = Duration::from_secs(2);
    let bound = 20 * timeout;
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.args(["history", "iris_classifier", "--node", &silent, "--timeout", "2"])
        .env_remove("SWITCHYARD_TOKEN_FILE")
        .env_remove("SWITCHYARD_NODE")
        .kill_on_drop(true);
    let client = NodeClient::with_timeout(&silent, None, "test", timeout).expect("client");
    let (out, listed) = tokio::join!(
        bounded("the CLI against a silent node", bound, cmd.output()),
        bounded("NodeClient against a silent node", bound, client.list_services()),
    );
    let out = out.expect("run cli");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("[node_unreachable]") && err.contains("did not answer in time"), "{err}");
    assert!(err.contains(&silent), "the error names the node: {err}");
    let e = listed.expect_err("no answer");
    assert_eq!(e.code(), ErrorCode::NodeUnreachable, "{e}");
    assert!(e.to_string().contains("did not answer in time"), "{e}");
}
