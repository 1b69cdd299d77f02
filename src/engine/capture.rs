//! Traffic capture and replay: the engine's I/O around `crate::capture`. Policies, the
//! captured rows, export, the retention pass, and replays (captured rows run through a
//! version loaded from the artifact store, in bounded batches, off the live deployment).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;

use super::Engine;
use crate::capture::export::{self, ExportFormat, Exporter};
use crate::capture::replay::{
    self, Accumulator, AnswerKind, REPLAY_BATCH, Replay, ReplayRequest, ReplayStatus, feature_mismatch, model_row,
};
use crate::capture::store::{self, CaptureRow, RowFilter};
use crate::capture::{CapturePolicy, CaptureStatus, Captured};
use crate::deploy::ActiveDeployment;
use crate::error::{Error, Result};
use crate::model::{LoadedModel, OutputKind, Prediction};
use crate::names::VersionId;

/// How often the retention task runs (and reloads the policies, should a node have missed a
/// change's notification).
pub const CAPTURE_TICK: Duration = Duration::from_secs(30);

impl Engine {
    /// The row to capture for this answer, when the service's policy samples this request
    /// (the request id, the features and the prediction are made only then).
    pub(super) fn capture_row(
        &self,
        active: &ActiveDeployment,
        generation: &VersionId,
        request_id: impl FnOnce() -> String,
        features: impl FnOnce() -> Map<String, Value>,
        prediction: impl FnOnce() -> Option<Prediction>,
        latency_ms: f64,
    ) -> Option<Captured> {
        let capture = &self.inner.capture;
        let policy = capture.policy(active.service.as_str())?;
        if !capture.sample(&policy) {
            return None;
        }
        let prediction = prediction()?;
        Some(Captured {
            service: active.service.to_string(),
            at_ms: self.now_ms(),
            revision: active.revision,
            generation: generation.to_string(),
            request_id: request_id(),
            features: features(),
            prediction,
            latency_ms,
            shadow: None,
        })
    }

    /// Queues a captured row for the writer (never waits: a full queue drops and counts it).
    pub(super) fn offer_capture(&self, row: Captured) {
        self.inner.capture.offer(row);
    }

    /// A deployment's capture policy, rows stored and rows this node dropped.
    pub async fn capture_status(&self, service: &str) -> Result<CaptureStatus> {
        crate::registry::get_service(self.pool(), service).await?;
        let policy = store::policies(self.pool()).await?.remove(service);
        Ok(CaptureStatus {
            service: service.to_owned(),
            policy,
            stored: store::count(self.pool(), service).await?,
            dropped: self.inner.capture.dropped(service),
        })
    }

    /// Sets (or with None turns off) a deployment's capture policy. Features to drop or hash
    /// must be features of the service's versions.
    pub async fn set_capture_policy(
        &self,
        service: &str,
        policy: Option<CapturePolicy>,
        by: &str,
    ) -> Result<CaptureStatus> {
        crate::registry::get_service(self.pool(), service).await?;
        if let Some(p) = &policy {
            p.validate()?;
            let known = self.feature_order(service).await?;
            let unknown: Vec<&str> = p
                .drop_features
                .iter()
                .chain(&p.hash_features)
                .filter(|f| !known.is_empty() && !known.contains(f))
                .map(String::as_str)
                .collect();
            if !unknown.is_empty() {
                return Err(Error::InvalidInput(format!(
                    "'{service}' has no feature {} (features: {})",
                    unknown.join(", "),
                    known.join(", ")
                )));
            }
        }
        store::set_policy(self.pool(), service, policy.as_ref(), by, self.now_ms()).await?;
        // Every node of a shared registry applies it at once (`engine/shared.rs`).
        crate::store::notify(self.pool(), service).await?;
        self.reload_capture_policies().await?;
        self.capture_status(service).await
    }

    pub(super) async fn reload_capture_policies(&self) -> Result<()> {
        let policies = store::policies(self.pool()).await?;
        self.inner.capture.set_policies(policies);
        Ok(())
    }

    /// The retention pass: reloads the policies (another node of a shared registry may have
    /// changed one), then deletes each service's rows older than its retention and beyond
    /// its cap. Returns the rows deleted.
    pub async fn capture_maintenance(&self) -> Result<u64> {
        let policies = store::policies(self.pool()).await?;
        let now_ms = self.now_ms();
        let mut deleted = 0;
        for (service, p) in &policies {
            let before = now_ms.saturating_sub(p.retention_seconds.saturating_mul(1000));
            deleted += store::enforce(self.pool(), service, before, p.max_rows).await?;
        }
        self.inner.capture.set_policies(policies);
        Ok(deleted)
    }

