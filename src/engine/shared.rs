//! A registry shared by several nodes (PostgreSQL): every committed change of a deployment
//! or of its access settings or capture policy is announced with `NOTIFY`, and every node LISTENs and brings
//! that service up to date at once. After a (re)connection the node resynchronises every
//! deployment, so a notification missed while disconnected is not a change missed.

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgListener;

use super::Engine;
use crate::deploy;
use crate::store;

/// Wait before reconnecting a lost listener.
const RECONNECT: Duration = Duration::from_millis(500);

impl Engine {
    /// Brings one service up to date after another node's change.
    async fn on_notification(&self, service: &str) {
        if let Err(e) = self.inner.deployments.refresh(service).await {
            tracing::error!(service, "cannot activate the shared registry's latest revision: {e}");
        }
        if let Err(e) = self.inner.access.reload(service).await {
            tracing::error!(service, "cannot reload access settings: {e}");
        }
        if let Err(e) = self.reload_capture_policies().await {
            tracing::error!(service, "cannot reload capture policies: {e}");
        }
    }

    async fn resync(&self) {
        match deploy::deployed_services(self.pool()).await {
            Ok(services) => {
                for service in services {
                    self.on_notification(&service).await;
                }
            }
            Err(e) => tracing::error!("cannot list deployments to resynchronise: {e}"),
        }
    }

    /// Listens for committed changes until the engine shuts down.
    pub(crate) fn spawn_listener(&self, url: String) {
        let weak = Arc::downgrade(&self.inner);
        let token = self.inner.shutdown.clone();
        self.inner.tasks.spawn(async move {
            while !token.is_cancelled() {
                let mut listener = match PgListener::connect(&url).await {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::warn!("cannot listen for registry changes: {e}; retrying");
                        tokio::time::sleep(RECONNECT).await;
                        continue;
                    }
                };
                if let Err(e) = listener.listen(store::CHANNEL).await {
                    tracing::warn!("cannot listen for registry changes: {e}; retrying");
                    tokio::time::sleep(RECONNECT).await;
                    continue;
                }
                let Some(engine) = Engine::from_weak(&weak) else { return };
                engine.resync().await;
                drop(engine);
                loop {
                    let notification = tokio::select! {
                        _ = token.cancelled() => return,
                        n = listener.recv() => n,
                    };
                    let Some(engine) = Engine::from_weak(&weak) else { return };
                    match notification {
                        Ok(n) => engine.on_notification(n.payload()).await,
                        Err(e) => {
                            tracing::warn!("registry notifications interrupted: {e}; reconnecting");
                            break;
                        }
                    }
                }
            }
        });
    }
}
