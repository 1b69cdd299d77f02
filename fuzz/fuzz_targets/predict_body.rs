//! `POST /v1/services/{service}/predict`: the body decoded into `{"features": {...}}`, then
//! into a row by the model's schema. Whatever the bytes, the answer is a valid row holding
//! exactly the numbers sent, or a typed client error.

#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use switchyard::ErrorCode;
use switchyard::node::fuzzing::predict_row;

use common::{SCHEMAS, assert_client_error, assert_valid_row};

fuzz_target!(|data: &[u8]| {
    // The same bytes parsed independently, as plain JSON.
    let plain: Option<Value> = serde_json::from_slice(data).ok();
    for schema in SCHEMAS.iter() {
        match predict_row(data, schema) {
            Ok(row) => {
                assert_valid_row(&row, schema);
                let body = plain.as_ref().and_then(Value::as_object).expect("an accepted body is a JSON object");
                assert_eq!(body.len(), 1, "an accepted body has only \"features\"");
                let features = body.get("features").and_then(Value::as_object).expect("\"features\" is an object");
                assert_eq!(features.len(), schema.features.len(), "no unknown features");
                for (v, f) in row.iter().zip(&schema.features) {
                    assert_eq!(features.get(&f.name).and_then(Value::as_f64), Some(*v), "{} is the value sent", f.name);
                }
            }
            Err(e) => {
                assert_client_error(&e, &[ErrorCode::MalformedJson, ErrorCode::InvalidInput]);
                if e.code() == ErrorCode::MalformedJson {
                    assert!(plain.is_none(), "valid JSON refused as malformed: {e}");
                }
            }
        }
    }
});
