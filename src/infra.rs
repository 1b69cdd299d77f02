//! Infrastructures: the API nodes the console manages. The local node is the embedded engine;
//! a remote one is any `switchyard serve` reached over its admin API (URL + token).
//!
//! [`Target`] is what the console's deployment screens act on: the same operations, either
//! as engine calls or as HTTP calls to the remote node, so a user deploys, rolls back, runs
//! and tests, and monitors a remote deployment exactly as a local one.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::approval::ApprovalRequest;
use crate::auth::people::{Capabilities, Grant, NewToken, Principal, PrincipalView};
use crate::client::NodeClient;
use crate::deploy::{DeploymentConfig, Revision};
use crate::engine::{DeployOutcome, Engine, ServiceSummary, VersionView};
use crate::error::{Error, ErrorCode, Result};
use crate::monitor::MonitorSnapshot;
use crate::registry::to_datetime;
use crate::router::{Mapping, MappingIssue};

/// How long a status check may take before the node counts as unreachable.
const STATUS_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest infrastructure name.
const MAX_NAME: usize = 64;

/// A remote node as the console lists it. Its token never leaves the engine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Infrastructure {
    pub name: String,
    pub url: String,
    pub has_token: bool,
    pub created_at: DateTime<Utc>,
}

/// Where a node stands, for the console's status dot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InfraStatus {
    pub name: String,
    pub state: InfraState,
    /// Services on the node, when reachable and authorised.
    pub services: Option<usize>,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InfraState {
    Online,
    /// Reachable, but the token is missing or wrong.
    Unauthorized,
    Unreachable,
}

/// The node the console acts on.
pub enum Target {
    Local(Engine),
    Remote(NodeClient),
}

fn check_url(url: &str) -> Result<String> {
    let url = url.trim().trim_end_matches('/');
    let rest = url.strip_prefix("http://").or_else(|| url.strip_prefix("https://"));
    match rest {
        Some(host) if !host.is_empty() && !host.contains(char::is_whitespace) => Ok(url.to_owned()),
        _ => Err(Error::InvalidInput(format!(
            "'{}' is not a node URL: write it as http://host:port (or https://…)",
            url.chars().take(100).collect::<String>()
        ))),
    }
}

fn check_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(Error::InvalidName(format!("an infrastructure name has 1 to {MAX_NAME} visible characters")));
    }
    if name.eq_ignore_ascii_case("local") {
        return Err(Error::InvalidName("'local' is the embedded node's name: choose another".into()));
    }
    Ok(name.to_owned())
}

impl Engine {
    /// Remembers a remote node. Its token is stored in this registry (the user's own data
    /// directory) and only ever sent to that node.
    pub async fn add_infrastructure(&self, name: &str, url: &str, token: Option<&str>) -> Result<Infrastructure> {
        let (name, url) = (check_name(name)?, check_url(url)?);
        let token = token.map(str::trim).filter(|t| !t.is_empty());
        let created_at = self.now_ms();
        let inserted =
            sqlx::query("INSERT INTO infrastructures (name, url, token, created_at) VALUES ($1, $2, $3, $4)")
                .bind(&name)
                .bind(&url)
                .bind(token)
                .bind(created_at)
                .execute(self.pool())
                .await;
        match inserted {
            Ok(_) => Ok(Infrastructure { name, url, has_token: token.is_some(), created_at: to_datetime(created_at) }),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                Err(Error::AlreadyExists(format!("an infrastructure named '{name}' exists already")))
            }
            Err(e) => Err(e.into()),
        }
    }

    pub async fn list_infrastructures(&self) -> Result<Vec<Infrastructure>> {
        let rows = sqlx::query("SELECT name, url, token, created_at FROM infrastructures ORDER BY name")
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                Ok(Infrastructure {
                    name: r.try_get("name")?,
                    url: r.try_get("url")?,
                    has_token: r.try_get::<Option<String>, _>("token")?.is_some(),
                    created_at: to_datetime(r.try_get("created_at")?),
                })
            })
            .collect()
    }

    pub async fn remove_infrastructure(&self, name: &str) -> Result<()> {
        let done = sqlx::query("DELETE FROM infrastructures WHERE name = $1").bind(name).execute(self.pool()).await?;
        if done.rows_affected() == 0 {
            return Err(Error::InvalidInput(format!("there is no infrastructure named '{name}'")));
        }
        Ok(())
    }

    /// The node an operation acts on: None (or "local") is this engine.
    pub async fn target(&self, infrastructure: Option<&str>) -> Result<Target> {
        let Some(name) = infrastructure.filter(|n| !n.is_empty() && *n != "local") else {
            return Ok(Target::Local(self.clone()));
        };
        let row = sqlx::query("SELECT url, token FROM infrastructures WHERE name = $1")
            .bind(name)
            .fetch_optional(self.pool())
            .await?
            .ok_or_else(|| Error::InvalidInput(format!("there is no infrastructure named '{name}'")))?;
        let (url, token): (String, Option<String>) = (row.try_get("url")?, row.try_get("token")?);
        Ok(Target::Remote(NodeClient::new(&url, token, "desktop console")?))
    }

    /// Whether a remote node answers, and accepts our token. Never waits more than a few
    /// seconds.
    pub async fn infrastructure_status(&self, name: &str) -> Result<InfraStatus> {
        let Target::Remote(client) = self.target(Some(name)).await? else {
            return Err(Error::InvalidInput("the local node has no remote status".into()));
        };
        let answer = tokio::time::timeout(STATUS_TIMEOUT, client.list_services()).await;
        let (state, services, message) = match answer {
            Ok(Ok(list)) => (InfraState::Online, Some(list.len()), format!("online: {} service(s)", list.len())),
            Ok(Err(e)) if e.code() == ErrorCode::Unauthorized => {
                (InfraState::Unauthorized, None, format!("reachable, but the token was refused: {e}"))
            }
            Ok(Err(e)) => (InfraState::Unreachable, None, e.to_string()),
            Err(_) => (
                InfraState::Unreachable,
                None,
                format!("{} did not answer within {} s", client.base_url(), STATUS_TIMEOUT.as_secs()),
            ),
        };
        Ok(InfraStatus { name: name.to_owned(), state, services, message })
    }
}

