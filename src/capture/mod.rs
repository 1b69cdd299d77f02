//! Traffic capture: a sampled record of a deployment's live requests and answers, kept in the
//! registry under a per-deployment [`CapturePolicy`] (percent, cap on rows, retention,
//! features to drop or hash), and the replay of captured requests through another version
//! (`replay.rs`).
//!
//! The request path only samples and offers a [`Captured`] row to a bounded [`Queue`]
//! ([`Capture::offer`]): when the queue is full the row is dropped and counted, never waited
//! for. The batch writer (`writer.rs`) applies the policy's drop and hash, then
//! inserts rows in batches; the engine runs it on its task tracker and flushes it at close.

pub mod export;
pub mod replay;
pub mod store;
pub mod writer;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use hmac::{Hmac, Mac};
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::Sha256;
use tokio::sync::Notify;

use crate::error::{Error, Result};
use crate::model::Prediction;

/// Rows waiting for the writer; a full queue drops (and counts) new rows.
pub const DEFAULT_QUEUE: usize = 8192;
/// At most this many rows per batch (one transaction).
pub const BATCH: usize = 4096;
/// How long the writer lets a batch gather after its first row, at most: it wakes (and
/// commits) a few times a second, not once per row, and a block holds up to a batch.
pub const LINGER: std::time::Duration = std::time::Duration::from_millis(500);
/// While a batch gathers, the writer looks at the queue this often and writes at once when a
/// whole batch is waiting (at 100 % of 50,000 requests/s: every 80 ms, within the queue).
pub const LINGER_STEP: std::time::Duration = std::time::Duration::from_millis(20);
/// The registry secret that keys hashed features.
pub const SECRET_NAME: &str = "capture";
/// What a hashed feature's stored value starts with.
pub const HASH_PREFIX: &str = "hmac-sha256:";

/// A deployment's capture policy. Capture is off when a service has none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CapturePolicy {
    /// Share of requests captured, 0–100 (0 keeps the policy but captures nothing).
    pub percent: f64,
    /// At most this many rows are kept for the service, the oldest going first (checked every
    /// twentieth of the cap, so up to a tenth more between checks).
    #[serde(default = "default_max_rows")]
    pub max_rows: i64,
    /// Rows older than this are deleted by the retention task.
    #[serde(default = "default_retention")]
    pub retention_seconds: i64,
    /// Features never stored.
    #[serde(default)]
    pub drop_features: Vec<String>,
    /// Features stored as a keyed HMAC-SHA256 (`hmac-sha256:<hex>`) of their JSON text.
    #[serde(default)]
    pub hash_features: Vec<String>,
}

fn default_max_rows() -> i64 {
    100_000
}

fn default_retention() -> i64 {
    7 * 24 * 3600
}

impl CapturePolicy {
    /// Refuses a percent outside 0–100, a cap or retention below 1, and a feature both
    /// dropped and hashed.
    pub fn validate(&self) -> Result<()> {
        if !(0.0..=100.0).contains(&self.percent) || !self.percent.is_finite() {
            return Err(Error::InvalidInput(format!("percent must be within 0–100, got {}", self.percent)));
        }
        if self.max_rows < 1 {
            return Err(Error::InvalidInput(format!("max_rows must be at least 1, got {}", self.max_rows)));
        }
        if self.retention_seconds < 1 {
            return Err(Error::InvalidInput(format!(
                "retention_seconds must be at least 1, got {}",
                self.retention_seconds
            )));
        }
        if let Some(both) = self.drop_features.iter().find(|f| self.hash_features.contains(f)) {
            return Err(Error::InvalidInput(format!("feature '{both}' is both dropped and hashed: choose one")));
        }
        Ok(())
    }
}

/// A deployment's capture: its policy (None: off), rows stored and dropped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CaptureStatus {
    pub service: String,
    pub policy: Option<CapturePolicy>,
    /// Rows of the service in the registry (every node's).
    pub stored: i64,
    /// Rows this node dropped since it started because the queue was full or the registry
    /// refused them.
    pub dropped: u64,
}

