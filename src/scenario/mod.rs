//! Scenarios: named, ordered steps (run a training command, create a version, evaluate it,
//! update the deployment) with `${variables}`, started by hand or by cron triggers, with a
//! persisted run history.
//!
//! - [`spec`]: the scenario, its steps and triggers, checked as a whole when saved.
//! - `check`: every problem of a spec at once, each at its JSON place, even when it does not
//!   parse ([`SpecParts`]).
//! - [`template`]: `${name}` substitution.
//! - [`cron`]: croner schedules in IANA time zones (DST behaviour documented there).
//! - [`store`]: the tables; [`Run`] and its statuses.
//! - `run`: the executor; `command`: child processes with timeout and cancel.
//! - [`evaluate`]: metrics of a model on a holdout CSV.
//! - [`scheduler`]: cron triggers on the engine's clock, missed fires, restart recovery.
//! - [`demo_trainer`]: the dependency-free trainer the demo scenario runs.
//!
//! Invariants: two runs of one scenario never overlap (a fire during a run is recorded as
//! skipped); a run that does not succeed leaves the deployment as it was; a run is never
//! left `running` by a process that is gone (it is marked abandoned at the next start).

mod check;
pub mod cron;
pub mod demo_trainer;
pub mod evaluate;
pub mod scheduler;
pub mod spec;
pub mod store;
pub mod template;

mod command;
mod run;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

pub use check::SpecParts;
pub use cron::{FireTime, Schedule};
pub use spec::{OnMissed, Scenario, ScenarioIssue, Step, Trigger};
pub use store::{Run, RunStatus, StepRun, StepStatus, TriggerKind};

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio_util::task::TaskTracker;

use crate::clock::Clock;
use crate::deploy::Revision;
use crate::error::{Error, Result};
use crate::events::{Change, Changes};
use crate::model::LoadedModel;
use crate::registry::{self, NewVersion, Version};
use crate::store::Pool;

/// Runs listed at most, newest first.
pub const MAX_RUNS_LISTED: usize = 500;

/// A saved scenario as lists and the editor show it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ScenarioView {
    pub spec: Scenario,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The id of the run in progress, if one is.
    pub running: Option<i64>,
    /// The latest run (without its log).
    pub last_run: Option<Run>,
    /// The earliest next fire of its enabled cron triggers.
    pub next_fire: Option<FireTime>,
}

/// A cron trigger's next fire times.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TriggerFires {
    /// Index in the scenario's `triggers`.
    pub trigger: usize,
    pub schedule: String,
    pub timezone: String,
    pub description: String,
    pub enabled: bool,
    pub on_missed: OnMissed,
    pub next: Vec<FireTime>,
}

/// What starts a run.
#[derive(Debug, Clone, PartialEq)]
pub enum RunTrigger {
    Manual {
        by: String,
    },
    Cron {
        schedule: String,
        timezone: String,
        due: DateTime<Utc>,
        /// Fire times due since the last check (more than one after a suspend): run once.
        count: usize,
    },
    /// Fires missed while the node was down, handled at start.
    Missed {
        schedule: String,
        timezone: String,
        count: usize,
        first: DateTime<Utc>,
        last: DateTime<Utc>,
    },
    /// An MLflow alias that points at `version` (moved from `previous`, or found there by a
    /// run started by hand).
    MlflowAlias {
        model: String,
        alias: String,
        version: String,
        previous: Option<String>,
        /// Who started the run by hand; None when the alias's move did.
        by: Option<String>,
    },
}

impl RunTrigger {
    pub fn manual(by: &str) -> Self {
        RunTrigger::Manual { by: by.to_owned() }
    }

    fn kind(&self) -> TriggerKind {
        match self {
            RunTrigger::Manual { .. } => TriggerKind::Manual,
            RunTrigger::Cron { .. } => TriggerKind::Cron,
            RunTrigger::Missed { .. } => TriggerKind::Missed,
            RunTrigger::MlflowAlias { by: Some(_), .. } => TriggerKind::Manual,
            RunTrigger::MlflowAlias { by: None, .. } => TriggerKind::MlflowAlias,
        }
    }

