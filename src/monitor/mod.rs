//! Per-generation traffic: requests, server errors, client rejections and an HDR latency
//! histogram, in one-minute buckets kept for [`RETENTION_MINUTES`] and persisted in the
//! registry (`persist.rs`) so charts and reports survive restarts; plus cumulative totals
//! since start for `/metrics` and the canary controller. Shadow (mirrored) traffic is kept
//! apart, with its agreement with the live answer.
//!
//! Recording takes a read lock on the series map and a short lock on one series; the
//! request path never waits on anything slower.

pub mod ab;
pub mod feedback;
mod persist;
mod prometheus;
pub mod stats;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

pub use persist::{flush, load, others_buckets, others_since};
pub(crate) use prometheus::esc as escape_label;

/// How long per-minute buckets are kept in memory.
pub const RETENTION_MINUTES: i64 = 24 * 60;

/// Latencies are recorded in microseconds, 1 µs to 60 s, with 3 significant digits
/// (a recorded value is within 0.1% of the true one).
const HIST_MAX_US: u64 = 60_000_000;
const HIST_SIGFIG: u8 = 3;

#[allow(clippy::expect_used)]
/// An empty latency histogram with the monitor's bounds (reports merge stored ones into it).
pub(crate) fn histogram() -> Histogram<u64> {
    // Constant bounds that hdrhistogram accepts (checked by every test that records).
    Histogram::new_with_bounds(1, HIST_MAX_US, HIST_SIGFIG).expect("valid histogram bounds")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// The request was refused as invalid (4xx): counted, but not a model error.
    Rejected,
    /// The model or the node failed (5xx).
    Error,
}

/// Whether traffic was served to the client or mirrored to a shadow generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Live,
    Shadow,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::Live => "live",
            Role::Shadow => "shadow",
        }
    }
}

/// How a shadow answer compared with the live one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Comparison {
    /// Same class (classifiers) or within 1e-6 relative (regressors).
    pub agree: bool,
    /// |shadow − live| for regressors, 0 or 1 for classifiers.
    pub abs_diff: f64,
}

#[derive(Clone)]
pub struct Bucket {
    minute: i64,
    requests: u64,
    errors: u64,
    rejected: u64,
    compared: u64,
    agreed: u64,
    abs_diff_sum: f64,
    latency: Histogram<u64>,
    dirty: bool,
}

impl Bucket {
    fn new(minute: i64) -> Self {
        Self {
            minute,
            requests: 0,
            errors: 0,
            rejected: 0,
            compared: 0,
            agreed: 0,
            abs_diff_sum: 0.0,
            latency: histogram(),
            dirty: true,
        }
    }

    /// Adds `other`'s counts (another node's, or the minutes of a step).
    fn add(&mut self, other: &Bucket) {
        self.requests += other.requests;
        self.errors += other.errors;
        self.rejected += other.rejected;
        self.compared += other.compared;
        self.agreed += other.agreed;
        self.abs_diff_sum += other.abs_diff_sum;
        let _ = self.latency.add(&other.latency);
    }
}

/// Counts since the node started.
#[derive(Clone)]
pub struct Totals {
    pub ok: u64,
    pub errors: u64,
    pub rejected: u64,
    pub compared: u64,
    pub agreed: u64,
    pub latency: Histogram<u64>,
    pub latency_sum_seconds: f64,
}

impl Default for Totals {
    fn default() -> Self {
        Self { ok: 0, errors: 0, rejected: 0, compared: 0, agreed: 0, latency: histogram(), latency_sum_seconds: 0.0 }
    }
}

impl Totals {
    /// Requests that reached a model (served or failed), i.e. not refused as invalid.
    pub fn served(&self) -> u64 {
        self.ok + self.errors
    }

    /// Adds another generation's (or node's) counts to these.
    pub fn add(&mut self, other: &Totals) {
        self.ok += other.ok;
        self.errors += other.errors;
        self.rejected += other.rejected;
        self.compared += other.compared;
        self.agreed += other.agreed;
        let _ = self.latency.add(&other.latency);
        self.latency_sum_seconds += other.latency_sum_seconds;
    }

    /// What was counted after `earlier` (a snapshot of the same cumulative counters).
    pub fn since(&self, earlier: &Totals) -> Totals {
        let mut latency = self.latency.clone();
        let _ = latency.subtract(&earlier.latency);
        Totals {
            ok: self.ok.saturating_sub(earlier.ok),
            errors: self.errors.saturating_sub(earlier.errors),
            rejected: self.rejected.saturating_sub(earlier.rejected),
            compared: self.compared.saturating_sub(earlier.compared),
            agreed: self.agreed.saturating_sub(earlier.agreed),
            latency,
            latency_sum_seconds: (self.latency_sum_seconds - earlier.latency_sum_seconds).max(0.0),
        }
    }
}

