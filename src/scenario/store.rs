//! The scenario tables: specs, runs (status per step, variables, log) and the cron triggers'
//! fire bookkeeping. All SQL of scenarios lives here.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::spec::Scenario;
use crate::error::{Error, Result};
use crate::registry::{to_datetime, to_json};
use crate::store::LOCAL_NODE;
use crate::store::Pool;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    Succeeded,
    Failed,
    /// An evaluate gate stopped the run (the candidate was not better).
    Stopped,
    Cancelled,
    /// The process running it died; found at the next start.
    Abandoned,
    /// A fire that did not run: a run was in progress, or missed fires skipped by policy.
    Skipped,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Stopped => "stopped",
            RunStatus::Cancelled => "cancelled",
            RunStatus::Abandoned => "abandoned",
            RunStatus::Skipped => "skipped",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "running" => RunStatus::Running,
            "succeeded" => RunStatus::Succeeded,
            "failed" => RunStatus::Failed,
            "stopped" => RunStatus::Stopped,
            "cancelled" => RunStatus::Cancelled,
            "abandoned" => RunStatus::Abandoned,
            "skipped" => RunStatus::Skipped,
            other => return Err(Error::Internal(format!("unknown run status '{other}' in the registry"))),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Pending,
    Running,
    Succeeded,
    Failed,
    Stopped,
    /// Not run because an earlier step did not succeed.
    Skipped,
    Cancelled,
    Abandoned,
}

impl StepStatus {
    pub fn is_finished(self) -> bool {
        !matches!(self, StepStatus::Pending | StepStatus::Running)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TriggerKind {
    Manual,
    Cron,
    /// Fires missed while the node was down, run once at start.
    Missed,
    /// An MLflow alias moved to another version.
    MlflowAlias,
}

impl TriggerKind {
    fn as_str(self) -> &'static str {
        match self {
            TriggerKind::Manual => "manual",
            TriggerKind::Cron => "cron",
            TriggerKind::Missed => "missed",
            TriggerKind::MlflowAlias => "mlflow_alias",
        }
    }

    fn parse(s: &str) -> TriggerKind {
        match s {
            "cron" => TriggerKind::Cron,
            "missed" => TriggerKind::Missed,
            "mlflow_alias" => TriggerKind::MlflowAlias,
            _ => TriggerKind::Manual,
        }
    }
}

/// One step of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StepRun {
    pub name: String,
    pub kind: String,
    pub status: StepStatus,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    /// What happened, in a sentence (the reason when it failed or stopped).
    #[serde(default)]
    pub message: String,
    /// The variables this step defined.
    #[serde(default)]
    pub outputs: BTreeMap<String, String>,
}

/// A run of a scenario: what started it, where each step stands, the variables it produced,
/// and its log (only when one run is asked for).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Run {
    pub scenario: String,
    pub id: i64,
    pub trigger: TriggerKind,
    /// e.g. "manual by alice (cli)" or "cron 0 0 1 * * (UTC), due 2026-12-01 00:00:00 UTC".
    pub trigger_detail: String,
    pub status: RunStatus,
    /// Why it failed, stopped or was skipped; a summary when it succeeded.
    pub message: String,
    pub steps: Vec<StepRun>,
    pub variables: BTreeMap<String, String>,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    /// Finished steps / steps while running, in [0, 1]; 1 once the run has ended.
    pub progress: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
}

impl Run {
    /// A run about to be recorded (id 0 until inserted): every step in `step_status`.
    pub(crate) fn fresh(
        spec: &super::Scenario,
        trigger: &super::RunTrigger,
        status: RunStatus,
        step_status: StepStatus,
        message: String,
        now: DateTime<Utc>,
    ) -> Run {
        let done = status != RunStatus::Running;
        Run {
            scenario: spec.name.to_string(),
            id: 0,
            trigger: trigger.kind(),
            trigger_detail: trigger.detail(),
            status,
            message,
            steps: spec
                .steps
                .iter()
                .map(|s| StepRun {
                    name: s.name().to_owned(),
                    kind: s.kind().to_owned(),
                    status: step_status,
                    started_at: None,
                    ended_at: None,
                    message: String::new(),
                    outputs: BTreeMap::new(),
                })
                .collect(),
            variables: BTreeMap::new(),
            started_at: now,
            ended_at: done.then_some(now),
            progress: if done { 1.0 } else { 0.0 },
            log: None,
        }
    }
}

