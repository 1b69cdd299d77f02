//! The registry database: one sqlx pool over SQLite (the default, a file in the data dir) or
//! PostgreSQL (a registry shared by several nodes), and the migrations of each backend in
//! `migrations/sqlite` and `migrations/postgres` (the same versions, the same tables).
//!
//! Queries are written once, in the SQL both backends accept (`$1` parameters, `ON CONFLICT`
//! upserts, 64-bit integers), and run through sqlx's `Any` driver. All SQL lives in the
//! modules that own the tables; values always travel as bind parameters.
//!
//! With PostgreSQL, a committed config change is announced on [`CHANNEL`] (`NOTIFY`), and
//! every node listens ([`listen`]) to activate it at once.

pub mod lease;

use std::path::Path;
use std::time::Duration;

use sqlx::Executor;
use sqlx::any::AnyPoolOptions;

use crate::error::{Error, Result};

pub type Pool = sqlx::AnyPool;

/// The notification channel of committed deployment changes; the payload is the service.
pub const CHANNEL: &str = "switchyard_revisions";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn of_url(url: &str) -> Result<Backend> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(Error::InvalidConfig(format!(
                "'{}' is not a registry URL: use sqlite://PATH or postgres://USER@HOST/DB",
                url.split('@').next_back().unwrap_or("").chars().take(80).collect::<String>()
            )))
        }
    }

    pub fn of(pool: &Pool) -> Backend {
        if pool.connect_options().database_url.scheme().starts_with("postgres") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }
}

/// Opens (creating if needed) the SQLite registry at `path` and brings its schema up to date.
pub async fn open_sqlite(path: &Path) -> Result<Pool> {
    open_url(&format!("sqlite://{}?mode=rwc", path.display())).await
}

/// Opens a registry from a `sqlite:` or `postgres:` URL and brings its schema up to date.
/// SQLite runs in WAL mode with full sync and foreign keys, and waits up to 10 s for a lock.
pub async fn open_url(url: &str) -> Result<Pool> {
    sqlx::any::install_default_drivers();
    let backend = Backend::of_url(url)?;
    let pool = AnyPoolOptions::new()
        .max_connections(8)
        .acquire_timeout(Duration::from_secs(10))
        .after_connect(move |conn, _| {
            Box::pin(async move {
                if backend == Backend::Sqlite {
                    for pragma in SQLITE_PRAGMAS {
                        conn.execute(pragma).await?;
                    }
                }
                Ok(())
            })
        })
        .connect(url)
        .await?;
    match backend {
        Backend::Sqlite => sqlx::migrate!("./migrations/sqlite").run(&pool).await?,
        Backend::Postgres => sqlx::migrate!("./migrations/postgres").run(&pool).await?,
    }
    Ok(pool)
}

/// Every SQLite connection's settings.
const SQLITE_PRAGMAS: [&str; 4] = [
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = FULL",
    "PRAGMA foreign_keys = ON",
    "PRAGMA busy_timeout = 10000",
];

/// A transaction that reads then writes. On SQLite it takes the write lock at once
/// (`BEGIN IMMEDIATE`: a deferred one could not upgrade while another writer holds it); on
/// PostgreSQL a plain one, where the tables' keys refuse a conflicting concurrent insert.
pub async fn begin_write(pool: &Pool) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
    Ok(match Backend::of(pool) {
        Backend::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await?,
        Backend::Postgres => pool.begin().await?,
    })
}

/// Announces a committed change of `service`'s deployment to every node sharing the
/// registry (PostgreSQL); nothing to do for SQLite, which has one node.
pub async fn notify(pool: &Pool, service: &str) -> Result<()> {
    if Backend::of(pool) == Backend::Postgres {
        sqlx::query("SELECT pg_notify($1, $2)").bind(CHANNEL).bind(service).execute(pool).await?;
    }
    Ok(())
}

/// The registry's secret named `name` (32 random bytes), made by the first node that asks:
/// every node sharing the registry gets the same one.
pub async fn shared_secret(pool: &Pool, name: &str) -> Result<Vec<u8>> {
    let fresh: [u8; 32] = rand::random();
    sqlx::query("INSERT INTO registry_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
        .bind(name)
        .bind(hex::encode(fresh))
        .execute(pool)
        .await?;
    let stored: String =
        sqlx::query_scalar("SELECT value FROM registry_secrets WHERE name = $1").bind(name).fetch_one(pool).await?;
    hex::decode(&stored)
        .ok()
        .filter(|b| !b.is_empty())
        .ok_or_else(|| Error::Internal(format!("the registry's secret '{name}' is not hex")))
}

/// The value of every `node` column: the registry was designed for several API nodes per
/// console; this process is always `local` (nodes sharing a registry are told apart by their
/// instance instead).
pub const LOCAL_NODE: &str = "local";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_urls_name_their_backend() {
        assert_eq!(Backend::of_url("sqlite:///tmp/r.db?mode=rwc").ok(), Some(Backend::Sqlite));
        assert_eq!(Backend::of_url("postgres://u:p@db/switchyard").ok(), Some(Backend::Postgres));
        assert_eq!(Backend::of_url("postgresql://db/switchyard").ok(), Some(Backend::Postgres));
        let err = Backend::of_url("mysql://u:secret@db/x").expect_err("refused");
        assert!(err.to_string().contains("sqlite://PATH or postgres://"), "{err}");
        assert!(!err.to_string().contains("secret"), "the password is not echoed: {err}");
    }

    /// The secret is stored as 64 lowercase hex digits, read back the same, and a damaged one
    /// is refused by name.
    #[tokio::test]
    async fn shared_secrets_are_stored_as_hex() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pool = open_sqlite(&dir.path().join("registry.db")).await.expect("open");
        let secret = shared_secret(&pool, "request_ids").await.expect("secret");
        assert_eq!(secret.len(), 32);
        assert_eq!(shared_secret(&pool, "request_ids").await.expect("again"), secret);
        let stored: String = sqlx::query_scalar("SELECT value FROM registry_secrets WHERE name = 'request_ids'")
            .fetch_one(&pool)
            .await
            .expect("stored");
        assert_eq!(stored, secret.iter().map(|b| format!("{b:02x}")).collect::<String>());
        for (name, value) in [("upper", "00FF"), ("odd", "abc"), ("bad", "zz"), ("empty", "")] {
            sqlx::query("INSERT INTO registry_secrets (name, value) VALUES ($1, $2)")
                .bind(name)
                .bind(value)
                .execute(&pool)
                .await
                .expect("insert");
        }
        assert_eq!(shared_secret(&pool, "upper").await.expect("upper case is hex"), [0x00, 0xff]);
        for name in ["odd", "bad", "empty"] {
            let err = shared_secret(&pool, name).await.expect_err("damaged").to_string();
            assert!(err.contains(&format!("the registry's secret '{name}' is not hex")), "{err}");
        }
    }
}
