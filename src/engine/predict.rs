//! The request path: route, run, record; mirror to the shadow; a signed request id for
//! feedback. Plus the read side of monitoring (snapshots, A/B results, `/metrics`).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use rand::{Rng, SeedableRng, rngs::StdRng};
use serde_json::{Map, Value};

use super::Engine;
use crate::deploy::ActiveDeployment;
use crate::error::{Error, Result};
use crate::model::{Batch, LoadedModel, Prediction};
use crate::monitor::ab::{self, AbReport};
use crate::monitor::feedback::{self, RequestIds};
use crate::monitor::{Comparison, MonitorSnapshot, Outcome};
use crate::names::{ServiceName, VersionId};
use crate::router::sticky_point;

/// A moment read from the engine's clock.
type Now = DateTime<Utc>;

/// At most this many shadow runs at once.
const SHADOW_CONCURRENCY: usize = 64;

/// The request path's own state: the router's random source, the bound on shadow runs, the
/// signer of request ids, and (tests only) injected faults.
pub(super) struct RequestPath {
    picker: Picker,
    /// Bounds concurrent shadow runs; a request finding none free is not mirrored.
    shadow_permits: Arc<tokio::sync::Semaphore>,
    /// Issues and checks the request ids feedback names.
    request_ids: RequestIds,
    #[cfg(feature = "testing")]
    faults: Faults,
}

impl RequestPath {
    pub(super) fn new(seed: Option<u64>, request_ids: RequestIds, #[cfg(feature = "testing")] faults: Faults) -> Self {
        let picker = match seed {
            Some(seed) => Picker::Seeded(Box::new(Mutex::new(StdRng::seed_from_u64(seed)))),
            None => Picker::Entropy,
        };
        Self {
            picker,
            shadow_permits: Arc::new(tokio::sync::Semaphore::new(SHADOW_CONCURRENCY)),
            request_ids,
            #[cfg(feature = "testing")]
            faults,
        }
    }
}

/// Latency and failures injected into given generations (`(service, version)`).
#[cfg(feature = "testing")]
#[derive(Debug, Clone, Default)]
pub struct Faults {
    pub delays: std::collections::HashMap<(String, String), std::time::Duration>,
    pub failures: std::collections::HashSet<(String, String)>,
}

enum Picker {
    Entropy,
    Seeded(Box<Mutex<StdRng>>),
}

impl Picker {
    fn uniform(&self) -> f64 {
        match self {
            Picker::Entropy => rand::random::<f64>(),
            Picker::Seeded(rng) => match rng.lock() {
                Ok(mut rng) => rng.random::<f64>(),
                Err(_) => rand::random::<f64>(),
            },
        }
    }
}

/// A prediction and the generation that produced it.
#[derive(Debug, Clone)]
pub struct PredictOutcome {
    pub request_id: String,
    pub service: ServiceName,
    pub generation: VersionId,
    pub revision: i64,
    pub prediction: Prediction,
    pub latency_ms: f64,
}

/// How a request asks to be routed.
#[derive(Debug, Clone, Copy, Default)]
pub struct Routing<'a> {
    /// Force this generation (`x-switchyard-generation`).
    pub generation: Option<&'a str>,
    /// Sticky key (`x-switchyard-key`), used when the config has sticky assignment on.
    pub key: Option<&'a str>,
}