/// A sampled request on its way to the writer (features as received: the writer drops and
/// hashes).
#[derive(Debug, Clone)]
pub struct Captured {
    pub service: String,
    pub at_ms: i64,
    pub revision: i64,
    pub generation: String,
    pub request_id: String,
    pub features: Map<String, Value>,
    pub prediction: Prediction,
    pub latency_ms: f64,
    /// The shadow generation and its answer (None when it failed).
    pub shadow: Option<(String, Option<Prediction>)>,
}

/// The bounded queue between the request path and the writer: rows in a vector behind a mutex
/// (a row costs one uncontended lock; a channel cost several atomic operations more per row),
/// the writer woken by the first row after it emptied the queue.
pub struct Queue {
    rows: Mutex<Vec<Captured>>,
    capacity: usize,
    closed: AtomicBool,
    wake: Notify,
}

impl Queue {
    fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Queue {
            rows: Mutex::new(Vec::with_capacity(capacity.min(BATCH))),
            capacity,
            closed: AtomicBool::new(false),
            wake: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Captured>> {
        self.rows.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a row; a full or closed queue refuses it, naming its service.
    fn push(&self, row: Captured) -> std::result::Result<(), String> {
        let first = {
            let mut rows = self.lock();
            if rows.len() >= self.capacity || self.closed.load(Ordering::Relaxed) {
                return Err(row.service);
            }
            rows.push(row);
            rows.len() == 1
        };
        if first {
            self.wake.notify_one();
        }
        Ok(())
    }

    /// Rows queued.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Takes up to `n` queued rows, oldest first.
    pub fn take(&self, n: usize) -> Vec<Captured> {
        let mut rows = self.lock();
        if rows.len() > n {
            return rows.drain(..n).collect();
        }
        // The next batch likely matches this one: a trickle does not reserve a whole batch.
        let fresh = Vec::with_capacity(rows.len());
        std::mem::replace(&mut *rows, fresh)
    }

    /// Returns once a row is queued (at once when one is).
    pub async fn ready(&self) {
        loop {
            let woken = self.wake.notified();
            if !self.is_empty() {
                return;
            }
            woken.await;
        }
    }

    /// Accepts no more rows (the writer's final flush).
    pub fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
    }
}

/// The capture subsystem: policies for the request path, the queue, the drop counters and
/// the sampler.
pub struct Capture {
    policies: ArcSwap<HashMap<String, Arc<CapturePolicy>>>,
    queue: Queue,
    /// Seeded (tests): one stream behind a lock, reproducible. Otherwise None: each thread's
    /// own generator, no lock on the request path.
    sampler: Option<Mutex<StdRng>>,
    dropped_total: AtomicU64,
    dropped: Mutex<HashMap<String, u64>>,
}

impl Capture {
    /// A capture with a queue of `capacity` rows (the writer takes them: [`writer::Writer`]).
    /// `seed` makes sampling reproducible (tests); None draws from the OS.
    pub fn new(capacity: usize, seed: Option<u64>) -> Self {
        // Its own stream, so capturing does not move the router's picks.
        let sampler = seed.map(|seed| Mutex::new(StdRng::seed_from_u64(seed ^ 0x6361_7074_7572_6521)));
        Capture {
            policies: ArcSwap::from_pointee(HashMap::new()),
            queue: Queue::new(capacity),
            sampler,
            dropped_total: AtomicU64::new(0),
            dropped: Mutex::new(HashMap::new()),
        }
    }

    /// The queue of rows waiting for the writer.
    pub fn queue(&self) -> &Queue {
        &self.queue
    }

    /// The policy of `service` if it captures anything (one `ArcSwap` load).
    pub fn policy(&self, service: &str) -> Option<Arc<CapturePolicy>> {
        let policies = self.policies.load();
        if policies.is_empty() {
            return None;
        }
        policies.get(service).filter(|p| p.percent > 0.0).cloned()
    }

