//! What a scenario is: named, ordered steps with variables, and its triggers. A spec is
//! checked as a whole when it is saved ([`Scenario::issues`], in `check`): every `${variable}` must be
//! defined before the step that uses it, cron patterns must parse and time zones exist, so a
//! typo fails at save time and not at 3 a.m.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::cron::Schedule;
use super::template;
use crate::names::{ScenarioName, ServiceName, VersionId};

/// Variables a run of a scenario with an `mlflow_alias` trigger defines: the alias's model,
/// its name, the version it names and that version's model URI (`models:/churn/7`).
pub const MLFLOW_TRIGGER_VARIABLES: [&str; 4] = ["mlflow_model", "mlflow_alias", "mlflow_version", "mlflow_model_uri"];

/// Variables every run defines.
pub const BUILT_INS: [&str; 6] = ["scenario", "run_id", "run_dir", "date", "data_dir", "switchyard"];

pub const MAX_STEPS: usize = 50;
/// A name no scenario can take.
pub const RESERVED_NAME: &str = "validate";
/// The longest a command may be allowed to run: one week.
pub const MAX_TIMEOUT_SECONDS: f64 = 7.0 * 24.0 * 3600.0;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: ScenarioName,
    #[serde(default)]
    pub description: String,
    /// Constants of the scenario; values may use the built-in variables.
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    pub steps: Vec<Step>,
    #[serde(default)]
    pub triggers: Vec<Trigger>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Step {
    RunCommand(RunCommand),
    CreateVersion(CreateVersion),
    Evaluate(Evaluate),
    UpdateDeployment(UpdateDeployment),
    ImportMlflow(ImportMlflow),
    StartCanary(StartCanary),
    MlflowSet(MlflowSet),
    ExportCapture(ExportCapture),
}

/// A shell command line (`sh -c`) or a program and its arguments (run directly).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum CommandLine {
    Shell(String),
    Exec(Vec<String>),
}

fn default_timeout() -> f64 {
    3600.0
}
fn default_target_variable() -> String {
    "version_id".to_owned()
}
fn default_target_column() -> String {
    "target".to_owned()
}
fn default_timezone() -> String {
    "UTC".to_owned()
}
fn yes() -> bool {
    true
}

/// Runs a program; its output goes to the run log. A non-zero exit or the timeout fails the
/// step. Each declared output is a file the command must have written; its absolute path
/// becomes a variable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunCommand {
    pub name: String,
    pub command: CommandLine,
    /// Default: the run's directory (`${run_dir}`); relative paths are taken from it.
    #[serde(default)]
    pub working_dir: Option<String>,
    /// Added to the node's environment.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default = "default_timeout")]
    pub timeout_seconds: f64,
    /// Variable name → path of a file the command writes.
    #[serde(default)]
    pub outputs: BTreeMap<String, String>,
}

/// Registers a model file as a new version of a service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateVersion {
    pub name: String,
    pub service: String,
    pub model_file: String,
    /// Default: the next `vN` (or `version-…` when unique).
    #[serde(default)]
    pub id: Option<String>,
    /// "Make unique": append `-YYYYMMDD-xxxx`.
    #[serde(default)]
    pub unique: bool,
    /// A JSON object of metrics written by the training (numbers are kept, the rest ignored).
    #[serde(default)]
    pub metrics_file: Option<String>,
    /// A CSV of feature rows (a holdout set, header = the model's features) whose
    /// distributions become the version's drift reference.
    #[serde(default)]
    pub reference_csv: Option<String>,
    #[serde(default)]
    pub notes: String,
    /// The variable that receives the new version id.
    #[serde(default = "default_target_variable")]
    pub target_variable: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    Accuracy,
    LogLoss,
    Auc,
    Rmse,
}

