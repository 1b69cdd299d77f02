//! The capture tables: `capture_policies`, `capture_rows` (every node's rows, one registry),
//! with the feedback of each request joined at read time.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sqlx::Row;

use super::{CapturePolicy, Captured};
use crate::error::{Error, Result};
use crate::model::Prediction;
use crate::store::{LOCAL_NODE, Pool};

/// A captured request as stored, with its feedback when some was recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CaptureRow {
    pub id: i64,
    pub service: String,
    /// The node (instance) that captured it.
    pub instance: String,
    /// Unix milliseconds, by the capturing engine's clock.
    pub at_ms: i64,
    pub revision: i64,
    pub generation: String,
    pub request_id: String,
    /// The request's features after the policy's drop and hash.
    #[schema(value_type = Object)]
    pub features: Map<String, Value>,
    /// Classifiers: the class answered.
    pub label: Option<String>,
    /// Regressors: the value answered.
    pub value: Option<f64>,
    /// Classifiers: `[class, probability]` pairs in class order.
    pub probabilities: Option<Vec<(String, f64)>>,
    pub latency_ms: f64,
    pub shadow_generation: Option<String>,
    pub shadow_label: Option<String>,
    pub shadow_value: Option<f64>,
    /// The outcome recorded as feedback for this request id, if any.
    pub feedback: Option<f64>,
}

/// Which rows a listing returns, newest first.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::IntoParams, utoipa::ToSchema)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RowFilter {
    /// Only rows answered by this generation.
    pub generation: Option<String>,
    /// Only rows captured at or after this time (Unix ms).
    pub since_ms: Option<i64>,
    /// Only rows captured at or before this time (Unix ms).
    pub until_ms: Option<i64>,
    /// true: only rows with feedback; false: only rows without.
    pub has_feedback: Option<bool>,
    /// Only rows whose answer is this class (classifiers) or value (regressors).
    pub prediction: Option<String>,
    /// At most this many rows (default 100, at most 1000).
    pub limit: Option<i64>,
}

pub async fn policies(pool: &Pool) -> Result<HashMap<String, CapturePolicy>> {
    let rows =
        sqlx::query("SELECT service, percent, max_rows, retention_seconds, drop_json, hash_json FROM capture_policies")
            .fetch_all(pool)
            .await?;
    let mut out = HashMap::new();
    for row in rows {
        let service: String = row.try_get("service")?;
        out.insert(service, policy_of(&row)?);
    }
    Ok(out)
}

fn policy_of(row: &sqlx::any::AnyRow) -> Result<CapturePolicy> {
    let list = |col: &str| -> Result<Vec<String>> {
        let text: String = row.try_get(col)?;
        serde_json::from_str(&text).map_err(|e| Error::Internal(format!("capture policy {col}: {e}")))
    };
    Ok(CapturePolicy {
        percent: row.try_get("percent")?,
        max_rows: row.try_get("max_rows")?,
        retention_seconds: row.try_get("retention_seconds")?,
        drop_features: list("drop_json")?,
        hash_features: list("hash_json")?,
    })
}

/// Saves (or, with None, removes) the policy of `service`.
pub async fn set_policy(
    pool: &Pool,
    service: &str,
    policy: Option<&CapturePolicy>,
    by: &str,
    now_ms: i64,
) -> Result<()> {
    match policy {
        None => {
            sqlx::query("DELETE FROM capture_policies WHERE service = $1").bind(service).execute(pool).await?;
        }
        Some(p) => {
            let json = |v: &Vec<String>| serde_json::to_string(v).unwrap_or_else(|_| "[]".into());
            sqlx::query(
                "INSERT INTO capture_policies (service, percent, max_rows, retention_seconds, drop_json, hash_json, updated_by, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (service) DO UPDATE SET percent = excluded.percent, \
                 max_rows = excluded.max_rows, retention_seconds = excluded.retention_seconds, drop_json = excluded.drop_json, \
                 hash_json = excluded.hash_json, updated_by = excluded.updated_by, updated_at = excluded.updated_at",
            )
            .bind(service)
            .bind(p.percent)
            .bind(p.max_rows)
            .bind(p.retention_seconds)
            .bind(json(&p.drop_features))
            .bind(json(&p.hash_features))
            .bind(by)
            .bind(now_ms)
            .execute(pool)
            .await?;
        }
    }
    Ok(())
}