    /// The variables this trigger gives the run (an MLflow alias's model and version).
    fn variables(&self) -> Vec<(String, String)> {
        match self {
            RunTrigger::MlflowAlias { model, alias, version, .. } => {
                let uri = crate::mlflow::ModelUri::Version { model: model.clone(), version: version.clone() };
                vec![
                    ("mlflow_model".to_owned(), model.clone()),
                    ("mlflow_alias".to_owned(), alias.clone()),
                    ("mlflow_version".to_owned(), version.clone()),
                    ("mlflow_model_uri".to_owned(), uri.to_string()),
                ]
            }
            _ => Vec::new(),
        }
    }

    fn detail(&self) -> String {
        let at = |t: &DateTime<Utc>| t.format("%Y-%m-%d %H:%M:%S UTC").to_string();
        match self {
            RunTrigger::Manual { by } => format!("manual by {by}"),
            RunTrigger::Cron { schedule, timezone, due, count } => {
                let extra = if *count > 1 {
                    format!(" ({count} fire times since the last check, run once)")
                } else {
                    String::new()
                };
                format!("cron '{schedule}' ({timezone}), due {}{extra}", at(due))
            }
            RunTrigger::Missed { schedule, timezone, count, first, last } => {
                let when = if count == &1 { at(first) } else { format!("{} to {}", at(first), at(last)) };
                let plus = if *count >= cron::MAX_COUNTED { "+" } else { "" };
                format!(
                    "{count}{plus} missed fire(s) of cron '{schedule}' ({timezone}) while the node was down: {when}"
                )
            }
            RunTrigger::MlflowAlias { model, alias, version, previous, by } => match (by, previous) {
                (Some(by), _) => format!("manual by {by}: MLflow {model}@{alias} names version {version}"),
                (None, Some(p)) => format!("MLflow {model}@{alias} moved from version {p} to {version}"),
                (None, None) => format!("MLflow {model}@{alias} names version {version}"),
            },
        }
    }
}

/// What a scenario run needs from the rest of the engine: creating versions, loading their
/// models and deploying. The engine implements it; a run holds a clone for its lifetime.
pub trait Host: Clone + Send + Sync + 'static {
    fn scenarios(&self) -> &Scenarios;
    fn create_version(
        &self,
        service: &str,
        bytes: Vec<u8>,
        new: NewVersion,
    ) -> impl Future<Output = Result<Version>> + Send;
    /// A service's captured requests as CSV or JSON Lines text (`export_capture` steps).
    fn export_capture(
        &self,
        service: &str,
        since: Option<&str>,
        format: crate::capture::export::ExportFormat,
    ) -> impl Future<Output = Result<String>> + Send;
    /// The active revision of a service's deployment.
    fn deployment(&self, service: &str) -> impl Future<Output = Result<Revision>> + Send;
    /// A version's loaded model.
    fn version_model(&self, service: &str, version: &str) -> impl Future<Output = Result<Arc<LoadedModel>>> + Send;
    fn deploy(
        &self,
        service: &str,
        config: &Value,
        author: &str,
        reason: &str,
    ) -> impl Future<Output = Result<Revision>> + Send;
    fn deploy_version(
        &self,
        service: &str,
        version: &str,
        author: &str,
        reason: &str,
    ) -> impl Future<Output = Result<Revision>> + Send;
    /// Starts a canary (refused on a protected service: an approval needs a person).
    fn start_canary(
        &self,
        service: &str,
        plan: crate::deploy::canary::CanaryPlan,
        author: &str,
    ) -> impl Future<Output = Result<crate::deploy::canary::Canary>> + Send;
    /// Imports an MLflow model (`models:/…`) as a version of `service`.
    fn import_mlflow(
        &self,
        service: &str,
        model_uri: &str,
        author: &str,
    ) -> impl Future<Output = Result<crate::mlflow::MlflowImport>> + Send;
    /// The version an MLflow alias names now.
    fn mlflow_alias_version(&self, model: &str, alias: &str) -> impl Future<Output = Result<String>> + Send;
    /// Points `alias` (if any) at a version in MLflow and sets `tags` on it.
    fn mlflow_set(
        &self,
        model: &str,
        version: &str,
        alias: Option<&str>,
        tags: &BTreeMap<String, String>,
    ) -> impl Future<Output = Result<()>> + Send;
    /// A run ended and its final state is recorded (the engine notifies failures).
    fn run_ended(&self, run: &Run) -> impl Future<Output = ()> + Send;
}

