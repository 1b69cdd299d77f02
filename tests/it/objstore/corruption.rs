//! An object overwritten in the bucket with other bytes: a node that has not cached the
//! version refuses to activate it (hash mismatch named) and changes nothing; nodes whose
//! cached copy is good keep serving it, across a restart too, and a node with a good copy
//! of the damaged version can still deploy it.

use std::time::Duration;

use object_store::PutPayload;
use serde_json::Value;

use super::{S3, cached_sha, deploy, distinct_model, node_on, serving, unique_prefix, upload};
use crate::support::{test_database, wait_until};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_object_is_refused_where_uncached_and_good_cached_copies_keep_serving() {
    let Some(s3) = S3::shared() else { return };
    let prefix = unique_prefix("corruption");
    let url = s3.url(&prefix);
    let (dir_a, dir_b) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    let db = test_database(dir_a.path()).await;
    let a = node_on(dir_a.path(), &s3, &url, true, &["--database-url", &db, "--instance", "a"]);
    let b_args = ["--database-url", db.as_str(), "--instance", "b"];
    let b = node_on(dir_b.path(), &s3, &url, false, &b_args);
    let http = reqwest::Client::new();

    // v3 serves on both nodes (both cached it); v4 is uploaded on A only (B never loads it).
    let (_, v3) =
        upload(&http, &a.url, "iris_classifier", distinct_model("iris_mlp.onnx", &format!("{prefix}-3"))).await;
    let (_, v4) =
        upload(&http, &a.url, "iris_classifier", distinct_model("iris_mlp.onnx", &format!("{prefix}-4"))).await;
    let sha = |v: &Value| v["sha256"].as_str().expect("sha").to_owned();
    let (sha3, sha4) = (sha(&v3), sha(&v4));
    assert_eq!(deploy(&http, &a.url, "iris_classifier", "v3").await.0, 200);
    wait_until("v3 served by B", Duration::from_secs(20), Duration::from_millis(10), async || {
        serving(&http, &b.url).await == (200, "v3".to_owned(), 2)
    })
    .await;
    assert_eq!(cached_sha(dir_b.path(), &sha3), Some(sha3.clone()));
    assert_eq!(cached_sha(dir_b.path(), &sha4), None);

    // Both objects are overwritten with other bytes.
    let bucket = s3.client();
    for sha in [&sha3, &sha4] {
        bucket.put(&S3::key(&prefix, sha), PutPayload::from_static(b"not the model")).await.expect("overwrite");
    }

    // B has no copy of v4: refused, hash mismatch named, nothing changes.
    let (status, body) = deploy(&http, &b.url, "iris_classifier", "v4").await;
    assert_eq!((status, body["error"]["code"].as_str()), (502, Some("artifact_corrupt")), "{body}");
    let message = body["error"]["message"].as_str().expect("message");
    assert!(message.starts_with("hash mismatch") && message.contains("version v4 of 'iris_classifier'"), "{message}");
    assert!(message.contains(&url), "{message}");
    assert_eq!(cached_sha(dir_b.path(), &sha4), None, "a corrupt download is never cached");
    for node in [&a.url, &b.url] {
        assert_eq!(serving(&http, node).await, (200, "v3".to_owned(), 2), "{node}");
    }

    // B's good copy of v3 keeps serving it, after a restart too (the bucket's copy is bad).
    b.kill();
    let b = node_on(dir_b.path(), &s3, &url, false, &b_args);
    assert_eq!(serving(&http, &b.url).await, (200, "v3".to_owned(), 2));

    // A, whose copy of v4 is good, deploys it; B cannot follow and keeps its config.
    let (status, body) = deploy(&http, &a.url, "iris_classifier", "v4").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(serving(&http, &a.url).await, (200, "v4".to_owned(), 3));
    wait_until("B reports the mismatch", Duration::from_secs(20), Duration::from_millis(20), async || {
        b.log().contains("hash mismatch")
    })
    .await;
    assert_eq!(serving(&http, &b.url).await, (200, "v3".to_owned(), 2));
    for node in [a, b] {
        assert!(!node.log().contains("panicked"), "{}", node.log());
        node.stop();
    }
}