impl Engine {
    /// Routes one request to a generation and runs its model. Small models run inline;
    /// models measured as slow at warm-up run on the blocking pool. A share of requests is
    /// mirrored to the shadow generation after the answer is ready, never delaying it.
    pub async fn predict(
        &self,
        service: &str,
        features: &Map<String, Value>,
        routing: Routing<'_>,
    ) -> Result<PredictOutcome> {
        let started = Instant::now();
        let Some(active) = self.active(service) else {
            crate::registry::get_service(self.pool(), service).await?;
            return Err(Error::NotDeployed(service.to_owned()));
        };
        let generation = self.route(service, &active, routing)?;
        let result = self.run_model(&active, generation, features).await;
        // The clocks are read once: the monitor, drift and the answer share these.
        let (elapsed, now) = (started.elapsed(), self.now());
        self.count(&active, generation, outcome_of(&result), elapsed, now);
        let (row, prediction) = result?;
        let output = crate::drift::output_value(&prediction);
        self.observe_drift(&active, generation, std::iter::once((row.as_slice(), output)), now);
        let request_id = self.inner.requests.request_ids.issue(service, generation.as_str(), active.revision);
        let latency_ms = elapsed.as_secs_f64() * 1e3;
        // Capture off: one `ArcSwap` load. A captured row goes to the writer's queue, after
        // the shadow's answer when one runs.
        let captured = self.capture_row(
            &active,
            generation,
            || request_id.clone(),
            || features.clone(),
            || Some(prediction.clone()),
            latency_ms,
        );
        if let Some(shadow) = &active.config.shadow
            && self.inner.requests.picker.uniform() * 100.0 < shadow.percent
        {
            self.mirror(&active, features, &prediction, captured);
        } else if let Some(row) = captured {
            self.offer_capture(row);
        }
        Ok(PredictOutcome {
            request_id,
            service: active.service.clone(),
            generation: generation.clone(),
            revision: active.revision,
            prediction,
            latency_ms,
        })
    }

    /// The generation that answers: forced, sticky (when the config says so) or random.
    fn route<'a>(&self, service: &str, active: &'a ActiveDeployment, routing: Routing<'_>) -> Result<&'a VersionId> {
        Ok(match (routing.generation, routing.key) {
            (Some(forced), _) => active.route.generations().iter().find(|g| g.as_str() == forced).ok_or_else(|| {
                Error::GenerationNotLive {
                    service: service.to_owned(),
                    generation: forced.chars().take(64).collect(),
                    live: active.live_generations(),
                }
            })?,
            (None, Some(key)) if active.config.sticky => active.route.pick(sticky_point(service, key)),
            _ => active.route.pick(self.inner.requests.picker.uniform()),
        })
    }

    /// Runs a batch of rows (values in the schema's feature order) on one generation, routed
    /// like a prediction: the Open Inference Protocol's `infer`. Counted as one request.
    pub async fn infer_rows(&self, service: &str, rows: Vec<Vec<f64>>, routing: Routing<'_>) -> Result<InferOutcome> {
        let started = Instant::now();
        let Some(active) = self.active(service) else {
            crate::registry::get_service(self.pool(), service).await?;
            return Err(Error::NotDeployed(service.to_owned()));
        };
        let generation = self.route(service, &active, routing)?.clone();
        let model = Arc::clone(
            active
                .models
                .get(&generation)
                .ok_or_else(|| Error::Internal(format!("generation {generation} is live but not loaded")))?,
        );
        let result = match rows.iter().try_for_each(|row| model.schema().check_row(row)) {
            Err(e) => Err(e),
            Ok(()) => {
                // The same rule as single predictions, for the whole batch.
                let inline = model.batch_runs_inline(rows.len());
                let model = Arc::clone(&model);
                // One run of the batch plan for the whole request: HTTP, JSON and the plan's
                // fixed costs are paid once, not per row, and the answer is read from the
                // batch (no `Prediction` per row). The rows come back for drift.
                let run = move || {
                    if rows.is_empty() {
                        return Ok((rows, model.empty_batch()));
                    }
                    model.predict_batch(&rows.concat()).map(|batch| (rows, batch))
                };
                if inline {
                    run()
                } else {
                    tokio::task::spawn_blocking(run)
                        .await
                        .map_err(|e| Error::Internal(format!("inference stopped: {e}")))?
                }
            }
        };
        let (elapsed, now) = (started.elapsed(), self.now());
        self.count(&active, &generation, outcome_of(&result), elapsed, now);
        let (rows, batch) = result?;
        let outputs = (0..batch.len()).map(|i| batch.output(i));
        self.observe_drift(&active, &generation, rows.iter().map(Vec::as_slice).zip(outputs), now);
        // Capture off: one `ArcSwap` load.
        if self.inner.capture.policy(service).is_some() {
            self.capture_batch(&active, &generation, model.schema(), &rows, &batch, elapsed);
        }
        Ok(InferOutcome { generation, revision: active.revision, model, batch })
    }

