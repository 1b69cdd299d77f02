//! What a deployment report shows, collected from the registry in one pass: the current
//! config and who changed it, the revisions of the range, the versions involved, per-step
//! traffic series per generation, and the A/B results of the range's feedback.
//!
//! Latency percentiles are never averaged: every point and every total is computed from the
//! HDR histograms stored with the minutes (`traffic_minutes.latency_json`), merged.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::deploy::LOCAL_NODE;
use crate::deploy::{self, Revision};
use crate::error::{Error, Result};
use crate::monitor::ab::{self, AbReport};
use crate::monitor::feedback;
use crate::monitor::histogram;
use crate::registry;
use crate::store::Pool;

/// A series has at most this many points; longer ranges use a coarser step.
pub const MAX_POINTS: i64 = 720;

/// Steps a series may use, in minutes (clock-aligned: a 15-minute step starts on the quarter).
const STEPS: [i64; 14] = [1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2880, 10080];

/// Everything a report shows. Serialisable: the node sends it as JSON
/// (`GET /admin/v1/deployments/{service}/report`) and the CLI renders it locally.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReportData {
    pub service: String,
    pub description: String,
    pub node: String,
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub generated_at: DateTime<Utc>,
    /// Width of one series point in minutes: 1 for ranges up to 12 hours, coarser beyond so
    /// that a series has at most [`MAX_POINTS`] points.
    pub step_minutes: i64,
    /// The active revision: the deployment's config now.
    pub current: Revision,
    /// Who wrote the active revision.
    pub last_author: String,
    /// Revisions written in the range, plus the one that was active when it began; oldest
    /// first. Rollbacks carry `rollback_of`, canary steps `canary_id`.
    pub revisions: Vec<Revision>,
    /// Versions that served traffic or got feedback in the range, are named by a revision
    /// shown (serving or shadow), or were created in the range; oldest first. A generation's
    /// colour in every chart is its position here.
    pub versions: Vec<VersionRow>,
    /// Live traffic per generation, in version order; only generations with traffic.
    pub generations: Vec<GenerationSeries>,
    /// A/B results from the feedback recorded in the range.
    pub ab: AbReport,
    /// The audit rows of this service in the range (who changed what, refusals included),
    /// oldest first.
    #[serde(default)]
    pub audit: Vec<crate::audit::AuditRow>,
    /// Replays of captured traffic started in the range (done or cancelled), oldest first.
    #[serde(default)]
    pub replays: Vec<crate::capture::replay::Replay>,
    /// Drift of the generations against their references in the range (the last 24 hours of
    /// it at most: live drift counts are kept that long, on the node that made the report).
    #[serde(default)]
    pub drift: Option<crate::drift::DriftReport>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct VersionRow {
    pub id: String,
    pub created_at: DateTime<Utc>,
    pub sha256: String,
    pub metrics: BTreeMap<String, f64>,
    pub notes: String,
    /// Where it came from (an MLflow model version, a file), when known.
    #[serde(default)]
    pub origin: Option<String>,
    /// Live requests routed to it in the range (rejected ones included).
    pub requests: u64,
    /// Its share of the deployment's live requests in the range; None when there were none.
    pub share: Option<f64>,
    /// Serves in the active config.
    pub live: bool,
}

