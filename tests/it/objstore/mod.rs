//! The artifact store on a real S3 server: SeaweedFS on loopback, started by
//! scripts/seaweedfs.sh (the shared server, `SWITCHYARD_TEST_S3`) or by a test itself when it
//! must stop the store ([`Weed`], from `SWITCHYARD_TEST_WEED`). Nodes are real `switchyard
//! serve` processes, each with its own data dir: nothing but the registry and the bucket is
//! shared. Without `SWITCHYARD_TEST_S3` these tests skip, except in CI (`CI=true`), where
//! they fail.

mod corruption;
mod crash;
mod migrate;
mod outage;
mod shared;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as Key;
use serde_json::{Value, json};

use crate::support::{NodeProcess, fixture};

/// An S3 endpoint with its credentials and bucket.
#[derive(Debug, Clone)]
pub struct S3 {
    pub endpoint: String,
    pub key: String,
    pub secret: String,
    pub bucket: String,
}

impl S3 {
    /// The shared test server (`SWITCHYARD_TEST_S3=http://KEY:SECRET@HOST:PORT/BUCKET`). None,
    /// with a note, when it is not set; in CI a missing server fails the test.
    pub fn shared() -> Option<S3> {
        match std::env::var("SWITCHYARD_TEST_S3") {
            Ok(url) => Some(S3::parse(&url)),
            Err(_) if std::env::var("CI").as_deref() == Ok("true") => {
                panic!(
                    "SWITCHYARD_TEST_S3 is not set: CI must run the artifact-store tests (scripts/test.sh starts SeaweedFS)"
                )
            }
            Err(_) => {
                eprintln!(
                    "skipped: set SWITCHYARD_TEST_S3=http://KEY:SECRET@127.0.0.1:8333/BUCKET (scripts/seaweedfs.sh starts one)"
                );
                None
            }
        }
    }

    fn parse(url: &str) -> S3 {
        let u = url::Url::parse(url).unwrap_or_else(|e| panic!("SWITCHYARD_TEST_S3={url}: {e}"));
        S3 {
            endpoint: format!("{}://{}:{}", u.scheme(), u.host_str().expect("host"), u.port().expect("port")),
            key: u.username().to_owned(),
            secret: u.password().expect("secret").to_owned(),
            bucket: u.path().trim_matches('/').to_owned(),
        }
    }

    /// What a node or the CLI needs in its environment to reach the store: the standard
    /// variables only.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", self.key.clone()),
            ("AWS_SECRET_ACCESS_KEY", self.secret.clone()),
            ("AWS_REGION", "us-east-1".to_owned()),
            ("AWS_ALLOW_HTTP", "true".to_owned()),
        ]
    }

    /// The store URL of `prefix` in the bucket.
    pub fn url(&self, prefix: &str) -> String {
        format!("s3://{}/{prefix}", self.bucket)
    }

    /// A client of the bucket, for the tests to look at (or damage) objects directly.
    pub fn client(&self) -> Arc<dyn ObjectStore> {
        let store = AmazonS3Builder::new()
            .with_endpoint(&self.endpoint)
            .with_bucket_name(&self.bucket)
            .with_access_key_id(&self.key)
            .with_secret_access_key(&self.secret)
            .with_region("us-east-1")
            .with_allow_http(true)
            .build()
            .expect("S3 client");
        Arc::new(store)
    }

    /// The key of an artifact under `prefix`.
    pub fn key(prefix: &str, sha: &str) -> Key {
        Key::from(format!("{prefix}/sha256/{}/{sha}", &sha[..2]))
    }

    /// The object of an artifact, if the bucket has it.
    pub async fn object(&self, prefix: &str, sha: &str) -> Option<Vec<u8>> {
        match self.client().get(&S3::key(prefix, sha)).await {
            Ok(got) => Some(got.bytes().await.expect("read object").to_vec()),
            Err(object_store::Error::NotFound { .. }) => None,
            Err(e) => panic!("read {prefix}/{sha}: {e}"),
        }
    }

    /// The artifact hashes stored under `prefix`.
    pub async fn artifacts(&self, prefix: &str) -> Vec<String> {
        use futures_util::StreamExt;
        let root = Key::from(format!("{prefix}/sha256"));
        let mut listed: Vec<String> = self
            .client()
            .list(Some(&root))
            .map(|m| m.expect("list").location.filename().expect("name").to_owned())
            .collect()
            .await;
        listed.sort();
        listed
    }
}

