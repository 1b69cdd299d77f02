//! Shared test helpers: a node on 127.0.0.1:0 over a fresh temp registry, fixtures, and
//! short-hands for the admin API.

use std::path::PathBuf;

use serde_json::{Value, json};
use switchyard::node::{self, NodeConfig};
use switchyard::{Engine, EngineConfig};
use tokio::sync::oneshot;

/// The router seed every test node uses, so traffic splits are reproducible.
pub const SEED: u64 = 20_261_122;

pub struct TestNode {
    pub url: String,
    pub engine: Engine,
    pub http: reqwest::Client,
    pub dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

pub async fn spawn_node() -> TestNode {
    spawn_node_in(tempfile::tempdir().expect("tempdir"), NodeConfig::default(), false).await
}

pub async fn spawn_node_in(dir: tempfile::TempDir, config: NodeConfig, seed_demo: bool) -> TestNode {
    let engine_config = EngineConfig { router_seed: Some(SEED), ..EngineConfig::new(dir.path()) };
    let node = spawn_with(dir, engine_config, config).await;
    if seed_demo {
        switchyard::demo::seed_if_empty(&node.engine).await.expect("demo seeded");
    }
    node
}

/// A node over `dir` with a given engine configuration (fast canary ticks, faults…). With
/// `SWITCHYARD_TEST_BACKEND=postgres` its registry is a fresh PostgreSQL database (kept for
/// the same `dir` across restarts).
pub async fn spawn_with(dir: tempfile::TempDir, mut engine_config: EngineConfig, config: NodeConfig) -> TestNode {
    if engine_config.database_url.is_none() && std::env::var("SWITCHYARD_TEST_BACKEND").as_deref() == Ok("postgres") {
        engine_config.database_url = Some(test_database(dir.path()).await);
    }
    spawn_engine(dir, engine_config, config).await
}

/// A node whose registry is always SQLite (tests that write `registry.db` themselves).
pub async fn spawn_sqlite_node() -> TestNode {
    spawn_sqlite_in(tempfile::tempdir().expect("tempdir")).await
}

pub async fn spawn_sqlite_in(dir: tempfile::TempDir) -> TestNode {
    let engine_config = EngineConfig { router_seed: Some(SEED), ..EngineConfig::new(dir.path()) };
    spawn_engine(dir, engine_config, NodeConfig::default()).await
}

/// The PostgreSQL server the tests use (`SWITCHYARD_TEST_POSTGRES`, an URL to its `postgres`
/// database with a role that may create databases; scripts/test.sh sets it).
pub fn postgres_admin_url() -> String {
    std::env::var("SWITCHYARD_TEST_POSTGRES").unwrap_or_else(|_| {
        panic!("set SWITCHYARD_TEST_POSTGRES=postgres://USER:PASSWORD@127.0.0.1/postgres (scripts/test.sh starts one)")
    })
}

/// A new, empty PostgreSQL database for the registry of `dir` (the same one on a restart).
pub async fn test_database(dir: &std::path::Path) -> String {
    use sqlx::{Connection, Executor};
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let marker = dir.join("test-database-url");
    if let Ok(url) = std::fs::read_to_string(&marker) {
        return url;
    }
    let admin = postgres_admin_url();
    let name = format!(
        "sy_test_{}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        rand::random::<u32>()
    );
    let mut conn = sqlx::PgConnection::connect(&admin).await.expect("connect to the test PostgreSQL");
    conn.execute(format!("CREATE DATABASE {name}").as_str()).await.expect("create test database");
    let (base, _) = admin.rsplit_once('/').expect("URL with a database");
    let url = format!("{base}/{name}");
    std::fs::write(&marker, &url).expect("marker");
    url
}

async fn spawn_engine(dir: tempfile::TempDir, engine_config: EngineConfig, config: NodeConfig) -> TestNode {
    let engine = Engine::open(engine_config).await.expect("engine opens");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let (stop, stopped) = oneshot::channel::<()>();
    let app = node::router(engine.clone(), config);
    let task = tokio::spawn(async move {
        node::serve(listener, app, async move {
            let _ = stopped.await;
        })
        .await
        .expect("node serves");
    });
    TestNode { url, engine, http: reqwest::Client::new(), dir, stop: Some(stop), task: Some(task) }
}

impl TestNode {
    /// GETs a path and decodes the JSON answer, which must be a success.
    pub async fn get_json<T: serde::de::DeserializeOwned>(&self, path: &str) -> T {
        let r = self.http.get(self.url(path)).send().await.expect("send");
        assert!(r.status().is_success(), "GET {path}: {}", r.status());
        r.json().await.expect("json")
    }

