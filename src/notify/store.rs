//! The `webhooks`, `webhook_deliveries` and `webhook_attempts` tables.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::Event;
use crate::error::{Error, Result};
use crate::store::{Pool, begin_write};

/// A webhook as the API shows it: never its secret, and its URL masked past the first path
/// segment ([`super::masked_url`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Webhook {
    pub id: i64,
    pub url: String,
    /// Only this service's events; None: every service's.
    pub service: Option<String>,
    /// Whether deliveries carry the HMAC signature header.
    pub signed: bool,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Not yet delivered; tried again at `next_attempt_at`.
    Pending,
    Delivered,
    /// Every attempt failed (or the webhook was removed); `last_error` says why.
    Failed,
}

impl DeliveryState {
    fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        match s {
            "pending" => Ok(DeliveryState::Pending),
            "delivered" => Ok(DeliveryState::Delivered),
            "failed" => Ok(DeliveryState::Failed),
            other => Err(Error::Internal(format!("unknown delivery state '{other}' in the registry"))),
        }
    }
}

/// One attempt of a delivery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Attempt {
    pub attempt: i64,
    pub at: DateTime<Utc>,
    /// The node instance that made it.
    pub instance: String,
    /// The HTTP status the endpoint answered, if it answered.
    pub status: Option<i64>,
    /// Why it failed; None when delivered.
    pub error: Option<String>,
}

/// One event sent (or to be sent) to one webhook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Delivery {
    pub id: i64,
    pub webhook_id: i64,
    /// The event kind (`deploy`, `canary_rollback`…).
    pub event: String,
    pub service: Option<String>,
    pub state: DeliveryState,
    pub attempts: i64,
    pub max_attempts: i64,
    /// When it is tried next, while pending.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The last attempt's HTTP status, if the endpoint answered.
    pub last_status: Option<i64>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// The exact JSON body sent.
    pub body: String,
    /// Every attempt, first first.
    pub attempt_log: Vec<Attempt>,
}

/// A claimed delivery with what sending it needs.
pub(super) struct Due {
    pub id: i64,
    pub url: String,
    pub secret: Option<String>,
    pub event: String,
    pub body: String,
    pub attempts: i64,
    pub max_attempts: i64,
}

/// An attempt's result as written.
pub(super) struct Record<'a> {
    pub attempt: i64,
    pub at: i64,
    pub state: DeliveryState,
    pub next: i64,
    pub status: Option<u16>,
    pub why: Option<&'a str>,
}