impl Run {
    pub fn update_progress(&mut self) {
        let done = self.steps.iter().filter(|s| s.status.is_finished()).count();
        self.progress = if self.steps.is_empty() || self.status != RunStatus::Running {
            1.0
        } else {
            done as f64 / self.steps.len() as f64
        };
    }
}

/// A saved scenario with its bookkeeping.
#[derive(Debug, Clone)]
pub struct StoredScenario {
    pub spec: Scenario,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn spec_from_row(row: &sqlx::any::AnyRow) -> Result<StoredScenario> {
    let json: String = row.try_get("spec_json")?;
    Ok(StoredScenario {
        spec: serde_json::from_str(&json)
            .map_err(|e| Error::Internal(format!("stored scenario is unreadable: {e}")))?,
        created_at: to_datetime(row.try_get("created_at")?),
        updated_at: to_datetime(row.try_get("updated_at")?),
    })
}

/// Inserts or replaces a spec.
pub async fn save(pool: &Pool, spec: &Scenario, now: DateTime<Utc>) -> Result<()> {
    let now = now.timestamp_millis();
    sqlx::query(
        "INSERT INTO scenarios (name, spec_json, created_at, updated_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (name) DO UPDATE SET spec_json = excluded.spec_json, updated_at = excluded.updated_at",
    )
    .bind(spec.name.as_str())
    .bind(to_json(spec)?)
    .bind(now)
    .bind(now)
    .execute(pool)
    .await?;
    Ok(())
}

/// Whether `name` can name a scenario at all. A name that cannot is a miss that never
/// reaches the database (which may refuse its bytes, e.g. PostgreSQL a NUL, as an error).
fn nameable(name: &str) -> bool {
    crate::names::ScenarioName::parse(name).is_ok()
}

pub async fn get(pool: &Pool, name: &str) -> Result<Option<StoredScenario>> {
    if !nameable(name) {
        return Ok(None);
    }
    let row = sqlx::query("SELECT spec_json, created_at, updated_at FROM scenarios WHERE name = $1")
        .bind(name)
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(spec_from_row).transpose()
}

pub async fn list(pool: &Pool) -> Result<Vec<StoredScenario>> {
    let rows =
        sqlx::query("SELECT spec_json, created_at, updated_at FROM scenarios ORDER BY name").fetch_all(pool).await?;
    rows.iter().map(spec_from_row).collect()
}

/// Deletes a spec and its trigger bookkeeping; its runs stay in the history.
pub async fn delete(pool: &Pool, name: &str) -> Result<bool> {
    if !nameable(name) {
        return Ok(false);
    }
    let mut tx = pool.begin().await?;
    let gone = sqlx::query("DELETE FROM scenarios WHERE name = $1").bind(name).execute(&mut *tx).await?.rows_affected();
    sqlx::query("DELETE FROM scenario_triggers WHERE scenario = $1").bind(name).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(gone > 0)
}

/// Makes the bookkeeping match the triggers: a new trigger starts counting from `now` (it
/// has missed nothing), a removed one is forgotten, an unchanged one keeps its time.
pub async fn sync_triggers(pool: &Pool, scenario: &str, keys: &[String], now: DateTime<Utc>) -> Result<()> {
    let mut tx = crate::store::begin_write(pool).await?;
    let existing: Vec<String> =
        sqlx::query_scalar("SELECT trigger_key FROM scenario_triggers WHERE scenario = $1 AND node = $2")
            .bind(scenario)
            .bind(LOCAL_NODE)
            .fetch_all(&mut *tx)
            .await?;
    for key in existing.iter().filter(|k| !keys.contains(k)) {
        sqlx::query("DELETE FROM scenario_triggers WHERE scenario = $1 AND node = $2 AND trigger_key = $3")
            .bind(scenario)
            .bind(LOCAL_NODE)
            .bind(key)
            .execute(&mut *tx)
            .await?;
    }
    for key in keys {
        sqlx::query(
            "INSERT INTO scenario_triggers (scenario, node, trigger_key, last_checked_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(scenario)
        .bind(LOCAL_NODE)
        .bind(key)
        .bind(now.timestamp_millis())
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

pub async fn last_checked(pool: &Pool, scenario: &str, key: &str) -> Result<Option<DateTime<Utc>>> {
    let ms: Option<i64> = sqlx::query_scalar(
        "SELECT last_checked_at FROM scenario_triggers WHERE scenario = $1 AND node = $2 AND trigger_key = $3",
    )
    .bind(scenario)
    .bind(LOCAL_NODE)
    .bind(key)
    .fetch_optional(pool)
    .await?;
    Ok(ms.map(to_datetime))
}

pub async fn set_checked(pool: &Pool, scenario: &str, key: &str, at: DateTime<Utc>) -> Result<()> {
    sqlx::query(
        "INSERT INTO scenario_triggers (scenario, node, trigger_key, last_checked_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (scenario, node, trigger_key) DO UPDATE SET last_checked_at = excluded.last_checked_at",
    )
    .bind(scenario)
    .bind(LOCAL_NODE)
    .bind(key)
    .bind(at.timestamp_millis())
    .execute(pool)
    .await?;
    Ok(())
}

/// An alias trigger's bookkeeping: when it was last polled, and the version the alias named.
pub async fn trigger_value(pool: &Pool, scenario: &str, key: &str) -> Result<Option<(DateTime<Utc>, Option<String>)>> {
    let row: Option<(i64, Option<String>)> = sqlx::query_as(
        "SELECT last_checked_at, last_value FROM scenario_triggers WHERE scenario = $1 AND node = $2 AND trigger_key = $3",
    )
    .bind(scenario)
    .bind(LOCAL_NODE)
    .bind(key)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(ms, value)| (to_datetime(ms), value)))
}

/// Records a poll of an alias trigger at `at`, and the version seen (None keeps the last one).
pub async fn set_trigger_value(
    pool: &Pool,
    scenario: &str,
    key: &str,
    at: DateTime<Utc>,
    value: Option<&str>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO scenario_triggers (scenario, node, trigger_key, last_checked_at, last_value) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (scenario, node, trigger_key) DO UPDATE SET last_checked_at = excluded.last_checked_at, \
         last_value = COALESCE(excluded.last_value, scenario_triggers.last_value)",
    )
    .bind(scenario)
    .bind(LOCAL_NODE)
    .bind(key)
    .bind(at.timestamp_millis())
    .bind(value)
    .execute(pool)
    .await?;
    Ok(())
}

const RUN_COLUMNS: &str = "scenario, id, trigger_kind, trigger_detail, status, message, steps_json, variables_json, \
                           started_at, ended_at";

fn run_from_row(row: &sqlx::any::AnyRow, with_log: bool) -> Result<Run> {
    let unreadable = |what: &str, e: serde_json::Error| Error::Internal(format!("stored run {what} unreadable: {e}"));
    let steps: String = row.try_get("steps_json")?;
    let variables: String = row.try_get("variables_json")?;
    let mut run = Run {
        scenario: row.try_get("scenario")?,
        id: row.try_get("id")?,
        trigger: TriggerKind::parse(row.try_get("trigger_kind")?),
        trigger_detail: row.try_get("trigger_detail")?,
        status: RunStatus::parse(row.try_get("status")?)?,
        message: row.try_get("message")?,
        steps: serde_json::from_str(&steps).map_err(|e| unreadable("steps", e))?,
        variables: serde_json::from_str(&variables).map_err(|e| unreadable("variables", e))?,
        started_at: to_datetime(row.try_get("started_at")?),
        ended_at: row.try_get::<Option<i64>, _>("ended_at")?.map(to_datetime),
        progress: 0.0,
        log: if with_log { Some(row.try_get("log")?) } else { None },
    };
    run.update_progress();
    Ok(run)
}

/// Records a new run with the next id of its scenario; returns the id.
/// Records a new run of `node`'s scenario, executed by `instance`; returns its id.
pub async fn insert_run(pool: &Pool, instance: &str, run: &Run, log: &str) -> Result<i64> {
    // IMMEDIATE: the transaction reads then writes; a deferred one could not upgrade while
    // another connection writes (SQLite answers "database is locked" at once, not after the
    // busy timeout).
    let mut tx = crate::store::begin_write(pool).await?;
    let id: i64 =
        sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) + 1 FROM scenario_runs WHERE scenario = $1 AND node = $2")
            .bind(&run.scenario)
            .bind(LOCAL_NODE)
            .fetch_one(&mut *tx)
            .await?;
    sqlx::query(&format!(
        "INSERT INTO scenario_runs ({RUN_COLUMNS}, node, log, instance) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
    ))
    .bind(&run.scenario)
    .bind(id)
    .bind(run.trigger.as_str())
    .bind(&run.trigger_detail)
    .bind(run.status.as_str())
    .bind(&run.message)
    .bind(to_json(&run.steps)?)
    .bind(to_json(&run.variables)?)
    .bind(run.started_at.timestamp_millis())
    .bind(run.ended_at.map(|t| t.timestamp_millis()))
    .bind(LOCAL_NODE)
    .bind(log)
    .bind(instance)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// Writes a running run's state and appends `log_tail` (what the log gained since the last
/// write) to its log. Only a row still `running` is changed, so a process that lost its run
/// (marked abandoned by a newer process) cannot bring it back. Returns whether the row was
/// written.
pub async fn update_run(pool: &Pool, run: &Run, log_tail: &str) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE scenario_runs SET status = $1, message = $2, steps_json = $3, variables_json = $4, log = log || $5, \
         ended_at = $6 WHERE scenario = $7 AND node = $8 AND id = $9 AND status = 'running'",
    )
    .bind(run.status.as_str())
    .bind(&run.message)
    .bind(to_json(&run.steps)?)
    .bind(to_json(&run.variables)?)
    .bind(log_tail)
    .bind(run.ended_at.map(|t| t.timestamp_millis()))
    .bind(&run.scenario)
    .bind(LOCAL_NODE)
    .bind(run.id)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// A scenario's runs, newest first, without their logs.