impl Target {
    pub async fn list_services(&self) -> Result<Vec<ServiceSummary>> {
        match self {
            Target::Local(e) => e.list_services().await,
            Target::Remote(c) => c.list_services().await,
        }
    }

    pub async fn list_versions(&self, service: &str) -> Result<Vec<VersionView>> {
        match self {
            Target::Local(e) => e.list_versions(service).await,
            Target::Remote(c) => c.list_versions(service).await,
        }
    }

    pub async fn revisions(&self, service: &str) -> Result<Vec<Revision>> {
        match self {
            Target::Local(e) => e.revisions(service).await,
            Target::Remote(c) => c.revisions(service).await,
        }
    }

    /// Deploys as `who` (the revision names it), or requests approval on a protected service.
    pub async fn deploy(
        &self,
        who: &Principal,
        service: &str,
        config: &serde_json::Value,
        reason: &str,
    ) -> Result<DeployOutcome> {
        match self {
            Target::Local(e) => e.deploy_as(who, service, config, reason).await,
            Target::Remote(c) => c.deploy(service, config, reason).await,
        }
    }

    pub async fn deploy_version(
        &self,
        who: &Principal,
        service: &str,
        version: &str,
        reason: &str,
    ) -> Result<DeployOutcome> {
        match self {
            Target::Local(e) => e.deploy_version_as(who, service, version, reason).await,
            Target::Remote(c) => {
                let current = self.active_config(service).await?;
                c.deploy(service, &crate::deploy::single_config(current, version), reason).await
            }
        }
    }

    /// Rolls back as `who`: never gated by approval.
    pub async fn rollback(&self, who: &Principal, service: &str, to: Option<i64>, reason: &str) -> Result<Revision> {
        match self {
            Target::Local(e) => e.rollback_as(who, service, to, reason).await,
            Target::Remote(c) => c.rollback(service, to, reason).await,
        }
    }

    /// What the console's principal may do on the target (the remote node's answer for its
    /// token), so the console disables what it cannot.
    pub async fn capabilities(&self, who: &Principal) -> Result<Capabilities> {
        match self {
            Target::Local(e) => e.capabilities(who).await,
            Target::Remote(c) => c.me().await,
        }
    }

    /// Approval requests of a service (or every service), newest first.
    pub async fn approvals(&self, service: Option<&str>, pending_only: bool) -> Result<Vec<ApprovalRequest>> {
        match self {
            Target::Local(e) => e.approval_requests(service, pending_only).await,
            Target::Remote(c) => c.approvals(service, pending_only).await,
        }
    }

