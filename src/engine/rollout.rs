//! The canary controller's I/O: canaries are read from the registry, measured from the
//! monitor's counters (and the other nodes' flushed minutes), judged by the pure
//! [`canary::judge`], and the decision is applied as revisions. Every read-modify-write of a
//! canary holds [`Rollout::lock`](crate::deploy::canary::Rollout::lock).

use super::Engine;
use crate::deploy::canary::{
    self, Canary, CanaryAction, CanaryPlan, CanaryStatus, Counters, Decision, GateReading, InconclusivePolicy, Measured,
};
use crate::deploy::compare::{self, Comparison, DriftReading, GateCheck, Sample};
use crate::deploy::{Revision, RevisionKind, RevisionMeta, Serving};
use crate::drift::ReferenceSource;
use crate::error::{Error, Result};
use crate::events::Change;
use crate::monitor::Totals;
use crate::notify::EventKind;

impl Engine {
    /// The latest canary of a deployment (running or finished).
    pub async fn canary(&self, service: &str) -> Result<Canary> {
        crate::registry::get_service(self.pool(), service).await?;
        canary::latest(self.pool(), service)
            .await?
            .ok_or_else(|| Error::CanaryNotFound(format!("'{service}' has no canary on this node")))
    }

    /// One controller pass: every running canary of this node is read, judged and advanced,
    /// under the canary lock so a user's action in between is never overwritten.
    pub async fn canary_pass(&self) -> Result<()> {
        let _guard = self.inner.rollout.lock().await;
        for c in canary::running(self.pool()).await? {
            let (service, id) = (c.service.clone(), c.id);
            if let Err(e) = self.tick_canary(c).await {
                tracing::error!(%service, canary = id, "canary step failed: {e}");
            }
        }
        Ok(())
    }

    /// The running or paused canary of a deployment, if any.
    pub(crate) async fn active_canary(&self, service: &str) -> Result<Option<Canary>> {
        Ok(canary::latest(self.pool(), service).await?.filter(|c| c.status.is_active()))
    }

    /// Starts a canary of `plan.version` against the live config: deploys its first step.
    /// A protected service refuses it: its canaries go through an approval request
    /// ([`Engine::start_canary_as`]).
    pub async fn start_canary(&self, service: &str, plan: CanaryPlan, author: &str) -> Result<Canary> {
        self.refuse_if_protected(service, "canary starts").await?;
        self.start_canary_unchecked(service, plan, author).await
    }

    /// [`Engine::start_canary`] without the protection check: an approved request's canary.
    pub(crate) async fn start_canary_unchecked(&self, service: &str, plan: CanaryPlan, author: &str) -> Result<Canary> {
        plan.check()?;
        let _guard = self.inner.rollout.lock().await;
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
        self.check_comparative(service, &plan, &base_rev.config).await?;
        let id = canary::latest(self.pool(), service).await?.map_or(1, |c| c.id + 1);
        let mut canary = Canary {
            id,
            service: service.to_owned(),
            status: CanaryStatus::Running,
            step: 0,
            step_started_at: self.now(),
            base: base_rev.config.clone(),
            base_revision: base_rev.number,
            last_reading: None,
            events: Vec::new(),
            plan,
        };
        let serving = canary::step_serving(&canary.base, &canary.plan.version, canary.percent())?;
        let why = format!("canary {id}: {} {} by {author}", canary.plan.version, canary.step_label());
        let rev = self.apply_canary_config(&canary, serving, RevisionKind::Deploy, None, &why).await?;
        canary.step_started_at = rev.created_at;
        self.open_canary_window(&canary);
        let message =
            format!("started by {author}: {} at {}% (revision {})", canary.plan.version, canary.percent(), rev.number);
        canary.event(self.now(), message.clone());
        self.save_canary(&canary).await?;
        self.notify_service(
            EventKind::CanaryStep,
            service,
            Some(rev.number),
            author,
            &format!("canary {id} {message}"),
        )
        .await;
        Ok(canary)
    }

