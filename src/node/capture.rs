//! Capture and replay routes of the admin API (`/admin/v1/deployments/{service}/capture…`,
//! `…/replays…`): the capture policy and status, captured rows, export, and replays.

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::body::{JsonBody, PathOf, QueryOf, numeric_id};
use super::error::{ApiResult, ErrorBody};
use super::openapi::ServicePath;
use super::principal::Caller;
use crate::capture::export::ExportFormat;
use crate::capture::replay::{Replay, ReplayRequest};
use crate::capture::store::{CaptureRow, RowFilter};
use crate::capture::{CapturePolicy, CaptureStatus};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_capture, set_capture))
        .routes(routes!(capture_rows))
        .routes(routes!(export_capture))
        .routes(routes!(list_replays, start_replay))
        .routes(routes!(get_replay))
        .routes(routes!(cancel_replay))
}

/// `{service}` and `{id}` of a replay.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // a document type: the handlers read the path with `PathOf`
struct ReplayPath {
    service: crate::names::ServiceName,
    /// The replay's number.
    id: i64,
}

/// A deployment's capture policy (none: off), the rows stored and the rows this node dropped.
#[utoipa::path(get, path = "/deployments/{service}/capture", tag = "capture", operation_id = "get_capture",
    params(ServicePath), responses((status = 200, description = "The capture", body = CaptureStatus)))]
async fn get_capture(State(s): State<AppState>, PathOf(service): PathOf<String>) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.engine.capture_status(&service).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct SetCapture {
    /// The policy; null turns capture off (rows already stored are kept until retention).
    policy: Option<CapturePolicy>,
}

/// Sets or turns off a deployment's capture policy.
#[utoipa::path(put, path = "/deployments/{service}/capture", tag = "capture", operation_id = "set_capture",
    params(ServicePath), request_body = SetCapture,
    responses(
        (status = 200, description = "The capture", body = CaptureStatus),
        (status = 400, description = "A percent outside 0–100, or a feature the service does not have", body = ErrorBody),
    ))]
async fn set_capture(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    PathOf(service): PathOf<String>,
    JsonBody(b): JsonBody<SetCapture>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.engine.set_capture_policy(&service, b.policy, &caller.principal.name).await?))
}

/// Captured requests, newest first, with their feedback.
#[utoipa::path(get, path = "/deployments/{service}/capture/rows", tag = "capture", operation_id = "capture_rows",
    params(ServicePath, RowFilter), responses((status = 200, description = "The rows", body = Vec<CaptureRow>)))]
async fn capture_rows(
    State(s): State<AppState>,
    PathOf(service): PathOf<String>,
    QueryOf(filter): QueryOf<RowFilter>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.engine.capture_rows(&service, &filter).await?))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ExportQuery {
    /// A duration back from now (`7d`) or an RFC 3339 time (default: every row).
    #[serde(default)]
    since: Option<String>,
    /// `csv` (default) or `jsonl`.
    #[serde(default)]
    format: Option<ExportFormat>,
}

/// Captured requests as CSV or JSON Lines, features in the model's order.
#[utoipa::path(get, path = "/deployments/{service}/capture/export", tag = "capture", operation_id = "export_capture",
    params(ServicePath, ExportQuery),
    responses((status = 200, description = "The rows: CSV (`format=csv`) or JSON Lines (`format=jsonl`)",
        content((String = "text/csv"), (String = "application/x-ndjson")))))]
async fn export_capture(
    State(s): State<AppState>,
    PathOf(service): PathOf<String>,
    QueryOf(q): QueryOf<ExportQuery>,
) -> ApiResult<impl IntoResponse> {
    let format = q.format.unwrap_or(ExportFormat::Csv);
    let text = s.engine.export_capture(&service, q.since.as_deref(), format).await?;
    let content_type = match format {
        ExportFormat::Csv => "text/csv; charset=utf-8",
        ExportFormat::Jsonl => "application/x-ndjson",
    };
    Ok(([(header::CONTENT_TYPE, content_type)], text))
}

/// A service's replays, newest first.
#[utoipa::path(get, path = "/deployments/{service}/replays", tag = "capture", operation_id = "list_replays",
    params(ServicePath), responses((status = 200, description = "The replays", body = Vec<Replay>)))]
async fn list_replays(State(s): State<AppState>, PathOf(service): PathOf<String>) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.engine.replays(&service).await?))
}

/// Starts replaying captured requests through a version, in the engine (never over HTTP, never
/// on the live deployment). Poll the replay for progress and figures.
#[utoipa::path(post, path = "/deployments/{service}/replays", tag = "capture", operation_id = "start_replay",
    params(ServicePath), request_body = ReplayRequest,
    responses(
        (status = 202, description = "Started", body = Replay),
        (status = 400, description = "No captured request in the window, or the version's features differ (named)", body = ErrorBody),
    ))]
async fn start_replay(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    PathOf(service): PathOf<String>,
    JsonBody(b): JsonBody<ReplayRequest>,
) -> ApiResult<impl IntoResponse> {
    Ok((StatusCode::ACCEPTED, Json(s.engine.start_replay(&service, &b, &caller.principal.name).await?)))
}

/// One replay: progress while it runs, figures when done.
#[utoipa::path(get, path = "/deployments/{service}/replays/{id}", tag = "capture", operation_id = "get_replay",
    params(ReplayPath), responses((status = 200, description = "The replay", body = Replay)))]
async fn get_replay(
    State(s): State<AppState>,
    PathOf((service, id)): PathOf<(String, String)>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.engine.replay(&service, numeric_id("replay", &id)?).await?))
}

/// Cancels a running replay; it stops after the batch in progress and keeps its figures so far.
#[utoipa::path(post, path = "/deployments/{service}/replays/{id}/cancel", tag = "capture", operation_id = "cancel_replay",
    params(ReplayPath),
    responses(
        (status = 200, description = "Cancelling, or already finished (as it is)", body = Replay),
        (status = 409, description = "Running on another node", body = ErrorBody),
    ))]
async fn cancel_replay(
    State(s): State<AppState>,
    PathOf((service, id)): PathOf<(String, String)>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.engine.cancel_replay(&service, numeric_id("replay", &id)?).await?))
}
