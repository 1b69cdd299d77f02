//! Run and test: send one or N prediction requests to a node over HTTP, exactly as any
//! client would, and compare the observed split of generations with the active mapping.

use std::collections::BTreeMap;
use std::time::Instant;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::auth::ClientCredential;
use crate::client::NodeClient;
use crate::deploy::Serving;
use crate::error::{ErrorCode, Result};

/// How many requests are in flight at once during a run.
const CONCURRENCY: usize = 8;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRequest {
    pub service: String,
    pub features: serde_json::Map<String, Value>,
    pub count: usize,
    /// Force this generation instead of letting the router pick.
    pub generation: Option<String>,
    /// What the deployment's auth mode asks for, if anything.
    #[serde(default)]
    pub credential: Option<ClientCredential>,
    /// A CSV of rows (a header naming the features, then one row per request): each row is
    /// sent once, in order, instead of `features` `count` times.
    #[serde(default)]
    pub rows_csv: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct RunError {
    pub code: ErrorCode,
    pub message: String,
}

/// A prediction as the node answers it: a class name, or a regressor's value. (The document's
/// name for what `RunResult::prediction` holds; the result keeps the JSON it got.)
#[derive(Serialize, utoipa::ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // a document type
pub enum PredictionValue {
    Class(String),
    Value(f64),
}

/// One request of a run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct RunResult {
    pub index: usize,
    pub ok: bool,
    /// The node's id for the request (feedback names it).
    pub request_id: Option<String>,
    pub generation: Option<String>,
    #[schema(value_type = Option<PredictionValue>)]
    pub prediction: Option<Value>,
    /// Per-class probabilities of a classifier's answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probabilities: Option<BTreeMap<String, f64>>,
    /// Round trip measured by the console: request sent to answer read.
    pub latency_ms: f64,
    /// The node's own time for the request (its answer's `latency_ms`).
    pub server_latency_ms: Option<f64>,
    pub error: Option<RunError>,
}

/// A test run: each answer, the split of generations observed and the one expected.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct RunReport {
    pub service: String,
    pub count: usize,
    pub results: Vec<RunResult>,
    /// Answers per generation.
    pub counts: BTreeMap<String, usize>,
    pub errors: usize,
    /// The share each generation should get: the mapping's probabilities, or 1 for a forced
    /// or single generation.
    pub expected: BTreeMap<String, f64>,
    pub elapsed_ms: f64,
}

/// Run-and-test progress, streamed to the window while a run goes on.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct RunProgress {
    pub done: usize,
    pub total: usize,
}

/// The most requests one run may send.
pub const MAX_RUN: usize = 100_000;

/// The rows of a CSV with a header naming the features: a value that reads as a number is
/// sent as one, anything else as the text it is (the node then says what is wrong with it).
pub fn rows_from_csv(text: &str) -> Result<Vec<Value>> {
    let bad = |why: String| crate::Error::InvalidInput(format!("the CSV of rows cannot be read: {why}"));
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(text.as_bytes());
    let header = reader.headers().map_err(|e| bad(e.to_string()))?.clone();
    if header.iter().all(str::is_empty) {
        return Err(bad("it has no header naming the features".into()));
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| bad(e.to_string()))?;
        if rows.len() == MAX_RUN {
            return Err(bad(format!("it has more than {MAX_RUN} rows, the most one run sends")));
        }
        let row = header
            .iter()
            .zip(record.iter())
            .map(|(name, field)| {
                let value = match field.parse::<f64>().ok().and_then(serde_json::Number::from_f64) {
                    Some(n) => Value::Number(n),
                    None => Value::String(field.to_owned()),
                };
                (name.to_owned(), value)
            })
            .collect();
        rows.push(Value::Object(row));
    }
    if rows.is_empty() {
        return Err(bad("it has a header but no rows".into()));
    }
    Ok(rows)
}