impl Metric {
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::Accuracy => "accuracy",
            Metric::LogLoss => "log_loss",
            Metric::Auc => "auc",
            Metric::Rmse => "rmse",
        }
    }

    pub fn higher_is_better(self) -> bool {
        matches!(self, Metric::Accuracy | Metric::Auc)
    }

    /// Whether `candidate` is strictly better than `baseline`.
    pub fn better(self, candidate: f64, baseline: f64) -> bool {
        if self.higher_is_better() { candidate > baseline } else { candidate < baseline }
    }
}

/// Computes a metric of a version on a holdout CSV, and optionally stops the run unless the
/// candidate beats the baseline (by default the active generation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Evaluate {
    pub name: String,
    pub service: String,
    pub version: String,
    pub metric: Metric,
    pub holdout_csv: String,
    #[serde(default = "default_target_column")]
    pub target_column: String,
    #[serde(default)]
    pub stop_unless_better: bool,
    /// The version to beat. Default: the active generation (single), or the generation with
    /// the largest share of a mapping.
    #[serde(default)]
    pub baseline: Option<String>,
}

impl Evaluate {
    /// The variables this step defines: the candidate's score, the baseline's score and id.
    pub fn outputs(&self) -> [String; 3] {
        let m = self.metric.as_str();
        [m.to_owned(), format!("baseline_{m}"), "baseline_version".to_owned()]
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UpdateMode {
    /// The new version serves alone.
    #[default]
    Single,
    /// The new version takes the place (and the probability) of one generation of the mapping.
    Replace { generation: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateDeployment {
    pub name: String,
    pub service: String,
    pub version: String,
    #[serde(default)]
    pub mode: UpdateMode,
}

/// Imports a model from the node's MLflow tracking server as a version (`Engine::import_mlflow`);
/// the same model imported before gives the existing version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportMlflow {
    pub name: String,
    pub service: String,
    /// `models:/NAME/VERSION` or `models:/NAME@ALIAS`; with an `mlflow_alias` trigger,
    /// `${mlflow_model_uri}` is the version the alias moved to.
    pub model_uri: String,
    /// The variable that receives the version id.
    #[serde(default = "default_target_variable")]
    pub target_variable: String,
}

/// Starts a canary of a version: a canary plan (`steps`, `bake_seconds`, `gates`, …, as the
/// canary API takes it) without its `version`, which is this step's. The run does not wait for
/// the canary: the canary controller promotes or rolls it back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartCanary {
    pub name: String,
    pub service: String,
    pub version: String,
    /// The canary plan's fields other than `version`; empty: the defaults.
    #[serde(default)]
    #[schema(value_type = BTreeMap<String, Value>)]
    pub plan: serde_json::Map<String, Value>,
}

impl StartCanary {
    /// The canary plan for `version`, checked as the canary API checks it.
    pub fn plan_for(&self, version: &str) -> Result<crate::deploy::canary::CanaryPlan, String> {
        let mut plan = self.plan.clone();
        if plan.contains_key("version") {
            return Err("the plan has no 'version': the step's 'version' is the canary's".into());
        }
        plan.insert("version".into(), Value::String(version.to_owned()));
        let plan: crate::deploy::canary::CanaryPlan =
            serde_json::from_value(Value::Object(plan)).map_err(|e| format!("not a canary plan: {e}"))?;
        plan.check().map_err(|e| e.to_string())?;
        Ok(plan)
    }
}

/// Sets an alias or tags of a version in MLflow, e.g. after a rollout, so MLflow shows what
/// is live.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MlflowSet {
    pub name: String,
    /// The registered model (`${mlflow_model}` with an `mlflow_alias` trigger).
    pub model: String,
    /// Its version number (`${mlflow_version}`).
    pub version: String,
    /// Point this alias at the version.
    #[serde(default)]
    pub alias: Option<String>,
    /// Set these tags on the version.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

/// Writes a deployment's captured requests to a file (CSV or JSON Lines, features in the
/// model's order), e.g. for a retraining step on real traffic. Defines `capture_file` (the
/// path written) and `capture_rows` (how many rows).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportCapture {
    pub name: String,
    pub service: String,
    /// A duration back from now (`7d`) or an RFC 3339 time; default every captured row.
    #[serde(default)]
    pub since: Option<String>,
    #[serde(default = "default_export_format")]
    pub format: crate::capture::export::ExportFormat,
    /// Where to write, relative to the run's directory (default `capture.csv` or `capture.jsonl`).
    #[serde(default)]
    pub path: Option<String>,
}

fn default_export_format() -> crate::capture::export::ExportFormat {
    crate::capture::export::ExportFormat::Csv
}

impl Step {
    pub fn name(&self) -> &str {
        match self {
            Step::RunCommand(s) => &s.name,
            Step::CreateVersion(s) => &s.name,
            Step::Evaluate(s) => &s.name,
            Step::UpdateDeployment(s) => &s.name,
            Step::ImportMlflow(s) => &s.name,
            Step::StartCanary(s) => &s.name,
            Step::MlflowSet(s) => &s.name,
            Step::ExportCapture(s) => &s.name,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Step::RunCommand(_) => "run_command",
            Step::CreateVersion(_) => "create_version",
            Step::Evaluate(_) => "evaluate",
            Step::UpdateDeployment(_) => "update_deployment",
            Step::ImportMlflow(_) => "import_mlflow",
            Step::StartCanary(_) => "start_canary",
            Step::MlflowSet(_) => "mlflow_set",
            Step::ExportCapture(_) => "export_capture",
        }
    }

