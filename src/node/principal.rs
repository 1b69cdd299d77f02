//! Who calls the admin API, what each route needs, and the audit of every state-changing
//! call.
//!
//! [`PERMISSIONS`] is the one route table: every admin operation (by its OpenAPI operation
//! id) declares the permission it needs. [`declare`] reads it when the router is built: it
//! adds `x-permission` and a sentence to each operation of the OpenAPI document, and builds
//! the lookup [`authorize_admin`] uses; an operation missing from the table stops the node
//! from building its router (and fails the unit tests), so no route can skip the check. The
//! matrix test (`tests/it/people.rs`) calls every operation of the document as every role.

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts, MatchedPath, RawPathParams, Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use utoipa::openapi::OpenApi;
use utoipa::openapi::extensions::ExtensionsBuilder;

use super::error::ApiError;
use super::{AUTHOR_HEADER, AppState};
use crate::audit::{Entry, Outcome};
use crate::auth::people::{BOOTSTRAP_ADMIN, Permission, Principal};
use crate::engine::AuditTarget;
use crate::error::Error;

/// The permission each admin operation needs, by operation id.
pub(super) const PERMISSIONS: &[(&str, Permission)] = {
    use Permission::*;
    &[
        ("me", Read),
        ("list_services", Read),
        ("create_service", Manage),
        ("get_service", Read),
        ("list_versions", Read),
        ("create_version", Manage),
        ("import_mlflow_version", Manage),
        ("mlflow_models", Read),
        ("mlflow_versions", Read),
        ("get_version", Read),
        ("get_deployment", Read),
        ("deploy", Deploy),
        ("rollback", Deploy),
        ("revisions", Read),
        ("monitor", Read),
        ("drift", Read),
        ("ab", Read),
        ("report", Read),
        ("get_canary", Read),
        ("start_canary", Deploy),
        ("canary_action", Deploy),
        ("get_access", Read),
        ("set_auth_mode", Manage),
        ("create_key", Manage),
        ("rotate_key", Manage),
        ("revoke_key", Manage),
        ("get_capture", Read),
        ("set_capture", Manage),
        ("capture_rows", Read),
        ("export_capture", Read),
        ("list_replays", Read),
        ("start_replay", Deploy),
        ("get_replay", Read),
        ("cancel_replay", Deploy),
        ("get_protection", Read),
        ("set_protection", Manage),
        ("service_approvals", Read),
        ("request_approval", Deploy),
        ("approve", Approve),
        ("reject", Approve),
        ("list_approvals", Read),
        ("list_scenarios", Read),
        ("save_scenario", Manage),
        ("validate_scenario", Read),
        ("get_scenario", Read),
        ("delete_scenario", Manage),
        ("next_fires", Read),
        ("scenario_runs", Read),
        ("start_run", Deploy),
        ("scenario_run", Read),
        ("cancel_run", Deploy),
        ("list_principals", Users),
        ("create_principal", Users),
        ("get_principal", Users),
        ("remove_principal", Users),
        ("set_roles", Users),
        ("create_token", Users),
        ("revoke_token", Users),
        ("audit", Manage),
        ("verify_audit", Manage),
        ("artifact_store", Read),
        ("collect_garbage", Manage),
        ("list_webhooks", Read),
        ("create_webhook", Manage),
        ("remove_webhook", Manage),
        ("test_webhook", Manage),
        ("webhook_deliveries", Read),
    ]
};

/// (method, full path template) → (operation id, permission).
pub(crate) type RouteTable = HashMap<(Method, String), (String, Permission)>;

/// Reads [`PERMISSIONS`] into the admin part of the document (`x-permission`, a sentence in
/// the description, the 403 answer) and answers the lookup of [`authorize_admin`].
///
/// # Panics
/// When an admin operation has no entry in [`PERMISSIONS`]: a route without a declared
/// permission must not be served.
pub(super) fn declare(doc: &mut OpenApi, prefix: &str) -> RouteTable {
    let table: HashMap<&str, Permission> = PERMISSIONS.iter().copied().collect();
    let mut routes = RouteTable::new();
    for (path, item) in doc.paths.paths.iter_mut() {
        let ops = [
            (Method::GET, &mut item.get),
            (Method::PUT, &mut item.put),
            (Method::POST, &mut item.post),
            (Method::DELETE, &mut item.delete),
        ];
        for (method, op) in ops {
            let Some(op) = op.as_mut() else { continue };
            let id = op.operation_id.clone().unwrap_or_default();
            let Some(&permission) = table.get(id.as_str()) else {
                panic!(
                    "admin operation '{id}' ({method} {path}) declares no permission in node::principal::PERMISSIONS"
                )
            };
            let extensions = ExtensionsBuilder::new().add("x-permission", permission.as_str()).build();
            op.extensions.get_or_insert_with(Default::default).merge(extensions);
            let on = if permission.scoped() && path.contains("{service}") { " on the service" } else { "" };
            let sentence = format!("Needs the `{}` permission{on}.", permission.as_str());
            op.description = Some(match op.description.take() {
                Some(d) if !d.is_empty() => format!("{d}\n\n{sentence}"),
                _ => sentence,
            });
            routes.insert((method, format!("{prefix}{path}")), (id, permission));
        }
    }
    routes
}

/// The principal calling the admin API; handlers take it as an extension.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub principal: Principal,
}

/// A note a handler attaches to its answer for the audit row (`approval request 3`).
#[derive(Debug, Clone)]
pub(crate) struct AuditNote(pub String);