    /// Captured rows of a service, newest first, with their feedback.
    pub async fn capture_rows(&self, service: &str, filter: &RowFilter) -> Result<Vec<CaptureRow>> {
        crate::registry::get_service(self.pool(), service).await?;
        store::list(self.pool(), service, filter).await
    }

    /// Captured rows since `since` (a duration back from now or an RFC 3339 time; None: all)
    /// as CSV or JSON Lines, features in the model's order.
    pub async fn export_capture(&self, service: &str, since: Option<&str>, format: ExportFormat) -> Result<String> {
        crate::registry::get_service(self.pool(), service).await?;
        let now = self.now();
        let since_ms =
            since.map(|s| crate::report::parse_time(s, now)).transpose()?.map_or(0, |t| t.timestamp_millis());
        let dropped = store::policies(self.pool()).await?.remove(service).map(|p| p.drop_features).unwrap_or_default();
        let mut exporter = Exporter::new(format, export::columns(&self.feature_order(service).await?, &dropped))?;
        let mut after = 0;
        loop {
            let page = store::page(self.pool(), service, since_ms, now.timestamp_millis(), after, REPLAY_BATCH).await?;
            let Some(last) = page.last() else { break };
            after = last.id;
            for row in &page {
                exporter.write(row)?;
            }
        }
        exporter.finish()
    }

    /// The service's features in model order: the live generation's, else the newest
    /// version's (none without versions).
    async fn feature_order(&self, service: &str) -> Result<Vec<String>> {
        let names = |m: &LoadedModel| m.schema().features.iter().map(|f| f.name.clone()).collect::<Vec<_>>();
        if let Some(active) = self.active(service)
            && let Some(model) = active.route.generations().first().and_then(|g| active.models.get(g))
        {
            return Ok(names(model));
        }
        let versions = crate::registry::list_versions(self.pool(), service).await?;
        Ok(versions.last().map(|v| v.schema.features.iter().map(|f| f.name.clone()).collect()).unwrap_or_default())
    }

    /// Starts replaying the captured requests of a window through `request.version`: checks
    /// the window is not empty and the version takes the captured features, loads the
    /// version, saves the replay as running and runs it in the background in batches of
    /// [`REPLAY_BATCH`]. Poll [`Engine::replay`] for progress and figures.
    pub async fn start_replay(&self, service: &str, request: &ReplayRequest, by: &str) -> Result<Replay> {
        crate::registry::get_service(self.pool(), service).await?;
        let version = crate::registry::get_version(self.pool(), service, &request.version).await?;
        if request.limit.is_some_and(|l| l < 1) {
            return Err(Error::InvalidInput("limit must be at least 1".into()));
        }
        let now = self.now();
        let since_ms = match request.since.as_deref() {
            Some(s) => crate::report::parse_time(s, now)?.timestamp_millis(),
            None => 0,
        };
        let until_ms = now.timestamp_millis();
        let in_window = store::count_window(self.pool(), service, since_ms, until_ms).await?;
        if in_window == 0 {
            let window = request.since.as_deref().map_or(String::new(), |s| format!(" since {s}"));
            return Err(Error::InvalidInput(format!(
                "no captured requests of '{service}'{window}: nothing to replay (turn capture on, or widen the window)"
            )));
        }
        let total = request.limit.map_or(in_window, |l| l.min(in_window));
        let first = store::page(self.pool(), service, since_ms, until_ms, 0, 1).await?;
        let features: Vec<String> = version.schema.features.iter().map(|f| f.name.clone()).collect();
        if let Some(row) = first.first() {
            if let Some((missing, extra)) = feature_mismatch(&features, &row.features) {
                let list = |v: &[String]| if v.is_empty() { "none".to_owned() } else { v.join(", ") };
                return Err(Error::InvalidInput(format!(
                    "version {} of '{service}' does not take the captured features: missing {} (absent, dropped or hashed in the captured rows); extra {} (captured, not taken by {}). Nothing was replayed.",
                    version.id,
                    list(&missing),
                    list(&extra),
                    version.id
                )));
            }
            let classifier = matches!(version.schema.output, OutputKind::Classifier { .. });
            if classifier != row.label.is_some() {
                return Err(Error::InvalidInput(format!(
                    "version {} of '{service}' is a {} but the captured answers are {}: nothing was replayed",
                    version.id,
                    if classifier { "classifier" } else { "regressor" },
                    if row.label.is_some() { "classes" } else { "values" }
                )));
            }
        }
        let model = self.inner.deployments.load_model(&version.sha256).await?;
        let id = replay::insert(
            self.pool(),
            service,
            version.id.as_str(),
            since_ms,
            until_ms,
            request.limit,
            total,
            by,
            self.now_ms(),
        )
        .await?;
        let token = self.inner.shutdown.child_token();
        let progress = self.inner.replays.start(id, token.clone());
        let job = ReplayJob {
            engine: self.clone(),
            service: service.to_owned(),
            id,
            since_ms,
            until_ms,
            total,
            features,
            model,
        };
        self.inner.tasks.spawn(async move {
            let engine = job.engine.clone();
            let (status, replayed, figures, error) = job.run(&token, &progress).await;
            if let Err(e) =
                replay::finish(engine.pool(), id, status, replayed, figures.as_ref(), error.as_deref(), engine.now_ms())
                    .await
            {
                tracing::warn!("replay {id}: saving the result failed: {e}");
            }
            engine.inner.replays.finish(id);
        });
        self.replay(service, id).await
    }