pub async fn runs(pool: &Pool, scenario: &str, limit: i64) -> Result<Vec<Run>> {
    if !nameable(scenario) {
        return Ok(Vec::new());
    }
    let rows = sqlx::query(&format!(
        "SELECT {RUN_COLUMNS} FROM scenario_runs WHERE scenario = $1 AND node = $2 ORDER BY id DESC LIMIT $3"
    ))
    .bind(scenario)
    .bind(LOCAL_NODE)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter().map(|r| run_from_row(r, false)).collect()
}

/// One run with its log.
pub async fn run(pool: &Pool, scenario: &str, id: i64) -> Result<Option<Run>> {
    if !nameable(scenario) {
        return Ok(None);
    }
    let row = sqlx::query(&format!(
        "SELECT {RUN_COLUMNS}, log FROM scenario_runs WHERE scenario = $1 AND node = $2 AND id = $3"
    ))
    .bind(scenario)
    .bind(LOCAL_NODE)
    .bind(id)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(|r| run_from_row(r, true)).transpose()
}

/// The instances executing runs of `node` now.
pub async fn running_instances(pool: &Pool) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar("SELECT DISTINCT instance FROM scenario_runs WHERE node = $1 AND status = 'running'")
        .bind(LOCAL_NODE)
        .fetch_all(pool)
        .await?)
}

