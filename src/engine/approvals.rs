//! Protected services and approval requests: the I/O around [`approval::check_decision`].
//! The `…_as` calls act for a [`Principal`]: they check its permission on the service, then
//! deploy (or start a canary) at once, or, on a protected service, record an approval
//! request with the exact config. Rollback is never gated.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Engine;
use crate::approval::{self, ApprovalKind, ApprovalRequest, NewRequest, Protection};
use crate::auth::people::{Permission, Principal};
use crate::deploy::canary::{Canary, CanaryPlan};
use crate::deploy::{DeploymentConfig, Revision};
use crate::error::{Error, Result};

/// What a deploy asked by a principal did.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum DeployOutcome {
    /// Deployed: the new revision is live.
    Deployed { revision: Revision },
    /// The service is protected: an approval request waits for another principal.
    ApprovalRequested { request: ApprovalRequest },
}

/// What a canary start asked by a principal did.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum CanaryOutcome {
    Started { canary: Canary },
    ApprovalRequested { request: ApprovalRequest },
}

impl Engine {
    /// Refuses a gated change of a protected service made without an approval request.
    pub(crate) async fn refuse_if_protected(&self, service: &str, what: &str) -> Result<()> {
        if approval::protection(self.pool(), service).await?.protected {
            return Err(Error::Forbidden {
                permission: "approval",
                message: format!(
                    "'{service}' is protected: its {what} need an approval request approved by another operator or admin \
                     (deploy through the admin API or the console, which request it)"
                ),
            });
        }
        Ok(())
    }

    pub async fn protection(&self, service: &str) -> Result<Protection> {
        crate::registry::get_service(self.pool(), service).await?;
        approval::protection(self.pool(), service).await
    }

    /// Protects a service (or lifts it); needs `manage` on it.
    pub async fn set_protected(&self, by: &Principal, service: &str, protected: bool) -> Result<Protection> {
        by.require(Permission::Manage, Some(service))?;
        let service = crate::registry::get_service(self.pool(), service).await?.name;
        approval::set_protected(self.pool(), service.as_str(), protected, &by.name, self.now_ms()).await?;
        approval::protection(self.pool(), service.as_str()).await
    }

    /// Deploys `config` as `who` (the revision names it), or requests approval on a
    /// protected service. The config is checked either way: nothing invalid waits for
    /// approval.
    pub async fn deploy_as(
        &self,
        who: &Principal,
        service: &str,
        config: &Value,
        reason: &str,
    ) -> Result<DeployOutcome> {
        who.require(Permission::Deploy, Some(service))?;
        if !approval::protection(self.pool(), service).await?.protected {
            let revision = self.deploy_unchecked(service, config, &who.name, reason).await?;
            return Ok(DeployOutcome::Deployed { revision });
        }
        let known: std::collections::HashSet<String> =
            self.list_versions(service).await?.into_iter().map(|v| v.version.id.as_str().to_owned()).collect();
        let checked = DeploymentConfig::from_value(config, |g| known.contains(g))?;
        let payload = serde_json::to_value(&checked).map_err(|e| Error::Internal(e.to_string()))?;
        let request = self.request_approval(who, service, ApprovalKind::Deploy, &payload, reason, None).await?;
        Ok(DeployOutcome::ApprovalRequested { request })
    }

    /// Deploys one version as the single generation (keeping the sticky setting), as `who`.
    pub async fn deploy_version_as(
        &self,
        who: &Principal,
        service: &str,
        version: &str,
        reason: &str,
    ) -> Result<DeployOutcome> {
        let current = crate::deploy::latest(self.pool(), service).await?.map(|r| r.config);
        self.deploy_as(who, service, &crate::deploy::single_config(current, version), reason).await
    }

