use serde_json::Value;
use switchyard::deploy::Revision;
use switchyard::router::MappingIssue;
use tauri::State;

use crate::Desktop;
use crate::error::IpcResult;

const AUTHOR: &str = "desktop";

#[tauri::command]
pub async fn deploy(
    desktop: State<'_, Desktop>,
    service: String,
    config: Value,
    reason: String,
) -> IpcResult<Revision> {
    Ok(desktop.engine.deploy(&service, &config, AUTHOR, &reason).await?)
}

#[tauri::command]
pub async fn deploy_version(
    desktop: State<'_, Desktop>,
    service: String,
    version: String,
    reason: String,
) -> IpcResult<Revision> {
    Ok(desktop.engine.deploy_version(&service, &version, AUTHOR, &reason).await?)
}

#[tauri::command]
pub async fn rollback(
    desktop: State<'_, Desktop>,
    service: String,
    to_revision: Option<i64>,
    reason: String,
) -> IpcResult<Revision> {
    Ok(desktop.engine.rollback(&service, to_revision, AUTHOR, &reason).await?)
}

#[tauri::command]
pub async fn validate_mapping(
    desktop: State<'_, Desktop>,
    service: String,
    text: String,
) -> IpcResult<Vec<MappingIssue>> {
    Ok(desktop.engine.validate_mapping(&service, &text).await?)
}
