use tauri::State;

use crate::Desktop;
use crate::error::IpcResult;

/// Writes the deployment report (HTML) for the range `since` (e.g. `24h`, `7d`) up to now and
/// returns the path written (`path` empty: the downloads folder).
#[tauri::command]
pub async fn export_report(
    desktop: State<'_, Desktop>,
    service: String,
    since: String,
    path: String,
) -> IpcResult<String> {
    Ok(desktop.engine.export_report_since(&service, &since, &path).await?.display().to_string())
}

/// Where the Save dialog of an export starts: the engine's default report path.
#[tauri::command]
pub fn default_report_path(desktop: State<'_, Desktop>, service: String) -> String {
    desktop.engine.default_report_path(&service).display().to_string()
}
