//! The scheduler: evaluates every enabled cron trigger against the engine's [`Clock`]
//! (crate::clock) and starts runs when fire times fall due.
//!
//! - Each trigger's bookkeeping row says up to when its fire times have been handled; a pass
//!   at `now` handles the fire times in `(last_checked, now]` and moves the mark to `now`, so
//!   a due time fires once however often the pass runs.
//! - Runs never overlap: a fire while the scenario's run is in progress is recorded as a
//!   `skipped` run saying which run was in the way.
//! - At engine open ([`Scenarios::abandon_own_runs`], [`Scenarios::handle_missed`]) runs
//!   left `running` by a dead process are marked `abandoned`, then fire times that fell due
//!   while the node was down are handled by each trigger's `on_missed` policy: one run
//!   (`run_once`), or a `skipped` run that records them (`skip`).
//!
//! - MLflow alias triggers are polled by a pass of their own ([`Scenarios::alias_pass`],
//!   its own lock and loop): an MLflow server slow to answer never delays a cron fire.
//!
//! Tests drive [`Scenarios::tick`] (both passes, through `Engine::scheduler_tick`) with a
//! manual clock; the node runs each pass every second.

use chrono::{DateTime, Utc};

use super::RunTrigger;
use super::spec::{AliasTrigger, OnMissed};
use super::store::{self, Run, RunStatus, StepStatus};
use super::{Host, Scenarios};
use crate::error::{Error, Result};

/// What a scheduler pass did for one scenario.
#[derive(Debug, Clone)]
pub struct Fired {
    pub scenario: String,
    /// The run started, or the `skipped` / `failed` run recorded instead.
    pub run: Run,
}

impl Scenarios {
    /// One scheduler pass at `now`: the cron pass, then the MLflow alias pass (tests drive
    /// both with a manual clock; the node runs each in its own loop).
    pub async fn tick(&self, host: &impl Host, now: DateTime<Utc>) -> Result<Vec<Fired>> {
        let mut fired = self.cron_pass(host, now).await?;
        fired.extend(self.alias_pass(host, now).await?);
        Ok(fired)
    }

    /// Starts a run for each scenario with a cron trigger due since its last check, or
    /// records why it did not run.
    pub async fn cron_pass(&self, host: &impl Host, now: DateTime<Utc>) -> Result<Vec<Fired>> {
        self.scheduler_pass(host, now, false).await
    }

    /// Polls each scenario's enabled MLflow alias trigger that is due, starting a run where
    /// the alias moved. Apart from the cron pass, under a lock of its own: a slow MLflow
    /// server delays the next poll, never a cron fire.
    pub async fn alias_pass(&self, host: &impl Host, now: DateTime<Utc>) -> Result<Vec<Fired>> {
        let _pass = self.alias_lock.lock().await;
        let mut fired = Vec::new();
        for stored in store::list(&self.pool).await? {
            let name = stored.spec.name.to_string();
            if let Some((i, a)) = stored.spec.alias_triggers().find(|(_, a)| a.enabled)
                && let Some(run) = self.poll_alias(host, &name, i, a, now).await?
            {
                fired.push(Fired { scenario: name, run });
            }
        }
        Ok(fired)
    }

    /// At engine open: marks runs left `running` by this instance's previous process as
    /// abandoned.
    pub async fn abandon_own_runs(&self) -> Result<()> {
        let now = self.clock.now();
        let me = self.instance.clone();
        // Runs recorded before instances existed have none.
        for run in store::abandon_running(&self.pool, now, |i| i == me || i.is_empty()).await? {
            tracing::warn!(scenario = %run.scenario, run = run.id, "{}", run.message);
        }
        Ok(())
    }

    /// At engine open, on the node that leads the scheduler: handles the fires missed while
    /// no node ran it, by each trigger's `on_missed` policy.
    pub async fn handle_missed(&self, host: &impl Host) -> Result<Vec<Fired>> {
        self.scheduler_pass(host, self.clock.now(), true).await
    }

