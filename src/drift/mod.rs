//! Drift: how live traffic of each generation compares with its version's **reference**.
//!
//! A reference holds, per feature, cut points at the quantiles of a reference sample
//! (`stats::cuts`: numpy's `quantile(method="linear")`, at most [`stats::MAX_BINS`] bins, ties
//! merged) with the sample's count in each bin, and the prediction distribution on that
//! sample (class counts, or a value histogram for regressors). It comes from a CSV uploaded
//! with the version ([`ReferenceSource::Upload`], `rows.rs`), or, for a version without one,
//! from the first [`DEFAULT_BASELINE_REQUESTS`] (`EngineConfig::drift_baseline`) requests a
//! generation serves on this node ([`ReferenceSource::Traffic`]).
//!
//! The request path counts each answered row into its generation's [`Tracker`]: one short
//! lock, one binary search into the fixed cuts per feature and no allocation (a minute's
//! counts are allocated when its first request arrives). Reads ([`Drift::report`],
//! `/metrics`) compute PSI, KS on the binned CDFs and the chi-square test of class shares per
//! minute and over a window. Live counts are this node's, kept in memory for
//! [`RETENTION_MINUTES`]; a restart starts them (and a traffic baseline) again.

mod rows;
pub mod stats;
pub mod store;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::fmt::Write;
use std::sync::{Arc, Mutex, RwLock};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::{ModelSchema, OutputKind, Prediction};
pub use rows::read_csv;

/// Requests that make a generation's baseline when its version has no reference.
pub const DEFAULT_BASELINE_REQUESTS: usize = 1000;

/// A reference needs at least this many rows (two bins of ten).
pub const MIN_REFERENCE_ROWS: usize = 20;

/// How long live per-minute counts are kept.
pub const RETENTION_MINUTES: i64 = 24 * 60;

/// `/metrics` reports PSI over this many minutes of traffic, the current one included.
pub const METRIC_WINDOW_MINUTES: i64 = 60;

/// Where a reference came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReferenceSource {
    /// A CSV of feature rows given with the version.
    Upload,
    /// The first requests the generation served after it was deployed.
    Traffic,
}

impl ReferenceSource {
    pub fn as_str(self) -> &'static str {
        match self {
            ReferenceSource::Upload => "upload",
            ReferenceSource::Traffic => "traffic",
        }
    }
}

/// One feature's reference histogram: `cuts.len() + 1` bins; a value `v` is in bin
/// "number of cuts ≤ v" (the end bins are open).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FeatureBins {
    pub feature: String,
    pub cuts: Vec<f64>,
    pub counts: Vec<u64>,
}

/// The prediction distribution on the reference rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PredictionBins {
    /// How many rows the model put in each class, in the schema's class order.
    Classifier { classes: Vec<String>, counts: Vec<u64> },
    /// A histogram of the predicted values, binned like a feature.
    Regressor { cuts: Vec<f64>, counts: Vec<u64> },
}

/// A version's reference distributions (DESIGN: reference).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Reference {
    pub source: ReferenceSource,
    pub rows: u64,
    /// In the schema's feature order.
    pub features: Vec<FeatureBins>,
    pub prediction: PredictionBins,
}

impl Reference {
    /// The reference of a sample: `columns` holds each feature's values in the schema's
    /// order, `outputs` each row's class index (classifiers) or predicted value.
    fn build(source: ReferenceSource, schema: &ModelSchema, columns: &[Vec<f64>], outputs: &[f64]) -> Reference {
        let features = schema
            .features
            .iter()
            .zip(columns)
            .map(|(f, values)| {
                let cuts = stats::cuts(values);
                FeatureBins { feature: f.name.clone(), counts: stats::counts(&cuts, values), cuts }
            })
            .collect();
        let prediction = match &schema.output {
            OutputKind::Classifier { classes } => {
                let mut counts = vec![0; classes.len()];
                for &label in outputs {
                    if let Some(c) = counts.get_mut(label as usize).filter(|_| label >= 0.0) {
                        *c += 1;
                    }
                }
                PredictionBins::Classifier { classes: classes.clone(), counts }
            }
            OutputKind::Regressor => {
                let cuts = stats::cuts(outputs);
                PredictionBins::Regressor { counts: stats::counts(&cuts, outputs), cuts }
            }
        };
        Reference { source, rows: outputs.len() as u64, features, prediction }
    }

