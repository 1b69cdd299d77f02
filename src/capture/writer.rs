//! The batch writer: takes captured rows off the queue, applies each service's drop and hash,
//! encodes the batch once into blocks (one per service, its rows as JSON text:
//! `store::encode`) and inserts them in one transaction, off the request path. A batch the
//! registry refuses is tried again a few times, then dropped and counted; at shutdown what is
//! queued is written once more and the writer stops.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::store;
use super::{BATCH, Capture, Captured, FeatureHasher, LINGER, LINGER_STEP, apply_policy};
use crate::store::Pool;

/// Tries of one batch before its rows are dropped (and counted).
const TRIES: u32 = 3;

/// What the writer needs: the registry, this node's instance name, the capture (its queue,
/// policies and drop counters) and the key of hashed features.
pub struct Writer {
    pub pool: Pool,
    pub instance: String,
    pub capture: Arc<Capture>,
    pub hasher: FeatureHasher,
    /// Rows inserted per service since its last trim to the cap.
    pub since_trim: Mutex<HashMap<String, u64>>,
}

/// How many rows a service may gain past its last trim before it is trimmed again: a twentieth
/// of its cap. These trims mostly delete whole blocks and leave at most a twentieth over the
/// cap ([`store::Cut::Loose`]), so the rows kept stay within a tenth over the cap between
/// trims; the final flush trims to exactly the cap.
fn trim_every(cap: i64) -> u64 {
    (cap / 20).max(1) as u64
}

impl Writer {
    /// Writes rows until `shutdown`, then flushes what is queued and returns. The writer wakes
    /// a few times a second, not per row: after the first row of a batch it waits up to
    /// [`LINGER`] for a whole [`BATCH`] to be queued (not at all when it is behind: its last
    /// batch was full), then takes up to [`BATCH`] queued rows and writes them in one
    /// transaction.
    pub async fn run(self, shutdown: CancellationToken) {
        let queue = self.capture.queue();
        let mut behind = false;
        loop {
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                _ = queue.ready() => {}
            }
            if !behind {
                // Let the batch gather while the requests have the core.
                let mut waited = Duration::ZERO;
                while waited < LINGER && queue.len() < BATCH && !shutdown.is_cancelled() {
                    tokio::select! {
                        biased;
                        _ = shutdown.cancelled() => {}
                        _ = tokio::time::sleep(LINGER_STEP) => {}
                    }
                    waited += LINGER_STEP;
                }
            }
            let batch = queue.take(BATCH);
            behind = batch.len() == BATCH;
            self.write(batch, &shutdown).await;
        }
        // The final flush: nothing more is accepted; what is queued is written.
        queue.close();
        loop {
            let batch = queue.take(BATCH);
            if batch.is_empty() {
                break;
            }
            self.write(batch, &shutdown).await;
        }
        self.trim(true).await;
    }

    /// Trims each service that gained a twentieth of its cap since its last trim, loosely (`all`,
    /// at the final flush: every service that gained anything, to exactly its cap). A failed
    /// trim is retried at the next one.
    async fn trim(&self, all: bool) {
        let caps: HashMap<String, i64> = self.capture.policies().iter().map(|(s, p)| (s.clone(), p.max_rows)).collect();
        let due: Vec<(String, i64)> = {
            let counts = self.since_trim.lock().unwrap_or_else(|e| e.into_inner());
            counts
                .iter()
                .filter_map(|(s, n)| caps.get(s).map(|cap| (s, *n, *cap)))
                .filter(|(_, n, cap)| *n > 0 && (all || *n >= trim_every(*cap)))
                .map(|(s, _, cap)| (s.clone(), cap))
                .collect()
        };
        for (service, cap) in due {
            let cut = if all { store::Cut::Exact } else { store::Cut::Loose };
            match store::trim_to_cap(&self.pool, &service, cap, cut).await {
                Ok(_) => {
                    self.since_trim.lock().unwrap_or_else(|e| e.into_inner()).remove(&service);
                }
                Err(e) => tracing::warn!(%service, "capture: trimming to the cap of {cap} rows failed: {e}"),
            }
        }
    }

    /// Inserts one batch (encoded once into blocks), trying again after a failure (unless
    /// shutting down); rows the registry never took are counted as dropped.
    pub async fn write(&self, batch: Vec<Captured>, shutdown: &CancellationToken) {
        let counts: Vec<(String, u64)> = batch.iter().fold(Vec::new(), |mut counts, c| {
            match counts.iter_mut().find(|(s, _)| *s == c.service) {
                Some((_, n)) => *n += 1,
                None => counts.push((c.service.clone(), 1)),
            }
            counts
        });
        // Drop, hash and encode on the blocking pool: a whole batch takes milliseconds, which
        // the runtime's workers spend answering requests meanwhile.
        let (policies, hasher) = (self.capture.policies(), self.hasher.clone());
        let encoded = tokio::task::spawn_blocking(move || {
            let rows: Vec<Captured> = batch
                .into_iter()
                .map(|mut c| {
                    let features = std::mem::take(&mut c.features);
                    c.features = apply_policy(policies.get(&c.service).map(|p| p.as_ref()), &hasher, features);
                    c
                })
                .collect();
            store::encode(rows)
        })
        .await
        .map_err(|e| crate::error::Error::Internal(format!("encoding stopped: {e}")));
        let blocks = match encoded.and_then(|blocks| blocks) {
            Ok(blocks) => blocks,
            Err(e) => {
                tracing::warn!("capture: {e}");
                for (service, n) in counts {
                    self.capture.count_dropped(&service, n);
                }
                return;
            }
        };
        for attempt in 1..=TRIES {
            match store::insert(&self.pool, &self.instance, &blocks).await {
                Ok(inserted) => {
                    {
                        let mut counts = self.since_trim.lock().unwrap_or_else(|e| e.into_inner());
                        for (service, n) in inserted {
                            *counts.entry(service).or_default() += n;
                        }
                    }
                    self.trim(false).await;
                    return;
                }
                Err(e) => {
                    let rows: u64 = blocks.iter().map(|b| b.rows).sum();
                    tracing::warn!("capture: writing {rows} rows failed (try {attempt} of {TRIES}): {e}");
                    if attempt == TRIES || shutdown.is_cancelled() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
                }
            }
        }
        for block in &blocks {
            self.capture.count_dropped(&block.service, block.rows);
        }
    }
}
