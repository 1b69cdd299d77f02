//! Replay: captured requests run through another version, offline. This module holds the
//! pure part: the feature check, the streaming [`Accumulator`] of the figures (agreement and
//! confusion matrix or Δ statistics, ground truth with a paired test, latency, the rows that
//! disagree most), the `replays` table and the runs in progress. The engine
//! (`engine/capture.rs`) loads the version and feeds batches through.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sqlx::Row;
use tokio_util::sync::CancellationToken;

use super::HASH_PREFIX;
use super::store::CaptureRow;
use crate::error::{Error, Result};
use crate::model::Prediction;
use crate::monitor::ab::wilson;
use crate::monitor::stats::{normal_two_sided_p, t_critical, t_two_sided_p};
use crate::store::{LOCAL_NODE, Pool};

/// Rows read, run and forgotten at a time: a replay of any length holds one batch.
pub const REPLAY_BATCH: i64 = 500;
/// How many of the rows that disagree most a result keeps.
pub const WORST_KEPT: usize = 20;

/// What to replay.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    /// The version to run the captured requests through.
    pub version: String,
    /// Start of the window: a duration back from now (`24h`, `7d`) or an RFC 3339 time
    /// (default: every captured row).
    pub since: Option<String>,
    /// At most this many rows, oldest first.
    pub limit: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReplayStatus {
    Running,
    Done,
    Cancelled,
    Failed,
}

impl ReplayStatus {
    fn as_str(self) -> &'static str {
        match self {
            ReplayStatus::Running => "running",
            ReplayStatus::Done => "done",
            ReplayStatus::Cancelled => "cancelled",
            ReplayStatus::Failed => "failed",
        }
    }

    fn parse(s: &str) -> ReplayStatus {
        match s {
            "running" => ReplayStatus::Running,
            "done" => ReplayStatus::Done,
            "cancelled" => ReplayStatus::Cancelled,
            _ => ReplayStatus::Failed,
        }
    }
}

/// A replay and, once finished, its figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Replay {
    pub id: i64,
    pub service: String,
    pub version: String,
    pub since_ms: i64,
    pub until_ms: i64,
    pub limit: Option<i64>,
    pub status: ReplayStatus,
    /// Rows run so far.
    pub replayed: i64,
    /// Rows in the window (at most `limit`).
    pub total: i64,
    pub figures: Option<ReplayFigures>,
    pub error: Option<String>,
    pub created_by: String,
    pub created_at: i64,
    pub finished_at: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AnswerKind {
    Classification,
    Regression,
}

/// What a replay found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReplayFigures {
    pub kind: AnswerKind,
    pub rows: u64,
    /// Classification: the share of rows where the candidate's label equals the live one.
    /// Regression: the share where the values are equal within 1e-6 (relative).
    pub agreement: f64,
    /// Rows whose answers are identical (label and probabilities, or value).
    pub identical: u64,
    pub confusion: Option<Confusion>,
    pub regression: Option<DeltaFigures>,
    /// Where feedback was recorded for the request: live vs candidate.
    pub ground_truth: Option<GroundTruth>,
    pub latency: LatencyFigures,
    /// The rows where they disagree most, most first.
    pub disagreements: Vec<Disagreement>,
}

/// Live labels (rows) × candidate labels (columns).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Confusion {
    pub classes: Vec<String>,
    /// `counts[i][j]`: rows answered `classes[i]` live and `classes[j]` by the candidate.
    pub counts: Vec<Vec<u64>>,
}

/// Regression: Δ = candidate − live.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeltaFigures {
    pub mae: f64,
    pub max_abs_delta: f64,
    pub histogram: Vec<DeltaBin>,
}

