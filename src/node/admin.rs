//! The admin API (`/admin/v1`): services, versions (ONNX upload), deployments, rollback,
//! history, canaries, and scenarios (`scenarios.rs`); principals, approvals and the audit
//! (`people.rs`). Every route declares its permission in `principal::PERMISSIONS`, checked
//! before the handler runs.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{DefaultBodyLimit, Extension, Multipart, RawQuery, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::body::{JsonBody, PathOf, QueryOf, RawBody, decode};
use super::error::{ApiError, ApiResult, ErrorBody};
use super::openapi::{KeyPath, ServicePath, VersionPath};
use super::principal::{AuditNote, Caller};
use crate::approval::ApprovalRequest;
use crate::auth::{AccessView, AuthMode, NewKey};
use crate::deploy::Revision;
use crate::deploy::canary::{Canary, CanaryAction, CanaryPlan};
use crate::engine::{CanaryOutcome, DeployOutcome, ServiceSummary, VersionView};
use crate::error::Error;
use crate::mlflow::{MlflowImport, MlflowModels, VersionSummary};
use crate::monitor::MonitorSnapshot;
use crate::monitor::ab::AbReport;
use crate::registry::{NewVersion, Provenance, Service, Version};
use crate::report::ReportData;

/// The admin routes; `router()` adds the permission check and the audit.
pub(super) fn routes(upload_limit: usize) -> OpenApiRouter<AppState> {
    let uploads =
        OpenApiRouter::new().routes(routes!(list_versions, create_version)).layer(DefaultBodyLimit::max(upload_limit));
    OpenApiRouter::new()
        .routes(routes!(list_services, create_service))
        .routes(routes!(get_service))
        .merge(uploads)
        .routes(routes!(get_version))
        .routes(routes!(import_mlflow_version))
        .routes(routes!(mlflow_models))
        .routes(routes!(mlflow_versions))
        .routes(routes!(get_deployment, deploy))
        .routes(routes!(rollback))
        .routes(routes!(revisions))
        .routes(routes!(monitor))
        .routes(routes!(drift))
        .routes(routes!(ab))
        .routes(routes!(report))
        .routes(routes!(get_canary, start_canary))
        .routes(routes!(canary_action))
        .routes(routes!(get_access, set_auth_mode))
        .routes(routes!(create_key))
        .routes(routes!(rotate_key))
        .routes(routes!(revoke_key))
        .merge(super::scenarios::routes())
        .merge(super::capture::routes())
        .merge(super::people::routes())
        .merge(super::artifacts::routes())
        .merge(super::webhooks::routes())
}

/// Every service, with what serves it.
#[utoipa::path(get, path = "/services", tag = "services", operation_id = "list_services",
    responses((status = 200, description = "The services", body = Vec<ServiceSummary>)))]
async fn list_services(State(s): State<AppState>) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.engine.list_services().await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateService {
    #[schema(value_type = crate::names::ServiceName)]
    name: String,
    #[serde(default)]
    description: String,
}

/// Creates a service (no versions yet).
#[utoipa::path(post, path = "/services", tag = "services", operation_id = "create_service",
    request_body = CreateService,
    responses(
        (status = 201, description = "Created", body = Service),
        (status = 409, description = "A service of that name exists", body = ErrorBody),
    ))]
async fn create_service(
    State(s): State<AppState>,
    JsonBody(b): JsonBody<CreateService>,
) -> ApiResult<impl IntoResponse> {
    Ok((StatusCode::CREATED, Json(s.engine.create_service(&b.name, &b.description).await?)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct MlflowImportRequest {
    /// `models:/NAME/VERSION` or `models:/NAME@ALIAS` on the node's MLflow tracking server.
    #[schema(example = "models:/churn@champion")]
    model_uri: String,
}

/// Imports a model from the node's MLflow tracking server (`serve --mlflow-uri`) as a version:
/// the ONNX file of a model logged with `mlflow.onnx.log_model`, the run's metrics, and its
/// provenance (model, version, run, source, alias). The same model imported again is
/// recognised by its hash: 200 with the existing version, nothing written.
#[utoipa::path(post, path = "/services/{service}/versions/mlflow", tag = "services", operation_id = "import_mlflow_version",
    params(ServicePath),
    request_body = MlflowImportRequest,
    responses(
        (status = 201, description = "Imported as a new version", body = MlflowImport),
        (status = 200, description = "Imported before: the existing version", body = MlflowImport),
        (status = 400, description = "Not an MLflow model URI, or the model is not ONNX (the flavour and the fix are named)", body = ErrorBody),
        (status = 404, description = "No such service, or MLflow has no such model, version or alias", body = ErrorBody),
        (status = 409, description = "The node has no MLflow tracking server", body = ErrorBody),
        (status = 502, description = "MLflow cannot be reached or refused the node's credentials", body = ErrorBody),
    ))]
async fn import_mlflow_version(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    PathOf(service): PathOf<String>,
    JsonBody(b): JsonBody<MlflowImportRequest>,
) -> ApiResult<impl IntoResponse> {
    let imported = s.engine.import_mlflow(&service, &b.model_uri, &caller.principal.name).await?;
    let status = if imported.created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(imported)))
}

