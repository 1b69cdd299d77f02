//! Three nodes on one PostgreSQL registry and one S3 bucket, each with a data dir of its own
//! (no shared directory): a version uploaded and deployed on A is fetched from the bucket by
//! B and C, hash checked, cached and served. The time from A's answer to the deploy until B
//! and C serve it is printed (bench/RESULTS.md records it); the wait is bounded at 20 s only
//! so that a hang fails.

use std::time::Duration;

use serde_json::Value;

use super::{S3, cached_sha, deploy, distinct_model, node_on, serving, sha_of, unique_prefix, upload};
use crate::support::{test_database, wait_until};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_share_one_registry_and_one_bucket_and_serve_the_same_bytes() {
    let Some(s3) = S3::shared() else { return };
    let dirs = [
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
    ];
    let db = test_database(dirs[0].path()).await;
    let prefix = unique_prefix("three-nodes");
    let url = s3.url(&prefix);
    let args = |instance: &'static str| ["--database-url", db.as_str(), "--instance", instance];
    let a = node_on(dirs[0].path(), &s3, &url, true, &args("a"));
    let b = node_on(dirs[1].path(), &s3, &url, false, &args("b"));
    let c = node_on(dirs[2].path(), &s3, &url, false, &args("c"));
    let http = reqwest::Client::new();

    // The demo's five artifacts went to the bucket; no node keeps an artifacts/ directory.
    assert_eq!(s3.artifacts(&prefix).await.len(), 5);
    for dir in &dirs {
        assert!(!dir.path().join("artifacts").exists(), "{}", dir.path().display());
    }
    // B and C fetched v1 from the bucket at start.
    for node in [&a, &b, &c] {
        assert_eq!(serving(&http, &node.url).await, (200, "v1".to_owned(), 1), "{}", node.url);
    }

    // A new version, uploaded on A: in the bucket (hash equal) before A answers.
    let (status, version) = upload(&http, &a.url, "iris_classifier", distinct_model("iris_mlp.onnx", &prefix)).await;
    assert_eq!(status, 201, "{version}");
    let (id, sha) =
        (version["id"].as_str().expect("id").to_owned(), version["sha256"].as_str().expect("sha").to_owned());
    assert_eq!(id, "v3");
    let stored = s3.object(&prefix, &sha).await.expect("the object is in the bucket");
    assert_eq!(switchyard::registry::artifacts::sha256_hex(&stored), sha);

    // Deployed on A; B and C fetch it and serve it.
    let (status, body) = deploy(&http, &a.url, "iris_classifier", "v3").await;
    assert_eq!(status, 200, "{body}");
    let took = wait_until("v3 served by B and C", Duration::from_secs(20), Duration::from_millis(5), async || {
        serving(&http, &b.url).await == (200, "v3".to_owned(), 2)
            && serving(&http, &c.url).await == (200, "v3".to_owned(), 2)
    })
    .await;
    println!("objstore: from the deploy's answer on A until B and C serve the new version: {took:?}");

    // The same bytes everywhere: each node's cached copy hashes to the registry's SHA-256.
    for (node, dir) in [&a, &b, &c].into_iter().zip(&dirs) {
        assert_eq!(sha_of(&http, &node.url, "iris_classifier", "v3").await, sha);
        assert_eq!(cached_sha(dir.path(), &sha), Some(sha.clone()), "{}", dir.path().display());
    }

    // Each node says where its artifacts live.
    let info: Value = http.get(c.url("/admin/v1/artifacts")).send().await.expect("send").json().await.expect("json");
    assert_eq!(
        (info["kind"].as_str(), info["location"].as_str(), info["shared"].as_bool()),
        (Some("s3"), Some(url.as_str()), Some(true)),
        "{info}"
    );
    assert!(info["cache"]["artifacts"].as_u64().is_some_and(|n| n >= 2), "{info}");

    for node in [a, b, c] {
        assert!(!node.log().contains("panicked"), "{}", node.log());
        node.stop();
    }
}
