//! People routes of the admin API: the caller's capabilities (`/me`), principals and their
//! tokens (`/users…`), protected services and approval requests, and the audit.

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::admin::{note, requested};
use super::body::{JsonBody, PathOf, QueryOf, RawBody, decode};
use super::error::{ApiResult, ErrorBody};
use super::openapi::ServicePath;
use super::principal::Caller;
use crate::approval::{ApprovalKind, ApprovalRequest, Protection};
use crate::audit::{AuditRow, ChainVerdict, Filter};
use crate::auth::people::{Capabilities, Grant, NewToken, PrincipalView};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(me))
        .routes(routes!(list_principals, create_principal))
        .routes(routes!(get_principal, remove_principal))
        .routes(routes!(set_roles))
        .routes(routes!(create_token))
        .routes(routes!(revoke_token))
        .routes(routes!(get_protection, set_protection))
        .routes(routes!(service_approvals, request_approval))
        .routes(routes!(approve))
        .routes(routes!(reject))
        .routes(routes!(list_approvals))
        .routes(routes!(audit))
        .routes(routes!(verify_audit))
}

/// `{name}` of a principal.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // a document type: the handlers read the path with `PathOf`
struct PrincipalPath {
    name: String,
}

/// `{name}` and `{id}` of a principal's token.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
struct TokenPath {
    name: String,
    /// The token's id.
    id: i64,
}

/// `{service}` and `{id}` of an approval request.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
struct ApprovalPath {
    service: crate::names::ServiceName,
    /// The request's number.
    id: i64,
}

/// Who the caller is and what it may do, on the node and per service.
#[utoipa::path(get, path = "/me", tag = "people", operation_id = "me",
    responses((status = 200, description = "The caller's capabilities", body = Capabilities)))]
async fn me(State(s): State<AppState>, Extension(caller): Extension<Caller>) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.engine.capabilities(&caller.principal).await?))
}

/// Every principal (removed ones included), with roles and tokens (never their secrets).
#[utoipa::path(get, path = "/users", tag = "people", operation_id = "list_principals",
    responses((status = 200, description = "The principals", body = Vec<PrincipalView>)))]
async fn list_principals(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.engine.list_principals(&caller.principal).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewPrincipal {
    name: String,
    /// At least one role, each on every service (`*`) or on services matching a glob.
    roles: Vec<Grant>,
}

/// Creates a principal with its roles; give it a token next.
#[utoipa::path(post, path = "/users", tag = "people", operation_id = "create_principal",
    request_body = NewPrincipal,
    responses(
        (status = 201, description = "Created", body = PrincipalView),
        (status = 409, description = "The name is taken (names are never reused)", body = ErrorBody),
    ))]
async fn create_principal(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    JsonBody(b): JsonBody<NewPrincipal>,
) -> ApiResult<impl IntoResponse> {
    Ok((StatusCode::CREATED, Json(s.engine.create_principal(&caller.principal, &b.name, &b.roles).await?)))
}

/// One principal.
#[utoipa::path(get, path = "/users/{name}", tag = "people", operation_id = "get_principal",
    params(PrincipalPath), responses((status = 200, description = "The principal", body = PrincipalView)))]
async fn get_principal(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    PathOf(name): PathOf<String>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.engine.get_principal(&caller.principal, &name).await?))
}

/// Removes a principal: its roles go and its tokens are revoked at once.
#[utoipa::path(delete, path = "/users/{name}", tag = "people", operation_id = "remove_principal",
    params(PrincipalPath), responses((status = 200, description = "The removed principal", body = PrincipalView)))]
async fn remove_principal(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    PathOf(name): PathOf<String>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.engine.remove_principal(&caller.principal, &name).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Roles {
    roles: Vec<Grant>,
}

/// Replaces a principal's roles.
#[utoipa::path(put, path = "/users/{name}/roles", tag = "people", operation_id = "set_roles",
    params(PrincipalPath), request_body = Roles,
    responses((status = 200, description = "The principal", body = PrincipalView)))]
