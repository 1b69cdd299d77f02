//! Canary plans: shift traffic to a new version step by step (default 5, 25, 50, 100 %),
//! judging each step by health gates on the canary's own traffic, and roll back automatically
//! — as a new revision whose "why" names the failed gate and the measured value — when one
//! fails. A gate never decides below its minimum sample: the step is *inconclusive* and, past
//! the plan's timeout, the plan's policy applies (pause or roll back).
//!
//! The plan and its state are rows of `canaries`; the controller re-reads them every tick, so
//! a restarted node resumes where it was (the current step's measurement window restarts,
//! since the counters it measured lived in the old process).

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::Row;

use super::compare::{ComparativeGates, GateCheck};
use super::{DeploymentConfig, Serving};
use crate::error::{Error, Result};
use crate::monitor::Totals;
use crate::names::VersionId;
use crate::registry::to_json;
use crate::router::Mapping;
use crate::store::LOCAL_NODE;
use crate::store::Pool;

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
    /// Gates judged against the baseline generations over the same window.
    #[serde(default)]
    pub comparative: Option<ComparativeGates>,
}

impl Default for Gates {
    fn default() -> Self {
        Self { max_error_rate: 0.01, max_p99_ms: 250.0, min_requests: 100, comparative: None }
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
        if let Some(problem) = g.comparative.as_ref().and_then(ComparativeGates::problem) {
            return bad(problem);
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
    pub fn as_str(self) -> &'static str {
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
    /// The comparative gates' readings (none when the plan has no comparative gates).
    #[serde(default)]
    pub comparative: Vec<GateCheck>,
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
    /// Records what happened at `at`.
    pub fn event(&mut self, at: DateTime<Utc>, message: impl Into<String>) {
        let message = message.into();
        tracing::info!(service = %self.service, canary = self.id, "{message}");
        self.events.push(CanaryEvent { at, message });
    }

    /// The canary's share of traffic at its current step, in percent.
    pub fn percent(&self) -> f64 {
        self.plan.steps.get(self.step).copied().unwrap_or(100.0)
    }

    pub fn step_label(&self) -> String {
        step_label(&self.plan, self.step)
    }

    /// The generations the canary is compared with: the base config's served ones but the
    /// canary's version.
    pub fn baseline(&self) -> Vec<&VersionId> {
        others_served(&self.base.serving, &self.plan.version).into_iter().map(|(g, _)| g).collect()
    }
}

/// The generations `serving` gives traffic to, but `version`, with their shares.
fn others_served<'a>(serving: &'a Serving, version: &VersionId) -> Vec<(&'a VersionId, f64)> {
    let weights: Vec<(&VersionId, f64)> = match serving {
        Serving::Single { generation } => vec![(generation, 1.0)],
        Serving::Multiple { mapping } => mapping.entries().iter().map(|e| (&e.generation, e.proba)).collect(),
    };
    weights.into_iter().filter(|(g, w)| *g != version && *w > 0.0).collect()
}

/// The serving part of a config that gives the canary `percent` % and shares the rest among
/// the base generations in their base proportions (any number of them).
pub fn step_serving(base: &DeploymentConfig, version: &VersionId, percent: f64) -> Result<Serving> {
    if percent >= 100.0 {
        return Ok(Serving::Single { generation: version.clone() });
    }
    let others = others_served(&base.serving, version);
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

pub async fn latest(pool: &Pool, service: &str) -> Result<Option<Canary>> {
    let row = sqlx::query("SELECT state_json FROM canaries WHERE service = $1 AND node = $2 ORDER BY id DESC LIMIT 1")
        .bind(service)
        .bind(LOCAL_NODE)
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn running(pool: &Pool) -> Result<Vec<Canary>> {
    let rows =
        sqlx::query("SELECT state_json FROM canaries WHERE node = $1 AND status = 'running' ORDER BY service, id")
            .bind(LOCAL_NODE)
            .fetch_all(pool)
            .await?;
    rows.iter().map(from_row).collect()
}

pub async fn save(pool: &Pool, c: &Canary, now: DateTime<Utc>) -> Result<()> {
    let now = now.timestamp_millis();
    sqlx::query(
        "INSERT INTO canaries (service, node, id, plan_json, state_json, status, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (service, node, id) DO UPDATE SET state_json = excluded.state_json, status = excluded.status, updated_at = excluded.updated_at",
    )
    .bind(&c.service)
    .bind(LOCAL_NODE)
    .bind(c.id)
    .bind(to_json(&c.plan)?)
    .bind(to_json(c)?)
    .bind(c.status.as_str())
    .bind(now)
    .bind(now)
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

/// What the gates measured of the canary during the current step (every node's traffic).
#[derive(Debug, Clone, PartialEq)]
pub struct Measured {
    pub requests: u64,
    pub errors: u64,
    /// 99th percentile latency of the canary's successful requests, ms (0 without any).
    pub p99_ms: f64,
}

impl Measured {
    pub fn error_rate(&self) -> f64 {
        if self.requests > 0 { self.errors as f64 / self.requests as f64 } else { 0.0 }
    }
}

/// What the controller does after a reading.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// The bake time is not over: keep measuring.
    Bake,
    /// Fewer requests than the gates' minimum, within the inconclusive timeout: keep measuring.
    Wait,
    /// Still below the minimum past the timeout: the plan's policy applies.
    GiveUp { policy: InconclusivePolicy, why: String },
    /// A gate failed: roll back, for this reason.
    RollBack { why: String },
    /// Every gate passed and a step is left: advance to it.
    Advance { summary: String },
    /// Every gate of the last step passed: the canary is promoted.
    Promote { summary: String },
}

impl Decision {
    pub fn verdict(&self) -> Verdict {
        match self {
            Decision::Bake => Verdict::Baking,
            Decision::Wait | Decision::GiveUp { .. } => Verdict::Inconclusive,
            Decision::RollBack { .. } => Verdict::Failed,
            Decision::Advance { .. } | Decision::Promote { .. } => Verdict::Passed,
        }
    }
}

/// The canary's decision at step `step` of `plan`, `elapsed` seconds into the step, from what
/// the absolute gates measured and the comparative gates' `checks`
/// ([`compare::evaluate`](super::compare::evaluate)). A pure function: the controller around
/// it only reads counters and applies the decision.
pub fn judge(plan: &CanaryPlan, step: usize, m: &Measured, checks: &[GateCheck], elapsed: f64) -> Decision {
    let gates = &plan.gates;
    let label = step_label(plan, step);
    let error_rate = m.error_rate();
    let requests = m.requests;
    if elapsed < plan.bake_seconds {
        return Decision::Bake;
    }
    // Too little to decide on: wait, and past the timeout the plan's policy applies.
    let inconclusive = |what: String| {
        if elapsed < plan.bake_seconds + plan.inconclusive_timeout_seconds {
            Decision::Wait
        } else {
            Decision::GiveUp {
                policy: plan.on_inconclusive,
                why: format!("{label} inconclusive after {elapsed:.0}s: {what}"),
            }
        }
    };
    if requests < gates.min_requests {
        return inconclusive(format!("{requests} requests, below the minimum of {}", gates.min_requests));
    }
    if error_rate > gates.max_error_rate {
        let why =
            format!("error rate {error_rate:.4} > max {} over {requests} requests at {label}", gates.max_error_rate);
        return Decision::RollBack { why };
    }
    if m.p99_ms > gates.max_p99_ms {
        let why =
            format!("p99 latency {:.1} ms > max {} ms over {requests} requests at {label}", m.p99_ms, gates.max_p99_ms);
        return Decision::RollBack { why };
    }
    if let Some(failed) = checks.iter().find(|c| c.verdict == Verdict::Failed) {
        return Decision::RollBack { why: format!("{} at {label}", failed.reason()) };
    }
    if let Some(open) = checks.iter().find(|c| c.verdict == Verdict::Inconclusive) {
        return inconclusive(format!("{}: {}", open.gate.label(), open.detail));
    }
    let mut summary =
        format!("{label} passed: {requests} requests, error rate {error_rate:.4}, p99 {:.1} ms", m.p99_ms);
    if !checks.is_empty() {
        let names: Vec<&str> = checks.iter().map(|c| c.gate.label()).collect();
        summary.push_str(&format!("; comparative gates passed: {}", names.join(", ")));
    }
    if step + 1 >= plan.steps.len() { Decision::Promote { summary } } else { Decision::Advance { summary } }
}

fn step_label(plan: &CanaryPlan, step: usize) -> String {
    let percent = plan.steps.get(step).copied().unwrap_or(100.0);
    format!("step {}/{} ({percent}%)", step + 1, plan.steps.len())
}

/// The counters a step's window is measured from: the canary's, the baseline generations'
/// added up, and the canary's as the shadow.
#[derive(Clone, Default)]
pub struct Counters {
    pub canary: Totals,
    pub baseline: Totals,
    pub shadow: Totals,
}

/// The canary controller's state in this process: the measurement window of each running
/// canary, and the lock every read-modify-write of a canary (controller passes, user
/// actions) holds, so neither overwrites the other's newer state.
#[derive(Default)]
pub struct Rollout {
    /// Per canary (service, id): the start of its step's window (Unix ms) and the canary's
    /// counters then.
    windows: Mutex<HashMap<(String, i64), (i64, Counters)>>,
    lock: tokio::sync::Mutex<()>,
}

impl Rollout {
    pub async fn lock(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.lock.lock().await
    }

    pub fn window(&self, key: &(String, i64)) -> Option<(i64, Counters)> {
        self.windows.lock().ok()?.get(key).cloned()
    }

    pub fn set_window(&self, key: &(String, i64), window: Option<(i64, Counters)>) {
        if let Ok(mut windows) = self.windows.lock() {
            match window {
                Some(w) => windows.insert(key.clone(), w),
                None => windows.remove(key),
            };
        }
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

    fn judged(plan: &CanaryPlan, step: usize, requests: u64, errors: u64, p99_ms: f64, elapsed: f64) -> Decision {
        judge(plan, step, &Measured { requests, errors, p99_ms }, &[], elapsed)
    }

    /// The canary's decision, case by case: bake, the minimum sample, the timeout and its
    /// policy, each gate, advancing and promoting.
    #[test]
    fn judge_decides_case_by_case() {
        let plan = serde_json::from_value::<CanaryPlan>(json!({
            "version": "v2", "steps": [10, 50, 100], "bake_seconds": 60, "inconclusive_timeout_seconds": 300,
            "gates": {"max_error_rate": 0.02, "max_p99_ms": 100, "min_requests": 50}
        }))
        .expect("plan");
        // Baking: nothing decides before the bake time, however bad the numbers.
        assert_eq!(judged(&plan, 0, 1000, 1000, 1e6, 59.9), Decision::Bake);
        // Below the minimum sample: wait, up to bake + timeout.
        assert_eq!(judged(&plan, 0, 49, 49, 1e6, 60.0), Decision::Wait);
        assert_eq!(judged(&plan, 0, 0, 0, 0.0, 359.9), Decision::Wait);
        match judged(&plan, 1, 49, 0, 1.0, 360.0) {
            Decision::GiveUp { policy: InconclusivePolicy::Pause, why } => {
                assert_eq!(why, "step 2/3 (50%) inconclusive after 360s: 49 requests, below the minimum of 50")
            }
            other => panic!("{other:?}"),
        }
        let rollback_plan = CanaryPlan { on_inconclusive: InconclusivePolicy::Rollback, ..plan.clone() };
        assert!(matches!(
            judged(&rollback_plan, 0, 0, 0, 0.0, 400.0),
            Decision::GiveUp { policy: InconclusivePolicy::Rollback, .. }
        ));
        // Gates: an error rate just over fails, exactly at the limit passes.
        match judged(&plan, 0, 100, 3, 10.0, 60.0) {
            Decision::RollBack { why } => {
                assert_eq!(why, "error rate 0.0300 > max 0.02 over 100 requests at step 1/3 (10%)")
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(judged(&plan, 0, 100, 2, 10.0, 60.0), Decision::Advance { .. }));
        match judged(&plan, 0, 100, 0, 100.5, 61.0) {
            Decision::RollBack { why } => {
                assert_eq!(why, "p99 latency 100.5 ms > max 100 ms over 100 requests at step 1/3 (10%)")
            }
            other => panic!("{other:?}"),
        }
        // Passing: advance, or promote at the last step.
        assert_eq!(
            judged(&plan, 1, 50, 0, 12.34, 70.0),
            Decision::Advance { summary: "step 2/3 (50%) passed: 50 requests, error rate 0.0000, p99 12.3 ms".into() }
        );
        assert!(matches!(judged(&plan, 2, 50, 0, 1.0, 70.0), Decision::Promote { .. }));
        // Verdicts recorded with each reading.
        assert_eq!(Decision::Bake.verdict(), Verdict::Baking);
        assert_eq!(Decision::Wait.verdict(), Verdict::Inconclusive);
        assert_eq!(judged(&plan, 2, 50, 0, 1.0, 70.0).verdict(), Verdict::Passed);
        assert_eq!(judged(&plan, 0, 100, 3, 10.0, 60.0).verdict(), Verdict::Failed);
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
