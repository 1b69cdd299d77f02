//! The audit: an append-only, hash-chained log of every state-changing admin call, refusals
//! included: who, when, what, from where, the digest of the target's state before and after,
//! and the outcome.
//!
//! Each row's digest is SHA-256 over the previous row's digest followed by the row's
//! canonical fields (a JSON array in a fixed order, its sequence number first), so editing a
//! row changes its digest, and deleting or reordering rows breaks the link of the next one.
//! [`verify`] walks the chain and names the first bad row. Deleting the newest rows leaves a
//! shorter valid chain: export the chain's head (`audit export`) elsewhere to detect that.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::error::Result;
use crate::registry::to_datetime;
use crate::store::{self, Pool};

/// The previous digest of the first row.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// The longest `detail` kept.
const MAX_DETAIL: usize = 500;

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Done (2xx).
    Ok,
    /// Refused before it ran: missing credentials, a missing permission, a rule.
    Refused,
    /// Ran and failed (bad input, a conflict, an error).
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Refused => "refused",
            Outcome::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Outcome {
        match s {
            "ok" => Outcome::Ok,
            "refused" => Outcome::Refused,
            _ => Outcome::Failed,
        }
    }
}

/// A row to append.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub at_ms: i64,
    /// The principal's name (`anonymous` when the caller presented no valid credentials).
    pub principal: String,
    /// Where the call came from: the peer address, `desktop`, `scheduler`.
    pub source: String,
    /// The operation (`deploy`, `rollback`, `create_principal`…).
    pub action: String,
    /// What it acted on: the request path.
    pub target: String,
    /// The service concerned, if any (the deployment report selects rows by it).
    pub service: Option<String>,
    /// Digest of the target's state before and after (empty when it has none).
    pub before: String,
    pub after: String,
    pub outcome: Outcome,
    /// The HTTP status answered.
    pub status: u16,
    /// The refusal or error code, the approval request, the client's claimed author.
    pub detail: String,
}

/// A stored row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditRow {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub principal: String,
    pub source: String,
    pub action: String,
    pub target: String,
    pub service: Option<String>,
    pub before: String,
    pub after: String,
    pub outcome: Outcome,
    pub status: u16,
    pub detail: String,
    pub prev_digest: String,
    pub digest: String,
}

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChainVerdict {
    /// Rows checked.
    pub rows: u64,
    /// The newest row's digest (the chain's head), to keep elsewhere.
    pub head: String,
    /// The first row that breaks the chain; None when the chain is whole.
    pub first_bad: Option<BadRow>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BadRow {
    pub seq: i64,
    pub reason: String,
}

/// The canonical bytes a row's digest covers after the previous digest.
fn canonical(seq: i64, at_ms: i64, e: &EntryFields<'_>) -> Vec<u8> {
    let fields = serde_json::json!([
        seq,
        at_ms,
        e.principal,
        e.source,
        e.action,
        e.target,
        e.service,
        e.before,
        e.after,
        e.outcome,
        e.status,
        e.detail
    ]);
    fields.to_string().into_bytes()
}

struct EntryFields<'a> {
    principal: &'a str,
    source: &'a str,
    action: &'a str,
    target: &'a str,
    service: Option<&'a str>,
    before: &'a str,
    after: &'a str,
    outcome: &'a str,
    status: i64,
    detail: &'a str,
}

/// SHA-256(prev ‖ canonical fields), hex.
fn chain_digest(prev: &str, seq: i64, at_ms: i64, fields: &EntryFields<'_>) -> String {
    let mut h = Sha256::new();
    h.update(prev.as_bytes());
    h.update(canonical(seq, at_ms, fields));
    hex::encode(h.finalize())
}

