//! The capture tables: `capture_policies`, and `capture_blocks` (every node's captured rows,
//! one registry). Rows are stored in blocks, one per writer batch and service, as compact
//! JSON ([`Compact`]): a captured request costs its JSON text, not a table row and index
//! entries of its own. Blocks are found by service and time (`first_ms`, `last_ms`) and walked in capture
//! order (id); rows are filtered after decoding, and the feedback of each request is joined at
//! read time through the feedback table's key. A row's id is `block id × 65,536 + slot`.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sqlx::Row;

use super::{CapturePolicy, Captured};
use crate::error::{Error, Result};
use crate::model::Prediction;
use crate::store::{LOCAL_NODE, Pool};

/// A captured request as stored, with its feedback when some was recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CaptureRow {
    pub id: i64,
    pub service: String,
    /// The node (instance) that captured it.
    pub instance: String,
    /// Unix milliseconds, by the capturing engine's clock.
    pub at_ms: i64,
    pub revision: i64,
    pub generation: String,
    pub request_id: String,
    /// The request's features after the policy's drop and hash.
    #[schema(value_type = Object)]
    pub features: Map<String, Value>,
    /// Classifiers: the class answered.
    pub label: Option<String>,
    /// Regressors: the value answered.
    pub value: Option<f64>,
    /// Classifiers: `[class, probability]` pairs in class order.
    pub probabilities: Option<Vec<(String, f64)>>,
    pub latency_ms: f64,
    pub shadow_generation: Option<String>,
    pub shadow_label: Option<String>,
    pub shadow_value: Option<f64>,
    /// The outcome recorded as feedback for this request id, if any.
    pub feedback: Option<f64>,
}

/// Which rows a listing returns, newest first.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::IntoParams, utoipa::ToSchema)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RowFilter {
    /// Only rows answered by this generation.
    pub generation: Option<String>,
    /// Only rows captured at or after this time (Unix ms).
    pub since_ms: Option<i64>,
    /// Only rows captured at or before this time (Unix ms).
    pub until_ms: Option<i64>,
    /// true: only rows with feedback; false: only rows without.
    pub has_feedback: Option<bool>,
    /// Only rows whose answer is this class (classifiers) or value (regressors).
    pub prediction: Option<String>,
    /// At most this many rows (default 100, at most 1000).
    pub limit: Option<i64>,
}

pub async fn policies(pool: &Pool) -> Result<HashMap<String, CapturePolicy>> {
    let rows =
        sqlx::query("SELECT service, percent, max_rows, retention_seconds, drop_json, hash_json FROM capture_policies")
            .fetch_all(pool)
            .await?;
    let mut out = HashMap::new();
    for row in rows {
        let service: String = row.try_get("service")?;
        out.insert(service, policy_of(&row)?);
    }
    Ok(out)
}

fn policy_of(row: &sqlx::any::AnyRow) -> Result<CapturePolicy> {
    let list = |col: &str| -> Result<Vec<String>> {
        let text: String = row.try_get(col)?;
        serde_json::from_str(&text).map_err(|e| Error::Internal(format!("capture policy {col}: {e}")))
    };
    Ok(CapturePolicy {
        percent: row.try_get("percent")?,
        max_rows: row.try_get("max_rows")?,
        retention_seconds: row.try_get("retention_seconds")?,
        drop_features: list("drop_json")?,
        hash_features: list("hash_json")?,
    })
}

/// Saves (or, with None, removes) the policy of `service`.
pub async fn set_policy(
    pool: &Pool,
    service: &str,
    policy: Option<&CapturePolicy>,
    by: &str,
    now_ms: i64,
) -> Result<()> {
    match policy {
        None => {
            sqlx::query("DELETE FROM capture_policies WHERE service = $1").bind(service).execute(pool).await?;
        }
        Some(p) => {
            let json = |v: &Vec<String>| serde_json::to_string(v).unwrap_or_else(|_| "[]".into());
            sqlx::query(
                "INSERT INTO capture_policies (service, percent, max_rows, retention_seconds, drop_json, hash_json, updated_by, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (service) DO UPDATE SET percent = excluded.percent, \
                 max_rows = excluded.max_rows, retention_seconds = excluded.retention_seconds, drop_json = excluded.drop_json, \
                 hash_json = excluded.hash_json, updated_by = excluded.updated_by, updated_at = excluded.updated_at",
            )
            .bind(service)
            .bind(p.percent)
            .bind(p.max_rows)
            .bind(p.retention_seconds)
            .bind(json(&p.drop_features))
            .bind(json(&p.hash_features))
            .bind(by)
            .bind(now_ms)
            .execute(pool)
            .await?;
        }
    }
    Ok(())
}

