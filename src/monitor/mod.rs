//! Per-generation traffic: requests, server errors, client rejections and an HDR latency
//! histogram, in one-minute buckets kept for [`RETENTION_MINUTES`].
//!
//! Recording takes a read lock on the series map and a short lock on one series; the
//! request path never waits on anything slower.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// How long per-minute buckets are kept in memory.
pub const RETENTION_MINUTES: i64 = 24 * 60;

/// Latencies are recorded in microseconds, 1 µs to 60 s, with 3 significant digits
/// (a recorded value is within 0.1% of the true one).
const HIST_MAX_US: u64 = 60_000_000;
const HIST_SIGFIG: u8 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// The request was refused as invalid (4xx): counted, but not a model error.
    Rejected,
    /// The model or the node failed (5xx).
    Error,
}

struct Bucket {
    minute: i64,
    requests: u64,
    errors: u64,
    rejected: u64,
    latency: Histogram<u64>,
}

impl Bucket {
    fn new(minute: i64) -> Option<Self> {
        let latency = Histogram::new_with_bounds(1, HIST_MAX_US, HIST_SIGFIG).ok()?;
        Some(Self { minute, requests: 0, errors: 0, rejected: 0, latency })
    }
}

#[derive(Default)]
struct Series {
    buckets: VecDeque<Bucket>,
}

type Key = (String, String);

#[derive(Default)]
pub struct Monitor {
    series: RwLock<HashMap<Key, Arc<Mutex<Series>>>>,
}

/// One minute of one generation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonitorSnapshot {
    pub service: String,
    pub window_minutes: i64,
    pub generations: Vec<GenerationStats>,
}

fn minute_of(t: DateTime<Utc>) -> i64 {
    t.timestamp().div_euclid(60)
}

fn ms(h: &Histogram<u64>, q: f64) -> f64 {
    if h.is_empty() { 0.0 } else { h.value_at_quantile(q) as f64 / 1000.0 }
}

impl Monitor {
    pub fn record(&self, service: &str, generation: &str, outcome: Outcome, latency: Duration) {
        self.record_at(service, generation, outcome, latency, Utc::now());
    }

    pub fn record_at(&self, service: &str, generation: &str, outcome: Outcome, latency: Duration, at: DateTime<Utc>) {
        let series = self.series_for(service, generation);
        let Ok(mut series) = series.lock() else { return };
        let minute = minute_of(at);
        if series.buckets.back().is_none_or(|b| b.minute < minute) {
            let Some(bucket) = Bucket::new(minute) else { return };
            series.buckets.push_back(bucket);
            while series.buckets.front().is_some_and(|b| b.minute <= minute - RETENTION_MINUTES) {
                series.buckets.pop_front();
            }
        }
        // A late sample (clock went back) lands in the newest bucket.
        let Some(bucket) = series.buckets.iter_mut().rev().find(|b| b.minute <= minute).or(None) else { return };
        bucket.requests += 1;
        match outcome {
            Outcome::Ok => {
                let us = (latency.as_micros() as u64).clamp(1, HIST_MAX_US);
                let _ = bucket.latency.record(us);
            }
            Outcome::Rejected => bucket.rejected += 1,
            Outcome::Error => bucket.errors += 1,
        }
    }

