//! The Deployment tab's Capture and Replay panels: one engine call each, on the local node.

use switchyard::capture::replay::{Replay, ReplayRequest};
use switchyard::capture::store::{CaptureRow, RowFilter};
use switchyard::capture::{CapturePolicy, CaptureStatus};
use tauri::State;

use crate::Desktop;
use crate::error::IpcResult;

#[tauri::command]
pub async fn capture_status(desktop: State<'_, Desktop>, service: String) -> IpcResult<CaptureStatus> {
    Ok(desktop.engine.capture_status(&service).await?)
}

/// Sets the policy; null turns capture off.
#[tauri::command]
pub async fn set_capture_policy(
    desktop: State<'_, Desktop>,
    service: String,
    policy: Option<CapturePolicy>,
) -> IpcResult<CaptureStatus> {
    Ok(desktop.engine.set_capture_policy(&service, policy, &desktop.principal.name).await?)
}

#[tauri::command]
pub async fn capture_rows(
    desktop: State<'_, Desktop>,
    service: String,
    filter: RowFilter,
) -> IpcResult<Vec<CaptureRow>> {
    Ok(desktop.engine.capture_rows(&service, &filter).await?)
}

#[tauri::command]
pub async fn start_replay(desktop: State<'_, Desktop>, service: String, request: ReplayRequest) -> IpcResult<Replay> {
    Ok(desktop.engine.start_replay(&service, &request, &desktop.principal.name).await?)
}

#[tauri::command]
pub async fn replay(desktop: State<'_, Desktop>, service: String, id: i64) -> IpcResult<Replay> {
    Ok(desktop.engine.replay(&service, id).await?)
}

#[tauri::command]
pub async fn replays(desktop: State<'_, Desktop>, service: String) -> IpcResult<Vec<Replay>> {
    Ok(desktop.engine.replays(&service).await?)
}

#[tauri::command]
pub async fn cancel_replay(desktop: State<'_, Desktop>, service: String, id: i64) -> IpcResult<Replay> {
    Ok(desktop.engine.cancel_replay(&service, id).await?)
}