/// Sends `request.count` requests (or one per row of `request.rows_csv`), at most
/// [`CONCURRENCY`] at a time, and reports each answer. `progress` is called after every
/// completed request; throttle in the caller if needed.
pub async fn run(
    node: &NodeClient,
    mut request: RunRequest,
    mut progress: impl FnMut(RunProgress),
) -> Result<RunReport> {
    // Each request's body: one per CSV row, or the same features for every request.
    let bodies = match request.rows_csv.take() {
        Some(text) => {
            let rows = rows_from_csv(&text)?;
            request.count = rows.len();
            rows
        }
        None => vec![Value::Object(std::mem::take(&mut request.features))],
    };
    if request.count == 0 || request.count > MAX_RUN {
        return Err(crate::Error::InvalidInput(format!("the number of requests must be between 1 and {MAX_RUN}")));
    }
    let deployment = node.deployment(&request.service).await?;
    let expected: BTreeMap<String, f64> = match (&request.generation, &deployment.config.serving) {
        (Some(g), _) => BTreeMap::from([(g.clone(), 1.0)]),
        (None, Serving::Single { generation }) => BTreeMap::from([(generation.to_string(), 1.0)]),
        (None, Serving::Multiple { mapping }) => {
            mapping.entries().iter().map(|e| (e.generation.to_string(), e.proba)).collect()
        }
    };
    let started = Instant::now();
    let mut results = Vec::with_capacity(request.count);
    let mut pending = futures_util::stream::FuturesUnordered::new();
    let mut next = 0;
    while results.len() < request.count {
        while next < request.count && pending.len() < CONCURRENCY {
            let (service, generation, credential) =
                (&request.service, request.generation.as_deref(), request.credential.as_ref());
            let features = bodies.get(next).unwrap_or(&bodies[0]);
            let index = next;
            pending.push(async move {
                let t = Instant::now();
                let answer = node.predict(service, features, generation, None, credential).await;
                (index, answer, t.elapsed().as_secs_f64() * 1e3)
            });
            next += 1;
        }
        let Some((index, answer, latency_ms)) = pending.next().await else { break };
        results.push(match answer {
            Ok(r) => RunResult {
                index,
                ok: true,
                request_id: Some(r.request_id),
                generation: Some(r.generation),
                prediction: Some(r.prediction),
                probabilities: r.probabilities,
                latency_ms,
                server_latency_ms: Some(r.latency_ms),
                error: None,
            },
            Err(e) => RunResult {
                index,
                ok: false,
                request_id: None,
                generation: None,
                prediction: None,
                probabilities: None,
                latency_ms,
                server_latency_ms: None,
                error: Some(RunError { code: e.code(), message: e.to_string() }),
            },
        });
        progress(RunProgress { done: results.len(), total: request.count });
    }
    drop(pending);
    results.sort_by_key(|r| r.index);
    let mut counts = BTreeMap::new();
    for g in results.iter().filter_map(|r| r.generation.clone()) {
        *counts.entry(g).or_insert(0) += 1;
    }
    let errors = results.iter().filter(|r| !r.ok).count();
    Ok(RunReport {
        service: request.service,
        count: request.count,
        results,
        counts,
        errors,
        expected,
        elapsed_ms: started.elapsed().as_secs_f64() * 1e3,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::rows_from_csv;

    #[test]
    fn csv_rows_name_their_features_and_keep_numbers_as_numbers() {
        let rows = rows_from_csv("a, b ,c\n1.5,-2,\"x, y\"\n0,3e2,\n").expect("rows");
        assert_eq!(rows, [json!({"a": 1.5, "b": -2.0, "c": "x, y"}), json!({"a": 0.0, "b": 300.0, "c": ""})]);
    }

    #[test]
    fn an_unreadable_csv_is_named() {
        let message = |text: &str| rows_from_csv(text).expect_err(text).to_string();
        assert!(message("a,b\n").contains("a header but no rows"), "{}", message("a,b\n"));
        assert!(message("").contains("no header"), "{}", message(""));
        // A row with more fields than the header.
        assert!(message("a,b\n1,2,3\n").contains("cannot be read"), "{}", message("a,b\n1,2,3\n"));
    }
}