/// One generation's live traffic over the range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GenerationSeries {
    pub generation: String,
    pub requests: u64,
    pub errors: u64,
    pub rejected: u64,
    /// errors / requests (as the monitor computes it).
    pub error_rate: f64,
    /// Percentiles of successful requests' latency over the whole range; None without any.
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// One point per step that had traffic (steps without traffic are absent).
    pub points: Vec<SeriesPoint>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SeriesPoint {
    /// Start of the step (UTC).
    pub start: DateTime<Utc>,
    pub requests: u64,
    pub errors: u64,
    pub rejected: u64,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

impl ReportData {
    /// The colour index of a generation: its position among the report's versions.
    pub fn color_index(&self, generation: &str) -> usize {
        self.versions.iter().position(|v| v.id == generation).unwrap_or(self.versions.len())
    }

    /// All live requests of the range.
    pub fn total_requests(&self) -> u64 {
        self.generations.iter().map(|g| g.requests).sum()
    }
}

/// The step for a range of `minutes` minutes.
pub fn step_for(minutes: i64) -> i64 {
    STEPS.iter().copied().find(|s| (minutes + s - 1) / s <= MAX_POINTS).unwrap_or(10080)
}

fn percentile_ms(h: &Histogram<u64>, q: f64) -> Option<f64> {
    (!h.is_empty()).then(|| h.value_at_quantile(q) as f64 / 1000.0)
}

/// Counts and a merged histogram.
struct Acc {
    requests: u64,
    errors: u64,
    rejected: u64,
    latency: Histogram<u64>,
}

impl Acc {
    fn new() -> Self {
        Self { requests: 0, errors: 0, rejected: 0, latency: histogram() }
    }

    fn add(&mut self, other: &Acc) {
        self.requests += other.requests;
        self.errors += other.errors;
        self.rejected += other.rejected;
        let _ = self.latency.add(&other.latency);
    }
}

fn to_utc(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// Collects a deployment's report for `[since, until]` from the registry; `current` is its
/// active revision. The caller flushes the monitor first, so the current minute is included.
pub async fn collect(
    pool: &Pool,
    current: Revision,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    generated_at: DateTime<Utc>,
) -> Result<ReportData> {
    let service_name = current.service.clone();
    let service = service_name.as_str();
    if since >= until {
        return Err(Error::InvalidInput(format!(
            "the report range is empty: since ({}) must be before until ({})",
            since.to_rfc3339(),
            until.to_rfc3339()
        )));
    }
    let svc = registry::get_service(pool, service).await?;
    let (since_ms, until_ms) = (since.timestamp_millis(), until.timestamp_millis());

    let all_revisions = deploy::revisions(pool, service).await?;
    let active_at_start = all_revisions.iter().rev().find(|r| r.created_at < since).map(|r| r.number);
    let revisions: Vec<Revision> = all_revisions
        .into_iter()
        .filter(|r| Some(r.number) == active_at_start || (r.created_at >= since && r.created_at <= until))
        .collect();

    let (first_minute, last_minute) = (since_ms.div_euclid(60_000), until_ms.div_euclid(60_000));
    let step = step_for(last_minute - first_minute + 1);
    let traffic = read_traffic(pool, service, first_minute, last_minute, step).await?;
    let outcomes = feedback::outcomes_between(pool, service, since_ms, until_ms).await?;
    let ab = ab::analyse(service, &outcomes, None);

    let mut involved: BTreeSet<String> = traffic.keys().cloned().collect();
    involved.extend(outcomes.iter().map(|(g, _)| g.clone()));
    for r in &revisions {
        involved.extend(r.config.loaded_generations().iter().map(|g| g.to_string()));
    }
    let live: BTreeSet<String> = current.config.generations().iter().map(|g| g.to_string()).collect();
    let total: u64 = traffic.values().map(|(acc, _)| acc.requests).sum();
    let versions: Vec<VersionRow> = registry::list_versions(pool, service)
        .await?
        .into_iter()
        .filter(|v| involved.contains(v.id.as_str()) || (v.created_at >= since && v.created_at <= until))
        .map(|v| {
            let requests = traffic.get(v.id.as_str()).map_or(0, |(acc, _)| acc.requests);
            VersionRow {
                live: live.contains(v.id.as_str()),
                share: (total > 0).then(|| requests as f64 / total as f64),
                requests,
                id: v.id.to_string(),
                created_at: v.created_at,
                sha256: v.sha256,
                metrics: v.metrics,
                origin: v.provenance.origin(),
                notes: v.notes,
            }
        })
        .collect();

    let order: HashMap<&str, usize> = versions.iter().enumerate().map(|(i, v)| (v.id.as_str(), i)).collect();
    let mut generations: Vec<GenerationSeries> = traffic
        .into_iter()
        .map(|(generation, (acc, points))| GenerationSeries {
            error_rate: if acc.requests > 0 { acc.errors as f64 / acc.requests as f64 } else { 0.0 },
            p50_ms: percentile_ms(&acc.latency, 0.5),
            p95_ms: percentile_ms(&acc.latency, 0.95),
            p99_ms: percentile_ms(&acc.latency, 0.99),
            requests: acc.requests,
            errors: acc.errors,
            rejected: acc.rejected,
            points,
            generation,
        })
        .collect();
    generations
        .sort_by_key(|g| (order.get(g.generation.as_str()).copied().unwrap_or(usize::MAX), g.generation.clone()));

    Ok(ReportData {
        service: svc.name.to_string(),
        description: svc.description,
        node: LOCAL_NODE.to_owned(),
        since,
        until,
        generated_at,
        step_minutes: step,
        last_author: current.author.clone(),
        current,
        revisions,
        versions,
        generations,
        ab,
        audit: crate::audit::list(
            pool,
            &crate::audit::Filter {
                since_ms: Some(since_ms),
                until_ms: Some(until_ms),
                service: Some(service.to_owned()),
                limit: Some(5_000),
            },
        )
        .await?,
        replays: crate::capture::replay::finished_between(pool, service, since_ms, until_ms).await?,
        drift: None,
    })
}

/// Live minutes of `[first_minute, last_minute]` per generation: the range total and the
/// points per step, each with its merged histogram reduced to percentiles.
async fn read_traffic(
    pool: &Pool,
    service: &str,
    first_minute: i64,
    last_minute: i64,
    step: i64,
) -> Result<BTreeMap<String, (Acc, Vec<SeriesPoint>)>> {
    let rows = sqlx::query(
        "SELECT generation, minute, requests, errors, rejected, latency_json FROM traffic_minutes \
         WHERE service = $1 AND node = $2 AND role = 'live' AND minute >= $3 AND minute <= $4 ORDER BY generation, minute",
    )
    .bind(service)
    .bind(LOCAL_NODE)
    .bind(first_minute)
    .bind(last_minute)
    .fetch_all(pool)
    .await?;
    // generation -> step start minute -> accumulated minutes
    let mut steps: BTreeMap<String, BTreeMap<i64, Acc>> = BTreeMap::new();
    for row in &rows {
        let generation: String = row.try_get("generation")?;
        let minute: i64 = row.try_get("minute")?;
        let latency: Vec<(u64, u64)> = serde_json::from_str(row.try_get("latency_json")?)
            .map_err(|e| Error::Internal(format!("stored latencies are unreadable: {e}")))?;
        let acc = steps.entry(generation).or_default().entry(minute.div_euclid(step) * step).or_insert_with(Acc::new);
        acc.requests += row.try_get::<i64, _>("requests")? as u64;
        acc.errors += row.try_get::<i64, _>("errors")? as u64;
        acc.rejected += row.try_get::<i64, _>("rejected")? as u64;
        for (value, count) in latency {
            let _ = acc.latency.record_n(value, count);
        }
    }
    let mut out = BTreeMap::new();
    for (generation, by_step) in steps {
        let mut total = Acc::new();
        let mut points = Vec::with_capacity(by_step.len());
        for (start, acc) in by_step {
            total.add(&acc);
            if acc.requests == 0 {
                continue;
            }
            points.push(SeriesPoint {
                start: to_utc(start * 60_000),
                requests: acc.requests,
                errors: acc.errors,
                rejected: acc.rejected,
                p50_ms: percentile_ms(&acc.latency, 0.5),
                p95_ms: percentile_ms(&acc.latency, 0.95),
                p99_ms: percentile_ms(&acc.latency, 0.99),
            });
        }
        if total.requests > 0 {
            out.insert(generation, (total, points));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_keep_series_short() {
        assert_eq!(step_for(1), 1);
        assert_eq!(step_for(720), 1);
        assert_eq!(step_for(721), 2);
        assert_eq!(step_for(24 * 60), 2);
        assert_eq!(step_for(7 * 24 * 60), 15);
        assert_eq!(step_for(30 * 24 * 60), 60);
        assert!(step_for(10 * 365 * 24 * 60) == 10080);
    }
}
