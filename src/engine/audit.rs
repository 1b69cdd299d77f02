//! The audit: the facade over [`crate::audit`] (append, list, verify), and the digests of
//! what an admin call acts on, recorded before and after it.

use serde_json::{Value, json};

use super::Engine;
use crate::audit::{self, AuditRow, ChainVerdict, Entry, Filter};
use crate::error::Result;

/// What an audited call acts on, for its before and after digests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditTarget {
    /// A service: its deployment, access settings, protection, canary and approvals.
    Service(String),
    Scenario(String),
    Principal(String),
    /// The node: its services and principals.
    Node,
}

impl Engine {
    /// Appends a row to the audit chain.
    pub async fn record_audit(&self, entry: &Entry) -> Result<i64> {
        audit::append(self.pool(), entry).await
    }

    /// Audit rows matching `filter`, oldest first.
    pub async fn audit_rows(&self, filter: &Filter) -> Result<Vec<AuditRow>> {
        audit::list(self.pool(), filter).await
    }

    /// Walks the audit chain and names the first bad row.
    pub async fn verify_audit(&self) -> Result<ChainVerdict> {
        audit::verify(self.pool()).await
    }

    /// A digest of the target's current state (`absent` when it does not exist).
    pub async fn state_digest(&self, target: &AuditTarget) -> Result<String> {
        let state = match target {
            AuditTarget::Service(service) => self.service_state(service).await?,
            AuditTarget::Scenario(name) => {
                crate::scenario::store::get(self.pool(), name).await?.map(|s| json!(s.spec)).unwrap_or(Value::Null)
            }
            AuditTarget::Principal(name) => {
                crate::auth::people_store::get_principal(self.pool(), name, self.now_ms())
                    .await
                    .ok()
                    .map(|p| json!({"grants": p.grants, "tokens": p.tokens.iter().map(|t| json!([t.id, t.status])).collect::<Vec<_>>(), "removed": p.removed_at}))
                    .unwrap_or(Value::Null)
            }
            AuditTarget::Node => {
                let services: Vec<String> = crate::registry::list_services(self.pool())
                    .await?
                    .into_iter()
                    .map(|s| s.name.as_str().to_owned())
                    .collect();
                let principals = crate::auth::people_store::list_principals(self.pool(), self.now_ms()).await?;
                let principals: Vec<Value> =
                    principals.iter().map(|p| json!([p.name, p.grants, p.removed_at])).collect();
                json!({"services": services, "principals": principals})
            }
        };
        Ok(if state.is_null() { "absent".to_owned() } else { audit::state_digest(&state) })
    }

    async fn service_state(&self, service: &str) -> Result<Value> {
        if crate::registry::get_service(self.pool(), service).await.is_err() {
            return Ok(Value::Null);
        }
        let revision = crate::deploy::latest(self.pool(), service).await?.map(|r| json!([r.number, r.config]));
        let access = self.inner.access.view(service).await?;
        let keys: Vec<Value> = access.keys.iter().map(|k| json!([k.id, k.status, k.expires_at])).collect();
        let protected = crate::approval::protection(self.pool(), service).await?.protected;
        let canary =
            crate::deploy::canary::latest(self.pool(), service).await?.map(|c| json!([c.id, c.status, c.step]));
        let approvals: Vec<Value> = crate::approval::list_requests(self.pool(), Some(service), false, self.now_ms())
            .await?
            .iter()
            .map(|r| json!([r.id, r.status]))
            .collect();
        Ok(json!({
            "revision": revision,
            "auth": {"mode": access.mode, "keys": keys},
            "protected": protected,
            "canary": canary,
            "approvals": approvals,
        }))
    }
}
