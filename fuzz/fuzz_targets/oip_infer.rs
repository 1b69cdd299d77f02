//! `POST /v2/models/{model}/infer` (Open Inference Protocol v2): the JSON header split from
//! binary tensor data by `Inference-Header-Content-Length`, the one input decoded from JSON
//! data or little-endian bytes, each row checked. The answer is a batch of valid rows or a
//! typed client error.
//!
//! Input: `#<header value>\n<body>` sends the header; anything else is a body without it.

#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use switchyard::ErrorCode;
use switchyard::model::ModelSchema;
use switchyard::node::fuzzing::infer_rows;

use common::{SCHEMAS, WIDE, assert_client_error, assert_valid_row};

fn check(header: Option<&[u8]>, body: &[u8], schema: &ModelSchema) {
    match infer_rows(header, body, schema) {
        None => {} // not a header value an HTTP request can carry
        Some(Ok(batch)) => {
            assert!((1..=100_000).contains(&batch.len()), "a batch has 1 to 100000 rows, got {}", batch.len());
            for row in &batch {
                assert_valid_row(row, schema);
            }
        }
        Some(Err(e)) => assert_client_error(&e, &[ErrorCode::InvalidInput]),
    }
}

fuzz_target!(|data: &[u8]| {
    let (header, body) = match data.strip_prefix(b"#") {
        Some(rest) => match rest.iter().position(|&b| b == b'\n') {
            Some(i) => (Some(&rest[..i]), &rest[i + 1..]),
            None => (Some(rest), &[][..]),
        },
        None => (None, data),
    };
    for schema in SCHEMAS.iter().chain([&*WIDE]) {
        check(header, body, schema);
    }
});