/// The node's MLflow tracking server and its registered models (the first 200), with their
/// aliases: what `import_mlflow_version` can import.
#[utoipa::path(get, path = "/mlflow/models", tag = "services", operation_id = "mlflow_models",
    responses(
        (status = 200, description = "The registered models", body = MlflowModels),
        (status = 409, description = "The node has no MLflow tracking server", body = ErrorBody),
        (status = 502, description = "MLflow cannot be reached or refused the node's credentials", body = ErrorBody),
    ))]
async fn mlflow_models(State(s): State<AppState>) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.engine.mlflow_models().await?))
}

#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // a document type: the handler reads the path with `PathOf`
struct MlflowModelPath {
    /// A registered model's name in MLflow.
    model: String,
}

/// A registered model's 20 newest versions, newest first, with their aliases and run metrics.
#[utoipa::path(get, path = "/mlflow/models/{model}/versions", tag = "services", operation_id = "mlflow_versions",
    params(MlflowModelPath),
    responses(
        (status = 200, description = "The versions", body = Vec<VersionSummary>),
        (status = 404, description = "MLflow has no such model", body = ErrorBody),
        (status = 409, description = "The node has no MLflow tracking server", body = ErrorBody),
        (status = 502, description = "MLflow cannot be reached or refused the node's credentials", body = ErrorBody),
    ))]
async fn mlflow_versions(State(s): State<AppState>, PathOf(model): PathOf<String>) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.engine.mlflow_versions(&model).await?))
}

/// One service.
#[utoipa::path(get, path = "/services/{service}", tag = "services", operation_id = "get_service",
    params(ServicePath), responses((status = 200, description = "The service", body = Service)))]
async fn get_service(State(s): State<AppState>, PathOf(service): PathOf<String>) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.engine.get_service(&service).await?))
}

/// A service's versions, oldest first, with whether and how much each serves.
#[utoipa::path(get, path = "/services/{service}/versions", tag = "services", operation_id = "list_versions",
    params(ServicePath), responses((status = 200, description = "The versions", body = Vec<VersionView>)))]
async fn list_versions(State(s): State<AppState>, PathOf(service): PathOf<String>) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.engine.list_versions(&service).await?))
}

/// One version: its schema, metrics and provenance.
#[utoipa::path(get, path = "/services/{service}/versions/{version}", tag = "services", operation_id = "get_version",
    params(VersionPath), responses((status = 200, description = "The version", body = Version)))]
async fn get_version(
    State(s): State<AppState>,
    PathOf((service, version)): PathOf<(String, String)>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.engine.get_version(&service, &version).await?))
}

/// The `meta` part of a version upload.
#[derive(Deserialize, Default, ToSchema)]
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

/// The form of a version upload.
#[derive(ToSchema)]
#[allow(dead_code)] // a document type: the handler reads the parts one by one
struct VersionUpload {
    /// The .onnx file.
    #[schema(value_type = String, format = Binary)]
    model: Vec<u8>,
    /// Id, metrics, notes, author and provenance details (JSON).
    meta: Option<VersionMeta>,
    /// A CSV of feature rows (header: the model's features) whose distributions become the
    /// version's drift reference.
    #[schema(value_type = Option<String>, format = Binary)]
    reference: Option<Vec<u8>>,
}

/// Creates a version from an ONNX model: a multipart upload with a `model` part (the .onnx
/// file), an optional `meta` part (JSON) and an optional `reference` part (a CSV of feature
/// rows: the drift reference). The model is checked and its schema read first.
#[utoipa::path(post, path = "/services/{service}/versions", tag = "services", operation_id = "create_version",
    params(ServicePath),
    request_body(content = VersionUpload, content_type = "multipart/form-data"),
    responses(
        (status = 201, description = "Created", body = Version),
        (status = 409, description = "The version id exists", body = ErrorBody),
    ))]
