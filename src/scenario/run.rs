//! Executes a run: the steps in order, each one's status, outputs and log persisted as it
//! goes (at least every [`FLUSH_EVERY`], so a live view shows progress). A step that fails,
//! stops (evaluate gate) or is cancelled ends the run: nothing after it executes, and since
//! a deployment changes only in the last, atomic `update_deployment` step, nothing half-done
//! is ever deployed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::Host;
use super::command::{Finished, run_process};
use super::evaluate::{Csv, parse_csv, score};
use super::spec::{
    CommandLine, CreateVersion, Evaluate, ExportCapture, ImportMlflow, MlflowSet, RunCommand, Scenario, StartCanary,
    Step, UpdateDeployment, UpdateMode,
};
use super::store::{self, Run, RunStatus, StepStatus};
use super::template;
use crate::clock::Clock;
use crate::deploy::Serving;
use crate::error::{Error, Result};
use crate::registry::{NewVersion, Provenance};

/// A running run's state is written at least this often while it changes.
pub const FLUSH_EVERY: Duration = Duration::from_millis(500);
/// Command output beyond this is dropped (the executor's own lines are still kept).
pub const MAX_LOG_BYTES: usize = 2 * 1024 * 1024;

/// The run's state shared by the executor, the output readers and the flusher.
pub(crate) struct Recorder {
    pool: crate::store::Pool,
    clock: Arc<dyn Clock>,
    state: Mutex<RecorderState>,
}

struct RecorderState {
    run: Run,
    log: String,
    /// How much of `log` is in the registry (the log only grows: writes append the rest).
    persisted: usize,
    dirty: bool,
    truncated: bool,
}

impl Recorder {
    /// A recorder of a run whose row holds `persisted_log`.
    pub(crate) fn new(pool: crate::store::Pool, clock: Arc<dyn Clock>, run: Run, persisted_log: String) -> Arc<Self> {
        let persisted = persisted_log.len();
        let state = RecorderState { run, log: persisted_log, persisted, dirty: false, truncated: false };
        Arc::new(Recorder { pool, clock, state: Mutex::new(state) })
    }

    /// A line of the executor, timestamped.
    pub(crate) fn line(&self, text: &str) {
        let at = self.clock.now().format("%Y-%m-%d %H:%M:%S");
        if let Ok(mut s) = self.state.lock() {
            if !s.log.is_empty() && !s.log.ends_with('\n') {
                s.log.push('\n');
            }
            s.log.push_str(&format!("[{at}] {text}\n"));
            s.dirty = true;
        }
    }

    /// Raw output of a command.
    pub(crate) fn output(&self, bytes: &[u8]) {
        if let Ok(mut s) = self.state.lock() {
            if s.truncated {
                return;
            }
            if s.log.len() + bytes.len() > MAX_LOG_BYTES {
                s.truncated = true;
                s.log.push_str(&format!("\n[output beyond {} MiB dropped]\n", MAX_LOG_BYTES / (1024 * 1024)));
            } else {
                s.log.push_str(&String::from_utf8_lossy(bytes));
            }
            s.dirty = true;
        }
    }

    fn update<T>(&self, f: impl FnOnce(&mut Run) -> T) -> Option<T> {
        let mut s = self.state.lock().ok()?;
        let out = f(&mut s.run);
        s.run.update_progress();
        s.dirty = true;
        Some(out)
    }

    fn variables(&self) -> BTreeMap<String, String> {
        self.state.lock().map(|s| s.run.variables.clone()).unwrap_or_default()
    }

    pub(crate) fn snapshot(&self) -> Option<(Run, String)> {
        self.state.lock().ok().map(|s| (s.run.clone(), s.log.clone()))
    }

