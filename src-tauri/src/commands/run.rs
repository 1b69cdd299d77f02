use std::time::{Duration, Instant};

use switchyard::infra::Target;
use switchyard::monitor::MonitorSnapshot;
use switchyard::runtest::{self, RunProgress, RunReport, RunRequest};
use tauri::State;
use tauri::ipc::Channel;

use crate::Desktop;
use crate::error::IpcResult;

/// Progress is sent at most this often (and always at the end).
const PROGRESS_EVERY: Duration = Duration::from_millis(50);

/// One run: `request` is `{service, features, count, generation, credential}`.
#[tauri::command]
pub async fn run_test(
    desktop: State<'_, Desktop>,
    infra: Option<String>,
    mut request: RunRequest,
    on_progress: Channel<RunProgress>,
) -> IpcResult<RunReport> {
    let mut last = Instant::now();
    request.generation = request.generation.filter(|g| !g.is_empty());
    let remote = match desktop.target(infra).await? {
        Target::Remote(client) => Some(client),
        Target::Local(_) => None,
    };
    Ok(runtest::run(remote.as_ref().unwrap_or(&desktop.node), request, |p| {
        if p.done == p.total || last.elapsed() >= PROGRESS_EVERY {
            last = Instant::now();
            let _ = on_progress.send(p);
        }
    })
    .await?)
}

#[tauri::command]
pub async fn monitor(
    desktop: State<'_, Desktop>,
    infra: Option<String>,
    service: String,
    minutes: i64,
) -> IpcResult<MonitorSnapshot> {
    Ok(desktop.target(infra).await?.monitor(&service, minutes).await?)
}

#[tauri::command]
pub async fn drift(
    desktop: State<'_, Desktop>,
    infra: Option<String>,
    service: String,
    minutes: i64,
) -> IpcResult<switchyard::drift::DriftReport> {
    Ok(desktop.target(infra).await?.drift(&service, minutes).await?)
}