    /// The reference of rows (in the schema's feature order) and the model's predictions
    /// on them.
    pub fn from_rows(
        source: ReferenceSource,
        schema: &ModelSchema,
        columns: &[Vec<f64>],
        predictions: &[Prediction],
    ) -> Result<Reference> {
        if predictions.len() < MIN_REFERENCE_ROWS {
            return Err(Error::InvalidInput(format!(
                "a reference needs at least {MIN_REFERENCE_ROWS} rows, got {}",
                predictions.len()
            )));
        }
        let outputs: Vec<f64> = predictions.iter().map(output_value).collect();
        Ok(Reference::build(source, schema, columns, &outputs))
    }
}

/// A prediction as the one number drift bins: a classifier's class index, a regressor's value.
pub fn output_value(p: &Prediction) -> f64 {
    match p {
        Prediction::Class { label, .. } => *label as f64,
        Prediction::Value(v) => *v,
    }
}

fn minute_of(t: DateTime<Utc>) -> i64 {
    t.timestamp().div_euclid(60)
}

/// The live drift counters of one generation on this node.
pub struct Tracker {
    state: Mutex<State>,
}

enum State {
    /// No reference yet: the first requests are kept until there are `target` of them.
    Collecting(Baseline),
    Tracking(Live),
}

struct Baseline {
    target: usize,
    schema: ModelSchema,
    /// Rows one after the other, in the schema's feature order.
    rows: Vec<f64>,
    outputs: Vec<f64>,
}

struct Live {
    reference: Arc<Reference>,
    /// Where each feature's bins start in a minute's counts; the prediction's come last.
    offsets: Vec<usize>,
    width: usize,
    minutes: VecDeque<Minute>,
}

struct Minute {
    minute: i64,
    requests: u64,
    counts: Vec<u64>,
}

impl Live {
    fn new(reference: Arc<Reference>) -> Live {
        let mut offsets = Vec::with_capacity(reference.features.len() + 1);
        let mut width = 0;
        for f in &reference.features {
            offsets.push(width);
            width += f.counts.len();
        }
        offsets.push(width);
        width += match &reference.prediction {
            PredictionBins::Classifier { counts, .. } | PredictionBins::Regressor { counts, .. } => counts.len(),
        };
        Live { reference, offsets, width, minutes: VecDeque::new() }
    }

    fn record(&mut self, row: &[f64], output: f64, at: DateTime<Utc>) {
        let minute = minute_of(at);
        if self.minutes.back().is_none_or(|m| m.minute < minute) {
            self.minutes.push_back(Minute { minute, requests: 0, counts: vec![0; self.width] });
            while self.minutes.front().is_some_and(|m| m.minute <= minute - RETENTION_MINUTES) {
                self.minutes.pop_front();
            }
        }
        // A late sample (clock went back) lands in the newest minute not after it.
        let Some(m) = self.minutes.iter_mut().rev().find(|m| m.minute <= minute) else { return };
        m.requests += 1;
        for ((f, &offset), &x) in self.reference.features.iter().zip(&self.offsets).zip(row) {
            m.counts[offset + stats::bin_of(&f.cuts, x)] += 1;
        }
        let offset = self.offsets[self.reference.features.len()];
        let bin = match &self.reference.prediction {
            PredictionBins::Classifier { counts, .. } => {
                Some(output as usize).filter(|c| output >= 0.0 && *c < counts.len())
            }
            PredictionBins::Regressor { cuts, .. } => Some(stats::bin_of(cuts, output)),
        };
        if let Some(bin) = bin {
            m.counts[offset + bin] += 1;
        }
    }