fn clip(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// Appends a row at the end of the chain and answers its sequence number. Appends are
/// serialised: on SQLite by the write lock, on PostgreSQL by a table lock held to commit.
pub async fn append(pool: &Pool, entry: &Entry) -> Result<i64> {
    let mut tx = store::begin_write(pool).await?;
    if store::Backend::of(pool) == store::Backend::Postgres {
        sqlx::query("LOCK TABLE audit IN EXCLUSIVE MODE").execute(&mut *tx).await?;
    }
    let last = sqlx::query("SELECT seq, digest FROM audit ORDER BY seq DESC LIMIT 1").fetch_optional(&mut *tx).await?;
    let (seq, prev) = match last {
        Some(r) => (r.try_get::<i64, _>("seq")? + 1, r.try_get::<String, _>("digest")?),
        None => (1, GENESIS.to_owned()),
    };
    let detail = clip(&entry.detail, MAX_DETAIL);
    let (principal, source, target) = (clip(&entry.principal, 200), clip(&entry.source, 200), clip(&entry.target, 500));
    let fields = EntryFields {
        principal: &principal,
        source: &source,
        action: &entry.action,
        target: &target,
        service: entry.service.as_deref(),
        before: &entry.before,
        after: &entry.after,
        outcome: entry.outcome.as_str(),
        status: i64::from(entry.status),
        detail: &detail,
    };
    let digest = chain_digest(&prev, seq, entry.at_ms, &fields);
    sqlx::query(
        "INSERT INTO audit (seq, at, principal, source, action, target, service, before_digest, after_digest,
                            outcome, status, detail, prev_digest, digest)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(seq)
    .bind(entry.at_ms)
    .bind(fields.principal)
    .bind(fields.source)
    .bind(fields.action)
    .bind(fields.target)
    .bind(fields.service)
    .bind(fields.before)
    .bind(fields.after)
    .bind(fields.outcome)
    .bind(fields.status)
    .bind(fields.detail)
    .bind(&prev)
    .bind(&digest)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(seq)
}

const COLUMNS: &str = "seq, at, principal, source, action, target, service, before_digest, after_digest, outcome, \
                       status, detail, prev_digest, digest";

fn row_of(r: &sqlx::any::AnyRow) -> Result<(AuditRow, i64)> {
    let at: i64 = r.try_get("at")?;
    let status: i64 = r.try_get("status")?;
    Ok((
        AuditRow {
            seq: r.try_get("seq")?,
            at: to_datetime(at),
            principal: r.try_get("principal")?,
            source: r.try_get("source")?,
            action: r.try_get("action")?,
            target: r.try_get("target")?,
            service: r.try_get("service")?,
            before: r.try_get("before_digest")?,
            after: r.try_get("after_digest")?,
            outcome: Outcome::parse(&r.try_get::<String, _>("outcome")?),
            status: u16::try_from(status).unwrap_or(0),
            detail: r.try_get("detail")?,
            prev_digest: r.try_get("prev_digest")?,
            digest: r.try_get("digest")?,
        },
        at,
    ))
}

/// Which rows to list.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// From this time (Unix ms), inclusive.
    pub since_ms: Option<i64>,
    /// Until this time (Unix ms), inclusive.
    pub until_ms: Option<i64>,
    /// Only the rows of this service.
    pub service: Option<String>,
    /// At most this many rows (the oldest first).
    pub limit: Option<i64>,
}

/// Rows matching `filter`, oldest first.
pub async fn list(pool: &Pool, filter: &Filter) -> Result<Vec<AuditRow>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM audit WHERE at >= $1 AND at <= $2 AND ($3 = '' OR service = $3) ORDER BY seq LIMIT $4"
    ))
    .bind(filter.since_ms.unwrap_or(i64::MIN))
    .bind(filter.until_ms.unwrap_or(i64::MAX))
    .bind(filter.service.clone().unwrap_or_default())
    .bind(filter.limit.unwrap_or(i64::MAX))
    .fetch_all(pool)
    .await?;
    rows.iter().map(|r| row_of(r).map(|(row, _)| row)).collect()
}

/// Walks the whole chain, oldest first, and names the first row that breaks it.
pub async fn verify(pool: &Pool) -> Result<ChainVerdict> {
    let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM audit ORDER BY seq")).fetch_all(pool).await?;
    let mut rows_read = Vec::with_capacity(rows.len());
    for r in &rows {
        rows_read.push(row_of(r)?);
    }
    Ok(check_chain(&rows_read))
}

