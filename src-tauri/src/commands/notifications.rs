//! Settings → Notifications: the local engine's webhooks and their recent deliveries. The
//! secret goes in once, at creation, and never comes back.

use switchyard::notify::{Delivery, NewWebhook, Webhook};
use tauri::State;

use crate::Desktop;
use crate::error::IpcResult;

#[tauri::command]
pub async fn list_webhooks(desktop: State<'_, Desktop>) -> IpcResult<Vec<Webhook>> {
    Ok(desktop.engine.list_webhooks().await?)
}

#[tauri::command]
pub async fn create_webhook(
    desktop: State<'_, Desktop>,
    url: String,
    service: Option<String>,
    secret: Option<String>,
) -> IpcResult<Webhook> {
    Ok(desktop.engine.create_webhook(&NewWebhook { url, service, secret }, &desktop.principal.name).await?)
}

#[tauri::command]
pub async fn remove_webhook(desktop: State<'_, Desktop>, id: i64) -> IpcResult<()> {
    Ok(desktop.engine.remove_webhook(id).await?)
}

#[tauri::command]
pub async fn test_webhook(desktop: State<'_, Desktop>, id: i64) -> IpcResult<Delivery> {
    Ok(desktop.engine.test_webhook(id, &desktop.principal.name).await?)
}

#[tauri::command]
pub async fn webhook_deliveries(
    desktop: State<'_, Desktop>,
    webhook: Option<i64>,
    limit: Option<i64>,
) -> IpcResult<Vec<Delivery>> {
    Ok(desktop.engine.webhook_deliveries(webhook, limit).await?)
}