/// Marks the runs of `node` still `running` whose executing instance is `dead` as abandoned:
/// no process runs them any more (this instance at its start, or an instance that stopped).
/// Their steps in progress are marked abandoned, the ones not started skipped, and a line is
/// appended to the log. Returns the runs changed.
pub async fn abandon_running(pool: &Pool, at: DateTime<Utc>, dead: impl Fn(&str) -> bool) -> Result<Vec<Run>> {
    let rows = sqlx::query(&format!(
        "SELECT {RUN_COLUMNS}, log, instance FROM scenario_runs WHERE node = $1 AND status = 'running' ORDER BY scenario, id"
    ))
    .bind(LOCAL_NODE)
    .fetch_all(pool)
    .await?;
    let mut out = Vec::new();
    for row in &rows {
        if !dead(&row.try_get::<String, _>("instance")?) {
            continue;
        }
        let mut run = run_from_row(row, true)?;
        let log = run.log.take().unwrap_or_default();
        let step = run.steps.iter().find(|s| s.status == StepStatus::Running).map(|s| s.name.clone());
        for s in &mut run.steps {
            match s.status {
                StepStatus::Running => {
                    s.status = StepStatus::Abandoned;
                    s.ended_at = Some(at);
                    s.message = "the node stopped while this step ran".into();
                }
                StepStatus::Pending => s.status = StepStatus::Skipped,
                _ => {}
            }
        }
        run.status = RunStatus::Abandoned;
        run.ended_at = Some(at);
        run.message = match &step {
            Some(step) => format!("abandoned: the node stopped during step '{step}' and the run cannot resume"),
            None => "abandoned: the node stopped during the run and the run cannot resume".to_owned(),
        };
        let newline = if !log.is_empty() && !log.ends_with('\n') { "\n" } else { "" };
        let note = format!("{newline}[{}] {}\n", at.format("%Y-%m-%d %H:%M:%S"), run.message);
        update_run(pool, &run, &note).await?;
        run.update_progress();
        out.push(run);
    }
    Ok(out)
}
