//! Drift: references built from a CSV at upload (the version's model run on the rows), and
//! the drift of a service's generations on this node.

use std::sync::Arc;

use super::Engine;
use crate::drift::{DriftReport, Reference, ReferenceSource};
use crate::error::{Error, Result};
use crate::model::LoadedModel;
use crate::notify::EventKind;

/// Reference rows run through the model this many at a time.
const CHUNK_ROWS: usize = 1024;

impl Engine {
    /// Drift of a service's generations over the last `minutes` minutes, on this node.
    pub async fn drift(&self, service: &str, minutes: i64) -> Result<DriftReport> {
        crate::registry::get_service(self.pool(), service).await?;
        let live: Vec<String> = self
            .active(service)
            .map(|a| a.route.generations().iter().map(|g| g.to_string()).collect())
            .unwrap_or_default();
        Ok(self.inner.drift.report(service, &live, minutes, self.now()))
    }

    /// Tells the webhooks of every generation whose drift on this node went over the alert
    /// limit since the last pass (`drift` events, once per crossing). Returns how many.
    pub async fn drift_alert_pass(&self) -> Result<usize> {
        let Some(rule) = &self.inner.drift_alert else { return Ok(0) };
        let alerts = self.inner.drift.crossings(rule, self.now());
        for a in &alerts {
            let revision = self.active(&a.service).map(|live| live.revision);
            let why = format!(
                "drift on {}: '{}' PSI {:.3} > {} over the last {} min ({} requests on {})",
                a.generation,
                a.feature,
                a.psi,
                rule.max_psi,
                rule.minutes,
                a.requests,
                self.instance()
            );
            self.notify_service(EventKind::Drift, &a.service, revision, "drift-monitor", &why).await;
        }
        Ok(alerts.len())
    }
}

/// The reference of `csv` (a header naming the model's features, then rows) for `model`:
/// the rows are checked against its schema and run through it on the blocking pool. With it,
/// the CSV's first row as a JSON object of features (a version's sample row).
pub(super) async fn build_reference(model: Arc<LoadedModel>, csv: String) -> Result<(Reference, String)> {
    tokio::task::spawn_blocking(move || {
        let schema = model.schema();
        let columns = crate::drift::read_csv(schema, csv.as_bytes())?;
        let n = columns.first().map_or(0, Vec::len);
        let mut predictions = Vec::with_capacity(n);
        let mut batch = Vec::with_capacity(CHUNK_ROWS * columns.len());
        for start in (0..n).step_by(CHUNK_ROWS) {
            batch.clear();
            for i in start..(start + CHUNK_ROWS).min(n) {
                batch.extend(columns.iter().map(|c| c[i]));
            }
            predictions.extend(model.predict_batch(&batch)?.predictions());
        }
        let first: serde_json::Map<String, serde_json::Value> =
            schema.features.iter().zip(&columns).map(|(f, c)| (f.name.clone(), serde_json::json!(c[0]))).collect();
        let reference = Reference::from_rows(ReferenceSource::Upload, schema, &columns, &predictions)?;
        Ok((reference, serde_json::Value::Object(first).to_string()))
    })
    .await
    .map_err(|e| Error::Internal(format!("building the reference stopped: {e}")))?
}