/// The scenarios subsystem: saved scenarios, the runs in progress in this process (at most
/// one per scenario: runs of a scenario never overlap), their tasks, and the scheduler's lock.
pub struct Scenarios {
    pool: Pool,
    clock: Arc<dyn Clock>,
    data_dir: PathBuf,
    /// What `${switchyard}` names.
    exe: PathBuf,
    /// This process's instance name, recorded on its runs.
    instance: String,
    /// Cancelled when the engine shuts down: runs then end as abandoned.
    shutdown: CancellationToken,
    tasks: TaskTracker,
    /// Where runs starting and ending are announced.
    changes: Changes,
    /// Scenario → (run id, its cancel token); id 0 while the run is being created.
    runs: Mutex<HashMap<String, (i64, CancellationToken)>>,
    /// Why this node refuses `run_command` steps (bound beyond loopback without
    /// `--allow-commands`); None runs them.
    commands_refused: Option<String>,
    /// Serialises scheduler passes (the loop, tests' direct ticks, the pass at open).
    scheduler_lock: tokio::sync::Mutex<()>,
    /// Held by an MLflow alias pass.
    alias_lock: tokio::sync::Mutex<()>,
}

/// Where a [`Scenarios`] keeps its files and tasks.
pub struct ScenariosConfig {
    pub pool: Pool,
    pub clock: Arc<dyn Clock>,
    pub data_dir: PathBuf,
    pub exe: PathBuf,
    pub instance: String,
    pub shutdown: CancellationToken,
    pub tasks: TaskTracker,
    pub changes: Changes,
    /// Why `run_command` steps are refused on this node; None runs them.
    pub commands_refused: Option<String>,
}

impl Scenarios {
    pub fn new(c: ScenariosConfig) -> Self {
        Self {
            pool: c.pool,
            clock: c.clock,
            data_dir: c.data_dir,
            exe: c.exe,
            instance: c.instance,
            shutdown: c.shutdown,
            tasks: c.tasks,
            changes: c.changes,
            commands_refused: c.commands_refused,
            runs: Mutex::new(HashMap::new()),
            scheduler_lock: tokio::sync::Mutex::new(()),
            alias_lock: tokio::sync::Mutex::new(()),
        }
    }

    /// What `${switchyard}` names in scenarios.
    pub fn switchyard_exe(&self) -> &std::path::Path {
        &self.exe
    }

    /// Why this node refuses `run_command` steps, if it does.
    pub fn commands_refused(&self) -> Option<&str> {
        self.commands_refused.as_deref()
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Whether the engine is shutting down (a run cancelled then is abandoned, not cancelled).
    pub(crate) fn shutting_down(&self) -> bool {
        self.shutdown.is_cancelled()
    }

    /// Whether any run is in progress in this process.
    pub fn any_running(&self) -> bool {
        self.runs.lock().map(|r| !r.is_empty()).unwrap_or(false)
    }
}

impl Scenarios {
    /// Every problem of a spec as an editor sends it (empty when it can be saved): JSON shape,
    /// names, variables defined before use, cron patterns, time zones, services that exist.
    pub async fn validate_scenario(&self, spec: &Value) -> Result<Vec<ScenarioIssue>> {
        let parts = SpecParts::read(spec);
        let mut issues = parts.issues();
        self.service_issues(parts.literal_services(), &mut issues).await?;
        issues.sort_by_key(check::place_order);
        Ok(issues)
    }

    async fn scenario_issues(&self, spec: &Scenario) -> Result<Vec<ScenarioIssue>> {
        let mut issues = spec.issues();
        self.service_issues(spec.literal_services(), &mut issues).await?;
        Ok(issues)
    }

