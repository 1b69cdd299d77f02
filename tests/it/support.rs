//! Shared test helpers: a node on 127.0.0.1:0 over a fresh temp registry, fixtures, and
//! short-hands for the admin API.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

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
    if engine_config.database_url.is_none() && on_postgres() {
        engine_config.database_url = Some(test_database(dir.path()).await);
    }
    spawn_engine(dir, engine_config, config).await
}

/// Whether this run keeps registries on PostgreSQL (`SWITCHYARD_TEST_BACKEND=postgres`, the
/// second pass of scripts/test.sh) rather than in SQLite files.
pub fn on_postgres() -> bool {
    std::env::var("SWITCHYARD_TEST_BACKEND").as_deref() == Ok("postgres")
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

/// [`test_database`] from synchronous code (a runtime of its own on another thread, so it
/// may be called inside an async test).
pub fn test_database_blocking(dir: &Path) -> String {
    let dir = dir.to_owned();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        runtime.block_on(test_database(&dir))
    })
    .join()
    .expect("create the test database")
}

/// The registry of a node over `data_dir` in this run, to read or write it directly: its
/// PostgreSQL database ([`test_database`]), else `registry.db`.
pub async fn registry(data_dir: &Path) -> sqlx::AnyConnection {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let url = match std::fs::read_to_string(data_dir.join("test-database-url")) {
        Ok(url) => url,
        Err(_) => format!("sqlite://{}?mode=rw", data_dir.join("registry.db").display()),
    };
    sqlx::AnyConnection::connect(&url).await.unwrap_or_else(|e| panic!("open the registry {url}: {e}"))
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

    /// Starts a node with extra `serve` arguments. With `SWITCHYARD_TEST_BACKEND=postgres` and
    /// no `--database-url` among them, its registry is a fresh PostgreSQL database (the same
    /// one for the same `data_dir` across restarts).
    pub fn start_with(data_dir: &std::path::Path, demo: bool, args: &[&str]) -> NodeProcess {
        Self::start_env(data_dir, demo, args, &[])
    }

    /// [`NodeProcess::start_with`] with extra environment variables (an artifact store's
    /// endpoint and credentials).
    pub fn start_env(data_dir: &std::path::Path, demo: bool, args: &[&str], env: &[(&str, String)]) -> NodeProcess {
        use std::io::BufRead;
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"));
        cmd.arg("serve");
        if !args.contains(&"--bind") {
            cmd.args(["--bind", "127.0.0.1:0"]);
        }
        cmd.args(["--router-seed", &SEED.to_string(), "--data-dir"])
            .arg(data_dir)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        if !demo {
            cmd.arg("--no-demo");
        }
        cmd.args(args);
        cmd.envs(env.iter().map(|(k, v)| (*k, v.as_str())));
        if on_postgres() && !args.contains(&"--database-url") {
            std::fs::create_dir_all(data_dir).expect("data dir");
            cmd.arg("--database-url").arg(test_database_blocking(data_dir));
        }
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

/// Awaits `work`, failing the test if it has not ended after `bound`: a hang, not a slow
/// machine, so `bound` is at least 20 times what `work` usually takes. Prints how long it
/// took (tests assert states, never times).
pub async fn bounded<T>(what: &str, bound: Duration, work: impl Future<Output = T>) -> T {
    let t = Instant::now();
    let out = tokio::time::timeout(bound, work).await.unwrap_or_else(|_| panic!("{what}: not done after {bound:?}"));
    println!("{what}: took {:?} (bound {bound:?})", t.elapsed());
    out
}

/// Polls `done` every `every` until it says so; fails the test after `bound` (at least 20
/// times the usual wait). Prints and returns how long it took.
pub async fn wait_until(what: &str, bound: Duration, every: Duration, mut done: impl AsyncFnMut() -> bool) -> Duration {
    let t = Instant::now();
    while !done().await {
        assert!(t.elapsed() < bound, "{what}: not reached after {bound:?}");
        tokio::time::sleep(every).await;
    }
    let took = t.elapsed();
    println!("{what}: reached after {took:?} (bound {bound:?})");
    took
}

/// The generations a deployment config routes live traffic to.
pub fn generations_of(config: &Value) -> Vec<String> {
    match config["mode"].as_str() {
        Some("single") => vec![config["generation"].as_str().expect("generation").to_owned()],
        _ => config["mapping"]
            .as_array()
            .expect("mapping")
            .iter()
            .map(|e| e["generation"].as_str().expect("generation").to_owned())
            .collect(),
    }
}

/// The revisions of one deployment as a test committed them, to check that each answer came
/// from a generation live at some point during its request. Clients read [`current`] before
/// sending and after the answer, and count each answer ([`answered`]); the committer calls
/// [`committed`] once a change returned, then [`settle`] before the next.
///
/// [`current`]: LiveRevisions::current
/// [`answered`]: LiveRevisions::answered
/// [`committed`]: LiveRevisions::committed
/// [`settle`]: LiveRevisions::settle
pub struct LiveRevisions {
    current: AtomicI64,
    live: Mutex<BTreeMap<i64, Vec<String>>>,
    answers: AtomicUsize,
    answers_at_commit: AtomicUsize,
}

impl LiveRevisions {
    /// Starts from the active revision (`{"number": …, "config": …}`).
    pub fn new(active: &Value) -> Self {
        let live = LiveRevisions {
            current: AtomicI64::new(0),
            live: Mutex::new(BTreeMap::new()),
            answers: AtomicUsize::new(0),
            answers_at_commit: AtomicUsize::new(0),
        };
        live.committed(active);
        live
    }

    /// The last revision known committed.
    pub fn current(&self) -> i64 {
        self.current.load(Ordering::SeqCst)
    }

    /// Counts a request answered (or failed): clients call it once per request, before
    /// reading [`LiveRevisions::current`] for the next.
    pub fn answered(&self) {
        self.answers.fetch_add(1, Ordering::SeqCst);
    }

    /// Records a committed revision (a deploy's or a rollback's answer); returns its number.
    pub fn committed(&self, revision: &Value) -> i64 {
        let number = revision["number"].as_i64().expect("revision number");
        self.live.lock().expect("live").insert(number, generations_of(&revision["config"]));
        self.current.store(number, Ordering::SeqCst);
        self.answers_at_commit.store(self.answers.load(Ordering::SeqCst), Ordering::SeqCst);
        number
    }

    /// Waits until `2 × clients` requests were answered since the last commit. Each client
    /// has at most one request in flight across the commit, so at least `clients` of them
    /// were sent after it: the revision just committed has served requests of its own.
    /// Fails after `bound` (a hang); returns how long it took.
    pub async fn settle(&self, clients: usize, bound: Duration) -> Duration {
        let t = Instant::now();
        let target = self.answers_at_commit.load(Ordering::SeqCst) + 2 * clients;
        while self.answers.load(Ordering::SeqCst) < target {
            assert!(t.elapsed() < bound, "fewer than {} requests answered in {bound:?} after a change", 2 * clients);
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        t.elapsed()
    }

    /// Whether `revision` and its `generation` were live during a request that started when
    /// `before` was the last committed revision and ended when `after` was: at or after
    /// `before`, at most one past `after` (a change is live before its call returns).
    pub fn check(&self, before: i64, after: i64, revision: i64, generation: &str) -> Result<(), String> {
        if revision < before || revision > after + 1 {
            return Err(format!("revision {revision} outside [{before}, {}]", after + 1));
        }
        match self.live.lock().expect("live").get(&revision) {
            Some(gens) if gens.iter().any(|g| g == generation) => Ok(()),
            Some(gens) => Err(format!("{generation} answered for revision {revision}, which routes to {gens:?}")),
            None => Err(format!("revision {revision} was never committed by this test")),
        }
    }

    /// The revisions committed, in order.
    pub fn revisions(&self) -> Vec<i64> {
        self.live.lock().expect("live").keys().copied().collect()
    }
}

/// Everything a node keeps at rest: every file under its data directory (registry, WAL and
/// shared memory, artifacts, anything else) and, with the registry on PostgreSQL, every row
/// of every table of its database as text.
pub struct AtRest {
    files: Vec<(PathBuf, Vec<u8>)>,
    rows: Vec<(String, String)>,
}

impl AtRest {
    pub async fn read(data_dir: &Path) -> AtRest {
        fn walk(dir: &Path, files: &mut Vec<(PathBuf, Vec<u8>)>) {
            for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    walk(&path, files);
                } else if let Ok(bytes) = std::fs::read(&path) {
                    files.push((path, bytes));
                }
            }
        }
        let mut files = Vec::new();
        walk(data_dir, &mut files);
        let mut rows = Vec::new();
        if let Ok(url) = std::fs::read_to_string(data_dir.join("test-database-url")) {
            use sqlx::Connection;
            let mut db = sqlx::PgConnection::connect(&url).await.expect("open the test database");
            let tables: Vec<String> = sqlx::query_scalar(
                "SELECT table_name::text FROM information_schema.tables \
                 WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1",
            )
            .fetch_all(&mut db)
            .await
            .expect("tables");
            assert!(!tables.is_empty(), "no table in {url}");
            for table in tables {
                let texts: Vec<String> = sqlx::query_scalar(&format!("SELECT t::text FROM \"{table}\" t"))
                    .fetch_all(&mut db)
                    .await
                    .unwrap_or_else(|e| panic!("read {table}: {e}"));
                rows.extend(texts.into_iter().map(|t| (table.clone(), t)));
            }
            db.close().await.expect("close");
        }
        AtRest { files, rows }
    }

    /// Where `needle` is stored: file paths and table names.
    pub fn places(&self, needle: &str) -> Vec<String> {
        let bytes = needle.as_bytes();
        let in_files = self.files.iter().filter(|(_, b)| b.windows(bytes.len()).any(|w| w == bytes));
        let in_rows = self.rows.iter().filter(|(_, text)| text.contains(needle));
        in_files.map(|(p, _)| p.display().to_string()).chain(in_rows.map(|(t, _)| format!("table {t}"))).collect()
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

/// Waits for a scenario run to end and returns it (bounded at 60 s: a hang, not a slow machine).
pub async fn run_ended(engine: &switchyard::Engine, scenario: &str, id: i64) -> switchyard::scenario::Run {
    for _ in 0..1200 {
        let run = engine.scenario_run(scenario, id).await.expect("run");
        if run.status != switchyard::scenario::RunStatus::Running {
            return run;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("run {id} of {scenario} still running");
}
