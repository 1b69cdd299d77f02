use serde::Serialize;
use switchyard::engine::ServiceSummary;
use switchyard::events::Change;
use switchyard::registry::Service;
use switchyard::registry::artifacts::ArtifactStoreInfo;
use tauri::State;
use tauri::ipc::Channel;

use crate::Desktop;
use crate::error::IpcResult;

#[derive(Serialize)]
pub struct NodeInfo {
    url: String,
    port: u16,
    data_dir: String,
    version: &'static str,
    /// The git commit the engine was built from.
    commit: &'static str,
}

#[tauri::command]
pub async fn node_info(desktop: State<'_, Desktop>) -> IpcResult<NodeInfo> {
    Ok(NodeInfo {
        url: desktop.node.base_url().to_owned(),
        port: desktop.node_addr.port(),
        data_dir: desktop.engine.data_dir().display().to_string(),
        version: switchyard::build_info::VERSION,
        commit: switchyard::build_info::COMMIT,
    })
}

/// Where the desktop's artifacts live (the sidebar shows it).
#[tauri::command]
pub async fn artifact_store(desktop: State<'_, Desktop>) -> IpcResult<ArtifactStoreInfo> {
    Ok(desktop.engine.artifact_store().await?)
}

#[tauri::command]
pub async fn list_services(desktop: State<'_, Desktop>, infra: Option<String>) -> IpcResult<Vec<ServiceSummary>> {
    Ok(desktop.target(infra).await?.list_services().await?)
}

#[tauri::command]
pub async fn create_service(desktop: State<'_, Desktop>, name: String, description: String) -> IpcResult<Service> {
    Ok(desktop.engine.create_service(&name, &description).await?)
}

/// Streams every change of the local engine's state to the window until the window stops
/// listening (it reloads, or closes). The window reloads what each change names.
#[tauri::command]
pub async fn watch_changes(desktop: State<'_, Desktop>, on_change: Channel<Change>) -> IpcResult<()> {
    let mut changes = desktop.engine.subscribe();
    while let Some(change) = changes.next().await {
        if on_change.send(change).is_err() {
            break;
        }
    }
    Ok(())
}
