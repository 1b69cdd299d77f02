//! Protected services and approval requests.
//!
//! A protected service's deploys and canary starts do not happen when asked: an approval
//! request records the exact config (or canary plan), the config serving when it was asked
//! (for the diff), who asked and why. Another principal with `approve` on the service
//! approves it, and only then does the change run; the requester cannot approve their own
//! request, and a request not decided before `expires_at` can no longer be. Rollback is never
//! gated. [`check_decision`] is the pure rule; the engine does the I/O around it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::Row;

use crate::error::{Error, Result};
use crate::registry::to_datetime;
use crate::store::{LOCAL_NODE, Pool};

/// How long a request waits for a decision by default.
pub const DEFAULT_TTL: Duration = Duration::from_secs(24 * 3600);
/// The longest a request may wait.
pub const MAX_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalKind {
    /// A deploy of `payload` (a deployment config).
    Deploy,
    /// A canary start with `payload` (a canary plan).
    Canary,
}

impl ApprovalKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalKind::Deploy => "deploy",
            ApprovalKind::Canary => "canary",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalStatus {
    Pending,
    Approved,
    Rejected,
    /// Pending past its expiry: it can no longer be decided.
    Expired,
}

/// A proposed deploy or canary on a protected service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ApprovalRequest {
    pub id: i64,
    pub service: String,
    pub kind: ApprovalKind,
    /// The exact deployment config or canary plan that runs when approved.
    #[schema(value_type = Object)]
    pub payload: Value,
    /// The config serving when it was requested (None: not deployed), for the diff.
    #[schema(value_type = Option<Object>)]
    pub base: Option<Value>,
    pub reason: String,
    pub requested_by: String,
    pub requested_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub status: ApprovalStatus,
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    /// The decider's note.
    pub note: String,
    /// What the approved change produced (`revision 4`, `canary 2`).
    pub outcome: String,
}

/// Whether a service is protected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Protection {
    pub service: String,
    pub protected: bool,
    pub changed_by: Option<String>,
    pub changed_at: Option<DateTime<Utc>>,
}

/// Whether `approver` may decide `request` at `now_ms`: it must be pending, not expired, and
/// not the approver's own.
pub fn check_decision(request: &ApprovalRequest, approver: &str, now_ms: i64) -> Result<()> {
    match request.status {
        ApprovalStatus::Pending => {}
        ApprovalStatus::Expired => {
            return Err(Error::ApprovalConflict(format!(
                "approval request {} expired at {}: ask {} to request it again",
                request.id,
                request.expires_at.format("%Y-%m-%d %H:%M:%S UTC"),
                request.requested_by
            )));
        }
        decided => {
            return Err(Error::ApprovalConflict(format!(
                "approval request {} is already {} by {}",
                request.id,
                if decided == ApprovalStatus::Approved { "approved" } else { "rejected" },
                request.decided_by.as_deref().unwrap_or("someone")
            )));
        }
    }
    if request.expires_at.timestamp_millis() <= now_ms {
        return Err(Error::ApprovalConflict(format!("approval request {} has expired", request.id)));
    }
    if request.requested_by == approver {
        return Err(Error::Forbidden {
            permission: "approve",
            message: format!(
                "{approver} requested approval request {} and may not decide it: another operator or admin of '{}' must",
                request.id, request.service
            ),
        });
    }
    Ok(())
}

pub async fn protection(pool: &Pool, service: &str) -> Result<Protection> {
    let row = sqlx::query("SELECT changed_by, changed_at FROM protected_services WHERE service = $1 AND node = $2")
        .bind(service)
        .bind(LOCAL_NODE)
        .fetch_optional(pool)
        .await?;
    Ok(match row {
        Some(r) => Protection {
            service: service.to_owned(),
            protected: true,
            changed_by: Some(r.try_get("changed_by")?),
            changed_at: Some(to_datetime(r.try_get("changed_at")?)),
        },
        None => Protection { service: service.to_owned(), protected: false, changed_by: None, changed_at: None },
    })
}