    /// Adds an issue for each service named by a step that does not exist, after the step's
    /// other issues.
    async fn service_issues(&self, services: Vec<(usize, &str)>, issues: &mut Vec<ScenarioIssue>) -> Result<()> {
        for (i, service) in services {
            match registry::get_service(&self.pool, service).await {
                Ok(_) => {}
                Err(Error::ServiceNotFound(_)) => issues.push(ScenarioIssue {
                    path: format!("steps[{i}].service"),
                    step: Some(i),
                    message: format!("service '{service}' does not exist"),
                }),
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Creates or replaces a scenario. Nothing invalid is saved: every issue is reported at
    /// once, each at its place. A run in progress keeps the spec it started with.
    pub async fn save_scenario(&self, spec: Scenario) -> Result<ScenarioView> {
        let issues = self.scenario_issues(&spec).await?;
        if !issues.is_empty() {
            let all: Vec<String> = issues.iter().map(ToString::to_string).collect();
            return Err(Error::InvalidConfig(format!("scenario '{}' cannot be saved: {}", spec.name, all.join("; "))));
        }
        let now = self.clock.now();
        store::save(&self.pool, &spec, now).await?;
        // A disabled trigger keeps no bookkeeping: enabling it later starts from that moment
        // instead of firing for the time it was off.
        // An alias trigger keeps the version it last saw across saves that leave it unchanged.
        let keys: Vec<String> = spec
            .cron_triggers()
            .filter(|(_, c)| c.enabled)
            .map(|(i, c)| c.key(i))
            .chain(spec.alias_triggers().filter(|(_, a)| a.enabled).map(|(i, a)| a.key(i)))
            .collect();
        store::sync_triggers(&self.pool, spec.name.as_str(), &keys, now).await?;
        tracing::info!(scenario = %spec.name, steps = spec.steps.len(), "scenario saved");
        self.get_scenario(spec.name.as_str()).await
    }

    pub async fn list_scenarios(&self) -> Result<Vec<ScenarioView>> {
        let mut out = Vec::new();
        for stored in store::list(&self.pool).await? {
            out.push(self.scenario_view(stored).await?);
        }
        Ok(out)
    }

    pub async fn get_scenario(&self, name: &str) -> Result<ScenarioView> {
        let stored = store::get(&self.pool, name).await?.ok_or_else(|| Error::ScenarioNotFound(short(name)))?;
        self.scenario_view(stored).await
    }

    async fn scenario_view(&self, stored: store::StoredScenario) -> Result<ScenarioView> {
        let name = stored.spec.name.to_string();
        let last_run = store::runs(&self.pool, &name, 1).await?.into_iter().next();
        let now = self.clock.now();
        let next_fire = stored
            .spec
            .cron_triggers()
            .filter(|(_, c)| c.enabled)
            .filter_map(|(_, c)| c.parsed().ok()?.next_fires(now, 1).into_iter().next())
            .min_by_key(|f| f.at);
        Ok(ScenarioView {
            running: self.running_run(&name),
            spec: stored.spec,
            created_at: stored.created_at,
            updated_at: stored.updated_at,
            last_run,
            next_fire,
        })
    }

    /// Deletes a scenario (not while it runs). Its run history is kept.
    pub async fn delete_scenario(&self, name: &str) -> Result<()> {
        if let Some(id) = self.running_run(name) {
            return Err(Error::RunConflict(format!(
                "run {id} of '{name}' is running: cancel it before deleting the scenario"
            )));
        }
        if !store::delete(&self.pool, name).await? {
            return Err(Error::ScenarioNotFound(short(name)));
        }
        tracing::info!(scenario = name, "scenario deleted");
        Ok(())
    }

    /// The next `count` fire times of each cron trigger of a scenario.
    pub async fn next_fires(&self, name: &str, count: usize) -> Result<Vec<TriggerFires>> {
        let stored = store::get(&self.pool, name).await?.ok_or_else(|| Error::ScenarioNotFound(short(name)))?;
        let now = self.clock.now();
        let mut out = Vec::new();
        for (i, c) in stored.spec.cron_triggers() {
            let schedule = c.parsed().map_err(Error::InvalidConfig)?;
            out.push(TriggerFires {
                trigger: i,
                schedule: c.schedule.clone(),
                timezone: c.timezone.clone(),
                description: schedule.describe(),
                enabled: c.enabled,
                on_missed: c.on_missed,
                next: schedule.next_fires(now, count.clamp(1, 100)),
            });
        }
        Ok(out)
    }

    /// Starts a run in the background and returns it at once (status `running`). Refused
    /// while another run of the scenario is in progress: runs of a scenario never overlap.
    pub async fn start_run(&self, host: &impl Host, name: &str, trigger: RunTrigger) -> Result<Run> {
        let stored = store::get(&self.pool, name).await?.ok_or_else(|| Error::ScenarioNotFound(short(name)))?;
        let spec = stored.spec;
        // A scenario that follows an MLflow alias runs by hand on the version it names now.
        let trigger = match (trigger, spec.alias_triggers().next()) {
            (RunTrigger::Manual { by }, Some((_, a))) => RunTrigger::MlflowAlias {
                version: host.mlflow_alias_version(&a.model, &a.alias).await?,
                model: a.model.clone(),
                alias: a.alias.clone(),
                previous: None,
                by: Some(by),
            },
            (trigger, _) => trigger,
        };
        let token = self.shutdown.child_token();
        self.claim_scenario(name, &token)?;
        match self.launch(host, spec, trigger, token).await {
            Ok(run) => Ok(run),
            Err(e) => {
                self.release_scenario(name);
                Err(e)
            }
        }
    }

    async fn launch(
        &self,
        host: &impl Host,
        spec: Scenario,
        trigger: RunTrigger,
        token: CancellationToken,
    ) -> Result<Run> {
        let name = spec.name.to_string();
        let now = self.clock.now();
        let mut run = Run::fresh(&spec, &trigger, RunStatus::Running, StepStatus::Pending, String::new(), now);
        run.id = store::insert_run(&self.pool, &self.instance, &run, "").await?;
        self.set_running_id(&name, run.id);
        let run_dir = self.data_dir.join("scenarios").join(&name).join("runs").join(run.id.to_string());
        run.variables = self.run_variables(&spec, run.id, &run_dir, now);
        run.variables.extend(trigger.variables());
        let rec = run::Recorder::new(self.pool.clone(), Arc::clone(&self.clock), run.clone(), String::new());
        rec.line(&format!("run {} of scenario '{name}' started: {}", run.id, run.trigger_detail));
        if let Err(e) = std::fs::create_dir_all(&run_dir) {
            // The executor then fails the run at its first step, recorded rather than lost.
            rec.line(&format!("cannot create the run directory {}: {e}", run_dir.display()));
        }
        rec.flush().await?;
        let snapshot = rec.snapshot().map(|(r, _)| r).unwrap_or(run);
        tracing::info!(scenario = %name, run = snapshot.id, trigger = %snapshot.trigger_detail, "scenario run started");
        let (changes, run) = (self.changes.clone(), run::execute(host.clone(), spec, rec, token, run_dir));
        self.tasks.spawn(async move {
            run.await;
            changes.announce(Change::Scenario { scenario: name });
        });
        self.changes.announce(Change::Scenario { scenario: snapshot.scenario.clone() });
        Ok(snapshot)
    }

    /// The built-in variables and the scenario's own, for one run.
    fn run_variables(
        &self,
        spec: &Scenario,
        id: i64,
        run_dir: &std::path::Path,
        now: DateTime<Utc>,
    ) -> BTreeMap<String, String> {
        let mut vars = BTreeMap::from([
            ("scenario".to_owned(), spec.name.to_string()),
            ("run_id".to_owned(), id.to_string()),
            ("run_dir".to_owned(), run_dir.display().to_string()),
            ("date".to_owned(), now.format("%Y-%m-%d").to_string()),
            ("data_dir".to_owned(), self.data_dir.display().to_string()),
            ("switchyard".to_owned(), self.exe.display().to_string()),
        ]);
        let rendered: Vec<(String, String)> = spec
            .variables
            .iter()
            // Validated at save: only built-ins are referenced, so rendering cannot fail.
            .map(|(k, v)| (k.clone(), template::render(v, &vars).unwrap_or_else(|_| v.clone())))
            .collect();
        vars.extend(rendered);
        vars
    }

    /// A scenario's runs, newest first, without logs.
    pub async fn scenario_runs(&self, name: &str, limit: usize) -> Result<Vec<Run>> {
        if store::get(&self.pool, name).await?.is_none() {
            // Runs of a deleted scenario are still listed.
            let runs = store::runs(&self.pool, name, 1).await?;
            if runs.is_empty() {
                return Err(Error::ScenarioNotFound(short(name)));
            }
        }
        let limit = limit.clamp(1, MAX_RUNS_LISTED) as i64;
        store::runs(&self.pool, name, limit).await
    }

    /// One run with its log.
    pub async fn scenario_run(&self, name: &str, id: i64) -> Result<Run> {
        store::run(&self.pool, name, id).await?.ok_or_else(|| Error::RunNotFound { scenario: short(name), id })
    }

    /// Cancels a run in progress: its command is killed, no later step runs. Returns the run
    /// once it has stopped.
    pub async fn cancel_run(&self, name: &str, id: i64, by: &str) -> Result<Run> {
        let token = self.running_token(name, id);
        let Some(token) = token else {
            let run = self.scenario_run(name, id).await?;
            return Err(Error::RunConflict(format!(
                "run {id} of '{name}' is not running here (it is {})",
                run.status.as_str()
            )));
        };
        tracing::info!(scenario = name, run = id, by, "cancelling scenario run");
        token.cancel();
        for _ in 0..300 {
            if self.running_token(name, id).is_none() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.scenario_run(name, id).await
    }
}

/// The in-process claim that keeps runs of one scenario from overlapping.
impl Scenarios {
    /// Reserves the scenario for a new run, or says which run is in the way.
    pub(crate) fn claim_scenario(&self, name: &str, token: &CancellationToken) -> Result<()> {
        let mut runs = self.runs.lock().map_err(|_| Error::Internal("run table poisoned".into()))?;
        if let Some((id, _)) = runs.get(name) {
            let which = if *id > 0 { format!("run {id}") } else { "a run".to_owned() };
            return Err(Error::RunConflict(format!(
                "{which} of '{name}' is still running: wait for it or cancel it (runs of a scenario never overlap)"
            )));
        }
        runs.insert(name.to_owned(), (0, token.clone()));
        Ok(())
    }

    pub(crate) fn set_running_id(&self, name: &str, id: i64) {
        if let Ok(mut runs) = self.runs.lock()
            && let Some(entry) = runs.get_mut(name)
        {
            entry.0 = id;
        }
    }

    pub(crate) fn release_scenario(&self, name: &str) {
        if let Ok(mut runs) = self.runs.lock() {
            runs.remove(name);
        }
    }

    /// Called by a run's task once its end is recorded.
    pub(crate) fn run_finished(&self, name: &str, id: i64) {
        if let Ok(mut runs) = self.runs.lock()
            && runs.get(name).is_some_and(|(running, _)| *running == id)
        {
            runs.remove(name);
        }
    }

    /// The id of the scenario's run in progress in this process.
    pub fn running_run(&self, name: &str) -> Option<i64> {
        self.runs.lock().ok()?.get(name).map(|(id, _)| *id)
    }

    pub(crate) fn running_token(&self, name: &str, id: i64) -> Option<CancellationToken> {
        let runs = self.runs.lock().ok()?;
        runs.get(name).filter(|(running, _)| *running == id).map(|(_, t)| t.clone())
    }
}

fn short(s: &str) -> String {
    s.chars().take(64).collect()
}

/// Where the `${switchyard}` variable points by default: this executable.
pub fn current_exe() -> PathBuf {
    std::env::current_exe().unwrap_or_else(|_| PathBuf::from("switchyard"))
}
