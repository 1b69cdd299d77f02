//! Access control of deployments: the engine side of [`crate::auth`]. Policies live in
//! memory for the request path and are reloaded from the registry after every change.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::Engine;
use crate::auth::{self, AccessView, AuthMode, Credential, NewKey};
use crate::error::{Error, Result};
use crate::registry;

impl Engine {
    pub(super) async fn load_access(&self) -> Result<()> {
        let policies = auth::load_policies(&self.inner.pool, &self.inner.node).await?;
        self.inner.access.store(Arc::new(policies.into_iter().map(|(k, v)| (k, Arc::new(v))).collect()));
        Ok(())
    }

    /// Runs one change, then reloads the service's policy; changes are serialised so the
    /// live policy always reflects the latest committed one.
    async fn change_access<T>(&self, service: &str, change: impl AsyncFnOnce(&str) -> Result<T>) -> Result<T> {
        let service = registry::get_service(&self.inner.pool, service).await?.name;
        let _guard = self.inner.access_lock.lock().await;
        let out = change(service.as_str()).await?;
        self.reload_access(service.as_str()).await?;
        tracing::info!(%service, "access settings changed");
        if let Err(e) = crate::store::notify(&self.inner.pool, service.as_str()).await {
            tracing::warn!(%service, "cannot announce the change to other nodes: {e}");
        }
        Ok(out)
    }

    /// Reads a service's policy from the registry into the request path.
    pub(super) async fn reload_access(&self, service: &str) -> Result<()> {
        let policy = auth::load_policy(&self.inner.pool, service, &self.inner.node).await?;
        let mut map: HashMap<_, _> = (**self.inner.access.load()).clone();
        map.insert(service.to_owned(), Arc::new(policy));
        self.inner.access.store(Arc::new(map));
        Ok(())
    }

    /// A deployment's auth mode, keys (never their secrets) and refused requests.
    pub async fn access(&self, service: &str) -> Result<AccessView> {
        let service = registry::get_service(&self.inner.pool, service).await?.name;
        let mut view = auth::load_view(&self.inner.pool, service.as_str(), &self.inner.node).await?;
        view.failures = self.inner.monitor.auth_failures(service.as_str());
        Ok(view)
    }

    pub async fn set_auth_mode(&self, service: &str, mode: AuthMode) -> Result<AccessView> {
        let (pool, node) = (&self.inner.pool, &self.inner.node);
        self.change_access(service, async |s| auth::set_mode(pool, s, node, mode).await).await?;
        self.access(service).await
    }

    /// Creates a key; its secret is in the answer and nowhere else.
    pub async fn create_key(&self, service: &str, name: &str) -> Result<NewKey> {
        let (pool, node) = (&self.inner.pool, &self.inner.node);
        self.change_access(service, async |s| auth::create_key(pool, s, node, name).await).await
    }

    /// A new key for the same client; the old one keeps working for `overlap`.
    pub async fn rotate_key(&self, service: &str, id: i64, overlap: Duration) -> Result<NewKey> {
        let (pool, node) = (&self.inner.pool, &self.inner.node);
        self.change_access(service, async |s| auth::rotate_key(pool, s, node, id, overlap).await).await
    }

    pub async fn revoke_key(&self, service: &str, id: i64) -> Result<AccessView> {
        let (pool, node) = (&self.inner.pool, &self.inner.node);
        self.change_access(service, async |s| auth::revoke_key(pool, s, node, id).await).await?;
        self.access(service).await
    }

    /// Whether `credential` may call `service`'s prediction API. A refusal is counted and
    /// happens before any routing or model work.
    pub fn authorize(&self, service: &str, credential: &Credential) -> Result<()> {
        let access = self.inner.access.load();
        let Some(policy) = access.get(service) else { return Ok(()) };
        match policy.check(credential, crate::store::now_ms()) {
            Ok(()) => Ok(()),
            Err(denied) => {
                self.inner.monitor.record_auth_failure(service);
                Err(Error::AccessDenied { challenge: denied.mode.challenge(), message: denied.message })
            }
        }
    }
}
