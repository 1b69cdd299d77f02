//! `POST /v1/services/{service}/predict` and the health endpoints.

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::body::{JsonBody, PathOf};
use super::error::{ApiError, ApiResult};
use super::openapi::ServicePath;
use super::{AppState, Authorized, GENERATION, KEY};
use crate::engine::Routing;
use crate::error::Error;
use crate::model::Prediction;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"features": {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}}))]
pub struct PredictBody {
    /// One value per feature of the version's input schema, by name.
    #[schema(value_type = BTreeMap<String, f64>)]
    features: Map<String, Value>,
}

impl PredictBody {
    pub(super) fn features(&self) -> &Map<String, Value> {
        &self.features
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Result<Option<&'a str>, Error> {
    match headers.get(name) {
        None => Ok(None),
        Some(v) => {
            v.to_str().map(Some).map_err(|_| Error::InvalidInput(format!("header {name} must be visible ASCII")))
        }
    }
}

/// The routing headers of a prediction request, taken from the request's parts (the
/// `HeaderMap` extractor would copy every header of every request).
pub(crate) struct RoutingHeaders {
    generation: Option<String>,
    key: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for RoutingHeaders {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let owned = |name| header(&parts.headers, name).map(|v| v.map(str::to_owned));
        Ok(RoutingHeaders { generation: owned(&GENERATION)?, key: owned(&KEY)? })
    }
}

impl RoutingHeaders {
    fn routing(&self) -> Routing<'_> {
        Routing { generation: self.generation.as_deref(), key: self.key.as_deref() }
    }
}

/// The answer of a prediction, serialized straight from the outcome (no `Value` tree): keys
/// in alphabetical order and probabilities sorted by class name, as a `serde_json::Map`
/// would write them.
#[derive(Serialize, ToSchema)]
#[schema(as = PredictAnswer)]
struct Answer<'a> {
    /// The generation (version) that produced this answer.
    generation: &'a str,
    /// Time in the model, milliseconds.
    latency_ms: f64,
    prediction: AnswerValue<'a>,
    /// A classifier's probability per class.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<BTreeMap<String, f64>>)]
    probabilities: Option<Probabilities<'a>>,
    /// Names this prediction in a later `feedback` call.
    request_id: &'a str,
    /// The deployment revision that routed it.
    revision: i64,
    service: &'a str,
}

/// A classifier's class label, or a regressor's value.
#[derive(Serialize, ToSchema)]
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

/// Predicts with the generation the deployment's router picks (or the one forced with
/// `x-switchyard-generation`); `x-switchyard-key` makes the pick sticky when the deployment is.
#[utoipa::path(
    post, path = "/v1/services/{service}/predict", tag = "predict", operation_id = "predict",
    params(
        ServicePath,
        ("x-switchyard-generation" = Option<String>, Header, description = "Force this live generation"),
        ("x-switchyard-key" = Option<String>, Header, description = "Sticky assignment key"),
    ),
    request_body = PredictBody,
    responses(
        (status = 200, description = "The prediction and the generation that made it", body = Answer,
         headers(("x-switchyard-generation" = String, description = "The generation that answered"))),
        (status = 404, description = "Unknown service, not deployed, or the forced generation is not live", body = super::error::ErrorBody),
    ),
    security((), ("api_key" = []), ("x_api_key" = []), ("basic" = [])),
)]
pub async fn predict(
    _: Authorized,
    State(state): State<AppState>,
    PathOf(service): PathOf<String>,
    headers: RoutingHeaders,
    JsonBody(body): JsonBody<PredictBody>,
) -> ApiResult<Response> {
    let out = state.engine.predict(&service, &body.features, headers.routing()).await?;
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
    // Written once into a buffer sized for a typical answer (axum's `Json` starts at 128
    // bytes and grows, copying), with the same bytes and content type.
    let mut body = Vec::with_capacity(ANSWER_CAPACITY);
    serde_json::to_writer(&mut body, &answer).map_err(|e| Error::Internal(format!("cannot write the answer: {e}")))?;
    let mut response = ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response();
    if let Ok(v) = HeaderValue::from_str(out.generation.as_str()) {
        response.headers_mut().insert(GENERATION, v);
    }
    Ok(response)
}

/// Bytes reserved for a prediction's answer: a request id, a few names, a handful of
/// probabilities.
const ANSWER_CAPACITY: usize = 384;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeedbackBody {
    /// The `request_id` of the prediction.
    request_id: String,
    /// What really happened: a class label (string) or a value (number).
    outcome: Value,
}

#[derive(Serialize, ToSchema)]
pub struct FeedbackRecorded {
    request_id: String,
    recorded: bool,
}

/// The outcome of an earlier prediction, for A/B comparisons.
#[utoipa::path(
    post, path = "/v1/services/{service}/feedback", tag = "predict", operation_id = "feedback",
    params(ServicePath),
    request_body = FeedbackBody,
    responses(
        (status = 202, description = "Recorded", body = FeedbackRecorded),
        (status = 404, description = "Unknown service, or the request id is not (or no longer) known", body = super::error::ErrorBody),
    ),
    security((), ("api_key" = []), ("x_api_key" = []), ("basic" = [])),
)]
pub async fn feedback(
    _: Authorized,
    State(state): State<AppState>,
    PathOf(service): PathOf<String>,
    JsonBody(body): JsonBody<FeedbackBody>,
) -> ApiResult<Response> {
    state.engine.feedback(&service, &body.request_id, &body.outcome).await?;
    Ok((StatusCode::ACCEPTED, Json(FeedbackRecorded { request_id: body.request_id, recorded: true })).into_response())
}

/// Prometheus metrics of this node.
#[utoipa::path(
    get, path = "/metrics", tag = "node", operation_id = "metrics",
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain")),
)]
pub async fn metrics(State(state): State<AppState>) -> Response {
    let text = state.engine.metrics_text();
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response()
}

#[derive(Serialize, ToSchema)]
pub struct Live {
    live: bool,
}

#[derive(Serialize, ToSchema)]
pub struct Ready {
    ready: bool,
}

/// Liveness (Open Inference Protocol): the process answers.
#[utoipa::path(
    get, path = "/v2/health/live", tag = "node", operation_id = "live",
    responses((status = 200, description = "Live", body = Live)),
)]
pub async fn live() -> Json<Live> {
    Json(Live { live: true })
}

/// Readiness (Open Inference Protocol): the engine is open and every deployment of this node
/// is active.
#[utoipa::path(
    get, path = "/v2/health/ready", tag = "node", operation_id = "ready",
    responses(
        (status = 200, description = "Ready", body = Ready),
        (status = 503, description = "Not ready yet", body = Ready),
    ),
)]
pub async fn ready(State(state): State<AppState>) -> Response {
    let ready = state.engine.is_ready().await;
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(Ready { ready })).into_response()
}