/// A key prefix no other test or run uses.
pub fn unique_prefix(test: &str) -> String {
    format!("{test}-{}-{:08x}", std::process::id(), rand::random::<u32>())
}

/// A node with its own data dir on the store `url` (the demo seeded when `demo`).
pub fn node_on(dir: &Path, s3: &S3, url: &str, demo: bool, extra: &[&str]) -> NodeProcess {
    let mut args = vec!["--artifacts", url];
    args.extend_from_slice(extra);
    NodeProcess::start_env(dir, demo, &args, &s3.env())
}

/// A valid model whose bytes (and so whose artifact) no other upload has: a fixture with a
/// `doc_string` (ModelProto field 6) appended, which protobuf readers take as the last value
/// of that field.
pub fn distinct_model(fixture_name: &str, tag: &str) -> Vec<u8> {
    let mut bytes = fixture(fixture_name);
    assert!(tag.len() < 128, "one-byte length");
    bytes.push(0x32);
    bytes.push(tag.len() as u8);
    bytes.extend_from_slice(tag.as_bytes());
    bytes
}

/// Uploads model bytes as a new version; the answer's status and body.
pub async fn upload(http: &reqwest::Client, node: &str, service: &str, bytes: Vec<u8>) -> (u16, Value) {
    try_upload(http, node, service, bytes).await.unwrap_or_else(|| panic!("no answer to an upload from {node}"))
}

/// [`upload`], or None when no whole answer came (the node died).
pub async fn try_upload(http: &reqwest::Client, node: &str, service: &str, bytes: Vec<u8>) -> Option<(u16, Value)> {
    let form = reqwest::multipart::Form::new()
        .part("model", reqwest::multipart::Part::bytes(bytes).file_name("model.onnx"))
        .text("meta", json!({}).to_string());
    let r = http.post(format!("{node}/admin/v1/services/{service}/versions")).multipart(form).send().await.ok()?;
    let status = r.status().as_u16();
    Some((status, r.json().await.ok()?))
}

/// Deploys one version; the answer's status and body.
pub async fn deploy(http: &reqwest::Client, node: &str, service: &str, version: &str) -> (u16, Value) {
    let r = http
        .put(format!("{node}/admin/v1/deployments/{service}"))
        .json(&json!({"config": {"mode": "single", "generation": version}, "reason": "test"}))
        .send()
        .await
        .expect("send deploy");
    (r.status().as_u16(), r.json().await.expect("json"))
}

/// The generation and revision that answer a prediction of the iris demo service.
pub async fn serving(http: &reqwest::Client, node: &str) -> (u16, String, i64) {
    let r = http
        .post(format!("{node}/v1/services/iris_classifier/predict"))
        .json(&json!({"features": crate::support::iris_row()}))
        .send()
        .await
        .expect("send predict");
    let status = r.status().as_u16();
    let v: Value = r.json().await.expect("json");
    (status, v["generation"].as_str().unwrap_or_default().to_owned(), v["revision"].as_i64().unwrap_or(-1))
}

/// A version's sha256 as the registry lists it.
pub async fn sha_of(http: &reqwest::Client, node: &str, service: &str, version: &str) -> String {
    let v: Value = http
        .get(format!("{node}/admin/v1/services/{service}/versions/{version}"))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    v["sha256"].as_str().unwrap_or_else(|| panic!("no sha256 in {v}")).to_owned()
}

/// The SHA-256 of the copy a node cached (`<data-dir>/cache/<sha256>`), if it has one.
pub fn cached_sha(data_dir: &Path, sha: &str) -> Option<String> {
    let bytes = std::fs::read(data_dir.join("cache").join(sha)).ok()?;
    Some(switchyard::registry::artifacts::sha256_hex(&bytes))
}

