//! Settings → People (principals and their tokens), what the console's principal may do and
//! approval requests, on the selected infrastructure; a service's protection, on the local
//! engine. The desktop acts as its OS user, the local admin; on a remote node it acts as the
//! principal of that infrastructure's token.

use switchyard::approval::{ApprovalRequest, Protection};
use switchyard::auth::people::{Capabilities, Grant, NewToken, PrincipalView};
use tauri::State;

use crate::Desktop;
use crate::error::IpcResult;

#[tauri::command]
pub async fn capabilities(desktop: State<'_, Desktop>, infra: Option<String>) -> IpcResult<Capabilities> {
    Ok(desktop.target(infra).await?.capabilities(&desktop.principal).await?)
}

#[tauri::command]
pub async fn approvals(
    desktop: State<'_, Desktop>,
    infra: Option<String>,
    service: Option<String>,
    pending_only: bool,
) -> IpcResult<Vec<ApprovalRequest>> {
    Ok(desktop.target(infra).await?.approvals(service.as_deref(), pending_only).await?)
}

#[tauri::command]
pub async fn decide_approval(
    desktop: State<'_, Desktop>,
    infra: Option<String>,
    service: String,
    id: i64,
    approve: bool,
    note: String,
) -> IpcResult<ApprovalRequest> {
    Ok(desktop.target(infra).await?.decide(&desktop.principal, &service, id, approve, &note).await?)
}

#[tauri::command]
pub async fn protection(desktop: State<'_, Desktop>, service: String) -> IpcResult<Protection> {
    Ok(desktop.engine.protection(&service).await?)
}

#[tauri::command]
pub async fn set_protection(desktop: State<'_, Desktop>, service: String, protected: bool) -> IpcResult<Protection> {
    Ok(desktop.engine.set_protected(&desktop.principal, &service, protected).await?)
}

#[tauri::command]
pub async fn list_principals(desktop: State<'_, Desktop>, infra: Option<String>) -> IpcResult<Vec<PrincipalView>> {
    Ok(desktop.target(infra).await?.list_principals(&desktop.principal).await?)
}

#[tauri::command]
pub async fn create_principal(
    desktop: State<'_, Desktop>,
    infra: Option<String>,
    name: String,
    roles: Vec<Grant>,
) -> IpcResult<PrincipalView> {
    Ok(desktop.target(infra).await?.create_principal(&desktop.principal, &name, &roles).await?)
}

#[tauri::command]
pub async fn set_roles(
    desktop: State<'_, Desktop>,
    infra: Option<String>,
    name: String,
    roles: Vec<Grant>,
) -> IpcResult<PrincipalView> {
    Ok(desktop.target(infra).await?.set_roles(&desktop.principal, &name, &roles).await?)
}

#[tauri::command]
pub async fn remove_principal(
    desktop: State<'_, Desktop>,
    infra: Option<String>,
    name: String,
) -> IpcResult<PrincipalView> {
    Ok(desktop.target(infra).await?.remove_principal(&desktop.principal, &name).await?)
}

#[tauri::command]
pub async fn create_token(
    desktop: State<'_, Desktop>,
    infra: Option<String>,
    principal: String,
    name: String,
    expires_in_seconds: Option<u64>,
) -> IpcResult<NewToken> {
    let ttl = expires_in_seconds.map(std::time::Duration::from_secs);
    Ok(desktop.target(infra).await?.create_token(&desktop.principal, &principal, &name, ttl).await?)
}

#[tauri::command]
pub async fn revoke_token(
    desktop: State<'_, Desktop>,
    infra: Option<String>,
    principal: String,
    id: i64,
) -> IpcResult<PrincipalView> {
    Ok(desktop.target(infra).await?.revoke_token(&desktop.principal, &principal, id).await?)
}