    /// Every field that may hold variables, with its name.
    pub(super) fn templated_fields(&self) -> Vec<(String, &str)> {
        let mut out: Vec<(String, &str)> = Vec::new();
        match self {
            Step::RunCommand(s) => {
                match &s.command {
                    CommandLine::Shell(c) => out.push(("command".into(), c)),
                    CommandLine::Exec(args) => {
                        out.extend(args.iter().enumerate().map(|(i, a)| (format!("command[{i}]"), a.as_str())))
                    }
                }
                if let Some(d) = &s.working_dir {
                    out.push(("working_dir".into(), d));
                }
                out.extend(s.env.iter().map(|(k, v)| (format!("env.{k}"), v.as_str())));
                out.extend(s.outputs.iter().map(|(k, v)| (format!("outputs.{k}"), v.as_str())));
            }
            Step::CreateVersion(s) => {
                out.push(("service".into(), &s.service));
                out.push(("model_file".into(), &s.model_file));
                if let Some(id) = &s.id {
                    out.push(("id".into(), id));
                }
                if let Some(m) = &s.metrics_file {
                    out.push(("metrics_file".into(), m));
                }
                if let Some(r) = &s.reference_csv {
                    out.push(("reference_csv".into(), r));
                }
                out.push(("notes".into(), &s.notes));
            }
            Step::Evaluate(s) => {
                out.push(("service".into(), &s.service));
                out.push(("version".into(), &s.version));
                out.push(("holdout_csv".into(), &s.holdout_csv));
                out.push(("target_column".into(), &s.target_column));
                if let Some(b) = &s.baseline {
                    out.push(("baseline".into(), b));
                }
            }
            Step::UpdateDeployment(s) => {
                out.push(("service".into(), &s.service));
                out.push(("version".into(), &s.version));
                if let UpdateMode::Replace { generation } = &s.mode {
                    out.push(("mode.replace.generation".into(), generation));
                }
            }
            Step::ImportMlflow(s) => {
                out.push(("service".into(), &s.service));
                out.push(("model_uri".into(), &s.model_uri));
            }
            Step::StartCanary(s) => {
                out.push(("service".into(), &s.service));
                out.push(("version".into(), &s.version));
            }
            Step::MlflowSet(s) => {
                out.push(("model".into(), &s.model));
                out.push(("version".into(), &s.version));
                if let Some(a) = &s.alias {
                    out.push(("alias".into(), a));
                }
                out.extend(s.tags.iter().map(|(k, v)| (format!("tags.{k}"), v.as_str())));
            }
            Step::ExportCapture(s) => {
                out.push(("service".into(), &s.service));
                if let Some(since) = &s.since {
                    out.push(("since".into(), since));
                }
                if let Some(path) = &s.path {
                    out.push(("path".into(), path));
                }
            }
        }
        out
    }

