//! Backfill: binds versions written before a replication rule to the rule's
//! destinations and queues them, page by page, saving its place after each
//! page so a restarted server (or a repeated command) resumes, never restarts.
//! Versions still PENDING somewhere are queued again, so a backfill also
//! repairs a version whose task was never queued.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use strata_meta::{DestinationReport, ListQuery, ReplicationStatus, VersionQuery, VersionUpdate};

use super::{Replication, Task};
use crate::Result;
use crate::worker::{Worker, WorkerState};

const PAGE: usize = 500;

/// A backfill's progress, saved after every page.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BackfillProgress {
    pub bucket: String,
    /// Versions in the bucket when the backfill started (and their bytes).
    pub total_objects: u64,
    pub total_bytes: u64,
    /// Versions looked at so far, and those queued for some destination.
    pub scanned_objects: u64,
    pub scanned_bytes: u64,
    pub queued_objects: u64,
    pub queued_bytes: u64,
    /// Where the next page starts: after this key and version.
    pub after_key: Option<String>,
    pub after_version: Option<String>,
    pub done: bool,
    pub started_ms: i64,
}

pub fn job_name(bucket: &str) -> String {
    format!("backfill/{bucket}")
}

impl Replication {
    /// Starts a bucket's backfill, or picks up an unfinished one. A finished
    /// one starts over: versions already bound and no longer PENDING are
    /// skipped, so it only queues what is new or still pending.
    pub fn start_backfill(&self, bucket: &str) -> Result<BackfillProgress> {
        if self.strata.meta.get_bucket(bucket)?.is_none() {
            return Err(crate::EngineError::Invalid(format!(
                "no such bucket: {bucket}"
            )));
        }
        if let Some(progress) = self.state.job::<BackfillProgress>(&job_name(bucket))?
            && !progress.done
        {
            return Ok(progress);
        }
        let (total_objects, total_bytes) = self.count_versions(bucket)?;
        let progress = BackfillProgress {
            bucket: bucket.to_string(),
            total_objects,
            total_bytes,
            started_ms: crate::now_ms(),
            ..Default::default()
        };
        self.state.save_job(&job_name(bucket), &progress)?;
        Ok(progress)
    }

    pub fn backfill_progress(&self, bucket: &str) -> Result<Option<BackfillProgress>> {
        self.state.job(&job_name(bucket))
    }

    /// Unfinished backfills, to resume at start-up.
    pub fn unfinished_backfills(&self) -> Result<Vec<String>> {
        Ok(self
            .state
            .jobs::<BackfillProgress>("backfill/")?
            .into_iter()
            .filter(|(_, p)| !p.done)
            .map(|(_, p)| p.bucket)
            .collect())
    }

    fn count_versions(&self, bucket: &str) -> Result<(u64, u64)> {
        let (mut objects, mut bytes) = (0, 0);
        let mut query = page_query(None, None);
        loop {
            let page = self.strata.meta.list_versions(bucket, &query)?;
            let mut last = None;
            for entry in &page.entries {
                if let strata_meta::ListEntry::Object(key, v) = entry {
                    objects += 1;
                    bytes += v.record.size;
                    last = Some((key.clone(), v.record.version_name().to_string()));
                }
            }
            match last {
                Some((key, version)) if page.entries.len() == PAGE => {
                    query = page_query(Some(key), Some(version));
                }
                _ => return Ok((objects, bytes)),
            }
        }
    }
}

fn page_query(after_key: Option<String>, after_version: Option<String>) -> VersionQuery {
    VersionQuery {
        list: ListQuery {
            start_after: after_key,
            limit: PAGE,
            ..Default::default()
        },
        version_id_marker: after_version,
    }
}

pub struct Backfill {
    replication: Arc<Replication>,
    bucket: String,
}

impl Backfill {
    pub fn new(replication: Arc<Replication>, bucket: &str) -> Self {
        Self {
            replication,
            bucket: bucket.to_string(),
        }
    }
}

#[async_trait::async_trait]
impl Worker for Backfill {
    fn name(&self) -> String {
        format!("replication-backfill {}", self.bucket)
    }

    async fn work(&mut self) -> Result<WorkerState> {
        let replication = &self.replication;
        let name = job_name(&self.bucket);
        let Some(mut progress) = replication.state.job::<BackfillProgress>(&name)? else {
            return Ok(WorkerState::Done);
        };
        if progress.done {
            return Ok(WorkerState::Done);
        }
        let meta = &replication.strata.meta;
        let query = page_query(progress.after_key.clone(), progress.after_version.clone());
        let page = meta.list_versions(&self.bucket, &query)?;
        for entry in &page.entries {
            let strata_meta::ListEntry::Object(key, listed) = entry else {
                continue;
            };
            let record = &listed.record;
            let version_id = record.version_name().to_string();
            progress.scanned_objects += 1;
            progress.scanned_bytes += record.size;
            progress.after_key = Some(key.clone());
            progress.after_version = Some(version_id.clone());
            if record.replication.as_ref().is_some_and(|r| r.is_replica()) {
                continue;
            }
            let wanted = replication
                .strata
                .replication_destinations(&self.bucket, key, record)?;
            // (location, round) of each destination to queue: the unbound
            // ones, and those still PENDING. A PENDING one may never have been
            // queued (a crash, or a failed publish, after an earlier pass of
            // this page bound it); queueing it again at worst repeats a copy.
            let mut unbound = Vec::new();
            let mut queue = Vec::new();
            for location in wanted {
                match record
                    .replication
                    .as_ref()
                    .and_then(|r| r.destination(&location))
                {
                    None => {
                        queue.push((location.clone(), 0));
                        unbound.push(location);
                    }
                    Some(d) if d.status == ReplicationStatus::Pending => {
                        queue.push((location, d.round));
                    }
                    Some(_) => {}
                }
            }
            if queue.is_empty() {
                continue;
            }
            if !unbound.is_empty() {
                let reports = unbound
                    .iter()
                    .map(|l| DestinationReport::new(l, 0, ReplicationStatus::Pending))
                    .collect();
                meta.update_version(
                    &self.bucket,
                    key,
                    Some(&version_id),
                    VersionUpdate::Replication(reports),
                )
                .await?;
            }
            for (location, round) in &queue {
                let task = Task {
                    bucket: self.bucket.clone(),
                    key: key.clone(),
                    version_id: version_id.clone(),
                    round: *round,
                    size: record.size,
                    at_ms: crate::now_ms(),
                };
                replication.publish_task(location, &task).await?;
            }
            progress.queued_objects += 1;
            progress.queued_bytes += record.size;
        }
        progress.done = page.entries.len() < PAGE;
        replication.state.save_job(&name, &progress)?;
        Ok(if progress.done {
            tracing::info!(bucket = %self.bucket, queued = progress.queued_objects, "backfill finished");
            WorkerState::Done
        } else {
            WorkerState::Busy
        })
    }

    async fn wait_for_work(&mut self) {}

    fn progress(&self) -> String {
        match self.replication.backfill_progress(&self.bucket) {
            Ok(Some(p)) => format!(
                "{}/{} versions scanned, {} queued",
                p.scanned_objects, p.total_objects, p.queued_objects
            ),
            _ => String::new(),
        }
    }
}
