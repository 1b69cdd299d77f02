//! The `deployment_auth` and `api_keys` tables.

use std::collections::HashMap;
use std::time::Duration;

use sqlx::Row;

use super::{AccessView, ApiKey, AuthMode, KeyDigest, NewKey, Policy};
use crate::error::{Error, Result};
use crate::registry::to_datetime;
use crate::store::LOCAL_NODE;
use crate::store::Pool;

const KEY_COLUMNS: &str = "id, name, prefix, sha256, created_at, expires_at, revoked_at";

struct KeyRow {
    key: ApiKey,
    sha256: String,
    expires_at_ms: Option<i64>,
}

/// A key (or a principal's token) from its row: id, name, prefix, created_at, expires_at,
/// revoked_at.
pub(crate) fn api_key_of(row: &sqlx::any::AnyRow, now: i64) -> Result<ApiKey> {
    let expires_at_ms: Option<i64> = row.try_get("expires_at")?;
    let revoked_at: Option<i64> = row.try_get("revoked_at")?;
    Ok(ApiKey {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        prefix: row.try_get("prefix")?,
        created_at: to_datetime(row.try_get("created_at")?),
        expires_at: expires_at_ms.map(to_datetime),
        revoked_at: revoked_at.map(to_datetime),
        status: super::status_at(expires_at_ms, revoked_at.is_some(), now),
    })
}

fn key_from_row(row: &sqlx::any::AnyRow, now: i64) -> Result<KeyRow> {
    Ok(KeyRow { key: api_key_of(row, now)?, sha256: row.try_get("sha256")?, expires_at_ms: row.try_get("expires_at")? })
}

