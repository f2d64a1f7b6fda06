//! Cross-cloud replication, the engine's first extension: the filter that
//! turns journal entries into per-destination tasks, the data processors
//! that copy versions, the status processor that writes their outcome back
//! to the source version, and the operator's controls over all of it.

mod backfill;
mod control;
mod copy;
mod data;
mod destinations;
mod metrics;
mod status;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use strata_core::Strata;
use strata_meta::{Change, DestinationReport, JournalEntry, JournalOp, ReplicationStatus};

pub use backfill::{Backfill, BackfillProgress};
pub use control::{AllMetrics, Backlog, DestinationMetrics, ObjectProgress, Overall, RetryTarget};
pub use data::DataProcessor;
pub use destinations::Destinations;
pub use metrics::Metrics;
pub use status::StatusProcessor;

use crate::bus::{Bus, Durability, Outgoing};
use crate::extension::{Extension, Publications, object_key};
use crate::state::EngineState;

/// The topic a destination's tasks go to.
pub fn data_topic(location: &str) -> String {
    format!("replication.{location}")
}
/// The topic every processor's reports go to.
pub const STATUS_TOPIC: &str = "replication-status";

/// One version to send to one destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    pub bucket: String,
    pub key: String,
    pub version_id: String,
    pub round: u32,
    pub size: u64,
    /// When the change was committed at the source: what RPO is measured from.
    pub at_ms: i64,
}

/// A processor's report about one destination of one version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusMessage {
    pub bucket: String,
    pub key: String,
    pub version_id: String,
    pub report: DestinationReport,
}

/// How hard a data processor tries before a version goes to the failed list.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub first_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 5,
            first_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// Exponential backoff with full jitter over its upper half, so
    /// processors retrying together spread out.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let ceiling = self
            .first_backoff
            .saturating_mul(1 << attempt.min(16))
            .min(self.max_backoff);
        let mut byte = [0u8; 1];
        let _ = getrandom::fill(&mut byte);
        ceiling / 2 + ceiling / 2 * u32::from(byte[0]) / 255
    }
}

/// What replication's processors share.
pub struct Replication {
    pub strata: Arc<Strata>,
    pub bus: Arc<dyn Bus>,
    pub state: Arc<EngineState>,
    pub metrics: Metrics,
    pub retry: RetryPolicy,
}

impl Replication {
    pub fn new(
        strata: Arc<Strata>,
        bus: Arc<dyn Bus>,
        state: Arc<EngineState>,
        retry: RetryPolicy,
    ) -> Arc<Self> {
        Arc::new(Self {
            strata,
            bus,
            state,
            metrics: Metrics::default(),
            retry,
        })
    }

    /// Destinations are the server's locations: one data processor each
    /// (kept so by `Destinations`).
    pub fn destinations(&self) -> Vec<String> {
        self.strata
            .locations
            .all()
            .into_iter()
            .map(|(name, _)| name)
            .collect()
    }

    /// Reports on tasks to the status processor. A data processor's own
    /// reports are `Deferred`: it commits its offset after them, so a crash
    /// that loses one also has the task redone, and a fsync per report
    /// would sit on the disk the source's PUTs wait on.
    async fn publish_status(
        &self,
        reports: Vec<(Task, DestinationReport)>,
        durability: Durability,
    ) -> crate::Result<()> {
        let messages = reports
            .into_iter()
            .map(|(task, report)| {
                let key = object_key(&task.bucket, &task.key);
                let message = StatusMessage {
                    bucket: task.bucket,
                    key: task.key,
                    version_id: task.version_id,
                    report,
                };
                Ok(Outgoing {
                    key,
                    payload: serde_json::to_vec(&message)?,
                })
            })
            .collect::<crate::Result<Vec<_>>>()?;
        let messages = BTreeMap::from([(STATUS_TOPIC.to_string(), messages)]);
        self.bus.publish_topics(messages, durability).await
    }

    async fn publish_task(&self, location: &str, task: &Task) -> crate::Result<()> {
        let payload = serde_json::to_vec(task)?;
        self.bus
            .publish(
                &data_topic(location),
                vec![Outgoing {
                    key: object_key(&task.bucket, &task.key),
                    payload,
                }],
            )
            .await
    }
}

/// The extension: new versions and delete markers, and changes of tags,
/// retention or legal hold, become one task per PENDING destination.
/// ACL changes, permanent deletes and replicas never replicate.
pub struct ReplicationExtension;

impl Extension for ReplicationExtension {
    fn name(&self) -> &'static str {
        "replication"
    }

    fn filter(&self, entry: &JournalEntry, out: &mut Publications) {
        let replicated_change = match entry.op {
            JournalOp::Put => true,
            JournalOp::Update => matches!(
                entry.change,
                Some(Change::Tags | Change::Retention | Change::LegalHold)
            ),
            JournalOp::Delete => false,
        };
        let (Some(record), Some(version_id)) = (&entry.value, &entry.version_id) else {
            return;
        };
        let Some(replication) = record.replication.as_ref().filter(|r| !r.is_replica()) else {
            return;
        };
        if !replicated_change {
            return;
        }
        for destination in &replication.destinations {
            if destination.status != ReplicationStatus::Pending {
                continue;
            }
            let task = Task {
                bucket: entry.bucket.clone(),
                key: entry.key.clone(),
                version_id: version_id.clone(),
                round: destination.round,
                size: record.size,
                at_ms: entry.at_ms,
            };
            if let Ok(payload) = serde_json::to_vec(&task) {
                out.publish(
                    &data_topic(&destination.location),
                    object_key(&entry.bucket, &entry.key),
                    payload,
                );
            }
        }
    }
}
