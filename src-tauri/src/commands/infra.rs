use switchyard::infra::{InfraStatus, Infrastructure};
use tauri::State;

use crate::Desktop;
use crate::error::IpcResult;

#[tauri::command]
pub async fn list_infrastructures(desktop: State<'_, Desktop>) -> IpcResult<Vec<Infrastructure>> {
    Ok(desktop.engine.list_infrastructures().await?)
}

#[tauri::command]
pub async fn add_infrastructure(
    desktop: State<'_, Desktop>,
    name: String,
    url: String,
    token: Option<String>,
) -> IpcResult<Infrastructure> {
    Ok(desktop.engine.add_infrastructure(&name, &url, token.as_deref()).await?)
}

#[tauri::command]
pub async fn remove_infrastructure(desktop: State<'_, Desktop>, name: String) -> IpcResult<()> {
    Ok(desktop.engine.remove_infrastructure(&name).await?)
}

#[tauri::command]
pub async fn infrastructure_status(desktop: State<'_, Desktop>, name: String) -> IpcResult<InfraStatus> {
    Ok(desktop.engine.infrastructure_status(&name).await?)
}
