//! `switchyard artifacts migrate`: a registry with the demo, artifacts in its data dir, is
//! copied to an S3 bucket (hashes checked on both sides, progress per artifact); a node
//! started on the bucket, with the old artifacts/ directory gone, serves every version with
//! the same hashes.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{S3, cached_sha, cli, deploy, node_on, unique_prefix};
use crate::support::{NodeProcess, on_postgres};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_backed_registry_migrates_to_s3_and_serves_every_version_from_it() {
    let Some(s3) = S3::shared() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let http = reqwest::Client::new();
    let node = NodeProcess::start(dir.path(), true);
    // Every version of every service, with its hash.
    let mut versions: BTreeMap<(String, String), String> = BTreeMap::new();
    let mut features: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    let services: Value =
        http.get(node.url("/admin/v1/services")).send().await.expect("send").json().await.expect("json");
    for s in services.as_array().expect("services") {
        let name = s["name"].as_str().expect("name");
        let list: Value = http
            .get(node.url(&format!("/admin/v1/services/{name}/versions")))
            .send()
            .await
            .expect("send")
            .json()
            .await
            .expect("json");
        for v in list.as_array().expect("versions") {
            let names = v["schema"]["features"].as_array().expect("features");
            features.insert(
                (name.to_owned(), v["id"].as_str().expect("id").to_owned()),
                names.iter().map(|f| f["name"].as_str().expect("name").to_owned()).collect(),
            );
            versions.insert(
                (name.to_owned(), v["id"].as_str().expect("id").to_owned()),
                v["sha256"].as_str().expect("sha").to_owned(),
            );
        }
    }
    assert_eq!(versions.len(), 5);
    node.stop();

    let prefix = unique_prefix("migrate");
    let url = s3.url(&prefix);
    let data_dir = dir.path().to_str().expect("utf8").to_owned();
    let mut args = vec!["artifacts", "migrate", "--to", url.as_str(), "--data-dir", data_dir.as_str()];
    let db = std::fs::read_to_string(dir.path().join("test-database-url")).unwrap_or_default();
    if on_postgres() {
        args.extend(["--database-url", db.as_str()]);
    }
    let (ok, out, err) = cli(&args, &s3.env()).await;
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().filter(|l| l.starts_with('[')).collect();
    assert_eq!(lines.len(), 5, "one line per artifact: {out}");
    assert!(lines.iter().all(|l| l.contains("copied, hash verified")), "{out}");
    assert!(lines[0].starts_with("[1/5]") && lines[4].starts_with("[5/5]"), "{out}");
    for ((service, id), sha) in &versions {
        let object = s3.object(&prefix, sha).await.unwrap_or_else(|| panic!("{service} {id} not copied"));
        assert_eq!(&switchyard::registry::artifacts::sha256_hex(&object), sha, "{service} {id}");
        assert!(out.contains(&format!("{service} {id}")), "{out}");
    }
    // Run again: resumes, writes nothing.
    let (ok, out, err) = cli(&args, &s3.env()).await;
    assert!(ok, "{err}");
    assert_eq!(out.matches("already there, hash verified").count(), 5, "{out}");
    // An unreachable target is refused with the store named, and a non-zero exit.
    let bad = [("AWS_ENDPOINT_URL", "http://127.0.0.1:9".to_owned())];
    let env: Vec<(&'static str, String)> =
        s3.env().into_iter().filter(|(k, _)| *k != "AWS_ENDPOINT_URL").chain(bad).collect();
    let (ok, _, err) = cli(&args, &env).await;
    assert!(!ok);
    assert!(err.contains(&url) && err.contains("[artifact_store_unavailable]"), "{err}");

    // The old directory is gone: the node can only read the bucket.
    std::fs::rename(dir.path().join("artifacts"), dir.path().join("artifacts.before-migration")).expect("move");
    let node = node_on(dir.path(), &s3, &url, false, &[]);
    for ((service, id), sha) in &versions {
        // Deployed, or already live (activated from the bucket when the node started).
        let (status, body) = deploy(&http, &node.url, service, id).await;
        let live = status == 409 && body["error"]["code"] == "unchanged";
        assert!(status == 200 || live, "{service} {id}: {status} {body}");
        assert_eq!(cached_sha(dir.path(), sha).as_ref(), Some(sha), "{service} {id}");
        // It answers predictions, as that generation.
        let features: serde_json::Map<String, Value> =
            features[&(service.clone(), id.clone())].iter().map(|f| (f.clone(), serde_json::json!(0.1))).collect();
        let r = http
            .post(node.url(&format!("/v1/services/{service}/predict")))
            .json(&serde_json::json!({"features": features}))
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 200, "{service} {id}");
        let answer: Value = r.json().await.expect("json");
        assert_eq!(answer["generation"].as_str(), Some(id.as_str()), "{answer}");
    }
    let info: Value = http.get(node.url("/admin/v1/artifacts")).send().await.expect("send").json().await.expect("json");
    assert_eq!(info["location"].as_str(), Some(url.as_str()), "{info}");
    assert!(!dir.path().join("artifacts").exists(), "nothing is written to the data dir's artifacts/");
    node.stop();
}
