//! The status processor: writes data processors' reports back to the source
//! versions. Reports about one version in a batch are merged (a PROCESSING
//! then COMPLETED becomes one write), and the batch's writes share commits.
//! Rounds are paced (`ROUND_EVERY`): each round's writes are a metadata
//! commit whose fsync the source's own PUTs would otherwise queue behind,
//! hundreds of times a second under a steady load.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use futures::future::join_all;
use strata_meta::{DestinationReport, MetaError, ReplicationStatus, VersionUpdate};

use super::{Replication, STATUS_TOPIC, StatusMessage};
use crate::Result;
use crate::bus::each_partition;
use crate::worker::{Worker, WorkerState};

const BATCH: usize = 512;
const IDLE_WAIT: Duration = Duration::from_millis(500);
const GROUP: &str = STATUS_TOPIC;
/// Least time from the end of a round to the start of the next, unless it
/// took a full batch: statuses show this much later at most, and a steady
/// load costs about 10 commits a second.
const ROUND_EVERY: Duration = Duration::from_millis(100);

pub struct StatusProcessor {
    replication: Arc<Replication>,
    applied: u64,
    last_round: Option<Instant>,
}

impl StatusProcessor {
    pub fn new(replication: Arc<Replication>) -> Self {
        Self {
            replication,
            applied: 0,
            last_round: None,
        }
    }

    async fn partition(&self, partition: u32) -> Result<usize> {
        let bus = &self.replication.bus;
        let from = bus.committed(GROUP, STATUS_TOPIC, partition)?;
        let batch = bus.fetch(STATUS_TOPIC, partition, from, BATCH)?;
        let Some(last) = batch.last().map(|m| m.offset) else {
            return Ok(0);
        };
        // Latest report per (version, destination), in arrival order.
        type Version = (String, String, String);
        let mut merged: BTreeMap<Version, BTreeMap<String, DestinationReport>> = BTreeMap::new();
        for message in &batch {
            let Ok(status) = serde_json::from_slice::<StatusMessage>(&message.payload) else {
                tracing::error!(
                    offset = message.offset,
                    "skipping an unreadable status report"
                );
                continue;
            };
            merged
                .entry((status.bucket, status.key, status.version_id))
                .or_default()
                .insert(status.report.location.clone(), status.report);
        }
        let strata = &self.replication.strata;
        let writes = merged.into_iter().map(|((bucket, key, version), reports)| {
            let reports: Vec<DestinationReport> = reports.into_values().collect();
            async move {
                self.clear_failed(&bucket, &key, &version, &reports)?;
                let update = VersionUpdate::Replication(reports);
                let record = match strata
                    .meta
                    .update_version(&bucket, &key, Some(&version), update)
                    .await
                {
                    Ok(record) => record,
                    // The version (or its bucket) went meanwhile: nothing to record.
                    Err(
                        MetaError::NoSuchVersion | MetaError::NoSuchKey | MetaError::NoSuchBucket,
                    ) => return Ok(()),
                    Err(e) => return Err(e.into()),
                };
                // Checked on every report, not only the completing one, so a
                // redelivery after a crash still lets the version go.
                match strata.release_transient(&bucket, &key, &record).await {
                    Ok(Some(location)) => {
                        tracing::debug!(%bucket, %key, %version, %location, "transient source let its bytes go");
                        Ok(())
                    }
                    Ok(None) | Err(strata_core::Error::NoSuchVersion | strata_core::Error::NoSuchKey) => Ok(()),
                    Err(e) => Err(crate::EngineError::from(e)),
                }
            }
        });
        for result in join_all(writes).await {
            result?;
        }
        bus.commit(GROUP, STATUS_TOPIC, partition, last + 1).await?;
        Ok(batch.len())
    }
}

impl StatusProcessor {
    /// A version COMPLETED at a destination (by a retry, a backfill or a
    /// later round) leaves that destination's failed list, so the list
    /// and its gauge only show what still needs an operator.
    fn clear_failed(
        &self,
        bucket: &str,
        key: &str,
        version: &str,
        reports: &[DestinationReport],
    ) -> Result<()> {
        let state = &self.replication.state;
        for report in reports {
            if report.status == ReplicationStatus::Completed {
                state.remove_failed_unless(&report.location, bucket, key, version, |listed| {
                    listed.round > report.round
                })?;
            }
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl Worker for StatusProcessor {
    fn name(&self) -> String {
        "replication-status".into()
    }

    async fn work(&mut self) -> Result<WorkerState> {
        if let Some(last) = self.last_round {
            tokio::time::sleep_until(last + ROUND_EVERY).await;
        }
        let this = &*self;
        let applied = each_partition(&*self.replication.bus, |p| this.partition(p)).await?;
        // A backlog is taken at once: a full batch shares its commits anyway.
        self.last_round = (applied < BATCH).then(Instant::now);
        self.applied += applied as u64;
        Ok(WorkerState::after(applied))
    }

    async fn wait_for_work(&mut self) {
        crate::bus::wait_any(&*self.replication.bus, GROUP, STATUS_TOPIC, IDLE_WAIT).await;
    }

    fn progress(&self) -> String {
        format!("{} reports applied", self.applied)
    }
}