/// A row's id is its block's id times this, plus its slot in the block.
pub const SLOTS: i64 = 1 << 16;
const _: () = assert!(super::BATCH as i64 <= SLOTS, "a writer batch fits in one block");

/// Blocks read per query while walking a service's blocks.
const SCAN: i64 = 16;

/// Request ids per feedback lookup.
const FEEDBACK_CHUNK: usize = 200;

/// One captured request. Written in [`Compact`] blocks; blocks of rows captured before that
/// format hold these as objects (absent fields are None).
#[derive(Debug, Deserialize)]
struct StoredRow {
    slot: i64,
    at_ms: i64,
    revision: i64,
    generation: String,
    request_id: String,
    features: Map<String, Value>,
    #[serde(default)]
    label: Option<String>,
    #[serde(default)]
    value: Option<f64>,
    #[serde(default)]
    probabilities: Option<Probabilities>,
    latency_ms: f64,
    #[serde(default)]
    shadow_generation: Option<String>,
    #[serde(default)]
    shadow_label: Option<String>,
    #[serde(default)]
    shadow_value: Option<f64>,
}

/// `[class, probability]` pairs in class order.
type Probabilities = Vec<(String, f64)>;

/// The label, value and probabilities stored for an answer.
fn answer_parts(p: Prediction) -> (Option<String>, Option<f64>, Option<Probabilities>) {
    match p {
        Prediction::Class { class, probabilities, .. } => (Some(class), None, Some(probabilities)),
        Prediction::Value(v) => (None, Some(v), None),
    }
}

impl StoredRow {
    fn new(c: Captured, slot: i64) -> Self {
        let (label, value, probabilities) = answer_parts(c.prediction);
        let (shadow_generation, shadow_label, shadow_value) = match c.shadow {
            None => (None, None, None),
            Some((g, p)) => {
                let (l, v, _) = p.map(answer_parts).unwrap_or((None, None, None));
                (Some(g), l, v)
            }
        };
        StoredRow {
            slot,
            at_ms: c.at_ms,
            revision: c.revision,
            generation: c.generation,
            request_id: c.request_id,
            features: c.features,
            label,
            value,
            probabilities,
            latency_ms: c.latency_ms,
            shadow_generation,
            shadow_label,
            shadow_value,
        }
    }
}

/// A block's `rows_json` as written: each row an array in [`RowTuple`] order, the feature
/// names and class names written once for the rows that share them (the first row's), so a
/// row's JSON holds its values, not every name again. Blocks of rows captured before this
/// format (one object per row, `[{…}, …]`) are read as they are.
#[derive(Serialize, Deserialize)]
struct Compact {
    /// The names of features stored as a list of values, in their order.
    features: Vec<String>,
    /// The classes of probabilities stored as a list of numbers, in their order.
    classes: Vec<String>,
    rows: Vec<RowTuple>,
}

/// slot, at_ms, revision, generation, request_id, features, label, value, probabilities,
/// latency_ms, shadow_generation, shadow_label, shadow_value.
type RowTuple = (
    i64,
    i64,
    i64,
    String,
    String,
    Features,
    Option<String>,
    Option<f64>,
    Option<Classes>,
    f64,
    Option<String>,
    Option<String>,
    Option<f64>,
);

/// A row's features: values in the block's feature order, or by name when its names differ.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum Features {
    Values(Vec<Value>),
    Named(Map<String, Value>),
}

/// A row's probabilities: in the block's class order, or paired with their classes when its
/// classes differ. JSON has no NaN: a probability that is not a number is written `null` and
/// read back as NaN, so the block still reads.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum Classes {
    Numbers(Vec<Option<f64>>),
    Pairs(Vec<(String, Option<f64>)>),
}

