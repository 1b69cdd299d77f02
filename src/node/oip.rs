//! The Open Inference Protocol v2 (KServe, Triton) REST routes, so existing clients such as
//! `tritonclient` work unchanged: server and model metadata, readiness, and `infer` with JSON
//! or binary tensor data (`Inference-Header-Content-Length`). Errors use the protocol's own
//! shape, `{"error": "message"}`.
//!
//! A model is a service; its versions are the service's versions. Without a version the
//! router picks the generation; with one, that generation is forced. `model_version` in the
//! answer is the generation that answered.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::openapi::{ModelPath, ModelVersionPath};
use super::{AppState, status_of};
use crate::engine::Routing;
use crate::error::Error;
use crate::model::{InputType, ModelSchema, OutputKind, Prediction};

/// Whether a path is an Open Inference Protocol route (whose errors take the protocol's shape).
pub(super) fn is_oip_path(path: &str) -> bool {
    path == "/v2" || path.starts_with("/v2/")
}

const HEADER_LENGTH: &str = "inference-header-content-length";

/// An error in the protocol's shape.
pub struct OipError(Error);

/// The error body of the Open Inference Protocol routes (the protocol's own shape).
#[derive(Serialize, ToSchema)]
pub struct OipErrorBody {
    pub error: String,
}

impl From<Error> for OipError {
    fn from(e: Error) -> Self {
        OipError(e)
    }
}

impl IntoResponse for OipError {
    fn into_response(self) -> Response {
        let message = self.0.public_message();
        let mut response = (status_of(self.0.code()), Json(OipErrorBody { error: message })).into_response();
        super::error::add_challenge(&self.0, &mut response);
        response
    }
}

type OipResult<T> = Result<T, OipError>;

/// Path parameters, refused in the protocol's error shape.
pub struct OipPath<T>(T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned + Send> FromRequestParts<S> for OipPath<T> {
    type Rejection = OipError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        super::body::path_params(parts, state).await.map(OipPath).map_err(OipError)
    }
}

/// Proof that the caller may use the model named by the route's `{model}`: an extractor, so
/// it runs before the body is read; a refused request costs no reading or parsing.
pub struct OipAuthorized;

impl FromRequestParts<AppState> for OipAuthorized {
    type Rejection = OipError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, OipError> {
        super::authorize_path(parts, state, "model").await.map_err(OipError)?;
        Ok(OipAuthorized)
    }
}

/// The request body within the route's limit, refused in the protocol's error shape.
pub struct OipBody(Bytes);

impl<S: Send + Sync> FromRequest<S> for OipBody {
    type Rejection = OipError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        super::body::read_body(req, state).await.map(OipBody).map_err(OipError)
    }
}

fn bad(message: impl Into<String>) -> OipError {
    OipError(Error::InvalidInput(message.into()))
}