fn time(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

fn not_found(id: i64) -> Error {
    Error::WebhookNotFound(format!("there is no webhook {id}: `switchyard webhooks list` shows them"))
}

fn webhook_of(row: &sqlx::any::AnyRow) -> Result<Webhook> {
    let url: String = row.try_get("url")?;
    let secret: Option<String> = row.try_get("secret")?;
    Ok(Webhook {
        id: row.try_get("id")?,
        url: super::masked_url(&url),
        service: row.try_get("service")?,
        signed: secret.is_some(),
        created_by: row.try_get("created_by")?,
        created_at: time(row.try_get("created_at")?),
    })
}

const WEBHOOK_COLUMNS: &str = "id, url, service, secret, created_by, created_at";

pub(super) async fn insert_webhook(
    pool: &Pool,
    url: &str,
    service: Option<&str>,
    secret: Option<&str>,
    by: &str,
    now: i64,
) -> Result<Webhook> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO webhooks (url, service, secret, created_by, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(url)
    .bind(service)
    .bind(secret)
    .bind(by)
    .bind(now)
    .fetch_one(pool)
    .await?;
    webhook(pool, id).await
}

/// A webhook not removed.
pub(super) async fn webhook(pool: &Pool, id: i64) -> Result<Webhook> {
    let sql = format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE id = $1 AND removed_at IS NULL");
    let row = sqlx::query(&sql).bind(id).fetch_optional(pool).await?.ok_or_else(|| not_found(id))?;
    webhook_of(&row)
}

/// A webhook, removed or not (its deliveries stay readable).
pub(super) async fn webhook_any(pool: &Pool, id: i64) -> Result<()> {
    let found: Option<i64> =
        sqlx::query_scalar("SELECT id FROM webhooks WHERE id = $1").bind(id).fetch_optional(pool).await?;
    found.map(|_| ()).ok_or_else(|| not_found(id))
}

pub(super) async fn webhooks(pool: &Pool) -> Result<Vec<Webhook>> {
    let sql = format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE removed_at IS NULL ORDER BY id");
    sqlx::query(&sql).fetch_all(pool).await?.iter().map(webhook_of).collect()
}

pub(super) async fn remove_webhook(pool: &Pool, id: i64, now: i64) -> Result<()> {
    let mut tx = begin_write(pool).await?;
    let done = sqlx::query("UPDATE webhooks SET removed_at = $1 WHERE id = $2 AND removed_at IS NULL")
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    if done.rows_affected() == 0 {
        return Err(not_found(id));
    }
    sqlx::query(
        "UPDATE webhook_deliveries SET state = 'failed', last_error = 'the webhook was removed', finished_at = $1, \
         claimed_by = NULL, claimed_until = NULL WHERE webhook_id = $2 AND state = 'pending'",
    )
    .bind(now)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

pub(super) async fn insert_delivery(
    pool: &Pool,
    webhook: i64,
    event: &Event,
    body: &str,
    max_attempts: u32,
    now: i64,
) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO webhook_deliveries (webhook_id, event, service, body, state, attempts, max_attempts, \
         next_attempt_at, created_at) VALUES ($1, $2, $3, $4, 'pending', 0, $5, $6, $6) RETURNING id",
    )
    .bind(webhook)
    .bind(event.kind.as_str())
    .bind(event.service.as_deref())
    .bind(body)
    .bind(i64::from(max_attempts))
    .bind(now)
    .fetch_one(pool)
    .await?)
}