/// The columns a captured row is inserted with, in bind order.
const INSERT_COLUMNS: [&str; 15] = [
    "service",
    "node",
    "instance",
    "at_ms",
    "revision",
    "generation",
    "request_id",
    "features_json",
    "label",
    "value",
    "probabilities_json",
    "latency_ms",
    "shadow_generation",
    "shadow_label",
    "shadow_value",
];

/// Rows per `INSERT` statement: 64 × 15 = 960 bind variables, under every SQLite build's
/// limit (999 before 3.32) and PostgreSQL's (65,535).
pub const ROWS_PER_INSERT: usize = 64;

/// `INSERT … VALUES (…), (…) … ON CONFLICT (service, request_id) DO NOTHING` for `n` rows.
/// SQLite gets anonymous `?` parameters: sqlx looks up each parameter's name to place it, and
/// SQLite finds a name by a linear scan, so `$N` names would cost (15 n)² per statement.
/// PostgreSQL gets `$N`.
fn insert_sql(n: usize, sqlite: bool) -> String {
    let mut sql = format!("INSERT INTO capture_rows ({}) VALUES ", INSERT_COLUMNS.join(", "));
    for row in 0..n {
        sql.push_str(if row == 0 { "(" } else { ", (" });
        for col in 0..INSERT_COLUMNS.len() {
            if col > 0 {
                sql.push_str(", ");
            }
            if sqlite {
                sql.push('?');
            } else {
                sql.push_str(&format!("${}", row * INSERT_COLUMNS.len() + col + 1));
            }
        }
        sql.push(')');
    }
    sql.push_str(" ON CONFLICT (service, request_id) DO NOTHING");
    sql
}

/// The statement of a whole chunk on SQLite, made once (and prepared once per connection).
static SQLITE_CHUNK: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| insert_sql(ROWS_PER_INSERT, true));

/// Inserts a batch captured by `instance` (features already dropped and hashed) in one
/// transaction, [`ROWS_PER_INSERT`] rows per statement, each service's rows in their order; a
/// request id already captured is skipped (a retried batch never captures a request twice).
/// Returns the rows inserted per service. Trimming to the cap is the writer's, every tenth of
/// the cap ([`trim_to_cap`]).
pub async fn insert(pool: &Pool, instance: &str, rows: &[Captured]) -> Result<HashMap<String, u64>> {
    // Each statement holds one service's rows, so what it inserted is counted to that service.
    let mut by_service: Vec<(&str, Vec<&Captured>)> = Vec::new();
    for r in rows {
        match by_service.iter_mut().find(|(s, _)| *s == r.service) {
            Some((_, list)) => list.push(r),
            None => by_service.push((&r.service, vec![r])),
        }
    }
    let sqlite = crate::store::Backend::of(pool) == crate::store::Backend::Sqlite;
    let mut tx = pool.begin().await?;
    let mut inserted: HashMap<String, u64> = HashMap::new();
    for (service, list) in &by_service {
        for chunk in list.chunks(ROWS_PER_INSERT) {
            let made;
            let sql = if sqlite && chunk.len() == ROWS_PER_INSERT {
                SQLITE_CHUNK.as_str()
            } else {
                made = insert_sql(chunk.len(), sqlite);
                made.as_str()
            };
            // SQLite keeps the whole chunk's statement prepared; a short chunk's is not kept in
            // the connection's statement cache. PostgreSQL prepares each one: a kept statement
            // keeps the parameter types of its first rows, and through sqlx's `Any` a NULL
            // float is typed `real`, so a later row's value there would be refused.
            let mut q = sqlx::query(sql).persistent(sqlite && chunk.len() == ROWS_PER_INSERT);
            for r in chunk {
                let (label, value, probabilities) = answer_columns(&r.prediction);
                let (shadow_generation, shadow_label, shadow_value) = match &r.shadow {
                    None => (None, None, None),
                    Some((g, p)) => {
                        let (l, v, _) = p.as_ref().map(answer_columns).unwrap_or((None, None, None));
                        (Some(g.as_str()), l, v)
                    }
                };
                let features = serde_json::to_string(&r.features).map_err(|e| Error::Internal(e.to_string()))?;
                q = q
                    .bind(r.service.as_str())
                    .bind(LOCAL_NODE)
                    .bind(instance)
                    .bind(r.at_ms)
                    .bind(r.revision)
                    .bind(r.generation.as_str())
                    .bind(r.request_id.as_str())
                    .bind(features)
                    .bind(label)
                    .bind(value)
                    .bind(probabilities)
                    .bind(r.latency_ms)
                    .bind(shadow_generation)
                    .bind(shadow_label)
                    .bind(shadow_value);
            }
            let done = q.execute(&mut *tx).await?;
            *inserted.entry((*service).to_owned()).or_default() += done.rows_affected();
        }
    }
    tx.commit().await?;
    Ok(inserted)
}