    /// Pause, resume, promote now, or abort (roll back) by hand.
    pub async fn canary_action(&self, service: &str, action: CanaryAction, author: &str) -> Result<Canary> {
        let _guard = self.inner.rollout.lock().await;
        let mut c = self
            .active_canary(service)
            .await?
            .ok_or_else(|| Error::CanaryNotFound(format!("'{service}' has no running or paused canary")))?;
        let mut notice = None;
        match (action, c.status) {
            (CanaryAction::Pause, CanaryStatus::Running) => {
                c.status = CanaryStatus::Paused;
                let message = format!("paused by {author} at {}", c.step_label());
                c.event(self.now(), message);
            }
            (CanaryAction::Resume, CanaryStatus::Paused) => {
                c.status = CanaryStatus::Running;
                c.step_started_at = self.now();
                self.open_canary_window(&c);
                let message = format!("resumed by {author}: {} measured afresh", c.step_label());
                c.event(self.now(), message);
            }
            (CanaryAction::Promote, _) => {
                let why = format!("canary {}: {} promoted to 100% by {author}", c.id, c.plan.version);
                let serving = Serving::Single { generation: c.plan.version.clone() };
                let rev = self.apply_canary_config(&c, serving, RevisionKind::Deploy, None, &why).await?;
                c.status = CanaryStatus::Promoted;
                c.event(self.now(), format!("promoted by {author} (revision {})", rev.number));
                notice = Some((EventKind::CanaryPromoted, rev.number, why));
            }
            (CanaryAction::Abort, _) => {
                let why = format!("aborted by {author} at {}", c.step_label());
                let rev = self.roll_back_canary(&mut c, &why).await?;
                c.status = CanaryStatus::Aborted;
                notice = Some((EventKind::CanaryAborted, rev, format!("canary {} of {} {why}", c.id, c.plan.version)));
            }
            (action, status) => {
                return Err(Error::CanaryConflict(
                    format!("cannot {action:?} a canary that is {}", status.as_str()).to_lowercase(),
                ));
            }
        }
        self.save_canary(&c).await?;
        if let Some((kind, revision, why)) = notice {
            self.notify_service(kind, service, Some(revision), author, &why).await;
        }
        Ok(c)
    }

    /// Persists the canary's state and announces it.
    async fn save_canary(&self, c: &Canary) -> Result<()> {
        canary::save(self.pool(), c, self.now()).await?;
        self.announce(Change::Canary { service: c.service.clone() });
        Ok(())
    }

    /// Refuses comparative gates that could never decide on this deployment.
    async fn check_comparative(
        &self,
        service: &str,
        plan: &CanaryPlan,
        base: &crate::deploy::DeploymentConfig,
    ) -> Result<()> {
        let Some(gates) = &plan.gates.comparative else { return Ok(()) };
        let version = &plan.version;
        if gates.max_feature_psi.is_some()
            && crate::drift::store::get(self.pool(), service, version.as_str()).await?.is_none()
        {
            return Err(Error::InvalidConfig(format!(
                "max_feature_psi judges {version}'s traffic against its reference, and {version} has none: \
                 upload a reference CSV with the version (Add version, or `switchyard version add --reference`) or drop the gate"
            )));
        }
        if gates.max_disagreement.is_some() && base.shadow.as_ref().is_none_or(|s| s.generation != *version) {
            return Err(Error::InvalidConfig(format!(
                "max_disagreement compares {version}'s answers with the live ones, so the live config must shadow \
                 {version}: deploy it as the shadow first (shadow {{\"generation\": \"{version}\", \"percent\": 10}}) or drop the gate"
            )));
        }
        Ok(())
    }

    /// The canary's, its baseline's and its shadow's counters as they are now.
    fn counters(&self, c: &Canary) -> Counters {
        let monitor = &self.inner.monitor;
        let version = c.plan.version.as_str();
        let mut baseline = Totals::default();
        for g in c.baseline() {
            baseline.add(&monitor.totals(&c.service, g.as_str()));
        }
        Counters {
            canary: monitor.totals(&c.service, version),
            baseline,
            shadow: monitor.shadow_totals(&c.service, version),
        }
    }

    /// Starts measuring the canary's current step from the counters as they are now.
    fn open_canary_window(&self, c: &Canary) {
        let counters = self.counters(c);
        self.inner
            .rollout
            .set_window(&(c.service.clone(), c.id), Some((c.step_started_at.timestamp_millis(), counters)));
    }