#[derive(Default)]
struct Series {
    buckets: VecDeque<Bucket>,
    totals: Totals,
}

type Key = (String, String, Role);

#[derive(Default)]
pub struct Monitor {
    /// Serialises flushes: two flushes committing out of order could overwrite a bucket's
    /// newer state with an older one.
    flush_lock: tokio::sync::Mutex<()>,
    series: RwLock<HashMap<Key, Arc<Mutex<Series>>>>,
    /// Requests refused for missing or wrong credentials, by service, since start.
    auth_failures: Mutex<HashMap<String, u64>>,
}

/// One minute of one generation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MinuteStats {
    pub start: DateTime<Utc>,
    pub requests: u64,
    pub errors: u64,
    pub rejected: u64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
}

/// One generation over a window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GenerationStats {
    pub generation: String,
    pub requests: u64,
    pub errors: u64,
    pub rejected: u64,
    pub error_rate: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub minutes: Vec<MinuteStats>,
}

/// A shadow generation over a window: its own latency and errors, and how often it agreed
/// with the live answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ShadowStats {
    pub generation: String,
    pub requests: u64,
    pub errors: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub compared: u64,
    pub agreement: Option<f64>,
    pub mean_abs_diff: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MonitorSnapshot {
    pub service: String,
    pub window_minutes: i64,
    pub generations: Vec<GenerationStats>,
    pub shadows: Vec<ShadowStats>,
}

fn minute_of(t: DateTime<Utc>) -> i64 {
    t.timestamp().div_euclid(60)
}

fn ms(h: &Histogram<u64>, q: f64) -> f64 {
    if h.is_empty() { 0.0 } else { h.value_at_quantile(q) as f64 / 1000.0 }
}

impl Monitor {
    /// Counts one request of a live generation answered at `at`.
    pub fn record(&self, service: &str, generation: &str, outcome: Outcome, latency: Duration, at: DateTime<Utc>) {
        self.record_at(service, generation, Role::Live, outcome, latency, None, at);
    }

    pub fn record_shadow(
        &self,
        service: &str,
        generation: &str,
        outcome: Outcome,
        latency: Duration,
        cmp: Option<Comparison>,
        at: DateTime<Utc>,
    ) {
        self.record_at(service, generation, Role::Shadow, outcome, latency, cmp, at);
    }

    #[allow(clippy::too_many_arguments)]
    pub fn record_at(
        &self,
        service: &str,
        generation: &str,
        role: Role,
        outcome: Outcome,
        latency: Duration,
        cmp: Option<Comparison>,
        at: DateTime<Utc>,
    ) {
        record_into(&self.series_for(service, generation, role), outcome, latency, cmp, at);
    }

    /// The handle of a live generation's series, for [`Monitor::record_to`].
    pub fn counter(&self, service: &str, generation: &str) -> Counter {
        Counter(self.series_for(service, generation, Role::Live))
    }

    /// Counts one request of the live generation `counter` names, answered at `at`.
    pub fn record_to(&self, counter: &Counter, outcome: Outcome, latency: Duration, at: DateTime<Utc>) {
        record_into(&counter.0, outcome, latency, None, at);
    }

    fn series_for(&self, service: &str, generation: &str, role: Role) -> Arc<Mutex<Series>> {
        let key = (service.to_owned(), generation.to_owned(), role);
        if let Ok(map) = self.series.read()
            && let Some(s) = map.get(&key)
        {
            return Arc::clone(s);
        }
        match self.series.write() {
            Ok(mut map) => Arc::clone(map.entry(key).or_default()),
            Err(_) => Arc::new(Mutex::new(Series::default())),
        }
    }

    /// Cumulative counts of one live generation since start (the canary controller takes
    /// differences of these between two moments).
    pub fn totals(&self, service: &str, generation: &str) -> Totals {
        let series = self.series_for(service, generation, Role::Live);
        series.lock().map(|s| s.totals.clone()).unwrap_or_default()
    }

    /// Cumulative counts of a generation as the shadow since start: its comparisons with the
    /// live answer among them.
    pub fn shadow_totals(&self, service: &str, generation: &str) -> Totals {
        let series = self.series_for(service, generation, Role::Shadow);
        series.lock().map(|s| s.totals.clone()).unwrap_or_default()
    }

    fn series_of(&self, service: &str, role: Role) -> BTreeMap<String, Arc<Mutex<Series>>> {
        match self.series.read() {
            Ok(map) => map
                .iter()
                .filter(|((s, _, r), _)| s == service && *r == role)
                .map(|((_, g, _), v)| (g.clone(), Arc::clone(v)))
                .collect(),
            Err(_) => BTreeMap::new(),
        }
    }