    /// The variables the step defines for the steps after it.
    pub fn defines(&self) -> Vec<String> {
        match self {
            Step::RunCommand(s) => s.outputs.keys().cloned().collect(),
            Step::CreateVersion(s) => vec![s.target_variable.clone()],
            Step::Evaluate(s) => s.outputs().to_vec(),
            Step::UpdateDeployment(_) => vec!["revision".to_owned()],
            Step::ImportMlflow(s) => vec![s.target_variable.clone()],
            Step::StartCanary(_) => vec!["canary_id".to_owned()],
            Step::MlflowSet(_) => Vec::new(),
            Step::ExportCapture(_) => vec!["capture_file".to_owned(), "capture_rows".to_owned()],
        }
    }

    /// The service the step names, when it is written out (not a variable).
    pub(super) fn literal_service(&self) -> Option<&str> {
        let s = match self {
            Step::RunCommand(_) | Step::MlflowSet(_) => return None,
            Step::CreateVersion(s) => &s.service,
            Step::Evaluate(s) => &s.service,
            Step::UpdateDeployment(s) => &s.service,
            Step::ImportMlflow(s) => &s.service,
            Step::StartCanary(s) => &s.service,
            Step::ExportCapture(s) => &s.service,
        };
        (!template::has_variables(s)).then_some(s.as_str())
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnMissed {
    /// Fires missed while the node was down are run once when it starts.
    RunOnce,
    /// They are recorded as a skipped run, and nothing runs.
    #[default]
    Skip,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CronTrigger {
    /// croner syntax; "monthly at midnight" is `0 0 1 * *`.
    pub schedule: String,
    /// IANA zone whose wall clock the schedule follows.
    #[serde(default = "default_timezone")]
    pub timezone: String,
    #[serde(default)]
    pub on_missed: OnMissed,
    #[serde(default = "yes")]
    pub enabled: bool,
}

impl CronTrigger {
    /// Identifies the trigger's fire bookkeeping: a changed schedule starts afresh.
    pub fn key(&self, index: usize) -> String {
        format!("{index}|{}|{}", self.schedule.trim(), self.timezone)
    }

    pub fn parsed(&self) -> Result<Schedule, String> {
        Schedule::parse(&self.schedule, &self.timezone)
    }

    /// What is wrong with the time zone and the pattern (each field, and why): a bad zone
    /// does not hide a bad pattern, which is then checked in UTC.
    pub(super) fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let zone = match super::cron::parse_timezone(&self.timezone) {
            Ok(_) => self.timezone.as_str(),
            Err(e) => {
                out.push(("timezone", e));
                "UTC"
            }
        };
        if let Err(e) = Schedule::parse(&self.schedule, zone) {
            out.push(("schedule", e));
        }
        out
    }
}

/// How runs start. A scenario can always be run by hand; `manual` only says so explicitly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Trigger {
    Manual,
    Cron(CronTrigger),
    MlflowAlias(AliasTrigger),
}

fn default_poll_seconds() -> f64 {
    60.0
}

/// Fires when an MLflow registered model's alias points at a new version: the scheduler asks
/// the tracking server every `poll_seconds` (on one node of a shared registry). A move back
/// to an older version starts nothing unless `on_move_back`. A move while the scenario runs
/// waits for the run to end; the next poll then starts a run for where the alias is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AliasTrigger {
    pub model: String,
    pub alias: String,
    #[serde(default = "default_poll_seconds")]
    pub poll_seconds: f64,
    #[serde(default)]
    pub on_move_back: bool,
    #[serde(default = "yes")]
    pub enabled: bool,
}

/// The fastest an alias is polled, and the slowest.
pub const POLL_SECONDS: std::ops::RangeInclusive<f64> = 5.0..=86_400.0;

impl AliasTrigger {
    /// Identifies the trigger's bookkeeping (when it was polled, the version last seen).
    pub fn key(&self, index: usize) -> String {
        format!("{index}|mlflow|{}@{}", self.model.trim(), self.alias.trim())
    }