/// Writes rows as a [`Compact`] block.
fn encode_rows(rows: Vec<StoredRow>) -> Result<String> {
    let features: Vec<String> = rows.first().map(|r| r.features.keys().cloned().collect()).unwrap_or_default();
    let classes: Vec<String> = rows
        .iter()
        .find_map(|r| r.probabilities.as_ref())
        .map(|p| p.iter().map(|(c, _)| c.clone()).collect())
        .unwrap_or_default();
    let rows: Vec<RowTuple> = rows
        .into_iter()
        .map(|r| {
            let features_of = if r.features.keys().eq(features.iter()) {
                Features::Values(r.features.into_iter().map(|(_, v)| v).collect())
            } else {
                Features::Named(r.features)
            };
            let probabilities = r.probabilities.map(|p| {
                if p.iter().map(|(c, _)| c).eq(classes.iter()) {
                    Classes::Numbers(p.into_iter().map(|(_, v)| Some(v)).collect())
                } else {
                    Classes::Pairs(p.into_iter().map(|(c, v)| (c, Some(v))).collect())
                }
            });
            (
                r.slot,
                r.at_ms,
                r.revision,
                r.generation,
                r.request_id,
                features_of,
                r.label,
                r.value,
                probabilities,
                r.latency_ms,
                r.shadow_generation,
                r.shadow_label,
                r.shadow_value,
            )
        })
        .collect();
    // Sized for the whole block at once: a growing buffer would copy it several times over.
    let mut json = Vec::with_capacity(256 * (rows.len() + 1));
    serde_json::to_writer(&mut json, &Compact { features, classes, rows })
        .map_err(|e| Error::Internal(format!("encoding captured rows: {e}")))?;
    String::from_utf8(json).map_err(|e| Error::Internal(format!("encoding captured rows: {e}")))
}

/// Reads a block's rows, [`Compact`] or one object per row.
fn decode_rows(json: &str) -> Result<Vec<StoredRow>> {
    let bad = |e: serde_json::Error| Error::Internal(format!("captured rows: {e}"));
    if json.trim_start().starts_with('[') {
        return serde_json::from_str(json).map_err(bad);
    }
    let block: Compact = serde_json::from_str(json).map_err(bad)?;
    let (names, classes) = (block.features, block.classes);
    Ok(block
        .rows
        .into_iter()
        .map(
            |(
                slot,
                at_ms,
                revision,
                generation,
                request_id,
                features,
                label,
                value,
                probabilities,
                latency_ms,
                shadow_generation,
                shadow_label,
                shadow_value,
            )| StoredRow {
                slot,
                at_ms,
                revision,
                generation,
                request_id,
                features: match features {
                    Features::Values(values) => names.iter().cloned().zip(values).collect(),
                    Features::Named(map) => map,
                },
                label,
                value,
                probabilities: probabilities.map(|p| match p {
                    Classes::Numbers(numbers) => {
                        classes.iter().cloned().zip(numbers.into_iter().map(|v| v.unwrap_or(f64::NAN))).collect()
                    }
                    Classes::Pairs(pairs) => pairs.into_iter().map(|(c, v)| (c, v.unwrap_or(f64::NAN))).collect(),
                }),
                latency_ms,
                shadow_generation,
                shadow_label,
                shadow_value,
            },
        )
        .collect())
}

/// The first and last capture time of a block's rows.
fn time_span(rows: &[StoredRow]) -> (i64, i64) {
    let times = rows.iter().map(|r| r.at_ms);
    (times.clone().min().unwrap_or_default(), times.max().unwrap_or_default())
}

/// A batch's rows of one service, encoded once: a retried insert sends the same block.
#[derive(Debug)]
pub struct Block {
    pub service: String,
    /// The block's key: a retried batch is stored once.
    first_request_id: String,
    first_ms: i64,
    last_ms: i64,
    pub rows: u64,
    json: String,
}

/// Encodes captured rows (features already dropped and hashed) into blocks: one per service
/// and [`super::BATCH`] rows, each service's rows in their order.
pub fn encode(rows: Vec<Captured>) -> Result<Vec<Block>> {
    let mut by_service: Vec<(String, Vec<Vec<StoredRow>>)> = Vec::new();
    for c in rows {
        let i = match by_service.iter().position(|(s, _)| *s == c.service) {
            Some(i) => i,
            None => {
                by_service.push((c.service.clone(), Vec::new()));
                by_service.len() - 1
            }
        };
        let chunks = &mut by_service[i].1;
        match chunks.last_mut() {
            Some(chunk) if chunk.len() < super::BATCH => chunk.push(StoredRow::new(c, chunk.len() as i64)),
            _ => chunks.push(vec![StoredRow::new(c, 0)]),
        }
    }
    let mut blocks = Vec::new();
    for (service, chunks) in by_service {
        for rows in chunks {
            let first_request_id = rows[0].request_id.clone();
            let ((first_ms, last_ms), n) = (time_span(&rows), rows.len() as u64);
            let json = encode_rows(rows)?;
            blocks.push(Block { service: service.clone(), first_request_id, first_ms, last_ms, rows: n, json });
        }
    }
    Ok(blocks)
}

