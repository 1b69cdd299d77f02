//! Notifications: the facade over [`Notifier`](crate::notify::Notifier). The deploy, rollback,
//! canary and scenario facades call [`Engine::notify`] after their change is written; the
//! deliverer loop (or a test) calls [`Engine::webhook_pass`].

use super::Engine;
use crate::error::Result;
use crate::notify::{Delivery, Event, EventKind, NewWebhook, Webhook};
use crate::scenario::{Run, RunStatus};

/// How many deliveries a list shows unless told.
pub const DEFAULT_DELIVERIES: i64 = 50;

impl Engine {
    /// Puts `event` in the outbox of the webhooks it concerns. Never fails the change that
    /// caused it: a registry error is logged, and delivery happens later, off this path.
    pub(crate) async fn notify(&self, event: Event) {
        if let Err(e) = self.inner.notifier.enqueue(&event).await {
            tracing::error!(event = event.kind.as_str(), "cannot enqueue a webhook notification: {e}");
        }
    }

    /// [`Engine::notify`] of an event about a service, at the engine's now.
    pub(crate) async fn notify_service(
        &self,
        kind: EventKind,
        service: &str,
        revision: Option<i64>,
        who: &str,
        why: &str,
    ) {
        self.notify(Event::service(kind, service, revision, who, why, self.now())).await;
    }

    /// A scenario run ended: a failed one is notified.
    pub(crate) async fn notify_run(&self, run: &Run) {
        if run.status == RunStatus::Failed {
            let event = Event {
                kind: EventKind::ScenarioFailed,
                service: None,
                revision: None,
                who: run.trigger_detail.clone(),
                why: run.message.clone(),
                time: self.now(),
                scenario: Some(run.scenario.clone()),
                run: Some(run.id),
            };
            self.notify(event).await;
        }
    }

    /// One deliverer pass: sends every due notification (retries included). Returns how many
    /// attempts were made.
    pub async fn webhook_pass(&self) -> Result<usize> {
        self.inner.notifier.pass().await
    }

    pub async fn create_webhook(&self, new: &NewWebhook, by: &str) -> Result<Webhook> {
        if let Some(service) = &new.service {
            self.get_service(service).await?;
        }
        let hook = self.inner.notifier.create(new, by).await?;
        tracing::info!(webhook = hook.id, url = %hook.url, "webhook created");
        Ok(hook)
    }

    pub async fn list_webhooks(&self) -> Result<Vec<Webhook>> {
        self.inner.notifier.list().await
    }

    /// Removes a webhook; its pending deliveries end as failed.
    pub async fn remove_webhook(&self, id: i64) -> Result<()> {
        self.inner.notifier.remove(id).await
    }

    /// Sends a test notification to one webhook now (one attempt) and returns how it went.
    pub async fn test_webhook(&self, id: i64, by: &str) -> Result<Delivery> {
        self.inner.notifier.test(id, by).await
    }

    /// Recent deliveries, newest first, of one webhook or of all.
    pub async fn webhook_deliveries(&self, webhook: Option<i64>, limit: Option<i64>) -> Result<Vec<Delivery>> {
        self.inner.notifier.deliveries(webhook, limit.unwrap_or(DEFAULT_DELIVERIES)).await
    }
}
