//! Leases in the registry: `name` is held by one holder until it expires. A holder renews
//! its lease; anyone takes it once expired. Nodes sharing a registry use them so that work
//! only one may do (the scenario scheduler, the canary controller) runs on one node at a
//! time, and to say which instances are alive. One statement decides, so two nodes asking at
//! once cannot both win.

use std::time::Duration;

use super::Pool;
use crate::error::Result;

/// Takes or renews `name` for `holder` until `now_ms + ttl`, unless another holder has it
/// unexpired. Returns whether `holder` has it now.
pub async fn try_hold(pool: &Pool, name: &str, holder: &str, ttl: Duration, now_ms: i64) -> Result<bool> {
    let until = now_ms + ttl.as_millis() as i64;
    let done = sqlx::query(
        "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3) \
         ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
         WHERE leases.holder = excluded.holder OR leases.expires_at < $4",
    )
    .bind(name)
    .bind(holder)
    .bind(until)
    .bind(now_ms)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Who holds `name`, if anyone does unexpired at `now_ms`.
pub async fn holder(pool: &Pool, name: &str, now_ms: i64) -> Result<Option<String>> {
    Ok(sqlx::query_scalar("SELECT holder FROM leases WHERE name = $1 AND expires_at >= $2")
        .bind(name)
        .bind(now_ms)
        .fetch_optional(pool)
        .await?)
}

/// The names of unexpired leases starting with `prefix`, without it.
pub async fn held_with_prefix(pool: &Pool, prefix: &str, now_ms: i64) -> Result<Vec<String>> {
    let names: Vec<String> =
        sqlx::query_scalar("SELECT name FROM leases WHERE expires_at >= $1").bind(now_ms).fetch_all(pool).await?;
    Ok(names.into_iter().filter_map(|n| n.strip_prefix(prefix).map(str::to_owned)).collect())
}

/// Gives `name` up if `holder` has it (a node that stops lets another take over at once).
pub async fn release(pool: &Pool, name: &str, holder: &str) -> Result<()> {
    sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2").bind(name).bind(holder).execute(pool).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_holder_at_a_time_until_expiry() {
        let dir = tempfile::tempdir().expect("dir");
        let pool = super::super::open_sqlite(&dir.path().join("r.db")).await.expect("open");
        let ttl = Duration::from_secs(10);
        assert!(try_hold(&pool, "scheduler", "a", ttl, 1_000).await.expect("hold"));
        assert!(!try_hold(&pool, "scheduler", "b", ttl, 2_000).await.expect("held by a"));
        assert!(try_hold(&pool, "scheduler", "a", ttl, 5_000).await.expect("renewed"));
        assert_eq!(holder(&pool, "scheduler", 14_999).await.expect("read").as_deref(), Some("a"));
        assert!(!try_hold(&pool, "scheduler", "b", ttl, 15_000).await.expect("renewed until 15000"));
        assert!(try_hold(&pool, "scheduler", "b", ttl, 15_001).await.expect("expired: b takes it"));
        assert!(!try_hold(&pool, "scheduler", "a", ttl, 15_002).await.expect("b has it"));
        assert!(try_hold(&pool, "instance/x", "p1", ttl, 15_000).await.expect("hold"));
        assert_eq!(held_with_prefix(&pool, "instance/", 20_000).await.expect("alive"), vec!["x".to_owned()]);
        assert!(held_with_prefix(&pool, "instance/", 25_001).await.expect("alive").is_empty());
        release(&pool, "scheduler", "a").await.expect("not a's: nothing");
        assert_eq!(holder(&pool, "scheduler", 16_000).await.expect("read").as_deref(), Some("b"));
        release(&pool, "scheduler", "b").await.expect("release");
        assert!(try_hold(&pool, "scheduler", "a", ttl, 16_000).await.expect("free again"));
    }
}
