//! How engine errors render on the wire: a status from the error code, and the body
//! `{"error":{"code","message"}}` (plus `details` for per-entry mapping problems).
//! Internal failures are logged in full and answered with a short message.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::error::{Error, ErrorCode};
use crate::router::MappingIssue;

pub struct ApiError(pub Error);

/// The error body of the native and admin APIs.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorObject,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorObject {
    /// Stable and machine-readable: branch on it.
    pub code: ErrorCode,
    /// What went wrong and what to do about it, for people.
    pub message: String,
    /// One entry per problem of a refused mapping.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<MappingIssue>,
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError(e)
    }
}

pub fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::MalformedJson
        | ErrorCode::InvalidInput
        | ErrorCode::InvalidName
        | ErrorCode::InvalidMapping
        | ErrorCode::InvalidConfig
        | ErrorCode::InvalidModel => StatusCode::BAD_REQUEST,
        ErrorCode::ServiceNotFound
        | ErrorCode::VersionNotFound
        | ErrorCode::RevisionNotFound
        | ErrorCode::NotDeployed
        | ErrorCode::GenerationNotLive
        | ErrorCode::RequestNotFound
        | ErrorCode::CanaryNotFound
        | ErrorCode::ScenarioNotFound
        | ErrorCode::RunNotFound
        | ErrorCode::ReplayNotFound
        | ErrorCode::PrincipalNotFound
        | ErrorCode::ApprovalNotFound
        | ErrorCode::WebhookNotFound
        | ErrorCode::MlflowNotFound
        | ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::AlreadyExists
        | ErrorCode::CanaryConflict
        | ErrorCode::RunConflict
        | ErrorCode::ReplayConflict
        | ErrorCode::ApprovalConflict
        | ErrorCode::MlflowNotConfigured
        | ErrorCode::Unchanged => StatusCode::CONFLICT,
        ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorCode::Forbidden => StatusCode::FORBIDDEN,
        ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
        ErrorCode::NodeUnreachable
        | ErrorCode::ArtifactMissing
        | ErrorCode::ArtifactCorrupt
        | ErrorCode::MlflowUnavailable
        | ErrorCode::MlflowUnauthorized => StatusCode::BAD_GATEWAY,
        ErrorCode::ArtifactStoreUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = self.0.code();
        let message = self.0.public_message();
        let body = ErrorBody { error: ErrorObject { code, message, details: self.0.mapping_issues().to_vec() } };
        let mut response = (status_of(code), Json(body)).into_response();
        add_challenge(&self.0, &mut response);
        response
    }
}

/// A refused prediction says which scheme the deployment wants (`WWW-Authenticate`).
pub(super) fn add_challenge(error: &Error, response: &mut Response) {
    if let Error::AccessDenied { challenge, .. } = error {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
