//! The protocol's request and answer types (as the OpenAPI document shows them), and the
//! encoding of an answer's tensors as JSON data or binary data after the JSON.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::error::OipErrorBody;
use crate::engine::InferOutcome;
use crate::error::Error;
use crate::model::{InputType, ModelSchema, OutputKind};

/// The binary tensor data extension's header: the length of the JSON before the binary data.
pub(super) const HEADER_LENGTH: &str = "inference-header-content-length";

#[derive(Serialize, ToSchema)]
pub struct ServerMetadata {
    pub(super) name: &'static str,
    pub(super) version: &'static str,
    pub(super) extensions: Vec<&'static str>,
}

/// A model's metadata.
#[derive(Serialize, ToSchema)]
pub struct ModelMetadata {
    pub(super) name: String,
    /// Every version of the service.
    pub(super) versions: Vec<String>,
    pub(super) platform: &'static str,
    pub(super) inputs: Vec<TensorMetadata>,
    pub(super) outputs: Vec<TensorMetadata>,
    pub(super) parameters: MetadataParameters,
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
    pub(super) feature_names: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ModelReady {
    pub(super) name: String,
    pub(super) ready: bool,
}

/// A readiness 404: the model is known and not ready, or not known at all.
#[derive(ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // a document type: the handler answers one or the other
pub enum NotReady {
    NotReady(ModelReady),
    Unknown(OipErrorBody),
}

pub(super) fn datatype(t: InputType) -> &'static str {
    match t {
        InputType::Float32 => "FP32",
        InputType::Float64 => "FP64",
        InputType::Int64 => "INT64",
    }
}

pub(super) fn tensor(name: &str, datatype: &'static str, shape: Vec<i64>) -> TensorMetadata {
    TensorMetadata { name: name.to_owned(), datatype, shape }
}

pub(super) fn outputs_metadata(schema: &ModelSchema) -> Vec<TensorMetadata> {
    match &schema.output {
        OutputKind::Classifier { classes } => {
            vec![tensor("label", "INT64", vec![-1]), tensor("probabilities", "FP32", vec![-1, classes.len() as i64])]
        }
        OutputKind::Regressor => vec![tensor("variable", "FP32", vec![-1, 1])],
    }
}

/// An inference request. With the binary tensor data extension the body is this JSON, then
/// the raw tensors; `Inference-Header-Content-Length` is the JSON's length.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"id": "42", "inputs": [{"name": "float_input", "shape": [1, 4], "datatype": "FP32", "data": [5.1, 3.5, 1.4, 0.2]}]}))]
pub(in crate::node) struct InferRequest {
    /// Echoed in the answer.
    #[serde(default)]
    pub(super) id: Option<String>,
    /// `binary_data_output: true` asks for every output as binary data.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub(super) parameters: Option<Map<String, Value>>,
    /// The model's one input.
    pub(super) inputs: Vec<InputTensor>,
    /// Which outputs, and how (default: all, as JSON).
    #[serde(default)]
    pub(super) outputs: Option<Vec<RequestedOutput>>,
}

#[derive(Deserialize, ToSchema)]
pub(super) struct InputTensor {
    pub(super) name: String,
    /// `[batch, features]` or `[features]`.
    pub(super) shape: Vec<i64>,
    /// FP32, FP64 or an integer type.
    pub(super) datatype: String,
    /// `binary_data_size`: the tensor is that many bytes of the binary data.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub(super) parameters: Option<Map<String, Value>>,
    /// Row-major values: flat, or nested as the shape.
    #[serde(default)]
    #[schema(value_type = Option<Vec<Value>>)]
    pub(super) data: Option<Value>,
}

#[derive(Deserialize, ToSchema)]
pub(super) struct RequestedOutput {
    pub(super) name: String,
    /// `binary_data: true` asks for this output as binary data.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub(super) parameters: Option<Map<String, Value>>,
}

/// An inference answer. With binary outputs the body is this JSON, then the raw tensors.
#[derive(Serialize, ToSchema)]
pub struct InferResponse {
    pub(super) model_name: String,
    /// The generation that answered.
    pub(super) model_version: String,
    /// The request's `id`, echoed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) id: Option<String>,
    pub(super) outputs: Vec<OutputTensor>,
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

/// The outputs asked for (`wanted`: each name, and whether as binary data) of `rows` rows of
/// predictions: the JSON tensors, and the binary data that follows the JSON (empty when
/// every output is JSON).
pub(super) fn encode_outputs(
    out: &InferOutcome,
    rows: usize,
    wanted: Vec<(String, bool)>,
) -> (Vec<OutputTensor>, Vec<u8>) {
    let mut outputs = Vec::new();
    let mut raw: Vec<u8> = Vec::new();
    for (name, as_binary) in wanted {
        let batch = &out.batch;
        let (shape, datatype, data): (Vec<usize>, &str, Tensor) = match name.as_str() {
            "label" => (vec![rows], "INT64", Tensor::I64((0..batch.len()).map(|i| batch.label(i)).collect())),
            "probabilities" => {
                let classes = match &out.model.schema().output {
                    OutputKind::Classifier { classes } => classes.len(),
                    OutputKind::Regressor => 0,
                };
                let probs = batch.probabilities().iter().map(|&v| v as f32).collect();
                (vec![rows, classes], "FP32", Tensor::F32(probs))
            }
            _ => (vec![rows, 1], "FP32", Tensor::F32((0..batch.len()).map(|i| batch.output(i) as f32).collect())),
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
    (outputs, raw)
}

/// The answer's 200: the JSON alone, or the JSON then `raw` (the binary outputs) with the
/// JSON's length in `Inference-Header-Content-Length`.
pub(super) fn answer_response(answer: &InferResponse, raw: &[u8]) -> Result<Response, Error> {
    let header = serde_json::to_vec(answer).map_err(|e| Error::Internal(e.to_string()))?;
    if raw.is_empty() {
        return Ok((StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], header).into_response());
    }
    let json_len = header.len();
    let mut body = header;
    body.extend_from_slice(raw);
    let mut r = (StatusCode::OK, [(header::CONTENT_TYPE, "application/octet-stream")], body).into_response();
    r.headers_mut().insert(HEADER_LENGTH, HeaderValue::from(json_len));
    Ok(r)
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