/// Deletes all but the newest `cap` rows of `service`. Returns the rows deleted.
pub async fn trim_to_cap(pool: &Pool, service: &str, cap: i64) -> Result<u64> {
    let mut conn = pool.acquire().await?;
    trim(&mut conn, service, cap).await
}

/// Deletes all but the newest `cap` rows of `service`.
async fn trim(conn: &mut sqlx::AnyConnection, service: &str, cap: i64) -> Result<u64> {
    let done = sqlx::query(
        "DELETE FROM capture_rows WHERE service = $1 AND id <= \
         (SELECT id FROM capture_rows WHERE service = $1 ORDER BY id DESC LIMIT 1 OFFSET $2)",
    )
    .bind(service)
    .bind(cap)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

fn answer_columns(p: &Prediction) -> (Option<String>, Option<f64>, Option<String>) {
    match p {
        Prediction::Class { class, probabilities, .. } => {
            (Some(class.clone()), None, serde_json::to_string(probabilities).ok())
        }
        Prediction::Value(v) => (None, Some(*v), None),
    }
}

/// The retention task's pass over one service: rows older than `before_ms` and beyond the
/// cap are deleted. Returns the rows deleted.
pub async fn enforce(pool: &Pool, service: &str, before_ms: i64, cap: i64) -> Result<u64> {
    let mut conn = pool.acquire().await?;
    let old = sqlx::query("DELETE FROM capture_rows WHERE service = $1 AND at_ms < $2")
        .bind(service)
        .bind(before_ms)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    Ok(old + trim(&mut conn, service, cap).await?)
}

/// Rows of `service` in the registry, every node's.
pub async fn count(pool: &Pool, service: &str) -> Result<i64> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM capture_rows WHERE service = $1").bind(service).fetch_one(pool).await?)
}

const COLUMNS: &str = "c.id, c.service, c.instance, c.at_ms, c.revision, c.generation, c.request_id, c.features_json, \
    c.label, c.value, c.probabilities_json, c.latency_ms, c.shadow_generation, c.shadow_label, c.shadow_value, f.outcome";

const FROM: &str = "FROM capture_rows c LEFT JOIN feedback f ON f.service = c.service AND f.node = c.node AND f.request_id = c.request_id";

