use std::time::{Duration, Instant};

use switchyard::auth::ClientCredential;
use switchyard::monitor::MonitorSnapshot;
use switchyard::runtest::{self, RunProgress, RunReport, RunRequest};
use tauri::State;
use tauri::ipc::Channel;

use crate::Desktop;
use crate::error::IpcResult;

/// Progress is sent at most this often (and always at the end).
const PROGRESS_EVERY: Duration = Duration::from_millis(50);

#[tauri::command]
pub async fn run_test(
    desktop: State<'_, Desktop>,
    service: String,
    features: serde_json::Map<String, serde_json::Value>,
    count: usize,
    generation: Option<String>,
    credential: Option<ClientCredential>,
    on_progress: Channel<RunProgress>,
) -> IpcResult<RunReport> {
    let mut last = Instant::now();
    let request = RunRequest { service, features, count, generation: generation.filter(|g| !g.is_empty()), credential };
    Ok(runtest::run(&desktop.node, request, |p| {
        if p.done == p.total || last.elapsed() >= PROGRESS_EVERY {
            last = Instant::now();
            let _ = on_progress.send(p);
        }
    })
    .await?)
}

#[tauri::command]
pub async fn monitor(desktop: State<'_, Desktop>, service: String, minutes: i64) -> IpcResult<MonitorSnapshot> {
    Ok(desktop.engine.monitor(&service, minutes))
}
