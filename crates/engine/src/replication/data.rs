//! A data processor: one per destination, consuming that destination's
//! topic. Each task copies one version (retrying with backoff), reports
//! PROCESSING and then COMPLETED or FAILED, and failures join the failed list.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::{self, JoinError, JoinSet};
use tokio::time::Instant;

use strata_data::{DataBackend, DataError};
use strata_meta::{
    DestinationReport, ListEntry, ListQuery, ObjectRecord, ReplicationStatus, VersionQuery,
};

use super::copy::{abort_left_uploads, send_version};
use super::destinations::Lifeline;
use super::{Replication, Task, data_topic};
use crate::bus::{Delivered, Durability};
use crate::state::FailedEntry;
use crate::worker::{Worker, WorkerState};
use crate::{EngineError, Result};
use strata_core::replication::META_VERSION_ID;

/// A task and the report on it for the status processor.
type Report = (Task, DestinationReport);

/// Tasks taken from a partition per unit of work.
const BATCH: usize = 32;
/// How long a copy runs before its version is reported PROCESSING.
const PROCESSING_AFTER: Duration = Duration::from_millis(200);
/// Breaker refusals a version waits out before they count as failures.
const MAX_REFUSALS: u32 = 100;
const MIN_REFUSAL_WAIT: Duration = Duration::from_millis(100);
/// Longest an idle processor waits before looking again.
const IDLE_WAIT: Duration = Duration::from_millis(500);
/// Longest a busy processor waits for a batch before looking around.
const BATCH_WAIT: Duration = Duration::from_millis(200);
/// A partition whose batch failed waits this long, doubling per failure in
/// a row up to the maximum.
const FAILED_BATCH_PAUSE: Duration = Duration::from_millis(500);
const MAX_FAILED_BATCH_PAUSE: Duration = Duration::from_secs(60);
/// Versions read per page when looking for a newer bound one.
const SUPERSEDED_PAGE: usize = 16;

pub struct DataProcessor {
    copier: Arc<Copier>,
    /// Stops the processor when its location goes (see `Destinations`).
    lifeline: Arc<Lifeline>,
    /// Each partition's batch runs as a task of its own, so a long copy in
    /// one partition holds up no other.
    batches: JoinSet<Result<usize>>,
    /// The partition each running batch belongs to.
    batch_partitions: HashMap<task::Id, u32>,
    partitions: Vec<PartitionState>,
    done: u64,
    paused: bool,
    /// Whether the uploads earlier copies left open were aborted: once, at
    /// the start, while no copy of this processor's runs.
    left_uploads_aborted: bool,
    /// The latest failed batch, for the worker listing.
    last_failure: Option<String>,
}

/// One partition as its data processor sees it.
#[derive(Debug, Clone, Default)]
struct PartitionState {
    running: bool,
    /// Batches failed in a row, and when the partition may try again: a
    /// failing partition backs off alone, the others go on.
    failures: u32,
    retry_at: Option<Instant>,
}

/// What a data processor's partitions share: the destination and how
/// versions are sent to it.
struct Copier {
    replication: Arc<Replication>,
    location: String,
    /// The location's backend when the processor started.
    backend: Arc<dyn DataBackend>,
    topic: String,
}

impl DataProcessor {
    pub fn new(
        replication: Arc<Replication>,
        location: &str,
        backend: Arc<dyn DataBackend>,
        lifeline: Arc<Lifeline>,
    ) -> Self {
        let partitions = replication.bus.partitions() as usize;
        Self {
            copier: Arc::new(Copier {
                replication,
                location: location.to_string(),
                backend,
                topic: data_topic(location),
            }),
            lifeline,
            batches: JoinSet::new(),
            batch_partitions: HashMap::new(),
            partitions: vec![PartitionState::default(); partitions],
            done: 0,
            paused: false,
            left_uploads_aborted: false,
            last_failure: None,
        }
    }

    /// Starts a batch in every partition that has tasks, none running and
    /// no backoff to wait out.
    fn start_batches(&mut self) -> Result<()> {
        let copier = &self.copier;
        let bus = &copier.replication.bus;
        let now = Instant::now();
        for (partition, state) in (0..).zip(self.partitions.iter_mut()) {
            if state.running
                || state.retry_at.is_some_and(|at| at > now)
                || bus.end_offset(&copier.topic, partition)?
                    <= bus.committed(copier.group(), &copier.topic, partition)?
            {
                continue;
            }
            state.running = true;
            let copier = copier.clone();
            let batch = self
                .batches
                .spawn(async move { copier.partition(partition).await });
            self.batch_partitions.insert(batch.id(), partition);
        }
        Ok(())
    }