    /// The minutes in `since..=until`, and their counts added up.
    fn window(&self, since: i64, until: i64) -> (Vec<&Minute>, Vec<u64>, u64) {
        let minutes: Vec<&Minute> = self.minutes.iter().filter(|m| m.minute >= since && m.minute <= until).collect();
        let mut total = vec![0; self.width];
        let mut requests = 0;
        for m in &minutes {
            requests += m.requests;
            total.iter_mut().zip(&m.counts).for_each(|(t, c)| *t += c);
        }
        (minutes, total, requests)
    }

    fn slice<'a>(&self, counts: &'a [u64], i: usize) -> &'a [u64] {
        let end = self.offsets.get(i + 1).copied().unwrap_or(self.width);
        &counts[self.offsets[i]..end]
    }

    fn report(&self, generation: &str, since: i64, until: i64) -> GenerationDrift {
        let (minutes, total, requests) = self.window(since, until);
        let mut features: Vec<FeatureDrift> = self
            .reference
            .features
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let live = self.slice(&total, i).to_vec();
                FeatureDrift {
                    feature: f.feature.clone(),
                    psi: stats::psi(&f.counts, &live),
                    ks: stats::ks_binned(&f.counts, &live),
                    psi_by_minute: minutes.iter().map(|m| stats::psi(&f.counts, self.slice(&m.counts, i))).collect(),
                    cuts: f.cuts.clone(),
                    reference: f.counts.clone(),
                    live,
                }
            })
            .collect();
        features.sort_by(|a, b| {
            b.psi
                .unwrap_or(f64::NEG_INFINITY)
                .total_cmp(&a.psi.unwrap_or(f64::NEG_INFINITY))
                .then(a.feature.cmp(&b.feature))
        });
        let live = self.slice(&total, self.reference.features.len()).to_vec();
        let prediction = match &self.reference.prediction {
            PredictionBins::Classifier { classes, counts } => {
                let test = stats::chi_square(counts, &live);
                PredictionDrift::Classifier {
                    classes: classes.clone(),
                    reference: counts.clone(),
                    chi_square: test.map(|t| t.statistic),
                    dof: test.map(|t| t.dof),
                    p_value: test.map(|t| t.p_value),
                    live,
                }
            }
            PredictionBins::Regressor { cuts, counts } => PredictionDrift::Regressor {
                cuts: cuts.clone(),
                reference: counts.clone(),
                psi: stats::psi(counts, &live),
                ks: stats::ks_binned(counts, &live),
                live,
            },
        };
        GenerationDrift {
            generation: generation.to_owned(),
            reference: Some(ReferenceSummary { source: self.reference.source, rows: self.reference.rows }),
            baseline: None,
            requests,
            minutes: minutes
                .iter()
                .map(|m| DriftMinute {
                    start: DateTime::from_timestamp(m.minute * 60, 0).unwrap_or_default(),
                    requests: m.requests,
                })
                .collect(),
            features,
            prediction: Some(prediction),
        }
    }
}

impl Tracker {
    fn new(schema: &ModelSchema, reference: Option<Reference>, baseline: usize) -> Tracker {
        let state = match reference {
            Some(r) => State::Tracking(Live::new(Arc::new(r))),
            None => State::Collecting(Baseline {
                target: baseline.max(MIN_REFERENCE_ROWS),
                schema: schema.clone(),
                rows: Vec::new(),
                outputs: Vec::new(),
            }),
        };
        Tracker { state: Mutex::new(state) }
    }

    /// Counts one answered request: its row (in the schema's feature order) and its
    /// prediction as one number ([`output_value`]; a batch's rows are read from the model's
    /// `Batch` without building a [`Prediction`] each).
    pub fn record(&self, row: &[f64], output: f64, at: DateTime<Utc>) {
        let Ok(mut state) = self.state.lock() else { return };
        match &mut *state {
            State::Tracking(live) => live.record(row, output, at),
            State::Collecting(baseline) => {
                baseline.rows.extend_from_slice(row);
                baseline.outputs.push(output);
                if baseline.outputs.len() >= baseline.target {
                    let width = baseline.schema.features.len();
                    let columns: Vec<Vec<f64>> = (0..width)
                        .map(|j| baseline.rows.iter().skip(j).step_by(width.max(1)).copied().collect())
                        .collect();
                    let reference =
                        Reference::build(ReferenceSource::Traffic, &baseline.schema, &columns, &baseline.outputs);
                    *state = State::Tracking(Live::new(Arc::new(reference)));
                }
            }
        }
    }