    /// Marks the active canary aborted because the user rolled back by hand.
    pub(crate) async fn stop_canary_for_rollback(&self, service: &str, author: &str) -> Result<()> {
        let _guard = self.inner.rollout.lock().await;
        if let Some(mut c) = self.active_canary(service).await? {
            c.status = CanaryStatus::Aborted;
            c.event(self.now(), format!("aborted: manual rollback by {author}"));
            self.save_canary(&c).await?;
            self.inner.rollout.set_window(&(c.service.clone(), c.id), None);
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
    ) -> Result<Revision> {
        let config = c.base.with_serving(serving);
        let meta = RevisionMeta { kind, rollback_of, author: "canary-controller", reason: why, canary_id: Some(c.id) };
        self.inner.deployments.commit_and_activate(&c.service, config, meta).await
    }

    /// Restores the base config as a new revision, then reads the live config back and
    /// records that the rollback took effect.
    /// Returns the number of the revision that restored the base config.
    async fn roll_back_canary(&self, c: &mut Canary, why: &str) -> Result<i64> {
        let reason = format!("canary {} of {} rolled back: {why}", c.id, c.plan.version);
        let rev = self
            .apply_canary_config(c, c.base.serving.clone(), RevisionKind::Rollback, Some(c.base_revision), &reason)
            .await?;
        c.event(self.now(), reason);
        let confirmation = match self.active(&c.service) {
            Some(live) if live.revision == rev.number && live.config == c.base => {
                format!("rollback took effect: revision {} is live", rev.number)
            }
            other => format!(
                "rollback NOT confirmed: live revision is {:?}, expected {}",
                other.map(|a| a.revision),
                rev.number
            ),
        };
        c.event(self.now(), confirmation);
        Ok(rev.number)
    }

    /// What the gates measured of a running canary's current step: this process's counters
    /// since the window opened, plus what the other nodes sharing the registry served of the
    /// canary (and of its baseline) since the minute the step began (as far as they have
    /// flushed it). Drift and shadow disagreement are this node's.
    async fn measure(&self, c: &mut Canary) -> Result<(Measured, Option<Comparison>)> {
        let key = (c.service.clone(), c.id);
        let rollout = &self.inner.rollout;
        let now_counters = self.counters(c);
        let base = match rollout.window(&key) {
            Some((w, t)) if w == c.step_started_at.timestamp_millis() => t,
            Some(_) => {
                // A new step or a resume started the window: measure from here.
                rollout.set_window(&key, Some((c.step_started_at.timestamp_millis(), now_counters.clone())));
                now_counters.clone()
            }
            None => {
                // Nothing measured by this process: the node restarted, and the counters of
                // the old process are gone, so the step is measured afresh from now.
                c.step_started_at = self.now();
                let message = format!("controller resumed after a restart: {} measured afresh", c.step_label());
                c.event(self.now(), message);
                self.save_canary(c).await?;
                rollout.set_window(&key, Some((c.step_started_at.timestamp_millis(), now_counters.clone())));
                now_counters.clone()
            }
        };
        let step_minute = c.step_started_at.timestamp().div_euclid(60);
        let service = c.service.clone();
        let others = |generation: String| {
            let service = service.clone();
            async move {
                crate::monitor::others_since(self.pool(), self.instance(), &service, &generation, step_minute).await
            }
        };
        let mut canary = now_counters.canary.since(&base.canary);
        canary.add(&others(c.plan.version.to_string()).await?);
        let measured = Measured {
            requests: canary.served(),
            errors: canary.errors,
            p99_ms: if canary.latency.is_empty() {
                0.0
            } else {
                canary.latency.value_at_quantile(0.99) as f64 / 1000.0
            },
        };
        let Some(gates) = &c.plan.gates.comparative else { return Ok((measured, None)) };
        let mut baseline = now_counters.baseline.since(&base.baseline);
        for g in c.baseline() {
            baseline.add(&others(g.to_string()).await?);
        }
        let shadow = now_counters.shadow.since(&base.shadow);
        let drift = if gates.max_feature_psi.is_some() { self.canary_drift(c) } else { None };
        let sample = |t: Totals| Sample { requests: t.served(), errors: t.errors, latency: t.latency };
        let comparison = Comparison {
            canary: sample(canary),
            baseline: sample(baseline),
            baseline_serves: c.percent() < 100.0,
            drift,
            compared: shadow.compared,
            agreed: shadow.agreed,
        };
        Ok((measured, Some(comparison)))
    }

    /// The canary's most drifting feature since its step began (whole minutes, this node),
    /// against its version's uploaded reference, with the busiest baseline generation's PSI
    /// of the same feature.
    fn canary_drift(&self, c: &Canary) -> Option<DriftReading> {
        let (since, now) = (c.step_started_at, self.now());
        let drift = &self.inner.drift;
        let canary = drift
            .psi_between(&c.service, c.plan.version.as_str(), since, now)
            .filter(|w| w.source == ReferenceSource::Upload)?;
        let (feature, psi) = canary.top()?;
        let baseline_psi = c
            .baseline()
            .into_iter()
            .filter_map(|g| drift.psi_between(&c.service, g.as_str(), since, now))
            .max_by_key(|w| w.requests)
            .and_then(|w| w.of(feature));
        Some(DriftReading { feature: feature.to_owned(), psi, baseline_psi, requests: canary.requests })
    }

    /// One controller pass over a running canary: measure, judge, apply.
    async fn tick_canary(&self, mut c: Canary) -> Result<()> {
        let key = (c.service.clone(), c.id);
        let (measured, comparison) = self.measure(&mut c).await?;
        let checks: Vec<GateCheck> = match (&c.plan.gates.comparative, &comparison) {
            (Some(gates), Some(m)) => compare::evaluate(gates, c.plan.gates.min_requests, m),
            _ => Vec::new(),
        };
        let elapsed = (self.now() - c.step_started_at).as_seconds_f64();
        let decision = canary::judge(&c.plan, c.step, &measured, &checks, elapsed);
        let verdict = decision.verdict();
        let reading = GateReading {
            at: self.now(),
            requests: measured.requests,
            errors: measured.errors,
            error_rate: measured.error_rate(),
            p99_ms: measured.p99_ms,
            verdict,
            comparative: checks,
        };
        let changed = c.last_reading.as_ref().map(|r| (r.verdict, r.requests, &r.comparative))
            != Some((verdict, measured.requests, &reading.comparative));
        let status_before = c.status;
        c.last_reading = Some(reading);
        let mut notice = None;
        match decision {
            Decision::Bake | Decision::Wait => {}
            Decision::GiveUp { policy: InconclusivePolicy::Pause, why } => {
                c.status = CanaryStatus::Paused;
                c.event(self.now(), format!("paused: {why}"));
            }
            Decision::GiveUp { policy: InconclusivePolicy::Rollback, why } | Decision::RollBack { why } => {
                let rev = self.roll_back_canary(&mut c, &why).await?;
                c.status = CanaryStatus::RolledBack;
                notice =
                    Some((EventKind::CanaryRollback, rev, format!("canary {} of {}: {why}", c.id, c.plan.version)));
            }
            Decision::Promote { summary } => {
                // The last step serves the canary alone: passing it is the promotion.
                c.event(self.now(), summary.clone());
                let live = self.active(&c.service).map_or(0, |a| a.revision);
                let message = format!("promoted: {} serves 100% (revision {live})", c.plan.version);
                c.event(self.now(), message.clone());
                c.status = CanaryStatus::Promoted;
                notice = Some((EventKind::CanaryPromoted, live, format!("canary {}: {summary}; {message}", c.id)));
            }
            Decision::Advance { summary } => {
                c.step += 1;
                let serving = canary::step_serving(&c.base, &c.plan.version, c.percent())?;
                let why = format!("canary {}: {} {}", c.id, c.plan.version, c.step_label());
                let rev = self.apply_canary_config(&c, serving, RevisionKind::Deploy, None, &why).await?;
                c.step_started_at = rev.created_at;
                self.open_canary_window(&c);
                let message = format!("{summary}; now {} (revision {})", c.step_label(), rev.number);
                c.event(self.now(), message.clone());
                notice = Some((EventKind::CanaryStep, rev.number, format!("canary {}: {message}", c.id)));
            }
        }
        if changed || c.status != status_before || verdict == canary::Verdict::Passed {
            self.save_canary(&c).await?;
        }
        if !c.status.is_active() {
            self.inner.rollout.set_window(&key, None);
        }
        if let Some((kind, revision, why)) = notice {
            self.notify_service(kind, &c.service, Some(revision), "canary-controller", &why).await;
        }
        Ok(())
    }
}
