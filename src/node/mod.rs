//! The HTTP API node (axum): predictions, health and the admin API over one [`Engine`].
//!
//! [`router`] builds the app so tests can drive it; [`serve`] runs it on a listener the
//! caller bound, until the shutdown future resolves, then drains in-flight requests.

mod admin;
mod artifacts;
mod body;
mod capture;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod oip;
mod openapi;
mod people;
mod predict;
mod principal;
mod scenarios;
mod webhooks;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, FromRequestParts, RawPathParams, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, Method, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use tokio::net::TcpListener;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use error::{ApiError, status_of};

use crate::auth::Credential;
use crate::engine::Engine;
use crate::error::Error;

/// Request headers of the native API.
pub const GENERATION_HEADER: &str = "x-switchyard-generation";
pub const KEY_HEADER: &str = "x-switchyard-key";
pub const AUTHOR_HEADER: &str = "x-switchyard-author";
/// The API key header (alternative to `Authorization: Bearer`).
pub const API_KEY_HEADER: &str = "x-api-key";

/// The same names as `HeaderName`s, checked at compile time: a map lookup or insert by
/// `&str` parses and validates the name on every request.
const GENERATION: HeaderName = HeaderName::from_static(GENERATION_HEADER);
const KEY: HeaderName = HeaderName::from_static(KEY_HEADER);
const API_KEY: HeaderName = HeaderName::from_static(API_KEY_HEADER);

#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Bearer token the admin API requires; None leaves it open (loopback only, enforced by
    /// [`check_bind`]).
    pub admin_token: Option<String>,
    /// Largest prediction request body.
    pub body_limit: usize,
    /// Largest model upload.
    pub upload_limit: usize,
    /// How long a prediction request may take from its first byte to its answer: a client
    /// trickling its body (slowloris) cannot hold a connection and its buffer for longer.
    pub request_timeout: Duration,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            admin_token: None,
            body_limit: 1024 * 1024,
            upload_limit: 256 * 1024 * 1024,
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// The admin API may only run without a token on a loopback address.
pub fn check_bind(addr: &SocketAddr, config: &NodeConfig) -> Result<(), Error> {
    if !addr.ip().is_loopback() && config.admin_token.is_none() {
        return Err(Error::InvalidConfig(format!(
            "refusing to bind {addr} without an admin token: anyone on the network could deploy models. Pass --admin-token-file FILE, or bind 127.0.0.1"
        )));
    }
    Ok(())
}

#[derive(Clone)]
pub(crate) struct AppState {
    engine: Engine,
    config: Arc<NodeConfig>,
    /// Each admin route's operation and permission (`principal::PERMISSIONS`).
    routes: Arc<principal::RouteTable>,
}

pub fn router(engine: Engine, config: NodeConfig) -> Router {
    let (public, admin, doc, routes) = api(&config);
    let state = AppState { engine, config: Arc::new(config), routes: Arc::new(routes) };
    let public = public
        .layer(DefaultBodyLimit::max(state.config.body_limit))
        .route_layer(middleware::from_fn_with_state(state.clone(), deadline));
    let admin = admin.route_layer(middleware::from_fn_with_state(state.clone(), principal::authorize_admin));
    let doc = Arc::new(doc);
    Router::new()
        .merge(public)
        .nest("/admin/v1", admin)
        .route("/openapi.json", get(move || std::future::ready(Json(Arc::clone(&doc)))))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

/// The node's OpenAPI document: what `GET /openapi.json` answers.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api(&NodeConfig::default()).2
}

/// Every admin operation as (method, path, operation id, permission), from the route table
/// the node checks: what the matrix test calls as every role.
pub fn admin_permissions() -> Vec<(String, String, String, crate::auth::Permission)> {
    let mut out: Vec<_> = api(&NodeConfig::default())
        .3
        .into_iter()
        .map(|((method, path), (id, permission))| (method.to_string(), path, id, permission))
        .collect();
    out.sort();
    out
}

/// The public and the admin routes, and the OpenAPI document built from the same `routes!`
/// registrations (so no route can miss from it). The layers that need the node's state are
/// added by [`router`].
fn api(config: &NodeConfig) -> (Router<AppState>, Router<AppState>, utoipa::openapi::OpenApi, principal::RouteTable) {
    let (public, public_doc) = OpenApiRouter::new()
        .routes(routes!(predict::predict))
        .routes(routes!(predict::feedback))
        .routes(routes!(predict::metrics))
        .routes(routes!(predict::live))
        .routes(routes!(predict::ready))
        .routes(routes!(oip::server_metadata))
        .routes(routes!(oip::model_metadata))
        .routes(routes!(oip::model_ready))
        .routes(routes!(oip::infer))
        .routes(routes!(oip::version_metadata))
        .routes(routes!(oip::version_ready))
        .routes(routes!(oip::infer_version))
        .split_for_parts();
    let (admin, mut admin_doc) = admin::routes(config.upload_limit).split_for_parts();
    let routes = principal::declare(&mut admin_doc, "/admin/v1");
    let mut doc = openapi::ApiDoc::openapi().merge_from(public_doc).nest("/admin/v1", admin_doc);
    openapi::complete(&mut doc);
    (public, admin, doc, routes)
}

/// What the request presented to authenticate.
pub(crate) fn credential(headers: &HeaderMap) -> Credential {
    Credential::from_headers(
        headers.get(header::AUTHORIZATION).map(|v| v.as_bytes()),
        headers.get(API_KEY).map(|v| v.as_bytes()),
    )
}

/// Proof that the caller may use the deployment named by the route's `{service}`: checked
/// before the body is decoded, so a refused request costs no parsing and reaches no model.
pub(crate) struct Authorized;

impl FromRequestParts<AppState> for Authorized {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        authorize_path(parts, state, "service").await.map_err(ApiError)?;
        Ok(Authorized)
    }
}

/// Checks the caller's credentials for the deployment named by the path parameter `param`
/// (`service` on native routes, `model` on the Open Inference Protocol's).
pub(crate) async fn authorize_path(parts: &mut Parts, state: &AppState, param: &str) -> Result<(), Error> {
    let params = RawPathParams::from_request_parts(parts, state)
        .await
        .map_err(|e| Error::InvalidInput(format!("the request path is not valid: {e}")))?;
    match params.iter().find(|(k, _)| *k == param) {
        Some((_, deployment)) => state.engine.authorize(deployment, &credential(&parts.headers)),
        None => Ok(()),
    }
}

/// Answers 408 when a prediction request is not done within `request_timeout` (in the OIP
/// error shape on `/v2` routes).
async fn deadline(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let oip = oip::is_oip_path(req.uri().path());
    let limit = state.config.request_timeout;
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => {
            let error = Error::RequestTimeout(format!(
                "the request was not received and answered within {} s; send the whole body at once",
                limit.as_secs_f64()
            ));
            in_shape(oip, error)
        }
    }
}

async fn not_found(method: Method, uri: Uri) -> Response {
    in_shape(oip::is_oip_path(uri.path()), Error::NoEndpoint(format!("no endpoint {method} {}", uri.path())))
}

/// 405; axum adds the `Allow` header.
async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    in_shape(oip::is_oip_path(uri.path()), Error::MethodNotAllowed(format!("{} does not accept {method}", uri.path())))
}

/// An error in the shape of its API: the Open Inference Protocol's, or the native one.
fn in_shape(oip: bool, error: Error) -> Response {
    if oip { oip::OipError::from(error).into_response() } else { ApiError(error).into_response() }
}

/// Serves `app` on `listener` until `shutdown` resolves; in-flight requests complete.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // The peer address is the audit's "from where".
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
}