    /// On the node that leads the scheduler: marks runs of instances that are no longer alive
    /// (stopped without closing, and not restarted) as abandoned: they say what happened
    /// instead of running forever. `alive` lists the live instances; it is asked only when
    /// another instance has a run in progress.
    pub async fn abandon_orphaned_runs(&self, alive: impl AsyncFnOnce() -> Result<Vec<String>>) -> Result<()> {
        let running = store::running_instances(&self.pool).await?;
        let me = self.instance.clone();
        if running.iter().all(|i| *i == me) {
            return Ok(()); // the usual case, checked without reading any run
        }
        let alive = alive().await?;
        let dead = |i: &str| i != me && !alive.iter().any(|a| a == i);
        if !running.iter().any(|i| dead(i)) {
            return Ok(());
        }
        for run in store::abandon_running(&self.pool, self.clock.now(), dead).await? {
            tracing::warn!(scenario = %run.scenario, run = run.id, "{} (its instance is gone)", run.message);
        }
        Ok(())
    }

    async fn scheduler_pass(&self, host: &impl Host, now: DateTime<Utc>, at_start: bool) -> Result<Vec<Fired>> {
        let _pass = self.scheduler_lock.lock().await;
        let mut fired = Vec::new();
        for stored in store::list(&self.pool).await? {
            let spec = stored.spec;
            let name = spec.name.to_string();
            let mut due = Vec::new();
            for (i, c) in spec.cron_triggers().filter(|(_, c)| c.enabled) {
                let schedule = match c.parsed() {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::error!(scenario = %name, trigger = i, "cron trigger unusable: {e}");
                        continue;
                    }
                };
                let key = c.key(i);
                match store::last_checked(&self.pool, &name, &key).await? {
                    // A trigger without bookkeeping (saved by an older node) starts from now.
                    None => store::set_checked(&self.pool, &name, &key, now).await?,
                    Some(last) => {
                        if let Some(d) = schedule.due(last, now) {
                            due.push((key, c.clone(), d));
                        }
                    }
                }
            }
            let Some((_, c, d)) = due.first().cloned() else { continue };
            for (key, _, _) in &due {
                store::set_checked(&self.pool, &name, key, now).await?;
            }
            let outcome = if at_start {
                let trigger = RunTrigger::Missed {
                    schedule: c.schedule.clone(),
                    timezone: c.timezone.clone(),
                    count: d.count,
                    first: d.first,
                    last: d.last,
                };
                match c.on_missed {
                    OnMissed::RunOnce => self.fire(host, &name, trigger).await?,
                    OnMissed::Skip => {
                        let why = format!("{}; not run (on_missed: skip)", trigger_text(&trigger));
                        self.record_unstarted(&name, &spec, &trigger, RunStatus::Skipped, why).await?
                    }
                }
            } else {
                let trigger = RunTrigger::Cron {
                    schedule: c.schedule.clone(),
                    timezone: c.timezone.clone(),
                    due: d.last,
                    count: d.count,
                };
                self.fire(host, &name, trigger).await?
            };
            fired.push(Fired { scenario: name, run: outcome });
        }
        Ok(fired)
    }

    /// Polls an MLflow alias trigger when due (never polled, or `poll_seconds` since the last
    /// poll): a move to a version not seen before starts a run; a move back starts nothing
    /// (a skipped run says so) unless `on_move_back`; a move while the scenario runs is left
    /// for the poll after the run ends, so no move is lost and runs never overlap. MLflow
    /// being down or refusing is logged and retried at the next poll.
    async fn poll_alias(
        &self,
        host: &impl Host,
        name: &str,
        index: usize,
        trigger: &AliasTrigger,
        now: DateTime<Utc>,
    ) -> Result<Option<Run>> {
        let key = trigger.key(index);
        // `seen`: None before the first poll, "" after polls that could not read the alias,
        // else the version it named at the last reading.
        let (last_poll, seen) = store::trigger_value(&self.pool, name, &key).await?.unwrap_or((now, None));
        let due = seen.is_none() || (now - last_poll).as_seconds_f64() >= trigger.poll_seconds;
        if !due || self.running_run(name).is_some() {
            return Ok(None);
        }
        let read = host.mlflow_alias_version(&trigger.model, &trigger.alias).await;
        let version = match read {
            Ok(v) => v,
            Err(e) => {
                // Polled: the next try waits `poll_seconds` like any other poll.
                let mark = if seen.is_none() { Some("") } else { None };
                store::set_trigger_value(&self.pool, name, &key, now, mark).await?;
                tracing::warn!(
                    scenario = name,
                    "MLflow alias {}@{} not read (next poll in {} s): {e}",
                    trigger.model,
                    trigger.alias,
                    trigger.poll_seconds
                );
                return Ok(None);
            }
        };
        store::set_trigger_value(&self.pool, name, &key, now, Some(&version)).await?;
        let Some(previous) = seen.filter(|v| !v.is_empty()) else {
            // The first reading finds where the alias points: that is no move.
            return Ok(None);
        };
        if previous == version {
            return Ok(None);
        }
        let trigger_run = RunTrigger::MlflowAlias {
            model: trigger.model.clone(),
            alias: trigger.alias.clone(),
            version: version.clone(),
            previous: Some(previous.clone()),
            by: None,
        };
        if is_move_back(&previous, &version) && !trigger.on_move_back {
            let spec = store::get(&self.pool, name)
                .await?
                .map(|s| s.spec)
                .ok_or_else(|| Error::ScenarioNotFound(name.to_owned()))?;
            let why = format!("{}: a move back; not run (on_move_back: false)", trigger_text(&trigger_run));
            return Ok(Some(self.record_unstarted(name, &spec, &trigger_run, RunStatus::Skipped, why).await?));
        }
        Ok(Some(self.fire(host, name, trigger_run).await?))
    }

    /// Starts a run, or records why it could not start.
    async fn fire(&self, host: &impl Host, name: &str, trigger: RunTrigger) -> Result<Run> {
        match self.start_run(host, name, trigger.clone()).await {
            Ok(run) => Ok(run),
            Err(Error::RunConflict(_)) => {
                let spec = store::get(&self.pool, name).await?.map(|s| s.spec);
                let running = self.running_run(name).map_or("a run".to_owned(), |id| format!("run {id}"));
                let why = format!(
                    "{}; skipped: {running} was still running (runs of a scenario never overlap)",
                    trigger_text(&trigger)
                );
                tracing::warn!(scenario = name, "{why}");
                match spec {
                    Some(spec) => self.record_unstarted(name, &spec, &trigger, RunStatus::Skipped, why).await,
                    None => Err(Error::ScenarioNotFound(name.to_owned())),
                }
            }
            Err(Error::ScenarioNotFound(n)) => Err(Error::ScenarioNotFound(n)),
            Err(e) => {
                let spec = store::get(&self.pool, name).await?.map(|s| s.spec);
                let why = format!("{}; could not start: {e}", trigger_text(&trigger));
                tracing::error!(scenario = name, "{why}");
                match spec {
                    Some(spec) => self.record_unstarted(name, &spec, &trigger, RunStatus::Failed, why).await,
                    None => Err(e),
                }
            }
        }
    }

    /// Records a fire that did not run, as a finished run with every step skipped.
    async fn record_unstarted(
        &self,
        name: &str,
        spec: &super::Scenario,
        trigger: &RunTrigger,
        status: RunStatus,
        why: String,
    ) -> Result<Run> {
        let now = self.clock.now();
        let mut run = Run::fresh(spec, trigger, status, StepStatus::Skipped, why.clone(), now);
        let log = format!("[{}] {why}\n", now.format("%Y-%m-%d %H:%M:%S"));
        run.id = store::insert_run(&self.pool, &self.instance, &run, &log).await?;
        tracing::info!(scenario = name, run = run.id, status = status.as_str(), "{why}");
        Ok(run)
    }
}

fn trigger_text(t: &RunTrigger) -> String {
    t.detail()
}

/// Whether an alias moving from `previous` to `version` goes back to an older version
/// (MLflow numbers versions 1, 2, 3, …).
fn is_move_back(previous: &str, version: &str) -> bool {
    matches!((previous.parse::<u64>(), version.parse::<u64>()), (Ok(p), Ok(v)) if v < p)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_move_back_is_to_a_lower_version_number() {
        assert!(super::is_move_back("4", "3"));
        assert!(!super::is_move_back("3", "4"));
        assert!(!super::is_move_back("9", "10"));
        assert!(!super::is_move_back("x", "1"));
    }
}