async fn create_version(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    PathOf(service): PathOf<String>,
    form: Result<Multipart, MultipartRejection>,
) -> ApiResult<impl IntoResponse> {
    let mut form = form.map_err(|e| {
        ApiError(Error::InvalidInput(format!("send the version as multipart/form-data: {}", e.body_text())))
    })?;
    let mut model: Option<(Vec<u8>, Option<String>)> = None;
    let mut meta = VersionMeta::default();
    let mut reference_csv = None;
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
            Some("reference") => {
                let bytes = field.bytes().await.map_err(bad)?;
                reference_csv = Some(
                    String::from_utf8(bytes.to_vec())
                        .map_err(|_| ApiError(Error::InvalidInput("the reference CSV is not UTF-8 text".into())))?,
                );
            }
            other => {
                return Err(ApiError(Error::InvalidInput(format!(
                    "unexpected form part {other:?}: send 'model' (the .onnx file) and optionally 'meta' (JSON) and 'reference' (CSV)"
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
            created_by: match meta.author.as_deref().map(str::trim).filter(|a| !a.is_empty()) {
                Some(a) if a != caller.principal.name => {
                    format!("{} ({})", caller.principal.name, a.chars().take(100).collect::<String>())
                }
                _ => caller.principal.name.clone(),
            },
            source_file,
            details: meta.details,
        },
        reference_csv,
    };
    Ok((StatusCode::CREATED, Json(s.engine.create_version(&service, bytes, new).await?)))
}

/// The deployment's current revision.
#[utoipa::path(get, path = "/deployments/{service}", tag = "deployments", operation_id = "get_deployment",
    params(ServicePath), responses((status = 200, description = "The current revision", body = Revision)))]
async fn get_deployment(State(s): State<AppState>, PathOf(service): PathOf<String>) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.engine.deployment(&service).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct DeployBody {
    /// What serves: one generation, or a mapping of generations with probabilities.
    #[schema(value_type = crate::deploy::DeploymentConfig)]
    config: Value,
    #[serde(default)]
    reason: String,
}

/// Deploys a config: a new revision, live at once, written in the caller's name. On a
/// protected service, records an approval request instead (202).
#[utoipa::path(put, path = "/deployments/{service}", tag = "deployments", operation_id = "deploy",
    params(ServicePath, ("x-switchyard-author" = Option<String>, Header, description = "The client's name for the audit")),
    request_body = DeployBody,
    responses(
        (status = 200, description = "The new revision", body = Revision),
        (status = 202, description = "The service is protected: the approval request", body = ApprovalRequest),
        (status = 409, description = "`unchanged`: the config is the active one (no revision is written); `canary_conflict`: a canary runs on this deployment; `already_exists`: another change committed first", body = ErrorBody),
    ))]
async fn deploy(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    PathOf(service): PathOf<String>,
    JsonBody(b): JsonBody<DeployBody>,
) -> ApiResult<axum::response::Response> {
    Ok(match s.engine.deploy_as(&caller.principal, &service, &b.config, &b.reason).await? {
        DeployOutcome::Deployed { revision } => {
            (note(format!("revision {}", revision.number)), Json(revision)).into_response()
        }
        DeployOutcome::ApprovalRequested { request } => requested(request),
    })
}

/// The answer of a change that waits for approval: 202 with the request.
pub(super) fn requested(request: ApprovalRequest) -> axum::response::Response {
    let note = note(format!("approval request {} created", request.id));
    (StatusCode::ACCEPTED, note, Json(request)).into_response()
}

pub(super) fn note(text: String) -> Extension<AuditNote> {
    Extension(AuditNote(text))
}

#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
struct RollbackBody {
    /// The revision to restore. Default: the latest earlier revision whose config differs
    /// from the active one, and after a canary the revision live before it started. The new
    /// revision's reason names the revision restored and why it was chosen.
    #[serde(default)]
    to_revision: Option<i64>,
    #[serde(default)]
    reason: String,
}

