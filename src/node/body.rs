//! Request bodies: buffered within the route's limit and decoded with errors that say what
//! is wrong (413 over the limit, `malformed_json` for syntax, `invalid_input` for shape).

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use crate::error::Error;

/// A JSON body of type `T`, whatever the content type the client declared (curl's `-d`
/// sends form encoding by default; refusing it would only confuse).
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError(Error::PayloadTooLarge("the request body is over this endpoint's size limit".into()))
            } else {
                ApiError(Error::InvalidInput(format!("cannot read the request body: {rejection}")))
            }
        })?;
        decode(&bytes).map(JsonBody).map_err(ApiError)
    }
}

pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    if bytes.is_empty() {
        return Err(Error::MalformedJson("the request body is empty; send a JSON object".into()));
    }
    serde_json::from_slice(bytes).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => Error::InvalidInput(e.to_string()),
        _ => Error::MalformedJson(e.to_string()),
    })
}

/// Path parameters of type `T`, refused as `invalid_input` in the JSON error shape (axum's
/// own rejection is plain text): invalid UTF-8 after percent-decoding, a non-numeric id.
pub struct PathOf<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for PathOf<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        path_params(parts, state).await.map(PathOf).map_err(ApiError)
    }
}

pub async fn path_params<S: Send + Sync, T: DeserializeOwned + Send>(parts: &mut Parts, state: &S) -> Result<T, Error> {
    match Path::<T>::from_request_parts(parts, state).await {
        Ok(Path(t)) => Ok(t),
        Err(e) => Err(Error::InvalidInput(format!("the request path is not valid: {}", e.body_text()))),
    }
}
