//! The garbage collector: removes from their locations the blobs that no
//! record references any more (replaced or deleted versions, aborted
//! uploads, writes cut off by an error or a crash) and aborts the assemblies
//! of uploads given up, then forgets them.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use strata_data::{DataBackend, DataError};
use strata_meta::{Assembly, BlobAddr};

use crate::{Result, Strata};

/// How often the collector looks even when nobody woke it.
const INTERVAL: Duration = Duration::from_secs(30);
const BATCH: usize = 256;
/// Refused removals in one location before the rest of its garbage waits
/// for the next pass.
const MAX_REFUSALS_PER_PASS: u32 = 10;

impl Strata {
    /// One pass over the garbage list, a batch at a time; returns how many
    /// blobs went. A location that fails a removal (down, not configured) is
    /// skipped for the rest of the pass, and never holds up the others'
    /// garbage; a blob the location refuses to remove (a lease, a lock) is
    /// kept and its location's other blobs go on, up to a few refusals a
    /// pass (more say the location's keys may not delete at all).
    pub async fn collect_garbage(&self) -> Result<usize> {
        let mut after: Option<BlobAddr> = None;
        let mut failing: HashSet<String> = HashSet::new();
        let mut refusals: HashMap<String, u32> = HashMap::new();
        let mut total = 0;
        loop {
            let batch = self.meta.list_garbage(after.as_ref(), BATCH)?;
            let Some(last) = batch.last().cloned() else {
                return Ok(total);
            };
            let more = batch.len() == BATCH;
            let mut removed = Vec::with_capacity(batch.len());
            for blob in batch {
                if failing.contains(&blob.location) {
                    continue;
                }
                let Ok(backend) = self.locations.get(&blob.location) else {
                    tracing::warn!(location = %blob.location, "garbage in a location that is not configured; kept");
                    failing.insert(blob.location);
                    continue;
                };
                match remove_garbage(&*backend, &blob).await {
                    Ok(()) => removed.push(blob),
                    Err(e @ DataError::Refused(_)) => {
                        tracing::warn!(error = %e, blob = %blob.key, "a garbage blob's removal was refused; kept for the next pass");
                        // Many refusals are the location's keys, not its blobs.
                        let refused = refusals.entry(blob.location.clone()).or_insert(0);
                        *refused += 1;
                        if *refused >= MAX_REFUSALS_PER_PASS {
                            failing.insert(blob.location);
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, location = %blob.location, blob = %blob.key, "could not remove a garbage blob; the location's garbage waits for the next pass");
                        failing.insert(blob.location);
                    }
                }
            }
            total += removed.len();
            if !removed.is_empty() {
                self.meta.forget_garbage(removed).await?;
            }
            if !more {
                return Ok(total);
            }
            after = Some(last);
        }
    }

    /// Runs the collector until `shutdown` fires.
    pub async fn run_gc(self: Arc<Self>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        loop {
            if let Err(e) = self.collect_garbage().await {
                tracing::warn!(error = %e, "garbage collection failed");
            }
            tokio::select! {
                _ = self.gc_wakeup.notified() => {}
                _ = tokio::time::sleep(INTERVAL) => {}
                _ = shutdown.changed() => return,
            }
        }
    }
}

/// Removes one garbage entry from its location: a blob, or the assembly of
/// an upload given up.
async fn remove_garbage(backend: &dyn DataBackend, blob: &BlobAddr) -> strata_data::Result<()> {
    match Assembly::from_garbage(&blob.key) {
        Some(given_up) => backend.abort_assembly(&given_up.key, &given_up.id).await,
        None => backend.delete(&blob.key).await,
    }
}
