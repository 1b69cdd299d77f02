//! The store goes down (a SeaweedFS of this test's own, killed): the nodes keep answering
//! every prediction, a rollback to a cached version works on every node, a deploy of a
//! version this node has not cached is refused with the store and the version named and
//! changes nothing; once the store is back, the same deploy succeeds.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use super::{S3, Weed, deploy, distinct_model, node_on, serving, upload};
use crate::support::{test_database, wait_until};

/// Both nodes serve `generation` at `revision`.
async fn everywhere(http: &reqwest::Client, nodes: [&str; 2], generation: &str, revision: i64) {
    let what = format!("{generation} (revision {revision}) served by both nodes");
    wait_until(&what, Duration::from_secs(20), Duration::from_millis(10), async || {
        for node in nodes {
            if serving(http, node).await != (200, generation.to_owned(), revision) {
                return false;
            }
        }
        true
    })
    .await;
}

async fn revision_count(http: &reqwest::Client, node: &str) -> usize {
    let v: Value = http
        .get(format!("{node}/admin/v1/deployments/iris_classifier/revisions"))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    v.as_array().expect("revisions").len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_store_down_nodes_keep_serving_roll_back_from_cache_and_refuse_uncached_versions() {
    if S3::shared().is_none() {
        return;
    }
    let mut weed = Weed::start().await;
    let s3 = weed.s3.clone();
    let url = s3.url("outage");
    let (dir_a, dir_b) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    let db = test_database(dir_a.path()).await;
    let a = node_on(dir_a.path(), &s3, &url, true, &["--database-url", &db, "--instance", "a"]);
    let b = node_on(dir_b.path(), &s3, &url, false, &["--database-url", &db, "--instance", "b"]);
    let http = reqwest::Client::new();
    let nodes = [a.url.as_str(), b.url.as_str()];

    // v2 deployed: both nodes have loaded (and cached) v1 and v2.
    everywhere(&http, nodes, "v1", 1).await;
    assert_eq!(deploy(&http, &a.url, "iris_classifier", "v2").await.0, 200);
    everywhere(&http, nodes, "v2", 2).await;
    // v3 is uploaded on A while the store is up; B has never loaded it.
    let (status, v3) = upload(&http, &a.url, "iris_classifier", distinct_model("iris_logreg.onnx", "outage-v3")).await;
    assert_eq!((status, v3["id"].as_str()), (201, Some("v3")), "{v3}");

    // Traffic on both nodes through the outage: every answer counted, none may fail.
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let traffic = {
        let (stop, ok, failed, http) = (Arc::clone(&stop), Arc::clone(&ok), Arc::clone(&failed), http.clone());
        let nodes = [a.url.clone(), b.url.clone()];
        tokio::spawn(async move {
            // Bounded: at most 100 000 requests, whatever happens.
            for i in 0..100_000usize {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let (status, _, _) = serving(&http, &nodes[i % 2]).await;
                if status == 200 { &ok } else { &failed }.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    };

    weed.stop();

    // B cannot load v3: refused, naming the store and the version; nothing changes.
    let (status, body) = deploy(&http, &b.url, "iris_classifier", "v3").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "artifact_store_unavailable", "{body}");
    let message = body["error"]["message"].as_str().expect("message");
    assert!(message.contains(&url) && message.contains("version v3 of 'iris_classifier'"), "{message}");
    assert!(!message.contains("127.0.0.1"), "the store's own error stays in the log: {message}");
    for node in nodes {
        assert_eq!(revision_count(&http, node).await, 2, "{node}");
        assert_eq!(serving(&http, node).await, (200, "v2".to_owned(), 2), "{node}");
    }

    // Rolling back to v1 (cached on both) works, on B and on A, which follows it.
    let r = http
        .post(b.url("/admin/v1/deployments/iris_classifier/rollback"))
        .json(&json!({"reason": "store down"}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    everywhere(&http, nodes, "v1", 3).await;

    // The store is back: the same deploy succeeds, and both nodes serve v3.
    weed.restart().await;
    let (status, body) = deploy(&http, &b.url, "iris_classifier", "v3").await;
    assert_eq!(status, 200, "{body}");
    everywhere(&http, nodes, "v3", 4).await;

    stop.store(true, Ordering::SeqCst);
    traffic.await.expect("traffic");
    let (ok, failed) = (ok.load(Ordering::SeqCst), failed.load(Ordering::SeqCst));
    println!("predictions through the outage: {ok} answered, {failed} failed");
    assert_eq!(failed, 0, "no prediction may fail while the store is down");
    assert!(ok > 20, "the traffic ran through the outage ({ok} answers)");
    for node in [a, b] {
        assert!(!node.log().contains("panicked"), "{}", node.log());
        node.stop();
    }
}
