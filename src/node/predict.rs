//! `POST /v1/services/{service}/predict` and the health endpoints.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
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

pub async fn predict(
    _: Authorized,
    State(state): State<AppState>,
    PathOf(service): PathOf<String>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<PredictBody>,
) -> ApiResult<Response> {
    let routing = Routing { generation: header(&headers, GENERATION_HEADER)?, key: header(&headers, KEY_HEADER)? };
    let out = state.engine.predict(&service, &body.features, routing).await?;
    let mut answer = json!({
        "request_id": out.request_id,
        "service": out.service,
        "generation": out.generation,
        "revision": out.revision,
        "latency_ms": (out.latency_ms * 1000.0).round() / 1000.0,
    });
    match out.prediction {
        Prediction::Class { class, probabilities, .. } => {
            answer["prediction"] = json!(class);
            answer["probabilities"] = Value::Object(probabilities.into_iter().map(|(k, p)| (k, json!(p))).collect());
        }
        Prediction::Value(v) => answer["prediction"] = json!(v),
    }
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
