//! This process among the nodes that share a registry. Each is an *instance*
//! (`EngineConfig::instance`, `serve --instance`, default the host name) that records its own
//! traffic minutes and scenario runs, and keeps a liveness lease while it runs. Work only one
//! node may do at a time (the scenario scheduler, the canary controller) is done by the
//! holder of its lease ([`Engine::lead`]); when that node stops, another takes over within
//! [`LEASE_TTL`]. A lease's holder is the instance name, so a node restarting after a crash
//! leads again at once (and applies its scenarios' `on_missed` policy); two live nodes must
//! therefore never share an instance name. On SQLite there is one node, which always leads.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use super::Engine;
use crate::error::Result;
use crate::store::lease;

/// The scenario scheduler's lease.
pub(crate) const SCHEDULER: &str = "scenario-scheduler";
/// The canary controller's lease.
pub(crate) const CONTROLLER: &str = "canary-controller";
/// How long a lease lasts unrenewed: how long work waits for a stopped node.
pub const LEASE_TTL: Duration = Duration::from_secs(15);
/// How often an instance renews its liveness lease.
pub(crate) const HEARTBEAT: Duration = Duration::from_secs(5);
const ALIVE: &str = "instance/";

pub(crate) struct Identity {
    name: String,
    /// The leases this process holds, and until when (Unix ms).
    held: Mutex<HashMap<&'static str, i64>>,
}

impl Identity {
    pub(crate) fn new(name: String) -> Self {
        Self { name, held: Mutex::new(HashMap::new()) }
    }
}

/// The host's name, else `local`.
pub fn default_instance() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "local".to_owned())
}

impl Engine {
    /// This process's instance name.
    pub fn instance(&self) -> &str {
        &self.inner.identity.name
    }

    /// Whether this process may do `work` now: takes or renews its lease. The registry is
    /// written only when less than half the lease is left.
    pub(crate) async fn lead(&self, work: &'static str) -> Result<bool> {
        let identity = &self.inner.identity;
        let now = self.now_ms();
        let half = (LEASE_TTL / 2).as_millis() as i64;
        if identity.held.lock().ok().and_then(|h| h.get(work).copied()).is_some_and(|until| until - now > half) {
            return Ok(true);
        }
        let holds = lease::try_hold(self.pool(), work, &identity.name, LEASE_TTL, now).await?;
        if let Ok(mut held) = identity.held.lock() {
            if holds {
                held.insert(work, now + LEASE_TTL.as_millis() as i64);
            } else if held.remove(work).is_some() {
                tracing::info!(work, "another node took over this work");
            }
        }
        Ok(holds)
    }

    /// Says this instance is alive for the next [`LEASE_TTL`].
    pub(crate) async fn heartbeat(&self) -> Result<()> {
        let name = &self.inner.identity.name;
        lease::try_hold(self.pool(), &format!("{ALIVE}{name}"), name, LEASE_TTL, self.now_ms()).await?;
        Ok(())
    }

    /// The instances alive now (their liveness lease unexpired).
    pub(crate) async fn alive_instances(&self) -> Result<Vec<String>> {
        lease::held_with_prefix(self.pool(), ALIVE, self.now_ms()).await
    }

    /// Gives up this process's leases, so other nodes take over at once (at close).
    pub(crate) async fn release_leases(&self) -> Result<()> {
        let identity = &self.inner.identity;
        let held: Vec<&'static str> = identity.held.lock().map(|h| h.keys().copied().collect()).unwrap_or_default();
        for work in held {
            lease::release(self.pool(), work, &identity.name).await?;
        }
        lease::release(self.pool(), &format!("{ALIVE}{}", identity.name), &identity.name).await
    }
}
