//! Scenario routes of the admin API (`/admin/v1/scenarios…`): save, list, show, delete,
//! validate, next fire times, start a run, runs, one run with its log, cancel.

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::Value;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::body::{JsonBody, PathOf, QueryOf, numeric_id};
use super::error::{ApiResult, ErrorBody};
use super::openapi::{RunPath, ScenarioPath};
use super::principal::Caller;
use crate::scenario::{Run, Scenario, ScenarioIssue, ScenarioView, TriggerFires};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, save))
        .routes(routes!(validate))
        .routes(routes!(show, delete))
        .routes(routes!(next))
        .routes(routes!(runs, start))
        .routes(routes!(run))
        .routes(routes!(cancel))
}

/// Every scenario, with its last run.
#[utoipa::path(get, path = "/scenarios", tag = "scenarios", operation_id = "list_scenarios",
    responses((status = 200, description = "The scenarios", body = Vec<ScenarioView>)))]
async fn list(State(s): State<AppState>) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.engine.list_scenarios().await?))
}

/// Creates or replaces the scenario named in the body. One with `run_command` steps needs
/// `run_commands` (admin), and is refused on a node bound beyond loopback without
/// `--allow-commands`.
#[utoipa::path(post, path = "/scenarios", tag = "scenarios", operation_id = "save_scenario",
    request_body = Scenario,
    responses((status = 200, description = "Saved", body = ScenarioView)))]
async fn save(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    JsonBody(spec): JsonBody<Value>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.engine.save_scenario_json_as(&caller.principal, spec).await?))
}

/// Every problem of a spec, for editors (an empty list when it is valid).
#[utoipa::path(post, path = "/scenarios/validate", tag = "scenarios", operation_id = "validate_scenario",
    request_body(content = Object, description = "A scenario spec, valid or not"),
    responses((status = 200, description = "The problems", body = Vec<ScenarioIssue>)))]
async fn validate(State(s): State<AppState>, JsonBody(spec): JsonBody<Value>) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.engine.validate_scenario(&spec).await?))
}

/// One scenario.
#[utoipa::path(get, path = "/scenarios/{name}", tag = "scenarios", operation_id = "get_scenario",
    params(ScenarioPath), responses((status = 200, description = "The scenario", body = ScenarioView)))]
async fn show(State(s): State<AppState>, PathOf(name): PathOf<String>) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.engine.get_scenario(&name).await?))
}

/// Deletes a scenario and its runs' records.
#[utoipa::path(delete, path = "/scenarios/{name}", tag = "scenarios", operation_id = "delete_scenario",
    params(ScenarioPath),
    responses(
        (status = 204, description = "Deleted"),
        (status = 409, description = "A run of it is in progress", body = ErrorBody),
    ))]
async fn delete(State(s): State<AppState>, PathOf(name): PathOf<String>) -> ApiResult<impl IntoResponse> {
    s.engine.delete_scenario(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct Count {
    /// How many fire times per trigger (default 5).
    #[serde(default)]
    count: Option<usize>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct Limit {
    /// How many runs, newest first (default 50).
    #[serde(default)]
    limit: Option<usize>,
}

/// When the scenario's triggers fire next.
#[utoipa::path(get, path = "/scenarios/{name}/next", tag = "scenarios", operation_id = "next_fires",
    params(ScenarioPath, Count), responses((status = 200, description = "Fire times per trigger", body = Vec<TriggerFires>)))]
async fn next(
    State(s): State<AppState>,
    PathOf(name): PathOf<String>,
    QueryOf(q): QueryOf<Count>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.engine.next_fires(&name, q.count.unwrap_or(5)).await?))
}

/// The scenario's runs, newest first.
#[utoipa::path(get, path = "/scenarios/{name}/runs", tag = "scenarios", operation_id = "scenario_runs",
    params(ScenarioPath, Limit), responses((status = 200, description = "The runs", body = Vec<Run>)))]
async fn runs(
    State(s): State<AppState>,
    PathOf(name): PathOf<String>,
    QueryOf(q): QueryOf<Limit>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.engine.scenario_runs(&name, q.limit.unwrap_or(50)).await?))
}

/// Starts a manual run; answers at once with the run, status `running`. A scenario with
/// `run_command` steps needs `run_commands` (admin).
#[utoipa::path(post, path = "/scenarios/{name}/runs", tag = "scenarios", operation_id = "start_run",
    params(ScenarioPath),
    responses(
        (status = 202, description = "Started", body = Run),
        (status = 409, description = "A run of it is in progress", body = ErrorBody),
    ))]
async fn start(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    PathOf(name): PathOf<String>,
) -> ApiResult<impl IntoResponse> {
    Ok((StatusCode::ACCEPTED, Json(s.engine.start_run_as(&caller.principal, &name).await?)))
}

/// One run, with its steps and log.
#[utoipa::path(get, path = "/scenarios/{name}/runs/{id}", tag = "scenarios", operation_id = "scenario_run",
    params(RunPath), responses((status = 200, description = "The run", body = Run)))]
async fn run(State(s): State<AppState>, PathOf((name, id)): PathOf<(String, String)>) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.engine.scenario_run(&name, numeric_id("run", &id)?).await?))
}

/// Cancels a run in progress.
#[utoipa::path(post, path = "/scenarios/{name}/runs/{id}/cancel", tag = "scenarios", operation_id = "cancel_run",
    params(RunPath),
    responses(
        (status = 200, description = "The run", body = Run),
        (status = 409, description = "The run is over", body = ErrorBody),
    ))]
async fn cancel(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    PathOf((name, id)): PathOf<(String, String)>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.engine.cancel_run(&name, numeric_id("run", &id)?, &caller.principal.name).await?))
}
