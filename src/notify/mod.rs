//! Notifications: webhooks told about deployment events (deploy, rollback, canary steps and
//! endings, failed scenario runs), through a persisted outbox.
//!
//! An [`Event`] is enqueued in the registry ([`Notifier::enqueue`]: one `webhook_deliveries`
//! row per matching webhook, the exact body included) after the change it reports has been
//! written; a deliverer pass ([`Notifier::pass`]) claims due rows, POSTs them and records
//! each attempt. So an event survives a node restart, a dead endpoint never blocks or slows
//! the change that caused it, and nodes sharing a PostgreSQL registry deliver each row once
//! (a claim is one conditional `UPDATE` with a lease; an expired claim is taken over).
//!
//! Failed attempts are retried with exponential backoff ([`RetryPolicy`]) on the engine's
//! clock, up to a cap, then the delivery is `failed` with the last reason (an HTTP status or
//! what went wrong with the connection; never the URL or the secret).
//!
//! Signature: with a secret, every attempt carries `X-Switchyard-Timestamp: <unix seconds>`
//! and `X-Switchyard-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`, the
//! body being the exact bytes sent ([`signature`]). A receiver recomputes it, compares in
//! constant time and refuses old timestamps, which stops replays.

mod store;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::store::Pool;

pub use store::{Attempt, Delivery, DeliveryState, Webhook};

/// The header carrying the signature, `sha256=<hex>`.
pub const SIGNATURE_HEADER: &str = "x-switchyard-signature";
/// The header carrying the signed timestamp (Unix seconds).
pub const TIMESTAMP_HEADER: &str = "x-switchyard-timestamp";
/// The header naming the event kind.
pub const EVENT_HEADER: &str = "x-switchyard-event";
/// The header carrying the delivery's id (the same on every retry: receivers may dedupe).
pub const DELIVERY_HEADER: &str = "x-switchyard-delivery";

/// How long a node may hold a claimed delivery before another may take it over (a node that
/// died mid-attempt). Far above the HTTP timeout, so a live attempt is never taken over.
const CLAIM: Duration = Duration::from_secs(120);
/// At most this many deliveries per pass, sent concurrently up to [`IN_FLIGHT`].
const BATCH: i64 = 64;
const IN_FLIGHT: usize = 8;
/// The longest secret and URL accepted.
const MAX_SECRET: usize = 256;
const MAX_URL: usize = 2000;
/// The shortest secret accepted: an HMAC key guessable by brute force protects nothing.
const MIN_SECRET: usize = 16;

/// What happened, as webhooks are told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Deploy,
    Rollback,
    /// A canary started or moved to its next step.
    CanaryStep,
    /// A canary's gate failed (or it was inconclusive with the rollback policy): the base
    /// config was restored.
    CanaryRollback,
    CanaryPromoted,
    /// A user aborted a canary: the base config was restored.
    CanaryAborted,
    ScenarioFailed,
    /// A generation's drift went over the alert limit (`switchyard serve --drift-alert-psi`).
    Drift,
    /// Sent by hand to check a webhook.
    Test,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Deploy => "deploy",
            EventKind::Rollback => "rollback",
            EventKind::CanaryStep => "canary_step",
            EventKind::CanaryRollback => "canary_rollback",
            EventKind::CanaryPromoted => "canary_promoted",
            EventKind::CanaryAborted => "canary_aborted",
            EventKind::ScenarioFailed => "scenario_failed",
            EventKind::Drift => "drift",
            EventKind::Test => "test",
        }
    }
}

/// One event. Its JSON (with a human `text` first, which Slack shows) is the webhook body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Event {
    #[serde(rename = "event")]
    pub kind: EventKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// The revision the change wrote, if it wrote one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<i64>,
    pub who: String,
    pub why: String,
    pub time: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<i64>,
}

impl Event {
    /// An event about a service.
    pub fn service(
        kind: EventKind,
        service: &str,
        revision: Option<i64>,
        who: &str,
        why: &str,
        time: DateTime<Utc>,
    ) -> Self {
        Event {
            kind,
            service: Some(service.to_owned()),
            revision,
            who: who.to_owned(),
            why: why.to_owned(),
            time,
            scenario: None,
            run: None,
        }
    }

