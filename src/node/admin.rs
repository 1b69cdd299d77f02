//! The admin API (`/admin/v1`): services, versions (ONNX upload), deployments, rollback,
//! history, canaries, and scenarios (`scenarios.rs`). Requires the bearer token when the node
//! has one.

use std::collections::BTreeMap;

use axum::Json;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Multipart, Query, RawQuery, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::Value;

use super::body::{JsonBody, PathOf, decode};
use super::error::{ApiError, ApiResult};
use super::{AUTHOR_HEADER, AppState};
use crate::auth::AuthMode;
use crate::deploy::canary::{CanaryAction, CanaryPlan};
use crate::error::Error;
use crate::registry::{NewVersion, Provenance};

pub(super) fn router(state: AppState) -> Router<AppState> {
    let upload_limit = state.config.upload_limit;
    Router::new()
        .route("/services", get(list_services).post(create_service))
        .route("/services/{service}", get(get_service))
        .route(
            "/services/{service}/versions",
            get(list_versions).post(create_version).layer(DefaultBodyLimit::max(upload_limit)),
        )
        .route("/services/{service}/versions/{version}", get(get_version))
        .route("/deployments/{service}", get(get_deployment).put(deploy))
        .route("/deployments/{service}/rollback", post(rollback))
        .route("/deployments/{service}/revisions", get(revisions))
        .route("/deployments/{service}/monitor", get(monitor))
        .route("/deployments/{service}/ab", get(ab))
        .route("/deployments/{service}/report", get(report))
        .route("/deployments/{service}/canary", get(get_canary).post(start_canary))
        .route("/deployments/{service}/canary/{action}", post(canary_action))
        .route("/deployments/{service}/auth", get(get_access).put(set_auth_mode))
        .route("/deployments/{service}/keys", post(create_key))
        .route("/deployments/{service}/keys/{id}/rotate", post(rotate_key))
        .route("/deployments/{service}/keys/{id}/revoke", post(revoke_key))
        .merge(super::scenarios::routes())
        .route_layer(middleware::from_fn_with_state(state, require_token))
}

async fn require_token(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if let Some(token) = &state.config.admin_token {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if !given.is_some_and(|g| crate::auth::same_secret(g.as_bytes(), token.as_bytes())) {
            return ApiError(Error::Unauthorized(
                "the admin API needs 'Authorization: Bearer <token>' with this node's admin token".into(),
            ))
            .into_response();
        }
    }
    next.run(req).await
}

/// Who made a change: the body's `author`, else the `x-switchyard-author` header.
pub(super) fn author(body: Option<&str>, headers: &HeaderMap) -> String {
    body.map(str::to_owned)
        .or_else(|| headers.get(AUTHOR_HEADER).and_then(|v| v.to_str().ok()).map(str::to_owned))
        .filter(|a| !a.trim().is_empty())
        .map(|a| a.chars().take(200).collect())
        .unwrap_or_else(|| "admin-api".to_owned())
}

async fn list_services(State(s): State<AppState>) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.engine.list_services().await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateService {
    name: String,
    #[serde(default)]
    description: String,
}

async fn create_service(
    State(s): State<AppState>,
    JsonBody(b): JsonBody<CreateService>,
) -> ApiResult<impl IntoResponse> {
    Ok((StatusCode::CREATED, Json(s.engine.create_service(&b.name, &b.description).await?)))
}

async fn get_service(State(s): State<AppState>, PathOf(service): PathOf<String>) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.engine.get_service(&service).await?))
}

async fn list_versions(State(s): State<AppState>, PathOf(service): PathOf<String>) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.engine.list_versions(&service).await?))
}

async fn get_version(
    State(s): State<AppState>,
    PathOf((service, version)): PathOf<(String, String)>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.engine.get_version(&service, &version).await?))
}

