//! A node on an S3 store, killed with SIGKILL during uploads, 20 times. After each restart no
//! version row lacks its object (present, hash equal), every acknowledged upload has its row,
//! and `switchyard gc --dry-run` lists exactly the objects no row refers to, all of them
//! uploads that were never acknowledged. At the end `gc --grace 0s` deletes exactly those.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use switchyard::registry::artifacts::sha256_hex;

use super::{S3, cli, distinct_model, node_on, try_upload, unique_prefix, upload};
use crate::support::{NodeProcess, registry};

const ROUNDS: usize = 20;
const SERVICE: &str = "crashy";

/// The objects `gc` lists as unreferenced on the node at `url`.
async fn gc_dry_run(url: &str) -> BTreeSet<String> {
    let (ok, out, err) = cli(&["gc", "--dry-run", "--json", "--node", url], &[]).await;
    assert!(ok, "{err}");
    let report: Value = serde_json::from_str(&out).expect("gc report");
    assert_eq!(report["dry_run"], true);
    report["unreferenced"]
        .as_array()
        .expect("unreferenced")
        .iter()
        .map(|u| {
            assert_eq!(u["deleted"], false, "a dry run deletes nothing");
            u["sha256"].as_str().expect("sha").to_owned()
        })
        .collect()
}

/// The version rows: id → artifact hash.
async fn rows(data_dir: &Path) -> BTreeMap<String, String> {
    let mut db = registry(data_dir).await;
    let rows: Vec<(String, String)> = sqlx::query_as("SELECT id, artifact_sha256 FROM versions WHERE service = $1")
        .bind(SERVICE)
        .fetch_all(&mut db)
        .await
        .expect("versions");
    rows.into_iter().collect()
}

/// Every invariant, on a freshly restarted node.
async fn check(
    s3: &S3,
    prefix: &str,
    node: &NodeProcess,
    data_dir: &Path,
    acknowledged: &BTreeMap<String, String>,
    attempted: &BTreeSet<String>,
    round: usize,
) -> usize {
    let rows = rows(data_dir).await;
    for (id, sha) in &rows {
        let object = s3.object(prefix, sha).await.unwrap_or_else(|| panic!("round {round}: row {id} has no object"));
        assert_eq!(&sha256_hex(&object), sha, "round {round}: the object of {id} is partial or corrupt");
    }
    for (id, sha) in acknowledged {
        assert_eq!(rows.get(id), Some(sha), "round {round}: acknowledged upload {id} lost");
    }
    let referenced: BTreeSet<String> = rows.values().cloned().collect();
    let objects: BTreeSet<String> = s3.artifacts(prefix).await.into_iter().collect();
    let listed = gc_dry_run(&node.url).await;
    let expected: BTreeSet<String> = objects.difference(&referenced).cloned().collect();
    assert_eq!(listed, expected, "round {round}: gc lists the objects no row refers to");
    let acked: BTreeSet<&String> = acknowledged.values().collect();
    for sha in &listed {
        assert!(
            attempted.contains(sha) && !acked.contains(sha),
            "round {round}: {sha} was never an unacknowledged upload"
        );
    }
    listed.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_uploads_leaves_no_row_without_its_object_and_gc_finds_the_orphans() {
    let Some(s3) = S3::shared() else { return };
    let prefix = unique_prefix("crash");
    let url = s3.url(&prefix);
    let dir = tempfile::tempdir().expect("tempdir");
    let http = reqwest::Client::new();
    let mut rng = StdRng::seed_from_u64(0x0B5E_C7ED);
    let mut acknowledged: BTreeMap<String, String> = BTreeMap::new();
    let mut attempted: BTreeSet<String> = BTreeSet::new();

    let node = node_on(dir.path(), &s3, &url, false, &[]);
    let r = http.post(node.url("/admin/v1/services")).json(&json!({"name": SERVICE})).send().await.expect("send");
    assert_eq!(r.status(), 201);
    let first = distinct_model("iris_logreg.onnx", &format!("{prefix}-first"));
    attempted.insert(sha256_hex(&first));
    let t = Instant::now();
    let (status, v) = upload(&http, &node.url, SERVICE, first).await;
    assert_eq!(status, 201, "{v}");
    let mut took = t.elapsed();
    acknowledged.insert(v["id"].as_str().expect("id").to_owned(), v["sha256"].as_str().expect("sha").to_owned());
    node.kill();

    let (mut acknowledged_at_kill, mut orphans) = (0, 0);
    for round in 0..ROUNDS {
        let node = node_on(dir.path(), &s3, &url, false, &[]);
        orphans = check(&s3, &prefix, &node, dir.path(), &acknowledged, &attempted, round).await;
        let bytes = distinct_model(
            if round % 2 == 0 { "iris_mlp.onnx" } else { "iris_logreg.onnx" },
            &format!("{prefix}-{round}"),
        );
        attempted.insert(sha256_hex(&bytes));
        // Kill at a random point within twice what the last acknowledged upload took: before
        // the object is written, between the object and the row, or after the answer.
        let delay = (took * 2).mul_f64(rng.random::<f64>());
        let request = {
            let (http, url) = (http.clone(), node.url.clone());
            tokio::spawn(async move {
                let t = Instant::now();
                let answer = try_upload(&http, &url, SERVICE, bytes).await;
                (answer, t.elapsed())
            })
        };
        tokio::time::sleep(delay).await;
        node.kill();
        match request.await.expect("join") {
            (Some((201, v)), elapsed) => {
                acknowledged
                    .insert(v["id"].as_str().expect("id").to_owned(), v["sha256"].as_str().expect("sha").to_owned());
                took = elapsed;
                acknowledged_at_kill += 1;
            }
            (Some(answer), _) => panic!("round {round}: unexpected answer {answer:?}"),
            // The node died before it answered.
            (None, _) => {}
        }
    }
    let node = node_on(dir.path(), &s3, &url, false, &[]);
    orphans = orphans.max(check(&s3, &prefix, &node, dir.path(), &acknowledged, &attempted, ROUNDS).await);
    println!(
        "{acknowledged_at_kill} of {ROUNDS} uploads acknowledged before the kill; unreferenced objects seen: {orphans}"
    );

    // gc with no grace period deletes exactly the unreferenced objects.
    let unreferenced = gc_dry_run(&node.url).await;
    let (ok, out, err) = cli(&["gc", "--grace", "0s", "--json", "--node", &node.url], &[]).await;
    assert!(ok, "{err}");
    let report: Value = serde_json::from_str(&out).expect("report");
    let deleted: BTreeSet<String> = report["unreferenced"]
        .as_array()
        .expect("unreferenced")
        .iter()
        .filter(|u| u["deleted"] == true)
        .map(|u| u["sha256"].as_str().expect("sha").to_owned())
        .collect();
    assert_eq!(deleted, unreferenced);
    let referenced: BTreeSet<String> = rows(dir.path()).await.into_values().collect();
    let left: BTreeSet<String> = s3.artifacts(&prefix).await.into_iter().collect();
    assert_eq!(left, referenced, "only referenced objects remain");
    assert!(gc_dry_run(&node.url).await.is_empty());
    node.kill();
}
