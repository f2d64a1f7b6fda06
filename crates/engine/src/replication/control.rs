//! What operators see and steer: per-destination metrics and backlog (read
//! from the bus), per-object progress, the failed list and its retry, and
//! pause / resume. The HTTP API and the CLI are thin layers over this.

use serde::{Deserialize, Serialize};
use strata_meta::{DestinationReport, ReplicationStatus};

use super::metrics::Totals;
use super::{Replication, Task, data_topic};
use crate::bus::Durability;
use crate::state::{FailedEntry, Pause};
use crate::{EngineError, Result};

/// Most pending tasks read per partition to sum a backlog's bytes: beyond
/// it the bytes are a floor (`capped`), so a metrics scrape costs the same
/// (about 32,000 small JSON reads per destination at most) however far a
/// stopped destination has fallen behind.
const BACKLOG_SCAN: usize = 1_000;

/// Tasks a destination has yet to finish.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Backlog {
    pub objects: u64,
    pub bytes: u64,
    /// When the oldest pending change was committed at the source.
    pub oldest_ms: Option<i64>,
    /// True when the backlog was too long to read whole: `bytes` is then a
    /// floor, and `objects` comes from the bus offsets.
    pub capped: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DestinationMetrics {
    pub location: String,
    pub paused: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resume_at_ms: Option<i64>,
    pub backlog: Backlog,
    /// Age of the oldest pending change: the recovery point objective.
    pub rpo_seconds: f64,
    /// Entries in the failed list now.
    pub failed_entries: u64,
    #[serde(flatten)]
    pub totals: Totals,
}

/// Every destination's metrics, and all of them together.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AllMetrics {
    pub overall: Overall,
    pub destinations: Vec<DestinationMetrics>,
}

/// The destinations together: backlogs, counts and rates summed; the RPO
/// and the delay percentiles are the worst destination's.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Overall {
    pub backlog: Backlog,
    pub rpo_seconds: f64,
    pub failed_entries: u64,
    pub paused_destinations: u64,
    #[serde(flatten)]
    pub totals: Totals,
}

/// One version's replication, destination by destination.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ObjectProgress {
    pub bucket: String,
    pub key: String,
    pub version_id: String,
    pub status: String,
    pub destinations: Vec<DestinationProgress>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DestinationProgress {
    pub location: String,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub bytes_sent: u64,
    pub bytes_total: u64,
}

/// A failed entry an operator asks to retry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryTarget {
    pub location: String,
    pub bucket: String,
    pub key: String,
    pub version_id: String,
}

impl Replication {
    /// Whether a destination is paused now; a scheduled resume whose time
    /// came is carried out here.
    pub fn is_paused(&self, location: &str) -> Result<bool> {
        match self.state.pause(location)? {
            Some(Pause {
                resume_at_ms: Some(at),
            }) if at <= crate::now_ms() => {
                self.state.set_pause(location, None)?;
                tracing::info!(location, "replication resumed as scheduled");
                Ok(false)
            }
            Some(_) => Ok(true),
            None => Ok(false),
        }
    }

    fn known(&self, location: &str) -> Result<()> {
        if self.strata.locations.contains(location) {
            Ok(())
        } else {
            Err(EngineError::Invalid(format!(
                "no such location: {location}"
            )))
        }
    }

    pub fn pause(&self, location: &str) -> Result<()> {
        self.known(location)?;
        self.state
            .set_pause(location, Some(&Pause { resume_at_ms: None }))
    }

    /// Resumes now (None), or at `at_ms` a destination that is paused (one
    /// that is not is refused: scheduling its resume must not pause it).
    pub fn resume(&self, location: &str, at_ms: Option<i64>) -> Result<()> {
        self.known(location)?;
        match at_ms {
            None => self.state.set_pause(location, None),
            Some(_) if !self.is_paused(location)? => Err(EngineError::Invalid(format!(
                "replication to {location} is not paused: there is nothing to resume"
            ))),
            Some(at) => self.state.set_pause(
                location,
                Some(&Pause {
                    resume_at_ms: Some(at),
                }),
            ),
        }
    }

    pub fn backlog(&self, location: &str) -> Result<Backlog> {
        let topic = data_topic(location);
        let group = topic.as_str();
        let mut backlog = Backlog::default();
        for partition in 0..self.bus.partitions() {
            let from = self.bus.committed(group, &topic, partition)?;
            let end = self.bus.end_offset(&topic, partition)?;
            if end <= from {
                continue;
            }
            let pending = self.bus.fetch(&topic, partition, from, BACKLOG_SCAN)?;
            // Retention keeps every unprocessed task, so the offsets count them.
            backlog.objects += end - from;
            backlog.capped |= end - from > pending.len() as u64;
            for message in pending {
                let Ok(task) = serde_json::from_slice::<Task>(&message.payload) else {
                    continue;
                };
                backlog.bytes += task.size;
                backlog.oldest_ms =
                    Some(backlog.oldest_ms.map_or(task.at_ms, |o| o.min(task.at_ms)));
            }
        }
        Ok(backlog)
    }

    pub fn metrics(&self, location: &str) -> Result<DestinationMetrics> {
        self.known(location)?;
        let backlog = self.backlog(location)?;
        let pause = self.state.pause(location)?;
        let rpo_seconds = backlog.oldest_ms.map_or(0.0, |oldest| {
            (crate::now_ms() - oldest).max(0) as f64 / 1000.0
        });
        Ok(DestinationMetrics {
            location: location.to_string(),
            paused: pause.is_some(),
            resume_at_ms: pause.and_then(|p| p.resume_at_ms),
            rpo_seconds,
            failed_entries: self
                .state
                .failed_counts()?
                .get(location)
                .copied()
                .unwrap_or(0),
            totals: self.metrics.totals(location),
            backlog,
        })
    }