/// Inserts the blocks captured by `instance` in one transaction; a block already stored (its
/// first request id, in a retried batch) is skipped, so no request is captured twice. Returns
/// the rows inserted per service. Trimming to the cap is the writer's, every twentieth of the cap
/// ([`trim_to_cap`]).
pub async fn insert(pool: &Pool, instance: &str, blocks: &[Block]) -> Result<HashMap<String, u64>> {
    let mut tx = pool.begin().await?;
    let mut inserted: HashMap<String, u64> = HashMap::new();
    for b in blocks {
        let done = sqlx::query(
            "INSERT INTO capture_blocks (service, node, instance, first_request_id, first_ms, last_ms, row_count, rows_json) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (service, first_request_id) DO NOTHING",
        )
        .bind(b.service.as_str())
        .bind(LOCAL_NODE)
        .bind(instance)
        .bind(b.first_request_id.as_str())
        .bind(b.first_ms)
        .bind(b.last_ms)
        .bind(b.rows as i64)
        .bind(b.json.as_str())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() > 0 {
            *inserted.entry(b.service.clone()).or_default() += b.rows;
        }
    }
    tx.commit().await?;
    Ok(inserted)
}

/// A stored block, decoded.
struct StoredBlock {
    id: i64,
    node: String,
    instance: String,
    rows: Vec<StoredRow>,
}

const BLOCK_COLUMNS: &str = "id, node, instance, rows_json";

fn block_of(row: &sqlx::any::AnyRow) -> Result<StoredBlock> {
    let json: String = row.try_get("rows_json")?;
    Ok(StoredBlock {
        id: row.try_get("id")?,
        node: row.try_get("node")?,
        instance: row.try_get("instance")?,
        rows: decode_rows(&json)?,
    })
}

impl StoredBlock {
    fn row_id(&self, r: &StoredRow) -> i64 {
        self.id * SLOTS + r.slot
    }

    fn capture_row(&self, service: &str, r: StoredRow) -> CaptureRow {
        CaptureRow {
            id: self.row_id(&r),
            service: service.to_owned(),
            instance: self.instance.clone(),
            at_ms: r.at_ms,
            revision: r.revision,
            generation: r.generation,
            request_id: r.request_id,
            features: r.features,
            label: r.label,
            value: r.value,
            probabilities: r.probabilities,
            latency_ms: r.latency_ms,
            shadow_generation: r.shadow_generation,
            shadow_label: r.shadow_label,
            shadow_value: r.shadow_value,
            feedback: None,
        }
    }
}

/// Sets each row's feedback: the outcome recorded for its request id on `node`.
async fn join_feedback(pool: &Pool, service: &str, node: &str, rows: &mut [CaptureRow]) -> Result<()> {
    for chunk in rows.chunks_mut(FEEDBACK_CHUNK) {
        let mut sql = String::from(
            "SELECT request_id, outcome FROM feedback WHERE service = $1 AND node = $2 AND request_id IN (",
        );
        for i in 0..chunk.len() {
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("${}", i + 3));
        }
        sql.push(')');
        let mut q = sqlx::query(&sql).bind(service).bind(node);
        for r in chunk.iter() {
            q = q.bind(r.request_id.as_str());
        }
        let mut outcomes: HashMap<String, f64> = HashMap::new();
        for row in q.fetch_all(pool).await? {
            outcomes.insert(row.try_get("request_id")?, row.try_get("outcome")?);
        }
        for r in chunk.iter_mut() {
            r.feedback = outcomes.get(&r.request_id).copied();
        }
    }
    Ok(())
}

/// The next [`SCAN`] blocks of `service` overlapping `[since_ms, until_ms]`: in capture order
/// from block id `from` (inclusive), or newest first below `from` (exclusive).
async fn blocks(
    pool: &Pool,
    service: &str,
    since_ms: i64,
    until_ms: i64,
    from: i64,
    newest_first: bool,
) -> Result<Vec<StoredBlock>> {
    let (cmp, order) = if newest_first { ("<", "DESC") } else { (">=", "ASC") };
    let sql = format!(
        "SELECT {BLOCK_COLUMNS} FROM capture_blocks WHERE service = $1 AND last_ms >= $2 AND first_ms <= $3 \
         AND id {cmp} $4 ORDER BY id {order} LIMIT {SCAN}"
    );
    let rows = sqlx::query(&sql).bind(service).bind(since_ms).bind(until_ms).bind(from).fetch_all(pool).await?;
    rows.iter().map(block_of).collect()
}

