//! Deployments and their revisions; the live (activated) configs.
//!
//! Invariants: a revision is never changed or deleted; a deployment's active config is its
//! latest revision; a config is activated only after every model it names is loaded and
//! warm, and it replaces the previous one in one atomic swap.

pub mod canary;
mod config;
mod live;

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::Row;

pub use crate::store::LOCAL_NODE;
pub use config::{DeploymentConfig, MAX_SHADOW_PERCENT, Serving, Shadow};
pub use live::Deployments;

use crate::error::{Error, Result};
use crate::model::LoadedModel;
use crate::names::{ServiceName, VersionId};
use crate::registry::{to_datetime, to_json};
use crate::router::Route;
use crate::store::Pool;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RevisionKind {
    Deploy,
    Rollback,
}

impl RevisionKind {
    fn as_str(self) -> &'static str {
        match self {
            RevisionKind::Deploy => "deploy",
            RevisionKind::Rollback => "rollback",
        }
    }
}

/// One change of a deployment's config: who, when, why, and the full config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Revision {
    pub service: ServiceName,
    pub node: String,
    pub number: i64,
    pub config: DeploymentConfig,
    pub kind: RevisionKind,
    /// For a rollback, the revision whose config it restored.
    pub rollback_of: Option<i64>,
    pub author: String,
    pub reason: String,
    pub created_at: DateTime<Utc>,
    /// The canary that wrote this revision, if any.
    #[serde(default)]
    pub canary_id: Option<i64>,
}

/// A config in service on this node, with its models loaded.
pub struct ActiveDeployment {
    pub service: ServiceName,
    pub revision: i64,
    pub config: DeploymentConfig,
    pub route: Route,
    pub models: HashMap<VersionId, Arc<LoadedModel>>,
    /// The monitor's series of each routed generation, resolved at activation.
    pub counters: HashMap<VersionId, crate::monitor::Counter>,
}

impl ActiveDeployment {
    pub fn live_generations(&self) -> String {
        self.route.generations().iter().map(VersionId::as_str).collect::<Vec<_>>().join(", ")
    }
}

fn revision_from_row(row: &sqlx::any::AnyRow) -> Result<Revision> {
    let config: String = row.try_get("config_json")?;
    let kind: String = row.try_get("kind")?;
    Ok(Revision {
        service: ServiceName::parse(row.try_get("service")?)?,
        node: row.try_get("node")?,
        number: row.try_get("number")?,
        config: serde_json::from_str(&config)
            .map_err(|e| Error::Internal(format!("stored config is unreadable: {e}")))?,
        kind: if kind == "rollback" { RevisionKind::Rollback } else { RevisionKind::Deploy },
        rollback_of: row.try_get("rollback_of")?,
        author: row.try_get("author")?,
        reason: row.try_get("reason")?,
        created_at: to_datetime(row.try_get("created_at")?),
        canary_id: row.try_get("canary_id")?,
    })
}

const REVISION_COLUMNS: &str =
    "service, node, number, config_json, kind, rollback_of, author, reason, created_at, canary_id";

/// The config that serves `version` alone after `current`: the sticky setting is kept, and
/// so is the shadow unless it is the version now deployed.
pub fn single_config(current: Option<DeploymentConfig>, version: &str) -> serde_json::Value {
    let sticky = current.as_ref().is_some_and(|c| c.sticky);
    let shadow = current.and_then(|c| c.shadow).filter(|s| s.generation.as_str() != version);
    serde_json::json!({"mode": "single", "generation": version, "sticky": sticky, "shadow": shadow})
}

/// Every revision of a deployment, oldest first.
pub async fn revisions(pool: &Pool, service: &str) -> Result<Vec<Revision>> {
    let rows = sqlx::query(&format!(
        "SELECT {REVISION_COLUMNS} FROM revisions WHERE service = $1 AND node = $2 ORDER BY number"
    ))
    .bind(service)
    .bind(LOCAL_NODE)
    .fetch_all(pool)
    .await?;
    rows.iter().map(revision_from_row).collect()
}

/// The latest revision (the active config), if the service is deployed on `node`.
pub async fn latest(pool: &Pool, service: &str) -> Result<Option<Revision>> {
    let row = sqlx::query(&format!(
        "SELECT {REVISION_COLUMNS} FROM revisions WHERE service = $1 AND node = $2 ORDER BY number DESC LIMIT 1"
    ))
    .bind(service)
    .bind(LOCAL_NODE)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(revision_from_row).transpose()
}

pub async fn revision(pool: &Pool, service: &str, number: i64) -> Result<Revision> {
    let row = sqlx::query(&format!(
        "SELECT {REVISION_COLUMNS} FROM revisions WHERE service = $1 AND node = $2 AND number = $3"
    ))
    .bind(service)
    .bind(LOCAL_NODE)
    .bind(number)
    .fetch_optional(pool)
    .await?;
    match row {
        Some(row) => revision_from_row(&row),
        None => Err(Error::RevisionNotFound { deployment: service.to_owned(), revision: number }),
    }
}

/// Services deployed on `node`.
pub async fn deployed_services(pool: &Pool) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar("SELECT service FROM deployments WHERE node = $1 ORDER BY service")
        .bind(LOCAL_NODE)
        .fetch_all(pool)
        .await?)
}

/// What a new revision records besides its config.
pub struct RevisionMeta<'a> {
    pub kind: RevisionKind,
    pub rollback_of: Option<i64>,
    pub author: &'a str,
    pub reason: &'a str,
    pub canary_id: Option<i64>,
}

/// Appends a revision (creating the deployment on first deploy) in one transaction.
pub async fn append_revision(
    pool: &Pool,
    service: &ServiceName,
    config: &DeploymentConfig,
    meta: RevisionMeta<'_>,
    now: DateTime<Utc>,
) -> Result<Revision> {
    let created_at = now.timestamp_millis();
    let mut tx = pool.begin().await?;
    sqlx::query("INSERT INTO deployments (service, node, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
        .bind(service.as_str())
        .bind(LOCAL_NODE)
        .bind(created_at)
        .execute(&mut *tx)
        .await?;
    let number: i64 =
        sqlx::query_scalar("SELECT COALESCE(MAX(number), 0) + 1 FROM revisions WHERE service = $1 AND node = $2")
            .bind(service.as_str())
            .bind(LOCAL_NODE)
            .fetch_one(&mut *tx)
            .await?;
    sqlx::query(&format!(
        "INSERT INTO revisions ({REVISION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    ))
    .bind(service.as_str())
    .bind(LOCAL_NODE)
    .bind(number)
    .bind(to_json(config)?)
    .bind(meta.kind.as_str())
    .bind(meta.rollback_of)
    .bind(meta.author)
    .bind(meta.reason)
    .bind(created_at)
    .bind(meta.canary_id)
    .execute(&mut *tx)
    .await
    .map_err(|e| match e {
        // Another node sharing the registry committed the same number first.
        sqlx::Error::Database(d) if d.is_unique_violation() => Error::AlreadyExists(format!(
            "another node changed '{service}' at the same moment (revision {number}): reload and try again"
        )),
        e => e.into(),
    })?;
    tx.commit().await?;
    Ok(Revision {
        service: service.clone(),
        node: LOCAL_NODE.to_owned(),
        number,
        config: config.clone(),
        kind: meta.kind,
        rollback_of: meta.rollback_of,
        author: meta.author.to_owned(),
        reason: meta.reason.to_owned(),
        created_at: to_datetime(created_at),
        canary_id: meta.canary_id,
    })
}