    /// Whether this tracker measures against `reference` (a version's stored one, or none:
    /// then a baseline from traffic).
    fn measures_against(&self, reference: Option<&Reference>) -> bool {
        let Ok(state) = self.state.lock() else { return false };
        match (&*state, reference) {
            (State::Tracking(live), Some(r)) => *live.reference == *r,
            (State::Tracking(live), None) => live.reference.source == ReferenceSource::Traffic,
            (State::Collecting(_), None) => true,
            (State::Collecting(_), Some(_)) => false,
        }
    }

    fn report(&self, generation: &str, since: i64, until: i64) -> Option<GenerationDrift> {
        let state = self.state.lock().ok()?;
        Some(match &*state {
            State::Tracking(live) => live.report(generation, since, until),
            State::Collecting(b) => GenerationDrift {
                generation: generation.to_owned(),
                reference: None,
                baseline: Some(BaselineProgress { collected: b.outputs.len() as u64, target: b.target as u64 }),
                requests: 0,
                minutes: Vec::new(),
                features: Vec::new(),
                prediction: None,
            },
        })
    }

    /// PSI per feature over the minutes `since..=until`, once tracking (None while the
    /// baseline is being collected).
    fn psi(&self, since: i64, until: i64) -> Option<WindowPsi> {
        let state = self.state.lock().ok()?;
        let State::Tracking(live) = &*state else { return None };
        let (_, total, requests) = live.window(since, until);
        let features = live
            .reference
            .features
            .iter()
            .enumerate()
            .filter_map(|(i, f)| Some((f.feature.clone(), stats::psi(&f.counts, live.slice(&total, i))?)))
            .collect();
        Some(WindowPsi { source: live.reference.source, requests, features })
    }
}

/// One generation's PSI per feature over a window: no feature without requests.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowPsi {
    /// What it is measured against.
    pub source: ReferenceSource,
    pub requests: u64,
    pub features: Vec<(String, f64)>,
}

impl WindowPsi {
    /// The most drifting feature and its PSI (ties: the first name).
    pub fn top(&self) -> Option<(&str, f64)> {
        self.features.iter().max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0))).map(|(f, p)| (f.as_str(), *p))
    }

    pub fn of(&self, feature: &str) -> Option<f64> {
        self.features.iter().find(|(f, _)| f == feature).map(|(_, p)| *p)
    }
}

/// The trackers of every generation this node has served, by (service, generation).
pub struct Drift {
    trackers: RwLock<HashMap<(String, String), Arc<Tracker>>>,
    baseline: usize,
    /// The generations over the alert limit at the last [`Drift::crossings`].
    over: Mutex<HashSet<(String, String)>>,
}

/// When a generation's drift is worth telling someone (`switchyard serve --drift-alert-psi`).
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRule {
    /// A feature's PSI above this is an alert.
    pub max_psi: f64,
    /// Over this many minutes of traffic, the current one included.
    pub minutes: i64,
    /// Fewer requests than this in the window decide nothing.
    pub min_requests: u64,
}

impl Default for AlertRule {
    fn default() -> Self {
        AlertRule { max_psi: 0.25, minutes: 60, min_requests: 200 }
    }
}

/// A generation's drift went over the alert limit.
#[derive(Debug, Clone, PartialEq)]
pub struct DriftAlert {
    pub service: String,
    pub generation: String,
    /// The most drifting feature and its PSI over the window.
    pub feature: String,
    pub psi: f64,
    pub requests: u64,
}

