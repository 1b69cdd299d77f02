use serde_json::Value;
use switchyard::deploy::Revision;
use switchyard::engine::DeployOutcome;
use switchyard::router::MappingIssue;
use tauri::State;

use crate::Desktop;
use crate::error::IpcResult;

#[tauri::command]
pub async fn deploy(
    desktop: State<'_, Desktop>,
    infra: Option<String>,
    service: String,
    config: Value,
    reason: String,
) -> IpcResult<DeployOutcome> {
    Ok(desktop.target(infra).await?.deploy(&desktop.principal, &service, &config, &reason).await?)
}

#[tauri::command]
pub async fn deploy_version(
    desktop: State<'_, Desktop>,
    infra: Option<String>,
    service: String,
    version: String,
    reason: String,
) -> IpcResult<DeployOutcome> {
    Ok(desktop.target(infra).await?.deploy_version(&desktop.principal, &service, &version, &reason).await?)
}

#[tauri::command]
pub async fn rollback(
    desktop: State<'_, Desktop>,
    infra: Option<String>,
    service: String,
    to_revision: Option<i64>,
    reason: String,
) -> IpcResult<Revision> {
    Ok(desktop.target(infra).await?.rollback(&desktop.principal, &service, to_revision, &reason).await?)
}

#[tauri::command]
pub async fn validate_mapping(
    desktop: State<'_, Desktop>,
    infra: Option<String>,
    service: String,
    text: String,
) -> IpcResult<Vec<MappingIssue>> {
    Ok(desktop.target(infra).await?.validate_mapping(&service, &text).await?)
}
