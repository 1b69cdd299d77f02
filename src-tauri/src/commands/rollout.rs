use switchyard::deploy::canary::{Canary, CanaryAction, CanaryPlan};
use switchyard::engine::CanaryOutcome;
use switchyard::monitor::ab::AbReport;
use tauri::State;

use crate::Desktop;
use crate::error::IpcResult;

#[tauri::command]
pub async fn canary(desktop: State<'_, Desktop>, service: String) -> IpcResult<Canary> {
    Ok(desktop.engine.canary(&service).await?)
}

#[tauri::command]
pub async fn start_canary(desktop: State<'_, Desktop>, service: String, plan: CanaryPlan) -> IpcResult<CanaryOutcome> {
    Ok(desktop.engine.start_canary_as(&desktop.principal, &service, plan, "").await?)
}

#[tauri::command]
pub async fn canary_action(desktop: State<'_, Desktop>, service: String, action: CanaryAction) -> IpcResult<Canary> {
    Ok(desktop.engine.canary_action(&service, action, &desktop.principal.name).await?)
}

#[tauri::command]
pub async fn ab_results(desktop: State<'_, Desktop>, service: String) -> IpcResult<AbReport> {
    Ok(desktop.engine.ab_results(&service, None).await?)
}

/// Records an outcome for a request answered by the local node (the run-and-test panel
/// offers it so users can try A/B results without a client of their own).
#[tauri::command]
pub async fn feedback(
    desktop: State<'_, Desktop>,
    service: String,
    request_id: String,
    outcome: serde_json::Value,
) -> IpcResult<()> {
    Ok(desktop.engine.feedback(&service, &request_id, &outcome).await?)
}