/// Rows of `service` matching `filter`, newest first.
pub async fn list(pool: &Pool, service: &str, filter: &RowFilter) -> Result<Vec<CaptureRow>> {
    let limit = filter.limit.unwrap_or(100).clamp(1, 1000) as usize;
    let (since, until) = (filter.since_ms.unwrap_or(i64::MIN), filter.until_ms.unwrap_or(i64::MAX));
    let prediction_value = filter.prediction.as_deref().and_then(|p| p.parse::<f64>().ok());
    let answered = |r: &StoredRow| match filter.prediction.as_deref() {
        None => true,
        Some(p) => r.label.as_deref() == Some(p) || (prediction_value.is_some() && r.value == prediction_value),
    };
    let mut out = Vec::new();
    let mut before = i64::MAX;
    loop {
        let found = blocks(pool, service, since, until, before, true).await?;
        if found.is_empty() {
            return Ok(out);
        }
        for mut block in found {
            before = block.id;
            let rows = std::mem::take(&mut block.rows);
            let mut picked: Vec<CaptureRow> = rows
                .into_iter()
                .rev()
                .filter(|r| (since..=until).contains(&r.at_ms))
                .filter(|r| filter.generation.as_ref().is_none_or(|g| *g == r.generation))
                .filter(|r| answered(r))
                .map(|r| block.capture_row(service, r))
                .collect();
            join_feedback(pool, service, &block.node, &mut picked).await?;
            for row in picked {
                if filter.has_feedback.is_none_or(|has| has == row.feedback.is_some()) {
                    out.push(row);
                    if out.len() == limit {
                        return Ok(out);
                    }
                }
            }
        }
    }
}

/// The next page of rows of `service` captured in `[since_ms, until_ms]`, oldest first,
/// after row id `after` (export and replay stream through these).
pub async fn page(
    pool: &Pool,
    service: &str,
    since_ms: i64,
    until_ms: i64,
    after: i64,
    n: i64,
) -> Result<Vec<CaptureRow>> {
    let n = n.max(0) as usize;
    let mut out = Vec::new();
    let mut from = after.div_euclid(SLOTS);
    while out.len() < n {
        let found = blocks(pool, service, since_ms, until_ms, from, false).await?;
        if found.is_empty() {
            break;
        }
        for mut block in found {
            from = block.id + 1;
            let rows = std::mem::take(&mut block.rows);
            let mut picked: Vec<CaptureRow> = rows
                .into_iter()
                .filter(|r| block.row_id(r) > after && (since_ms..=until_ms).contains(&r.at_ms))
                .take(n - out.len())
                .map(|r| block.capture_row(service, r))
                .collect();
            join_feedback(pool, service, &block.node, &mut picked).await?;
            out.append(&mut picked);
            if out.len() == n {
                break;
            }
        }
    }
    Ok(out)
}

/// The rows of `service`'s blocks (`$1`), with more conditions appended.
const ROWS_OF: &str = "SELECT CAST(COALESCE(SUM(row_count), 0) AS BIGINT) FROM capture_blocks WHERE service = $1";

/// Rows of `service` in the registry, every node's.
pub async fn count(pool: &Pool, service: &str) -> Result<i64> {
    count_in(pool, service).await
}

async fn count_in<'e>(db: impl sqlx::Executor<'e, Database = sqlx::Any>, service: &str) -> Result<i64> {
    Ok(sqlx::query_scalar(ROWS_OF).bind(service).fetch_one(db).await?)
}