    /// What is wrong with each field, and why.
    pub(super) fn problems(&self) -> Vec<(&'static str, String)> {
        let bad = |s: &str| s.trim().is_empty() || s.contains('/') || s.contains('@');
        let mut out = Vec::new();
        if bad(&self.model) {
            out.push(("model", "name the registered model (no '/' or '@')".into()));
        }
        if bad(&self.alias) {
            out.push(("alias", "name the alias (no '/' or '@')".into()));
        }
        if !self.poll_seconds.is_finite() || !POLL_SECONDS.contains(&self.poll_seconds) {
            out.push((
                "poll_seconds",
                format!("poll every {} to {} seconds", POLL_SECONDS.start(), POLL_SECONDS.end()),
            ));
        }
        out
    }
}

/// One problem of a spec, at its place: `steps[2].version`, `triggers[0].schedule`, …
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ScenarioIssue {
    /// `steps[i].field`, `triggers[i].field`, `variables.name` or `name`.
    pub path: String,
    /// The step's index, when the issue is in a step.
    pub step: Option<usize>,
    pub message: String,
}

impl fmt::Display for ScenarioIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

impl Scenario {
    /// Whether any step runs a command on the node (`run_command`): saving or running such
    /// a scenario needs the `run_commands` permission.
    pub fn runs_commands(&self) -> bool {
        self.steps.iter().any(|s| matches!(s, Step::RunCommand(_)))
    }

    /// The MLflow alias triggers with their index in `triggers`.
    pub fn alias_triggers(&self) -> impl Iterator<Item = (usize, &AliasTrigger)> {
        self.triggers.iter().enumerate().filter_map(|(i, t)| match t {
            Trigger::MlflowAlias(a) => Some((i, a)),
            _ => None,
        })
    }

    /// The cron triggers with their index in `triggers`.
    pub fn cron_triggers(&self) -> impl Iterator<Item = (usize, &CronTrigger)> {
        self.triggers.iter().enumerate().filter_map(|(i, t)| match t {
            Trigger::Cron(c) => Some((i, c)),
            _ => None,
        })
    }

    /// Services named literally by the steps (the engine checks they exist).
    pub fn literal_services(&self) -> Vec<(usize, &str)> {
        self.steps.iter().enumerate().filter_map(|(i, s)| s.literal_service().map(|svc| (i, svc))).collect()
    }

