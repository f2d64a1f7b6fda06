//! The garbage collector: removes from their locations the blobs that no
//! record references any more (replaced or deleted versions, aborted
//! uploads, writes cut off by an error or a crash) and aborts the assemblies
//! of uploads given up, then forgets them.

use std::sync::Arc;
use std::time::Duration;

use strata_meta::Assembly;

use crate::{Result, Strata};

/// How often the collector looks even when nobody woke it.
const INTERVAL: Duration = Duration::from_secs(30);
const BATCH: usize = 256;

impl Strata {
    /// Removes one batch of garbage; returns how many blobs went.
    pub async fn collect_garbage_once(&self) -> Result<usize> {
        let batch = self.meta.list_garbage(BATCH)?;
        let mut removed = Vec::with_capacity(batch.len());
        for blob in batch {
            let backend = match self.locations.get(&blob.location) {
                Ok(b) => b,
                Err(_) => {
                    tracing::warn!(location = %blob.location, "garbage in a location that is not configured; kept");
                    continue;
                }
            };
            let removal = match Assembly::from_garbage(&blob.key) {
                Some(given_up) => backend.abort_assembly(&given_up.key, &given_up.id).await,
                None => backend.delete(&blob.key).await,
            };
            match removal {
                Ok(()) => removed.push(blob),
                Err(e) => {
                    tracing::warn!(error = %e, blob = %blob.key, "could not remove a garbage blob; will retry")
                }
            }
        }
        let n = removed.len();
        if n > 0 {
            self.meta.forget_garbage(removed).await?;
        }
        Ok(n)
    }

    /// Runs the collector until `shutdown` fires.
    pub async fn run_gc(self: Arc<Self>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        loop {
            loop {
                match self.collect_garbage_once().await {
                    Ok(BATCH) => continue,
                    Ok(_) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "garbage collection failed");
                        break;
                    }
                }
            }
            tokio::select! {
                _ = self.gc_wakeup.notified() => {}
                _ = tokio::time::sleep(INTERVAL) => {}
                _ = shutdown.changed() => return,
            }
        }
    }
}