/// How many rows of `service` were captured in `[since_ms, until_ms]`: the blocks wholly
/// inside by their counts, those across an end by their rows.
pub async fn count_window(pool: &Pool, service: &str, since_ms: i64, until_ms: i64) -> Result<i64> {
    let inside: i64 = sqlx::query_scalar(&format!("{ROWS_OF} AND first_ms >= $2 AND last_ms <= $3"))
        .bind(service)
        .bind(since_ms)
        .bind(until_ms)
        .fetch_one(pool)
        .await?;
    let across = sqlx::query(&format!(
        "SELECT {BLOCK_COLUMNS} FROM capture_blocks WHERE service = $1 AND last_ms >= $2 AND first_ms <= $3 \
         AND (first_ms < $2 OR last_ms > $3)"
    ))
    .bind(service)
    .bind(since_ms)
    .bind(until_ms)
    .fetch_all(pool)
    .await?;
    let mut n = inside;
    for row in &across {
        n += block_of(row)?.rows.iter().filter(|r| (since_ms..=until_ms).contains(&r.at_ms)).count() as i64;
    }
    Ok(n)
}

/// Keeps the rows of block `id` that `keep` says (deleting the block when none is left).
/// Returns the rows removed.
async fn rewrite(tx: &mut sqlx::AnyConnection, id: i64, keep: impl Fn(usize, &StoredRow) -> bool) -> Result<u64> {
    let row = sqlx::query(&format!("SELECT {BLOCK_COLUMNS} FROM capture_blocks WHERE id = $1"))
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
    let block = block_of(&row)?;
    let before = block.rows.len();
    let kept: Vec<StoredRow> =
        block.rows.into_iter().enumerate().filter(|(i, r)| keep(*i, r)).map(|(_, r)| r).collect();
    let removed = (before - kept.len()) as u64;
    if kept.is_empty() {
        sqlx::query("DELETE FROM capture_blocks WHERE id = $1").bind(id).execute(&mut *tx).await?;
    } else if removed > 0 {
        let ((first_ms, last_ms), n) = (time_span(&kept), kept.len() as i64);
        let json = encode_rows(kept)?;
        sqlx::query(
            "UPDATE capture_blocks SET rows_json = $1, row_count = $2, first_ms = $3, last_ms = $4 WHERE id = $5",
        )
        .bind(json)
        .bind(n)
        .bind(first_ms)
        .bind(last_ms)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    }
    Ok(removed)
}

/// How [`trim_to_cap`] cuts the block across the cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// Its oldest rows go (the block is decoded and rewritten): exactly `cap` rows are left.
    Exact,
    /// It stays while the rows left are at most a twentieth over the cap, so a trim usually
    /// only deletes whole blocks (the writer's trims between batches, the retention pass).
    Loose,
}

/// Deletes the oldest rows of `service` beyond the newest `cap`, cutting the block across the
/// cap as `cut` says. Returns the rows deleted.
pub async fn trim_to_cap(pool: &Pool, service: &str, cap: i64, cut: Cut) -> Result<u64> {
    let mut tx = crate::store::begin_write(pool).await?;
    let total = count_in(&mut *tx, service).await?;
    if total <= cap {
        tx.commit().await?;
        return Ok(0);
    }
    // The oldest blocks go whole while they fit in the excess; then the block across the cap.
    let mut excess = total - cap;
    let sizes: Vec<(i64, i64)> =
        sqlx::query_as("SELECT id, row_count FROM capture_blocks WHERE service = $1 ORDER BY id")
            .bind(service)
            .fetch_all(&mut *tx)
            .await?;
    let mut deleted = 0;
    let mut whole = None;
    let mut across = None;
    for (id, n) in sizes {
        if excess == 0 {
            break;
        }
        if n <= excess {
            whole = Some(id);
            excess -= n;
            deleted += n;
        } else {
            across = Some(id);
            break;
        }
    }
    if let Some(last) = whole {
        sqlx::query("DELETE FROM capture_blocks WHERE service = $1 AND id <= $2")
            .bind(service)
            .bind(last)
            .execute(&mut *tx)
            .await?;
    }
    let allowed = match cut {
        Cut::Exact => 0,
        Cut::Loose => cap / 20,
    };
    if let Some(id) = across.filter(|_| excess > allowed) {
        let oldest = excess as usize;
        deleted += rewrite(&mut tx, id, |i, _| i >= oldest).await? as i64;
    }
    tx.commit().await?;
    Ok(deleted as u64)
}