    /// The sentence a person reads (Slack's `text`).
    pub fn text(&self) -> String {
        let service = self.service.as_deref().unwrap_or("?");
        let rev = self.revision.map(|r| format!(" (revision {r})")).unwrap_or_default();
        let (who, why) = (&self.who, &self.why);
        match self.kind {
            EventKind::Deploy => format!("{who} deployed {service}{rev}: {why}"),
            EventKind::Rollback => format!("{who} rolled back {service}{rev}: {why}"),
            EventKind::CanaryStep => format!("Canary of {service} moved{rev}: {why}"),
            EventKind::CanaryRollback => format!("Canary of {service} rolled back{rev}: {why}"),
            EventKind::CanaryPromoted => format!("Canary of {service} promoted{rev}: {why}"),
            EventKind::CanaryAborted => format!("{who} aborted the canary of {service}{rev}: {why}"),
            EventKind::ScenarioFailed => format!(
                "Scenario {} run {} failed: {why}",
                self.scenario.as_deref().unwrap_or("?"),
                self.run.unwrap_or_default()
            ),
            EventKind::Drift => format!("Drift on {service}{rev}: {why}"),
            EventKind::Test => format!("Test notification from Switchyard, sent by {who}"),
        }
    }

    /// The exact body POSTed: `{"text": …, "event": …, …}`.
    pub fn body(&self) -> String {
        #[derive(Serialize)]
        struct Body<'a> {
            text: String,
            #[serde(flatten)]
            event: &'a Event,
        }
        // Serializing plain strings, numbers and a timestamp cannot fail.
        serde_json::to_string(&Body { text: self.text(), event: self }).unwrap_or_default()
    }
}

/// The signature header's value for `body` sent at `timestamp` (Unix seconds):
/// `sha256=` and the lowercase hex HMAC-SHA256 of `"<timestamp>.<body>"` under `secret`.
pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    // HMAC takes a key of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).unwrap_or_else(|_| unreachable!());
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// When failed attempts are tried again, and how often.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts before a delivery is marked failed.
    pub max_attempts: u32,
    /// The wait after the first failed attempt; doubled after each further one.
    pub first_backoff: Duration,
    /// The longest wait between attempts.
    pub max_backoff: Duration,
    /// How long one attempt may take (connect, send, answer).
    pub timeout: Duration,
}

impl Default for RetryPolicy {
    /// 8 attempts over about 21 minutes: 10 s, 20 s, 40 s… between them; 10 s per attempt.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 8,
            first_backoff: Duration::from_secs(10),
            max_backoff: Duration::from_secs(3600),
            timeout: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// The wait after `failed` failed attempts (1 → `first_backoff`).
    pub fn backoff(&self, failed: u32) -> Duration {
        let factor = 2u32.saturating_pow(failed.saturating_sub(1));
        self.first_backoff.saturating_mul(factor).min(self.max_backoff)
    }
}

/// A webhook as a user creates it.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhook {
    /// `http://` or `https://` URL the events are POSTed to.
    pub url: String,
    /// Only this service's events; absent: every service's (and scenario failures).
    #[serde(default)]
    pub service: Option<String>,
    /// The HMAC-SHA256 key of the signature header (16 to 256 characters); absent: unsigned.
    /// Never returned after creation.
    #[serde(default)]
    pub secret: Option<String>,
}

impl NewWebhook {
    /// The URL, parsed, and the secret, checked.
    fn check(&self) -> Result<url::Url> {
        let url = url::Url::parse(self.url.trim())
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some() && self.url.len() <= MAX_URL)
            .ok_or_else(|| {
                Error::InvalidInput(format!(
                    "the webhook URL must be an http:// or https:// URL of at most {MAX_URL} characters, \
                     e.g. https://hooks.example.com/switchyard"
                ))
            })?;
        if let Some(secret) = &self.secret
            && !(MIN_SECRET..=MAX_SECRET).contains(&secret.len())
        {
            return Err(Error::InvalidInput(format!(
                "the webhook secret must be {MIN_SECRET} to {MAX_SECRET} characters long (it has {})",
                secret.len()
            )));
        }
        Ok(url)
    }
}

