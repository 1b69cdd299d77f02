//! Reading ONNX node attributes and constant tensors from the protobuf, with errors that
//! name the node and the attribute. The compatibility layer and the tree operator read
//! `ai.onnx.ml` attributes here rather than through tract, so that a malformed model is
//! refused with a message a user can act on.

use tract_onnx::pb;

/// Where an attribute problem was found: the node's name (or first output) and op type.
pub(crate) fn describe(node: &pb::NodeProto) -> String {
    let name =
        if !node.name.is_empty() { node.name.as_str() } else { node.output.first().map(String::as_str).unwrap_or("?") };
    format!("{} '{name}'", node.op_type)
}

pub(crate) fn find<'a>(node: &'a pb::NodeProto, name: &str) -> Option<&'a pb::AttributeProto> {
    node.attribute.iter().find(|a| a.name == name)
}

pub(crate) fn ints(node: &pb::NodeProto, name: &str) -> Vec<i64> {
    find(node, name).map(|a| a.ints.clone()).unwrap_or_default()
}

pub(crate) fn floats(node: &pb::NodeProto, name: &str) -> Vec<f32> {
    find(node, name).map(|a| a.floats.clone()).unwrap_or_default()
}

pub(crate) fn int(node: &pb::NodeProto, name: &str) -> Option<i64> {
    find(node, name).map(|a| a.i)
}

pub(crate) fn float(node: &pb::NodeProto, name: &str) -> Option<f32> {
    find(node, name).map(|a| a.f)
}

pub(crate) fn string(node: &pb::NodeProto, name: &str) -> Result<Option<String>, String> {
    find(node, name)
        .map(|a| {
            String::from_utf8(a.s.clone()).map_err(|_| format!("{}: attribute '{name}' is not UTF-8", describe(node)))
        })
        .transpose()
}

pub(crate) fn strings(node: &pb::NodeProto, name: &str) -> Result<Vec<String>, String> {
    let Some(a) = find(node, name) else { return Ok(Vec::new()) };
    a.strings
        .iter()
        .map(|s| {
            String::from_utf8(s.clone()).map_err(|_| format!("{}: attribute '{name}' is not UTF-8", describe(node)))
        })
        .collect()
}

/// The values of a floating-point tensor attribute (`*_as_tensor`, ONNX-ML opset 3), and
/// whether they were stored as doubles.
pub(crate) fn float_tensor(node: &pb::NodeProto, name: &str) -> Result<Option<(Vec<f64>, bool)>, String> {
    let Some(t) = find(node, name).and_then(|a| a.t.as_ref()) else { return Ok(None) };
    let values = float_values(t).map_err(|e| format!("{}: attribute '{name}': {e}", describe(node)))?;
    Ok(Some((values, t.data_type == DOUBLE)))
}

pub(crate) const FLOAT: i32 = 1;
pub(crate) const INT32: i32 = 6;
pub(crate) const INT64: i32 = 7;
pub(crate) const STRING: i32 = 8;
pub(crate) const DOUBLE: i32 = 11;

fn chunks<const N: usize>(raw: &[u8]) -> impl Iterator<Item = [u8; N]> + '_ {
    raw.chunks_exact(N).map(|c| {
        let mut b = [0u8; N];
        b.copy_from_slice(c);
        b
    })
}

/// A float or double tensor's values as f64 (exact for both).
pub(crate) fn float_values(t: &pb::TensorProto) -> Result<Vec<f64>, String> {
    match t.data_type {
        FLOAT if !t.raw_data.is_empty() => {
            Ok(chunks::<4>(&t.raw_data).map(|b| f64::from(f32::from_le_bytes(b))).collect())
        }
        FLOAT => Ok(t.float_data.iter().map(|&v| f64::from(v)).collect()),
        DOUBLE if !t.raw_data.is_empty() => Ok(chunks::<8>(&t.raw_data).map(f64::from_le_bytes).collect()),
        DOUBLE => Ok(t.double_data.clone()),
        other => Err(format!("expected a float or double tensor, found ONNX type {other}")),
    }
}

/// A constant 1-D tensor of class labels (int64, int32 or strings) as display strings;
/// None when the tensor holds something else.
pub(crate) fn label_values(t: &pb::TensorProto) -> Option<Vec<String>> {
    let count = t.dims.iter().product::<i64>();
    let values: Vec<String> = match t.data_type {
        INT64 if !t.raw_data.is_empty() => {
            chunks::<8>(&t.raw_data).map(|b| i64::from_le_bytes(b).to_string()).collect()
        }
        INT64 => t.int64_data.iter().map(i64::to_string).collect(),
        INT32 if !t.raw_data.is_empty() => {
            chunks::<4>(&t.raw_data).map(|b| i32::from_le_bytes(b).to_string()).collect()
        }
        INT32 => t.int32_data.iter().map(i32::to_string).collect(),
        STRING => t.string_data.iter().map(|s| String::from_utf8(s.clone()).ok()).collect::<Option<_>>()?,
        _ => return None,
    };
    (t.dims.len() <= 1 && values.len() as i64 == count.max(1) && !values.is_empty()).then_some(values)
}
