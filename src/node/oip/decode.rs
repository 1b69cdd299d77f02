//! Parsing an infer request: the JSON header (and the binary tensor data after it, with the
//! binary tensor data extension) into rows of the model's width, and which outputs it asks for.

use axum::http::HeaderValue;
use serde_json::{Map, Value};

use super::wire::{HEADER_LENGTH, InferRequest};
use crate::error::Error;
use crate::model::{ModelSchema, OutputKind};

fn invalid(message: impl Into<String>) -> Error {
    Error::InvalidInput(message.into())
}

/// Splits the JSON header from the binary tensor data, if any (`header_length` is the
/// `Inference-Header-Content-Length` value), and parses the header.
pub(in crate::node) fn parse_infer<'a>(
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
    crate::node::body::ensure_object(json)?;
    let request: InferRequest =
        serde_json::from_slice(json).map_err(|e| invalid(format!("malformed infer request: {e}")))?;
    Ok((request, &body[json_len..]))
}

/// The request's one input as a batch of rows of the schema's width, from JSON data or from
/// the binary data after the header. Returns the row count and the rows; the values are
/// checked against the feature types later, by the engine.
pub(in crate::node) fn decode_input(
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

/// Which outputs the request asks for, each with whether as binary data (default: all of
/// `output`'s, as binary data only with `binary_data_output`).
pub(super) fn requested_outputs(request: &InferRequest, output: &OutputKind) -> Result<Vec<(String, bool)>, Error> {
    let all_binary = flag(&request.parameters, "binary_data_output");
    let available: Vec<&str> = match output {
        OutputKind::Classifier { .. } => vec!["label", "probabilities"],
        OutputKind::Regressor => vec!["variable"],
    };
    Ok(match &request.outputs {
        None => available.iter().map(|n| ((*n).to_owned(), all_binary)).collect(),
        Some(list) => {
            let mut w = Vec::new();
            for o in list {
                if !available.contains(&o.name.as_str()) {
                    return Err(invalid(format!("unknown output '{}' (outputs: {})", o.name, available.join(", "))));
                }
                w.push((o.name.clone(), all_binary || flag(&o.parameters, "binary_data")));
            }
            w
        }
    })
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::model::{Feature, InputType};

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