    /// Offers the sampled rows of an answered batch to the capture writer: each row with its
    /// features named by the schema, a request id of its own (no client holds it, so no
    /// feedback joins it), and the batch's latency.
    fn capture_batch(
        &self,
        active: &ActiveDeployment,
        generation: &VersionId,
        schema: &crate::model::ModelSchema,
        rows: &[Vec<f64>],
        batch: &Batch,
        elapsed: Duration,
    ) {
        let latency_ms = elapsed.as_secs_f64() * 1e3;
        for (i, row) in rows.iter().enumerate() {
            let features = || schema.features.iter().zip(row).map(|(f, v)| (f.name.clone(), Value::from(*v))).collect();
            let id =
                || self.inner.requests.request_ids.issue(active.service.as_str(), generation.as_str(), active.revision);
            if let Some(captured) = self.capture_row(active, generation, id, features, || batch.get(i), latency_ms) {
                self.offer_capture(captured);
            }
        }
    }

    /// Counts a request of a routed generation in the monitor, through the handle resolved
    /// at activation.
    fn count(&self, active: &ActiveDeployment, generation: &VersionId, outcome: Outcome, elapsed: Duration, now: Now) {
        let monitor = &self.inner.monitor;
        match active.counters.get(generation) {
            Some(counter) => monitor.record_to(counter, outcome, elapsed, now),
            None => monitor.record(active.service.as_str(), generation.as_str(), outcome, elapsed, now),
        }
    }

    /// Bins answered rows into the generation's drift tracker (resolved at activation).
    fn observe_drift<'a>(
        &self,
        active: &ActiveDeployment,
        generation: &VersionId,
        answered: impl Iterator<Item = (&'a [f64], f64)>,
        now: Now,
    ) {
        if let Some(tracker) = active.drift.get(generation) {
            answered.for_each(|(row, output)| tracker.record(row, output, now));
        }
    }

    /// Runs the generation's model on a request's features; the row (in the schema's
    /// feature order) comes back with the prediction.
    async fn run_model(
        &self,
        active: &ActiveDeployment,
        generation: &VersionId,
        features: &Map<String, Value>,
    ) -> Result<(Vec<f64>, Prediction)> {
        let model = active
            .models
            .get(generation)
            .ok_or_else(|| Error::Internal(format!("generation {generation} is live but not loaded")))?;
        let row = model.schema().row_from_json(features)?;
        #[cfg(feature = "testing")]
        {
            let faults = &self.inner.requests.faults;
            let key = (active.service.to_string(), generation.to_string());
            if let Some(delay) = faults.delays.get(&key) {
                tokio::time::sleep(*delay).await;
            }
            if faults.failures.contains(&key) {
                return Err(Error::Internal(format!("injected failure in {}/{generation}", active.service)));
            }
        }
        if model.runs_inline() {
            model.predict(&row).map(|p| (row, p))
        } else {
            let model = Arc::clone(model);
            tokio::task::spawn_blocking(move || model.predict(&row).map(|p| (row, p)))
                .await
                .map_err(|e| Error::Internal(format!("inference stopped: {e}")))?
        }
    }

