//! Scenario routes of the admin API (`/admin/v1/scenarios…`): save, list, show, delete,
//! validate, next fire times, start a run, runs, one run with its log, cancel.

use axum::Json;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::Value;

use super::AppState;
use super::admin::author;
use super::body::{JsonBody, PathOf};
use super::error::{ApiError, ApiResult};
use crate::error::Error;
use crate::scenario::{RunTrigger, Scenario};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/scenarios", get(list).post(save))
        .route("/scenarios/validate", post(validate))
        .route("/scenarios/{name}", get(show).delete(delete))
        .route("/scenarios/{name}/next", get(next))
        .route("/scenarios/{name}/runs", get(runs).post(start))
        .route("/scenarios/{name}/runs/{id}", get(run))
        .route("/scenarios/{name}/runs/{id}/cancel", post(cancel))
}

async fn list(State(s): State<AppState>) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.engine.list_scenarios().await?))
}

/// Creates or replaces the scenario named in the body.
async fn save(State(s): State<AppState>, JsonBody(spec): JsonBody<Scenario>) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.engine.save_scenario(spec).await?))
}

/// Every problem of a spec, for editors (200 with an empty list when it is valid).
async fn validate(State(s): State<AppState>, JsonBody(spec): JsonBody<Value>) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.engine.validate_scenario(&spec).await?))
}

async fn show(State(s): State<AppState>, PathOf(name): PathOf<String>) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.engine.get_scenario(&name).await?))
}

async fn delete(State(s): State<AppState>, PathOf(name): PathOf<String>) -> ApiResult<impl IntoResponse> {
    s.engine.delete_scenario(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct Count {
    #[serde(default)]
    count: Option<usize>,
    #[serde(default)]
    limit: Option<usize>,
}

async fn next(
    State(s): State<AppState>,
    PathOf(name): PathOf<String>,
    Query(q): Query<Count>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.engine.next_fires(&name, q.count.unwrap_or(5)).await?))
}

async fn runs(
    State(s): State<AppState>,
    PathOf(name): PathOf<String>,
    Query(q): Query<Count>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.engine.scenario_runs(&name, q.limit.unwrap_or(50)).await?))
}

/// Starts a manual run; answers at once (202) with the run, status `running`.
async fn start(
    State(s): State<AppState>,
    PathOf(name): PathOf<String>,
    headers: HeaderMap,
) -> ApiResult<impl IntoResponse> {
    let who = author(None, &headers);
    Ok((StatusCode::ACCEPTED, Json(s.engine.start_run(&name, RunTrigger::manual(&who)).await?)))
}

fn run_id(id: &str) -> Result<i64, ApiError> {
    id.parse().map_err(|_| {
        ApiError(Error::InvalidInput(format!(
            "a run id is a number, not '{}'",
            id.chars().take(32).collect::<String>()
        )))
    })
}

async fn run(State(s): State<AppState>, PathOf((name, id)): PathOf<(String, String)>) -> ApiResult<impl IntoResponse> {
    Ok(Json(s.engine.scenario_run(&name, run_id(&id)?).await?))
}

async fn cancel(
    State(s): State<AppState>,
    PathOf((name, id)): PathOf<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<impl IntoResponse> {
    let who = author(None, &headers);
    Ok(Json(s.engine.cancel_run(&name, run_id(&id)?, &who).await?))
}