#[derive(Serialize, ToSchema)]
pub struct ServerMetadata {
    name: &'static str,
    version: &'static str,
    extensions: Vec<&'static str>,
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

/// A model's metadata.
#[derive(Serialize, ToSchema)]
pub struct ModelMetadata {
    name: String,
    /// Every version of the service.
    versions: Vec<String>,
    platform: &'static str,
    inputs: Vec<TensorMetadata>,
    outputs: Vec<TensorMetadata>,
    parameters: MetadataParameters,
}

#[derive(Serialize, ToSchema)]
pub struct TensorMetadata {
    name: String,
    datatype: &'static str,
    /// -1 for the batch dimension.
    shape: Vec<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct MetadataParameters {
    /// The input's columns, in order.
    feature_names: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ModelReady {
    name: String,
    ready: bool,
}

/// A readiness 404: the model is known and not ready, or not known at all.
#[derive(ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // a document type: the handler answers one or the other
pub enum NotReady {
    NotReady(ModelReady),
    Unknown(OipErrorBody),
}

fn datatype(t: InputType) -> &'static str {
    match t {
        InputType::Float32 => "FP32",
        InputType::Float64 => "FP64",
        InputType::Int64 => "INT64",
    }
}

fn tensor(name: &str, datatype: &'static str, shape: Vec<i64>) -> TensorMetadata {
    TensorMetadata { name: name.to_owned(), datatype, shape }
}

fn outputs_metadata(schema: &ModelSchema) -> Vec<TensorMetadata> {
    match &schema.output {
        OutputKind::Classifier { classes } => {
            vec![tensor("label", "INT64", vec![-1]), tensor("probabilities", "FP32", vec![-1, classes.len() as i64])]
        }
        OutputKind::Regressor => vec![tensor("variable", "FP32", vec![-1, 1])],
    }
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
        inputs: vec![tensor(&schema.input_name, datatype(schema.input_type), vec![-1, schema.features.len() as i64])],
        outputs: outputs_metadata(schema),
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

/// An inference request. With the binary tensor data extension the body is this JSON, then
/// the raw tensors; `Inference-Header-Content-Length` is the JSON's length.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"id": "42", "inputs": [{"name": "float_input", "shape": [1, 4], "datatype": "FP32", "data": [5.1, 3.5, 1.4, 0.2]}]}))]
pub(super) struct InferRequest {
    /// Echoed in the answer.
    #[serde(default)]
    id: Option<String>,
    /// `binary_data_output: true` asks for every output as binary data.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    parameters: Option<Map<String, Value>>,
    /// The model's one input.
    inputs: Vec<InputTensor>,
    /// Which outputs, and how (default: all, as JSON).
    #[serde(default)]
    outputs: Option<Vec<RequestedOutput>>,
}

#[derive(Deserialize, ToSchema)]
struct InputTensor {
    name: String,
    /// `[batch, features]` or `[features]`.
    shape: Vec<i64>,
    /// FP32, FP64 or an integer type.
    datatype: String,
    /// `binary_data_size`: the tensor is that many bytes of the binary data.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    parameters: Option<Map<String, Value>>,
    /// Row-major values: flat, or nested as the shape.
    #[serde(default)]
    #[schema(value_type = Option<Vec<Value>>)]
    data: Option<Value>,
}

#[derive(Deserialize, ToSchema)]
struct RequestedOutput {
    name: String,
    /// `binary_data: true` asks for this output as binary data.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    parameters: Option<Map<String, Value>>,
}

/// An inference answer. With binary outputs the body is this JSON, then the raw tensors.
#[derive(Serialize, ToSchema)]
pub struct InferResponse {
    model_name: String,
    /// The generation that answered.
    model_version: String,
    /// The request's `id`, echoed.
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    outputs: Vec<OutputTensor>,
}

#[derive(Serialize, ToSchema)]
pub struct OutputTensor {
    /// `label` and `probabilities` (classifiers) or `variable` (regressors).
    name: String,
    datatype: &'static str,
    shape: Vec<usize>,
    /// Row-major values, unless sent as binary data.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<f64>>)]
    data: Option<Tensor>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parameters: Option<BinaryData>,
}

#[derive(Serialize, ToSchema)]
pub struct BinaryData {
    /// The tensor's length in the binary data after the JSON.
    binary_data_size: usize,
}

fn flag(params: &Option<Map<String, Value>>, key: &str) -> bool {
    params.as_ref().and_then(|p| p.get(key)).and_then(Value::as_bool).unwrap_or(false)
}

/// Flattens nested JSON arrays of numbers (row-major).
/// Tensor data in row-major order: a flat array of numbers, or arrays nested exactly as
/// `shape` (a ragged or mixed nesting is refused, not flattened into something else).
fn flatten(v: &Value, shape: &[usize], out: &mut Vec<f64>) -> Result<(), String> {
    match v {
        Value::Array(items) if items.iter().all(|i| !i.is_array()) => items.iter().try_for_each(|i| scalar(i, out)),
        Value::Array(_) => nested(v, shape, out),
        other => Err(format!("tensor data must be an array, got {}", short(other))),
    }
}

fn nested(v: &Value, shape: &[usize], out: &mut Vec<f64>) -> Result<(), String> {
    let (Value::Array(items), Some((&dim, rest))) = (v, shape.split_first()) else {
        return Err("tensor data is nested deeper than its shape".into());
    };
    if items.len() != dim {
        return Err(format!("tensor data has {} entries where its shape says {dim}", items.len()));
    }
    for item in items {
        match (item.is_array(), rest.is_empty()) {
            (false, true) => scalar(item, out)?,
            (true, false) => nested(item, rest, out)?,
            _ => return Err("tensor data mixes numbers and arrays at one level of its shape".into()),
        }
    }
    Ok(())
}

fn scalar(v: &Value, out: &mut Vec<f64>) -> Result<(), String> {
    match v {
        Value::Number(n) => n.as_f64().map(|x| out.push(x)).ok_or_else(|| format!("{n} is out of range")),
        Value::Bool(b) => {
            out.push(f64::from(u8::from(*b)));
            Ok(())
        }
        other => Err(format!("tensor data must be numbers, got {}", short(other))),
    }
}

fn short(v: &Value) -> String {
    v.to_string().chars().take(40).collect()
}

/// Decodes little-endian raw tensor bytes of a numeric datatype.
#[allow(clippy::modulo_one)] // one-byte types go through the same macro
fn decode_binary(datatype: &str, bytes: &[u8]) -> Result<Vec<f64>, String> {
    macro_rules! le {
        ($t:ty) => {{
            const N: usize = std::mem::size_of::<$t>();
            if bytes.len() % N != 0 {
                return Err(format!("{} bytes are not a whole number of {datatype} values", bytes.len()));
            }
            bytes.chunks_exact(N).map(|c| <$t>::from_le_bytes(c.try_into().unwrap_or([0; N])) as f64).collect()
        }};
    }
    Ok(match datatype {
        "FP32" => le!(f32),
        "FP64" => le!(f64),
        "INT64" => le!(i64),
        "INT32" => le!(i32),
        "INT16" => le!(i16),
        "INT8" => le!(i8),
        "UINT8" => le!(u8),
        "UINT16" => le!(u16),
        "UINT32" => le!(u32),
        "UINT64" => le!(u64),
        other => return Err(format!("datatype {other} is not supported: use FP32, FP64 or an integer type")),
    })
}

const NUMERIC: [&str; 10] = ["FP32", "FP64", "INT64", "INT32", "INT16", "INT8", "UINT8", "UINT16", "UINT32", "UINT64"];

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
    let schema = active
        .route
        .generations()
        .first()
        .and_then(|g| active.models.get(g))
        .map(|m| m.schema().clone())
        .ok_or_else(|| OipError(Error::NotDeployed(model.clone())))?;
    let (rows, batch) = decode_input(&request, binary, &schema, &model)?;
    let out = state.engine.infer_rows(&model, batch, Routing { generation: version.as_deref(), key: None }).await?;

    // Which outputs, and which of them as binary data.
    let all_binary = flag(&request.parameters, "binary_data_output");
    let available: Vec<&str> = match &out.schema.output {
        OutputKind::Classifier { .. } => vec!["label", "probabilities"],
        OutputKind::Regressor => vec!["variable"],
    };
    let wanted: Vec<(String, bool)> = match &request.outputs {
        None => available.iter().map(|n| ((*n).to_owned(), all_binary)).collect(),
        Some(list) => {
            let mut w = Vec::new();
            for o in list {
                if !available.contains(&o.name.as_str()) {
                    return Err(bad(format!("unknown output '{}' (outputs: {})", o.name, available.join(", "))));
                }
                w.push((o.name.clone(), all_binary || flag(&o.parameters, "binary_data")));
            }
            w
        }
    };
    let mut outputs = Vec::new();
    let mut raw: Vec<u8> = Vec::new();
    for (name, as_binary) in wanted {
        let (shape, datatype, data): (Vec<usize>, &str, Tensor) = match name.as_str() {
            "label" => (vec![rows], "INT64", Tensor::I64(out.predictions.iter().map(label_of).collect())),
            "probabilities" => {
                let classes = match &out.schema.output {
                    OutputKind::Classifier { classes } => classes.len(),
                    OutputKind::Regressor => 0,
                };
                let probs = out.predictions.iter().flat_map(|p| match p {
                    Prediction::Class { probabilities, .. } => probabilities.iter().map(|(_, v)| *v as f32).collect(),
                    Prediction::Value(_) => vec![],
                });
                (vec![rows, classes], "FP32", Tensor::F32(probs.collect()))
            }
            _ => {
                let values = out.predictions.iter().map(|p| match p {
                    Prediction::Value(v) => *v as f32,
                    Prediction::Class { label, .. } => *label as f32,
                });
                (vec![rows, 1], "FP32", Tensor::F32(values.collect()))
            }
        };
        let mut o = OutputTensor { name, datatype, shape, data: None, parameters: None };
        if as_binary {
            let before = raw.len();
            data.write_le(&mut raw);
            o.parameters = Some(BinaryData { binary_data_size: raw.len() - before });
        } else {
            o.data = Some(data);
        }
        outputs.push(o);
    }
    let answer =
        InferResponse { model_name: model, model_version: out.generation.as_str().to_owned(), id: request.id, outputs };
    let header = serde_json::to_vec(&answer).map_err(|e| OipError(Error::Internal(e.to_string())))?;
    if raw.is_empty() {
        let mut r = (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], header).into_response();
        insert_generation(&mut r, out.generation.as_str());
        return Ok(r);
    }
    let json_len = header.len();
    let mut body = header;
    body.extend_from_slice(&raw);
    let mut r = (StatusCode::OK, [(header::CONTENT_TYPE, "application/octet-stream")], body).into_response();
    r.headers_mut().insert(HEADER_LENGTH, HeaderValue::from(json_len));
    insert_generation(&mut r, out.generation.as_str());
    Ok(r)
}

fn invalid(message: impl Into<String>) -> Error {
    Error::InvalidInput(message.into())
}

/// Splits the JSON header from the binary tensor data, if any (`header_length` is the
/// `Inference-Header-Content-Length` value), and parses the header.
pub(super) fn parse_infer<'a>(
    header_length: Option<&HeaderValue>,
    body: &'a [u8],
) -> Result<(InferRequest, &'a [u8]), Error> {
    let json_len = match header_length {
        None => body.len(),
        Some(v) => {
            v.to_str().ok().and_then(|v| v.trim().parse::<usize>().ok()).filter(|n| *n <= body.len()).ok_or_else(
                || invalid(format!("{HEADER_LENGTH} must be a length within the body ({} bytes)", body.len())),
            )?
        }
    };
    let json = &body[..json_len];
    super::body::ensure_object(json)?;
    let request: InferRequest =
        serde_json::from_slice(json).map_err(|e| invalid(format!("malformed infer request: {e}")))?;
    Ok((request, &body[json_len..]))
}