/// Runs the `switchyard` CLI with `env`; success, stdout, stderr.
pub async fn cli(args: &[&str], env: &[(&'static str, String)]) -> (bool, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchyard"));
    cmd.args(args).envs(env.iter().map(|(k, v)| (*k, v.as_str()))).env_remove("SWITCHYARD_TOKEN_FILE");
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("run cli")).await.expect("join");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A SeaweedFS server of one test's own (so that it can be stopped), on free loopback ports
/// with its own data dir. Killed when dropped.
pub struct Weed {
    pub s3: S3,
    dir: PathBuf,
    base: u16,
    child: Option<Child>,
    _tmp: tempfile::TempDir,
}

const WEED_KEY: &str = "switchyard";
const WEED_SECRET: &str = "switchyard-secret";

impl Weed {
    /// Starts one and waits (at most 120 s: a restart after SIGKILL takes some 25 s) until it stores objects.
    pub async fn start() -> Weed {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().to_owned();
        std::fs::create_dir_all(dir.join("data")).expect("data dir");
        let config = json!({"identities": [{"name": WEED_KEY,
            "credentials": [{"accessKey": WEED_KEY, "secretKey": WEED_SECRET}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]});
        std::fs::write(dir.join("s3.json"), config.to_string()).expect("s3 config");
        let base = free_ports(8);
        let s3 = S3 {
            endpoint: format!("http://127.0.0.1:{}", base + 7),
            key: WEED_KEY.to_owned(),
            secret: WEED_SECRET.to_owned(),
            bucket: "switchyard-outage".to_owned(),
        };
        let mut weed = Weed { s3, dir, base, child: None, _tmp: tmp };
        weed.restart().await;
        weed
    }

    /// (Re)starts the server on the same ports and data, and waits until it stores objects.
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let weed = std::env::var("SWITCHYARD_TEST_WEED").unwrap_or_else(|_| {
            let venv = std::env::var("SWITCHYARD_PYENV")
                .unwrap_or_else(|_| format!("{}/.cache/switchyard/pyenv", std::env::var("HOME").expect("HOME")));
            format!("{venv}/bin/weed")
        });
        let b = self.base;
        let log = std::fs::File::create(self.dir.join("log")).expect("log");
        let child = Command::new(&weed)
            .arg("server")
            .args([
                "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1",
                "-master.telemetry=false",
                "-master.volumeSizeLimitMB=64",
                "-volume.max=100",
            ])
            .arg(format!("-dir={}", self.dir.join("data").display()))
            .args([
                format!("-master.port={b}"),
                format!("-master.port.grpc={}", b + 1),
                format!("-volume.port={}", b + 2),
                format!("-volume.port.grpc={}", b + 3),
                "-filer".to_owned(),
                format!("-filer.port={}", b + 4),
                format!("-filer.port.grpc={}", b + 5),
                "-s3".to_owned(),
                format!("-s3.port.grpc={}", b + 6),
                format!("-s3.port={}", b + 7),
                "-s3.port.iceberg=0".to_owned(),
                "-s3.port.lance=0".to_owned(),
                format!("-s3.config={}", self.dir.join("s3.json").display()),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("start {weed} (SWITCHYARD_TEST_WEED; scripts/install-deps.sh installs it): {e}")
            });
        self.child = Some(child);
        let client = self.s3.client();
        let t = Instant::now();
        loop {
            if client.put(&Key::from("ready"), "ok".into()).await.is_ok() {
                println!("dedicated SeaweedFS on {} ready after {:?}", self.s3.endpoint, t.elapsed());
                return;
            }
            assert!(t.elapsed() < Duration::from_secs(120), "SeaweedFS did not start: {}", self.log());
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Kills the server (SIGKILL: the store is simply gone) and waits until its S3 port
    /// refuses connections.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let port = self.base + 7;
        let t = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            assert!(t.elapsed() < Duration::from_secs(20), "port {port} still open");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("log")).unwrap_or_default();
        log.lines().rev().take(20).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n")
    }
}

impl Drop for Weed {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A base port with `n` free ports from it (all bound once to check, then released).
fn free_ports(n: u16) -> u16 {
    for _ in 0..200 {
        let base = 20_000 + rand::random::<u16>() % 20_000;
        if (base..base + n).all(|p| TcpListener::bind(("127.0.0.1", p)).is_ok()) {
            return base;
        }
    }
    panic!("no {n} free consecutive ports on 127.0.0.1");
}
