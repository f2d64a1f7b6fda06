//! The queue populator: tails the metadata journal from its last committed
//! sequence number and hands each entry to every enabled extension. It
//! publishes before it checkpoints, so a crash repeats entries, never skips;
//! and it trims the journal only through a checkpoint already on disk.

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
/// How often an idle populator looks at the journal again. Each look that
/// finds entries is a durable bus write, whose fsync the source's PUTs
/// queue behind on a shared disk: 50 ms bounds those to 20 a second, at
/// 25 ms of RPO on average.
const POLL: Duration = Duration::from_millis(50);
const CHECKPOINT: &str = "populator";
/// How often the checkpoint reaches disk: with the first batch this long
/// after the last durable save (an idle populator's lazy save reaches disk
/// with the next durable one, or at shutdown). In between it is saved
/// without a fsync: a crash has the populator publish that part of the
/// journal again, which at-least-once delivery allows, and the source's
/// PUTs do not share their disk with a fsync per batch.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);
const TRIM_EVERY: u64 = 10_000;
/// Entries removed per metadata transaction while trimming.
const TRIM_BATCH: usize = 5_000;

pub struct Populator {
    meta: Arc<dyn MetadataStore>,
    bus: Arc<dyn Bus>,
    state: Arc<EngineState>,
    extensions: Vec<Arc<dyn Extension>>,
    checkpoint: u64,
    /// When the checkpoint last reached disk.
    saved_at: Instant,
    /// The journal is trimmed through here (see `trim`).
    trimmed: u64,
    published: u64,
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
            checkpoint,
            saved_at: Instant::now(),
            trimmed: 0,
            published: 0,
        })
    }

    /// The populator is the journal's one consumer: entries it has
    /// published and durably checkpointed are dropped, every `TRIM_EVERY`
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
        let entries = self.meta.read_journal(self.checkpoint, BATCH)?;
        let Some(last) = entries.last().map(|e| e.seq) else {
            return Ok(WorkerState::Idle);
        };
        let mut out = Publications::default();
        for entry in &entries {
            for extension in &self.extensions {
                extension.filter(entry, &mut out);
            }
        }
        self.published += out.by_topic.values().map(Vec::len).sum::<usize>() as u64;
        self.bus
            .publish_topics(out.by_topic, Durability::Immediate)
            .await?;
        self.checkpoint = last;
        let trimming = self.checkpoint >= self.trimmed + TRIM_EVERY;
        let durable = trimming || self.saved_at.elapsed() >= CHECKPOINT_EVERY;
        self.state.save_checkpoint(CHECKPOINT, last, durable)?;
        if durable {
            self.saved_at = Instant::now();
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
            "journal sequence {} read, {} messages published",
            self.checkpoint, self.published
        )
    }
}