/// The request's one input as a batch of rows of the schema's width, from JSON data or from
/// the binary data after the header. Returns the row count and the rows; the values are
/// checked against the feature types later, by the engine.
pub(super) fn decode_input(
    request: &InferRequest,
    binary: &[u8],
    schema: &ModelSchema,
    model: &str,
) -> Result<(usize, Vec<Vec<f64>>), Error> {
    let [input] = request.inputs.as_slice() else {
        return Err(invalid(format!("'{model}' takes exactly one input, '{}'", schema.input_name)));
    };
    if input.name != schema.input_name {
        return Err(invalid(format!("unknown input '{}': '{model}' takes '{}'", input.name, schema.input_name)));
    }
    if !NUMERIC.contains(&input.datatype.as_str()) {
        return Err(invalid(format!(
            "datatype {} is not supported: use FP32, FP64 or an integer type",
            input.datatype
        )));
    }
    let width = schema.features.len();
    let rows = match input.shape.as_slice() {
        [n, w] if *n >= 0 && *w as usize == width => *n as usize,
        [w] if *w as usize == width => 1,
        _ => return Err(invalid(format!("input shape must be [batch, {width}], got {:?}", input.shape))),
    };
    if rows == 0 || rows > 100_000 {
        return Err(invalid("a batch has 1 to 100000 rows"));
    }
    let values = match (
        &input.data,
        input.parameters.as_ref().and_then(|p| p.get("binary_data_size")).and_then(Value::as_u64),
    ) {
        (_, Some(size)) => {
            let size = size as usize;
            if size > binary.len() {
                return Err(invalid(format!(
                    "binary_data_size {size} is larger than the binary data sent ({} bytes)",
                    binary.len()
                )));
            }
            decode_binary(&input.datatype, &binary[..size]).map_err(invalid)?
        }
        (Some(data), None) => {
            // Grown as values come, never reserved from the declared shape: rows × width is
            // the client's word, and 10^10 values for a 100000-feature model.
            let mut out = Vec::new();
            flatten(data, &[rows, width], &mut out).map_err(invalid)?;
            out
        }
        (None, None) => return Err(invalid("the input has neither data nor binary_data_size")),
    };
    if values.len() != rows * width {
        return Err(invalid(format!("shape {:?} needs {} values, got {}", input.shape, rows * width, values.len())));
    }
    Ok((rows, values.chunks(width).map(<[f64]>::to_vec).collect()))
}