    /// Writes the state if it changed since the last write; the log is appended, not
    /// rewritten. Writes are serialised by the caller (the flusher, then the final write).
    pub(crate) async fn flush(&self) -> Result<()> {
        let (run, tail, len) = {
            let Ok(mut s) = self.state.lock() else { return Ok(()) };
            if !s.dirty {
                return Ok(());
            }
            s.dirty = false;
            let tail = s.log.get(s.persisted..).unwrap_or_default().to_owned();
            (s.run.clone(), tail, s.log.len())
        };
        let written = store::update_run(&self.pool, &run, &tail).await;
        match written {
            Ok(true) => {
                if let Ok(mut s) = self.state.lock() {
                    s.persisted = len;
                }
            }
            Ok(false) => {
                tracing::warn!(scenario = %run.scenario, run = run.id, "run row is no longer running; state not written")
            }
            Err(e) => {
                if let Ok(mut s) = self.state.lock() {
                    s.dirty = true;
                }
                return Err(e);
            }
        }
        Ok(())
    }
}

/// How a step ended, when not with success.
enum Halt {
    Failed(String),
    Stopped(String),
    Cancelled,
}

impl From<Error> for Halt {
    fn from(e: Error) -> Self {
        Halt::Failed(e.to_string())
    }
}

type StepResult = std::result::Result<(String, BTreeMap<String, String>), Halt>;

/// What the steps share during one run.
struct Ctx<'a, H> {
    host: &'a H,
    spec: &'a Scenario,
    rec: &'a Recorder,
    token: &'a CancellationToken,
    run_id: i64,
    run_dir: PathBuf,
    /// One-line summary of the last evaluation, for the deployment's "why".
    evaluation: Option<String>,
}

impl<H> Ctx<'_, H> {
    fn render(&self, field: &str, text: &str) -> std::result::Result<String, Halt> {
        template::render(text, &self.rec.variables()).map_err(|e| Halt::Failed(format!("{field}: {e}")))
    }

    /// A path field: rendered, and taken from `base` when relative.
    fn path(&self, field: &str, text: &str, base: &Path) -> std::result::Result<PathBuf, Halt> {
        let p = PathBuf::from(self.render(field, text)?);
        Ok(if p.is_absolute() { p } else { base.join(p) })
    }
}

/// Runs every step of `spec` and records the outcome. `run` is already persisted as running.
pub(crate) async fn execute<H: Host>(
    host: H,
    spec: Scenario,
    rec: Arc<Recorder>,
    token: CancellationToken,
    run_dir: PathBuf,
) {
    // The flusher stops only between writes (a write cut short could be appended twice).
    let stop_flusher = CancellationToken::new();
    let flusher = {
        let (rec, stop) = (Arc::clone(&rec), stop_flusher.clone());
        tokio::spawn(async move {
            let mut every = tokio::time::interval(FLUSH_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = every.tick() => {}
                }
                if let Err(e) = rec.flush().await {
                    tracing::warn!("cannot persist a scenario run's progress: {e}");
                }
            }
        })
    };
    let run_id = rec.update(|r| r.id).unwrap_or_default();
    let mut ctx = Ctx { host: &host, spec: &spec, rec: &rec, token: &token, run_id, run_dir, evaluation: None };
    let total = spec.steps.len();
    let mut halt: Option<(usize, Halt)> = None;
    if !ctx.run_dir.is_dir() {
        halt = Some((0, Halt::Failed(format!("the run directory {} could not be created", ctx.run_dir.display()))));
    }
    for (i, step) in spec.steps.iter().enumerate() {
        if halt.is_some() {
            break;
        }
        if token.is_cancelled() {
            halt = Some((i, Halt::Cancelled));
            break;
        }
        let now = host.scenarios().now();
        rec.update(|r| {
            r.steps[i].status = StepStatus::Running;
            r.steps[i].started_at = Some(now);
        });
        rec.line(&format!("step {}/{total} '{}' ({}) started", i + 1, step.name(), step.kind()));
        let result = match step {
            Step::RunCommand(s) => run_command(&ctx, s).await,
            Step::CreateVersion(s) => create_version(&ctx, s).await,
            Step::Evaluate(s) => evaluate(&mut ctx, s).await,
            Step::UpdateDeployment(s) => update_deployment(&ctx, s).await,
            Step::ImportMlflow(s) => import_mlflow(&ctx, s).await,
            Step::StartCanary(s) => start_canary(&ctx, s).await,
            Step::MlflowSet(s) => mlflow_set(&ctx, s).await,
            Step::ExportCapture(s) => export_capture(&ctx, s).await,
        };
        let now = host.scenarios().now();
        match result {
            Ok((message, outputs)) => {
                rec.line(&format!("step {}/{total} '{}' succeeded: {message}", i + 1, step.name()));
                rec.update(|r| {
                    let s = &mut r.steps[i];
                    s.status = StepStatus::Succeeded;
                    s.ended_at = Some(now);
                    s.message = message;
                    s.outputs = outputs.clone();
                    r.variables.extend(outputs);
                });
            }
            Err(h) => {
                halt = Some((i, h));
                break;
            }
        }
    }
    finish(host.scenarios(), &rec, &spec, halt).await;
    stop_flusher.cancel();
    let _ = flusher.await;
    if let Err(e) = rec.flush().await {
        tracing::error!(scenario = %spec.name, run = run_id, "cannot record the end of a scenario run: {e}");
    }
    if let Some(run) = rec.update(|r| r.clone()) {
        host.run_ended(&run).await;
    }
    host.scenarios().run_finished(spec.name.as_str(), run_id);
}