    /// Runs the shadow generation on a copy of the request in its own task and records its
    /// latency, errors and agreement with the live answer. Dropped when too many are running.
    /// A captured row of the request (`captured`) is queued once the shadow has answered.
    fn mirror(
        &self,
        active: &Arc<ActiveDeployment>,
        features: &Map<String, Value>,
        live: &Prediction,
        mut captured: Option<crate::capture::Captured>,
    ) {
        let Some(shadow) = active.config.shadow.clone() else { return };
        let Ok(permit) = Arc::clone(&self.inner.requests.shadow_permits).try_acquire_owned() else {
            tracing::debug!(service = %active.service, "shadow skipped: too many shadow runs in flight");
            if let Some(row) = captured {
                self.offer_capture(row);
            }
            return;
        };
        let (engine, active, features, live) = (self.clone(), Arc::clone(active), features.clone(), live.clone());
        tokio::spawn(async move {
            let _permit = permit;
            let started = Instant::now();
            let result = engine.run_model(&active, &shadow.generation, &features).await.map(|(_, p)| p);
            let latency = started.elapsed();
            let (outcome, cmp) = match &result {
                Ok(p) => (Outcome::Ok, Some(compare(&live, p))),
                Err(e) if e.code().is_client_error() => (Outcome::Rejected, None),
                Err(_) => (Outcome::Error, None),
            };
            engine.inner.monitor.record_shadow(
                active.service.as_str(),
                shadow.generation.as_str(),
                outcome,
                latency,
                cmp,
                engine.now(),
            );
            if let Some(mut row) = captured.take() {
                row.shadow = Some((shadow.generation.to_string(), result.ok()));
                engine.offer_capture(row);
            }
        });
    }

    /// Traffic of a service's generations over the last `minutes` minutes.
    /// Traffic of `service` over the last `minutes`: this node's, plus what the other nodes
    /// sharing the registry have flushed.
    pub async fn monitor(&self, service: &str, minutes: i64) -> Result<MonitorSnapshot> {
        let now = self.now();
        let since = now.timestamp().div_euclid(60) - minutes.clamp(1, crate::monitor::RETENTION_MINUTES) + 1;
        let others = crate::monitor::others_buckets(self.pool(), self.instance(), service, since).await?;
        Ok(self.inner.monitor.snapshot_with(service, minutes, now, others))
    }

    /// Prometheus text for `/metrics`.
    pub fn metrics_text(&self) -> String {
        let mut text = self.inner.monitor.prometheus();
        text.push_str(&self.capture_metrics());
        text.push_str(&self.inner.drift.prometheus(self.now()));
        text
    }

    /// Records the outcome (ground truth or business metric) of an earlier prediction.
    pub async fn feedback(&self, service: &str, request_id: &str, outcome: &Value) -> Result<()> {
        let (value, binary) = feedback::outcome_value(outcome)?;
        let served = self.inner.requests.request_ids.verify(service, request_id).ok_or_else(|| {
            Error::RequestNotFound(format!(
                "'{}' is not the request_id of a prediction of '{service}' (send the request_id a prediction answered with)",
                request_id.chars().take(64).collect::<String>(),
            ))
        })?;
        feedback::insert(self.pool(), request_id, &served, value, binary, self.now_ms()).await
    }

    /// A/B results of a service's generations from feedback since `since_ms` (Unix ms).
    pub async fn ab_results(&self, service: &str, since_ms: Option<i64>) -> Result<AbReport> {
        crate::registry::get_service(self.pool(), service).await?;
        let outcomes = feedback::outcomes(self.pool(), service, since_ms.unwrap_or(0)).await?;
        Ok(ab::analyse(service, &outcomes, None))
    }
}

/// A batch answered by one generation.
#[derive(Debug, Clone)]
pub struct InferOutcome {
    pub generation: VersionId,
    pub revision: i64,
    /// The generation's model (its schema names the outputs).
    pub model: Arc<LoadedModel>,
    /// The rows' predictions as the model returned them.
    pub batch: Batch,
}

fn outcome_of<T>(result: &Result<T>) -> Outcome {
    match result {
        Ok(_) => Outcome::Ok,
        Err(e) if e.code().is_client_error() => Outcome::Rejected,
        Err(_) => Outcome::Error,
    }
}

fn compare(live: &Prediction, shadow: &Prediction) -> Comparison {
    match (live, shadow) {
        (Prediction::Class { class: a, .. }, Prediction::Class { class: b, .. }) => {
            Comparison { agree: a == b, abs_diff: if a == b { 0.0 } else { 1.0 } }
        }
        (Prediction::Value(a), Prediction::Value(b)) => {
            let d = (a - b).abs();
            Comparison { agree: d <= 1e-6 * a.abs().max(1.0), abs_diff: d }
        }
        _ => Comparison { agree: false, abs_diff: 1.0 },
    }
}
