use std::sync::Arc;
use std::time::Duration;

use chrono::TimeZone;

use super::*;
use crate::clock::ManualClock;

fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).single().expect("time")
}

/// The signature is HMAC-SHA256 over "<timestamp>.<body>", pinned against a value computed
/// independently (Python: `hmac.new(b"key", b"1700000000.{}", hashlib.sha256).hexdigest()`).
#[test]
fn signature_is_hmac_sha256_of_timestamp_dot_body() {
    assert_eq!(
        signature(b"key", 1_700_000_000, b"{}"),
        "sha256=9d713ed406bb7076d4123f0dc2c39d2df5c654ed4b0cd56b52c8b4c940bd63ae"
    );
    // A different timestamp, body or key signs differently.
    assert_ne!(signature(b"key", 1_700_000_001, b"{}"), signature(b"key", 1_700_000_000, b"{}"));
    assert_ne!(signature(b"key", 1_700_000_000, b"{ }"), signature(b"key", 1_700_000_000, b"{}"));
    assert_ne!(signature(b"other", 1_700_000_000, b"{}"), signature(b"key", 1_700_000_000, b"{}"));
}

#[test]
fn backoff_doubles_up_to_the_cap() {
    let p = RetryPolicy {
        max_attempts: 8,
        first_backoff: Duration::from_secs(10),
        max_backoff: Duration::from_secs(60),
        timeout: Duration::from_secs(1),
    };
    let waits: Vec<u64> = (1..=6).map(|n| p.backoff(n).as_secs()).collect();
    assert_eq!(waits, [10, 20, 40, 60, 60, 60]);
    assert_eq!(p.backoff(200).as_secs(), 60, "no overflow");
}

#[test]
fn the_body_is_slack_compatible_with_structured_fields() {
    let e = Event::service(EventKind::Rollback, "iris", Some(4), "alice", "p99 too high", at());
    let body: serde_json::Value = serde_json::from_str(&e.body()).expect("json");
    assert_eq!(body["text"], "alice rolled back iris (revision 4): p99 too high");
    assert_eq!(body["event"], "rollback");
    assert_eq!(body["service"], "iris");
    assert_eq!(body["revision"], 4);
    assert_eq!(body["who"], "alice");
    assert_eq!(body["why"], "p99 too high");
    assert_eq!(body["time"], "2026-03-02T09:00:00Z");
    assert!(body.get("scenario").is_none());
    let back: Event = serde_json::from_value(body).expect("reads back");
    assert_eq!(back, e);
}

#[test]
fn urls_are_checked_and_masked() {
    let new = |url: &str, secret: Option<&str>| NewWebhook {
        url: url.into(),
        service: None,
        secret: secret.map(str::to_owned),
    };
    for bad in ["ftp://x/y", "not a url", "http://", "file:///etc/passwd"] {
        let err = new(bad, None).check().expect_err(bad).to_string();
        assert!(err.contains("http:// or https://"), "{err}");
    }
    let err = new("https://h/x", Some("short")).check().expect_err("short").to_string();
    assert!(err.contains("16 to 256 characters"), "{err}");
    assert!(!err.contains("short"), "the secret is not echoed: {err}");
    assert!(new("https://h/x", Some("0123456789abcdef")).check().is_ok());
    assert_eq!(masked_url("https://hooks.slack.com/services/T0/B0/XYZ"), "https://hooks.slack.com/services/…");
    assert_eq!(masked_url("http://user:pw@127.0.0.1:9000/hook?token=abc"), "http://127.0.0.1:9000/hook/…");
    assert_eq!(masked_url("https://example.com"), "https://example.com");
}

async fn notifier(dir: &tempfile::TempDir, clock: &Arc<ManualClock>) -> Notifier {
    let pool = crate::store::open_sqlite(&dir.path().join("r.db")).await.expect("open");
    Notifier::new(pool, Arc::clone(clock) as _, "test", RetryPolicy { max_attempts: 2, ..RetryPolicy::default() })
        .expect("notifier")
}