/// Sets the run's final status and message, and the status of the halting step and of the
/// steps that never ran.
async fn finish(scenarios: &super::Scenarios, rec: &Recorder, spec: &Scenario, halt: Option<(usize, Halt)>) {
    let now = scenarios.now();
    // A cancellation caused by the node shutting down is not the user's: the run is abandoned.
    let shutdown = scenarios.shutting_down();
    let (status, step_status, message, at) = match halt {
        None => {
            let summary = format!("all {} steps succeeded", spec.steps.len());
            (RunStatus::Succeeded, None, summary, None)
        }
        Some((i, Halt::Failed(m))) => {
            let name = spec.steps[i].name();
            (RunStatus::Failed, Some(StepStatus::Failed), format!("step '{name}' failed: {m}"), Some((i, m)))
        }
        Some((i, Halt::Stopped(m))) => {
            let name = spec.steps[i].name();
            (RunStatus::Stopped, Some(StepStatus::Stopped), format!("stopped at step '{name}': {m}"), Some((i, m)))
        }
        Some((i, Halt::Cancelled)) if shutdown => {
            let m = "the node stopped during this step".to_owned();
            (
                RunStatus::Abandoned,
                Some(StepStatus::Abandoned),
                format!("abandoned: the node shut down during step '{}'", spec.steps[i].name()),
                Some((i, m)),
            )
        }
        Some((i, Halt::Cancelled)) => {
            let m = "cancelled".to_owned();
            (
                RunStatus::Cancelled,
                Some(StepStatus::Cancelled),
                format!("cancelled during step '{}'", spec.steps[i].name()),
                Some((i, m)),
            )
        }
    };
    rec.line(&format!("run {}: {message}", status.as_str()));
    rec.update(|r| {
        if let (Some((i, m)), Some(st)) = (at, step_status) {
            let s = &mut r.steps[i];
            // A step cancelled before it started was never running.
            s.status =
                if s.status == StepStatus::Pending && st == StepStatus::Cancelled { StepStatus::Skipped } else { st };
            s.ended_at = Some(now);
            s.message = m;
        }
        for s in r.steps.iter_mut().filter(|s| s.status == StepStatus::Pending) {
            s.status = StepStatus::Skipped;
        }
        r.status = status;
        r.message = message;
        r.ended_at = Some(now);
    });
}