    /// Approves or rejects a request as `who`.
    pub async fn decide(
        &self,
        who: &Principal,
        service: &str,
        id: i64,
        approve: bool,
        note: &str,
    ) -> Result<ApprovalRequest> {
        match (self, approve) {
            (Target::Local(e), true) => e.approve(who, service, id, note).await,
            (Target::Local(e), false) => e.reject(who, service, id, note).await,
            (Target::Remote(c), _) => c.decide(service, id, if approve { "approve" } else { "reject" }, note).await,
        }
    }

    /// The target's principals (Settings → People): `who` needs `users` locally; a remote
    /// node checks its token's principal.
    pub async fn list_principals(&self, who: &Principal) -> Result<Vec<PrincipalView>> {
        match self {
            Target::Local(e) => e.list_principals(who).await,
            Target::Remote(c) => c.list_principals().await,
        }
    }

    pub async fn create_principal(&self, who: &Principal, name: &str, roles: &[Grant]) -> Result<PrincipalView> {
        match self {
            Target::Local(e) => e.create_principal(who, name, roles).await,
            Target::Remote(c) => c.create_principal(name, roles).await,
        }
    }

    /// Replaces a principal's roles.
    pub async fn set_roles(&self, who: &Principal, name: &str, roles: &[Grant]) -> Result<PrincipalView> {
        match self {
            Target::Local(e) => e.set_grants(who, name, roles).await,
            Target::Remote(c) => c.set_roles(name, roles).await,
        }
    }

    pub async fn remove_principal(&self, who: &Principal, name: &str) -> Result<PrincipalView> {
        match self {
            Target::Local(e) => e.remove_principal(who, name).await,
            Target::Remote(c) => c.remove_principal(name).await,
        }
    }

    /// A new token of `principal` on the target; its secret is in the answer only.
    pub async fn create_token(
        &self,
        who: &Principal,
        principal: &str,
        name: &str,
        ttl: Option<Duration>,
    ) -> Result<NewToken> {
        match self {
            Target::Local(e) => e.create_token(who, principal, name, ttl).await,
            Target::Remote(c) => c.create_token(principal, name, ttl).await,
        }
    }

    pub async fn revoke_token(&self, who: &Principal, principal: &str, id: i64) -> Result<PrincipalView> {
        match self {
            Target::Local(e) => e.revoke_token(who, principal, id).await,
            Target::Remote(c) => c.revoke_token(principal, id).await,
        }
    }

    pub async fn monitor(&self, service: &str, minutes: i64) -> Result<MonitorSnapshot> {
        match self {
            Target::Local(e) => e.monitor(service, minutes).await,
            Target::Remote(c) => c.monitor(service, minutes).await,
        }
    }

    pub async fn drift(&self, service: &str, minutes: i64) -> Result<crate::drift::DriftReport> {
        match self {
            Target::Local(e) => e.drift(service, minutes).await,
            Target::Remote(c) => c.drift(service, minutes).await,
        }
    }

    /// The mapping editor's verdict: the same rules as a deploy, against the target's versions.
    pub async fn validate_mapping(&self, service: &str, text: &str) -> Result<Vec<MappingIssue>> {
        match self {
            Target::Local(e) => e.validate_mapping(service, text).await,
            Target::Remote(c) => {
                let versions = c.list_versions(service).await?;
                let known = |g: &str| versions.iter().any(|v| v.version.id.as_str() == g);
                Ok(Mapping::from_text(text, known).err().unwrap_or_default())
            }
        }
    }

    /// The active config, if deployed.
    pub async fn active_config(&self, service: &str) -> Result<Option<DeploymentConfig>> {
        let revision = match self {
            Target::Local(e) => e.deployment(service).await,
            Target::Remote(c) => c.deployment(service).await,
        };
        match revision {
            Ok(r) => Ok(Some(r.config)),
            Err(e) if e.code() == ErrorCode::NotDeployed => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_names_are_checked() {
        assert_eq!(check_url(" http://10.0.0.5:8080/ ").expect("ok"), "http://10.0.0.5:8080");
        assert_eq!(check_url("https://node.example").expect("ok"), "https://node.example");
        for bad in ["", "10.0.0.5:8080", "ftp://x", "http://", "http://a b"] {
            assert!(check_url(bad).is_err(), "{bad:?}");
        }
        assert_eq!(check_name(" prod ").expect("ok"), "prod");
        for bad in ["", "local", "LOCAL", "a\nb", &"n".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }
}
