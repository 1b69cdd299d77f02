//! Feedback: request ids that say which generation answered, and the persisted outcomes
//! A/B results are computed from.
//!
//! A request id is `<nonce>-<revision>-<tag>-<generation>`, where the tag is an
//! HMAC-SHA256 (first 64 bits) of the service, generation, revision and nonce under a secret
//! of the registry. Any node sharing the registry can then record the feedback of any
//! prediction, after restarts too, with nothing kept per request on the request path; an id
//! cannot be made up, or altered to credit another generation.

use std::io::Write;

use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};

use sha2::Sha256;
use sqlx::Row;

use crate::error::{Error, Result};
use crate::store::LOCAL_NODE;
use crate::store::Pool;

/// Which prediction a request id names.
#[derive(Debug, Clone, PartialEq)]
pub struct Served {
    pub service: String,
    pub generation: String,
    pub revision: i64,
}

/// Issues and checks request ids under the registry's secret.
pub struct RequestIds {
    /// HMAC-SHA256 keyed with the secret, cloned for each tag.
    mac: Hmac<Sha256>,
}

impl RequestIds {
    /// `secret`: at most 64 bytes (the registry keeps 32); a longer one is cut to 64.
    pub fn new(secret: &[u8]) -> Self {
        Self { mac: keyed_mac(secret) }
    }

    /// A new id for a prediction of `service` by `generation` under `revision`.
    pub fn issue(&self, service: &str, generation: &str, revision: i64) -> String {
        self.id_with_nonce(service, generation, revision, rand::random())
    }

    fn id_with_nonce(&self, service: &str, generation: &str, revision: i64, nonce: [u8; 8]) -> String {
        // Written into one buffer of the id's length (no formatting machinery, no
        // intermediate strings): this runs on every prediction.
        let (mut digits, mut hex) = ([0u8; 20], [0u8; 32]);
        let revision_digits = decimal(revision, &mut digits);
        let (nonce_hex, tag_hex) = hex.split_at_mut(16);
        // Fixed lengths (8 bytes into 16 hex digits): encoding cannot fail.
        let _ = hex::encode_to_slice(nonce, nonce_hex);
        let mac = self.mac(service, generation, revision_digits, nonce_hex).finalize().into_bytes();
        let _ = hex::encode_to_slice(&mac[..8], tag_hex);
        let mut id = Vec::with_capacity(hex.len() + revision_digits.len() + generation.len() + 3);
        for part in [&hex[..16], b"-", revision_digits, b"-", &hex[16..], b"-", generation.as_bytes()] {
            id.extend_from_slice(part);
        }
        // Hex digits, decimal digits and a `str`: always UTF-8.
        String::from_utf8(id).unwrap_or_default()
    }

    /// The prediction `id` names, if this registry issued it for `service`.
    pub fn verify(&self, service: &str, id: &str) -> Option<Served> {
        let mut parts = id.splitn(4, '-');
        let (nonce, revision, tag, generation) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let (mut nonce_bytes, mut tag_bytes) = ([0u8; 8], [0u8; 8]);
        hex::decode_to_slice(nonce, &mut nonce_bytes).ok()?;
        hex::decode_to_slice(tag, &mut tag_bytes).ok()?;
        // One spelling per id: feedback is deduplicated on the id as sent, so an uppercase
        // variant must not count as another prediction.
        if generation.is_empty() || nonce.bytes().chain(tag.bytes()).any(|b| b.is_ascii_uppercase()) {
            return None;
        }
        let revision: i64 = revision.parse().ok()?;
        // Over the nonce as issued (lowercase); constant time: the tag is the MAC's first 8 bytes.
        let (mut digits, mut nonce_hex) = ([0u8; 20], [0u8; 16]);
        let _ = hex::encode_to_slice(nonce_bytes, &mut nonce_hex);
        let mac = self.mac(service, generation, decimal(revision, &mut digits), &nonce_hex);
        mac.verify_truncated_left(&tag_bytes).is_ok().then(|| Served {
            service: service.to_owned(),
            generation: generation.to_owned(),
            revision,
        })
    }

    /// The keyed MAC over an id's parts, `service \n generation \n revision \n nonce` with the
    /// revision in decimal and the nonce in hex, fed in pieces: nothing is formatted on the
    /// heap per request.
    fn mac(&self, service: &str, generation: &str, revision: &[u8], nonce: &[u8]) -> Hmac<Sha256> {
        let mut mac = self.mac.clone();
        for part in [service.as_bytes(), b"\n", generation.as_bytes(), b"\n", revision, b"\n", nonce] {
            mac.update(part);
        }
        mac
    }
}

/// `n` in decimal, written into `digits` (an i64 takes at most 19 digits and a sign).
fn decimal(n: i64, digits: &mut [u8; 20]) -> &[u8] {
    let len = {
        let mut w = &mut digits[..];
        write!(w, "{n}").map(|()| 20 - w.len()).unwrap_or(0)
    };
    &digits[..len]
}

/// HMAC-SHA256 keyed with a registry secret of at most 64 bytes (a longer one is cut to 64):
/// a key of the hash's block size, zero-padded as HMAC pads a shorter one, so this cannot fail.
pub fn keyed_mac(secret: &[u8]) -> Hmac<Sha256> {
    let mut key = [0u8; 64];
    let n = secret.len().min(64);
    key[..n].copy_from_slice(&secret[..n]);
    <Hmac<Sha256> as KeyInit>::new(&key.into())
}

