//! [`Access`]: the access policies of this node's deployments, kept in memory for the
//! request path (one atomic load per check) and reloaded from the registry after every
//! change, under one lock so the live policy is always the latest committed one.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;

use super::{AccessView, AuthMode, Credential, Denied, NewKey, Policy};
use crate::clock::Clock;
use crate::error::Result;
use crate::registry;
use crate::store::{self, Pool};

pub struct Access {
    pool: Pool,
    clock: Arc<dyn Clock>,
    /// Policies of deployments that have one, by service (none: open).
    policies: ArcSwap<HashMap<String, Arc<Policy>>>,
    /// Serialises changes with their reload, and reloads after other nodes' changes.
    lock: tokio::sync::Mutex<()>,
}

impl Access {
    /// Loads every policy of this node.
    pub async fn open(pool: Pool, clock: Arc<dyn Clock>) -> Result<Self> {
        let policies = super::load_policies(&pool, clock.now().timestamp_millis()).await?;
        let policies = policies.into_iter().map(|(k, v)| (k, Arc::new(v))).collect();
        Ok(Self { pool, clock, policies: ArcSwap::from_pointee(policies), lock: tokio::sync::Mutex::new(()) })
    }

    fn now_ms(&self) -> i64 {
        self.clock.now().timestamp_millis()
    }

    /// Whether `credential` may call `service`'s prediction API now.
    pub fn check(&self, service: &str, credential: &Credential) -> Result<(), Denied> {
        let policies = self.policies.load();
        match policies.get(service) {
            None => Ok(()),
            Some(policy) => policy.check(credential, self.now_ms()),
        }
    }

    /// Runs one change, then reloads the service's policy and announces the change to the
    /// other nodes sharing the registry.
    async fn change<T>(&self, service: &str, change: impl AsyncFnOnce(&str, i64) -> Result<T>) -> Result<T> {
        let service = registry::get_service(&self.pool, service).await?.name;
        let _guard = self.lock.lock().await;
        let out = change(service.as_str(), self.now_ms()).await?;
        self.reload_locked(service.as_str()).await?;
        tracing::info!(%service, "access settings changed");
        if let Err(e) = store::notify(&self.pool, service.as_str()).await {
            tracing::warn!(%service, "cannot announce the change to other nodes: {e}");
        }
        Ok(out)
    }

    /// Reloads a service's policy after another node changed it. Under the same lock as a
    /// change made here: a reload that read the registry before this node's own later change
    /// committed must not store its older policy after that change's reload (a rotated-out
    /// key would work again).
    pub async fn reload(&self, service: &str) -> Result<()> {
        let _guard = self.lock.lock().await;
        self.reload_locked(service).await
    }

    async fn reload_locked(&self, service: &str) -> Result<()> {
        let policy = super::load_policy(&self.pool, service, self.now_ms()).await?;
        let mut map: HashMap<_, _> = (**self.policies.load()).clone();
        map.insert(service.to_owned(), Arc::new(policy));
        self.policies.store(Arc::new(map));
        Ok(())
    }

    /// A deployment's auth mode and keys (never their secrets); `failures` is the caller's.
    pub async fn view(&self, service: &str) -> Result<AccessView> {
        let service = registry::get_service(&self.pool, service).await?.name;
        super::load_view(&self.pool, service.as_str(), self.now_ms()).await
    }

    pub async fn set_mode(&self, service: &str, mode: AuthMode) -> Result<()> {
        let pool = &self.pool;
        self.change(service, async |s, now| super::set_mode(pool, s, mode, now).await).await
    }

    /// Creates a key; its secret is in the answer and nowhere else.
    pub async fn create_key(&self, service: &str, name: &str) -> Result<NewKey> {
        let pool = &self.pool;
        self.change(service, async |s, now| super::create_key(pool, s, name, now).await).await
    }

    /// A new key for the same client; the old one keeps working for `overlap`.
    pub async fn rotate_key(&self, service: &str, id: i64, overlap: Duration) -> Result<NewKey> {
        let pool = &self.pool;
        self.change(service, async |s, now| super::rotate_key(pool, s, id, overlap, now).await).await
    }

    pub async fn revoke_key(&self, service: &str, id: i64) -> Result<()> {
        let pool = &self.pool;
        self.change(service, async |s, now| super::revoke_key(pool, s, id, now).await).await
    }
}
