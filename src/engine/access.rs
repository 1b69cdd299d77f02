//! Access control of deployments: the facade over [`crate::auth::Access`], which keeps the
//! policies for the request path; refusals are counted by the monitor.

use std::time::Duration;

use super::Engine;
use crate::auth::{AccessView, AuthMode, Credential, NewKey};
use crate::error::{Error, Result};
use crate::events::Change;

impl Engine {
    /// A deployment's auth mode, keys (never their secrets) and refused requests.
    pub async fn access(&self, service: &str) -> Result<AccessView> {
        let mut view = self.inner.access.view(service).await?;
        view.failures = self.inner.monitor.auth_failures(service);
        Ok(view)
    }

    pub async fn set_auth_mode(&self, service: &str, mode: AuthMode) -> Result<AccessView> {
        self.inner.access.set_mode(service, mode).await?;
        self.access_changed(service).await
    }

    /// Creates a key; its secret is in the answer and nowhere else.
    pub async fn create_key(&self, service: &str, name: &str) -> Result<NewKey> {
        let key = self.inner.access.create_key(service, name).await?;
        self.announce(Change::Access { service: service.to_owned() });
        Ok(key)
    }

    /// A new key for the same client; the old one keeps working for `overlap`.
    pub async fn rotate_key(&self, service: &str, id: i64, overlap: Duration) -> Result<NewKey> {
        let key = self.inner.access.rotate_key(service, id, overlap).await?;
        self.announce(Change::Access { service: service.to_owned() });
        Ok(key)
    }

    pub async fn revoke_key(&self, service: &str, id: i64) -> Result<AccessView> {
        self.inner.access.revoke_key(service, id).await?;
        self.access_changed(service).await
    }

    /// Announces a change of `service`'s access and returns the new view.
    async fn access_changed(&self, service: &str) -> Result<AccessView> {
        self.announce(Change::Access { service: service.to_owned() });
        self.access(service).await
    }

    /// Whether `credential` may call `service`'s prediction API. A refusal is counted and
    /// happens before any routing or model work.
    pub fn authorize(&self, service: &str, credential: &Credential) -> Result<()> {
        self.inner.access.check(service, credential).map_err(|denied| {
            self.inner.monitor.record_auth_failure(service);
            Error::AccessDenied { challenge: denied.mode.challenge(), message: denied.message }
        })
    }
}
