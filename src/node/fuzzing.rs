//! Entry points for the fuzz targets (`fuzz/`, run by `scripts/fuzz.sh`): the pure decoding
//! steps of the prediction routes, the same functions the handlers call, without an engine
//! or a socket. Not a stable API.

use axum::http::HeaderValue;

use super::body::decode;
use super::oip::{decode_input, parse_infer};
use super::predict::PredictBody;
use crate::error::Result;
use crate::model::ModelSchema;

/// `POST /v1/services/{service}/predict` up to the model: the body decoded as the handler
/// decodes it, then turned into a row by `schema` as the engine does.
pub fn predict_row(body: &[u8], schema: &ModelSchema) -> Result<Vec<f64>> {
    let body: PredictBody = decode(body)?;
    schema.row_from_json(body.features())
}

/// `POST /v2/models/{model}/infer` up to the model: the JSON header split from the binary
/// data at `header_length` (the `Inference-Header-Content-Length` value, if sent), the
/// input decoded against `schema`, then each row checked as the engine checks it.
///
/// `None` when `header_length` is not a valid header value: no HTTP request carries it.
pub fn infer_rows(header_length: Option<&[u8]>, body: &[u8], schema: &ModelSchema) -> Option<Result<Vec<Vec<f64>>>> {
    let header_length = match header_length.map(HeaderValue::from_bytes) {
        None => None,
        Some(Ok(v)) => Some(v),
        Some(Err(_)) => return None,
    };
    Some(decode_and_check(header_length.as_ref(), body, schema))
}

fn decode_and_check(header_length: Option<&HeaderValue>, body: &[u8], schema: &ModelSchema) -> Result<Vec<Vec<f64>>> {
    let (request, binary) = parse_infer(header_length, body)?;
    let (_, batch) = decode_input(&request, binary, schema, "fuzz")?;
    batch.iter().try_for_each(|row| schema.check_row(row))?;
    Ok(batch)
}