/// The `meta` part of a version upload.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct VersionMeta {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub unique: bool,
    #[serde(default)]
    pub metrics: BTreeMap<String, f64>,
    #[serde(default)]
    pub notes: String,
    #[serde(default)]
    pub author: Option<String>,
    #[serde(default)]
    pub details: BTreeMap<String, String>,
}

/// Multipart upload: a `model` part (the .onnx file) and an optional `meta` part (JSON).
async fn create_version(
    State(s): State<AppState>,
    PathOf(service): PathOf<String>,
    headers: HeaderMap,
    mut form: Multipart,
) -> ApiResult<impl IntoResponse> {
    let mut model: Option<(Vec<u8>, Option<String>)> = None;
    let mut meta = VersionMeta::default();
    let bad = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError(Error::PayloadTooLarge("the model file is over the upload limit".into()))
        } else {
            ApiError(Error::InvalidInput(format!("cannot read the upload: {e}")))
        }
    };
    while let Some(field) = form.next_field().await.map_err(bad)? {
        match field.name() {
            Some("model") => {
                let file_name = field.file_name().map(str::to_owned);
                model = Some((field.bytes().await.map_err(bad)?.to_vec(), file_name));
            }
            Some("meta") => meta = decode(&field.bytes().await.map_err(bad)?)?,
            other => {
                return Err(ApiError(Error::InvalidInput(format!(
                    "unexpected form part {other:?}: send 'model' (the .onnx file) and optionally 'meta' (JSON)"
                ))));
            }
        }
    }
    let (bytes, source_file) = model
        .ok_or_else(|| ApiError(Error::InvalidInput("the upload has no 'model' part with the .onnx file".into())))?;
    let new = NewVersion {
        id: meta.id,
        unique: meta.unique,
        metrics: meta.metrics,
        notes: meta.notes,
        provenance: Provenance {
            created_by: author(meta.author.as_deref(), &headers),
            source_file,
            details: meta.details,
        },
    };
    Ok((StatusCode::CREATED, Json(s.engine.create_version(&service, bytes, new).await?)))
}

async fn get_deployment(State(s): State<AppState>, PathOf(service): PathOf<String>) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.engine.deployment(&service).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeployBody {
    config: Value,
    #[serde(default)]
    author: Option<String>,
    #[serde(default)]
    reason: String,
}

async fn deploy(
    State(s): State<AppState>,
    PathOf(service): PathOf<String>,
    headers: HeaderMap,
    JsonBody(b): JsonBody<DeployBody>,
) -> ApiResult<impl IntoResponse> {
    let who = author(b.author.as_deref(), &headers);
    Ok(Json(s.engine.deploy(&service, &b.config, &who, &b.reason).await?))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RollbackBody {
    #[serde(default)]
    to_revision: Option<i64>,
    #[serde(default)]
    author: Option<String>,
    #[serde(default)]
    reason: String,
}

async fn rollback(
    State(s): State<AppState>,
    PathOf(service): PathOf<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<impl IntoResponse> {
    let b: RollbackBody = if body.is_empty() { RollbackBody::default() } else { decode(&body)? };
    let who = author(b.author.as_deref(), &headers);
    Ok(Json(s.engine.rollback(&service, b.to_revision, &who, &b.reason).await?))
}

async fn revisions(State(s): State<AppState>, PathOf(service): PathOf<String>) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.engine.revisions(&service).await?))
}

#[derive(Deserialize)]
struct Window {
    #[serde(default)]
    minutes: Option<i64>,
    /// Unix milliseconds.
    #[serde(default)]
    since: Option<i64>,
}

async fn monitor(
    State(s): State<AppState>,
    PathOf(service): PathOf<String>,
    Query(w): Query<Window>,
) -> ApiResult<impl IntoResponse> {
    s.engine.get_service(&service).await?;
    Ok(Json(s.engine.monitor(&service, w.minutes.unwrap_or(60))))
}

async fn get_access(State(s): State<AppState>, PathOf(service): PathOf<String>) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.engine.access(&service).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetMode {
    mode: AuthMode,
}