    /// Every policy (the writer reads drop and hash lists).
    pub fn policies(&self) -> Arc<HashMap<String, Arc<CapturePolicy>>> {
        self.policies.load_full()
    }

    /// Replaces every policy (at open and after each change or reload).
    pub fn set_policies(&self, policies: HashMap<String, CapturePolicy>) {
        self.policies.store(Arc::new(policies.into_iter().map(|(k, v)| (k, Arc::new(v))).collect()));
    }

    /// Whether this request is captured under `policy`.
    pub fn sample(&self, policy: &CapturePolicy) -> bool {
        if policy.percent >= 100.0 {
            return true;
        }
        let u: f64 = match self.sampler.as_ref().map(|s| s.lock()) {
            Some(Ok(mut rng)) => rng.random(),
            None | Some(Err(_)) => rand::random(),
        };
        u * 100.0 < policy.percent
    }

    /// Queues a row for the writer; a full (or closed) queue drops and counts it.
    pub fn offer(&self, row: Captured) {
        if let Err(service) = self.queue.push(row) {
            self.count_dropped(&service, 1);
        }
    }

    /// Counts rows of `service` that were not stored.
    pub fn count_dropped(&self, service: &str, n: u64) {
        self.dropped_total.fetch_add(n, Ordering::Relaxed);
        if let Ok(mut by) = self.dropped.lock() {
            *by.entry(service.to_owned()).or_default() += n;
        }
    }

    /// Rows of `service` dropped by this node since it started.
    pub fn dropped(&self, service: &str) -> u64 {
        self.dropped.lock().map(|by| by.get(service).copied().unwrap_or(0)).unwrap_or(0)
    }