    /// Starts a canary as `who`, or requests approval on a protected service.
    pub async fn start_canary_as(
        &self,
        who: &Principal,
        service: &str,
        plan: CanaryPlan,
        reason: &str,
    ) -> Result<CanaryOutcome> {
        who.require(Permission::Deploy, Some(service))?;
        if !approval::protection(self.pool(), service).await?.protected {
            return Ok(CanaryOutcome::Started { canary: self.start_canary_unchecked(service, plan, &who.name).await? });
        }
        plan.check()?;
        self.get_version(service, plan.version.as_str()).await?;
        let payload = serde_json::to_value(&plan).map_err(|e| Error::Internal(e.to_string()))?;
        let reason = if reason.trim().is_empty() { format!("canary of {}", plan.version) } else { reason.to_owned() };
        let request = self.request_approval(who, service, ApprovalKind::Canary, &payload, &reason, None).await?;
        Ok(CanaryOutcome::ApprovalRequested { request })
    }

    /// Rolls back as `who`: never gated, on a protected service too.
    pub async fn rollback_as(&self, who: &Principal, service: &str, to: Option<i64>, reason: &str) -> Result<Revision> {
        who.require(Permission::Deploy, Some(service))?;
        self.rollback(service, to, &who.name, reason).await
    }

    /// Records an approval request (the service must be protected).
    pub async fn request_approval(
        &self,
        who: &Principal,
        service: &str,
        kind: ApprovalKind,
        payload: &Value,
        reason: &str,
        ttl: Option<Duration>,
    ) -> Result<ApprovalRequest> {
        who.require(Permission::Deploy, Some(service))?;
        let service = crate::registry::get_service(self.pool(), service).await?.name;
        if !approval::protection(self.pool(), service.as_str()).await?.protected {
            return Err(Error::ApprovalConflict(format!(
                "'{service}' is not protected: deploy directly, no approval is needed"
            )));
        }
        let base = crate::deploy::latest(self.pool(), service.as_str())
            .await?
            .map(|r| serde_json::to_value(&r.config))
            .transpose()
            .map_err(|e| Error::Internal(e.to_string()))?;
        let new = NewRequest {
            service: service.as_str(),
            kind,
            payload,
            base: base.as_ref(),
            reason,
            requested_by: &who.name,
            ttl: ttl.unwrap_or(approval::DEFAULT_TTL),
        };
        approval::create_request(self.pool(), new, self.now_ms()).await
    }

    /// Approval requests of a service (or of every service), newest first.
    pub async fn approval_requests(&self, service: Option<&str>, pending_only: bool) -> Result<Vec<ApprovalRequest>> {
        if let Some(service) = service {
            crate::registry::get_service(self.pool(), service).await?;
        }
        approval::list_requests(self.pool(), service, pending_only, self.now_ms()).await
    }

    /// Approves a request as `who` (another principal with `approve` on the service) and
    /// runs the change it holds, in the requester's name.
    pub async fn approve(&self, who: &Principal, service: &str, id: i64, note: &str) -> Result<ApprovalRequest> {
        who.require(Permission::Approve, Some(service))?;
        let request = approval::get_request(self.pool(), service, id, self.now_ms()).await?;
        approval::check_decision(&request, &who.name, self.now_ms())?;
        let author = format!("{} (approved by {})", request.requested_by, who.name);
        let reason = format!("{} [approval request {}]", request.reason, request.id);
        let outcome = match request.kind {
            ApprovalKind::Deploy => {
                let rev = self.deploy_unchecked(service, &request.payload, &author, &reason).await?;
                format!("revision {}", rev.number)
            }
            ApprovalKind::Canary => {
                let plan: CanaryPlan = serde_json::from_value(request.payload.clone())
                    .map_err(|e| Error::Internal(format!("stored canary plan: {e}")))?;
                let canary = self.start_canary_unchecked(service, plan, &author).await?;
                format!("canary {}", canary.id)
            }
        };
        approval::decide(self.pool(), &request, true, &who.name, note, &outcome, self.now_ms()).await?;
        approval::get_request(self.pool(), service, id, self.now_ms()).await
    }

    /// Rejects a request as `who` (not its requester).
    pub async fn reject(&self, who: &Principal, service: &str, id: i64, note: &str) -> Result<ApprovalRequest> {
        who.require(Permission::Approve, Some(service))?;
        let request = approval::get_request(self.pool(), service, id, self.now_ms()).await?;
        approval::check_decision(&request, &who.name, self.now_ms())?;
        approval::decide(self.pool(), &request, false, &who.name, note, "", self.now_ms()).await?;
        approval::get_request(self.pool(), service, id, self.now_ms()).await
    }
}
