//! `POST /v1/services/{service}/predict` and the health endpoints.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value, json};

use super::body::{JsonBody, PathOf};
use super::error::ApiResult;
use super::{AppState, Authorized, GENERATION_HEADER, KEY_HEADER};
use crate::engine::Routing;
use crate::error::Error;
use crate::model::Prediction;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PredictBody {
    features: Map<String, Value>,
}

impl PredictBody {
    pub(super) fn features(&self) -> &Map<String, Value> {
        &self.features
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, Error> {
    match headers.get(name) {
        None => Ok(None),
        Some(v) => {
            v.to_str().map(Some).map_err(|_| Error::InvalidInput(format!("header {name} must be visible ASCII")))
        }
    }
}

/// The answer of a prediction, serialized straight from the outcome (no `Value` tree): keys
/// in alphabetical order and probabilities sorted by class name, as a `serde_json::Map`
/// would write them.
#[derive(Serialize)]
struct Answer<'a> {
    generation: &'a str,
    latency_ms: f64,
    prediction: AnswerValue<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    probabilities: Option<Probabilities<'a>>,
    request_id: &'a str,
    revision: i64,
    service: &'a str,
}

#[derive(Serialize)]
#[serde(untagged)]
enum AnswerValue<'a> {
    Class(&'a str),
    Value(f64),
}

/// Class → probability, sorted by class; a repeated class keeps its last probability.
struct Probabilities<'a>(Vec<(&'a str, f64)>);

impl<'a> Probabilities<'a> {
    fn sorted(probabilities: &'a [(String, f64)]) -> Self {
        let mut v: Vec<(&str, f64)> = probabilities.iter().map(|(k, p)| (k.as_str(), *p)).collect();
        // Stable, so among equal classes the last one stays last; keep it (as a map insert would).
        v.sort_by(|a, b| a.0.cmp(b.0));
        let mut out: Vec<(&str, f64)> = Vec::with_capacity(v.len());
        for (k, p) in v {
            match out.last_mut() {
                Some(last) if last.0 == k => last.1 = p,
                _ => out.push((k, p)),
            }
        }
        Self(out)
    }
}

impl Serialize for Probabilities<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(k, p)| (*k, *p)))
    }
}

pub async fn predict(
    _: Authorized,
    State(state): State<AppState>,
    PathOf(service): PathOf<String>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<PredictBody>,
) -> ApiResult<Response> {
    let routing = Routing { generation: header(&headers, GENERATION_HEADER)?, key: header(&headers, KEY_HEADER)? };
    let out = state.engine.predict(&service, &body.features, routing).await?;
    let (prediction, probabilities) = match &out.prediction {
        Prediction::Class { class, probabilities, .. } => {
            (AnswerValue::Class(class), Some(Probabilities::sorted(probabilities)))
        }
        Prediction::Value(v) => (AnswerValue::Value(*v), None),
    };
    let answer = Answer {
        generation: out.generation.as_str(),
        latency_ms: (out.latency_ms * 1000.0).round() / 1000.0,
        prediction,
        probabilities,
        request_id: &out.request_id,
        revision: out.revision,
        service: out.service.as_str(),
    };
    let mut response = Json(answer).into_response();
    if let Ok(v) = HeaderValue::from_str(out.generation.as_str()) {
        response.headers_mut().insert(GENERATION_HEADER, v);
    }
    Ok(response)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedbackBody {
    request_id: String,
    outcome: Value,
}

/// `POST /v1/services/{service}/feedback`: the outcome of an earlier prediction.
pub async fn feedback(
    _: Authorized,
    State(state): State<AppState>,
    PathOf(service): PathOf<String>,
    JsonBody(body): JsonBody<FeedbackBody>,
) -> ApiResult<Response> {
    state.engine.feedback(&service, &body.request_id, &body.outcome).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({"request_id": body.request_id, "recorded": true}))).into_response())
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(State(state): State<AppState>) -> Response {
    let text = state.engine.metrics_text();
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response()
}

pub async fn live() -> Json<Value> {
    Json(json!({"live": true}))
}

/// Ready once the engine is open and every deployment of this node is active.
pub async fn ready(State(state): State<AppState>) -> Response {
    match state.engine.is_ready().await {
        true => (StatusCode::OK, Json(json!({"ready": true}))).into_response(),
        false => (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"ready": false}))).into_response(),
    }
}
