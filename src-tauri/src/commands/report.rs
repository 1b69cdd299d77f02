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