/// The URL as lists show it: scheme, host, port and the first path segment; the rest (where
/// services like Slack put their token), the query and any user info are masked.
pub fn masked_url(url: &str) -> String {
    let Ok(u) = url::Url::parse(url) else { return "…".to_owned() };
    let host = u.host_str().unwrap_or("");
    let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
    let mut segments = u.path_segments().into_iter().flatten().filter(|s| !s.is_empty());
    let first = segments.next().map(|s| format!("/{s}")).unwrap_or_default();
    let more = if segments.next().is_some() || u.query().is_some() { "/…" } else { "" };
    format!("{}://{host}{port}{first}{more}", u.scheme())
}

/// The notifications subsystem: webhooks, the outbox and the deliverer's HTTP client.
pub struct Notifier {
    pool: Pool,
    clock: Arc<dyn Clock>,
    http: reqwest::Client,
    /// Who claims deliveries: the instance and a random tag, unique per process.
    claimer: String,
    policy: RetryPolicy,
}

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Delivered(u16),
    Failed { status: Option<u16>, why: String },
}

impl Notifier {
    pub fn new(pool: Pool, clock: Arc<dyn Clock>, instance: &str, policy: RetryPolicy) -> Result<Notifier> {
        let http = reqwest::Client::builder()
            .connect_timeout(policy.timeout.min(Duration::from_secs(5)))
            .timeout(policy.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(format!("switchyard/{}", crate::build_info::VERSION))
            .build()
            .map_err(|e| Error::Internal(format!("cannot build the webhook HTTP client: {e}")))?;
        let claimer = format!("{instance}/{:08x}", rand::random::<u32>());
        Ok(Notifier { pool, clock, http, claimer, policy })
    }

    fn now_ms(&self) -> i64 {
        self.clock.now().timestamp_millis()
    }

    /// Creates a webhook. The service, if named, must exist (the caller checks).
    pub async fn create(&self, new: &NewWebhook, by: &str) -> Result<Webhook> {
        let url = new.check()?;
        store::insert_webhook(
            &self.pool,
            url.as_str(),
            new.service.as_deref(),
            new.secret.as_deref(),
            by,
            self.now_ms(),
        )
        .await
    }

    /// Every webhook not removed, oldest first.
    pub async fn list(&self) -> Result<Vec<Webhook>> {
        store::webhooks(&self.pool).await
    }

    /// Removes a webhook; its pending deliveries end as failed ("the webhook was removed").
    pub async fn remove(&self, id: i64) -> Result<()> {
        store::remove_webhook(&self.pool, id, self.now_ms()).await
    }

    /// Puts `event` in the outbox of every webhook it concerns (the service's and the global
    /// ones). Returns how many deliveries were enqueued.
    pub async fn enqueue(&self, event: &Event) -> Result<usize> {
        let hooks = store::webhooks(&self.pool).await?;
        let targets: Vec<i64> = hooks
            .iter()
            .filter(|w| w.service.is_none() || w.service.as_deref() == event.service.as_deref())
            .map(|w| w.id)
            .collect();
        if targets.is_empty() {
            return Ok(0);
        }
        let body = event.body();
        let now = self.now_ms();
        for id in &targets {
            store::insert_delivery(&self.pool, *id, event, &body, self.policy.max_attempts, now).await?;
        }
        Ok(targets.len())
    }

    /// Sends a test event to one webhook now, once (no retry), and returns its delivery.
    pub async fn test(&self, id: i64, by: &str) -> Result<Delivery> {
        let hook = store::webhook(&self.pool, id).await?;
        let now = self.clock.now();
        let event = Event {
            kind: EventKind::Test,
            service: hook.service.clone(),
            revision: None,
            who: by.to_owned(),
            why: "a test from the console or CLI".to_owned(),
            time: now,
            scenario: None,
            run: None,
        };
        let delivery = store::insert_delivery(&self.pool, id, &event, &event.body(), 1, now.timestamp_millis()).await?;
        if let Some(due) = store::claim(&self.pool, delivery, &self.claimer, now.timestamp_millis(), CLAIM).await? {
            self.attempt(due).await?;
        }
        store::delivery(&self.pool, delivery).await
    }

    /// Recent deliveries, newest first, of one webhook or of all.
    pub async fn deliveries(&self, webhook: Option<i64>, limit: i64) -> Result<Vec<Delivery>> {
        if let Some(id) = webhook {
            store::webhook_any(&self.pool, id).await?;
        }
        store::deliveries(&self.pool, webhook, limit.clamp(1, 500)).await
    }

    /// One deliverer pass: claims the due deliveries (up to a batch), sends them concurrently,
    /// records each attempt. Returns how many attempts were made.
    pub async fn pass(&self) -> Result<usize> {
        let now = self.now_ms();
        let mut claimed = Vec::new();
        for id in store::due(&self.pool, now, BATCH).await? {
            if let Some(due) = store::claim(&self.pool, id, &self.claimer, now, CLAIM).await? {
                claimed.push(due);
            }
        }
        let n = claimed.len();
        let results: Vec<Result<()>> =
            futures_util::stream::iter(claimed).map(|d| self.attempt(d)).buffer_unordered(IN_FLIGHT).collect().await;
        for r in results {
            r?;
        }
        Ok(n)
    }

    /// Sends one claimed delivery and records the attempt.
    async fn attempt(&self, due: store::Due) -> Result<()> {
        let outcome = self.send(&due).await;
        let at = self.now_ms();
        let attempt = due.attempts + 1;
        let (state, next) = match &outcome {
            Outcome::Delivered(_) => (DeliveryState::Delivered, at),
            Outcome::Failed { .. } if attempt >= due.max_attempts => (DeliveryState::Failed, at),
            Outcome::Failed { .. } => {
                let wait = self.policy.backoff(attempt as u32);
                (DeliveryState::Pending, at + wait.as_millis() as i64)
            }
        };
        let (status, why) = match outcome {
            Outcome::Delivered(s) => (Some(s), None),
            Outcome::Failed { status, why } => (status, Some(why)),
        };
        if let Some(why) = &why {
            tracing::info!(delivery = due.id, attempt, "webhook delivery attempt failed: {why}");
        }
        store::record(
            &self.pool,
            &due,
            &self.claimer,
            store::Record { attempt, at, state, next, status, why: why.as_deref() },
        )
        .await
    }

    async fn send(&self, due: &store::Due) -> Outcome {
        let timestamp = self.clock.now().timestamp();
        let mut req = self
            .http
            .post(&due.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(EVENT_HEADER, &due.event)
            .header(DELIVERY_HEADER, due.id.to_string())
            .header(TIMESTAMP_HEADER, timestamp.to_string());
        if let Some(secret) = &due.secret {
            req = req.header(SIGNATURE_HEADER, signature(secret.as_bytes(), timestamp, due.body.as_bytes()));
        }
        match req.body(due.body.clone()).send().await {
            Ok(r) if r.status().is_success() => Outcome::Delivered(r.status().as_u16()),
            Ok(r) => Outcome::Failed {
                status: Some(r.status().as_u16()),
                why: format!("the endpoint answered {}", r.status()),
            },
            Err(e) => Outcome::Failed { status: None, why: transport_failure(&e, self.policy.timeout) },
        }
    }
}

/// Why a request got no answer, in words that name neither the URL nor anything in it.
fn transport_failure(e: &reqwest::Error, timeout: Duration) -> String {
    if e.is_timeout() {
        format!("no answer within {} s", timeout.as_secs())
    } else if e.is_connect() {
        "cannot connect to the endpoint (refused, unreachable or a TLS failure)".to_owned()
    } else if e.is_redirect() {
        "the endpoint redirected; webhooks do not follow redirects".to_owned()
    } else {
        "the request failed before an answer came".to_owned()
    }
}

#[cfg(test)]
mod tests;
