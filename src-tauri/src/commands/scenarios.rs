//! The Scenarios screen: steps editor, triggers with next fire times, runs with live logs.
//! Each command is one engine call (the live view polls the engine and streams changes over a
//! channel).

use std::time::Duration;

use serde_json::Value;
use switchyard::scenario::{Run, RunStatus, RunTrigger, Scenario, ScenarioIssue, ScenarioView, TriggerFires};
use tauri::State;
use tauri::ipc::Channel;

use crate::Desktop;
use crate::error::{IpcError, IpcResult};

/// How often the live view looks at a run in progress.
const WATCH_EVERY: Duration = Duration::from_millis(250);

#[tauri::command]
pub async fn list_scenarios(desktop: State<'_, Desktop>) -> IpcResult<Vec<ScenarioView>> {
    Ok(desktop.engine.list_scenarios().await?)
}

#[tauri::command]
pub async fn get_scenario(desktop: State<'_, Desktop>, name: String) -> IpcResult<ScenarioView> {
    Ok(desktop.engine.get_scenario(&name).await?)
}

/// Saves the spec as the editor holds it; a spec that does not even parse is `invalid_input`.
#[tauri::command]
pub async fn save_scenario(desktop: State<'_, Desktop>, spec: Value) -> IpcResult<ScenarioView> {
    let spec: Scenario =
        serde_json::from_value(spec).map_err(|e| IpcError::invalid_input(format!("not a scenario: {e}")))?;
    Ok(desktop.engine.save_scenario(spec).await?)
}

/// Every problem of the spec being edited, each at its place (empty when it can be saved).
#[tauri::command]
pub async fn validate_scenario(desktop: State<'_, Desktop>, spec: Value) -> IpcResult<Vec<ScenarioIssue>> {
    Ok(desktop.engine.validate_scenario(&spec).await?)
}

#[tauri::command]
pub async fn delete_scenario(desktop: State<'_, Desktop>, name: String) -> IpcResult<()> {
    Ok(desktop.engine.delete_scenario(&name).await?)
}

#[tauri::command]
pub async fn scenario_next_fires(
    desktop: State<'_, Desktop>,
    name: String,
    count: Option<usize>,
) -> IpcResult<Vec<TriggerFires>> {
    Ok(desktop.engine.next_fires(&name, count.unwrap_or(5)).await?)
}

/// Starts a run by hand; returns at once with the run (status `running`).
#[tauri::command]
pub async fn start_scenario_run(desktop: State<'_, Desktop>, name: String) -> IpcResult<Run> {
    Ok(desktop.engine.start_run(&name, RunTrigger::manual(&desktop.principal.name)).await?)
}

#[tauri::command]
pub async fn scenario_runs(desktop: State<'_, Desktop>, name: String, limit: Option<usize>) -> IpcResult<Vec<Run>> {
    Ok(desktop.engine.scenario_runs(&name, limit.unwrap_or(50)).await?)
}

/// One run with its log.
#[tauri::command]
pub async fn scenario_run(desktop: State<'_, Desktop>, name: String, id: i64) -> IpcResult<Run> {
    Ok(desktop.engine.scenario_run(&name, id).await?)
}

#[tauri::command]
pub async fn cancel_scenario_run(desktop: State<'_, Desktop>, name: String, id: i64) -> IpcResult<Run> {
    Ok(desktop.engine.cancel_run(&name, id, &desktop.principal.name).await?)
}

/// Streams a run (with its log) whenever its steps, status or log change, until it ends;
/// returns the final run.
#[tauri::command]
pub async fn watch_scenario_run(
    desktop: State<'_, Desktop>,
    name: String,
    id: i64,
    on_update: Channel<Run>,
) -> IpcResult<Run> {
    let mut last: Option<Run> = None;
    loop {
        let run = desktop.engine.scenario_run(&name, id).await?;
        if last.as_ref() != Some(&run) {
            let _ = on_update.send(run.clone());
        }
        if run.status != RunStatus::Running {
            return Ok(run);
        }
        last = Some(run);
        tokio::time::sleep(WATCH_EVERY).await;
    }
}