    /// Stops the node, waiting for in-flight requests, and gives back its registry directory.
    pub async fn stop(mut self) -> tempfile::TempDir {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("node task");
        }
        self.engine.close().await.expect("engine closes");
        let dir = tempfile::tempdir().expect("tempdir");
        std::mem::replace(&mut self.dir, dir)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    pub async fn create_service(&self, name: &str) {
        let r = self.http.post(self.url("/admin/v1/services")).json(&json!({"name": name})).send().await.expect("send");
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
    }

    /// Uploads a fixture model; returns the created version's JSON.
    pub async fn upload(&self, service: &str, fixture_name: &str, meta: Value) -> reqwest::Response {
        let form = reqwest::multipart::Form::new()
            .part("model", reqwest::multipart::Part::bytes(fixture(fixture_name)).file_name(fixture_name.to_owned()))
            .text("meta", meta.to_string());
        self.http
            .post(self.url(&format!("/admin/v1/services/{service}/versions")))
            .multipart(form)
            .send()
            .await
            .expect("send")
    }

    pub async fn upload_ok(&self, service: &str, fixture_name: &str) -> String {
        let r = self.upload(service, fixture_name, json!({})).await;
        assert_eq!(r.status(), 201);
        let v: Value = r.json().await.expect("json");
        v["id"].as_str().expect("id").to_owned()
    }

    pub async fn deploy(&self, service: &str, config: Value) -> reqwest::Response {
        self.http
            .put(self.url(&format!("/admin/v1/deployments/{service}")))
            .json(&json!({"config": config, "reason": "test"}))
            .send()
            .await
            .expect("send")
    }

    pub async fn deploy_ok(&self, service: &str, config: Value) -> Value {
        let r = self.deploy(service, config).await;
        let status = r.status();
        let body: Value = r.json().await.expect("json");
        assert_eq!(status, 200, "{body}");
        body
    }

    pub async fn predict(&self, service: &str, features: &Value) -> reqwest::Response {
        self.http
            .post(self.url(&format!("/v1/services/{service}/predict")))
            .json(&json!({"features": features}))
            .send()
            .await
            .expect("send")
    }

    /// Deploys a mapping of generations with their probabilities.
    pub async fn deploy_mapping(&self, service: &str, mapping: &[(&str, f64)]) -> Value {
        let mapping: Vec<Value> = mapping.iter().map(|(g, p)| json!({"generation": g, "proba": p})).collect();
        self.deploy_ok(service, json!({"mode": "multiple", "mapping": mapping})).await
    }

