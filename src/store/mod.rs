//! The registry database: a sqlx pool and the migrations in `migrations/`.
//!
//! SQLite (WAL, foreign keys on) is the default. All SQL lives in the modules that own the
//! tables (`registry`, `deploy`); values always travel as bind parameters.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use crate::error::Result;

pub type Pool = sqlx::SqlitePool;

/// Opens (creating if needed) the registry at `path` and brings its schema up to date.
pub async fn open_sqlite(path: &Path) -> Result<Pool> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10));
    open_with(options).await
}

/// Opens a registry from a `sqlite:` URL.
pub async fn open_url(url: &str) -> Result<Pool> {
    let options = SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10));
    open_with(options).await
}

async fn open_with(options: SqliteConnectOptions) -> Result<Pool> {
    let pool = SqlitePoolOptions::new().max_connections(8).connect_with(options).await?;
    sqlx::migrate!("./migrations").run(&pool).await?;
    Ok(pool)
}

/// Milliseconds since the Unix epoch: the registry's one time unit.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
