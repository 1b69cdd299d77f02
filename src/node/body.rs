//! Request bodies: buffered within the route's limit and decoded with errors that say what
//! is wrong (413 over the limit, `malformed_json` for syntax, `invalid_input` for shape).

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
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
        let bytes = read_body(req, state).await?;
        decode(&bytes).map(JsonBody).map_err(ApiError)
    }
}

/// The raw request body within the route's limit, refused in the JSON error shape (axum's
/// own rejection is plain text).
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        read_body(req, state).await.map(RawBody).map_err(ApiError)
    }
}

pub async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, Error> {
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Error::PayloadTooLarge("the request body is over this endpoint's size limit".into())
        } else {
            Error::InvalidInput(format!("cannot read the request body: {rejection}"))
        }
    })
}

/// Decodes a JSON object body. Anything else is refused, arrays included: serde would read
/// an array as a struct's fields by position (`["iris", ""]` as a service), which no client
/// means and no document promises.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::MalformedJson("the request body is empty; send a JSON object".into()));
    }
    ensure_object(bytes)?;
    serde_json::from_slice(bytes).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => Error::InvalidInput(e.to_string()),
        _ => Error::MalformedJson(e.to_string()),
    })
}

/// Refuses a body that is valid JSON but not an object (malformed JSON is left to the decoder,
/// which says where it breaks).
pub fn ensure_object(bytes: &[u8]) -> Result<(), Error> {
    let object = bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    if !object && serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok() {
        return Err(Error::InvalidInput("the request body must be a JSON object ({…})".into()));
    }
    Ok(())
}

/// Path parameters of type `T`, refused as `invalid_input` in the JSON error shape (axum's
/// own rejection is plain text): invalid UTF-8 after percent-decoding, a non-numeric id.
pub struct PathOf<T>(pub T);

/// A numeric id of a path (`{id}` of a run or a replay): a number, or a 400 naming `what`.
pub fn numeric_id(what: &str, id: &str) -> Result<i64, ApiError> {
    id.parse().map_err(|_| {
        ApiError(Error::InvalidInput(format!(
            "a {what} id is a number, not '{}'",
            id.chars().take(32).collect::<String>()
        )))
    })
}

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for PathOf<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        path_params(parts, state).await.map(PathOf).map_err(ApiError)
    }
}

/// Query parameters of type `T`, refused as `invalid_input` in the JSON error shape.
pub struct QueryOf<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for QueryOf<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(t)) => Ok(QueryOf(t)),
            Err(e) => Err(ApiError(Error::InvalidInput(format!("the query string is not valid: {}", e.body_text())))),
        }
    }
}

pub async fn path_params<S: Send + Sync, T: DeserializeOwned + Send>(parts: &mut Parts, state: &S) -> Result<T, Error> {
    match Path::<T>::from_request_parts(parts, state).await {
        Ok(Path(t)) => Ok(t),
        Err(e) => Err(Error::InvalidInput(format!("the request path is not valid: {}", e.body_text()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Two {
        a: Option<i64>,
        b: Option<i64>,
    }

    #[test]
    fn only_objects_decode() {
        assert!(decode::<Two>(br#" {"a": 1}"#).is_ok());
        for (body, code) in [
            (&b"[1, 2]"[..], ErrorCode::InvalidInput),
            (b" [null, null]", ErrorCode::InvalidInput),
            (b"3", ErrorCode::InvalidInput),
            (b"\"x\"", ErrorCode::InvalidInput),
            (b"", ErrorCode::MalformedJson),
            (b" \n", ErrorCode::MalformedJson),
            (b"[1,", ErrorCode::MalformedJson),
            (b"{\"a\": ", ErrorCode::MalformedJson),
        ] {
            let err = decode::<Two>(body).expect_err(&String::from_utf8_lossy(body));
            assert_eq!(err.code(), code, "{}: {err}", String::from_utf8_lossy(body));
        }
    }
}