/// The retention task's pass over one service: rows older than `before_ms` are deleted (a
/// block across that time is rewritten), and rows beyond the cap as the writer's trims do
/// ([`Cut::Loose`]). Returns the rows deleted.
pub async fn enforce(pool: &Pool, service: &str, before_ms: i64, cap: i64) -> Result<u64> {
    let mut tx = crate::store::begin_write(pool).await?;
    let old: i64 = sqlx::query_scalar(&format!("{ROWS_OF} AND last_ms < $2"))
        .bind(service)
        .bind(before_ms)
        .fetch_one(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM capture_blocks WHERE service = $1 AND last_ms < $2")
        .bind(service)
        .bind(before_ms)
        .execute(&mut *tx)
        .await?;
    let across: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM capture_blocks WHERE service = $1 AND first_ms < $2 ORDER BY id")
            .bind(service)
            .bind(before_ms)
            .fetch_all(&mut *tx)
            .await?;
    let mut deleted = old as u64;
    for id in across {
        deleted += rewrite(&mut tx, id, |_, r| r.at_ms >= before_ms).await?;
    }
    tx.commit().await?;
    Ok(deleted + trim_to_cap(pool, service, cap, Cut::Loose).await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn captured(service: &str, id: &str, at_ms: i64) -> Captured {
        Captured {
            service: service.into(),
            at_ms,
            revision: 1,
            generation: "v1".into(),
            request_id: id.into(),
            features: json!({"x": at_ms}).as_object().cloned().expect("object"),
            prediction: Prediction::Value(at_ms as f64),
            latency_ms: 0.5,
            shadow: None,
        }
    }

    fn ids(rows: &[CaptureRow]) -> Vec<&str> {
        rows.iter().map(|r| r.request_id.as_str()).collect()
    }

    /// The compact block round-trips every field, rows whose feature names or classes differ
    /// from the block's first included; blocks of one object per row still read.
    #[test]
    fn blocks_round_trip_compact_and_read_rows_as_objects() {
        let mut other = captured("a", "r2", 20);
        other.features = json!({"y": 1, "x": "hmac-sha256:ab"}).as_object().cloned().expect("object");
        other.prediction = Prediction::Class {
            label: 1,
            class: "yes".into(),
            probabilities: vec![("no".into(), 0.25), ("yes".into(), 0.75)],
        };
        other.shadow = Some(("v2".into(), Some(Prediction::Value(2.5))));
        let mut third = captured("a", "r3", 30);
        third.prediction =
            Prediction::Class { label: 0, class: "maybe".into(), probabilities: vec![("maybe".into(), 1.0)] };
        let rows = vec![StoredRow::new(captured("a", "r1", 10), 0), StoredRow::new(other, 1), StoredRow::new(third, 2)];
        let expected = format!("{rows:?}");
        let json = encode_rows(rows).expect("encode");
        assert!(
            json.starts_with(r#"{"features":["x"],"classes":["no","yes"],"rows":[[0,10,1,"v1","r1",[10],"#),
            "{json}"
        );
        assert_eq!(format!("{:?}", decode_rows(&json).expect("decode")), expected);

        // A probability that is not a number reads back as NaN, the block still whole.
        let mut odd = captured("a", "r4", 40);
        odd.prediction = Prediction::Class {
            label: 0,
            class: "no".into(),
            probabilities: vec![("no".into(), f64::NAN), ("yes".into(), 0.5)],
        };
        let back = decode_rows(&encode_rows(vec![StoredRow::new(odd, 0)]).expect("encode")).expect("decode");
        let p = back[0].probabilities.as_ref().expect("probabilities");
        assert!(p[0].1.is_nan() && p[1] == ("yes".to_owned(), 0.5), "{p:?}");

        let legacy = r#"[{"slot":0,"at_ms":5,"revision":2,"generation":"v1","request_id":"old","features":{"x":1.5},
            "label":"yes","value":null,"probabilities":[["no",0.5],["yes",0.5]],"latency_ms":0.25,
            "shadow_generation":null,"shadow_label":null,"shadow_value":null}]"#;
        let old = decode_rows(legacy).expect("legacy");
        assert_eq!(
            (old[0].request_id.as_str(), old[0].features["x"].as_f64(), old[0].label.as_deref()),
            ("old", Some(1.5), Some("yes"))
        );
        assert_eq!(old[0].probabilities, Some(vec![("no".to_owned(), 0.5), ("yes".to_owned(), 0.5)]));
    }

    /// Blocks keep each row's id and order through retention and the cap: a block across the
    /// retention time loses its old rows, the cap deletes whole blocks then the oldest rows of
    /// the next, pages and counts read rows inside blocks, and a retried batch is stored once.
    #[tokio::test]
    async fn blocks_keep_row_ids_and_order_through_retention_and_the_cap() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pool = crate::store::open_sqlite(&dir.path().join("r.db")).await.expect("open");
        let batch =
            vec![captured("a", "a1", 10), captured("b", "b1", 15), captured("a", "a2", 20), captured("a", "a3", 30)];
        let blocks = encode(batch).expect("encode");
        assert_eq!(blocks.iter().map(|b| (b.service.as_str(), b.rows)).collect::<Vec<_>>(), [("a", 3), ("b", 1)]);
        let inserted = insert(&pool, "node-1", &blocks).await.expect("insert");
        assert_eq!(inserted, HashMap::from([("a".to_owned(), 3), ("b".to_owned(), 1)]));
        assert_eq!(insert(&pool, "node-1", &blocks).await.expect("retry"), HashMap::new(), "stored once");
        assert_eq!((count(&pool, "a").await.expect("count"), count(&pool, "b").await.expect("count")), (3, 1));

        let first = page(&pool, "a", i64::MIN, i64::MAX, 0, 2).await.expect("page");
        assert_eq!(ids(&first), ["a1", "a2"]);
        let rest = page(&pool, "a", i64::MIN, i64::MAX, first[1].id, 10).await.expect("page");
        assert_eq!(ids(&rest), ["a3"]);
        assert_eq!(rest[0].instance, "node-1");
        assert_eq!(rest[0].value, Some(30.0));
        assert_eq!(count_window(&pool, "a", 15, 25).await.expect("window"), 1);
        assert_eq!(count_window(&pool, "a", 0, 100).await.expect("window"), 3);
        assert_eq!(ids(&page(&pool, "a", 15, 25, 0, 10).await.expect("page")), ["a2"]);

        // Retention at 25: the block spans 10–30, so it is rewritten, keeping a3 and its id.
        let a3 = rest[0].id;
        assert_eq!(enforce(&pool, "a", 25, 100).await.expect("retention"), 2);
        let left = list(&pool, "a", &RowFilter::default()).await.expect("list");
        assert_eq!((ids(&left), left[0].id), (vec!["a3"], a3));
        assert_eq!(count_window(&pool, "a", 0, 25).await.expect("window"), 0);

        // The cap: a newer block of three; keeping 2 deletes a3's block whole, and a4.
        let newer =
            encode(vec![captured("a", "a4", 40), captured("a", "a5", 50), captured("a", "a6", 60)]).expect("encode");
        insert(&pool, "node-2", &newer).await.expect("insert");
        let before = list(&pool, "a", &RowFilter::default()).await.expect("list");
        assert_eq!(ids(&before), ["a6", "a5", "a4", "a3"]);
        assert_eq!(trim_to_cap(&pool, "a", 2, Cut::Exact).await.expect("trim"), 2);
        let kept = list(&pool, "a", &RowFilter::default()).await.expect("list");
        assert_eq!(ids(&kept), ["a6", "a5"]);
        assert_eq!(kept.iter().map(|r| r.id).collect::<Vec<_>>(), before[..2].iter().map(|r| r.id).collect::<Vec<_>>());
        assert_eq!(trim_to_cap(&pool, "a", 2, Cut::Exact).await.expect("trim"), 0);

        // Loose: whole blocks go; the block across the cap is cut only when more than a twentieth
        // of the cap would be left over it.
        let rows = (0..44).map(|i| captured("c", &format!("c{i}"), 100 + i)).collect::<Vec<_>>();
        let (old, new) = rows.split_at(40);
        insert(&pool, "node-1", &encode(old.to_vec()).expect("encode")).await.expect("insert");
        insert(&pool, "node-1", &encode(new.to_vec()).expect("encode")).await.expect("insert");
        assert_eq!(trim_to_cap(&pool, "c", 41, Cut::Loose).await.expect("trim"), 3, "3 over, 2 allowed: cut");
        assert_eq!(trim_to_cap(&pool, "c", 40, Cut::Loose).await.expect("trim"), 0, "1 over, 2 allowed");
        assert_eq!(trim_to_cap(&pool, "c", 4, Cut::Loose).await.expect("trim"), 37, "a whole block");
        assert_eq!(trim_to_cap(&pool, "c", 2, Cut::Exact).await.expect("trim"), 2);
        let kept = list(&pool, "c", &RowFilter::default()).await.expect("list");
        assert_eq!(ids(&kept), ["c43", "c42"]);
        assert_eq!(count(&pool, "b").await.expect("count"), 1, "another service's rows stay");
    }
}