/// Rolls back: a new revision with an earlier revision's config.
#[utoipa::path(post, path = "/deployments/{service}/rollback", tag = "deployments", operation_id = "rollback",
    params(ServicePath, ("x-switchyard-author" = Option<String>, Header, description = "The client's name for the audit")),
    request_body = Option<RollbackBody>,
    responses(
        (status = 200, description = "The new revision", body = Revision),
        (status = 409, description = "`unchanged`: that revision's config is the active one; `already_exists`: another change committed first", body = ErrorBody),
    ))]
async fn rollback(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    PathOf(service): PathOf<String>,
    RawBody(body): RawBody,
) -> ApiResult<impl IntoResponse> {
    let b: RollbackBody = if body.is_empty() { RollbackBody::default() } else { decode(&body)? };
    let revision = s.engine.rollback_as(&caller.principal, &service, b.to_revision, &b.reason).await?;
    Ok((note(format!("revision {}", revision.number)), Json(revision)))
}

/// Every revision, newest first.
#[utoipa::path(get, path = "/deployments/{service}/revisions", tag = "deployments", operation_id = "revisions",
    params(ServicePath), responses((status = 200, description = "The history", body = Vec<Revision>)))]
async fn revisions(State(s): State<AppState>, PathOf(service): PathOf<String>) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.engine.revisions(&service).await?))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct Minutes {
    /// How many minutes back (default 60).
    #[serde(default)]
    minutes: Option<i64>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct Since {
    /// From this time, Unix milliseconds (default: since the node started).
    #[serde(default)]
    since: Option<i64>,
}

/// Traffic, latency and errors per generation, minute by minute, on this node.
#[utoipa::path(get, path = "/deployments/{service}/monitor", tag = "deployments", operation_id = "monitor",
    params(ServicePath, Minutes), responses((status = 200, description = "The window", body = MonitorSnapshot)))]
async fn monitor(
    State(s): State<AppState>,
    PathOf(service): PathOf<String>,
    QueryOf(w): QueryOf<Minutes>,
) -> ApiResult<impl IntoResponse> {
    s.engine.get_service(&service).await?;
    Ok(Json(s.engine.monitor(&service, w.minutes.unwrap_or(60)).await?))
}

/// Drift of each generation against its reference, on this node: per feature PSI, KS on
/// the binned CDFs, PSI per minute and both histograms (most drifting first), and the
/// prediction distribution against the reference's.
#[utoipa::path(get, path = "/deployments/{service}/drift", tag = "deployments", operation_id = "drift",
    params(ServicePath, Minutes), responses((status = 200, description = "The window", body = crate::drift::DriftReport)))]
async fn drift(
    State(s): State<AppState>,
    PathOf(service): PathOf<String>,
    QueryOf(w): QueryOf<Minutes>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.engine.drift(&service, w.minutes.unwrap_or(60)).await?))
}

/// Who may call the deployment's prediction API: the auth mode and the keys (never their
/// secrets).
#[utoipa::path(get, path = "/deployments/{service}/auth", tag = "access", operation_id = "get_access",
    params(ServicePath), responses((status = 200, description = "Access settings", body = AccessView)))]
async fn get_access(State(s): State<AppState>, PathOf(service): PathOf<String>) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.engine.access(&service).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct SetMode {
    mode: AuthMode,
}

/// Sets the auth mode; api_key and basic need a usable key first.
#[utoipa::path(put, path = "/deployments/{service}/auth", tag = "access", operation_id = "set_auth_mode",
    params(ServicePath), request_body = SetMode,
    responses((status = 200, description = "Access settings", body = AccessView)))]
async fn set_auth_mode(
    State(s): State<AppState>,
    PathOf(service): PathOf<String>,
    JsonBody(b): JsonBody<SetMode>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.engine.set_auth_mode(&service, b.mode).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateKey {
    /// Who or what uses it (the user name in basic mode).
    name: String,
}

/// Creates a key; its secret is in this answer and nowhere else, ever.
#[utoipa::path(post, path = "/deployments/{service}/keys", tag = "access", operation_id = "create_key",
    params(ServicePath), request_body = CreateKey,
    responses((status = 201, description = "The key and its secret", body = NewKey)))]
