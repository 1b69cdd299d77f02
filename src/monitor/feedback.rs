//! Feedback: a recent-requests log (which generation answered which request id) and the
//! persisted outcomes A/B results are computed from.
//!
//! The log is in memory and bounded ([`REQUEST_LOG_CAPACITY`]): feedback must arrive while
//! its request is among the most recent ones, and does not survive a node restart. Persisting
//! every prediction would put a database write on the request path.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use sqlx::Row;

use crate::error::{Error, Result};
use crate::store::{Pool, now_ms};

pub const REQUEST_LOG_CAPACITY: usize = 200_000;

#[derive(Debug, Clone, PartialEq)]
pub struct Served {
    pub service: String,
    pub generation: String,
    pub revision: i64,
}

#[derive(Default)]
pub struct RequestLog {
    inner: Mutex<LogInner>,
}

#[derive(Default)]
struct LogInner {
    by_id: HashMap<String, Served>,
    order: VecDeque<String>,
}

impl RequestLog {
    pub fn remember(&self, request_id: &str, served: Served) {
        let Ok(mut log) = self.inner.lock() else { return };
        if log.order.len() >= REQUEST_LOG_CAPACITY
            && let Some(old) = log.order.pop_front()
        {
            log.by_id.remove(&old);
        }
        log.order.push_back(request_id.to_owned());
        log.by_id.insert(request_id.to_owned(), served);
    }

    pub fn get(&self, request_id: &str) -> Option<Served> {
        self.inner.lock().ok()?.by_id.get(request_id).cloned()
    }
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
    node: &str,
    request_id: &str,
    served: &Served,
    outcome: f64,
    binary: bool,
) -> Result<()> {
    let res = sqlx::query(
        "INSERT INTO feedback (service, node, request_id, generation, revision, outcome, \"binary\", created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&served.service)
    .bind(node)
    .bind(request_id)
    .bind(&served.generation)
    .bind(served.revision)
    .bind(outcome)
    .bind(i64::from(binary))
    .bind(now_ms())
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
pub async fn outcomes(pool: &Pool, node: &str, service: &str, since_ms: i64) -> Result<Vec<(String, Vec<f64>)>> {
    outcomes_between(pool, node, service, since_ms, i64::MAX).await
}

/// Outcomes per generation recorded in `[since_ms, until_ms]`, generations in version order.
pub async fn outcomes_between(
    pool: &Pool,
    node: &str,
    service: &str,
    since_ms: i64,
    until_ms: i64,
) -> Result<Vec<(String, Vec<f64>)>> {
    let rows = sqlx::query(
        "SELECT f.generation, f.outcome FROM feedback f LEFT JOIN versions v ON v.service = f.service AND v.id = f.generation \
         WHERE f.service = $1 AND f.node = $2 AND f.created_at >= $3 AND f.created_at <= $4 ORDER BY v.seq, f.created_at",
    )
    .bind(service)
    .bind(node)
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
    fn log_is_bounded() {
        let log = RequestLog::default();
        let served = Served { service: "s".into(), generation: "v1".into(), revision: 1 };
        for i in 0..REQUEST_LOG_CAPACITY + 5 {
            log.remember(&format!("r{i}"), served.clone());
        }
        assert!(log.get("r0").is_none());
        assert!(log.get("r4").is_none());
        assert_eq!(log.get("r5"), Some(served));
    }

    #[test]
    fn outcomes_are_numbers_or_booleans() {
        assert_eq!(outcome_value(&serde_json::json!(true)).ok(), Some((1.0, true)));
        assert_eq!(outcome_value(&serde_json::json!(0)).ok(), Some((0.0, true)));
        assert_eq!(outcome_value(&serde_json::json!(12.5)).ok(), Some((12.5, false)));
        assert!(outcome_value(&serde_json::json!("yes")).is_err());
    }
}
