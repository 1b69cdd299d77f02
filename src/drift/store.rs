//! `version_references`: each version's reference, as JSON, written with the version.

use sqlx::Row;

use super::Reference;
use crate::error::{Error, Result};
use crate::store::Pool;

/// Stores `reference` as `version`'s (inside the transaction that inserts the version, or
/// replacing an earlier one).
pub(crate) async fn put(
    conn: &mut sqlx::AnyConnection,
    service: &str,
    version: &str,
    reference: &Reference,
    now_ms: i64,
) -> Result<()> {
    let json =
        serde_json::to_string(reference).map_err(|e| Error::Internal(format!("cannot encode a reference: {e}")))?;
    sqlx::query(
        "INSERT INTO version_references (service, version, source, row_count, reference_json, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (service, version) DO UPDATE SET source = excluded.source, row_count = excluded.row_count, \
         reference_json = excluded.reference_json, created_at = excluded.created_at",
    )
    .bind(service)
    .bind(version)
    .bind(reference.source.as_str())
    .bind(reference.rows as i64)
    .bind(json)
    .bind(now_ms)
    .execute(conn)
    .await?;
    Ok(())
}

/// The stored reference of a version, if it has one.
pub async fn get(pool: &Pool, service: &str, version: &str) -> Result<Option<Reference>> {
    let row = sqlx::query("SELECT reference_json FROM version_references WHERE service = $1 AND version = $2")
        .bind(service)
        .bind(version)
        .fetch_optional(pool)
        .await?;
    row.map(|row| {
        let text: String = row.try_get("reference_json")?;
        serde_json::from_str(&text).map_err(|e| Error::Internal(format!("stored reference is unreadable: {e}")))
    })
    .transpose()
}