/// Resolves the bearer token to a principal: the node's admin token is the bootstrap
/// `admin`; any other token must be a principal's usable token. A loopback node without an
/// admin token takes a caller without a token as the bootstrap admin.
async fn principal(state: &AppState, headers: &HeaderMap) -> Result<Principal, Error> {
    let given = match headers.get(header::AUTHORIZATION) {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
                .map(str::trim)
                .ok_or_else(|| Error::Unauthorized("send the token as 'Authorization: Bearer <token>'".into()))?,
        ),
    };
    match (given, &state.config.admin_token) {
        (None, None) => Ok(Principal::admin(BOOTSTRAP_ADMIN)),
        (None, Some(_)) => Err(Error::Unauthorized(
            "the admin API needs 'Authorization: Bearer <token>' with this node's admin token or a principal's token"
                .into(),
        )),
        (Some(token), admin) => {
            if admin.as_ref().is_some_and(|a| crate::auth::same_secret(token.as_bytes(), a.as_bytes())) {
                return Ok(Principal::admin(BOOTSTRAP_ADMIN));
            }
            state
                .engine
                .principal_for_token(token)
                .await?
                .ok_or_else(|| Error::Unauthorized("the token is not valid here: unknown, expired or revoked".into()))
        }
    }
}

/// Where the call came from: the peer's address.
fn source(req: &Request) -> String {
    req.extensions().get::<ConnectInfo<SocketAddr>>().map_or_else(|| "unknown".to_owned(), |c| c.0.ip().to_string())
}

/// What the call acts on, from its path parameters.
fn target(template: &str, params: &[(String, String)]) -> (AuditTarget, Option<String>) {
    let param = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    if let Some(service) = param("service") {
        return (AuditTarget::Service(service.clone()), Some(service));
    }
    match param("name") {
        Some(name) if template.contains("/scenarios/") => (AuditTarget::Scenario(name), None),
        Some(name) if template.contains("/users/") => (AuditTarget::Principal(name), None),
        _ => (AuditTarget::Node, None),
    }
}

/// The admin API's gate: resolves the caller, checks the route's permission (on the
/// service in the path, if any), and records every call that is not a read, refused or not,
/// in the audit with the target's digest before and after.
pub(super) async fn authorize_admin(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let template = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_owned()).unwrap_or_default();
    let Some((operation, permission)) = state.routes.get(&(req.method().clone(), template.clone())).cloned() else {
        // Unreachable: every admin route is in the table (`declare`), or the router is not built.
        return ApiError(Error::Internal(format!("no permission declared for {} {template}", req.method())))
            .into_response();
    };
    let (mut parts, body) = req.into_parts();
    let params: Vec<(String, String)> = RawPathParams::from_request_parts(&mut parts, &state)
        .await
        .map(|p| p.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect())
        .unwrap_or_default();
    let req = Request::from_parts(parts, body);
    let audited = permission != Permission::Read;
    let (target, service) = target(&template, &params);
    let from = source(&req);
    let claimed =
        req.headers().get(AUTHOR_HEADER).and_then(|v| v.to_str().ok()).map(|a| a.chars().take(100).collect::<String>());
    let mut entry = Entry {
        at_ms: state.engine.now_ms(),
        principal: "anonymous".into(),
        source: from,
        action: operation,
        target: req.uri().path().chars().take(500).collect(),
        service: service.clone(),
        before: String::new(),
        after: String::new(),
        outcome: Outcome::Refused,
        status: 0,
        detail: claimed.map(|c| format!("client: {c}")).unwrap_or_default(),
    };
    let who = match principal(&state, req.headers()).await {
        Ok(p) => p,
        Err(e) => return refuse(&state, audited, entry, e).await,
    };
    entry.principal = who.name.clone();
    if let Err(e) = who.require(permission, service.as_deref()) {
        return refuse(&state, audited, entry, e).await;
    }
    let mut req = req;
    req.extensions_mut().insert(Caller { principal: who });
    if !audited {
        return next.run(req).await;
    }
    entry.before = digest(&state, &target).await;
    let response = next.run(req).await;
    entry.after = digest(&state, &target).await;
    entry.at_ms = state.engine.now_ms();
    entry.status = response.status().as_u16();
    entry.outcome = match response.status() {
        s if s.is_success() => Outcome::Ok,
        s if s == axum::http::StatusCode::FORBIDDEN || s == axum::http::StatusCode::UNAUTHORIZED => Outcome::Refused,
        _ => Outcome::Failed,
    };
    if let Some(AuditNote(note)) = response.extensions().get::<AuditNote>() {
        entry.detail = if entry.detail.is_empty() { note.clone() } else { format!("{note}; {}", entry.detail) };
    }
    record(&state, &entry).await;
    response
}

async fn digest(state: &AppState, target: &AuditTarget) -> String {
    state.engine.state_digest(target).await.unwrap_or_else(|e| {
        tracing::warn!("cannot digest {target:?} for the audit: {e}");
        "unreadable".to_owned()
    })
}

async fn refuse(state: &AppState, audited: bool, mut entry: Entry, error: Error) -> Response {
    let response = ApiError(error).into_response();
    if audited {
        entry.status = response.status().as_u16();
        let code = if entry.status == 401 { "unauthorized" } else { "forbidden" };
        entry.detail = if entry.detail.is_empty() { code.to_owned() } else { format!("{code}; {}", entry.detail) };
        record(state, &entry).await;
    }
    response
}

async fn record(state: &AppState, entry: &Entry) {
    if let Err(e) = state.engine.record_audit(entry).await {
        tracing::error!(action = %entry.action, principal = %entry.principal, "cannot append to the audit: {e}");
    }
}