pub async fn set_protected(pool: &Pool, service: &str, protected: bool, by: &str, now: i64) -> Result<()> {
    if protected {
        sqlx::query(
            "INSERT INTO protected_services (service, node, changed_by, changed_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (service, node) DO NOTHING",
        )
        .bind(service)
        .bind(LOCAL_NODE)
        .bind(by)
        .bind(now)
        .execute(pool)
        .await?;
    } else {
        sqlx::query("DELETE FROM protected_services WHERE service = $1 AND node = $2")
            .bind(service)
            .bind(LOCAL_NODE)
            .execute(pool)
            .await?;
    }
    Ok(())
}

/// What a new request holds.
pub struct NewRequest<'a> {
    pub service: &'a str,
    pub kind: ApprovalKind,
    pub payload: &'a Value,
    pub base: Option<&'a Value>,
    pub reason: &'a str,
    pub requested_by: &'a str,
    pub ttl: Duration,
}

pub async fn create_request(pool: &Pool, new: NewRequest<'_>, now: i64) -> Result<ApprovalRequest> {
    if new.ttl > MAX_TTL || new.ttl.is_zero() {
        return Err(Error::InvalidInput(format!(
            "an approval request may wait 1 second to {} days",
            MAX_TTL.as_secs() / 86_400
        )));
    }
    let reason = new.reason.trim();
    if reason.is_empty() {
        return Err(Error::InvalidInput(format!(
            "'{}' is protected: say why in the reason, so the approver can judge the change",
            new.service
        )));
    }
    let expires_at = now.saturating_add(i64::try_from(new.ttl.as_millis()).unwrap_or(i64::MAX));
    let mut tx = crate::store::begin_write(pool).await?;
    let id: i64 =
        sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) + 1 FROM approval_requests").fetch_one(&mut *tx).await?;
    sqlx::query(
        "INSERT INTO approval_requests (id, service, node, kind, payload_json, base_json, reason, requested_by,
                                        requested_at, expires_at, status)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'pending')",
    )
    .bind(id)
    .bind(new.service)
    .bind(LOCAL_NODE)
    .bind(new.kind.as_str())
    .bind(new.payload.to_string())
    .bind(new.base.map(Value::to_string))
    .bind(reason.chars().take(2000).collect::<String>())
    .bind(new.requested_by)
    .bind(now)
    .bind(expires_at)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    get_request(pool, new.service, id, now).await
}

const COLUMNS: &str = "id, service, kind, payload_json, base_json, reason, requested_by, requested_at, expires_at, \
                       status, decided_by, decided_at, note, outcome";

fn request_of(r: &sqlx::any::AnyRow, now: i64) -> Result<ApprovalRequest> {
    let parse = |text: String| {
        serde_json::from_str::<Value>(&text).map_err(|e| Error::Internal(format!("stored approval payload: {e}")))
    };
    let expires_at: i64 = r.try_get("expires_at")?;
    let status = match r.try_get::<String, _>("status")?.as_str() {
        "approved" => ApprovalStatus::Approved,
        "rejected" => ApprovalStatus::Rejected,
        _ if expires_at <= now => ApprovalStatus::Expired,
        _ => ApprovalStatus::Pending,
    };
    Ok(ApprovalRequest {
        id: r.try_get("id")?,
        service: r.try_get("service")?,
        kind: if r.try_get::<String, _>("kind")? == "canary" { ApprovalKind::Canary } else { ApprovalKind::Deploy },
        payload: parse(r.try_get("payload_json")?)?,
        base: r.try_get::<Option<String>, _>("base_json")?.map(parse).transpose()?,
        reason: r.try_get("reason")?,
        requested_by: r.try_get("requested_by")?,
        requested_at: to_datetime(r.try_get("requested_at")?),
        expires_at: to_datetime(expires_at),
        status,
        decided_by: r.try_get("decided_by")?,
        decided_at: r.try_get::<Option<i64>, _>("decided_at")?.map(to_datetime),
        note: r.try_get("note")?,
        outcome: r.try_get("outcome")?,
    })
}