    /// Every problem of the spec, each at its place; empty when it can be saved.
    pub fn issues(&self) -> Vec<ScenarioIssue> {
        super::check::scenario_issues(self)
    }
}

/// Checks of one step's fields that do not involve variables.
pub(super) fn step_field_problems(step: &Step) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let literal = |s: &str| !template::has_variables(s);
    let service_ok = |field: &str, s: &str, out: &mut Vec<(String, String)>| {
        if literal(s)
            && let Err(e) = ServiceName::parse(s)
        {
            out.push((field.to_owned(), e.to_string()));
        }
    };
    match step {
        Step::RunCommand(s) => {
            let empty = match &s.command {
                CommandLine::Shell(c) => c.trim().is_empty(),
                CommandLine::Exec(args) => args.first().is_none_or(|p| p.trim().is_empty()),
            };
            if empty {
                out.push(("command".into(), "the command is empty".into()));
            }
            if !s.timeout_seconds.is_finite() || s.timeout_seconds <= 0.0 || s.timeout_seconds > MAX_TIMEOUT_SECONDS {
                out.push((
                    "timeout_seconds".into(),
                    format!("the timeout is a number of seconds in (0, {MAX_TIMEOUT_SECONDS}]"),
                ));
            }
            for k in s.env.keys() {
                if k.is_empty() || k.contains('=') || k.contains('\0') {
                    out.push((format!("env.{k}"), "an environment variable name is non-empty, without '='".into()));
                }
            }
            for (k, v) in &s.outputs {
                if v.trim().is_empty() {
                    out.push((
                        format!("outputs.{k}"),
                        "an output needs the path of the file the command writes".into(),
                    ));
                }
            }
        }
        Step::CreateVersion(s) => {
            service_ok("service", &s.service, &mut out);
            if s.model_file.trim().is_empty() {
                out.push(("model_file".into(), "give the path of the .onnx file".into()));
            }
            if let Some(id) = s.id.as_deref().filter(|id| literal(id))
                && let Err(e) = VersionId::parse(id)
            {
                out.push(("id".into(), e.to_string()));
            }
        }
        Step::Evaluate(s) => {
            service_ok("service", &s.service, &mut out);
            for (field, v) in
                [("version", &s.version), ("holdout_csv", &s.holdout_csv), ("target_column", &s.target_column)]
            {
                if v.trim().is_empty() {
                    out.push((field.to_owned(), format!("{field} is empty")));
                }
            }
        }
        Step::UpdateDeployment(s) => {
            service_ok("service", &s.service, &mut out);
            if literal(&s.version)
                && let Err(e) = VersionId::parse(&s.version)
            {
                out.push(("version".into(), e.to_string()));
            }
            if let UpdateMode::Replace { generation } = &s.mode
                && literal(generation)
                && let Err(e) = VersionId::parse(generation)
            {
                out.push(("mode.replace.generation".into(), e.to_string()));
            }
        }
        Step::ImportMlflow(s) => {
            service_ok("service", &s.service, &mut out);
            if literal(&s.model_uri)
                && let Err(e) = crate::mlflow::ModelUri::parse(&s.model_uri)
            {
                out.push(("model_uri".into(), e.to_string()));
            }
        }
        Step::StartCanary(s) => {
            service_ok("service", &s.service, &mut out);
            // The plan is checked with a stand-in version when the step's is a variable.
            let version = if literal(&s.version) { s.version.as_str() } else { "v1" };
            if literal(&s.version)
                && let Err(e) = VersionId::parse(&s.version)
            {
                out.push(("version".into(), e.to_string()));
            } else if let Err(e) = s.plan_for(version) {
                out.push(("plan".into(), e));
            }
        }
        Step::MlflowSet(s) => {
            for (field, v) in [("model", &s.model), ("version", &s.version)] {
                if v.trim().is_empty() {
                    out.push((field.to_owned(), format!("{field} is empty")));
                }
            }
            if s.alias.is_none() && s.tags.is_empty() {
                out.push(("alias".into(), "set an alias, tags, or both".into()));
            }
        }
        Step::ExportCapture(s) => {
            service_ok("service", &s.service, &mut out);
            if let Some(since) = s.since.as_deref().filter(|t| literal(t))
                && let Err(e) = crate::report::parse_time(since, chrono::DateTime::<chrono::Utc>::MAX_UTC)
            {
                out.push(("since".into(), e.to_string()));
            }
        }
    }
    out
}

#[cfg(test)]
pub(super) mod tests {
    use serde_json::json;

    use super::*;

    fn spec(v: serde_json::Value) -> Scenario {
        serde_json::from_value(v).expect("spec")
    }