/// Rows with `low` ≤ Δ < `high` (None: unbounded).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeltaBin {
    pub low: Option<f64>,
    pub high: Option<f64>,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Estimate {
    pub value: f64,
    /// 95 % interval (Wilson for accuracy; from Student's t on the squared errors for RMSE).
    pub ci_low: f64,
    pub ci_high: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PairedTest {
    /// McNemar's χ² with continuity correction on the discordant pairs.
    Mcnemar,
    /// Paired t-test on the squared errors (live − candidate).
    PairedT,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GroundTruth {
    /// Rows with feedback.
    pub n: u64,
    /// `accuracy` or `rmse`.
    pub metric: String,
    pub live: Estimate,
    pub candidate: Estimate,
    pub test: PairedTest,
    pub statistic: f64,
    pub p_value: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LatencyFigures {
    pub candidate_p50_ms: f64,
    pub candidate_p99_ms: f64,
    /// As recorded when the request was answered live.
    pub live_p50_ms: f64,
    pub live_p99_ms: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Disagreement {
    pub request_id: String,
    pub at_ms: i64,
    pub generation: String,
    /// The live answer (label or value) and the candidate's.
    pub live: Value,
    pub candidate: Value,
    /// Regression: |Δ|; classification: 1 − the candidate's probability of the live label.
    pub score: f64,
    #[schema(value_type = Object)]
    pub features: Map<String, Value>,
}

/// Names the features that keep the captured rows from running on a version: missing (the
/// version needs them; dropped or hashed by the policy counts as missing) and extra (the rows
/// have them, the version does not take them). None when they match.
pub fn feature_mismatch(version_features: &[String], row: &Map<String, Value>) -> Option<(Vec<String>, Vec<String>)> {
    let usable = |k: &str| row.get(k).is_some_and(|v| !v.as_str().is_some_and(|s| s.starts_with(HASH_PREFIX)));
    let missing: Vec<String> = version_features.iter().filter(|f| !usable(f)).cloned().collect();
    let extra: Vec<String> = row.keys().filter(|k| !version_features.contains(k)).cloned().collect();
    (!missing.is_empty() || !extra.is_empty()).then_some((missing, extra))
}

/// A captured row as a model row in `features` order, or None when a value is not a number.
pub fn model_row(features: &[String], row: &Map<String, Value>) -> Option<Vec<f64>> {
    features.iter().map(|f| row.get(f).and_then(Value::as_f64)).collect()
}

/// The class a feedback outcome names: a class whose name is that number, else the class of
/// that index.
pub fn truth_label(outcome: f64, classes: &[String]) -> Option<String> {
    if let Some(c) = classes.iter().find(|c| c.parse::<f64>().ok() == Some(outcome)) {
        return Some(c.clone());
    }
    (outcome.fract() == 0.0 && outcome >= 0.0).then(|| classes.get(outcome as usize).cloned()).flatten()
}

/// Streaming mean and variance (Welford).
#[derive(Debug, Clone, Default)]
struct Moments {
    n: f64,
    mean: f64,
    m2: f64,
}

impl Moments {
    fn add(&mut self, x: f64) {
        self.n += 1.0;
        let d = x - self.mean;
        self.mean += d / self.n;
        self.m2 += d * (x - self.mean);
    }

    fn variance(&self) -> f64 {
        if self.n > 1.0 { self.m2 / (self.n - 1.0) } else { f64::NAN }
    }
}

/// McNemar's test with continuity correction on discordant counts `b` (live right, candidate
/// wrong) and `c` (the reverse), as statsmodels' `mcnemar(exact=False, correction=True)`:
/// (χ², p). With no discordant pair there is no evidence either way: (0, 1).
pub fn mcnemar(b: u64, c: u64) -> (f64, f64) {
    if b + c == 0 {
        return (0.0, 1.0);
    }
    let (b, c) = (b as f64, c as f64);
    let stat = ((b - c).abs() - 1.0).powi(2) / (b + c);
    // P(χ²₁ > x) = P(|Z| > √x).
    (stat, normal_two_sided_p(stat.sqrt()))
}

/// The paired t-test of `d` = a − b summarised by its moments, as scipy's `ttest_rel(a, b)`:
/// (t, p). Needs two pairs; all-equal differences give t = 0 (p = 1) when they are zero.
fn paired_t(d: &Moments) -> (f64, f64) {
    if d.n < 2.0 {
        return (f64::NAN, f64::NAN);
    }
    let se = (d.variance() / d.n).sqrt();
    if se == 0.0 {
        return if d.mean == 0.0 { (0.0, 1.0) } else { (f64::INFINITY.copysign(d.mean), 0.0) };
    }
    let t = d.mean / se;
    (t, t_two_sided_p(t, d.n - 1.0))
}

/// Paired t on explicit samples (what the scipy fixture pins).
pub fn paired_t_test(a: &[f64], b: &[f64]) -> (f64, f64) {
    let mut d = Moments::default();
    for (x, y) in a.iter().zip(b) {
        d.add(x - y);
    }
    paired_t(&d)
}

/// The symmetric edges of the Δ histogram.
const DELTA_EDGES: [f64; 14] =
    [-100.0, -10.0, -1.0, -0.1, -0.01, -0.001, -1e-6, 1e-6, 0.001, 0.01, 0.1, 1.0, 10.0, 100.0];

/// The figures of a replay, fed one row at a time; holds no row beyond the few it keeps as
/// the worst disagreements.
pub struct Accumulator {
    kind: AnswerKind,
    classes: Vec<String>,
    rows: u64,
    agree: u64,
    identical: u64,
    confusion: BTreeMap<(String, String), u64>,
    abs_delta_sum: f64,
    max_abs_delta: f64,
    delta_bins: [u64; DELTA_EDGES.len() + 1],
    // Ground truth.
    truth_n: u64,
    live_right: u64,
    candidate_right: u64,
    live_only: u64,
    candidate_only: u64,
    live_sq: Moments,
    candidate_sq: Moments,
    sq_diff: Moments,
    candidate_latency: Histogram<u64>,
    live_latency: Histogram<u64>,
    worst: Vec<Disagreement>,
}

impl Accumulator {
    /// `classes`: the candidate's classes (empty for a regressor).
    pub fn new(kind: AnswerKind, classes: Vec<String>) -> Self {
        let histogram = || Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).expect("valid HDR bounds");
        Self {
            kind,
            classes,
            rows: 0,
            agree: 0,
            identical: 0,
            confusion: BTreeMap::new(),
            abs_delta_sum: 0.0,
            max_abs_delta: 0.0,
            delta_bins: [0; DELTA_EDGES.len() + 1],
            truth_n: 0,
            live_right: 0,
            candidate_right: 0,
            live_only: 0,
            candidate_only: 0,
            live_sq: Moments::default(),
            candidate_sq: Moments::default(),
            sq_diff: Moments::default(),
            candidate_latency: histogram(),
            live_latency: histogram(),
            worst: Vec::new(),
        }
    }

    pub fn add(&mut self, row: &CaptureRow, candidate: &Prediction, candidate_latency: Duration) {
        self.rows += 1;
        let us = |ms: f64| (ms * 1e3).round().clamp(1.0, 3.6e9) as u64;
        let _ = self.candidate_latency.record(us(candidate_latency.as_secs_f64() * 1e3));
        let _ = self.live_latency.record(us(row.latency_ms));
        match (candidate, &row.label, row.value) {
            (Prediction::Class { class, probabilities, .. }, Some(live), _) => {
                let agree = class == live;
                self.agree += u64::from(agree);
                let same_probabilities = row.probabilities.as_ref().is_some_and(|p| {
                    p.len() == probabilities.len() && p.iter().zip(probabilities).all(|(a, b)| a.0 == b.0 && a.1 == b.1)
                });
                self.identical += u64::from(agree && same_probabilities);
                *self.confusion.entry((live.clone(), class.clone())).or_default() += 1;
                if let Some(truth) = row.feedback.and_then(|f| truth_label(f, &self.classes)) {
                    let (l, c) = (*live == truth, *class == truth);
                    self.truth_n += 1;
                    self.live_right += u64::from(l);
                    self.candidate_right += u64::from(c);
                    self.live_only += u64::from(l && !c);
                    self.candidate_only += u64::from(c && !l);
                }
                if !agree {
                    let p_live = probabilities.iter().find(|(c, _)| c == live).map_or(0.0, |(_, p)| *p);
                    self.keep(row, Value::String(live.clone()), Value::String(class.clone()), 1.0 - p_live);
                }
            }
            (Prediction::Value(v), None, Some(live)) => {
                let delta = v - live;
                let abs = delta.abs();
                let agree = abs <= 1e-6 * live.abs().max(1.0);
                self.agree += u64::from(agree);
                self.identical += u64::from(*v == live);
                self.abs_delta_sum += abs;
                self.max_abs_delta = self.max_abs_delta.max(abs);
                self.delta_bins[DELTA_EDGES.partition_point(|e| *e <= delta)] += 1;
                if let Some(truth) = row.feedback {
                    let (l, c) = ((live - truth).powi(2), (v - truth).powi(2));
                    self.truth_n += 1;
                    self.live_sq.add(l);
                    self.candidate_sq.add(c);
                    self.sq_diff.add(l - c);
                }
                if !agree {
                    self.keep(row, serde_json::json!(live), serde_json::json!(v), abs);
                }
            }
            // A row whose live answer is of the other kind (checked before the replay starts).
            _ => {}
        }
    }

    fn keep(&mut self, row: &CaptureRow, live: Value, candidate: Value, score: f64) {
        if self.worst.len() >= WORST_KEPT && self.worst.last().is_some_and(|w| w.score >= score) {
            return;
        }
        self.worst.push(Disagreement {
            request_id: row.request_id.clone(),
            at_ms: row.at_ms,
            generation: row.generation.clone(),
            live,
            candidate,
            score,
            features: row.features.clone(),
        });
        self.worst.sort_by(|a, b| b.score.total_cmp(&a.score));
        self.worst.truncate(WORST_KEPT);
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    pub fn finish(self) -> ReplayFigures {
        let n = self.rows.max(1) as f64;
        let ms = |h: &Histogram<u64>, q: f64| if h.is_empty() { 0.0 } else { h.value_at_quantile(q) as f64 / 1e3 };
        let latency = LatencyFigures {
            candidate_p50_ms: ms(&self.candidate_latency, 0.5),
            candidate_p99_ms: ms(&self.candidate_latency, 0.99),
            live_p50_ms: ms(&self.live_latency, 0.5),
            live_p99_ms: ms(&self.live_latency, 0.99),
        };
        let (confusion, regression, ground_truth) = match self.kind {
            AnswerKind::Classification => {
                let mut classes = self.classes.clone();
                for (l, c) in self.confusion.keys() {
                    for name in [l, c] {
                        if !classes.contains(name) {
                            classes.push(name.clone());
                        }
                    }
                }
                let index: HashMap<&str, usize> = classes.iter().enumerate().map(|(i, c)| (c.as_str(), i)).collect();
                let mut counts = vec![vec![0u64; classes.len()]; classes.len()];
                for ((l, c), k) in &self.confusion {
                    counts[index[l.as_str()]][index[c.as_str()]] += k;
                }
                let truth = (self.truth_n > 0).then(|| {
                    let t = self.truth_n as f64;
                    let estimate = |right: u64| {
                        let p = right as f64 / t;
                        let (lo, hi) = wilson(p, t);
                        Estimate { value: p, ci_low: lo, ci_high: hi }
                    };
                    let (statistic, p_value) = mcnemar(self.live_only, self.candidate_only);
                    GroundTruth {
                        n: self.truth_n,
                        metric: "accuracy".into(),
                        live: estimate(self.live_right),
                        candidate: estimate(self.candidate_right),
                        test: PairedTest::Mcnemar,
                        statistic,
                        p_value,
                    }
                });
                (Some(Confusion { classes, counts }), None, truth)
            }
            AnswerKind::Regression => {
                let mut histogram = Vec::with_capacity(self.delta_bins.len());
                for (i, count) in self.delta_bins.iter().enumerate() {
                    let low = i.checked_sub(1).map(|j| DELTA_EDGES[j]);
                    histogram.push(DeltaBin { low, high: DELTA_EDGES.get(i).copied(), count: *count });
                }
                let truth = (self.truth_n >= 2).then(|| {
                    let rmse = |m: &Moments| {
                        let half = t_critical(0.05, m.n - 1.0) * (m.variance() / m.n).sqrt();
                        Estimate {
                            value: m.mean.sqrt(),
                            ci_low: (m.mean - half).max(0.0).sqrt(),
                            ci_high: (m.mean + half).sqrt(),
                        }
                    };
                    let (statistic, p_value) = paired_t(&self.sq_diff);
                    GroundTruth {
                        n: self.truth_n,
                        metric: "rmse".into(),
                        live: rmse(&self.live_sq),
                        candidate: rmse(&self.candidate_sq),
                        test: PairedTest::PairedT,
                        statistic,
                        p_value,
                    }
                });
                let delta = DeltaFigures { mae: self.abs_delta_sum / n, max_abs_delta: self.max_abs_delta, histogram };
                (None, Some(delta), truth)
            }
        };
        ReplayFigures {
            kind: self.kind,
            rows: self.rows,
            agreement: if self.rows == 0 { 0.0 } else { self.agree as f64 / n },
            identical: self.identical,
            confusion,
            regression,
            ground_truth,
            latency,
            disagreements: self.worst,
        }
    }
}

/// The replays running on this node: their progress and how to cancel them.
#[derive(Default)]
pub struct Replays {
    running: Mutex<HashMap<i64, (CancellationToken, Arc<AtomicU64>)>>,
}

impl Replays {
    pub fn start(&self, id: i64, token: CancellationToken) -> Arc<AtomicU64> {
        let progress = Arc::new(AtomicU64::new(0));
        if let Ok(mut running) = self.running.lock() {
            running.insert(id, (token, Arc::clone(&progress)));
        }
        progress
    }

    pub fn finish(&self, id: i64) {
        if let Ok(mut running) = self.running.lock() {
            running.remove(&id);
        }
    }

    /// Rows replayed so far, when `id` runs on this node.
    pub fn progress(&self, id: i64) -> Option<u64> {
        self.running.lock().ok()?.get(&id).map(|(_, p)| p.load(Ordering::Relaxed))
    }

    /// Cancels `id`; false when it does not run on this node.
    pub fn cancel(&self, id: i64) -> bool {
        match self.running.lock().ok().and_then(|r| r.get(&id).map(|(t, _)| t.clone())) {
            Some(token) => {
                token.cancel();
                true
            }
            None => false,
        }
    }
}

const REPLAY_COLUMNS: &str = "id, service, version, since_ms, until_ms, row_limit, status, replayed, total, figures_json, error, created_by, created_at, finished_at";

#[allow(clippy::too_many_arguments)]
pub async fn insert(
    pool: &Pool,
    service: &str,
    version: &str,
    since_ms: i64,
    until_ms: i64,
    limit: Option<i64>,
    total: i64,
    by: &str,
    now_ms: i64,
) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO replays (service, node, version, since_ms, until_ms, row_limit, status, replayed, total, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 'running', 0, $7, $8, $9) RETURNING id",
    )
    .bind(service)
    .bind(LOCAL_NODE)
    .bind(version)
    .bind(since_ms)
    .bind(until_ms)
    .bind(limit)
    .bind(total)
    .bind(by)
    .bind(now_ms)
    .fetch_one(pool)
    .await?)
}

pub async fn finish(
    pool: &Pool,
    id: i64,
    status: ReplayStatus,
    replayed: i64,
    figures: Option<&ReplayFigures>,
    error: Option<&str>,
    now_ms: i64,
) -> Result<()> {
    let figures = figures.map(serde_json::to_string).transpose().map_err(|e| Error::Internal(e.to_string()))?;
    sqlx::query(
        "UPDATE replays SET status = $1, replayed = $2, figures_json = $3, error = $4, finished_at = $5 WHERE id = $6",
    )
    .bind(status.as_str())
    .bind(replayed)
    .bind(figures)
    .bind(error)
    .bind(now_ms)
    .bind(id)
    .execute(pool)
    .await?;
    Ok(())
}

fn replay_of(row: &sqlx::any::AnyRow) -> Result<Replay> {
    let figures: Option<String> = row.try_get("figures_json")?;
    let status: String = row.try_get("status")?;
    Ok(Replay {
        id: row.try_get("id")?,
        service: row.try_get("service")?,
        version: row.try_get("version")?,
        since_ms: row.try_get("since_ms")?,
        until_ms: row.try_get("until_ms")?,
        limit: row.try_get("row_limit")?,
        status: ReplayStatus::parse(&status),
        replayed: row.try_get("replayed")?,
        total: row.try_get("total")?,
        figures: figures.map(|f| serde_json::from_str(&f)).transpose().map_err(|e| Error::Internal(e.to_string()))?,
        error: row.try_get("error")?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        finished_at: row.try_get("finished_at")?,
    })
}

/// A service's replays, newest first.
pub async fn list(pool: &Pool, service: &str) -> Result<Vec<Replay>> {
    let rows =
        sqlx::query(&format!("SELECT {REPLAY_COLUMNS} FROM replays WHERE service = $1 ORDER BY id DESC LIMIT 200"))
            .bind(service)
            .fetch_all(pool)
            .await?;
    rows.iter().map(replay_of).collect()
}

/// A service's finished replays started in `[since_ms, until_ms]`, oldest first (what a
/// deployment report attaches).
pub async fn finished_between(pool: &Pool, service: &str, since_ms: i64, until_ms: i64) -> Result<Vec<Replay>> {
    let rows = sqlx::query(&format!(
        "SELECT {REPLAY_COLUMNS} FROM replays WHERE service = $1 AND created_at >= $2 AND created_at <= $3 \
         AND status IN ('done', 'cancelled') ORDER BY id LIMIT 200"
    ))
    .bind(service)
    .bind(since_ms)
    .bind(until_ms)
    .fetch_all(pool)
    .await?;
    rows.iter().map(replay_of).collect()
}

pub async fn get(pool: &Pool, service: &str, id: i64) -> Result<Replay> {
    let row = sqlx::query(&format!("SELECT {REPLAY_COLUMNS} FROM replays WHERE service = $1 AND id = $2"))
        .bind(service)
        .bind(id)
        .fetch_optional(pool)
        .await?;
    match row {
        Some(row) => replay_of(&row),
        None => Err(Error::ReplayNotFound { service: service.to_owned(), id }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1e-300)
    }

    /// McNemar and paired t against scipy (fixtures/replay_reference.py).
    #[test]
    fn agrees_with_scipy() {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/replay_reference.json"))
            .expect("fixtures/replay_reference.json");
        let cases: Value = serde_json::from_str(&text).expect("json");
        let mut checked = 0;
        for case in cases["mcnemar"].as_array().expect("mcnemar cases") {
            let (b, c) = (case["b"].as_u64().unwrap_or(0), case["c"].as_u64().unwrap_or(0));
            let (stat, p) = mcnemar(b, c);
            assert!(close(stat, case["statistic"].as_f64().unwrap_or(f64::NAN)), "{case}: {stat}");
            assert!(close(p, case["p_value"].as_f64().unwrap_or(f64::NAN)), "{case}: {p}");
            checked += 1;
        }
        for case in cases["paired_t"].as_array().expect("paired t cases") {
            let floats = |k: &str| {
                case[k].as_array().map(|a| a.iter().filter_map(Value::as_f64).collect::<Vec<_>>()).unwrap_or_default()
            };
            let (t, p) = paired_t_test(&floats("a"), &floats("b"));
            assert!(
                (t - case["statistic"].as_f64().unwrap_or(f64::NAN)).abs() <= 1e-9 * t.abs().max(1.0),
                "{}: {t}",
                case["name"]
            );
            assert!((p - case["p_value"].as_f64().unwrap_or(f64::NAN)).abs() <= 1e-9, "{}: {p}", case["name"]);
            checked += 1;
        }
        assert!(checked >= 6, "{checked} cases");
    }

    #[test]
    fn features_that_differ_are_named() {
        let row = json!({"a": 1.0, "b": "hmac-sha256:00", "z": 3.0}).as_object().cloned().unwrap_or_default();
        let (missing, extra) = feature_mismatch(&["a".into(), "b".into(), "c".into()], &row).expect("differs");
        assert_eq!(missing, ["b", "c"]);
        assert_eq!(extra, ["z"]);
        let row = json!({"a": 1.0, "c": 2.0}).as_object().cloned().unwrap_or_default();
        assert_eq!(feature_mismatch(&["c".into(), "a".into()], &row), None);
        assert_eq!(model_row(&["c".into(), "a".into()], &row), Some(vec![2.0, 1.0]));
    }

    #[test]
    fn truth_labels_by_name_or_index() {
        let classes = vec!["setosa".to_owned(), "versicolor".to_owned()];
        assert_eq!(truth_label(1.0, &classes).as_deref(), Some("versicolor"));
        assert_eq!(truth_label(2.0, &classes), None);
        let numeric = vec!["1".to_owned(), "0".to_owned()];
        assert_eq!(truth_label(0.0, &numeric).as_deref(), Some("0"));
    }

    fn row(label: Option<&str>, value: Option<f64>, feedback: Option<f64>) -> CaptureRow {
        CaptureRow {
            id: 0,
            service: "s".into(),
            instance: "i".into(),
            at_ms: 0,
            revision: 1,
            generation: "v1".into(),
            request_id: "r".into(),
            features: Map::new(),
            label: label.map(str::to_owned),
            value,
            probabilities: label.map(|l| vec![(l.to_owned(), 1.0)]),
            latency_ms: 2.0,
            shadow_generation: None,
            shadow_label: None,
            shadow_value: None,
            feedback,
        }
    }

    #[test]
    fn classification_figures() {
        let classes = vec!["a".to_owned(), "b".to_owned()];
        let mut acc = Accumulator::new(AnswerKind::Classification, classes.clone());
        let cand = |c: &str| Prediction::Class { label: 0, class: c.into(), probabilities: vec![(c.into(), 1.0)] };
        let ms = Duration::from_millis(1);
        acc.add(&row(Some("a"), None, Some(0.0)), &cand("a"), ms); // agree, both right
        acc.add(&row(Some("a"), None, Some(1.0)), &cand("b"), ms); // candidate right
        acc.add(&row(Some("b"), None, Some(1.0)), &cand("a"), ms); // live right
        acc.add(&row(Some("b"), None, None), &cand("a"), ms);
        let f = acc.finish();
        assert_eq!(f.rows, 4);
        assert!(close(f.agreement, 0.25));
        assert_eq!(f.identical, 1);
        let confusion = f.confusion.expect("confusion");
        assert_eq!(confusion.classes, classes);
        assert_eq!(confusion.counts, vec![vec![1, 1], vec![2, 0]]);
        let truth = f.ground_truth.expect("truth");
        assert_eq!(truth.n, 3);
        assert!(close(truth.live.value, 2.0 / 3.0) && close(truth.candidate.value, 2.0 / 3.0));
        assert_eq!((truth.statistic, truth.p_value), mcnemar(1, 1));
        assert_eq!(f.disagreements.len(), 3);
        assert!(close(f.latency.candidate_p50_ms, 1.0) && close(f.latency.live_p99_ms, 2.0));
    }

    #[test]
    fn regression_figures() {
        let mut acc = Accumulator::new(AnswerKind::Regression, Vec::new());
        let ms = Duration::from_millis(1);
        acc.add(&row(None, Some(1.0), Some(1.0)), &Prediction::Value(1.0), ms);
        acc.add(&row(None, Some(2.0), Some(2.5)), &Prediction::Value(2.5), ms);
        acc.add(&row(None, Some(3.0), Some(2.0)), &Prediction::Value(1.0), ms);
        let f = acc.finish();
        assert!(close(f.agreement, 1.0 / 3.0));
        let d = f.regression.expect("regression");
        assert!(close(d.mae, 2.5 / 3.0) && close(d.max_abs_delta, 2.0));
        assert_eq!(d.histogram.iter().map(|b| b.count).sum::<u64>(), 3);
        let bin = |x: f64| {
            d.histogram.iter().find(|b| b.low.is_none_or(|l| l <= x) && b.high.is_none_or(|h| x < h)).map(|b| b.count)
        };
        assert_eq!(bin(0.0), Some(1));
        assert_eq!(bin(0.5), Some(1));
        assert_eq!(bin(-2.0), Some(1));
        let truth = f.ground_truth.expect("truth");
        let live_sq = [0.0, 0.25, 1.0];
        let cand_sq = [0.0, 0.0, 1.0];
        assert!(close(truth.live.value, (live_sq.iter().sum::<f64>() / 3.0).sqrt()));
        assert!(close(truth.candidate.value, (cand_sq.iter().sum::<f64>() / 3.0).sqrt()));
        let (t, p) = paired_t_test(&live_sq, &cand_sq);
        assert!(close(truth.statistic, t) && close(truth.p_value, p));
    }
}
