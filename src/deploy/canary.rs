//! Canary plans: shift traffic to a new version step by step (default 5, 25, 50, 100 %),
//! judging each step by health gates on the canary's own traffic, and roll back automatically
//! — as a new revision whose "why" names the failed gate and the measured value — when one
//! fails. A gate never decides below its minimum sample: the step is *inconclusive* and, past
//! the plan's timeout, the plan's policy applies (pause or roll back).
//!
//! The plan and its state are rows of `canaries`; the controller re-reads them every tick, so
//! a restarted node resumes where it was (the current step's measurement window restarts,
//! since the counters it measured lived in the old process).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::Row;

use super::{DeploymentConfig, RevisionKind, RevisionMeta, Serving};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::names::VersionId;
use crate::registry::to_json;
use crate::router::Mapping;
use crate::store::{Pool, now_ms};

fn default_steps() -> Vec<f64> {
    vec![5.0, 25.0, 50.0, 100.0]
}
fn default_bake() -> f64 {
    300.0
}
fn default_timeout() -> f64 {
    3600.0
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Gates {
    /// Server errors / requests served by the canary during the step.
    pub max_error_rate: f64,
    /// 99th percentile latency of the canary's successful requests during the step.
    pub max_p99_ms: f64,
    /// Below this many requests the step is inconclusive: no gate decides.
    pub min_requests: u64,
}

impl Default for Gates {
    fn default() -> Self {
        Self { max_error_rate: 0.01, max_p99_ms: 250.0, min_requests: 100 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InconclusivePolicy {
    #[default]
    Pause,
    Rollback,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CanaryPlan {
    pub version: VersionId,
    /// Traffic percentages of the canary, increasing, ending at 100.
    #[serde(default = "default_steps")]
    pub steps: Vec<f64>,
    #[serde(default = "default_bake")]
    pub bake_seconds: f64,
    #[serde(default)]
    pub gates: Gates,
    /// How long a step may stay inconclusive after its bake time before the policy applies.
    #[serde(default = "default_timeout")]
    pub inconclusive_timeout_seconds: f64,
    #[serde(default)]
    pub on_inconclusive: InconclusivePolicy,
}

impl CanaryPlan {
    pub fn check(&self) -> Result<()> {
        let bad = |m: String| Err(Error::InvalidConfig(m));
        if self.steps.is_empty() || self.steps.len() > 20 {
            return bad("a canary plan has 1 to 20 steps, e.g. [5, 25, 50, 100]".into());
        }
        for w in self.steps.windows(2) {
            if w[1] <= w[0] {
                return bad(format!("canary steps must increase ({} then {})", w[0], w[1]));
            }
        }
        if self.steps.iter().any(|s| !s.is_finite() || *s <= 0.0 || *s > 100.0) || self.steps.last() != Some(&100.0) {
            return bad("canary steps are percentages in (0, 100] and the last one is 100".into());
        }
        let g = &self.gates;
        if !(0.0..=1.0).contains(&g.max_error_rate) || !g.max_p99_ms.is_finite() || g.max_p99_ms <= 0.0 {
            return bad("gates: max_error_rate is in [0, 1] and max_p99_ms is a positive number of milliseconds".into());
        }
        for (name, v) in
            [("bake_seconds", self.bake_seconds), ("inconclusive_timeout_seconds", self.inconclusive_timeout_seconds)]
        {
            if !v.is_finite() || v < 0.0 {
                return bad(format!("{name} must be a non-negative number of seconds"));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CanaryStatus {
    Running,
    Paused,
    Promoted,
    RolledBack,
    Aborted,
}

impl CanaryStatus {
    fn as_str(self) -> &'static str {
        match self {
            CanaryStatus::Running => "running",
            CanaryStatus::Paused => "paused",
            CanaryStatus::Promoted => "promoted",
            CanaryStatus::RolledBack => "rolled_back",
            CanaryStatus::Aborted => "aborted",
        }
    }

    pub fn is_active(self) -> bool {
        matches!(self, CanaryStatus::Running | CanaryStatus::Paused)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Bake time not over yet.
    Baking,
    /// Bake time over, fewer requests than the gate's minimum.
    Inconclusive,
    Passed,
    Failed,
}

/// What the gates saw during the current step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GateReading {
    pub at: DateTime<Utc>,
    pub requests: u64,
    pub errors: u64,
    pub error_rate: f64,
    pub p99_ms: f64,
    pub verdict: Verdict,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CanaryEvent {
    pub at: DateTime<Utc>,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Canary {
    pub id: i64,
    pub service: String,
    pub plan: CanaryPlan,
    pub status: CanaryStatus,
    /// Index of the current step in `plan.steps`.
    pub step: usize,
    pub step_started_at: DateTime<Utc>,
    /// The config live when the canary started: what a rollback restores.
    pub base: DeploymentConfig,
    pub base_revision: i64,
    pub last_reading: Option<GateReading>,
    pub events: Vec<CanaryEvent>,
}

impl Canary {
    fn event(&mut self, message: impl Into<String>) {
        let message = message.into();
        tracing::info!(service = %self.service, canary = self.id, "{message}");
        self.events.push(CanaryEvent { at: Utc::now(), message });
    }

    fn percent(&self) -> f64 {
        self.plan.steps.get(self.step).copied().unwrap_or(100.0)
    }

    fn step_label(&self) -> String {
        format!("step {}/{} ({}%)", self.step + 1, self.plan.steps.len(), self.percent())
    }
}

/// The serving part of a config that gives the canary `percent` % and shares the rest among
/// the base generations in their base proportions (any number of them).
pub fn step_serving(base: &DeploymentConfig, version: &VersionId, percent: f64) -> Result<Serving> {
    if percent >= 100.0 {
        return Ok(Serving::Single { generation: version.clone() });
    }
    let weights: Vec<(VersionId, f64)> = match &base.serving {
        Serving::Single { generation } => vec![(generation.clone(), 1.0)],
        Serving::Multiple { mapping } => mapping.entries().iter().map(|e| (e.generation.clone(), e.proba)).collect(),
    };
    let others: Vec<(VersionId, f64)> = weights.into_iter().filter(|(g, w)| g != version && *w > 0.0).collect();
    let total: f64 = others.iter().map(|(_, w)| w).sum();
    if others.is_empty() || total <= 0.0 {
        return Err(Error::InvalidConfig(format!(
            "nothing to compare {version} with: the live config serves only {version}"
        )));
    }
    let canary = percent / 100.0;
    let mut entries = vec![json!({"generation": version, "proba": canary})];
    let mut assigned = canary;
    for (i, (g, w)) in others.iter().enumerate() {
        // Shares are rounded to 6 decimals for readable mappings; the last takes the
        // remainder so the sum is exactly 1.
        let p = if i + 1 == others.len() { 1.0 - assigned } else { ((1.0 - canary) * w / total * 1e6).round() / 1e6 };
        let p = (p * 1e9).round() / 1e9;
        assigned += p;
        entries.push(json!({"generation": g, "proba": p}));
    }
    let mapping = Mapping::from_value(&serde_json::Value::Array(entries), |_| true).map_err(Error::InvalidMapping)?;
    Ok(Serving::Multiple { mapping })
}

// ---- storage ---------------------------------------------------------------------------

fn from_row(row: &sqlx::any::AnyRow) -> Result<Canary> {
    let state: String = row.try_get("state_json")?;
    serde_json::from_str(&state).map_err(|e| Error::Internal(format!("stored canary is unreadable: {e}")))
}

pub async fn latest(pool: &Pool, service: &str, node: &str) -> Result<Option<Canary>> {
    let row = sqlx::query("SELECT state_json FROM canaries WHERE service = $1 AND node = $2 ORDER BY id DESC LIMIT 1")
        .bind(service)
        .bind(node)
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(from_row).transpose()
}

async fn running(pool: &Pool, node: &str) -> Result<Vec<Canary>> {
    let rows =
        sqlx::query("SELECT state_json FROM canaries WHERE node = $1 AND status = 'running' ORDER BY service, id")
            .bind(node)
            .fetch_all(pool)
            .await?;
    rows.iter().map(from_row).collect()
}

async fn save(pool: &Pool, node: &str, c: &Canary) -> Result<()> {
    sqlx::query(
        "INSERT INTO canaries (service, node, id, plan_json, state_json, status, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (service, node, id) DO UPDATE SET state_json = excluded.state_json, status = excluded.status, updated_at = excluded.updated_at",
    )
    .bind(&c.service)
    .bind(node)
    .bind(c.id)
    .bind(to_json(&c.plan)?)
    .bind(to_json(c)?)
    .bind(c.status.as_str())
    .bind(now_ms())
    .bind(now_ms())
    .execute(pool)
    .await?;
    Ok(())
}

// ---- actions ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CanaryAction {
    Pause,
    Resume,
    Promote,
    Abort,
}

impl Engine {
    /// The latest canary of a deployment (running or finished).
    pub async fn canary(&self, service: &str) -> Result<Canary> {
        crate::registry::get_service(self.pool(), service).await?;
        latest(self.pool(), service, self.node_name())
            .await?
            .ok_or_else(|| Error::CanaryNotFound(format!("'{service}' has no canary on this node")))
    }

    /// One controller pass: every running canary of this node is read, judged and advanced,
    /// under the canary lock so a user's action in between is never overwritten.
    pub(crate) async fn canary_pass(&self) -> Result<()> {
        let _guard = self.canary_lock().lock().await;
        for c in running(self.pool(), self.node_name()).await? {
            let (service, id) = (c.service.clone(), c.id);
            if let Err(e) = self.tick_canary(c).await {
                tracing::error!(%service, canary = id, "canary step failed: {e}");
            }
        }
        Ok(())
    }

    /// The running or paused canary of a deployment, if any.
    pub(crate) async fn active_canary(&self, service: &str) -> Result<Option<Canary>> {
        Ok(latest(self.pool(), service, self.node_name()).await?.filter(|c| c.status.is_active()))
    }

    /// Starts a canary of `plan.version` against the live config: deploys its first step.
    pub async fn start_canary(&self, service: &str, plan: CanaryPlan, author: &str) -> Result<Canary> {
        plan.check()?;
        let _guard = self.canary_lock().lock().await;
        if let Some(c) = self.active_canary(service).await? {
            return Err(Error::CanaryConflict(format!(
                "canary {} of {} is {} on '{service}': abort it or let it finish first",
                c.id,
                c.plan.version,
                c.status.as_str()
            )));
        }
        self.get_version(service, plan.version.as_str()).await?;
        let base_rev = self.deployment(service).await?;
        let id = latest(self.pool(), service, self.node_name()).await?.map_or(1, |c| c.id + 1);
        let mut canary = Canary {
            id,
            service: service.to_owned(),
            status: CanaryStatus::Running,
            step: 0,
            step_started_at: Utc::now(),
            base: base_rev.config.clone(),
            base_revision: base_rev.number,
            last_reading: None,
            events: Vec::new(),
            plan,
        };
        let serving = step_serving(&canary.base, &canary.plan.version, canary.percent())?;
        let why = format!("canary {id}: {} {} by {author}", canary.plan.version, canary.step_label());
        let rev = self.apply_canary_config(&canary, serving, RevisionKind::Deploy, None, &why).await?;
        canary.step_started_at = rev.created_at;
        self.open_canary_window(&canary);
        canary.event(format!(
            "started by {author}: {} at {}% (revision {})",
            canary.plan.version,
            canary.percent(),
            rev.number
        ));
        save(self.pool(), self.node_name(), &canary).await?;
        Ok(canary)
    }

    /// Pause, resume, promote now, or abort (roll back) by hand.
    pub async fn canary_action(&self, service: &str, action: CanaryAction, author: &str) -> Result<Canary> {
        let _guard = self.canary_lock().lock().await;
        let mut c = self
            .active_canary(service)
            .await?
            .ok_or_else(|| Error::CanaryNotFound(format!("'{service}' has no running or paused canary")))?;
        match (action, c.status) {
            (CanaryAction::Pause, CanaryStatus::Running) => {
                c.status = CanaryStatus::Paused;
                c.event(format!("paused by {author} at {}", c.step_label()));
            }
            (CanaryAction::Resume, CanaryStatus::Paused) => {
                c.status = CanaryStatus::Running;
                c.step_started_at = Utc::now();
                self.open_canary_window(&c);
                c.event(format!("resumed by {author}: {} measured afresh", c.step_label()));
            }
            (CanaryAction::Promote, _) => {
                let why = format!("canary {}: {} promoted to 100% by {author}", c.id, c.plan.version);
                let serving = Serving::Single { generation: c.plan.version.clone() };
                let rev = self.apply_canary_config(&c, serving, RevisionKind::Deploy, None, &why).await?;
                c.status = CanaryStatus::Promoted;
                c.event(format!("promoted by {author} (revision {})", rev.number));
            }
            (CanaryAction::Abort, _) => {
                let why = format!("aborted by {author} at {}", c.step_label());
                self.roll_back_canary(&mut c, &why).await?;
                c.status = CanaryStatus::Aborted;
            }
            (action, status) => {
                return Err(Error::CanaryConflict(
                    format!("cannot {action:?} a canary that is {}", status.as_str()).to_lowercase(),
                ));
            }
        }
        save(self.pool(), self.node_name(), &c).await?;
        Ok(c)
    }

    /// Starts measuring the canary's current step from the counters as they are now.
    fn open_canary_window(&self, c: &Canary) {
        let totals = self.monitor_totals(&c.service, c.plan.version.as_str());
        self.set_canary_window(&(c.service.clone(), c.id), Some((c.step_started_at.timestamp_millis(), totals)));
    }

    /// Marks the active canary aborted because the user rolled back by hand.
    pub(crate) async fn stop_canary_for_rollback(&self, service: &str, author: &str) -> Result<()> {
        let _guard = self.canary_lock().lock().await;
        if let Some(mut c) = self.active_canary(service).await? {
            c.status = CanaryStatus::Aborted;
            c.event(format!("aborted: manual rollback by {author}"));
            save(self.pool(), self.node_name(), &c).await?;
            self.set_canary_window(&(c.service.clone(), c.id), None);
        }
        Ok(())
    }

    async fn apply_canary_config(
        &self,
        c: &Canary,
        serving: Serving,
        kind: RevisionKind,
        rollback_of: Option<i64>,
        why: &str,
    ) -> Result<super::Revision> {
        let config = c.base.with_serving(serving);
        let meta = RevisionMeta { kind, rollback_of, author: "canary-controller", reason: why, canary_id: Some(c.id) };
        self.commit_and_activate(&c.service, config, meta).await
    }

    /// Restores the base config as a new revision, then reads the live config back and
    /// records that the rollback took effect.
    async fn roll_back_canary(&self, c: &mut Canary, why: &str) -> Result<()> {
        let reason = format!("canary {} of {} rolled back: {why}", c.id, c.plan.version);
        let rev = self
            .apply_canary_config(c, c.base.serving.clone(), RevisionKind::Rollback, Some(c.base_revision), &reason)
            .await?;
        c.event(reason);
        match self.active(&c.service) {
            Some(live) if live.revision == rev.number && live.config == c.base => {
                c.event(format!("rollback took effect: revision {} is live", rev.number));
            }
            other => c.event(format!(
                "rollback NOT confirmed: live revision is {:?}, expected {}",
                other.map(|a| a.revision),
                rev.number
            )),
        }
        Ok(())
    }

    /// One controller pass over a running canary. `baseline` holds the canary's counters at
    /// the start of the measurement window. With several nodes on one registry, the gates
    /// also count what the other nodes served of the canary since the minute the step began
    /// (as far as they have flushed it, every few seconds).
    async fn tick_canary(&self, mut c: Canary) -> Result<()> {
        let key = (c.service.clone(), c.id);
        let now_totals = self.monitor_totals(&c.service, c.plan.version.as_str());
        let base = match self.canary_window(&key) {
            Some((w, t)) if w == c.step_started_at.timestamp_millis() => t,
            Some(_) => {
                // A new step or a resume started the window: measure from here.
                self.set_canary_window(&key, Some((c.step_started_at.timestamp_millis(), now_totals.clone())));
                now_totals.clone()
            }
            None => {
                // Nothing measured by this process: the node restarted, and the counters of
                // the old process are gone, so the step is measured afresh from now.
                c.step_started_at = Utc::now();
                c.event(format!("controller resumed after a restart: {} measured afresh", c.step_label()));
                save(self.pool(), self.node_name(), &c).await?;
                self.set_canary_window(&key, Some((c.step_started_at.timestamp_millis(), now_totals.clone())));
                now_totals.clone()
            }
        };
        let step_minute = c.step_started_at.timestamp().div_euclid(60);
        let others = crate::monitor::others_since(
            self.pool(),
            self.node_name(),
            self.instance(),
            &c.service,
            c.plan.version.as_str(),
            step_minute,
        )
        .await?;
        let requests = now_totals.served().saturating_sub(base.served()) + others.served();
        let errors = now_totals.errors.saturating_sub(base.errors) + others.errors;
        let mut latency = now_totals.latency.clone();
        let _ = latency.subtract(&base.latency);
        let _ = latency.add(&others.latency);
        let p99_ms = if latency.is_empty() { 0.0 } else { latency.value_at_quantile(0.99) as f64 / 1000.0 };
        let error_rate = if requests > 0 { errors as f64 / requests as f64 } else { 0.0 };
        let elapsed = (Utc::now() - c.step_started_at).as_seconds_f64();
        let gates = c.plan.gates.clone();
        let verdict = if elapsed < c.plan.bake_seconds {
            Verdict::Baking
        } else if requests < gates.min_requests {
            Verdict::Inconclusive
        } else if error_rate > gates.max_error_rate || p99_ms > gates.max_p99_ms {
            Verdict::Failed
        } else {
            Verdict::Passed
        };
        let reading = GateReading { at: Utc::now(), requests, errors, error_rate, p99_ms, verdict };
        let changed = c.last_reading.as_ref().map(|r| (r.verdict, r.requests)) != Some((verdict, requests));
        let status_before = c.status;
        c.last_reading = Some(reading);
        match verdict {
            Verdict::Baking => {}
            Verdict::Inconclusive => {
                if elapsed >= c.plan.bake_seconds + c.plan.inconclusive_timeout_seconds {
                    let why = format!(
                        "{} inconclusive after {:.0}s: {requests} requests, below the minimum of {}",
                        c.step_label(),
                        elapsed,
                        gates.min_requests
                    );
                    match c.plan.on_inconclusive {
                        InconclusivePolicy::Pause => {
                            c.status = CanaryStatus::Paused;
                            c.event(format!("paused: {why}"));
                        }
                        InconclusivePolicy::Rollback => {
                            self.roll_back_canary(&mut c, &why).await?;
                            c.status = CanaryStatus::RolledBack;
                        }
                    }
                }
            }
            Verdict::Failed => {
                let why = if error_rate > gates.max_error_rate {
                    format!(
                        "error rate {error_rate:.4} > max {} over {requests} requests at {}",
                        gates.max_error_rate,
                        c.step_label()
                    )
                } else {
                    format!(
                        "p99 latency {p99_ms:.1} ms > max {} ms over {requests} requests at {}",
                        gates.max_p99_ms,
                        c.step_label()
                    )
                };
                self.roll_back_canary(&mut c, &why).await?;
                c.status = CanaryStatus::RolledBack;
            }
            Verdict::Passed => {
                let passed = format!(
                    "{} passed: {requests} requests, error rate {error_rate:.4}, p99 {p99_ms:.1} ms",
                    c.step_label()
                );
                if c.step + 1 >= c.plan.steps.len() {
                    // The last step serves the canary alone: passing it is the promotion.
                    c.event(passed);
                    let live = self.active(&c.service).map_or(0, |a| a.revision);
                    c.event(format!("promoted: {} serves 100% (revision {live})", c.plan.version));
                    c.status = CanaryStatus::Promoted;
                } else {
                    c.step += 1;
                    let serving = step_serving(&c.base, &c.plan.version, c.percent())?;
                    let why = format!("canary {}: {} {}", c.id, c.plan.version, c.step_label());
                    let rev = self.apply_canary_config(&c, serving, RevisionKind::Deploy, None, &why).await?;
                    c.step_started_at = rev.created_at;
                    self.open_canary_window(&c);
                    c.event(format!("{passed}; now {} (revision {})", c.step_label(), rev.number));
                }
            }
        }
        if changed || c.status != status_before || verdict == Verdict::Passed {
            save(self.pool(), self.node_name(), &c).await?;
        }
        if !c.status.is_active() {
            self.set_canary_window(&key, None);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(v: serde_json::Value) -> DeploymentConfig {
        DeploymentConfig::from_value(&v, |_| true).expect("config")
    }

    fn shares(s: &Serving) -> Vec<(String, f64)> {
        match s {
            Serving::Single { generation } => vec![(generation.to_string(), 1.0)],
            Serving::Multiple { mapping } => {
                mapping.entries().iter().map(|e| (e.generation.to_string(), e.proba)).collect()
            }
        }
    }

    #[test]
    fn steps_share_the_rest_in_base_proportions() {
        let v3 = VersionId::parse("v3").expect("id");
        let base = config(
            json!({"mode": "multiple", "mapping": [{"generation": "v1", "proba": 0.75}, {"generation": "v2", "proba": 0.25}]}),
        );
        let s = shares(&step_serving(&base, &v3, 20.0).expect("step"));
        // Readable shares, no floating-point noise.
        assert_eq!(s, vec![("v3".into(), 0.2), ("v1".into(), 0.6), ("v2".into(), 0.2)]);
        let thirds = config(json!({"mode": "multiple", "mapping": [
            {"generation": "v1", "proba": 0.333333}, {"generation": "v2", "proba": 0.333333}, {"generation": "v4", "proba": 0.333334}
        ]}));
        let s = shares(&step_serving(&thirds, &v3, 15.0).expect("step"));
        assert_eq!(s[1], ("v1".into(), 0.283333));
        assert!((s.iter().map(|(_, p)| p).sum::<f64>() - 1.0).abs() < 1e-9, "{s:?}");
        assert_eq!(shares(&step_serving(&base, &v3, 100.0).expect("step")), vec![("v3".into(), 1.0)]);
        // The canary already in the base mapping is not counted twice.
        let base = config(
            json!({"mode": "multiple", "mapping": [{"generation": "v1", "proba": 0.9}, {"generation": "v3", "proba": 0.1}]}),
        );
        let s = shares(&step_serving(&base, &v3, 50.0).expect("step"));
        assert_eq!(s, vec![("v3".into(), 0.5), ("v1".into(), 0.5)]);
        let single = config(json!({"mode": "single", "generation": "v3"}));
        assert!(step_serving(&single, &v3, 5.0).is_err());
    }

    #[test]
    fn plans_are_checked() {
        let plan = |v: serde_json::Value| serde_json::from_value::<CanaryPlan>(v).expect("plan");
        assert!(plan(json!({"version": "v2"})).check().is_ok());
        assert_eq!(plan(json!({"version": "v2"})).steps, vec![5.0, 25.0, 50.0, 100.0]);
        for bad in [
            json!({"version": "v2", "steps": [50, 25, 100]}),
            json!({"version": "v2", "steps": [5, 50]}),
            json!({"version": "v2", "steps": []}),
        ] {
            assert!(plan(bad).check().is_err());
        }
        assert!(
            plan(json!({"version": "v2", "gates": {"max_error_rate": 2, "max_p99_ms": 10, "min_requests": 1}}))
                .check()
                .is_err()
        );
    }
}
