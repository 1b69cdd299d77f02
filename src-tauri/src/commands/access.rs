use switchyard::auth::{AccessView, AuthMode, NewKey};
use tauri::State;

use crate::Desktop;
use crate::error::IpcResult;

#[tauri::command]
pub async fn access(desktop: State<'_, Desktop>, service: String) -> IpcResult<AccessView> {
    Ok(desktop.engine.access(&service).await?)
}

#[tauri::command]
pub async fn set_auth_mode(desktop: State<'_, Desktop>, service: String, mode: AuthMode) -> IpcResult<AccessView> {
    Ok(desktop.engine.set_auth_mode(&service, mode).await?)
}

#[tauri::command]
pub async fn create_key(desktop: State<'_, Desktop>, service: String, name: String) -> IpcResult<NewKey> {
    Ok(desktop.engine.create_key(&service, &name).await?)
}

#[tauri::command]
pub async fn rotate_key(
    desktop: State<'_, Desktop>,
    service: String,
    id: i64,
    overlap_seconds: u64,
) -> IpcResult<NewKey> {
    Ok(desktop.engine.rotate_key(&service, id, std::time::Duration::from_secs(overlap_seconds)).await?)
}

#[tauri::command]
pub async fn revoke_key(desktop: State<'_, Desktop>, service: String, id: i64) -> IpcResult<AccessView> {
    Ok(desktop.engine.revoke_key(&service, id).await?)
}