    pub(in crate::scenario) fn retrain() -> serde_json::Value {
        json!({
            "name": "retrain",
            "variables": {"data": "${data_dir}/demo/iris_train.csv"},
            "steps": [
                {"kind": "run_command", "name": "train", "command": ["${switchyard}", "train-demo", "--data", "${data}"],
                 "outputs": {"model": "${run_dir}/model.onnx"}},
                {"kind": "create_version", "name": "register", "service": "iris", "model_file": "${model}", "unique": true, "id": "retrained"},
                {"kind": "evaluate", "name": "gate", "service": "iris", "version": "${version_id}", "metric": "accuracy",
                 "holdout_csv": "/data/holdout.csv", "stop_unless_better": true},
                {"kind": "update_deployment", "name": "deploy", "service": "iris", "version": "${version_id}",
                 "mode": {"replace": {"generation": "${baseline_version}"}}}
            ],
            "triggers": [{"kind": "manual"}, {"kind": "cron", "schedule": "0 0 1 * *", "timezone": "Europe/Berlin", "on_missed": "run_once"}]
        })
    }

    #[test]
    fn a_good_spec_has_no_issues() {
        let s = spec(retrain());
        assert_eq!(s.issues(), vec![]);
        assert_eq!(s.cron_triggers().count(), 1);
        assert_eq!(s.literal_services(), vec![(1, "iris"), (2, "iris"), (3, "iris")]);
        // Serde round trip keeps the spec.
        let again: Scenario = serde_json::from_value(serde_json::to_value(&s).expect("json")).expect("spec");
        assert_eq!(again, s);
    }

    #[test]
    fn unknown_variables_name_the_step_and_field() {
        let mut v = retrain();
        v["steps"][2]["version"] = json!("${versoin_id}");
        let issues = spec(v).issues();
        assert_eq!(issues.len(), 1, "{issues:?}");
        assert_eq!(issues[0].path, "steps[2].version");
        assert_eq!(issues[0].step, Some(2));
        assert!(issues[0].message.contains("unknown variable ${versoin_id}"), "{}", issues[0]);
        assert!(issues[0].message.contains("version_id"), "{}", issues[0]);
    }

    #[test]
    fn a_variable_is_defined_only_after_its_step() {
        let mut v = retrain();
        v["steps"][0]["command"] = json!("echo ${version_id}");
        let issues = spec(v).issues();
        assert_eq!(issues.len(), 1, "{issues:?}");
        assert_eq!(issues[0].path, "steps[0].command");
    }

    #[test]
    fn other_problems_are_reported_together() {
        let mut v = retrain();
        v["variables"]["run_id"] = json!("x");
        v["variables"]["bad"] = json!("${model}");
        v["steps"][1]["name"] = json!("train");
        v["steps"][0]["timeout_seconds"] = json!(0);
        v["steps"][3]["service"] = json!("Not A Service");
        v["triggers"][1]["schedule"] = json!("0 0 32 * *");
        v["triggers"]
            .as_array_mut()
            .expect("list")
            .push(json!({"kind": "cron", "schedule": "0 0 * * *", "timezone": "Mars/Base"}));
        v["name"] = json!("validate");
        let paths: Vec<String> = spec(v).issues().into_iter().map(|i| i.path).collect();
        assert_eq!(
            paths,
            [
                "name",
                "variables.bad",
                "variables.run_id",
                "steps[0].timeout_seconds",
                "steps[1].name",
                "steps[3].service",
                "triggers[1].schedule",
                "triggers[2].timezone"
            ]
        );
    }

    #[test]
    fn unknown_fields_and_kinds_are_refused() {
        let mut v = retrain();
        v["steps"][0]["timeout"] = json!(5);
        assert!(serde_json::from_value::<Scenario>(v).is_err());
        let mut v = retrain();
        v["steps"][0]["kind"] = json!("sleep");
        assert!(serde_json::from_value::<Scenario>(v).is_err());
    }

    #[test]
    fn metrics_know_which_way_is_better() {
        assert!(Metric::Accuracy.better(0.96, 0.93) && !Metric::Accuracy.better(0.93, 0.93));
        assert!(Metric::LogLoss.better(0.1, 0.2) && !Metric::Rmse.better(3.0, 2.0));
    }
}