    fn series_for(&self, service: &str, generation: &str) -> Arc<Mutex<Series>> {
        let key = (service.to_owned(), generation.to_owned());
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

    /// The last `minutes` minutes of a service, per generation (generations sorted by name).
    pub fn snapshot(&self, service: &str, minutes: i64) -> MonitorSnapshot {
        self.snapshot_at(service, minutes, Utc::now())
    }

    pub fn snapshot_at(&self, service: &str, minutes: i64, now: DateTime<Utc>) -> MonitorSnapshot {
        let minutes = minutes.clamp(1, RETENTION_MINUTES);
        let since = minute_of(now) - minutes + 1;
        let series: BTreeMap<String, Arc<Mutex<Series>>> = match self.series.read() {
            Ok(map) => {
                map.iter().filter(|((s, _), _)| s == service).map(|((_, g), v)| (g.clone(), Arc::clone(v))).collect()
            }
            Err(_) => BTreeMap::new(),
        };
        let mut generations = Vec::new();
        for (generation, series) in series {
            let Ok(series) = series.lock() else { continue };
            let Ok(mut total) = Histogram::<u64>::new_with_bounds(1, HIST_MAX_US, HIST_SIGFIG) else { continue };
            let (mut requests, mut errors, mut rejected) = (0, 0, 0);
            let mut per_minute = Vec::new();
            for b in series.buckets.iter().filter(|b| b.minute >= since) {
                requests += b.requests;
                errors += b.errors;
                rejected += b.rejected;
                let _ = total.add(&b.latency);
                per_minute.push(MinuteStats {
                    start: DateTime::from_timestamp(b.minute * 60, 0).unwrap_or_default(),
                    requests: b.requests,
                    errors: b.errors,
                    rejected: b.rejected,
                    p50_ms: ms(&b.latency, 0.5),
                    p95_ms: ms(&b.latency, 0.95),
                    p99_ms: ms(&b.latency, 0.99),
                });
            }
            if requests == 0 {
                continue;
            }
            generations.push(GenerationStats {
                generation,
                requests,
                errors,
                rejected,
                error_rate: errors as f64 / requests as f64,
                p50_ms: ms(&total, 0.5),
                p95_ms: ms(&total, 0.95),
                p99_ms: ms(&total, 0.99),
                minutes: per_minute,
            });
        }
        MonitorSnapshot { service: service.to_owned(), window_minutes: minutes, generations }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng, rngs::StdRng};

    #[test]
    fn percentiles_match_brute_force_within_precision() {
        let monitor = Monitor::default();
        let now = Utc::now();
        let mut rng = StdRng::seed_from_u64(7);
        let mut samples: Vec<u64> = (0..5000).map(|_| rng.random_range(50..20_000)).collect();
        for &us in &samples {
            monitor.record_at("s", "v1", Outcome::Ok, Duration::from_micros(us), now);
        }
        samples.sort();
        let snap = monitor.snapshot_at("s", 5, now);
        let g = &snap.generations[0];
        assert_eq!(g.requests, 5000);
        for (q, got) in [(0.5, g.p50_ms), (0.95, g.p95_ms), (0.99, g.p99_ms)] {
            let exact = samples[((q * samples.len() as f64).ceil() as usize).saturating_sub(1)] as f64 / 1000.0;
            // 3 significant digits: within 0.1%, plus one bucket's width.
            assert!((got - exact).abs() <= exact * 0.002 + 0.001, "q{q}: {got} vs {exact}");
        }
    }

    #[test]
    fn buckets_per_minute_and_window() {
        let monitor = Monitor::default();
        let t0 = DateTime::parse_from_rfc3339("2026-11-22T10:00:10Z").expect("t").with_timezone(&Utc);
        for i in 0..3 {
            let at = t0 + chrono::Duration::minutes(i);
            monitor.record_at("s", "v1", Outcome::Ok, Duration::from_millis(2), at);
            monitor.record_at("s", "v1", Outcome::Error, Duration::from_millis(2), at);
            monitor.record_at("s", "v2", Outcome::Rejected, Duration::from_millis(2), at);
        }
        let now = t0 + chrono::Duration::minutes(2);
        let snap = monitor.snapshot_at("s", 2, now);
        let v1 = &snap.generations[0];
        assert_eq!((v1.generation.as_str(), v1.requests, v1.errors, v1.minutes.len()), ("v1", 4, 2, 2));
        assert!((v1.error_rate - 0.5).abs() < 1e-12);
        assert_eq!(snap.generations[1].rejected, 2);
        assert!(monitor.snapshot_at("other", 60, now).generations.is_empty());
    }
}