    /// Every destination's metrics.
    pub fn all_metrics(&self) -> Result<Vec<DestinationMetrics>> {
        self.destinations()
            .iter()
            .map(|l| self.metrics(l))
            .collect()
    }

    /// Every destination's metrics and their sum (Zenko's `metrics/crr/all`).
    pub fn overall_metrics(&self) -> Result<AllMetrics> {
        let destinations = self.all_metrics()?;
        let mut overall = Overall::default();
        for d in &destinations {
            let (all, one) = (&mut overall, &d.totals);
            all.backlog.objects += d.backlog.objects;
            all.backlog.bytes += d.backlog.bytes;
            all.backlog.capped |= d.backlog.capped;
            all.backlog.oldest_ms = match (all.backlog.oldest_ms, d.backlog.oldest_ms) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            all.rpo_seconds = all.rpo_seconds.max(d.rpo_seconds);
            all.failed_entries += d.failed_entries;
            all.paused_destinations += u64::from(d.paused);
            all.totals.completed_objects += one.completed_objects;
            all.totals.completed_bytes += one.completed_bytes;
            all.totals.failed_objects += one.failed_objects;
            all.totals.failed_bytes += one.failed_bytes;
            all.totals.objects_per_second += one.objects_per_second;
            all.totals.bytes_per_second += one.bytes_per_second;
            all.totals.delay_p50_ms = all.totals.delay_p50_ms.max(one.delay_p50_ms);
            all.totals.delay_p99_ms = all.totals.delay_p99_ms.max(one.delay_p99_ms);
        }
        Ok(AllMetrics {
            overall,
            destinations,
        })
    }

    pub fn failed(
        &self,
        location: Option<&str>,
        after: Option<&RetryTarget>,
        limit: usize,
    ) -> Result<Vec<FailedEntry>> {
        let after = after.map(|a| FailedEntry {
            location: a.location.clone(),
            bucket: a.bucket.clone(),
            key: a.key.clone(),
            version_id: a.version_id.clone(),
            round: 0,
            size: 0,
            error: String::new(),
            attempts: 0,
            failed_ms: 0,
        });
        self.state.list_failed(location, after.as_ref(), limit)
    }

    /// Sends failed entries again: each goes back to PENDING and to its
    /// destination's queue, then leaves the failed list (in that order, so
    /// a crash in between leaves it listed rather than lost). Returns the
    /// entries retried (targets not in the failed list, or whose location
    /// is gone, with no processor to send them, are skipped and stay).
    pub async fn retry(&self, targets: &[RetryTarget]) -> Result<Vec<FailedEntry>> {
        let mut retried = Vec::new();
        for t in targets {
            if !self.strata.locations.contains(&t.location) {
                continue;
            }
            let Some(entry) =
                self.state
                    .failed_entry(&t.location, &t.bucket, &t.key, &t.version_id)?
            else {
                continue;
            };
            let task = Task {
                bucket: entry.bucket.clone(),
                key: entry.key.clone(),
                version_id: entry.version_id.clone(),
                round: entry.round,
                size: entry.size,
                at_ms: crate::now_ms(),
            };
            let pending =
                DestinationReport::new(&entry.location, entry.round, ReplicationStatus::Pending);
            self.publish_status(vec![(task.clone(), pending)], Durability::Immediate)
                .await?;
            self.publish_task(&entry.location, &task).await?;
            // Unless the retry already failed again (a newer entry).
            self.state.remove_failed_unless(
                &entry.location,
                &entry.bucket,
                &entry.key,
                &entry.version_id,
                |listed| listed.failed_ms != entry.failed_ms,
            )?;
            retried.push(entry);
        }
        Ok(retried)
    }

    pub fn progress(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<ObjectProgress> {
        let meta = &self.strata.meta;
        let record = match version_id {
            Some(id) => meta.get_version(bucket, key, id)?,
            None => meta.latest_version(bucket, key)?,
        }
        .ok_or_else(|| EngineError::Invalid(format!("no such version of {bucket}/{key}")))?;
        let version_id = record.version_name().to_string();
        let replication = record.replication.clone();
        let destinations = replication
            .iter()
            .flat_map(|r| &r.destinations)
            .map(|d| {
                let task = Task {
                    bucket: bucket.to_string(),
                    key: key.to_string(),
                    version_id: version_id.clone(),
                    round: d.round,
                    size: record.size,
                    at_ms: 0,
                };
                let done = d.status == ReplicationStatus::Completed;
                let (sent, total) = self
                    .metrics
                    .in_flight(&d.location, &task)
                    .unwrap_or((if done { record.size } else { 0 }, record.size));
                DestinationProgress {
                    location: d.location.clone(),
                    status: d.status.as_str().to_string(),
                    error: d.error.clone(),
                    bytes_sent: sent,
                    bytes_total: total,
                }
            })
            .collect();
        Ok(ObjectProgress {
            bucket: bucket.to_string(),
            key: key.to_string(),
            version_id,
            status: replication
                .map_or("NONE", |r| r.status.as_str())
                .to_string(),
            destinations,
        })
    }
}
