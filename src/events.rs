//! [`Changes`]: what changed in the engine's state, announced to whoever listens. The
//! desktop shell forwards each [`Change`] to its window, which reloads what it shows, so a
//! deploy from the CLI, a canary step or a scenario run appears without a click.
//!
//! Announcements are best effort and carry no data: a listener that falls behind is told to
//! reload everything ([`Change::Resync`]); with no listener they cost one atomic load.

use serde::Serialize;
use tokio::sync::broadcast;

/// One change of engine state. Listeners reload what it names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    /// A service was created.
    Services,
    /// A service's versions, deployment or revisions changed (on this node, or on another
    /// node of a shared registry).
    Service { service: String },
    /// A canary of the service started, moved a step, or ended.
    Canary { service: String },
    /// The access policy or the keys of the service changed.
    Access { service: String },
    /// The scenario was saved or deleted, or one of its runs started or ended.
    Scenario { scenario: String },
    /// The listener missed changes: reload everything.
    Resync,
}

/// Where changes are announced. Cheap to clone; every clone announces to the same listeners.
#[derive(Debug, Clone)]
pub struct Changes(broadcast::Sender<Change>);

/// How many changes a slow listener may fall behind before it is told to resync.
const BACKLOG: usize = 256;

impl Default for Changes {
    fn default() -> Self {
        Self(broadcast::channel(BACKLOG).0)
    }
}

impl Changes {
    pub fn announce(&self, change: Change) {
        // No listener is not an error: nobody is looking.
        let _ = self.0.send(change);
    }

    pub fn subscribe(&self) -> Listener {
        Listener(self.0.subscribe())
    }
}

/// A subscription to [`Changes`].
pub struct Listener(broadcast::Receiver<Change>);

impl Listener {
    /// The next change; [`Change::Resync`] after falling behind; None once the engine is
    /// gone.
    pub async fn next(&mut self) -> Option<Change> {
        match self.0.recv().await {
            Ok(change) => Some(change),
            Err(broadcast::error::RecvError::Lagged(_)) => Some(Change::Resync),
            Err(broadcast::error::RecvError::Closed) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn listeners_hear_every_change_in_order_and_resync_after_falling_behind() {
        let changes = Changes::default();
        changes.announce(Change::Services); // nobody listens: dropped, no error
        let mut listener = changes.subscribe();
        changes.announce(Change::Service { service: "iris".into() });
        changes.announce(Change::Canary { service: "iris".into() });
        assert_eq!(listener.next().await, Some(Change::Service { service: "iris".into() }));
        assert_eq!(listener.next().await, Some(Change::Canary { service: "iris".into() }));
        for _ in 0..BACKLOG + 1 {
            changes.announce(Change::Services);
        }
        assert_eq!(listener.next().await, Some(Change::Resync));
        drop(changes);
        let mut left = 0;
        while listener.next().await.is_some() {
            left += 1;
        }
        assert_eq!(left, BACKLOG, "the backlog is still delivered, then the end");
    }
}
