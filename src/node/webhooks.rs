//! Notification routes of the admin API (`/admin/v1/webhooks…`): webhooks (the secret is
//! write-only), a test send, and the recent deliveries with their state and reason.

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::admin::note;
use super::body::{JsonBody, PathOf, QueryOf};
use super::error::{ApiResult, ErrorBody};
use super::principal::Caller;
use crate::notify::{Delivery, NewWebhook, Webhook};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_webhooks, create_webhook))
        .routes(routes!(remove_webhook))
        .routes(routes!(test_webhook))
        .routes(routes!(webhook_deliveries))
}

/// `{id}` of a webhook.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // a document type: the handlers read the path with `PathOf`
struct WebhookPath {
    /// The webhook's id.
    id: i64,
}

/// Every webhook (secrets are never shown; URLs are masked past their first path segment).
#[utoipa::path(get, path = "/webhooks", tag = "notifications", operation_id = "list_webhooks",
    responses((status = 200, description = "The webhooks, oldest first", body = Vec<Webhook>)))]
async fn list_webhooks(State(s): State<AppState>) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.engine.list_webhooks().await?))
}

/// Creates a webhook for one service's events, or every service's. Events are POSTed as
/// JSON with a Slack-compatible `text`; with a secret, each request is signed
/// (`X-Switchyard-Signature: sha256=<hex HMAC-SHA256(secret, "<X-Switchyard-Timestamp>.<body>")>`).
#[utoipa::path(post, path = "/webhooks", tag = "notifications", operation_id = "create_webhook",
    request_body = NewWebhook,
    responses(
        (status = 201, description = "The webhook (without its secret)", body = Webhook),
        (status = 400, description = "A URL that is not http(s), or a secret of the wrong length", body = ErrorBody),
        (status = 404, description = "No such service", body = ErrorBody),
    ))]
async fn create_webhook(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    JsonBody(new): JsonBody<NewWebhook>,
) -> ApiResult<impl IntoResponse> {
    let hook = s.engine.create_webhook(&new, &caller.principal.name).await?;
    Ok((StatusCode::CREATED, note(format!("webhook {}", hook.id)), Json(hook)))
}

/// Removes a webhook; its pending deliveries end as failed. Its deliveries stay listed.
#[utoipa::path(delete, path = "/webhooks/{id}", tag = "notifications", operation_id = "remove_webhook",
    params(WebhookPath),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "No such webhook", body = ErrorBody),
    ))]
async fn remove_webhook(State(s): State<AppState>, PathOf(id): PathOf<i64>) -> ApiResult<impl IntoResponse> {
    s.engine.remove_webhook(id).await?;
    Ok((StatusCode::NO_CONTENT, note(format!("webhook {id}"))))
}

/// Sends a test event to the webhook now, once, and answers how it went (delivered, or
/// failed and why).
#[utoipa::path(post, path = "/webhooks/{id}/test", tag = "notifications", operation_id = "test_webhook",
    params(WebhookPath),
    responses(
        (status = 200, description = "The test delivery", body = Delivery),
        (status = 404, description = "No such webhook", body = ErrorBody),
    ))]
async fn test_webhook(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    PathOf(id): PathOf<i64>,
) -> ApiResult<impl IntoResponse> {
    let delivery = s.engine.test_webhook(id, &caller.principal.name).await?;
    Ok((note(format!("webhook {id} test: {:?}", delivery.state).to_lowercase()), Json(delivery)))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct DeliveriesQuery {
    /// Only this webhook's deliveries.
    #[serde(default)]
    webhook: Option<i64>,
    /// At most this many, newest first (default 50, at most 500).
    #[serde(default)]
    limit: Option<i64>,
}

/// Recent deliveries, newest first: the event, the state (pending, delivered, failed), every
/// attempt with the endpoint's status or why it failed.
#[utoipa::path(get, path = "/webhooks/deliveries", tag = "notifications", operation_id = "webhook_deliveries",
    params(DeliveriesQuery),
    responses(
        (status = 200, description = "The deliveries", body = Vec<Delivery>),
        (status = 404, description = "No such webhook", body = ErrorBody),
    ))]
async fn webhook_deliveries(
    State(s): State<AppState>,
    QueryOf(q): QueryOf<DeliveriesQuery>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.engine.webhook_deliveries(q.webhook, q.limit).await?))
}
