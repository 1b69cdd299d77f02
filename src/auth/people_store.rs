//! The `principals`, `principal_grants` and `principal_tokens` tables.

use std::collections::HashMap;

use sqlx::Row;

use super::people::{Grant, NewToken, Principal, PrincipalView, Role, TokenView, check_grants, check_principal_name};
use crate::error::{Error, Result};
use crate::registry::to_datetime;
use crate::store::Pool;

/// Creates a principal with its grants.
pub async fn create_principal(pool: &Pool, name: &str, grants: &[Grant], by: &str, now: i64) -> Result<()> {
    let name = check_principal_name(name)?;
    let grants = check_grants(grants)?;
    let mut tx = crate::store::begin_write(pool).await?;
    let exists: Option<String> =
        sqlx::query_scalar("SELECT name FROM principals WHERE name = $1").bind(&name).fetch_optional(&mut *tx).await?;
    if exists.is_some() {
        return Err(Error::AlreadyExists(format!(
            "a principal named '{name}' exists (or existed: names are never reused)"
        )));
    }
    sqlx::query("INSERT INTO principals (name, created_by, created_at) VALUES ($1, $2, $3)")
        .bind(&name)
        .bind(by)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    insert_grants(&mut tx, &name, &grants).await?;
    tx.commit().await?;
    Ok(())
}

