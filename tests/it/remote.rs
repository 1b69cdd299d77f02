//! A second node process as a remote infrastructure: the CLI deploys, rolls back and reads
//! history over its admin API with a token; a node bound beyond loopback without a token
//! refuses to start; a wrong token or an unreachable node is a clear, quick error.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{NodeProcess, iris_row};

const BIN: &str = env!("CARGO_BIN_EXE_switchyard");

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

    // An unreachable node answers at once with a clear error, not a hang.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead = format!("http://{}", listener.local_addr().expect("addr"));
    drop(listener);
    let t = Instant::now();
    let (ok, _, err) = cli(&dead, Some(&token), &["history", "iris_classifier"]);
    assert!(!ok && err.contains("[node_unreachable]") && err.contains("cannot be reached"), "{err}");
    assert!(t.elapsed() < Duration::from_secs(30));
    node.kill();
}
