//! The queue populator: tails the metadata journal from its last committed
//! sequence number and hands each entry to every enabled extension. It
//! checkpoints only what the bus holds durably, so a crash repeats entries,
//! never skips; and it trims the journal only through a saved checkpoint.

use std::sync::Arc;
use std::time::{Duration, Instant};

use strata_meta::MetadataStore;

use crate::Result;
use crate::bus::{Bus, Durability};
use crate::extension::{Extension, Publications};
use crate::state::EngineState;
use crate::worker::{Worker, WorkerState};

/// Journal entries read per unit of work.
const BATCH: usize = 1000;
/// How often an idle populator looks at the journal again: 25 ms of RPO on
/// average, and a bus commit per look that finds entries.
const POLL: Duration = Duration::from_millis(50);
const CHECKPOINT: &str = "populator";
/// How often the checkpoint is saved: a bus flush, then the checkpoint,
/// each one fsync. Publishes in between are deferred (no fsync), so the
/// source's PUTs do not queue behind the bus's fsyncs on a shared disk; a
/// crash has the populator publish again what followed the last checkpoint,
/// which at-least-once delivery allows.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);
const TRIM_EVERY: u64 = 10_000;
/// Entries removed per metadata transaction while trimming.
const TRIM_BATCH: usize = 5_000;

pub struct Populator {
    meta: Arc<dyn MetadataStore>,
    bus: Arc<dyn Bus>,
    state: Arc<EngineState>,
    extensions: Vec<Arc<dyn Extension>>,
    /// The journal is published through here.
    read: u64,
    /// The saved checkpoint: published through here durably.
    checkpoint: u64,
    /// When the checkpoint was last saved.
    saved_at: Instant,
    /// The journal is trimmed through here (see `trim`).
    trimmed: u64,
    published: u64,
    /// `published` when the checkpoint was last saved.
    published_at_save: u64,
}

impl Populator {
    pub fn new(
        meta: Arc<dyn MetadataStore>,
        bus: Arc<dyn Bus>,
        state: Arc<EngineState>,
        extensions: Vec<Arc<dyn Extension>>,
    ) -> Result<Self> {
        let checkpoint = state.checkpoint(CHECKPOINT)?;
        Ok(Self {
            meta,
            bus,
            state,
            extensions,
            read: checkpoint,
            checkpoint,
            saved_at: Instant::now(),
            trimmed: 0,
            published: 0,
            published_at_save: 0,
        })
    }

    /// Makes what was published durable, then records how far that is.
    /// A journal stretch that published nothing (no bucket replicates, say)
    /// needs no flush.
    async fn save_checkpoint(&mut self) -> Result<()> {
        if self.published > self.published_at_save {
            self.bus.flush().await?;
        }
        self.state.save_checkpoint(CHECKPOINT, self.read)?;
        self.checkpoint = self.read;
        self.published_at_save = self.published;
        self.saved_at = Instant::now();
        Ok(())
    }

    /// The populator is the journal's one consumer: entries it has
    /// published and checkpointed are dropped, every `TRIM_EVERY`
    /// entries, or the journal would keep every change forever.
    async fn trim(&mut self) -> Result<()> {
        while self.meta.trim_journal(self.checkpoint, TRIM_BATCH).await? == TRIM_BATCH {}
        self.trimmed = self.checkpoint;
        Ok(())
    }
}

#[async_trait::async_trait]
impl Worker for Populator {
    fn name(&self) -> String {
        "populator".into()
    }

    async fn work(&mut self) -> Result<WorkerState> {
        let entries = self.meta.read_journal(self.read, BATCH)?;
        if let Some(last) = entries.last().map(|e| e.seq) {
            let mut out = Publications::default();
            for entry in &entries {
                for extension in &self.extensions {
                    extension.filter(entry, &mut out);
                }
            }
            self.published += out.by_topic.values().map(Vec::len).sum::<usize>() as u64;
            self.bus
                .publish_topics(out.by_topic, Durability::Deferred)
                .await?;
            self.read = last;
        }
        let trimming = self.read >= self.trimmed + TRIM_EVERY;
        if self.read > self.checkpoint && (trimming || self.saved_at.elapsed() >= CHECKPOINT_EVERY)
        {
            self.save_checkpoint().await?;
        }
        if trimming {
            self.trim().await?;
        }
        Ok(if entries.len() == BATCH {
            WorkerState::Busy
        } else {
            WorkerState::Idle
        })
    }

    async fn wait_for_work(&mut self) {
        tokio::time::sleep(POLL).await;
    }

    fn progress(&self) -> String {
        format!(
            "journal sequence {} read ({} checkpointed), {} messages published",
            self.read, self.checkpoint, self.published
        )
    }

    /// A clean stop saves how far the journal was published, so a restart
    /// does not publish (and replicate) that last second again.
    async fn stop(&mut self) -> Result<()> {
        if self.read > self.checkpoint {
            self.save_checkpoint().await?;
        }
        Ok(())
    }
}
