//! The Open Inference Protocol v2 (KServe, Triton) REST routes, so existing clients such as
//! `tritonclient` work unchanged: server and model metadata, readiness, and `infer` with JSON
//! or binary tensor data (`Inference-Header-Content-Length`). Errors use the protocol's own
//! shape, `{"error": "message"}`.
//!
//! A model is a service; its versions are the service's versions. Without a version the
//! router picks the generation; with one, that generation is forced. `model_version` in the
//! answer is the generation that answered.
//!
//! The parts: `error`, the protocol's error shape and the extractors that refuse in it;
//! `wire`, the request and answer types and the tensor encoding of answers; `decode`, an
//! infer request (JSON or binary tensor data) into rows; here, the handlers and their routes.

mod decode;
mod error;
mod wire;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

pub(super) use decode::{decode_input, parse_infer};
use error::{OipAuthorized, OipBody, OipPath, OipResult};
pub use error::{OipError, OipErrorBody};
use wire::{
    HEADER_LENGTH, InferRequest, InferResponse, MetadataParameters, ModelMetadata, ModelReady, NotReady, ServerMetadata,
};

use super::AppState;
use super::openapi::{ModelPath, ModelVersionPath};
use crate::engine::Routing;
use crate::error::Error;

/// Whether a path is an Open Inference Protocol route (whose errors take the protocol's shape).
pub(super) fn is_oip_path(path: &str) -> bool {
    path == "/v2" || path.starts_with("/v2/")
}

/// Server metadata.
#[utoipa::path(
    get, path = "/v2", tag = "oip", operation_id = "oip_server_metadata",
    responses((status = 200, description = "This server and its protocol extensions", body = ServerMetadata)),
)]
pub async fn server_metadata() -> Json<ServerMetadata> {
    Json(ServerMetadata {
        name: "switchyard",
        version: env!("CARGO_PKG_VERSION"),
        extensions: vec!["binary_tensor_data"],
    })
}

async fn metadata(
    state: AppState,
    model: String,
    version: Option<String>,
    headers: &HeaderMap,
) -> OipResult<Json<ModelMetadata>> {
    state.engine.authorize(&model, &super::credential(headers))?;
    let versions = state.engine.list_versions(&model).await?;
    let chosen = match &version {
        Some(v) => versions
            .iter()
            .find(|x| x.version.id.as_str() == v)
            .ok_or_else(|| Error::VersionNotFound { service: model.clone(), version: v.chars().take(64).collect() })?,
        // The generation serving the largest share, else the newest version.
        None => versions
            .iter()
            .filter(|v| v.live)
            .max_by(|a, b| a.share.unwrap_or(0.0).total_cmp(&b.share.unwrap_or(0.0)))
            .or(versions.last())
            .ok_or_else(|| Error::NotDeployed(model.clone()))?,
    };
    let schema = &chosen.version.schema;
    Ok(Json(ModelMetadata {
        versions: versions.iter().map(|v| v.version.id.as_str().to_owned()).collect(),
        platform: "onnx_onnxv1",
        inputs: vec![wire::tensor(
            &schema.input_name,
            wire::datatype(schema.input_type),
            vec![-1, schema.features.len() as i64],
        )],
        outputs: wire::outputs_metadata(schema),
        parameters: MetadataParameters { feature_names: schema.features.iter().map(|f| f.name.clone()).collect() },
        name: model,
    }))
}

/// A model's metadata: its versions, input and outputs (of the generation serving the largest
/// share).
#[utoipa::path(
    get, path = "/v2/models/{model}", tag = "oip", operation_id = "oip_model_metadata",
    params(ModelPath),
    responses((status = 200, description = "The model", body = ModelMetadata)),
    security((), ("api_key" = []), ("x_api_key" = []), ("basic" = [])),
)]
pub async fn model_metadata(
    State(s): State<AppState>,
    OipPath(model): OipPath<String>,
    headers: HeaderMap,
) -> OipResult<Json<ModelMetadata>> {
    metadata(s, model, None, &headers).await
}

/// One version's metadata.
#[utoipa::path(
    get, path = "/v2/models/{model}/versions/{version}", tag = "oip", operation_id = "oip_version_metadata",
    params(ModelVersionPath),
    responses((status = 200, description = "The model version", body = ModelMetadata)),
    security((), ("api_key" = []), ("x_api_key" = []), ("basic" = [])),
)]
pub async fn version_metadata(
    State(s): State<AppState>,
    OipPath((model, version)): OipPath<(String, String)>,
    headers: HeaderMap,
) -> OipResult<Json<ModelMetadata>> {
    metadata(s, model, Some(version), &headers).await
}

/// 200 when ready; 404 when not (the protocol answers "not ready" with a 4xx; 503 is kept
/// for the node's own readiness, which load balancers read).
async fn ready(state: AppState, model: String, version: Option<String>) -> OipResult<Response> {
    state.engine.get_service(&model).await?;
    let ready = match (state.engine.active(&model), &version) {
        (None, _) => false,
        (Some(_), None) => true,
        (Some(a), Some(v)) => a.route.generations().iter().any(|g| g.as_str() == v),
    };
    let status = if ready { StatusCode::OK } else { StatusCode::NOT_FOUND };
    Ok((status, Json(ModelReady { name: model, ready })).into_response())
}