async fn run_command<H: Host>(ctx: &Ctx<'_, H>, step: &RunCommand) -> StepResult {
    if let Some(why) = ctx.host.scenarios().commands_refused() {
        return Err(Halt::Failed(why.to_owned()));
    }
    let argv: Vec<String> = match &step.command {
        CommandLine::Shell(c) => vec!["sh".into(), "-c".into(), ctx.render("command", c)?],
        CommandLine::Exec(args) => args
            .iter()
            .enumerate()
            .map(|(i, a)| ctx.render(&format!("command[{i}]"), a))
            .collect::<std::result::Result<_, _>>()?,
    };
    let dir = match &step.working_dir {
        Some(d) => ctx.path("working_dir", d, &ctx.run_dir)?,
        None => ctx.run_dir.clone(),
    };
    if !dir.is_dir() {
        return Err(Halt::Failed(format!("working directory {} does not exist", dir.display())));
    }
    let mut env = vec![
        ("SWITCHYARD_SCENARIO".to_owned(), ctx.spec.name.to_string()),
        ("SWITCHYARD_RUN_ID".to_owned(), ctx.run_id.to_string()),
        ("SWITCHYARD_RUN_DIR".to_owned(), ctx.run_dir.display().to_string()),
    ];
    for (k, v) in &step.env {
        env.push((k.clone(), ctx.render(&format!("env.{k}"), v)?));
    }
    ctx.rec.line(&format!("$ {}", shell_words(&argv)));
    let timeout = Duration::from_secs_f64(step.timeout_seconds);
    let rec = ctx.rec;
    let finished = run_process(&argv, &dir, &env, timeout, ctx.token, |bytes| rec.output(bytes))
        .await
        .map_err(|e| Halt::Failed(e.to_string()))?;
    match finished {
        Finished::Exited(0) => {}
        Finished::Exited(code) => return Err(Halt::Failed(format!("the command exited with status {code}"))),
        Finished::Signalled(desc) => return Err(Halt::Failed(format!("the command was killed ({desc})"))),
        Finished::TimedOut => {
            return Err(Halt::Failed(format!("timed out after {} s; the command was killed", step.timeout_seconds)));
        }
        Finished::Cancelled => return Err(Halt::Cancelled),
    }
    let mut outputs = BTreeMap::new();
    for (name, path) in &step.outputs {
        let p = ctx.path(&format!("outputs.{name}"), path, &dir)?;
        if !p.is_file() {
            return Err(Halt::Failed(format!(
                "the command succeeded but did not write its output '{name}' ({})",
                p.display()
            )));
        }
        outputs.insert(name.clone(), p.display().to_string());
    }
    let written = if outputs.is_empty() {
        String::new()
    } else {
        format!("; outputs: {}", outputs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", "))
    };
    Ok((format!("exit status 0{written}"), outputs))
}