/// Pending deliveries due at `now` that nobody holds, oldest first.
pub(super) async fn due(pool: &Pool, now: i64, limit: i64) -> Result<Vec<i64>> {
    Ok(sqlx::query_scalar(
        "SELECT id FROM webhook_deliveries WHERE state = 'pending' AND next_attempt_at <= $1 \
         AND (claimed_until IS NULL OR claimed_until < $1) ORDER BY id LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

/// Claims delivery `id` for `claimer` until `now + lease`, if it is due and nobody else holds
/// it: one conditional `UPDATE` decides, so of nodes asking at once exactly one wins. Returns
/// what sending it needs.
pub(super) async fn claim(pool: &Pool, id: i64, claimer: &str, now: i64, lease: Duration) -> Result<Option<Due>> {
    let won = sqlx::query(
        "UPDATE webhook_deliveries SET claimed_by = $1, claimed_until = $2 WHERE id = $3 AND state = 'pending' \
         AND next_attempt_at <= $4 AND (claimed_until IS NULL OR claimed_until < $4)",
    )
    .bind(claimer)
    .bind(now + lease.as_millis() as i64)
    .bind(id)
    .bind(now)
    .execute(pool)
    .await?
    .rows_affected()
        == 1;
    if !won {
        return Ok(None);
    }
    let row = sqlx::query(
        "SELECT d.id, w.url, w.secret, d.event, d.body, d.attempts, d.max_attempts FROM webhook_deliveries d \
         JOIN webhooks w ON w.id = d.webhook_id WHERE d.id = $1",
    )
    .bind(id)
    .fetch_one(pool)
    .await?;
    Ok(Some(Due {
        id: row.try_get("id")?,
        url: row.try_get("url")?,
        secret: row.try_get("secret")?,
        event: row.try_get("event")?,
        body: row.try_get("body")?,
        attempts: row.try_get("attempts")?,
        max_attempts: row.try_get("max_attempts")?,
    }))
}

/// Writes an attempt and the delivery's new state, and releases the claim; only while
/// `claimer` still holds it (a claim taken over after expiry is not overwritten).
pub(super) async fn record(pool: &Pool, due: &Due, claimer: &str, r: Record<'_>) -> Result<()> {
    let mut tx = begin_write(pool).await?;
    let finished = (r.state != DeliveryState::Pending).then_some(r.at);
    let done = sqlx::query(
        "UPDATE webhook_deliveries SET state = $1, attempts = $2, next_attempt_at = $3, last_status = $4, \
         last_error = $5, finished_at = $6, claimed_by = NULL, claimed_until = NULL \
         WHERE id = $7 AND claimed_by = $8 AND state = 'pending'",
    )
    .bind(r.state.as_str())
    .bind(r.attempt)
    .bind(r.next)
    .bind(r.status.map(i64::from))
    .bind(r.why)
    .bind(finished)
    .bind(due.id)
    .bind(claimer)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        // Removed meanwhile, or the claim expired and another node took it: theirs to record.
        return Ok(());
    }
    let instance = claimer.rsplit_once('/').map_or(claimer, |(i, _)| i);
    sqlx::query(
        "INSERT INTO webhook_attempts (delivery_id, attempt, at, instance, status, error) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(due.id)
    .bind(r.attempt)
    .bind(r.at)
    .bind(instance)
    .bind(r.status.map(i64::from))
    .bind(r.why)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

const DELIVERY_COLUMNS: &str = "id, webhook_id, event, service, state, attempts, max_attempts, next_attempt_at, \
     last_status, last_error, created_at, finished_at, body";

async fn delivery_of(pool: &Pool, row: &sqlx::any::AnyRow) -> Result<Delivery> {
    let id: i64 = row.try_get("id")?;
    let state = DeliveryState::parse(&row.try_get::<String, _>("state")?)?;
    let attempt_log = sqlx::query(
        "SELECT attempt, at, instance, status, error FROM webhook_attempts WHERE delivery_id = $1 ORDER BY attempt",
    )
    .bind(id)
    .fetch_all(pool)
    .await?
    .iter()
    .map(|a| {
        Ok(Attempt {
            attempt: a.try_get("attempt")?,
            at: time(a.try_get("at")?),
            instance: a.try_get("instance")?,
            status: a.try_get("status")?,
            error: a.try_get("error")?,
        })
    })
    .collect::<Result<Vec<_>>>()?;
    Ok(Delivery {
        id,
        webhook_id: row.try_get("webhook_id")?,
        event: row.try_get("event")?,
        service: row.try_get("service")?,
        state,
        attempts: row.try_get("attempts")?,
        max_attempts: row.try_get("max_attempts")?,
        next_attempt_at: (state == DeliveryState::Pending)
            .then(|| row.try_get("next_attempt_at").map(time))
            .transpose()?,
        last_status: row.try_get("last_status")?,
        last_error: row.try_get("last_error")?,
        created_at: time(row.try_get("created_at")?),
        finished_at: row.try_get::<Option<i64>, _>("finished_at")?.map(time),
        body: row.try_get("body")?,
        attempt_log,
    })
}

pub(super) async fn delivery(pool: &Pool, id: i64) -> Result<Delivery> {
    let sql = format!("SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_one(pool).await?;
    delivery_of(pool, &row).await
}

pub(super) async fn deliveries(pool: &Pool, webhook: Option<i64>, limit: i64) -> Result<Vec<Delivery>> {
    let rows = match webhook {
        Some(w) => {
            let sql = format!(
                "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE webhook_id = $1 ORDER BY id DESC LIMIT $2"
            );
            sqlx::query(&sql).bind(w).bind(limit).fetch_all(pool).await?
        }
        None => {
            let sql = format!("SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries ORDER BY id DESC LIMIT $1");
            sqlx::query(&sql).bind(limit).fetch_all(pool).await?
        }
    };
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        out.push(delivery_of(pool, row).await?);
    }
    Ok(out)
}
