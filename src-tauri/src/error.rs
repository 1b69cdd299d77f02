//! Engine errors as they cross IPC: `{code, message, details?}`. The UI rebuilds them as a
//! typed `ApiError` (ui/src/lib/api.ts) and never matches on the message.

use serde::Serialize;
use switchyard::router::MappingIssue;
use switchyard::{Error, ErrorCode};

#[derive(Debug, Serialize)]
pub struct IpcError {
    code: ErrorCode,
    message: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    details: Vec<MappingIssue>,
}

impl From<Error> for IpcError {
    fn from(e: Error) -> Self {
        IpcError { code: e.code(), details: e.mapping_issues().to_vec(), message: e.public_message() }
    }
}

impl IpcError {
    pub fn invalid_input(message: impl Into<String>) -> Self {
        IpcError { code: ErrorCode::InvalidInput, message: message.into(), details: Vec::new() }
    }
}

pub type IpcResult<T> = Result<T, IpcError>;