    /// This node's minutes alone (tests).
    #[cfg(test)]
    fn snapshot_at(&self, service: &str, minutes: i64, now: DateTime<Utc>) -> MonitorSnapshot {
        self.snapshot_with(service, minutes, now, Vec::new())
    }

    /// The window's snapshot from this node's minutes and `others` (minutes other nodes of a
    /// shared registry counted, [`persist::others_buckets`]), added minute by minute.
    pub fn snapshot_with(
        &self,
        service: &str,
        minutes: i64,
        now: DateTime<Utc>,
        others: Vec<(String, Role, Bucket)>,
    ) -> MonitorSnapshot {
        let minutes = minutes.clamp(1, RETENTION_MINUTES);
        let (since, until) = (minute_of(now) - minutes + 1, minute_of(now));
        // (role, generation) -> minute -> bucket
        let mut merged: BTreeMap<(Role, String), BTreeMap<i64, Bucket>> = BTreeMap::new();
        let mut add = |role: Role, generation: String, b: &Bucket| {
            if b.minute >= since && b.minute <= until {
                let slot = merged.entry((role, generation)).or_default();
                slot.entry(b.minute).or_insert_with(|| Bucket::new(b.minute)).add(b);
            }
        };
        for role in [Role::Live, Role::Shadow] {
            for (generation, series) in self.series_of(service, role) {
                let Ok(series) = series.lock() else { continue };
                series.buckets.iter().for_each(|b| add(role, generation.clone(), b));
            }
        }
        for (generation, role, b) in &others {
            add(*role, generation.clone(), b);
        }
        let (mut generations, mut shadows) = (Vec::new(), Vec::new());
        for ((role, generation), buckets) in merged {
            let mut total = Bucket::new(since);
            buckets.values().for_each(|b| total.add(b));
            if total.requests == 0 {
                continue;
            }
            match role {
                Role::Live => generations.push(GenerationStats {
                    generation,
                    requests: total.requests,
                    errors: total.errors,
                    rejected: total.rejected,
                    error_rate: total.errors as f64 / total.requests as f64,
                    p50_ms: ms(&total.latency, 0.5),
                    p95_ms: ms(&total.latency, 0.95),
                    p99_ms: ms(&total.latency, 0.99),
                    minutes: buckets
                        .values()
                        .map(|b| MinuteStats {
                            start: DateTime::from_timestamp(b.minute * 60, 0).unwrap_or_default(),
                            requests: b.requests,
                            errors: b.errors,
                            rejected: b.rejected,
                            p50_ms: ms(&b.latency, 0.5),
                            p95_ms: ms(&b.latency, 0.95),
                            p99_ms: ms(&b.latency, 0.99),
                        })
                        .collect(),
                }),
                Role::Shadow => shadows.push(ShadowStats {
                    generation,
                    requests: total.requests,
                    errors: total.errors,
                    p50_ms: ms(&total.latency, 0.5),
                    p99_ms: ms(&total.latency, 0.99),
                    compared: total.compared,
                    agreement: (total.compared > 0).then(|| total.agreed as f64 / total.compared as f64),
                    mean_abs_diff: (total.compared > 0).then(|| total.abs_diff_sum / total.compared as f64),
                }),
            }
        }
        MonitorSnapshot { service: service.to_owned(), window_minutes: minutes, generations, shadows }
    }

    pub fn record_auth_failure(&self, service: &str) {
        if let Ok(mut failures) = self.auth_failures.lock() {
            *failures.entry(service.to_owned()).or_default() += 1;
        }
    }

    pub fn auth_failures(&self, service: &str) -> u64 {
        self.auth_failures.lock().ok().and_then(|f| f.get(service).copied()).unwrap_or(0)
    }

    /// Prometheus text exposition of the totals since start.
    pub fn prometheus(&self) -> String {
        let series: Vec<(Key, Totals)> = match self.series.read() {
            Ok(map) => map.iter().filter_map(|(k, v)| v.lock().ok().map(|s| (k.clone(), s.totals.clone()))).collect(),
            Err(_) => Vec::new(),
        };
        let failures = self.auth_failures.lock().map(|f| f.clone().into_iter().collect()).unwrap_or_default();
        prometheus::render(series, failures)
    }
}

/// A handle to one live generation's series, resolved once when a config is activated, so
/// the request path records a request without building a key or reading the monitor's map.
#[derive(Clone)]
pub struct Counter(Arc<Mutex<Series>>);