impl Drift {
    /// `baseline`: how many requests make a generation's reference when its version has none.
    pub fn new(baseline: usize) -> Drift {
        Drift { trackers: RwLock::new(HashMap::new()), baseline, over: Mutex::new(HashSet::new()) }
    }

    /// The generations whose largest feature PSI over `rule`'s window went above its limit
    /// since the last call, on at least its minimum of requests. Each is reported once: again
    /// only after its PSI came back to the limit or below (or its traffic stopped).
    pub fn crossings(&self, rule: &AlertRule, now: DateTime<Utc>) -> Vec<DriftAlert> {
        let until = minute_of(now);
        let since = until - rule.minutes.clamp(1, RETENTION_MINUTES) + 1;
        let trackers = self.sorted();
        let Ok(mut over) = self.over.lock() else { return Vec::new() };
        let mut alerts = Vec::new();
        for (key, tracker) in trackers {
            let window = tracker.psi(since, until);
            let requests = window.as_ref().map_or(0, |w| w.requests);
            match window.as_ref().and_then(WindowPsi::top) {
                Some((feature, psi)) if requests >= rule.min_requests && psi > rule.max_psi => {
                    if over.insert(key.clone()) {
                        let (service, generation) = key;
                        alerts.push(DriftAlert { service, generation, feature: feature.to_owned(), psi, requests });
                    }
                }
                // Too few requests keep the state: a quiet hour neither alerts nor re-arms.
                Some(_) if requests < rule.min_requests => {}
                _ => {
                    over.remove(&key);
                }
            }
        }
        alerts
    }

    /// A generation's PSI per feature over the minutes from `since`'s to `until`'s; None
    /// when it has no tracker or is still collecting its baseline.
    pub fn psi_between(
        &self,
        service: &str,
        generation: &str,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Option<WindowPsi> {
        let key = (service.to_owned(), generation.to_owned());
        let tracker = self.trackers.read().ok()?.get(&key).map(Arc::clone)?;
        tracker.psi(minute_of(since), minute_of(until))
    }

    /// Every tracker with its (service, generation), in that order.
    fn sorted(&self) -> Vec<((String, String), Arc<Tracker>)> {
        let mut trackers: Vec<((String, String), Arc<Tracker>)> = match self.trackers.read() {
            Ok(map) => map.iter().map(|(k, t)| (k.clone(), Arc::clone(t))).collect(),
            Err(_) => Vec::new(),
        };
        trackers.sort_by(|a, b| a.0.cmp(&b.0));
        trackers
    }

    /// The tracker of a generation being activated, measuring against its version's
    /// `reference` (None: a baseline of its first requests). The same tracker is kept
    /// across revisions while the reference stays the same.
    pub fn tracker(
        &self,
        service: &str,
        generation: &str,
        schema: &ModelSchema,
        reference: Option<Reference>,
    ) -> Arc<Tracker> {
        let key = (service.to_owned(), generation.to_owned());
        if let Ok(map) = self.trackers.read()
            && let Some(t) = map.get(&key).filter(|t| t.measures_against(reference.as_ref()))
        {
            return Arc::clone(t);
        }
        let tracker = Arc::new(Tracker::new(schema, reference, self.baseline));
        if let Ok(mut map) = self.trackers.write() {
            map.insert(key, Arc::clone(&tracker));
        }
        tracker
    }

    fn of_service(&self, service: &str) -> BTreeMap<String, Arc<Tracker>> {
        match self.trackers.read() {
            Ok(map) => {
                map.iter().filter(|((s, _), _)| s == service).map(|((_, g), t)| (g.clone(), Arc::clone(t))).collect()
            }
            Err(_) => BTreeMap::new(),
        }
    }

    /// Drift of a service's generations over the last `minutes` minutes (the current one
    /// included): the `live` generations, and any other with traffic in the window.
    pub fn report(&self, service: &str, live: &[String], minutes: i64, now: DateTime<Utc>) -> DriftReport {
        let minutes = minutes.clamp(1, RETENTION_MINUTES);
        self.report_between(service, live, now - chrono::Duration::minutes(minutes - 1), now)
    }

    /// Drift over the minutes from `since`'s to `until`'s (at most [`RETENTION_MINUTES`] back
    /// from `until`): a deployment report's range.
    pub fn report_between(
        &self,
        service: &str,
        live: &[String],
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> DriftReport {
        let until = minute_of(until);
        let since = minute_of(since).clamp(until - RETENTION_MINUTES + 1, until);
        let minutes = until - since + 1;
        let generations = self
            .of_service(service)
            .into_iter()
            .filter_map(|(g, t)| t.report(&g, since, until))
            .filter(|g| g.requests > 0 || g.baseline.is_some() || live.contains(&g.generation))
            .collect();
        DriftReport { service: service.to_owned(), window_minutes: minutes, generations }
    }

    /// `switchyard_feature_psi`: each feature's PSI per generation over the last
    /// [`METRIC_WINDOW_MINUTES`], for generations with traffic then.
    pub fn prometheus(&self, now: DateTime<Utc>) -> String {
        let until = minute_of(now);
        let since = until - METRIC_WINDOW_MINUTES + 1;
        let trackers = self.sorted();
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP switchyard_feature_psi Population stability index of a feature's live values against the generation's reference, over the last {METRIC_WINDOW_MINUTES} minutes."
        );
        let _ = writeln!(out, "# TYPE switchyard_feature_psi gauge");
        let esc = crate::monitor::escape_label;
        for ((service, generation), tracker) in trackers {
            for (feature, psi) in tracker.psi(since, until).map(|w| w.features).unwrap_or_default() {
                let _ = writeln!(
                    out,
                    "switchyard_feature_psi{{service=\"{}\",generation=\"{}\",feature=\"{}\"}} {psi}",
                    esc(&service),
                    esc(&generation),
                    esc(&feature)
                );
            }
        }
        out
    }
}

/// Drift of a service over a window (DESIGN: drift).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DriftReport {
    pub service: String,
    pub window_minutes: i64,
    pub generations: Vec<GenerationDrift>,
}