/// The chain check over rows in sequence order (with their stored millisecond times).
fn check_chain(rows: &[(AuditRow, i64)]) -> ChainVerdict {
    let mut prev = GENESIS.to_owned();
    for (expected_seq, (row, at_ms)) in (1..).zip(rows) {
        let bad = |reason: String| ChainVerdict {
            rows: rows.len() as u64,
            head: rows.last().map(|(r, _)| r.digest.clone()).unwrap_or_default(),
            first_bad: Some(BadRow { seq: row.seq, reason }),
        };
        if row.seq != expected_seq {
            return bad(format!(
                "row {} follows row {}: row(s) {expected_seq}..{} are missing (deleted)",
                row.seq,
                expected_seq - 1,
                row.seq - 1
            ));
        }
        if row.prev_digest != prev {
            return bad(format!(
                "row {} does not link to row {}: the rows were deleted, reordered or their digests rewritten",
                row.seq,
                row.seq - 1
            ));
        }
        let fields = EntryFields {
            principal: &row.principal,
            source: &row.source,
            action: &row.action,
            target: &row.target,
            service: row.service.as_deref(),
            before: &row.before,
            after: &row.after,
            outcome: row.outcome.as_str(),
            status: i64::from(row.status),
            detail: &row.detail,
        };
        if chain_digest(&prev, row.seq, *at_ms, &fields) != row.digest {
            return bad(format!("row {} was edited: its digest does not match its fields", row.seq));
        }
        prev = row.digest.clone();
    }
    ChainVerdict { rows: rows.len() as u64, head: prev, first_bad: None }
}

/// A digest of a state, for the before and after columns: SHA-256 of its JSON, hex.
pub fn state_digest(state: &serde_json::Value) -> String {
    hex::encode(Sha256::digest(state.to_string().as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<(AuditRow, i64)> {
        let mut prev = GENESIS.to_owned();
        (1..=n)
            .map(|seq| {
                let at = 1_000 * seq;
                let mut row = AuditRow {
                    seq,
                    at: to_datetime(at),
                    principal: format!("p{seq}"),
                    source: "127.0.0.1".into(),
                    action: "deploy".into(),
                    target: "/admin/v1/deployments/iris".into(),
                    service: Some("iris".into()),
                    before: "a".into(),
                    after: "b".into(),
                    outcome: Outcome::Ok,
                    status: 200,
                    detail: String::new(),
                    prev_digest: prev.clone(),
                    digest: String::new(),
                };
                let fields = EntryFields {
                    principal: &row.principal,
                    source: &row.source,
                    action: &row.action,
                    target: &row.target,
                    service: row.service.as_deref(),
                    before: &row.before,
                    after: &row.after,
                    outcome: row.outcome.as_str(),
                    status: 200,
                    detail: &row.detail,
                };
                row.digest = chain_digest(&prev, seq, at, &fields);
                prev = row.digest.clone();
                (row, at)
            })
            .collect()
    }

    #[test]
    fn a_whole_chain_verifies_and_each_tampering_names_its_row() {
        let rows = chain(5);
        let ok = check_chain(&rows);
        assert_eq!((ok.rows, ok.first_bad, ok.head.len()), (5, None, 64));
        assert_eq!(check_chain(&[]).first_bad, None);

        let mut edited = rows.clone();
        edited[2].0.principal = "mallory".into();
        assert_eq!(check_chain(&edited).first_bad.map(|b| b.seq), Some(3));
        let mut retimed = rows.clone();
        retimed[1].1 += 1;
        assert_eq!(check_chain(&retimed).first_bad.map(|b| b.seq), Some(2));

        let mut deleted = rows.clone();
        deleted.remove(1);
        let bad = check_chain(&deleted).first_bad.expect("bad");
        assert_eq!(bad.seq, 3);
        assert!(bad.reason.contains("missing"), "{}", bad.reason);

        // Reordered and renumbered: rows 2 and 3 swap places and numbers.
        let mut swapped = rows.clone();
        swapped.swap(1, 2);
        swapped[1].0.seq = 2;
        swapped[2].0.seq = 3;
        assert_eq!(check_chain(&swapped).first_bad.map(|b| b.seq), Some(2));
    }

    #[test]
    fn the_digest_covers_every_field_and_the_previous_digest() {
        let (row, at) = chain(1).remove(0);
        let base = EntryFields {
            principal: &row.principal,
            source: &row.source,
            action: &row.action,
            target: &row.target,
            service: row.service.as_deref(),
            before: &row.before,
            after: &row.after,
            outcome: "ok",
            status: 200,
            detail: "",
        };
        let d = chain_digest(GENESIS, 1, at, &base);
        assert_eq!(d, row.digest);
        assert_ne!(chain_digest(&"1".repeat(64), 1, at, &base), d);
        assert_ne!(chain_digest(GENESIS, 2, at, &base), d);
        assert_ne!(chain_digest(GENESIS, 1, at, &EntryFields { outcome: "refused", ..base }), d);
        assert_ne!(chain_digest(GENESIS, 1, at, &EntryFields { service: None, ..base }), d);
        assert_ne!(chain_digest(GENESIS, 1, at, &EntryFields { status: 403, ..base }), d);
    }
}
