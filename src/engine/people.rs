//! Principals: the facade over `auth::people_store` (principals, roles, tokens). Managing
//! them needs the `users` permission; resolving a token needs nothing.

use std::time::Duration;

use super::Engine;
use crate::auth::people::{Capabilities, Grant, NewToken, Permission, Principal, PrincipalView};
use crate::auth::people_store as store;
use crate::error::Result;

impl Engine {
    /// The principal a token secret belongs to, if it is usable now.
    pub async fn principal_for_token(&self, secret: &str) -> Result<Option<Principal>> {
        store::principal_of_token(self.pool(), secret, self.now_ms()).await
    }

    pub async fn list_principals(&self, by: &Principal) -> Result<Vec<PrincipalView>> {
        by.require(Permission::Users, None)?;
        store::list_principals(self.pool(), self.now_ms()).await
    }

    pub async fn get_principal(&self, by: &Principal, name: &str) -> Result<PrincipalView> {
        by.require(Permission::Users, None)?;
        store::get_principal(self.pool(), name, self.now_ms()).await
    }

    /// Creates a principal with its roles (no token yet).
    pub async fn create_principal(&self, by: &Principal, name: &str, grants: &[Grant]) -> Result<PrincipalView> {
        by.require(Permission::Users, None)?;
        store::create_principal(self.pool(), name, grants, &by.name, self.now_ms()).await?;
        store::get_principal(self.pool(), name.trim(), self.now_ms()).await
    }

    /// Replaces a principal's roles.
    pub async fn set_grants(&self, by: &Principal, name: &str, grants: &[Grant]) -> Result<PrincipalView> {
        by.require(Permission::Users, None)?;
        store::set_grants(self.pool(), name, grants).await?;
        store::get_principal(self.pool(), name, self.now_ms()).await
    }

    /// Removes a principal: roles gone, tokens revoked, name never reused.
    pub async fn remove_principal(&self, by: &Principal, name: &str) -> Result<PrincipalView> {
        by.require(Permission::Users, None)?;
        store::remove_principal(self.pool(), name, self.now_ms()).await?;
        store::get_principal(self.pool(), name, self.now_ms()).await
    }

    /// A new token for a principal, valid for `ttl` (None: until revoked); its secret is in
    /// the answer and nowhere else.
    pub async fn create_token(
        &self,
        by: &Principal,
        principal: &str,
        name: &str,
        ttl: Option<Duration>,
    ) -> Result<NewToken> {
        by.require(Permission::Users, None)?;
        let now = self.now_ms();
        let expires_at = ttl.map(|t| now.saturating_add(i64::try_from(t.as_millis()).unwrap_or(i64::MAX)));
        store::create_token(self.pool(), principal, name, expires_at, now).await
    }

    pub async fn revoke_token(&self, by: &Principal, principal: &str, id: i64) -> Result<PrincipalView> {
        by.require(Permission::Users, None)?;
        store::revoke_token(self.pool(), principal, id, self.now_ms()).await?;
        store::get_principal(self.pool(), principal, self.now_ms()).await
    }

    /// What `who` may do on the node and on each service, for the console.
    pub async fn capabilities(&self, who: &Principal) -> Result<Capabilities> {
        let services = crate::registry::list_services(self.pool()).await?;
        Ok(who.capabilities(services.iter().map(|s| s.name.as_str())))
    }
}
