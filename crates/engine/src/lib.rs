//! Strata's background engine (Backbeat's model): the populator tails the
//! metadata journal and hands entries to extensions, which publish to the
//! bus; processors consume the bus and do the work. Never serves requests.

pub mod bus;
mod error;
pub mod extension;
pub mod populator;
pub mod replication;
mod runtime;
pub mod state;
pub mod worker;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub use error::EngineError;
use strata_core::Strata;

use crate::bus::{Bus, EmbeddedBus};
use crate::extension::Extension;
use crate::replication::{
    Backfill, Destinations, Replication, ReplicationExtension, RetryPolicy, StatusProcessor,
};
use crate::state::EngineState;
use crate::worker::{Worker, WorkerState, Workers};

pub type Result<T, E = EngineError> = std::result::Result<T, E>;

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The extensions this engine has, by the name the config file uses.
pub const EXTENSIONS: &[&str] = &[REPLICATION];
const REPLICATION: &str = "replication";

/// The engine's settings (the `[engine]` table of the config file).
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// The extensions that run (names from `EXTENSIONS`): each one's
    /// journal filter and processors. Without any, the populator still
    /// trims the journal.
    pub extensions: Vec<String>,
    /// Partitions of every bus topic: how many objects a processor works on
    /// at once. None: the bus's stored count, or 32 for a new one.
    pub partitions: Option<u32>,
    /// The age (from publication) past which the bus drops a message every
    /// group processed (one not yet processed is kept however old).
    pub retention: Duration,
    pub retry: RetryPolicy,
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            extensions: EXTENSIONS.iter().map(|e| e.to_string()).collect(),
            partitions: None,
            retention: Duration::from_secs(3600),
            retry: RetryPolicy::default(),
        }
    }
}

/// The running engine: its workers and, when that extension runs, the
/// replication controls.
pub struct Engine {
    pub workers: Workers,
    pub replication: Option<Arc<Replication>>,
}

impl Engine {
    /// Opens the bus and the engine state in `data_dir` and starts every
    /// worker; they stop when `stop` turns true (`workers.join()` awaits them).
    pub fn start(
        strata: Arc<Strata>,
        data_dir: &Path,
        settings: &EngineSettings,
        stop: tokio::sync::watch::Receiver<bool>,
    ) -> Result<Self> {
        let bus: Arc<dyn Bus> = Arc::new(EmbeddedBus::open(
            &data_dir.join("bus.redb"),
            settings.partitions,
        )?);
        let state = Arc::new(EngineState::open(&data_dir.join("engine.redb"))?);
        if let Some(unknown) = settings
            .extensions
            .iter()
            .find(|e| !EXTENSIONS.contains(&e.as_str()))
        {
            return Err(EngineError::Invalid(format!(
                "unknown extension {unknown} (known: {})",
                EXTENSIONS.join(", ")
            )));
        }
        let workers = Workers::new(stop)?;
        let mut extensions: Vec<Arc<dyn Extension>> = Vec::new();
        let replication = if settings.extensions.iter().any(|e| e == REPLICATION) {
            let replication =
                Replication::new(strata.clone(), bus.clone(), state.clone(), settings.retry);
            extensions.push(Arc::new(ReplicationExtension));
            workers.spawn(StatusProcessor::new(replication.clone()));
            workers.spawn(Destinations::new(replication.clone(), workers.clone()));
            for bucket in replication.unfinished_backfills()? {
                workers.spawn(Backfill::new(replication.clone(), &bucket));
            }
            Some(replication)
        } else {
            None
        };
        workers.spawn(populator::Populator::new(
            strata.meta.clone(),
            bus.clone(),
            state,
            extensions,
        )?);
        workers.spawn(Retention {
            bus,
            keep: settings.retention,
            removed: 0,
        });
        Ok(Self {
            workers,
            replication,
        })
    }

    /// The replication controls, or an error saying the extension is off.
    pub fn replication(&self) -> Result<&Arc<Replication>> {
        self.replication.as_ref().ok_or_else(|| {
            EngineError::Invalid(
                "the replication extension is not enabled on this server ([engine] extensions)"
                    .into(),
            )
        })
    }

    /// Starts (or resumes) a bucket's backfill in the background.
    pub fn backfill(&self, bucket: &str) -> Result<replication::BackfillProgress> {
        let replication = self.replication()?;
        let progress = replication.start_backfill(bucket)?;
        let running = self.workers.list().iter().any(|w| {
            w.name == Backfill::new(replication.clone(), bucket).name()
                && w.state != WorkerState::Done
        });
        if !running {
            self.workers
                .spawn(Backfill::new(replication.clone(), bucket));
        }
        Ok(progress)
    }
}

/// How often retention runs: often enough that each pass removes little,
/// so the bus writer is never held up long.
const RETENTION_EVERY: Duration = Duration::from_secs(60);

/// Applies the bus's retention: processed messages go once `keep` old.
struct Retention {
    bus: Arc<dyn Bus>,
    keep: Duration,
    removed: u64,
}

#[async_trait::async_trait]
impl Worker for Retention {
    fn name(&self) -> String {
        "bus-retention".into()
    }

    async fn work(&mut self) -> Result<WorkerState> {
        let before = now_ms() - self.keep.as_millis() as i64;
        self.removed += self.bus.expire(before).await?;
        Ok(WorkerState::Idle)
    }

    async fn wait_for_work(&mut self) {
        tokio::time::sleep(RETENTION_EVERY).await;
    }

    fn progress(&self) -> String {
        format!("{} processed messages removed", self.removed)
    }
}