/// Whether the model is deployed.
#[utoipa::path(
    get, path = "/v2/models/{model}/ready", tag = "oip", operation_id = "oip_model_ready",
    params(ModelPath),
    responses(
        (status = 200, description = "Deployed", body = ModelReady),
        (status = 404, description = "Not deployed (`ready: false`), or no such model (an error)", body = NotReady),
    ),
)]
pub async fn model_ready(State(s): State<AppState>, OipPath(model): OipPath<String>) -> OipResult<Response> {
    ready(s, model, None).await
}

/// Whether the version serves in the model's deployment.
#[utoipa::path(
    get, path = "/v2/models/{model}/versions/{version}/ready", tag = "oip", operation_id = "oip_version_ready",
    params(ModelVersionPath),
    responses(
        (status = 200, description = "The version is live", body = ModelReady),
        (status = 404, description = "The version is not live (`ready: false`), or no such model (an error)", body = NotReady),
    ),
)]
pub async fn version_ready(
    State(s): State<AppState>,
    OipPath((model, version)): OipPath<(String, String)>,
) -> OipResult<Response> {
    ready(s, model, Some(version)).await
}

/// Inference: the router picks the generation; `model_version` in the answer names it.
#[utoipa::path(
    post, path = "/v2/models/{model}/infer", tag = "oip", operation_id = "oip_infer",
    params(
        ModelPath,
        ("inference-header-content-length" = Option<u64>, Header, description = "Binary tensor data extension: the JSON's length"),
    ),
    request_body(content(
        (InferRequest = "application/json"),
        ("application/octet-stream"),
    )),
    responses(
        (status = 200, description = "The outputs and the generation that answered",
         content((InferResponse = "application/json"), ("application/octet-stream")),
         headers(
             ("x-switchyard-generation" = String, description = "The generation that answered"),
             ("inference-header-content-length" = Option<u64>, description = "With binary outputs: the JSON's length"),
         )),
        (status = 404, description = "Unknown model, or not deployed", body = OipErrorBody),
    ),
    security((), ("api_key" = []), ("x_api_key" = []), ("basic" = [])),
)]
pub async fn infer(
    State(s): State<AppState>,
    OipPath(model): OipPath<String>,
    _: OipAuthorized,
    headers: HeaderMap,
    OipBody(body): OipBody,
) -> OipResult<Response> {
    run_infer(s, model, None, headers, body).await
}

/// Inference with the version forced.
#[utoipa::path(
    post, path = "/v2/models/{model}/versions/{version}/infer", tag = "oip", operation_id = "oip_version_infer",
    params(
        ModelVersionPath,
        ("inference-header-content-length" = Option<u64>, Header, description = "Binary tensor data extension: the JSON's length"),
    ),
    request_body(content(
        (InferRequest = "application/json"),
        ("application/octet-stream"),
    )),
    responses(
        (status = 200, description = "The outputs of that version",
         content((InferResponse = "application/json"), ("application/octet-stream")),
         headers(
             ("x-switchyard-generation" = String, description = "The generation that answered"),
             ("inference-header-content-length" = Option<u64>, description = "With binary outputs: the JSON's length"),
         )),
        (status = 404, description = "Unknown model, not deployed, or the version is not live", body = OipErrorBody),
    ),
    security((), ("api_key" = []), ("x_api_key" = []), ("basic" = [])),
)]
pub async fn infer_version(
    State(s): State<AppState>,
    OipPath((model, version)): OipPath<(String, String)>,
    _: OipAuthorized,
    headers: HeaderMap,
    OipBody(body): OipBody,
) -> OipResult<Response> {
    run_infer(s, model, Some(version), headers, body).await
}

async fn run_infer(
    state: AppState,
    model: String,
    version: Option<String>,
    headers: HeaderMap,
    body: Bytes,
) -> OipResult<Response> {
    let (request, binary) = parse_infer(headers.get(HEADER_LENGTH), &body)?;
    let Some(active) = state.engine.active(&model) else {
        state.engine.get_service(&model).await?;
        return Err(OipError(Error::NotDeployed(model)));
    };
    let first = active
        .route
        .generations()
        .first()
        .and_then(|g| active.models.get(g))
        .map(std::sync::Arc::clone)
        .ok_or_else(|| OipError(Error::NotDeployed(model.clone())))?;
    let (rows, batch) = decode_input(&request, binary, first.schema(), &model)?;
    let out = state.engine.infer_rows(&model, batch, Routing { generation: version.as_deref(), key: None }).await?;

    // Which outputs, and which of them as binary data.
    let wanted = decode::requested_outputs(&request, &out.model.schema().output)?;
    let (outputs, raw) = wire::encode_outputs(&out, rows, wanted);
    let answer =
        InferResponse { model_name: model, model_version: out.generation.as_str().to_owned(), id: request.id, outputs };
    let mut r = wire::answer_response(&answer, &raw)?;
    insert_generation(&mut r, out.generation.as_str());
    Ok(r)
}

fn insert_generation(r: &mut Response, generation: &str) {
    if let Ok(v) = HeaderValue::from_str(generation) {
        r.headers_mut().insert(super::GENERATION, v);
    }
}
