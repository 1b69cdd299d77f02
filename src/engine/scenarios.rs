//! Scenarios: the facade over [`Scenarios`](crate::scenario::Scenarios), the engine as the
//! [`Host`] a run needs (versions, models, deploys), and the scheduler's lease.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{Engine, instance};
use crate::auth::people::{Permission, Principal};
use crate::deploy::Revision;
use crate::deploy::canary::{Canary, CanaryPlan};
use crate::error::{Error, Result};
use crate::events::Change;
use crate::mlflow::MlflowImport;
use crate::model::LoadedModel;
use crate::registry::{NewVersion, Version};
use crate::scenario::scheduler::Fired;
use crate::scenario::{Host, Run, RunTrigger, Scenario, ScenarioIssue, ScenarioView, Scenarios, TriggerFires};

impl Host for Engine {
    fn scenarios(&self) -> &Scenarios {
        &self.inner.scenarios
    }

    async fn create_version(&self, service: &str, bytes: Vec<u8>, new: NewVersion) -> Result<Version> {
        Engine::create_version(self, service, bytes, new).await
    }

    async fn export_capture(
        &self,
        service: &str,
        since: Option<&str>,
        format: crate::capture::export::ExportFormat,
    ) -> Result<String> {
        Engine::export_capture(self, service, since, format).await
    }

    async fn deployment(&self, service: &str) -> Result<Revision> {
        Engine::deployment(self, service).await
    }

    async fn version_model(&self, service: &str, version: &str) -> Result<Arc<LoadedModel>> {
        let v = self.get_version(service, version).await?;
        self.load_model(&v.sha256).await
    }

    async fn deploy(&self, service: &str, config: &Value, author: &str, reason: &str) -> Result<Revision> {
        Engine::deploy(self, service, config, author, reason).await
    }

    async fn deploy_version(&self, service: &str, version: &str, author: &str, reason: &str) -> Result<Revision> {
        Engine::deploy_version(self, service, version, author, reason).await
    }

    async fn start_canary(&self, service: &str, plan: CanaryPlan, author: &str) -> Result<Canary> {
        Engine::start_canary(self, service, plan, author).await
    }

    async fn import_mlflow(&self, service: &str, model_uri: &str, author: &str) -> Result<MlflowImport> {
        Engine::import_mlflow(self, service, model_uri, author).await
    }

    /// Given up at shutdown, so that closing never waits on a slow MLflow server: the poll
    /// counts as one that could not read the alias.
    async fn mlflow_alias_version(&self, model: &str, alias: &str) -> Result<String> {
        let stop = self.inner.shutdown.clone();
        tokio::select! {
            read = Engine::mlflow_alias_version(self, model, alias) => read,
            _ = stop.cancelled() => Err(crate::mlflow::MlflowError::Unreachable {
                uri: self.mlflow_settings().uri.unwrap_or_default(),
                reason: "this node is shutting down".into(),
            }
            .into()),
        }
    }

    async fn mlflow_set(
        &self,
        model: &str,
        version: &str,
        alias: Option<&str>,
        tags: &BTreeMap<String, String>,
    ) -> Result<()> {
        Engine::mlflow_set(self, model, version, alias, tags).await
    }

    async fn run_ended(&self, run: &Run) {
        self.notify_run(run).await;
    }
}

impl Engine {
    /// Every problem of a spec as an editor sends it (empty when it can be saved).
    pub async fn validate_scenario(&self, spec: &Value) -> Result<Vec<ScenarioIssue>> {
        self.inner.scenarios.validate_scenario(spec).await
    }

    /// Creates or replaces a scenario; nothing invalid is saved. One with `run_command`
    /// steps is refused on a node that refuses commands.
    pub async fn save_scenario(&self, spec: Scenario) -> Result<ScenarioView> {
        if spec.runs_commands() {
            self.refuse_if_no_commands()?;
        }
        let saved = self.inner.scenarios.save_scenario(spec).await?;
        self.announce(Change::Scenario { scenario: saved.spec.name.to_string() });
        Ok(saved)
    }

    /// Saves a scenario as `who`: one with `run_command` steps needs `run_commands` (admin),
    /// any other `manage`.
    pub async fn save_scenario_as(&self, who: &Principal, spec: Scenario) -> Result<ScenarioView> {
        who.require(if spec.runs_commands() { Permission::RunCommands } else { Permission::Manage }, None)?;
        self.save_scenario(spec).await
    }

    /// Saves a spec sent as JSON as `who`. One that does not parse is refused with every
    /// problem the validation finds (each at its field), not only the first one serde meets.
    pub async fn save_scenario_json_as(&self, who: &Principal, spec: Value) -> Result<ScenarioView> {
        match serde_json::from_value::<Scenario>(spec.clone()) {
            Ok(parsed) => self.save_scenario_as(who, parsed).await,
            Err(first) => {
                who.require(Permission::Manage, None)?;
                let issues = self.validate_scenario(&spec).await?;
                let all = if issues.is_empty() {
                    first.to_string()
                } else {
                    issues.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
                };
                let name = spec.get("name").and_then(Value::as_str).unwrap_or("(no name)");
                Err(Error::InvalidConfig(format!("scenario '{name}' cannot be saved: {all}")))
            }
        }
    }

    /// Starts a manual run as `who`: a scenario with `run_command` steps needs
    /// `run_commands` (admin), any other `deploy`.
    pub async fn start_run_as(&self, who: &Principal, name: &str) -> Result<Run> {
        let spec = self.get_scenario(name).await?.spec;
        who.require(if spec.runs_commands() { Permission::RunCommands } else { Permission::Deploy }, None)?;
        if spec.runs_commands() {
            self.refuse_if_no_commands()?;
        }
        self.start_run(name, RunTrigger::manual(&who.name)).await
    }

