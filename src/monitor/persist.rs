//! Persisting minute buckets: `flush` writes the buckets that changed since the last flush
//! (upsert, so a bucket written twice holds its latest state); `load` brings the retained
//! minutes back at start.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{Bucket, Monitor, RETENTION_MINUTES, Role, Totals, minute_of};
use crate::error::{Error, Result};
use crate::store::LOCAL_NODE;
use crate::store::Pool;

struct Dirty {
    service: String,
    generation: String,
    role: Role,
    bucket: Bucket,
}

/// Writes every changed bucket of `node`, as counted by `instance`, in one transaction.
pub async fn flush(pool: &Pool, instance: &str, monitor: &Monitor) -> Result<usize> {
    let _serialised = monitor.flush_lock.lock().await;
    let mut dirty = Vec::new();
    if let Ok(map) = monitor.series.read() {
        for ((service, generation, role), series) in map.iter() {
            let Ok(mut series) = series.lock() else { continue };
            for b in series.buckets.iter_mut().filter(|b| b.dirty) {
                b.dirty = false;
                dirty.push(Dirty {
                    service: service.clone(),
                    generation: generation.clone(),
                    role: *role,
                    bucket: b.clone(),
                });
            }
        }
    }
    if dirty.is_empty() {
        return Ok(0);
    }
    let mut tx = pool.begin().await?;
    for d in &dirty {
        let b = &d.bucket;
        let latency: Vec<(u64, u64)> =
            b.latency.iter_recorded().map(|v| (v.value_iterated_to(), v.count_at_value())).collect();
        let latency = serde_json::to_string(&latency).map_err(|e| Error::Internal(e.to_string()))?;
        sqlx::query(
            "INSERT INTO traffic_minutes (service, node, instance, generation, role, minute, requests, errors, rejected, compared, agreed, abs_diff_sum, latency_json) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
             ON CONFLICT (service, node, instance, generation, role, minute) DO UPDATE SET requests = excluded.requests, errors = excluded.errors, \
             rejected = excluded.rejected, compared = excluded.compared, agreed = excluded.agreed, abs_diff_sum = excluded.abs_diff_sum, \
             latency_json = excluded.latency_json",
        )
        .bind(&d.service)
        .bind(LOCAL_NODE)
        .bind(instance)
        .bind(&d.generation)
        .bind(d.role.as_str())
        .bind(b.minute)
        .bind(b.requests as i64)
        .bind(b.errors as i64)
        .bind(b.rejected as i64)
        .bind(b.compared as i64)
        .bind(b.agreed as i64)
        .bind(b.abs_diff_sum)
        .bind(latency)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(dirty.len())
}

/// The minutes the other instances of `node` counted for `service` from `since_minute` on,
/// as far as they have flushed them. Minutes written before instances existed (no instance)
/// are not included: this instance has them already.
pub async fn others_buckets(
    pool: &Pool,
    instance: &str,
    service: &str,
    since_minute: i64,
) -> Result<Vec<(String, Role, Bucket)>> {
    let rows = sqlx::query(&format!(
        "SELECT {BUCKET_COLUMNS} FROM traffic_minutes WHERE node = $1 AND instance <> $2 AND instance <> '' \
         AND service = $3 AND minute >= $4 ORDER BY minute"
    ))
    .bind(LOCAL_NODE)
    .bind(instance)
    .bind(service)
    .bind(since_minute)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| bucket_from_row(row).map(|(_, generation, role, bucket)| (generation, role, bucket)))
        .collect()
}

/// What the other instances counted for a live generation from `since_minute` on: served
/// requests, errors, rejections and the latency of successful ones.
pub async fn others_since(
    pool: &Pool,
    instance: &str,
    service: &str,
    generation: &str,
    since_minute: i64,
) -> Result<Totals> {
    let mut totals = Totals::default();
    for (g, role, b) in others_buckets(pool, instance, service, since_minute).await? {
        if role == Role::Live && g == generation {
            totals.ok += b.requests.saturating_sub(b.errors + b.rejected);
            totals.errors += b.errors;
            totals.rejected += b.rejected;
            let _ = totals.latency.add(&b.latency);
        }
    }
    Ok(totals)
}

const BUCKET_COLUMNS: &str =
    "service, generation, role, minute, requests, errors, rejected, compared, agreed, abs_diff_sum, latency_json";

/// A stored minute: its service, generation, role and counts.
fn bucket_from_row(row: &sqlx::any::AnyRow) -> Result<(String, String, Role, Bucket)> {
    let role = if row.try_get::<String, _>("role")? == "shadow" { Role::Shadow } else { Role::Live };
    let mut bucket = Bucket::new(row.try_get("minute")?);
    bucket.requests = row.try_get::<i64, _>("requests")? as u64;
    bucket.errors = row.try_get::<i64, _>("errors")? as u64;
    bucket.rejected = row.try_get::<i64, _>("rejected")? as u64;
    bucket.compared = row.try_get::<i64, _>("compared")? as u64;
    bucket.agreed = row.try_get::<i64, _>("agreed")? as u64;
    bucket.abs_diff_sum = row.try_get("abs_diff_sum")?;
    bucket.dirty = false;
    let latency: Vec<(u64, u64)> = serde_json::from_str(row.try_get("latency_json")?)
        .map_err(|e| Error::Internal(format!("stored latencies are unreadable: {e}")))?;
    for (value, count) in latency {
        let _ = bucket.latency.record_n(value, count);
    }
    Ok((row.try_get("service")?, row.try_get("generation")?, role, bucket))
}

/// Loads the retained minutes `instance` counted for `node` into an empty monitor (at start),
/// with those written before instances existed.
pub async fn load(pool: &Pool, instance: &str, monitor: &Monitor, now: DateTime<Utc>) -> Result<usize> {
    let since = minute_of(now) - RETENTION_MINUTES + 1;
    let rows = sqlx::query(&format!(
        "SELECT {BUCKET_COLUMNS} FROM traffic_minutes WHERE node = $1 AND (instance = $2 OR instance = '') AND minute >= $3 ORDER BY minute"
    ))
    .bind(LOCAL_NODE)
    .bind(instance)
    .bind(since)
    .fetch_all(pool)
    .await?;
    for row in &rows {
        let (service, generation, role, bucket) = bucket_from_row(row)?;
        let series = monitor.series_for(&service, &generation, role);
        if let Ok(mut series) = series.lock() {
            series.buckets.push_back(bucket);
        }
    }
    Ok(rows.len())
}