    /// Prometheus text: `switchyard_capture_dropped_total`, per service and in total.
    pub fn prometheus(&self) -> String {
        let mut out = String::from(
            "# HELP switchyard_capture_dropped_total Captured requests dropped because the capture queue was full or the registry refused them.\n# TYPE switchyard_capture_dropped_total counter\n",
        );
        let by = self.dropped.lock().map(|m| m.clone()).unwrap_or_default();
        let mut services: Vec<_> = by.into_iter().collect();
        services.sort();
        for (service, n) in services {
            out.push_str(&format!("switchyard_capture_dropped_total{{service=\"{}\"}} {n}\n", escape_label(&service)));
        }
        if self.dropped_total.load(Ordering::Relaxed) == 0 {
            out.push_str("switchyard_capture_dropped_total 0\n");
        }
        out
    }
}

fn escape_label(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Keyed hashing of features under the registry's capture secret: the stored value is
/// neither the raw value nor its plain digest.
#[derive(Clone)]
pub struct FeatureHasher {
    mac: Hmac<Sha256>,
}

impl FeatureHasher {
    pub fn new(secret: &[u8]) -> Self {
        Self { mac: crate::monitor::feedback::keyed_mac(secret) }
    }

    /// `hmac-sha256:<hex>` of the feature name and the value's JSON text.
    pub fn hash(&self, name: &str, value: &Value) -> String {
        let mut mac = self.mac.clone();
        mac.update(name.as_bytes());
        mac.update(b"\n");
        match value {
            Value::String(s) => mac.update(s.as_bytes()),
            other => mac.update(other.to_string().as_bytes()),
        }
        format!("{HASH_PREFIX}{}", hex::encode(mac.finalize().into_bytes()))
    }
}

/// The features as stored under `policy`: dropped ones removed, hashed ones replaced.
pub fn apply_policy(
    policy: Option<&CapturePolicy>,
    hasher: &FeatureHasher,
    features: Map<String, Value>,
) -> Map<String, Value> {
    let Some(policy) = policy.filter(|p| !p.drop_features.is_empty() || !p.hash_features.is_empty()) else {
        return features;
    };
    features
        .into_iter()
        .filter(|(k, _)| !policy.drop_features.contains(k))
        .map(|(k, v)| {
            if policy.hash_features.contains(&k) {
                let h = hasher.hash(&k, &v);
                (k, Value::String(h))
            } else {
                (k, v)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy(percent: f64) -> CapturePolicy {
        CapturePolicy {
            percent,
            max_rows: 10,
            retention_seconds: 60,
            drop_features: vec!["email".into()],
            hash_features: vec!["ssn".into()],
        }
    }

    #[test]
    fn policies_are_validated() {
        assert!(policy(10.0).validate().is_ok());
        assert!(policy(100.5).validate().is_err());
        assert!(policy(-1.0).validate().is_err());
        assert!(policy(f64::NAN).validate().is_err());
        let mut both = policy(10.0);
        both.hash_features.push("email".into());
        let e = both.validate().expect_err("refused").to_string();
        assert!(e.contains("'email' is both dropped and hashed"), "{e}");
        let mut cap = policy(10.0);
        cap.max_rows = 0;
        assert!(cap.validate().is_err());
    }

    #[test]
    fn dropped_features_go_and_hashed_ones_are_keyed() {
        use sha2::Digest;
        let hasher = FeatureHasher::new(b"registry secret");
        let features =
            json!({"email": "a@b.c", "ssn": "123-45-6789", "age": 41}).as_object().cloned().expect("test value");
        let stored = apply_policy(Some(&policy(10.0)), &hasher, features);
        let text = serde_json::to_string(&stored).expect("test value");
        assert!(!text.contains("a@b.c") && !text.contains("email"), "{text}");
        assert!(!text.contains("123-45-6789"), "{text}");
        let plain = hex::encode(sha2::Sha256::digest(b"123-45-6789"));
        assert!(!text.contains(&plain), "{text}");
        assert_eq!(stored["age"], json!(41));
        let hashed = stored["ssn"].as_str().expect("test value");
        assert!(hashed.starts_with(HASH_PREFIX));
        // The same value hashes the same under one secret (joins stay possible), not under another.
        assert_eq!(hashed, hasher.hash("ssn", &json!("123-45-6789")));
        assert_ne!(hashed, FeatureHasher::new(b"other").hash("ssn", &json!("123-45-6789")));
    }

    #[test]
    fn a_full_queue_drops_and_counts() {
        let capture = Capture::new(2, Some(1));
        let row = |id: &str| Captured {
            service: "iris".into(),
            at_ms: 0,
            revision: 1,
            generation: "v1".into(),
            request_id: id.into(),
            features: Map::new(),
            prediction: Prediction::Value(1.0),
            latency_ms: 0.1,
            shadow: None,
        };
        for i in 0..5 {
            capture.offer(row(&i.to_string()));
        }
        assert_eq!(capture.dropped("iris"), 3);
        let queued: Vec<String> = capture.queue().take(10).into_iter().map(|r| r.request_id).collect();
        assert_eq!(queued, ["0", "1"]);
        assert!(capture.queue().is_empty());
        assert!(capture.prometheus().contains("switchyard_capture_dropped_total{service=\"iris\"} 3"));
        capture.queue().close();
        capture.offer(row("5"));
        assert_eq!(capture.dropped("iris"), 4, "a closed queue drops");
    }

    #[test]
    fn sampling_is_seeded() {
        let draws = |seed| {
            let capture = Capture::new(1, Some(seed));
            (0..1000).map(|_| capture.sample(&policy(10.0))).collect::<Vec<_>>()
        };
        assert_eq!(draws(7), draws(7));
        assert_ne!(draws(7), draws(8));
        let capture = Capture::new(1, Some(7));
        assert!((0..100).all(|_| capture.sample(&policy(100.0))));
        assert!((0..100).all(|_| !capture.sample(&policy(0.0))));
    }
}