    /// A service `iris` with v1 (logistic regression) and v2 (MLP), v1 deployed.
    pub async fn with_iris(&self) {
        self.create_service("iris").await;
        assert_eq!(self.upload_ok("iris", "iris_logreg.onnx").await, "v1");
        assert_eq!(self.upload_ok("iris", "iris_mlp.onnx").await, "v2");
        self.deploy_ok("iris", json!({"mode": "single", "generation": "v1"})).await;
    }
}

pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

pub fn fixture(name: &str) -> Vec<u8> {
    let path = fixtures_dir().join("models").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn iris_row() -> Value {
    json!({"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2})
}

/// The error code of a native error body.
pub async fn error_code(r: reqwest::Response) -> (u16, String, String) {
    let status = r.status().as_u16();
    let body: Value = r.json().await.expect("error body is JSON");
    let code = body["error"]["code"].as_str().unwrap_or_else(|| panic!("no error code in {body}")).to_owned();
    let message = body["error"]["message"].as_str().expect("message").to_owned();
    assert!(!message.is_empty());
    (status, code, message)
}

/// A `switchyard serve` process on 127.0.0.1:0: the real binary, for tests that kill it or
/// watch its output for panics.
pub struct NodeProcess {
    pub url: String,
    child: std::process::Child,
    /// Everything the node wrote to stderr so far.
    log: std::sync::Arc<std::sync::Mutex<String>>,
}

impl NodeProcess {
    /// Starts a node over `data_dir` and waits until it listens.
    pub fn start(data_dir: &std::path::Path, demo: bool) -> NodeProcess {
        Self::start_with(data_dir, demo, &[])
    }

    /// Starts a node with extra `serve` arguments.
    pub fn start_with(data_dir: &std::path::Path, demo: bool, args: &[&str]) -> NodeProcess {
        use std::io::BufRead;
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"));
        cmd.args(["serve", "--bind", "127.0.0.1:0", "--router-seed", &SEED.to_string(), "--data-dir"])
            .arg(data_dir)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        if !demo {
            cmd.arg("--no-demo");
        }
        cmd.args(args);
        let mut child = cmd.spawn().expect("start switchyard serve");
        let stderr = child.stderr.take().expect("stderr");
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let sink = std::sync::Arc::clone(&log);
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(at) = line.find("listening on http://") {
                    let rest = &line[at + "listening on ".len()..];
                    let _ = tx.send(rest.chars().take_while(|c| !c.is_whitespace() && *c != '\x1b').collect());
                }
                if let Ok(mut log) = sink.lock() {
                    log.push_str(&line);
                    log.push('\n');
                }
            }
        });
        match rx.recv_timeout(std::time::Duration::from_secs(60)) {
            Ok(url) => NodeProcess { url, child, log },
            Err(_) => {
                let _ = child.kill();
                panic!("the node did not start: {}", log.lock().map(|l| l.clone()).unwrap_or_default());
            }
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    pub fn log(&self) -> String {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// SIGTERM, and waits for the node to finish its graceful shutdown.
    pub fn stop(mut self) {
        let pid = self.child.id().to_string();
        let sent = std::process::Command::new("kill").args(["-TERM", &pid]).status().expect("kill -TERM");
        assert!(sent.success(), "kill -TERM {pid}");
        let status = self.child.wait().expect("wait");
        assert!(status.success(), "the node did not stop cleanly ({status}): {}", self.log());
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A model's expected outputs as the fixture generators stored them (onnxruntime's answers on
/// holdout rows): `fixtures/expected/*.json` and `fixtures/corpus/expected/*.json`.
#[derive(serde::Deserialize)]
pub struct Expected {
    pub model: String,
    pub kind: String,
    pub feature_names: Vec<String>,
    pub rows: Vec<Vec<f64>>,
    #[serde(default)]
    pub class_labels: Vec<String>,
    #[serde(default)]
    pub labels: Vec<usize>,
    #[serde(default)]
    pub probabilities: Vec<Vec<f64>>,
    #[serde(default)]
    pub values: Vec<f64>,
}

impl Expected {
    pub fn load(path: &std::path::Path) -> Expected {
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// Row `i` as a native request's features.
    pub fn features(&self, i: usize) -> Value {
        Value::Object(self.feature_names.iter().cloned().zip(self.rows[i].iter().map(|v| json!(v))).collect())
    }

    /// A native answer for row `i` equals onnxruntime's: the same label, probabilities and
    /// values within 1e-5 relative.
    pub fn assert_answer(&self, name: &str, i: usize, body: &Value) {
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-5 * b.abs().max(1.0);
        if self.kind == "classifier" {
            assert_eq!(body["prediction"], self.class_labels[self.labels[i]].as_str(), "{name} row {i}");
            for (c, want) in self.class_labels.iter().zip(&self.probabilities[i]) {
                let got = body["probabilities"][c].as_f64().expect("probability");
                assert!(close(got, *want), "{name} row {i} class {c}: {got} vs {want}");
            }
        } else {
            let got = body["prediction"].as_f64().expect("value");
            assert!(close(got, self.values[i]), "{name} row {i}: {got} vs {}", self.values[i]);
            assert!(body.get("probabilities").is_none());
        }
    }
}

/// A node over `dir` (like [`spawn_node_in`]) whose engine runs on `clock`: tests that move
/// time by hand.
pub async fn spawn_node_on(dir: tempfile::TempDir, clock: &std::sync::Arc<switchyard::clock::ManualClock>) -> TestNode {
    let engine_config = EngineConfig {
        router_seed: Some(SEED),
        clock: std::sync::Arc::clone(clock) as _,
        ..EngineConfig::new(dir.path())
    };
    spawn_with(dir, engine_config, NodeConfig::default()).await
}