/// An unreachable endpoint: each attempt is recorded with its reason, retried after the
/// backoff (not before), and failed after the cap; the reason names neither URL nor secret.
#[tokio::test]
async fn failed_attempts_are_retried_after_backoff_then_marked_failed() {
    let dir = tempfile::tempdir().expect("dir");
    let clock = Arc::new(ManualClock::new(at()));
    let n = notifier(&dir, &clock).await;
    // A port nothing listens on: bind one, then free it.
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let url = format!("http://127.0.0.1:{port}/hooks/tok3n");
    let hook = n
        .create(&NewWebhook { url, service: None, secret: Some("s3cret-s3cret-s3cret".into()) }, "alice")
        .await
        .expect("create");
    assert!(hook.signed);
    assert!(!hook.url.contains("tok3n"), "{}", hook.url);
    let e = Event::service(EventKind::Deploy, "iris", Some(2), "alice", "v2", at());
    assert_eq!(n.enqueue(&e).await.expect("enqueue"), 1);
    assert_eq!(n.pass().await.expect("pass"), 1);
    let d = &n.deliveries(None, 10).await.expect("list")[0];
    assert_eq!((d.state, d.attempts, d.last_status), (DeliveryState::Pending, 1, None));
    assert_eq!(d.next_attempt_at, Some(at() + chrono::Duration::seconds(10)));
    let why = d.last_error.clone().expect("a reason");
    assert!(why.contains("cannot connect"), "{why}");
    assert!(!why.contains("tok3n") && !why.contains("s3cret"), "{why}");
    clock.advance(chrono::Duration::seconds(9));
    assert_eq!(n.pass().await.expect("pass"), 0, "not due yet");
    clock.advance(chrono::Duration::seconds(1));
    assert_eq!(n.pass().await.expect("pass"), 1);
    let d = &n.deliveries(None, 10).await.expect("list")[0];
    assert_eq!((d.state, d.attempts, d.next_attempt_at), (DeliveryState::Failed, 2, None));
    assert_eq!(d.attempt_log.iter().map(|a| a.attempt).collect::<Vec<_>>(), [1, 2]);
    clock.advance(chrono::Duration::hours(1));
    assert_eq!(n.pass().await.expect("pass"), 0, "a failed delivery is never retried");
}

/// Two deliverers (two nodes) over one registry: a due delivery is claimed by one only.
#[tokio::test]
async fn a_claimed_delivery_is_not_claimed_again_until_its_lease_expires() {
    let dir = tempfile::tempdir().expect("dir");
    let clock = Arc::new(ManualClock::new(at()));
    let n = notifier(&dir, &clock).await;
    let hook = n
        .create(&NewWebhook { url: "http://127.0.0.1:9/x".into(), service: Some("iris".into()), secret: None }, "a")
        .await;
    // The service does not exist in this bare registry: the foreign key refuses it.
    assert!(hook.is_err());
    let hook = n.create(&NewWebhook { url: "http://127.0.0.1:9/x".into(), service: None, secret: None }, "a").await;
    let hook = hook.expect("global webhook");
    let id = store::insert_delivery(
        &n.pool,
        hook.id,
        &Event::service(EventKind::Deploy, "iris", None, "a", "b", at()),
        "{}",
        3,
        0,
    )
    .await
    .expect("insert");
    let now = at().timestamp_millis();
    assert!(store::claim(&n.pool, id, "node-a", now, CLAIM).await.expect("claim").is_some());
    assert!(store::claim(&n.pool, id, "node-b", now, CLAIM).await.expect("claim").is_none());
    assert!(store::due(&n.pool, now, 10).await.expect("due").is_empty());
    let later = now + CLAIM.as_millis() as i64 + 1;
    assert_eq!(store::due(&n.pool, later, 10).await.expect("due"), [id], "an expired claim is taken over");
    assert!(store::claim(&n.pool, id, "node-b", later, CLAIM).await.expect("claim").is_some());
}

/// A removed webhook gets no new deliveries and its pending ones end as failed.
#[tokio::test]
async fn removing_a_webhook_fails_its_pending_deliveries() {
    let dir = tempfile::tempdir().expect("dir");
    let clock = Arc::new(ManualClock::new(at()));
    let n = notifier(&dir, &clock).await;
    let hook = n.create(&NewWebhook { url: "http://127.0.0.1:9/x".into(), service: None, secret: None }, "a").await;
    let hook = hook.expect("create");
    let e = Event::service(EventKind::Deploy, "iris", None, "a", "b", at());
    n.enqueue(&e).await.expect("enqueue");
    n.remove(hook.id).await.expect("remove");
    assert!(matches!(n.remove(hook.id).await, Err(Error::WebhookNotFound(_))));
    assert_eq!(n.enqueue(&e).await.expect("enqueue"), 0);
    let d = n.deliveries(Some(hook.id), 10).await.expect("still listed");
    assert_eq!(d.len(), 1);
    assert_eq!((d[0].state, d[0].last_error.as_deref()), (DeliveryState::Failed, Some("the webhook was removed")));
    assert!(n.list().await.expect("list").is_empty());
    assert_eq!(n.pass().await.expect("pass"), 0);
}