/// One generation's drift over the window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GenerationDrift {
    pub generation: String,
    /// What live traffic is measured against; None while the baseline is being collected.
    pub reference: Option<ReferenceSummary>,
    /// Requests kept for the baseline so far, while the version has no reference yet.
    pub baseline: Option<BaselineProgress>,
    /// Requests counted in the window.
    pub requests: u64,
    /// The minutes with traffic in the window, oldest first (the heat map's columns).
    pub minutes: Vec<DriftMinute>,
    /// Most drifting first (by PSI over the window).
    pub features: Vec<FeatureDrift>,
    pub prediction: Option<PredictionDrift>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReferenceSummary {
    pub source: ReferenceSource,
    pub rows: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BaselineProgress {
    pub collected: u64,
    pub target: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DriftMinute {
    pub start: DateTime<Utc>,
    pub requests: u64,
}

/// One feature's drift: PSI and binned KS over the window, PSI per minute, and both
/// histograms over the reference's bins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FeatureDrift {
    pub feature: String,
    pub psi: Option<f64>,
    /// Two-sample KS statistic on the binned CDFs (a lower bound of the raw-value one).
    pub ks: Option<f64>,
    /// PSI of each minute of `minutes`.
    pub psi_by_minute: Vec<Option<f64>>,
    pub cuts: Vec<f64>,
    pub reference: Vec<u64>,
    pub live: Vec<u64>,
}

/// The prediction distribution against the reference's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PredictionDrift {
    /// Class counts, with Pearson's chi-square test of homogeneity.
    Classifier {
        classes: Vec<String>,
        reference: Vec<u64>,
        live: Vec<u64>,
        chi_square: Option<f64>,
        dof: Option<u64>,
        p_value: Option<f64>,
    },
    /// A histogram of predicted values over the reference's bins.
    Regressor { cuts: Vec<f64>, reference: Vec<u64>, live: Vec<u64>, psi: Option<f64>, ks: Option<f64> },
}

#[cfg(test)]
mod tests;