/// Reads an outcome: a finite number, or a boolean (true = 1).
pub fn outcome_value(v: &serde_json::Value) -> Result<(f64, bool)> {
    match v {
        serde_json::Value::Bool(b) => Ok((if *b { 1.0 } else { 0.0 }, true)),
        serde_json::Value::Number(n) => match n.as_f64() {
            Some(x) if x.is_finite() => Ok((x, x == 0.0 || x == 1.0)),
            _ => Err(Error::InvalidInput(format!("outcome {n} is out of range"))),
        },
        other => Err(Error::InvalidInput(format!("outcome must be a number or a boolean, got {other}"))),
    }
}

pub async fn insert(
    pool: &Pool,
    request_id: &str,
    served: &Served,
    outcome: f64,
    binary: bool,
    now_ms: i64,
) -> Result<()> {
    let res = sqlx::query(
        "INSERT INTO feedback (service, node, request_id, generation, revision, outcome, \"binary\", created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&served.service)
    .bind(LOCAL_NODE)
    .bind(request_id)
    .bind(&served.generation)
    .bind(served.revision)
    .bind(outcome)
    .bind(i64::from(binary))
    .bind(now_ms)
    .execute(pool)
    .await;
    match res {
        Ok(_) => Ok(()),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            Err(Error::AlreadyExists(format!("request {request_id} already has feedback; outcomes are recorded once")))
        }
        Err(e) => Err(e.into()),
    }
}

/// Outcomes per generation since `since_ms`, generations in version order (oldest first).
pub async fn outcomes(pool: &Pool, service: &str, since_ms: i64) -> Result<Vec<(String, Vec<f64>)>> {
    outcomes_between(pool, service, since_ms, i64::MAX).await
}

/// Outcomes per generation recorded in `[since_ms, until_ms]`, generations in version order.
pub async fn outcomes_between(
    pool: &Pool,
    service: &str,
    since_ms: i64,
    until_ms: i64,
) -> Result<Vec<(String, Vec<f64>)>> {
    let rows = sqlx::query(
        "SELECT f.generation, f.outcome FROM feedback f LEFT JOIN versions v ON v.service = f.service AND v.id = f.generation \
         WHERE f.service = $1 AND f.node = $2 AND f.created_at >= $3 AND f.created_at <= $4 ORDER BY v.seq, f.created_at",
    )
    .bind(service)
    .bind(LOCAL_NODE)
    .bind(since_ms)
    .bind(until_ms)
    .fetch_all(pool)
    .await?;
    let mut out: Vec<(String, Vec<f64>)> = Vec::new();
    for row in rows {
        let generation: String = row.try_get("generation")?;
        let outcome: f64 = row.try_get("outcome")?;
        match out.last_mut() {
            Some((g, v)) if *g == generation => v.push(outcome),
            _ => out.push((generation, vec![outcome])),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_name_their_prediction_and_cannot_be_forged() {
        let ids = RequestIds::new(b"registry secret");
        let id = ids.issue("iris", "retrained-2026.11-7f3a", 12);
        let served = Served { service: "iris".into(), generation: "retrained-2026.11-7f3a".into(), revision: 12 };
        assert_eq!(ids.verify("iris", &id), Some(served));
        assert_ne!(ids.issue("iris", "v1", 1), ids.issue("iris", "v1", 1), "a nonce each");
        // Another service, another registry, or any altered part: not an id of ours.
        assert_eq!(ids.verify("churn", &id), None);
        assert_eq!(RequestIds::new(b"other secret").verify("iris", &id), None);
        let (nonce, rest) = id.split_at(16);
        let (revision, rest) = rest[1..].split_once('-').expect("revision");
        let (tag, generation) = rest.split_once('-').expect("tag");
        for forged in [
            format!("{nonce}-{revision}-{tag}-v1"),
            format!("{nonce}-13-{tag}-{generation}"),
            format!("{}-{revision}-{tag}-{generation}", "0".repeat(16)),
            format!("{nonce}-{revision}-{}-{generation}", "0".repeat(16)),
            format!("{nonce}-{revision}-{tag}-"),
            format!("{}-{revision}-{tag}-{generation}", nonce.to_uppercase()),
            format!("{nonce}-{revision}-{}-{generation}", tag.to_uppercase()),
            "x".into(),
            "".into(),
            "0-0-0-v1".into(),
        ]
        .into_iter()
        .filter(|f| *f != id)
        // (an all-digit nonce or tag has no uppercase variant)
        {
            assert_eq!(ids.verify("iris", &forged), None, "{forged}");
        }
    }

    /// Ids and tags pinned byte for byte (HMAC-SHA256 as Python's `hmac` computes it), so the
    /// ids a registry issued before any change of the HMAC code still verify after it.
    #[test]
    fn request_ids_are_pinned() {
        let ids = RequestIds::new(b"registry secret");
        let id = ids.id_with_nonce("iris", "retrained-2026.11-7f3a", 12, 0x0123_4567_89ab_cdef_u64.to_be_bytes());
        assert_eq!(id, "0123456789abcdef-12-a0d0cf650e21c3c5-retrained-2026.11-7f3a");
        assert!(ids.verify("iris", &id).is_some());
        let secret: Vec<u8> = (0..32).collect();
        let ids = RequestIds::new(&secret);
        let id = ids.id_with_nonce("iris", "v1", 1, 0xff_u64.to_be_bytes());
        assert_eq!(id, "00000000000000ff-1-7e70f84e821d6d02-v1");
        assert_eq!(ids.verify("iris", &id).map(|s| s.revision), Some(1));
    }

    #[test]
    fn outcomes_are_numbers_or_booleans() {
        assert_eq!(outcome_value(&serde_json::json!(true)).ok(), Some((1.0, true)));
        assert_eq!(outcome_value(&serde_json::json!(0)).ok(), Some((0.0, true)));
        assert_eq!(outcome_value(&serde_json::json!(12.5)).ok(), Some((12.5, false)));
        assert!(outcome_value(&serde_json::json!("yes")).is_err());
    }
}