pub async fn get_request(pool: &Pool, service: &str, id: i64, now: i64) -> Result<ApprovalRequest> {
    let row =
        sqlx::query(&format!("SELECT {COLUMNS} FROM approval_requests WHERE id = $1 AND service = $2 AND node = $3"))
            .bind(id)
            .bind(service)
            .bind(LOCAL_NODE)
            .fetch_optional(pool)
            .await?
            .ok_or_else(|| Error::ApprovalNotFound(format!("'{service}' has no approval request {id}")))?;
    request_of(&row, now)
}

/// Requests of one service (or every one), newest first; only pending ones when asked.
pub async fn list_requests(
    pool: &Pool,
    service: Option<&str>,
    pending_only: bool,
    now: i64,
) -> Result<Vec<ApprovalRequest>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM approval_requests WHERE node = $1 AND ($2 = '' OR service = $2) ORDER BY id DESC LIMIT 500"
    ))
    .bind(LOCAL_NODE)
    .bind(service.unwrap_or(""))
    .fetch_all(pool)
    .await?;
    let all = rows.iter().map(|r| request_of(r, now)).collect::<Result<Vec<_>>>()?;
    Ok(if pending_only { all.into_iter().filter(|r| r.status == ApprovalStatus::Pending).collect() } else { all })
}

/// Records a decision; refused (conflict) when another decision committed first.
pub async fn decide(
    pool: &Pool,
    request: &ApprovalRequest,
    approved: bool,
    by: &str,
    note: &str,
    outcome: &str,
    now: i64,
) -> Result<()> {
    let done = sqlx::query(
        "UPDATE approval_requests SET status = $1, decided_by = $2, decided_at = $3, note = $4, outcome = $5
         WHERE id = $6 AND status = 'pending'",
    )
    .bind(if approved { "approved" } else { "rejected" })
    .bind(by)
    .bind(now)
    .bind(note.chars().take(2000).collect::<String>())
    .bind(outcome)
    .bind(request.id)
    .execute(pool)
    .await?;
    if done.rows_affected() == 0 {
        return Err(Error::ApprovalConflict(format!(
            "approval request {} was decided by someone else first",
            request.id
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(status: ApprovalStatus, expires_at: i64) -> ApprovalRequest {
        ApprovalRequest {
            id: 3,
            service: "iris".into(),
            kind: ApprovalKind::Deploy,
            payload: serde_json::json!({}),
            base: None,
            reason: "r".into(),
            requested_by: "dee".into(),
            requested_at: to_datetime(0),
            expires_at: to_datetime(expires_at),
            status,
            decided_by: None,
            decided_at: None,
            note: String::new(),
            outcome: String::new(),
        }
    }

    #[test]
    fn only_another_principal_decides_a_pending_unexpired_request() {
        assert!(check_decision(&request(ApprovalStatus::Pending, 1_000), "olga", 999).is_ok());
        let own = check_decision(&request(ApprovalStatus::Pending, 1_000), "dee", 0).expect_err("self");
        assert_eq!(own.code(), crate::error::ErrorCode::Forbidden);
        assert!(own.to_string().contains("may not decide it"), "{own}");
        let late = check_decision(&request(ApprovalStatus::Pending, 1_000), "olga", 1_000).expect_err("late");
        assert_eq!(late.code(), crate::error::ErrorCode::ApprovalConflict);
        let expired = check_decision(&request(ApprovalStatus::Expired, 1_000), "olga", 0).expect_err("expired");
        assert!(expired.to_string().contains("expired"), "{expired}");
        let done = check_decision(&request(ApprovalStatus::Approved, 1_000), "olga", 0).expect_err("done");
        assert!(done.to_string().contains("already approved"), "{done}");
    }
}