    /// Takes in a finished batch (or one that panicked): counts what it did,
    /// or backs its partition off.
    fn finished(&mut self, batch: std::result::Result<(task::Id, Result<usize>), JoinError>) {
        let (id, outcome) = match batch {
            Ok(done) => done,
            Err(e) => (
                e.id(),
                Err(EngineError::Storage(format!("a batch ended: {e}"))),
            ),
        };
        let Some(partition) = self.batch_partitions.remove(&id) else {
            return;
        };
        let Some(state) = self.partitions.get_mut(partition as usize) else {
            return;
        };
        state.running = false;
        match outcome {
            Ok(done) => {
                self.done += done as u64;
                state.failures = 0;
                state.retry_at = None;
            }
            Err(e) => {
                let pause = FAILED_BATCH_PAUSE
                    .saturating_mul(1 << state.failures.min(8))
                    .min(MAX_FAILED_BATCH_PAUSE);
                state.failures += 1;
                state.retry_at = Some(Instant::now() + pause);
                tracing::warn!(location = %self.copier.location, partition, error = %e, ?pause, "a replication batch failed; its partition tries again after a pause");
                self.last_failure = Some(format!("partition {partition}: {e}"));
            }
        }
    }
}

impl Copier {
    /// See `copy::abort_left_uploads`: only while none of this location's
    /// copies runs.
    async fn abort_left_uploads(&self) -> Result<()> {
        abort_left_uploads(&self.replication, &self.location, &*self.backend).await
    }

    /// The processor's consumer group: the topic's own name.
    fn group(&self) -> &str {
        &self.topic
    }