fn shell_words(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            if !a.is_empty() && a.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c)) {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

async fn create_version<H: Host>(ctx: &Ctx<'_, H>, step: &CreateVersion) -> StepResult {
    let service = ctx.render("service", &step.service)?;
    let file = ctx.path("model_file", &step.model_file, &ctx.run_dir)?;
    let bytes = tokio::fs::read(&file)
        .await
        .map_err(|e| Halt::Failed(format!("cannot read the model file {}: {e}", file.display())))?;
    let mut metrics = BTreeMap::new();
    if let Some(m) = &step.metrics_file {
        let path = ctx.path("metrics_file", m, &ctx.run_dir)?;
        let text = tokio::fs::read_to_string(&path)
            .await
            .map_err(|e| Halt::Failed(format!("cannot read the metrics file {}: {e}", path.display())))?;
        let Ok(Value::Object(obj)) = serde_json::from_str::<Value>(&text) else {
            return Err(Halt::Failed(format!("the metrics file {} is not a JSON object of numbers", path.display())));
        };
        for (k, v) in obj {
            match v.as_f64().filter(|v| v.is_finite()) {
                Some(v) if !k.is_empty() => {
                    metrics.insert(k, v);
                }
                _ => ctx.rec.line(&format!("metrics file: '{k}' is not a finite number; ignored")),
            }
        }
    }
    let reference_csv = match &step.reference_csv {
        Some(r) => {
            let path = ctx.path("reference_csv", r, &ctx.run_dir)?;
            let text = tokio::fs::read_to_string(&path)
                .await
                .map_err(|e| Halt::Failed(format!("cannot read the reference CSV {}: {e}", path.display())))?;
            Some(text)
        }
        None => None,
    };
    let id = step.id.as_deref().map(|id| ctx.render("id", id)).transpose()?.filter(|id| !id.trim().is_empty());
    let trigger = ctx.rec.update(|r| r.trigger_detail.clone()).unwrap_or_default();
    let new = NewVersion {
        id,
        unique: step.unique,
        metrics,
        notes: ctx.render("notes", &step.notes)?,
        provenance: Provenance {
            created_by: format!("scenario {} run {}", ctx.spec.name, ctx.run_id),
            source_file: file.file_name().map(|n| n.to_string_lossy().into_owned()),
            details: BTreeMap::from([
                ("scenario".to_owned(), ctx.spec.name.to_string()),
                ("run".to_owned(), ctx.run_id.to_string()),
                ("step".to_owned(), step.name.clone()),
                ("trigger".to_owned(), trigger),
                ("model_file".to_owned(), file.display().to_string()),
            ]),
        },
        reference_csv,
    };
    let version = ctx.host.create_version(&service, bytes, new).await?;
    let metrics: Vec<String> = version.metrics.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let message = format!(
        "created {service} {} (sha256 {}{}{})",
        version.id,
        &version.sha256[..12.min(version.sha256.len())],
        if metrics.is_empty() { "" } else { ", " },
        metrics.join(" ")
    );
    Ok((message, BTreeMap::from([(step.target_variable.clone(), version.id.to_string())])))
}

async fn evaluate<H: Host>(ctx: &mut Ctx<'_, H>, step: &Evaluate) -> StepResult {
    let service = ctx.render("service", &step.service)?;
    let candidate = ctx.render("version", &step.version)?;
    let csv_path = ctx.path("holdout_csv", &step.holdout_csv, &ctx.run_dir)?;
    let target = ctx.render("target_column", &step.target_column)?;
    let baseline = match &step.baseline {
        Some(b) => Some(ctx.render("baseline", b)?).filter(|b| !b.trim().is_empty()),
        None => match ctx.host.deployment(&service).await {
            Ok(rev) => Some(match &rev.config.serving {
                Serving::Single { generation } => generation.to_string(),
                Serving::Multiple { mapping } => {
                    let entries = mapping.entries();
                    let best = entries.iter().fold(&entries[0], |best, e| if e.proba > best.proba { e } else { best });
                    best.generation.to_string()
                }
            }),
            Err(Error::NotDeployed(_)) => None,
            Err(e) => return Err(e.into()),
        },
    };
    let text = tokio::fs::read_to_string(&csv_path)
        .await
        .map_err(|e| Halt::Failed(format!("cannot read the holdout CSV {}: {e}", csv_path.display())))?;
    let csv = Arc::new(tokio::task::spawn_blocking(move || parse_csv(&text)).await.map_err(join_error)??);
    let metric = step.metric;
    let file = csv_path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();

    let cand = measure(ctx, &service, &candidate, &csv, &target, step).await?;
    ctx.rec.line(&format!(
        "{} of {service} {candidate} on {file} ({} rows): {:.4}",
        metric.as_str(),
        cand.rows,
        cand.value
    ));
    let mut outputs = BTreeMap::from([
        (metric.as_str().to_owned(), format!("{}", cand.value)),
        (format!("baseline_{}", metric.as_str()), String::new()),
        ("baseline_version".to_owned(), baseline.clone().unwrap_or_default()),
    ]);
    let Some(base_id) = baseline else {
        let m = format!(
            "{} {:.4} on {} rows; no active generation of '{service}' to compare with",
            metric.as_str(),
            cand.value,
            cand.rows
        );
        ctx.evaluation = Some(format!("{} {:.4}", metric.as_str(), cand.value));
        return Ok((m, outputs));
    };
    let base = measure(ctx, &service, &base_id, &csv, &target, step).await?;
    ctx.rec.line(&format!("{} of {service} {base_id} (baseline) on {file}: {:.4}", metric.as_str(), base.value));
    outputs.insert(format!("baseline_{}", metric.as_str()), format!("{}", base.value));
    let better = metric.better(cand.value, base.value);
    let comparison = format!(
        "{} {:.4} of {candidate} vs {:.4} of {base_id} ({} is better)",
        metric.as_str(),
        cand.value,
        base.value,
        if metric.higher_is_better() { "higher" } else { "lower" }
    );
    if step.stop_unless_better && !better {
        return Err(Halt::Stopped(format!(
            "{} {:.4} of {candidate} is not better than {:.4} of {base_id}, the active generation; nothing deployed",
            metric.as_str(),
            cand.value,
            base.value
        )));
    }
    ctx.evaluation = Some(format!("{} {:.4} vs {:.4} of {base_id}", metric.as_str(), cand.value, base.value));
    Ok((comparison, outputs))
}

async fn measure<H: Host>(
    ctx: &Ctx<'_, H>,
    service: &str,
    version: &str,
    csv: &Arc<Csv>,
    target: &str,
    step: &Evaluate,
) -> std::result::Result<super::evaluate::Score, Halt> {
    let model = ctx.host.version_model(service, version).await?;
    let (csv, target, metric) = (Arc::clone(csv), target.to_owned(), step.metric);
    let scored = tokio::task::spawn_blocking(move || score(&model, &csv, &target, metric)).await.map_err(join_error)?;
    scored.map_err(|e| Halt::Failed(format!("{service} {version}: {e}")))
}

fn join_error(e: tokio::task::JoinError) -> Halt {
    Halt::Failed(format!("the evaluation stopped: {e}"))
}

async fn export_capture<H: Host>(ctx: &Ctx<'_, H>, step: &ExportCapture) -> StepResult {
    use crate::capture::export::ExportFormat;
    let service = ctx.render("service", &step.service)?;
    let since = step.since.as_deref().map(|s| ctx.render("since", s)).transpose()?;
    let default = match step.format {
        ExportFormat::Csv => "capture.csv",
        ExportFormat::Jsonl => "capture.jsonl",
    };
    let path = ctx.path("path", step.path.as_deref().unwrap_or(default), &ctx.run_dir)?;
    if ctx.token.is_cancelled() {
        return Err(Halt::Cancelled);
    }
    let text = ctx.host.export_capture(&service, since.as_deref(), step.format).await?;
    let rows = match step.format {
        ExportFormat::Csv => text.lines().count().saturating_sub(1),
        ExportFormat::Jsonl => text.lines().count(),
    };
    tokio::fs::write(&path, text).await.map_err(|e| Halt::Failed(format!("cannot write {}: {e}", path.display())))?;
    let file = path.display().to_string();
    let outputs =
        BTreeMap::from([("capture_file".to_owned(), file.clone()), ("capture_rows".to_owned(), rows.to_string())]);
    Ok((format!("{rows} captured rows of {service} written to {file}"), outputs))
}

async fn update_deployment<H: Host>(ctx: &Ctx<'_, H>, step: &UpdateDeployment) -> StepResult {
    let service = ctx.render("service", &step.service)?;
    let version = ctx.render("version", &step.version)?;
    if ctx.token.is_cancelled() {
        return Err(Halt::Cancelled);
    }
    let author = format!("scenario {}", ctx.spec.name);
    let why = ctx.evaluation.as_deref().map(|e| format!(" ({e})")).unwrap_or_default();
    let rev = match &step.mode {
        UpdateMode::Single => {
            let reason = format!("scenario {} run {}: deploy {version}{why}", ctx.spec.name, ctx.run_id);
            ctx.host.deploy_version(&service, &version, &author, &reason).await
        }
        UpdateMode::Replace { generation } => {
            let old = ctx.render("mode.replace.generation", generation)?;
            let current = ctx.host.deployment(&service).await?;
            let mut config = serde_json::to_value(&current.config).map_err(|e| Halt::Failed(e.to_string()))?;
            let replaced = match &mut config {
                Value::Object(obj) if obj.get("mode").and_then(Value::as_str) == Some("single") => {
                    let same = obj.get("generation").and_then(Value::as_str) == Some(old.as_str());
                    if same {
                        obj.insert("generation".into(), Value::String(version.clone()));
                    }
                    same
                }
                Value::Object(obj) => obj.get_mut("mapping").and_then(Value::as_array_mut).is_some_and(|entries| {
                    entries
                        .iter_mut()
                        .find(|e| e.get("generation").and_then(Value::as_str) == Some(old.as_str()))
                        .map(|e| e["generation"] = Value::String(version.clone()))
                        .is_some()
                }),
                _ => false,
            };
            if !replaced {
                return Err(Halt::Failed(format!(
                    "'{old}' is not a generation of the active config of '{service}' (live: {}); nothing deployed",
                    current.config.describe()
                )));
            }
            let reason = format!("scenario {} run {}: {version} replaces {old}{why}", ctx.spec.name, ctx.run_id);
            ctx.host.deploy(&service, &config, &author, &reason).await
        }
    };
    let (rev, message) = match rev {
        Ok(rev) => {
            let message = format!("{service} revision {}: {}", rev.number, rev.config.describe());
            (rev, message)
        }
        // The config asked for is already live: the step's goal holds, with no new revision.
        Err(Error::Unchanged(why)) => (ctx.host.deployment(&service).await?, why),
        Err(e) => return Err(e.into()),
    };
    Ok((message, BTreeMap::from([("revision".to_owned(), rev.number.to_string())])))
}

async fn import_mlflow<H: Host>(ctx: &Ctx<'_, H>, step: &ImportMlflow) -> StepResult {
    let service = ctx.render("service", &step.service)?;
    let uri = ctx.render("model_uri", &step.model_uri)?;
    if ctx.token.is_cancelled() {
        return Err(Halt::Cancelled);
    }
    let author = format!("scenario {}", ctx.spec.name);
    let imported = ctx.host.import_mlflow(&service, &uri, &author).await?;
    let id = imported.version.id.to_string();
    let message = if imported.created {
        format!("imported {uri} as {service} {id}")
    } else {
        format!("{uri} is already {service} {id} (the same model): nothing imported")
    };
    Ok((message, BTreeMap::from([(step.target_variable.clone(), id)])))
}

async fn start_canary<H: Host>(ctx: &Ctx<'_, H>, step: &StartCanary) -> StepResult {
    let service = ctx.render("service", &step.service)?;
    let version = ctx.render("version", &step.version)?;
    let plan = step.plan_for(&version).map_err(|e| Halt::Failed(format!("plan: {e}")))?;
    if ctx.token.is_cancelled() {
        return Err(Halt::Cancelled);
    }
    let steps: Vec<String> = plan.steps.iter().map(|p| format!("{p}%")).collect();
    let canary = ctx.host.start_canary(&service, plan, &format!("scenario {}", ctx.spec.name)).await?;
    let why = ctx.evaluation.as_deref().map(|e| format!(" ({e})")).unwrap_or_default();
    let message = format!("canary {} of {service} {version} started: {}{why}", canary.id, steps.join(" → "));
    Ok((message, BTreeMap::from([("canary_id".to_owned(), canary.id.to_string())])))
}

async fn mlflow_set<H: Host>(ctx: &Ctx<'_, H>, step: &MlflowSet) -> StepResult {
    let model = ctx.render("model", &step.model)?;
    let version = ctx.render("version", &step.version)?;
    let alias = step.alias.as_deref().map(|a| ctx.render("alias", a)).transpose()?;
    let mut tags = BTreeMap::new();
    for (k, v) in &step.tags {
        tags.insert(k.clone(), ctx.render(&format!("tags.{k}"), v)?);
    }
    if ctx.token.is_cancelled() {
        return Err(Halt::Cancelled);
    }
    ctx.host.mlflow_set(&model, &version, alias.as_deref(), &tags).await?;
    let mut done = Vec::new();
    if let Some(a) = &alias {
        done.push(format!("@{a} → version {version}"));
    }
    done.extend(tags.iter().map(|(k, v)| format!("{k}={v}")));
    Ok((format!("MLflow {model} version {version}: {}", done.join(", ")), BTreeMap::new()))
}