    fn refuse_if_no_commands(&self) -> Result<()> {
        match self.inner.scenarios.commands_refused() {
            Some(why) => Err(Error::Forbidden { permission: "run_commands", message: why.to_owned() }),
            None => Ok(()),
        }
    }

    pub async fn list_scenarios(&self) -> Result<Vec<ScenarioView>> {
        self.inner.scenarios.list_scenarios().await
    }

    pub async fn get_scenario(&self, name: &str) -> Result<ScenarioView> {
        self.inner.scenarios.get_scenario(name).await
    }

    /// Deletes a scenario (not while it runs). Its run history is kept.
    pub async fn delete_scenario(&self, name: &str) -> Result<()> {
        self.inner.scenarios.delete_scenario(name).await?;
        self.announce(Change::Scenario { scenario: name.to_owned() });
        Ok(())
    }

    /// The next `count` fire times of each cron trigger of a scenario.
    pub async fn next_fires(&self, name: &str, count: usize) -> Result<Vec<TriggerFires>> {
        self.inner.scenarios.next_fires(name, count).await
    }

    /// Starts a run in the background and returns it at once (status `running`).
    pub async fn start_run(&self, name: &str, trigger: RunTrigger) -> Result<Run> {
        self.inner.scenarios.start_run(self, name, trigger).await
    }

    /// A scenario's runs, newest first, without logs.
    pub async fn scenario_runs(&self, name: &str, limit: usize) -> Result<Vec<Run>> {
        self.inner.scenarios.scenario_runs(name, limit).await
    }

    /// One run with its log.
    pub async fn scenario_run(&self, name: &str, id: i64) -> Result<Run> {
        self.inner.scenarios.scenario_run(name, id).await
    }

    /// Cancels a run in progress and returns it once it has stopped.
    pub async fn cancel_run(&self, name: &str, id: i64, by: &str) -> Result<Run> {
        self.inner.scenarios.cancel_run(name, id, by).await
    }

    /// The id of the scenario's run in progress in this process.
    pub fn running_run(&self, name: &str) -> Option<i64> {
        self.inner.scenarios.running_run(name)
    }

    /// One scheduler pass at `now` (tests drive it with a manual clock).
    pub async fn scheduler_tick(&self, now: DateTime<Utc>) -> Result<Vec<Fired>> {
        self.inner.scenarios.tick(self, now).await
    }

    /// The scheduler loop's pass: on the node that leads the scheduler (one of the nodes
    /// sharing a registry), marks runs of stopped instances abandoned and fires the cron
    /// triggers that are due; on the others, nothing.
    pub async fn scheduler_round(&self, now: DateTime<Utc>) -> Result<Vec<Fired>> {
        if !self.lead(instance::SCHEDULER).await? {
            return Ok(Vec::new());
        }
        self.inner.scenarios.abandon_orphaned_runs(async || self.alive_instances().await).await?;
        self.inner.scenarios.cron_pass(self, now).await
    }

    /// The MLflow alias poller's pass: on the node that leads the scheduler, polls the alias
    /// triggers that are due; on the others, nothing.
    pub async fn alias_round(&self, now: DateTime<Utc>) -> Result<Vec<Fired>> {
        if !self.lead(instance::SCHEDULER).await? {
            return Ok(Vec::new());
        }
        self.inner.scenarios.alias_pass(self, now).await
    }

    /// At open: this instance's runs left `running` are abandoned; the scheduler's leader
    /// handles the fires missed while no node ran it.
    pub(super) async fn scheduler_start(&self) -> Result<Vec<Fired>> {
        self.inner.scenarios.abandon_own_runs().await?;
        if !self.lead(instance::SCHEDULER).await? {
            return Ok(Vec::new());
        }
        self.inner.scenarios.handle_missed(self).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EngineConfig;
    use crate::scenario::store;
    use crate::scenario::{RunStatus, StepStatus};
    use crate::store::lease;

    /// A run whose instance has no liveness lease (its node stopped without closing and never
    /// came back) is marked abandoned by the scheduler's leader; a live instance's run is not.
    #[tokio::test]
    async fn the_leader_abandons_the_runs_of_instances_that_are_gone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = EngineConfig { scheduler_tick: None, instance: "a".into(), ..EngineConfig::new(dir.path()) };
        let engine = Engine::open(config).await.expect("open");
        let spec: Scenario = serde_json::from_value(serde_json::json!({
            "name": "s", "steps": [{"kind": "run_command", "name": "work", "command": "true"}]
        }))
        .expect("spec");
        let now = engine.now();
        let run =
            Run::fresh(&spec, &RunTrigger::manual("t"), RunStatus::Running, StepStatus::Pending, String::new(), now);
        let pool = engine.pool();
        let ghost = store::insert_run(pool, "ghost", &run, "").await.expect("insert");
        let alive = store::insert_run(pool, "b", &run, "").await.expect("insert");
        lease::try_hold(pool, "instance/b", "b", crate::engine::LEASE_TTL, engine.now_ms()).await.expect("b lives");

        engine.scheduler_round(now).await.expect("round");
        let gone = engine.scenario_run("s", ghost).await.expect("run");
        assert_eq!(gone.status, RunStatus::Abandoned, "{gone:?}");
        assert_eq!(engine.scenario_run("s", alive).await.expect("run").status, RunStatus::Running);
        engine.close().await.expect("close");
    }
}