async fn keys(pool: &Pool, service: &str, now: i64) -> Result<Vec<KeyRow>> {
    let rows = sqlx::query(&format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE service = $1 AND node = $2 ORDER BY id"))
        .bind(service)
        .bind(LOCAL_NODE)
        .fetch_all(pool)
        .await?;
    rows.iter().map(|r| key_from_row(r, now)).collect()
}

async fn mode(pool: &Pool, service: &str) -> Result<AuthMode> {
    let mode: Option<String> = sqlx::query_scalar("SELECT mode FROM deployment_auth WHERE service = $1 AND node = $2")
        .bind(service)
        .bind(LOCAL_NODE)
        .fetch_optional(pool)
        .await?;
    mode.map_or(Ok(AuthMode::None), |m| AuthMode::parse(&m))
}

/// A deployment's mode and keys (failures are the caller's to fill in).
pub(crate) async fn load_view(pool: &Pool, service: &str, now: i64) -> Result<AccessView> {
    Ok(AccessView {
        service: service.to_owned(),
        mode: mode(pool, service).await?,
        keys: keys(pool, service, now).await?.into_iter().map(|k| k.key).collect(),
        failures: 0,
    })
}

fn digest_of(row: &KeyRow) -> Result<KeyDigest> {
    let mut digest = [0u8; 32];
    hex::decode_to_slice(&row.sha256, &mut digest)
        .map_err(|e| Error::Internal(format!("stored digest of key {} is damaged: {e}", row.key.id)))?;
    Ok(KeyDigest { name: row.key.name.clone(), digest, expires_at_ms: row.expires_at_ms })
}

/// The policy of every deployment of `node` that has an auth row or keys.
pub(crate) async fn load_policies(pool: &Pool, now: i64) -> Result<HashMap<String, Policy>> {
    let services: Vec<String> = sqlx::query_scalar(
        "SELECT service FROM deployment_auth WHERE node = $1 UNION SELECT service FROM api_keys WHERE node = $2",
    )
    .bind(LOCAL_NODE)
    .bind(LOCAL_NODE)
    .fetch_all(pool)
    .await?;
    let mut out = HashMap::new();
    for service in services {
        out.insert(service.clone(), load_policy(pool, &service, now).await?);
    }
    Ok(out)
}

pub(crate) async fn load_policy(pool: &Pool, service: &str, now: i64) -> Result<Policy> {
    let keys = keys(pool, service, now).await?;
    Ok(Policy {
        mode: mode(pool, service).await?,
        keys: keys.iter().filter(|k| k.key.revoked_at.is_none()).map(digest_of).collect::<Result<_>>()?,
    })
}

/// Sets the mode. A mode that needs keys is refused while the deployment has no usable key:
/// it would lock every client out.
pub(crate) async fn set_mode(pool: &Pool, service: &str, mode: AuthMode, now: i64) -> Result<()> {
    if mode != AuthMode::None {
        let usable = keys(pool, service, now)
            .await?
            .iter()
            .any(|k| k.key.revoked_at.is_none() && k.expires_at_ms.is_none_or(|at| now < at));
        if !usable {
            return Err(Error::InvalidConfig(format!(
                "'{service}' has no usable key: create a key first, then switch to {}, or every client would be locked out",
                mode.as_str()
            )));
        }
    }
    sqlx::query(
        "INSERT INTO deployment_auth (service, node, mode, updated_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (service, node) DO UPDATE SET mode = excluded.mode, updated_at = excluded.updated_at",
    )
    .bind(service)
    .bind(LOCAL_NODE)
    .bind(mode.as_str())
    .bind(now)
    .execute(pool)
    .await?;
    Ok(())
}

/// Creates a key; with `expire` = Some((id, at)), also sets that key's expiry, in the same
/// transaction (rotation).
/// `now` is the creation time (Unix ms).
async fn insert_key(pool: &Pool, service: &str, name: &str, expire: Option<(i64, i64)>, now: i64) -> Result<NewKey> {
    let secret = super::new_secret();
    let prefix = super::shown_prefix(&secret);
    let created_at = now;
    // Reads then writes: on SQLite the write lock is taken first (a deferred transaction
    // cannot upgrade once another connection, e.g. a lease renewal, has written).
    let mut tx = crate::store::begin_write(pool).await?;
    let id: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) + 1 FROM api_keys WHERE service = $1 AND node = $2")
        .bind(service)
        .bind(LOCAL_NODE)
        .fetch_one(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO api_keys (service, node, id, name, prefix, sha256, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(service)
    .bind(LOCAL_NODE)
    .bind(id)
    .bind(name)
    .bind(&prefix)
    .bind(hex::encode(super::digest(&secret)))
    .bind(created_at)
    .execute(&mut *tx)
    .await?;
    if let Some((old, at)) = expire {
        sqlx::query(
            "UPDATE api_keys SET expires_at = CASE WHEN expires_at IS NULL OR expires_at > $1 THEN $1 ELSE expires_at END
             WHERE service = $2 AND node = $3 AND id = $4",
        )
        .bind(at)
        .bind(service)
        .bind(LOCAL_NODE)
        .bind(old)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    let key = ApiKey {
        id,
        name: name.to_owned(),
        prefix,
        created_at: to_datetime(created_at),
        expires_at: None,
        revoked_at: None,
        status: super::KeyStatus::Active,
    };
    Ok(NewKey { key, secret })
}

pub(crate) async fn create_key(pool: &Pool, service: &str, name: &str, now: i64) -> Result<NewKey> {
    let name = super::check_name(name)?;
    insert_key(pool, service, &name, None, now).await
}

async fn usable_key(pool: &Pool, service: &str, id: i64, now: i64) -> Result<KeyRow> {
    let key = keys(pool, service, now).await?.into_iter().find(|k| k.key.id == id);
    match key {
        None => Err(Error::InvalidInput(format!("'{service}' has no key {id}"))),
        Some(k) if k.key.revoked_at.is_some() => {
            Err(Error::InvalidInput(format!("key {id} of '{service}' is revoked")))
        }
        Some(k) => Ok(k),
    }
}

/// A new key under the old one's name; the old one keeps working for `overlap`.
pub(crate) async fn rotate_key(pool: &Pool, service: &str, id: i64, overlap: Duration, now: i64) -> Result<NewKey> {
    if overlap > super::MAX_OVERLAP {
        return Err(Error::InvalidInput(format!(
            "the overlap may be at most {} days",
            super::MAX_OVERLAP.as_secs() / 86_400
        )));
    }
    let old = usable_key(pool, service, id, now).await?;
    let overlap_ms = i64::try_from(overlap.as_millis()).unwrap_or(i64::MAX);
    insert_key(pool, service, &old.key.name, Some((id, now.saturating_add(overlap_ms))), now).await
}

/// Revokes a key at once. Never refused for a usable key, even the last one (a leaked key
/// must stop working now): the deployment then refuses every request until a key is created
/// or the mode is set to none.
pub(crate) async fn revoke_key(pool: &Pool, service: &str, id: i64, now: i64) -> Result<()> {
    usable_key(pool, service, id, now).await?;
    sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE service = $2 AND node = $3 AND id = $4")
        .bind(now)
        .bind(service)
        .bind(LOCAL_NODE)
        .bind(id)
        .execute(pool)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{KeyStatus, digest};

    fn row(sha256: &str) -> KeyRow {
        KeyRow {
            key: ApiKey {
                id: 7,
                name: "ci".into(),
                prefix: "sy_abc".into(),
                created_at: to_datetime(0),
                expires_at: None,
                revoked_at: None,
                status: KeyStatus::Active,
            },
            sha256: sha256.into(),
            expires_at_ms: None,
        }
    }

    /// Key digests are stored as 64 lowercase hex digits (SHA-256 of the secret) and read back
    /// into the bytes the request path compares; a damaged one names its key.
    #[test]
    fn stored_digests_are_hex() {
        let stored = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
        assert_eq!(digest("hello").iter().map(|b| format!("{b:02x}")).collect::<String>(), stored);
        assert_eq!(digest_of(&row(stored)).expect("digest").digest, digest("hello"));
        assert_eq!(digest_of(&row(&stored.to_uppercase())).expect("digest").digest, digest("hello"));
        for damaged in [&stored[1..], &stored.replace('2', "g"), "", &format!("{stored}00")] {
            let err = digest_of(&row(damaged)).map(|_| ()).expect_err("damaged").to_string();
            assert!(err.contains("stored digest of key 7 is damaged"), "{damaged}: {err}");
        }
    }
}
