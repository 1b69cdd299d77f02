//! Deployments and their revisions; the live (activated) configs.
//!
//! Invariants: a revision is never changed or deleted; a deployment's active config is its
//! latest revision; a config is activated only after every model it names is loaded and
//! warm, and it replaces the previous one in one atomic swap.

pub mod canary;
pub mod compare;
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
    /// The drift tracker of each routed generation, resolved at activation.
    pub drift: HashMap<VersionId, Arc<crate::drift::Tracker>>,
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

/// The revision a rollback without a target restores, and why it was chosen: the latest
/// earlier revision whose config differs from the active one, skipping every revision the
/// active revision's canary wrote. So after a canary (running, promoted or rolled back), a
/// rollback returns to what served before the canary started, never to one of its steps.
/// `history` is oldest first and ends with the active revision; `None` when nothing earlier
/// differs.
pub fn rollback_target(history: &[Revision]) -> Option<(i64, String)> {
    let (current, earlier) = history.split_last()?;
    let mut candidates =
        earlier.iter().rev().filter(|r| current.canary_id.is_none() || r.canary_id != current.canary_id).peekable();
    let first = candidates.peek()?.number;
    let target = candidates.find(|r| r.config != current.config)?;
    let why = match current.canary_id {
        _ if target.number != first => {
            "the latest earlier revision whose config differs from the active one".to_owned()
        }
        Some(id) => format!("the revision live before canary {id} started"),
        None => "the previous revision".to_owned(),
    };
    Some((target.number, why))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn rev(number: i64, generation: &str, canary_id: Option<i64>) -> Revision {
        Revision {
            service: ServiceName::parse("s").expect("name"),
            node: LOCAL_NODE.to_owned(),
            number,
            config: DeploymentConfig::single(VersionId::parse(generation).expect("id")),
            kind: RevisionKind::Deploy,
            rollback_of: None,
            author: "me".into(),
            reason: String::new(),
            created_at: to_datetime(0),
            canary_id,
        }
    }

    #[test]
    fn rollback_goes_to_the_previous_revision_with_another_config() {
        let history = [rev(1, "v1", None), rev(2, "v2", None)];
        assert_eq!(rollback_target(&history), Some((1, "the previous revision".into())));
        // An equal config in between (say, a rollback revision) is skipped.
        let history = [rev(1, "v1", None), rev(2, "v2", None), rev(3, "v2", None)];
        let (target, why) = rollback_target(&history).expect("target");
        assert_eq!(target, 1);
        assert!(why.contains("differs"), "{why}");
        assert_eq!(rollback_target(&history[..1]), None, "nothing before the first revision");
        assert_eq!(rollback_target(&[rev(1, "v1", None), rev(2, "v1", None)]), None, "nothing differs");
    }

    #[test]
    fn after_a_canary_rollback_restores_what_served_before_it() {
        // Revision 2 served v1; canary 7 wrote steps 3 and 4 and promoted in 5 (a single
        // generation stands for each step's mapping: only "differs from v1" matters here).
        let mut history = vec![rev(1, "v0", None), rev(2, "v1", None)];
        history.extend([3, 4, 5].map(|n| rev(n, "v2", Some(7))));
        let (target, why) = rollback_target(&history).expect("target");
        assert_eq!((target, why.as_str()), (2, "the revision live before canary 7 started"));
        // Still running (the last step wrote revision 4): the same answer.
        assert_eq!(rollback_target(&history[..4]).map(|t| t.0), Some(2));
        // The canary rolled itself back to v1 in revision 5: going back means before v1.
        history[4] = rev(5, "v1", Some(7));
        let (target, why) = rollback_target(&history).expect("target");
        assert_eq!(target, 1);
        assert!(why.contains("differs"), "{why}");
    }
}