async fn set_auth_mode(
    State(s): State<AppState>,
    PathOf(service): PathOf<String>,
    JsonBody(b): JsonBody<SetMode>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.engine.set_auth_mode(&service, b.mode).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateKey {
    name: String,
}

async fn create_key(
    State(s): State<AppState>,
    PathOf(service): PathOf<String>,
    JsonBody(b): JsonBody<CreateKey>,
) -> ApiResult<impl IntoResponse> {
    Ok((StatusCode::CREATED, Json(s.engine.create_key(&service, &b.name).await?)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Rotate {
    /// How long the old key keeps working, seconds.
    overlap_seconds: u64,
}

async fn rotate_key(
    State(s): State<AppState>,
    PathOf((service, id)): PathOf<(String, i64)>,
    JsonBody(b): JsonBody<Rotate>,
) -> ApiResult<impl IntoResponse> {
    let overlap = std::time::Duration::from_secs(b.overlap_seconds);
    Ok((StatusCode::CREATED, Json(s.engine.rotate_key(&service, id, overlap).await?)))
}

async fn revoke_key(
    State(s): State<AppState>,
    PathOf((service, id)): PathOf<(String, i64)>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.engine.revoke_key(&service, id).await?))
}

async fn ab(
    State(s): State<AppState>,
    PathOf(service): PathOf<String>,
    Query(w): Query<Window>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.engine.ab_results(&service, w.since).await?))
}

/// The data of a deployment report ([`crate::report::ReportData`]) over `since` to `until`
/// (Unix milliseconds; default the last 24 hours); clients render it.
async fn report(
    State(s): State<AppState>,
    PathOf(service): PathOf<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<impl IntoResponse> {
    let (mut since, mut until) = (None, None);
    for pair in query.as_deref().unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let slot = match key {
            "since" => &mut since,
            "until" => &mut until,
            _ => {
                return Err(ApiError(Error::InvalidInput(format!(
                    "unknown report parameter '{}': use since and until (Unix milliseconds)",
                    key.chars().take(32).collect::<String>()
                ))));
            }
        };
        let time = value.parse::<i64>().ok().and_then(chrono::DateTime::from_timestamp_millis).ok_or_else(|| {
            ApiError(Error::InvalidInput(format!(
                "{key}='{}' is not a time in Unix milliseconds",
                value.chars().take(32).collect::<String>()
            )))
        })?;
        *slot = Some(time);
    }
    let until = until.unwrap_or_else(chrono::Utc::now);
    let since = since.unwrap_or(until - chrono::Duration::hours(24));
    Ok(Json(s.engine.report_data(&service, since, until).await?))
}

async fn get_canary(State(s): State<AppState>, PathOf(service): PathOf<String>) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.engine.canary(&service).await?))
}

async fn start_canary(
    State(s): State<AppState>,
    PathOf(service): PathOf<String>,
    headers: HeaderMap,
    JsonBody(plan): JsonBody<CanaryPlan>,
) -> ApiResult<impl IntoResponse> {
    let who = author(None, &headers);
    Ok((StatusCode::CREATED, Json(s.engine.start_canary(&service, plan, &who).await?)))
}

async fn canary_action(
    State(s): State<AppState>,
    PathOf((service, action)): PathOf<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<impl IntoResponse> {
    let action = match action.as_str() {
        "pause" => CanaryAction::Pause,
        "resume" => CanaryAction::Resume,
        "promote" => CanaryAction::Promote,
        "abort" => CanaryAction::Abort,
        other => {
            return Err(ApiError(Error::NoEndpoint(format!(
                "unknown canary action '{}': use pause, resume, promote or abort",
                other.chars().take(32).collect::<String>()
            ))));
        }
    };
    let who = author(None, &headers);
    Ok(Json(s.engine.canary_action(&service, action, &who).await?))
}