    /// Works through one partition's batch in order; reports its outcomes
    /// in one publish, then commits what it did (in that order, so a crash
    /// never keeps the commit without the reports: see `Durability::Deferred`).
    async fn partition(&self, partition: u32) -> Result<usize> {
        let bus = &self.replication.bus;
        let from = bus.committed(self.group(), &self.topic, partition)?;
        let batch = bus.fetch(&self.topic, partition, from, BATCH)?;
        let mut next = from;
        let mut done = 0;
        let mut reports = Vec::new();
        let mut failure = None;
        for message in &batch {
            if self.replication.is_paused(&self.location)? {
                break;
            }
            match self.handle(message).await {
                Ok(report) => reports.extend(report),
                // What the batch finished is still reported and committed,
                // so a retry does not copy it again.
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
            next = message.offset + 1;
            done += 1;
        }
        self.replication
            .publish_status(reports, Durability::Deferred)
            .await?;
        if next > from {
            bus.commit(self.group(), &self.topic, partition, next)
                .await?;
        }
        failure.map_or(Ok(done), Err)
    }

    /// Sends a task's version; its outcome (COMPLETED or FAILED) is the
    /// report to publish, none when there was nothing to do.
    async fn handle(&self, message: &Delivered) -> Result<Option<Report>> {
        let task: Task = match serde_json::from_slice(&message.payload) {
            Ok(task) => task,
            Err(e) => {
                tracing::error!(topic = %self.topic, offset = message.offset, error = %e, "skipping an unreadable replication task");
                return Ok(None);
            }
        };
        let meta = &self.replication.strata.meta;
        let record = match meta.get_version(&task.bucket, &task.key, &task.version_id) {
            Ok(Some(record)) => record,
            // Deleted for good since (or its bucket went): nothing to send.
            Ok(None)
            | Err(
                strata_meta::MetaError::NoSuchBucket | strata_meta::MetaError::InvalidVersionId,
            ) => {
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        };
        let Some(state) = record
            .replication
            .as_ref()
            .and_then(|r| r.destination(&self.location))
        else {
            return Ok(None);
        };
        // A newer round supersedes this task; a finished round needs nothing.
        let finished = state.round == task.round && state.status == ReplicationStatus::Completed;
        if state.round > task.round || finished {
            return Ok(None);
        }
        if !self.backend.keeps_versions() && self.superseded(&task).await? {
            // The destination keeps one copy per key, and it holds (or is to
            // hold) a newer version's: this one would go over it.
            let report = self.report(&task, ReplicationStatus::Completed, None);
            return Ok(Some((task, report)));
        }
        // PROCESSING is for copies under way long enough to be seen: a quick
        // one goes straight from PENDING to COMPLETED, sparing a durable bus
        // write per version. (The send is not polled while PROCESSING is
        // published, so its report can never overtake COMPLETED.)
        let send = self.send_with_retries(&task, &record);
        tokio::pin!(send);
        tokio::select! {
            sent = &mut send => return sent.map(|report| Some((task.clone(), report))),
            _ = tokio::time::sleep(PROCESSING_AFTER) => {}
        }
        let processing = self.report(&task, ReplicationStatus::Processing, None);
        self.replication
            .publish_status(vec![(task.clone(), processing)], Durability::Deferred)
            .await?;
        Ok(Some((task.clone(), send.await?)))
    }

    /// Whether the destination holds, or is to hold, something newer than
    /// the task's version of its key: a newer version bound for it that is
    /// COMPLETED there, or a delete marker not FAILED (the destination must
    /// end without the object), or its current copy, by the source version
    /// id written on it, is a newer version's (a copy made by this very
    /// batch, whose COMPLETED has not reached the record yet). A newer
    /// version still on its way, failed or deleted since does not count:
    /// this one is then sent. The newest version of a key is never
    /// superseded, and pays no lookup at the destination.
    async fn superseded(&self, task: &Task) -> Result<bool> {
        let newer = self.newer_versions(task)?;
        if newer.is_empty() {
            return Ok(false);
        }
        let here = |record: &ObjectRecord| {
            record
                .replication
                .as_ref()
                .filter(|r| !r.is_replica())
                .and_then(|r| r.destination(&self.location))
                .map(|d| d.status)
        };
        let decided = newer.iter().any(|record| match here(record) {
            Some(ReplicationStatus::Completed) => true,
            Some(ReplicationStatus::Failed) | None => false,
            Some(_) => record.delete_marker,
        });
        if decided {
            return Ok(true);
        }
        let current = self.backend.head_copy(&task.bucket, &task.key).await?;
        let current_version = current
            .as_ref()
            .and_then(|(_, attributes)| attributes.metadata.get(META_VERSION_ID));
        Ok(current_version.is_some_and(|v| {
            newer
                .iter()
                .any(|r| r.version_name() == v && here(r).is_some())
        }))
    }

    /// The versions of the task's key newer than its version, newest first
    /// (none when it is the newest, the usual case: one read).
    fn newer_versions(&self, task: &Task) -> Result<Vec<ObjectRecord>> {
        let meta = &self.replication.strata.meta;
        let mut query = VersionQuery {
            list: ListQuery {
                prefix: task.key.clone(),
                limit: SUPERSEDED_PAGE,
                ..Default::default()
            },
            version_id_marker: None,
        };
        let mut newer = Vec::new();
        loop {
            let page = meta.list_versions(&task.bucket, &query)?;
            for entry in &page.entries {
                let ListEntry::Object(key, listed) = entry else {
                    continue;
                };
                let version = listed.record.version_name();
                if *key != task.key || version == task.version_id {
                    return Ok(newer);
                }
                query.list.start_after = Some(key.clone());
                query.version_id_marker = Some(version.to_string());
                newer.push(listed.record.clone());
            }
            if page.entries.len() < SUPERSEDED_PAGE {
                return Ok(newer);
            }
        }
    }

    /// Copies the version, retrying; the report of how it ended.
    async fn send_with_retries(
        &self,
        task: &Task,
        record: &ObjectRecord,
    ) -> Result<DestinationReport> {
        let replication = &self.replication;
        let policy = replication.retry;
        let metrics = &replication.metrics;
        let (mut attempt, mut refusals) = (0, 0);
        loop {
            let progress = |sent| metrics.progress(&self.location, task, sent);
            let sent = send_version(
                replication,
                &self.location,
                &*self.backend,
                &task.bucket,
                &task.key,
                record,
                &progress,
            )
            .await;
            metrics.progress_done(&self.location, task);
            match sent {
                Ok(sent) => {
                    metrics.completed(&self.location, sent.bytes, task.at_ms);
                    return Ok(DestinationReport {
                        copy_version: sent.copy_version,
                        ..DestinationReport::new(
                            &self.location,
                            task.round,
                            ReplicationStatus::Completed,
                        )
                    });
                }
                // The destination's breaker is open: nothing was tried, so no
                // attempt is spent; wait until it lets a call through. (Else
                // a short outage would fail every version in flight at once.)
                Err(EngineError::Data(DataError::CircuitOpen { retry_in, .. }))
                    if refusals < MAX_REFUSALS =>
                {
                    refusals += 1;
                    tokio::time::sleep(retry_in.max(MIN_REFUSAL_WAIT) + policy.backoff(0)).await;
                }
                Err(e) if attempt + 1 < policy.attempts => {
                    tracing::debug!(location = %self.location, key = %task.key, attempt, error = %e, "replication attempt failed; retrying");
                    tokio::time::sleep(policy.backoff(attempt)).await;
                    attempt += 1;
                }
                Err(e) => {
                    let error = format!("{}: {e}", self.location);
                    tracing::warn!(location = %self.location, bucket = %task.bucket, key = %task.key, version = %task.version_id, error = %e, "replication failed after retries");
                    metrics.failed(&self.location, task.size);
                    replication.state.add_failed(&FailedEntry {
                        location: self.location.clone(),
                        bucket: task.bucket.clone(),
                        key: task.key.clone(),
                        version_id: task.version_id.clone(),
                        round: task.round,
                        size: task.size,
                        error: error.clone(),
                        attempts: attempt + 1,
                        failed_ms: crate::now_ms(),
                    })?;
                    return Ok(self.report(task, ReplicationStatus::Failed, Some(error)));
                }
            }
        }
    }

    fn report(
        &self,
        task: &Task,
        status: ReplicationStatus,
        error: Option<String>,
    ) -> DestinationReport {
        DestinationReport {
            error,
            ..DestinationReport::new(&self.location, task.round, status)
        }
    }
}

#[async_trait::async_trait]
impl Worker for DataProcessor {
    fn name(&self) -> String {
        format!("replication-data {}", self.copier.location)
    }

    async fn work(&mut self) -> Result<WorkerState> {
        if self.lifeline.stopped() {
            // Copies under way are abandoned (their tasks are redone by a
            // successor): at-least-once.
            self.batches.shutdown().await;
            self.copier.abort_left_uploads().await?;
            self.lifeline.end();
            return Ok(WorkerState::Done);
        }
        self.paused = self.copier.replication.is_paused(&self.copier.location)?;
        if !self.paused {
            if !self.left_uploads_aborted {
                self.copier.abort_left_uploads().await?;
                self.left_uploads_aborted = true;
            }
            self.start_batches()?;
        }
        if self.batches.is_empty() {
            return Ok(if self.paused {
                WorkerState::Paused
            } else {
                WorkerState::Idle
            });
        }
        // Back every so often while batches run, to start the partitions
        // that got tasks meanwhile and to see a pause or the lifeline.
        let next = tokio::time::timeout(BATCH_WAIT, self.batches.join_next_with_id()).await;
        if let Ok(Some(batch)) = next {
            self.finished(batch);
            while let Some(batch) = self.batches.try_join_next_with_id() {
                self.finished(batch);
            }
        }
        Ok(WorkerState::Busy)
    }

    async fn wait_for_work(&mut self) {
        if self.paused {
            // Resumed by the operator, or by a schedule: looked at each second.
            return tokio::time::sleep(Duration::from_secs(1)).await;
        }
        // A partition waiting out its pause still has tasks, which would
        // wake the wait below at once: look again after a while instead.
        if self.partitions.iter().any(|p| p.retry_at.is_some()) {
            return tokio::time::sleep(IDLE_WAIT).await;
        }
        let copier = &self.copier;
        crate::bus::wait_any(
            &*copier.replication.bus,
            copier.group(),
            &copier.topic,
            IDLE_WAIT,
        )
        .await;
    }

    fn progress(&self) -> String {
        let paused = if self.paused { ", paused" } else { "" };
        let failure = self
            .last_failure
            .as_ref()
            .map(|f| format!("; last failed batch: {f}"))
            .unwrap_or_default();
        format!("{} tasks done{paused}{failure}", self.done)
    }
}