    /// A replay, with its progress while it runs on this node.
    pub async fn replay(&self, service: &str, id: i64) -> Result<Replay> {
        let mut r = replay::get(self.pool(), service, id).await?;
        if r.status == ReplayStatus::Running
            && let Some(done) = self.inner.replays.progress(id)
        {
            r.replayed = r.replayed.max(done as i64);
        }
        Ok(r)
    }

    /// A service's replays, newest first.
    pub async fn replays(&self, service: &str) -> Result<Vec<Replay>> {
        crate::registry::get_service(self.pool(), service).await?;
        replay::list(self.pool(), service).await
    }

    /// Cancels a running replay of this node; it stops after the batch in progress. A replay
    /// that has finished is answered as it is; one running on another node is a conflict.
    pub async fn cancel_replay(&self, service: &str, id: i64) -> Result<Replay> {
        let r = replay::get(self.pool(), service, id).await?;
        if r.status != ReplayStatus::Running {
            return Ok(r);
        }
        if !self.inner.replays.cancel(id) {
            return Err(Error::ReplayConflict(format!(
                "replay {id} of '{service}' runs on another node: cancel it there"
            )));
        }
        self.replay(service, id).await
    }

    /// Prometheus text of the capture (`switchyard_capture_dropped_total`).
    pub(super) fn capture_metrics(&self) -> String {
        self.inner.capture.prometheus()
    }
}

/// One replay in the background.
struct ReplayJob {
    engine: Engine,
    service: String,
    id: i64,
    since_ms: i64,
    until_ms: i64,
    total: i64,
    features: Vec<String>,
    model: Arc<LoadedModel>,
}

type Finished = (ReplayStatus, i64, Option<replay::ReplayFigures>, Option<String>);

impl ReplayJob {
    async fn run(self, token: &CancellationToken, progress: &Arc<std::sync::atomic::AtomicU64>) -> Finished {
        let (kind, classes) = match &self.model.schema().output {
            OutputKind::Classifier { classes } => (AnswerKind::Classification, classes.clone()),
            OutputKind::Regressor => (AnswerKind::Regression, Vec::new()),
        };
        let mut acc = Accumulator::new(kind, classes);
        let (mut after, mut replayed) = (0i64, 0i64);
        while replayed < self.total {
            if token.is_cancelled() {
                return (ReplayStatus::Cancelled, replayed, Some(acc.finish()), None);
            }
            let n = REPLAY_BATCH.min(self.total - replayed);
            let page =
                match store::page(self.engine.pool(), &self.service, self.since_ms, self.until_ms, after, n).await {
                    Ok(p) => p,
                    Err(e) => return (ReplayStatus::Failed, replayed, None, Some(e.public_message())),
                };
            let Some(last) = page.last() else { break };
            after = last.id;
            let (model, features) = (Arc::clone(&self.model), self.features.clone());
            // Each row on its own, timed, as a request would run (the candidate's latency).
            let ran = tokio::task::spawn_blocking(move || {
                page.into_iter()
                    .map(|row| {
                        let started = Instant::now();
                        let answer = match model_row(&features, &row.features) {
                            Some(values) => model.predict(&values),
                            None => Err(Error::InvalidInput(format!(
                                "captured request {} has a feature that is not a number",
                                row.request_id
                            ))),
                        };
                        (row, answer, started.elapsed())
                    })
                    .collect::<Vec<_>>()
            })
            .await;
            let ran = match ran {
                Ok(ran) => ran,
                Err(e) => return (ReplayStatus::Failed, replayed, None, Some(format!("replay stopped: {e}"))),
            };
            for (row, answer, latency) in ran {
                match answer {
                    Ok(p) => acc.add(&row, &p, latency),
                    Err(e) => return (ReplayStatus::Failed, replayed, None, Some(e.public_message())),
                }
                replayed += 1;
            }
            progress.store(replayed as u64, Ordering::Relaxed);
        }
        tracing::info!(service = %self.service, id = self.id, rows = acc.rows(), "replay done");
        (ReplayStatus::Done, replayed, Some(acc.finish()), None)
    }
}