fn record_into(
    series: &Mutex<Series>,
    outcome: Outcome,
    latency: Duration,
    cmp: Option<Comparison>,
    at: DateTime<Utc>,
) {
    let Ok(mut series) = series.lock() else { return };
    let minute = minute_of(at);
    if series.buckets.back().is_none_or(|b| b.minute < minute) {
        series.buckets.push_back(Bucket::new(minute));
        while series.buckets.front().is_some_and(|b| b.minute <= minute - RETENTION_MINUTES) {
            series.buckets.pop_front();
        }
    }
    let us = (latency.as_micros() as u64).clamp(1, HIST_MAX_US);
    let Series { buckets, totals } = &mut *series;
    // A late sample (clock went back) lands in the newest bucket not after it.
    let Some(bucket) = buckets.iter_mut().rev().find(|b| b.minute <= minute).or(None) else { return };
    bucket.requests += 1;
    bucket.dirty = true;
    match outcome {
        Outcome::Ok => {
            let _ = bucket.latency.record(us);
            let _ = totals.latency.record(us);
            totals.latency_sum_seconds += latency.as_secs_f64();
            totals.ok += 1;
        }
        Outcome::Rejected => {
            bucket.rejected += 1;
            totals.rejected += 1;
        }
        Outcome::Error => {
            bucket.errors += 1;
            totals.errors += 1;
        }
    }
    if let Some(c) = cmp {
        bucket.compared += 1;
        totals.compared += 1;
        bucket.abs_diff_sum += c.abs_diff;
        if c.agree {
            bucket.agreed += 1;
            totals.agreed += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng, rngs::StdRng};

    fn rec(m: &Monitor, g: &str, role: Role, outcome: Outcome, us: u64, at: DateTime<Utc>) {
        m.record_at("s", g, role, outcome, Duration::from_micros(us), None, at);
    }

    #[test]
    fn percentiles_match_brute_force_within_precision() {
        let monitor = Monitor::default();
        let now = DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z").expect("t").with_timezone(&Utc);
        let mut rng = StdRng::seed_from_u64(7);
        let mut samples: Vec<u64> = (0..5000).map(|_| rng.random_range(50..20_000)).collect();
        for &us in &samples {
            rec(&monitor, "v1", Role::Live, Outcome::Ok, us, now);
        }
        samples.sort();
        let snap = monitor.snapshot_at("s", 5, now);
        let g = &snap.generations[0];
        assert_eq!(g.requests, 5000);
        for (q, got) in [(0.5, g.p50_ms), (0.95, g.p95_ms), (0.99, g.p99_ms)] {
            let exact = samples[((q * samples.len() as f64).ceil() as usize).saturating_sub(1)] as f64 / 1000.0;
            // 3 significant digits: within 0.1% of the value.
            assert!((got - exact).abs() <= exact * 0.001 + 0.001, "q{q}: {got} vs {exact}");
        }
    }

    #[test]
    fn buckets_per_minute_and_window() {
        let monitor = Monitor::default();
        let t0 = DateTime::parse_from_rfc3339("2026-11-22T10:00:10Z").expect("t").with_timezone(&Utc);
        for i in 0..3 {
            let at = t0 + chrono::Duration::minutes(i);
            rec(&monitor, "v1", Role::Live, Outcome::Ok, 2000, at);
            rec(&monitor, "v1", Role::Live, Outcome::Error, 2000, at);
            rec(&monitor, "v2", Role::Live, Outcome::Rejected, 2000, at);
        }
        let now = t0 + chrono::Duration::minutes(2);
        let snap = monitor.snapshot_at("s", 2, now);
        let v1 = &snap.generations[0];
        assert_eq!((v1.generation.as_str(), v1.requests, v1.errors, v1.minutes.len()), ("v1", 4, 2, 2));
        assert!((v1.error_rate - 0.5).abs() < 1e-12);
        assert_eq!(snap.generations[1].rejected, 2);
        assert!(monitor.snapshot_at("other", 60, now).generations.is_empty());
        let totals = monitor.totals("s", "v1");
        assert_eq!((totals.ok, totals.errors, totals.served()), (3, 3, 6));
    }

    #[test]
    fn shadow_traffic_is_kept_apart() {
        let monitor = Monitor::default();
        let now = DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z").expect("t").with_timezone(&Utc);
        rec(&monitor, "v1", Role::Live, Outcome::Ok, 100, now);
        for i in 0..4 {
            let cmp = Comparison { agree: i != 0, abs_diff: if i == 0 { 1.0 } else { 0.0 } };
            monitor.record_at("s", "v2", Role::Shadow, Outcome::Ok, Duration::from_micros(300), Some(cmp), now);
        }
        let snap = monitor.snapshot_at("s", 5, now);
        assert_eq!(snap.generations.len(), 1);
        assert_eq!(snap.shadows[0].requests, 4);
        assert_eq!(snap.shadows[0].agreement, Some(0.75));
        assert_eq!(snap.shadows[0].mean_abs_diff, Some(0.25));
    }
}