async fn set_roles(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    PathOf(name): PathOf<String>,
    JsonBody(b): JsonBody<Roles>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.engine.set_grants(&caller.principal, &name, &b.roles).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewTokenBody {
    /// What the token is for (a laptop, a CI job).
    name: String,
    /// Seconds until it expires (default: never; revoke it instead).
    #[serde(default)]
    expires_in_seconds: Option<u64>,
}

/// Creates a token for a principal; its secret is in this answer and nowhere else, ever.
#[utoipa::path(post, path = "/users/{name}/tokens", tag = "people", operation_id = "create_token",
    params(PrincipalPath), request_body = NewTokenBody,
    responses((status = 201, description = "The token and its secret", body = NewToken)))]
async fn create_token(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    PathOf(name): PathOf<String>,
    JsonBody(b): JsonBody<NewTokenBody>,
) -> ApiResult<impl IntoResponse> {
    let ttl = b.expires_in_seconds.map(std::time::Duration::from_secs);
    let token = s.engine.create_token(&caller.principal, &name, &b.name, ttl).await?;
    Ok((StatusCode::CREATED, note(format!("token {}", token.token.id)), Json(token)))
}

/// Revokes a principal's token at once.
#[utoipa::path(post, path = "/users/{name}/tokens/{id}/revoke", tag = "people", operation_id = "revoke_token",
    params(TokenPath), responses((status = 200, description = "The principal", body = PrincipalView)))]
async fn revoke_token(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    PathOf((name, id)): PathOf<(String, i64)>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.engine.revoke_token(&caller.principal, &name, id).await?))
}

/// Whether the service's deploys and canary starts need approval.
#[utoipa::path(get, path = "/deployments/{service}/protection", tag = "approvals", operation_id = "get_protection",
    params(ServicePath), responses((status = 200, description = "The protection", body = Protection)))]
async fn get_protection(State(s): State<AppState>, PathOf(service): PathOf<String>) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.engine.protection(&service).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct SetProtection {
    protected: bool,
}

/// Protects the service (deploys and canary starts need an approved request) or lifts it.
#[utoipa::path(put, path = "/deployments/{service}/protection", tag = "approvals", operation_id = "set_protection",
    params(ServicePath), request_body = SetProtection,
    responses((status = 200, description = "The protection", body = Protection)))]
async fn set_protection(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    PathOf(service): PathOf<String>,
    JsonBody(b): JsonBody<SetProtection>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.engine.set_protected(&caller.principal, &service, b.protected).await?))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct Pending {
    /// Only the requests still waiting for a decision (default false).
    #[serde(default)]
    pending: Option<bool>,
}

/// The service's approval requests, newest first.
#[utoipa::path(get, path = "/deployments/{service}/approvals", tag = "approvals", operation_id = "service_approvals",
    params(ServicePath, Pending), responses((status = 200, description = "The requests", body = Vec<ApprovalRequest>)))]
async fn service_approvals(
    State(s): State<AppState>,
    PathOf(service): PathOf<String>,
    QueryOf(q): QueryOf<Pending>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.engine.approval_requests(Some(&service), q.pending.unwrap_or(false)).await?))
}

/// Every service's approval requests, newest first.
#[utoipa::path(get, path = "/approvals", tag = "approvals", operation_id = "list_approvals",
    params(Pending), responses((status = 200, description = "The requests", body = Vec<ApprovalRequest>)))]
async fn list_approvals(State(s): State<AppState>, QueryOf(q): QueryOf<Pending>) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.engine.approval_requests(None, q.pending.unwrap_or(false)).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewApproval {
    kind: ApprovalKind,
    /// The deployment config (deploy) or canary plan (canary) to run when approved.
    #[schema(value_type = Object)]
    payload: Value,
    /// Why: the approver reads it.
    reason: String,
    /// Seconds the request waits for a decision (default one day, at most 30 days).
    #[serde(default)]
    expires_in_seconds: Option<u64>,
}

/// Requests approval of a deploy or canary on a protected service. A deploy or canary start
/// on a protected service requests it too, with the default expiry.
#[utoipa::path(post, path = "/deployments/{service}/approvals", tag = "approvals", operation_id = "request_approval",
    params(ServicePath), request_body = NewApproval,
    responses(
        (status = 202, description = "The request, waiting for another principal", body = ApprovalRequest),
        (status = 409, description = "The service is not protected", body = ErrorBody),
    ))]