fn row_of(row: &sqlx::any::AnyRow) -> Result<CaptureRow> {
    let features: String = row.try_get("features_json")?;
    let probabilities: Option<String> = row.try_get("probabilities_json")?;
    Ok(CaptureRow {
        id: row.try_get("id")?,
        service: row.try_get("service")?,
        instance: row.try_get("instance")?,
        at_ms: row.try_get("at_ms")?,
        revision: row.try_get("revision")?,
        generation: row.try_get("generation")?,
        request_id: row.try_get("request_id")?,
        features: serde_json::from_str(&features).map_err(|e| Error::Internal(format!("captured features: {e}")))?,
        label: row.try_get("label")?,
        value: row.try_get("value")?,
        probabilities: probabilities.and_then(|p| serde_json::from_str(&p).ok()),
        latency_ms: row.try_get("latency_ms")?,
        shadow_generation: row.try_get("shadow_generation")?,
        shadow_label: row.try_get("shadow_label")?,
        shadow_value: row.try_get("shadow_value")?,
        feedback: row.try_get("outcome")?,
    })
}

/// Rows of `service` matching `filter`, newest first.
pub async fn list(pool: &Pool, service: &str, filter: &RowFilter) -> Result<Vec<CaptureRow>> {
    let limit = filter.limit.unwrap_or(100).clamp(1, 1000);
    let mut sql = format!("SELECT {COLUMNS} {FROM} WHERE c.service = $1 AND c.at_ms >= $2 AND c.at_ms <= $3");
    let mut n = 3;
    if filter.generation.is_some() {
        n += 1;
        sql.push_str(&format!(" AND c.generation = ${n}"));
    }
    let prediction_value = filter.prediction.as_deref().and_then(|p| p.parse::<f64>().ok());
    if filter.prediction.is_some() {
        n += 1;
        sql.push_str(&format!(" AND (c.label = ${n}"));
        if prediction_value.is_some() {
            n += 1;
            sql.push_str(&format!(" OR c.value = ${n}"));
        }
        sql.push(')');
    }
    match filter.has_feedback {
        Some(true) => sql.push_str(" AND f.outcome IS NOT NULL"),
        Some(false) => sql.push_str(" AND f.outcome IS NULL"),
        None => {}
    }
    n += 1;
    sql.push_str(&format!(" ORDER BY c.id DESC LIMIT ${n}"));
    let mut q = sqlx::query(&sql)
        .bind(service)
        .bind(filter.since_ms.unwrap_or(i64::MIN))
        .bind(filter.until_ms.unwrap_or(i64::MAX));
    if let Some(g) = &filter.generation {
        q = q.bind(g);
    }
    if let Some(p) = &filter.prediction {
        q = q.bind(p);
        if let Some(v) = prediction_value {
            q = q.bind(v);
        }
    }
    let rows = q.bind(limit).fetch_all(pool).await?;
    rows.iter().map(row_of).collect()
}

/// The next page of rows of `service` captured in `[since_ms, until_ms]`, oldest first,
/// after row id `after` (export and replay stream through these).
pub async fn page(
    pool: &Pool,
    service: &str,
    since_ms: i64,
    until_ms: i64,
    after: i64,
    n: i64,
) -> Result<Vec<CaptureRow>> {
    let sql = format!(
        "SELECT {COLUMNS} {FROM} WHERE c.service = $1 AND c.at_ms >= $2 AND c.at_ms <= $3 AND c.id > $4 ORDER BY c.id LIMIT $5"
    );
    let rows =
        sqlx::query(&sql).bind(service).bind(since_ms).bind(until_ms).bind(after).bind(n).fetch_all(pool).await?;
    rows.iter().map(row_of).collect()
}

/// How many rows of `service` were captured in `[since_ms, until_ms]`.
pub async fn count_window(pool: &Pool, service: &str, since_ms: i64, until_ms: i64) -> Result<i64> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM capture_rows WHERE service = $1 AND at_ms >= $2 AND at_ms <= $3")
        .bind(service)
        .bind(since_ms)
        .bind(until_ms)
        .fetch_one(pool)
        .await?)
}