async fn insert_grants(tx: &mut sqlx::Transaction<'static, sqlx::Any>, name: &str, grants: &[Grant]) -> Result<()> {
    for g in grants {
        sqlx::query("INSERT INTO principal_grants (principal, role, scope) VALUES ($1, $2, $3)")
            .bind(name)
            .bind(g.role.as_str())
            .bind(&g.scope)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Replaces a principal's grants.
pub async fn set_grants(pool: &Pool, name: &str, grants: &[Grant]) -> Result<()> {
    let grants = check_grants(grants)?;
    let mut tx = crate::store::begin_write(pool).await?;
    active(&mut tx, name).await?;
    sqlx::query("DELETE FROM principal_grants WHERE principal = $1").bind(name).execute(&mut *tx).await?;
    insert_grants(&mut tx, name, &grants).await?;
    tx.commit().await?;
    Ok(())
}

async fn active(tx: &mut sqlx::Transaction<'static, sqlx::Any>, name: &str) -> Result<()> {
    let removed: Option<Option<i64>> = sqlx::query_scalar("SELECT removed_at FROM principals WHERE name = $1")
        .bind(name)
        .fetch_optional(&mut **tx)
        .await?;
    match removed {
        None => Err(not_found(name)),
        Some(Some(_)) => Err(Error::InvalidInput(format!("principal '{name}' was removed"))),
        Some(None) => Ok(()),
    }
}

fn not_found(name: &str) -> Error {
    Error::PrincipalNotFound(name.chars().take(80).collect())
}

/// Removes a principal: its grants go, its tokens are revoked, its name stays taken.
pub async fn remove_principal(pool: &Pool, name: &str, now: i64) -> Result<()> {
    let mut tx = crate::store::begin_write(pool).await?;
    active(&mut tx, name).await?;
    sqlx::query("UPDATE principals SET removed_at = $1 WHERE name = $2").bind(now).bind(name).execute(&mut *tx).await?;
    sqlx::query("DELETE FROM principal_grants WHERE principal = $1").bind(name).execute(&mut *tx).await?;
    sqlx::query("UPDATE principal_tokens SET revoked_at = $1 WHERE principal = $2 AND revoked_at IS NULL")
        .bind(now)
        .bind(name)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

async fn grants_of(pool: &Pool) -> Result<HashMap<String, Vec<Grant>>> {
    let rows = sqlx::query("SELECT principal, role, scope FROM principal_grants ORDER BY principal, role, scope")
        .fetch_all(pool)
        .await?;
    let mut out: HashMap<String, Vec<Grant>> = HashMap::new();
    for r in rows {
        let grant = Grant { role: Role::parse(&r.try_get::<String, _>("role")?)?, scope: r.try_get("scope")? };
        out.entry(r.try_get("principal")?).or_default().push(grant);
    }
    Ok(out)
}

fn token_from_row(r: &sqlx::any::AnyRow, now: i64) -> Result<(String, TokenView)> {
    Ok((r.try_get("principal")?, super::store::api_key_of(r, now)?))
}

/// Every principal (removed ones included), by name.
pub async fn list_principals(pool: &Pool, now: i64) -> Result<Vec<PrincipalView>> {
    let mut grants = grants_of(pool).await?;
    let mut tokens: HashMap<String, Vec<TokenView>> = HashMap::new();
    let rows = sqlx::query(
        "SELECT id, principal, name, prefix, created_at, expires_at, revoked_at FROM principal_tokens ORDER BY id",
    )
    .fetch_all(pool)
    .await?;
    for r in &rows {
        let (principal, token) = token_from_row(r, now)?;
        tokens.entry(principal).or_default().push(token);
    }
    let rows = sqlx::query("SELECT name, created_by, created_at, removed_at FROM principals ORDER BY name")
        .fetch_all(pool)
        .await?;
    rows.iter()
        .map(|r| {
            let name: String = r.try_get("name")?;
            Ok(PrincipalView {
                grants: grants.remove(&name).unwrap_or_default(),
                tokens: tokens.remove(&name).unwrap_or_default(),
                created_by: r.try_get("created_by")?,
                created_at: to_datetime(r.try_get("created_at")?),
                removed_at: r.try_get::<Option<i64>, _>("removed_at")?.map(to_datetime),
                name,
            })
        })
        .collect()
}

pub async fn get_principal(pool: &Pool, name: &str, now: i64) -> Result<PrincipalView> {
    list_principals(pool, now).await?.into_iter().find(|p| p.name == name).ok_or_else(|| not_found(name))
}

/// Creates a token for a principal, valid until `expires_at` (Unix ms) when given.
pub async fn create_token(
    pool: &Pool,
    principal: &str,
    name: &str,
    expires_at: Option<i64>,
    now: i64,
) -> Result<NewToken> {
    let name = super::check_name(name)?;
    if expires_at.is_some_and(|at| at <= now) {
        return Err(Error::InvalidInput("a token's expiry must be in the future".into()));
    }
    let secret = super::new_secret();
    let prefix = super::shown_prefix(&secret);
    let mut tx = crate::store::begin_write(pool).await?;
    active(&mut tx, principal).await?;
    let id: i64 =
        sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) + 1 FROM principal_tokens").fetch_one(&mut *tx).await?;
    sqlx::query(
        "INSERT INTO principal_tokens (id, principal, name, prefix, sha256, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id)
    .bind(principal)
    .bind(&name)
    .bind(&prefix)
    .bind(hex::encode(super::digest(&secret)))
    .bind(now)
    .bind(expires_at)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    let token = TokenView {
        id,
        name,
        prefix,
        created_at: to_datetime(now),
        expires_at: expires_at.map(to_datetime),
        revoked_at: None,
        status: super::status_at(expires_at, false, now),
    };
    Ok(NewToken { principal: principal.to_owned(), token, secret })
}

/// Revokes a principal's token at once.
pub async fn revoke_token(pool: &Pool, principal: &str, id: i64, now: i64) -> Result<()> {
    let done = sqlx::query(
        "UPDATE principal_tokens SET revoked_at = $1 WHERE principal = $2 AND id = $3 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(principal)
    .bind(id)
    .execute(pool)
    .await?;
    if done.rows_affected() == 0 {
        return Err(Error::InvalidInput(format!("principal '{principal}' has no unrevoked token {id}")));
    }
    Ok(())
}

/// The principal a token secret belongs to, if the token is usable at `now`. Looked up by
/// the secret's digest (192 random bits: the digest reveals nothing to time).
pub async fn principal_of_token(pool: &Pool, secret: &str, now: i64) -> Result<Option<Principal>> {
    let row = sqlx::query(
        "SELECT t.principal, t.expires_at, t.revoked_at, p.removed_at FROM principal_tokens t
         JOIN principals p ON p.name = t.principal WHERE t.sha256 = $1",
    )
    .bind(hex::encode(super::digest(secret)))
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let expires_at: Option<i64> = row.try_get("expires_at")?;
    let usable = row.try_get::<Option<i64>, _>("revoked_at")?.is_none()
        && row.try_get::<Option<i64>, _>("removed_at")?.is_none()
        && expires_at.is_none_or(|at| now < at);
    if !usable {
        return Ok(None);
    }
    let name: String = row.try_get("principal")?;
    let grants = sqlx::query("SELECT role, scope FROM principal_grants WHERE principal = $1 ORDER BY role, scope")
        .bind(&name)
        .fetch_all(pool)
        .await?
        .iter()
        .map(|r| Ok(Grant { role: Role::parse(&r.try_get::<String, _>("role")?)?, scope: r.try_get("scope")? }))
        .collect::<Result<Vec<_>>>()?;
    Ok(Some(Principal { name, grants }))
}