async fn request_approval(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    PathOf(service): PathOf<String>,
    JsonBody(b): JsonBody<NewApproval>,
) -> ApiResult<axum::response::Response> {
    let ttl = b.expires_in_seconds.map(std::time::Duration::from_secs);
    let request = match b.kind {
        ApprovalKind::Deploy => {
            // The same checks as a deploy: nothing invalid waits for approval.
            let known: std::collections::HashSet<String> =
                s.engine.list_versions(&service).await?.into_iter().map(|v| v.version.id.as_str().to_owned()).collect();
            crate::deploy::DeploymentConfig::from_value(&b.payload, |g| known.contains(g))?;
            s.engine.request_approval(&caller.principal, &service, b.kind, &b.payload, &b.reason, ttl).await?
        }
        ApprovalKind::Canary => {
            let plan: crate::deploy::canary::CanaryPlan = decode(b.payload.to_string().as_bytes())?;
            plan.check()?;
            s.engine.request_approval(&caller.principal, &service, b.kind, &b.payload, &b.reason, ttl).await?
        }
    };
    Ok(requested(request))
}

#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
struct Decision {
    /// The decider's note.
    #[serde(default)]
    note: String,
}

/// Approves a request and runs its change in the requester's name. Needs `approve` on the
/// service; the requester cannot approve their own request.
#[utoipa::path(post, path = "/deployments/{service}/approvals/{id}/approve", tag = "approvals", operation_id = "approve",
    params(ApprovalPath), request_body = Option<Decision>,
    responses(
        (status = 200, description = "The approved request, with what it produced", body = ApprovalRequest),
        (status = 409, description = "Decided already, or expired", body = ErrorBody),
    ))]
async fn approve(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    PathOf((service, id)): PathOf<(String, i64)>,
    RawBody(body): RawBody,
) -> ApiResult<impl IntoResponse> {
    let d: Decision = if body.is_empty() { Decision::default() } else { decode(&body)? };
    let request = s.engine.approve(&caller.principal, &service, id, &d.note).await?;
    Ok((note(format!("approval request {id} approved: {}", request.outcome)), Json(request)))
}

/// Rejects a request. Needs `approve` on the service; not the requester's own.
#[utoipa::path(post, path = "/deployments/{service}/approvals/{id}/reject", tag = "approvals", operation_id = "reject",
    params(ApprovalPath), request_body = Option<Decision>,
    responses(
        (status = 200, description = "The rejected request", body = ApprovalRequest),
        (status = 409, description = "Decided already, or expired", body = ErrorBody),
    ))]
async fn reject(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    PathOf((service, id)): PathOf<(String, i64)>,
    RawBody(body): RawBody,
) -> ApiResult<impl IntoResponse> {
    let d: Decision = if body.is_empty() { Decision::default() } else { decode(&body)? };
    let request = s.engine.reject(&caller.principal, &service, id, &d.note).await?;
    Ok((note(format!("approval request {id} rejected")), Json(request)))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct AuditQuery {
    /// From this time, Unix milliseconds.
    #[serde(default)]
    since: Option<i64>,
    /// Until this time, Unix milliseconds.
    #[serde(default)]
    until: Option<i64>,
    /// Only the rows of this service.
    #[serde(default)]
    service: Option<String>,
    /// At most this many rows, oldest first (default 10000).
    #[serde(default)]
    limit: Option<i64>,
}

/// Audit rows, oldest first: who did what, when, from where, with the target's digests
/// before and after and the outcome.
#[utoipa::path(get, path = "/audit", tag = "audit", operation_id = "audit",
    params(AuditQuery), responses((status = 200, description = "The rows", body = Vec<AuditRow>)))]
async fn audit(State(s): State<AppState>, QueryOf(q): QueryOf<AuditQuery>) -> ApiResult<impl IntoResponse> {
    let filter =
        Filter { since_ms: q.since, until_ms: q.until, service: q.service, limit: Some(q.limit.unwrap_or(10_000)) };
    Ok(Json(s.engine.audit_rows(&filter).await?))
}

/// Checks the audit's hash chain and names the first bad row.
#[utoipa::path(get, path = "/audit/verify", tag = "audit", operation_id = "verify_audit",
    responses((status = 200, description = "The verdict", body = ChainVerdict)))]
async fn verify_audit(State(s): State<AppState>) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.engine.verify_audit().await?))
}