async fn create_key(
    State(s): State<AppState>,
    PathOf(service): PathOf<String>,
    JsonBody(b): JsonBody<CreateKey>,
) -> ApiResult<impl IntoResponse> {
    Ok((StatusCode::CREATED, Json(s.engine.create_key(&service, &b.name).await?)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Rotate {
    /// How long the old key keeps working, seconds.
    overlap_seconds: u64,
}

/// Replaces a key with a new one; the old one keeps working for the overlap (at most 30 days).
#[utoipa::path(post, path = "/deployments/{service}/keys/{id}/rotate", tag = "access", operation_id = "rotate_key",
    params(KeyPath), request_body = Rotate,
    responses((status = 201, description = "The new key and its secret", body = NewKey)))]
async fn rotate_key(
    State(s): State<AppState>,
    PathOf((service, id)): PathOf<(String, i64)>,
    JsonBody(b): JsonBody<Rotate>,
) -> ApiResult<impl IntoResponse> {
    let overlap = std::time::Duration::from_secs(b.overlap_seconds);
    Ok((StatusCode::CREATED, Json(s.engine.rotate_key(&service, id, overlap).await?)))
}

/// Revokes a key at once.
#[utoipa::path(post, path = "/deployments/{service}/keys/{id}/revoke", tag = "access", operation_id = "revoke_key",
    params(KeyPath), responses((status = 200, description = "Access settings", body = AccessView)))]
async fn revoke_key(
    State(s): State<AppState>,
    PathOf((service, id)): PathOf<(String, i64)>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.engine.revoke_key(&service, id).await?))
}

/// A/B comparison of the generations from prediction feedback.
#[utoipa::path(get, path = "/deployments/{service}/ab", tag = "deployments", operation_id = "ab",
    params(ServicePath, Since), responses((status = 200, description = "Per-generation results and comparisons", body = AbReport)))]
async fn ab(
    State(s): State<AppState>,
    PathOf(service): PathOf<String>,
    QueryOf(w): QueryOf<Since>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.engine.ab_results(&service, w.since).await?))
}

/// The data of a deployment report over `since` to `until` (Unix milliseconds; default the
/// last 24 hours); clients render it.
#[utoipa::path(get, path = "/deployments/{service}/report", tag = "deployments", operation_id = "report",
    params(
        ServicePath,
        ("since" = Option<i64>, Query, description = "Start, Unix milliseconds (default: 24 hours before until)"),
        ("until" = Option<i64>, Query, description = "End, Unix milliseconds (default: now)"),
    ),
    responses((status = 200, description = "The report's data", body = ReportData)))]
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
    let until = until.unwrap_or_else(|| s.engine.now());
    let since = since.unwrap_or(until - chrono::Duration::hours(24));
    Ok(Json(s.engine.report_data(&service, since, until).await?))
}

/// The deployment's latest canary.
#[utoipa::path(get, path = "/deployments/{service}/canary", tag = "canary", operation_id = "get_canary",
    params(ServicePath), responses((status = 200, description = "The canary", body = Canary)))]
async fn get_canary(State(s): State<AppState>, PathOf(service): PathOf<String>) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.engine.canary(&service).await?))
}

/// Starts a canary of a version against what serves now. On a protected service, records
/// an approval request instead (202).
#[utoipa::path(post, path = "/deployments/{service}/canary", tag = "canary", operation_id = "start_canary",
    params(ServicePath), request_body = CanaryPlan,
    responses(
        (status = 201, description = "Started", body = Canary),
        (status = 202, description = "The service is protected: the approval request", body = ApprovalRequest),
        (status = 409, description = "A canary already runs", body = ErrorBody),
    ))]
async fn start_canary(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    PathOf(service): PathOf<String>,
    JsonBody(plan): JsonBody<CanaryPlan>,
) -> ApiResult<axum::response::Response> {
    Ok(match s.engine.start_canary_as(&caller.principal, &service, plan, "").await? {
        CanaryOutcome::Started { canary } => (StatusCode::CREATED, Json(canary)).into_response(),
        CanaryOutcome::ApprovalRequested { request } => requested(request),
    })
}

/// Pauses, resumes, promotes or aborts the running canary.
#[utoipa::path(post, path = "/deployments/{service}/canary/{action}", tag = "canary", operation_id = "canary_action",
    params(ServicePath, ("action" = inline(CanaryAction), Path, description = "What to do")),
    responses(
        (status = 200, description = "The canary after the action", body = Canary),
        (status = 409, description = "The canary is not in a state that allows it", body = ErrorBody),
    ))]
async fn canary_action(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    PathOf((service, action)): PathOf<(String, String)>,
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
    Ok(Json(s.engine.canary_action(&service, action, &caller.principal.name).await?))
}
