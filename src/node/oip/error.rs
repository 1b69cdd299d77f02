//! Errors in the protocol's shape, `{"error": "message"}`, and the extractors that refuse in it.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::Error;
use crate::node::{AppState, status_of};

/// An error in the protocol's shape.
pub struct OipError(pub(super) Error);

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
        crate::node::error::add_challenge(&self.0, &mut response);
        response
    }
}

pub(super) type OipResult<T> = Result<T, OipError>;

/// Path parameters, refused in the protocol's error shape.
pub struct OipPath<T>(pub(super) T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned + Send> FromRequestParts<S> for OipPath<T> {
    type Rejection = OipError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        crate::node::body::path_params(parts, state).await.map(OipPath).map_err(OipError)
    }
}

/// Proof that the caller may use the model named by the route's `{model}`: an extractor, so
/// it runs before the body is read; a refused request costs no reading or parsing.
pub struct OipAuthorized;

impl FromRequestParts<AppState> for OipAuthorized {
    type Rejection = OipError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, OipError> {
        crate::node::authorize_path(parts, state, "model").await.map_err(OipError)?;
        Ok(OipAuthorized)
    }
}

/// The request body within the route's limit, refused in the protocol's error shape.
pub struct OipBody(pub(super) Bytes);

impl<S: Send + Sync> FromRequest<S> for OipBody {
    type Rejection = OipError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        crate::node::body::read_body(req, state).await.map(OipBody).map_err(OipError)
    }
}