fn insert_generation(r: &mut Response, generation: &str) {
    if let Ok(v) = HeaderValue::from_str(generation) {
        r.headers_mut().insert(super::GENERATION_HEADER, v);
    }
}

fn label_of(p: &Prediction) -> i64 {
    match p {
        Prediction::Class { label, .. } => *label,
        Prediction::Value(v) => *v as i64,
    }
}

#[derive(Serialize)]
#[serde(untagged)]
enum Tensor {
    I64(Vec<i64>),
    F32(Vec<f32>),
}

impl Tensor {
    fn write_le(&self, out: &mut Vec<u8>) {
        match self {
            Tensor::I64(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            Tensor::F32(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::model::Feature;

    #[test]
    fn binary_tensors_decode_little_endian() {
        let bytes: Vec<u8> = [1.5f32, -2.0].iter().flat_map(|x| x.to_le_bytes()).collect();
        assert_eq!(decode_binary("FP32", &bytes), Ok(vec![1.5, -2.0]));
        assert!(decode_binary("FP32", &bytes[..5]).is_err());
        assert!(decode_binary("BYTES", &bytes).is_err());
        let mut out = Vec::new();
        flatten(&json!([[1, 2], [3.5, true]]), &[2, 2], &mut out).expect("numbers");
        assert_eq!(out, vec![1.0, 2.0, 3.5, 1.0]);
        out.clear();
        flatten(&json!([1, 2, 3.5, 4]), &[2, 2], &mut out).expect("flat");
        assert_eq!(out.len(), 4);
        for bad in [
            json!(["x"]),
            json!([[1, [2]], 3, 4]),
            json!([[1, 2], 3]),
            json!([[1, 2, 3], [4]]),
            json!([[[1], [2]], [[3], [4]]]),
            json!(5),
        ] {
            assert!(flatten(&bad, &[2, 2], &mut Vec::new()).is_err(), "{bad}");
        }
    }

    fn schema(width: usize) -> ModelSchema {
        ModelSchema {
            input_name: "x".into(),
            input_type: InputType::Float32,
            features: (0..width).map(|i| Feature { name: format!("f{i}"), dtype: InputType::Float32 }).collect(),
            output: OutputKind::Regressor,
        }
    }

    #[test]
    fn the_header_length_splits_json_from_binary_data() {
        let header = br#"{"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP32", "parameters": {"binary_data_size": 8}}]}"#;
        let mut body = header.to_vec();
        body.extend([1.5f32, -2.0].iter().flat_map(|x| x.to_le_bytes()));
        let length = HeaderValue::from(header.len());
        let (request, binary) = parse_infer(Some(&length), &body).expect("split");
        assert_eq!(binary.len(), 8);
        assert_eq!(decode_input(&request, binary, &schema(2), "m").expect("rows"), (1, vec![vec![1.5, -2.0]]));
        for bad in ["", "x", "-1", &(body.len() + 1).to_string()] {
            let err = parse_infer(Some(&HeaderValue::from_str(bad).expect("ascii")), &body).map(|_| ()).expect_err(bad);
            assert_eq!(err.code(), crate::error::ErrorCode::InvalidInput);
        }
        assert!(parse_infer(None, &body).is_err(), "binary data without the header is not JSON");
    }

    /// Found by fuzz/oip_infer: a shape of [100000, 100000] for a model of 100000 features
    /// (the widest a version may have) made the node reserve 80 GB for values it was never
    /// sent, and the failed allocation aborted the process.
    #[test]
    fn a_declared_shape_reserves_nothing() {
        let body = br#"{"inputs": [{"name": "x", "shape": [100000, 100000], "datatype": "FP32", "data": []}]}"#;
        let (request, binary) = parse_infer(None, body).expect("json");
        let err = decode_input(&request, binary, &schema(100_000), "m").expect_err("no values sent");
        assert!(err.to_string().contains("needs 10000000000 values, got 0"), "{err}");
    }
}
