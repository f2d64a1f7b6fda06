//! Owns the embedded bus: one redb file (DATA_DIR/bus.redb) of messages, partition ends and group offsets.
//! Must never acknowledge an immediate publish or a flush before its transaction is fsynced, nor give two messages one offset.
//!
//! All writes go through one writer thread that runs every waiting request in
//! one transaction (group commit), so concurrent publishers share an fsync and
//! offsets are handed out by a single writer: distinct and gap-free. Reads
//! (`fetch`, `end_offset`, `committed`, `topics`) use MVCC snapshots and never
//! wait for the writer.
//!
//! Durability: a batch holding an immediate publish, an expiry or a flush
//! commits with `Durability::Immediate` (fsync before anyone is answered). A batch of offset
//! commits and deferred publishes only uses `Durability::None`: it is visible at
//! once but reaches disk with the next durable commit, which the writer forces
//! within `FLUSH_AFTER` of the first unflushed one (and redb forces on close).
//! A crash can thus lose about a second of them, always the newest: redb
//! keeps commits in order, so no offset commit survives a deferred publish
//! made before it. Consumers then see those messages again, which
//! at-least-once delivery allows.
//!
//! The partition count is stored on first open. Opening with another count
//! is an error: it would send a key's later messages to another partition and
//! break their order, so changing it needs a new bus file.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use redb::{
    Database, Durability as Commit, ReadableDatabase, ReadableTable, Table, TableDefinition,
    WriteTransaction,
};
use tokio::sync::{oneshot, watch};

use super::{Bus, ByTopic, Delivered, Durability, Outgoing, partition_of};
use crate::{EngineError, Result};

/// Partitions of a new bus when none are asked for: how many objects each
/// processor works on at once (a copy mostly waits on its destination).
pub const DEFAULT_PARTITIONS: u32 = 32;
/// Settings of the bus file: only `partitions` so far.
const SETTINGS: TableDefinition<&str, u64> = TableDefinition::new("settings");
/// (topic, partition, offset) -> (key, payload, published_ms).
const MESSAGES: TableDefinition<MessageKey, Message> = TableDefinition::new("messages");
type MessageKey = (&'static str, u32, u64);
type Message = (&'static str, &'static [u8], i64);
/// (topic, partition) -> (next offset, published_ms of the last message). The
/// row outlives retention, so offsets never restart and `topics` lists it.
const ENDS: TableDefinition<(&str, u32), (u64, i64)> = TableDefinition::new("ends");
/// (group, topic, partition) -> the next offset the group has to process.
const COMMITTED: TableDefinition<(&str, &str, u32), u64> = TableDefinition::new("committed");

/// Most requests one group commit takes; bounds the latency of a batch.
const MAX_BATCH: usize = 512;
/// Longest a non-durable commit stays in memory only (see the module docs).
const FLUSH_AFTER: Duration = Duration::from_secs(1);

enum Job {
    Publish {
        messages: ByTopic,
        durable: bool,
        done: oneshot::Sender<Result<()>>,
    },
    Commit {
        group: String,
        topic: String,
        partition: u32,
        next: u64,
        done: oneshot::Sender<Result<()>>,
    },
    Expire {
        before_ms: i64,
        done: oneshot::Sender<Result<u64>>,
    },
    /// Writes nothing; its batch is committed durably.
    Flush { done: oneshot::Sender<Result<()>> },
}

impl Job {
    fn needs_fsync(&self) -> bool {
        match self {
            Job::Publish { durable, .. } => *durable,
            Job::Commit { .. } => false,
            Job::Expire { .. } | Job::Flush { .. } => true,
        }
    }

    fn fail(self, why: &str) {
        let err = || EngineError::Storage(why.to_string());
        match self {
            Job::Publish { done, .. } | Job::Commit { done, .. } | Job::Flush { done } => {
                let _ = done.send(Err(err()));
            }
            Job::Expire { done, .. } => {
                let _ = done.send(Err(err()));
            }
        }
    }
}

/// What a batch did, to report once it is committed.
#[derive(Default)]
struct Applied {
    /// Messages each expiry removed, by job index.
    expired: HashMap<usize, u64>,
    /// The new end offset of each partition a publish grew.
    ends: HashMap<(String, u32), u64>,
}

/// The end offset of each partition someone waits on, by topic.
type Watchers = Mutex<HashMap<String, Arc<[watch::Sender<u64>]>>>;

pub struct EmbeddedBus {
    db: Arc<Database>,
    partitions: u32,
    jobs: Option<mpsc::Sender<Job>>,
    writer: Option<std::thread::JoinHandle<()>>,
    watchers: Arc<Watchers>,
}

impl Drop for EmbeddedBus {
    // Closing the queue ends the writer after its last batch; joining it
    // releases the file (and flushes pending offset commits) before the bus
    // is reported gone.
    fn drop(&mut self) {
        self.jobs.take();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

impl EmbeddedBus {
    /// Opens (or creates) the bus at `path` and starts its writer thread.
    /// The partition count is stored on creation: `partitions` (else
    /// `DEFAULT_PARTITIONS`). A later open takes the stored count; one that
    /// names another gets `EngineError::Invalid`.
    pub fn open(path: &Path, partitions: Option<u32>) -> Result<Self> {
        if partitions == Some(0) {
            return Err(EngineError::Invalid(
                "a bus needs at least one partition".into(),
            ));
        }
        let db = Arc::new(Database::create(path)?);
        let txn = db.begin_write()?;
        let partitions = {
            let mut settings = txn.open_table(SETTINGS)?;
            let stored = settings.get("partitions")?.map(|v| v.value());
            let partitions = match (stored, partitions) {
                (None, asked) => {
                    let count = asked.unwrap_or(DEFAULT_PARTITIONS);
                    settings.insert("partitions", u64::from(count))?;
                    count
                }
                (Some(stored), None) => u32::try_from(stored)
                    .map_err(|_| EngineError::Invalid(format!("bad partition count {stored}")))?,
                (Some(stored), Some(asked)) if stored == u64::from(asked) => asked,
                (Some(stored), Some(partitions)) => {
                    return Err(EngineError::Invalid(format!(
                        "the bus at {} has {stored} partitions, not {partitions}: \
                         changing the count would reorder keys; keep {stored} or start a new bus file",
                        path.display()
                    )));
                }
            };
            txn.open_table(MESSAGES)?;
            txn.open_table(ENDS)?;
            txn.open_table(COMMITTED)?;
            partitions
        };
        txn.commit()?;
        let watchers = Arc::new(Watchers::default());
        let (jobs, rx) = mpsc::channel::<Job>();
        let writer_db = db.clone();
        let writer_watchers = watchers.clone();
        let writer = std::thread::Builder::new()
            .name("bus-writer".into())
            .spawn(move || {
                // Background work, like the engine's runtime threads.
                crate::runtime::lower_priority();
                write_loop(&writer_db, partitions, &rx, &writer_watchers)
            })
            .map_err(|e| EngineError::Storage(e.to_string()))?;
        Ok(Self {
            db,
            partitions,
            jobs: Some(jobs),
            writer: Some(writer),
            watchers,
        })
    }

    fn check_partition(&self, partition: u32) -> Result<()> {
        if partition < self.partitions {
            Ok(())
        } else {
            Err(EngineError::Invalid(format!(
                "partition {partition} out of range (the bus has {})",
                self.partitions
            )))
        }
    }

    async fn submit<T>(&self, job: Job, rx: oneshot::Receiver<Result<T>>) -> Result<T> {
        let stopped = || EngineError::Storage("bus writer stopped".into());
        let jobs = self
            .jobs
            .as_ref()
            .ok_or_else(|| EngineError::Storage("bus closed".into()))?;
        jobs.send(job).map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }

    /// A receiver of the partition's end offset, updated after each commit
    /// that grows it (its value may lag the file until then).
    fn watch(&self, topic: &str, partition: u32) -> watch::Receiver<u64> {
        let mut watchers = self.watchers.lock().unwrap_or_else(|e| e.into_inner());
        let senders = watchers.entry(topic.to_string()).or_insert_with(|| {
            (0..self.partitions)
                .map(|_| watch::Sender::new(0))
                .collect()
        });
        senders[partition as usize].subscribe()
    }
}

#[async_trait::async_trait]
impl Bus for EmbeddedBus {
    fn partitions(&self) -> u32 {
        self.partitions
    }

    async fn publish_topics(&self, mut messages: ByTopic, durability: Durability) -> Result<()> {
        if messages.contains_key("") {
            return Err(EngineError::Invalid("empty topic name".into()));
        }
        messages.retain(|_, m| !m.is_empty());
        if messages.is_empty() {
            return Ok(());
        }
        let (done, rx) = oneshot::channel();
        let job = Job::Publish {
            messages,
            durable: durability == Durability::Immediate,
            done,
        };
        self.submit(job, rx).await
    }

    fn fetch(&self, topic: &str, partition: u32, from: u64, max: usize) -> Result<Vec<Delivered>> {
        self.check_partition(partition)?;
        if max == 0 {
            return Ok(Vec::new());
        }
        let txn = self.db.begin_read()?;
        let table = txn.open_table(MESSAGES)?;
        let mut out = Vec::new();
        for row in table.range((topic, partition, from)..=(topic, partition, u64::MAX))? {
            let (k, v) = row?;
            let (key, payload, published_ms) = v.value();
            out.push(Delivered {
                partition,
                offset: k.value().2,
                key: key.to_string(),
                payload: payload.to_vec(),
                published_ms,
            });
            if out.len() == max {
                break;
            }
        }
        Ok(out)
    }

    fn end_offset(&self, topic: &str, partition: u32) -> Result<u64> {
        self.check_partition(partition)?;
        let txn = self.db.begin_read()?;
        let ends = txn.open_table(ENDS)?;
        Ok(ends.get((topic, partition))?.map_or(0, |v| v.value().0))
    }

    fn committed(&self, group: &str, topic: &str, partition: u32) -> Result<u64> {
        self.check_partition(partition)?;
        let txn = self.db.begin_read()?;
        let committed = txn.open_table(COMMITTED)?;
        Ok(committed
            .get((group, topic, partition))?
            .map_or(0, |v| v.value()))
    }

    async fn commit(&self, group: &str, topic: &str, partition: u32, next: u64) -> Result<()> {
        self.check_partition(partition)?;
        let (done, rx) = oneshot::channel();
        let job = Job::Commit {
            group: group.to_string(),
            topic: topic.to_string(),
            partition,
            next,
            done,
        };
        self.submit(job, rx).await
    }

    async fn wait(&self, topic: &str, partition: u32, from: u64, timeout: Duration) {
        if self.check_partition(partition).is_err() {
            tokio::time::sleep(timeout).await;
            return;
        }
        // Subscribe before reading the end: a publish committed after the
        // read then finds the watcher and wakes it.
        let mut end = self.watch(topic, partition);
        match self.end_offset(topic, partition) {
            Ok(stored) if stored > from => return,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, topic, partition, "bus wait could not read the end offset")
            }
        }
        let _ = tokio::time::timeout(timeout, end.wait_for(|end| *end > from)).await;
    }

    async fn expire(&self, before_ms: i64) -> Result<u64> {
        let (done, rx) = oneshot::channel();
        self.submit(Job::Expire { before_ms, done }, rx).await
    }

    async fn flush(&self) -> Result<()> {
        let (done, rx) = oneshot::channel();
        self.submit(Job::Flush { done }, rx).await
    }

    fn topics(&self) -> Result<Vec<String>> {
        let txn = self.db.begin_read()?;
        let ends = txn.open_table(ENDS)?;
        let mut topics: Vec<String> = Vec::new();
        for row in ends.iter()? {
            let (k, _) = row?;
            let (topic, _) = k.value();
            if topics.last().map(String::as_str) != Some(topic) {
                topics.push(topic.to_string());
            }
        }
        Ok(topics)
    }
}

fn write_loop(db: &Database, partitions: u32, rx: &mpsc::Receiver<Job>, watchers: &Watchers) {
    // When the oldest offset commit not yet on disk was made, if any.
    let mut unflushed_since: Option<Instant> = None;
    loop {
        let first = match unflushed_since {
            None => match rx.recv() {
                Ok(job) => job,
                Err(_) => break,
            },
            Some(since) => match rx.recv_timeout(FLUSH_AFTER.saturating_sub(since.elapsed())) {
                Ok(job) => job,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    match flush(db) {
                        Ok(()) => unflushed_since = None,
                        Err(e) => {
                            tracing::error!(error = %e, "bus flush failed; retrying");
                            unflushed_since = Some(Instant::now());
                        }
                    }
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            },
        };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let durable = batch.iter().any(Job::needs_fsync)
            || unflushed_since.is_some_and(|since| since.elapsed() >= FLUSH_AFTER);
        match run_batch(db, partitions, &batch, durable) {
            Ok(applied) => {
                if durable {
                    unflushed_since = None;
                } else {
                    unflushed_since.get_or_insert_with(Instant::now);
                }
                wake(watchers, &applied.ends);
                for (i, job) in batch.into_iter().enumerate() {
                    match job {
                        Job::Publish { done, .. }
                        | Job::Commit { done, .. }
                        | Job::Flush { done } => {
                            let _ = done.send(Ok(()));
                        }
                        Job::Expire { done, .. } => {
                            let _ = done.send(Ok(applied.expired.get(&i).copied().unwrap_or(0)));
                        }
                    }
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "bus write batch failed; rolled back");
                let why = format!("bus write failed: {e}");
                for job in batch {
                    job.fail(&why);
                }
            }
        }
    }
    // The bus is closing: put the last offset commits on disk now rather than
    // count on the database's close to.
    if unflushed_since.is_some()
        && let Err(e) = flush(db)
    {
        tracing::error!(error = %e, "bus flush on close failed");
    }
}

/// An empty durable commit: puts the non-durable ones before it on disk.
fn flush(db: &Database) -> Result<()> {
    let mut txn = db.begin_write()?;
    txn.set_durability(Commit::Immediate)?;
    txn.commit()?;
    Ok(())
}

/// Runs every job of the batch in one transaction and commits it; on any
/// error the transaction is dropped (rolled back) and nothing was applied.
fn run_batch(db: &Database, partitions: u32, batch: &[Job], durable: bool) -> Result<Applied> {
    let mut txn = db.begin_write()?;
    txn.set_durability(if durable {
        Commit::Immediate
    } else {
        Commit::None
    })?;
    let applied = apply(&txn, partitions, batch)?;
    txn.commit()?;
    Ok(applied)
}

fn apply(txn: &WriteTransaction, partitions: u32, batch: &[Job]) -> Result<Applied> {
    let mut messages = txn.open_table(MESSAGES)?;
    let mut ends = txn.open_table(ENDS)?;
    let mut committed = txn.open_table(COMMITTED)?;
    let mut applied = Applied::default();
    let now = now_ms();
    for (i, job) in batch.iter().enumerate() {
        match job {
            Job::Publish { messages: m, .. } => {
                for (topic, batch) in m {
                    publish(
                        &mut messages,
                        &mut ends,
                        partitions,
                        topic,
                        batch,
                        now,
                        &mut applied,
                    )?;
                }
            }
            Job::Commit {
                group,
                topic,
                partition,
                next,
                ..
            } => {
                committed.insert((group.as_str(), topic.as_str(), *partition), *next)?;
            }
            Job::Expire { before_ms, .. } => {
                let removed = expire(&mut messages, &committed, *before_ms)?;
                applied.expired.insert(i, removed);
            }
            Job::Flush { .. } => {}
        }
    }
    Ok(applied)
}

type Messages<'t> = Table<'t, MessageKey, Message>;
type Ends<'t> = Table<'t, (&'static str, u32), (u64, i64)>;
type Committed<'t> = Table<'t, (&'static str, &'static str, u32), u64>;

/// Appends one publish call's messages to a topic. Timestamps never go back within a
/// partition, so retention can stop at the first message it keeps.
fn publish(
    messages: &mut Messages<'_>,
    ends: &mut Ends<'_>,
    partitions: u32,
    topic: &str,
    batch: &[Outgoing],
    now: i64,
    applied: &mut Applied,
) -> Result<()> {
    // (next offset, last published_ms) of each partition this call touches.
    let mut state: Vec<Option<(u64, i64)>> = vec![None; partitions as usize];
    for message in batch {
        let partition = partition_of(&message.key, partitions);
        let slot = &mut state[partition as usize];
        let (next, last_ms) = match *slot {
            Some(s) => s,
            None => ends
                .get((topic, partition))?
                .map_or((0, i64::MIN), |v| v.value()),
        };
        let published_ms = now.max(last_ms);
        messages.insert(
            (topic, partition, next),
            (
                message.key.as_str(),
                message.payload.as_slice(),
                published_ms,
            ),
        )?;
        *slot = Some((next + 1, published_ms));
    }
    for (partition, slot) in state.into_iter().enumerate() {
        if let Some((next, last_ms)) = slot {
            let partition = partition as u32;
            ends.insert((topic, partition), (next, last_ms))?;
            applied.ends.insert((topic.to_string(), partition), next);
        }
    }
    Ok(())
}

/// Removes, from the head of every partition, the messages published before
/// `before_ms` that every group reading the partition has processed (a
/// group reads a partition once it commits an offset there; a partition no
/// group reads keeps everything). Returns how many went.
fn expire(messages: &mut Messages<'_>, committed: &Committed<'_>, before_ms: i64) -> Result<u64> {
    // The lowest committed offset of each partition a group reads.
    let mut processed: HashMap<(String, u32), u64> = HashMap::new();
    for row in committed.iter()? {
        let (k, v) = row?;
        let (_, topic, partition) = k.value();
        let next = v.value();
        processed
            .entry((topic.to_string(), partition))
            .and_modify(|lowest| *lowest = (*lowest).min(next))
            .or_insert(next);
    }
    let mut removed = 0;
    for ((topic, partition), processed_below) in processed {
        let topic = topic.as_str();
        // Offsets and times both grow along a partition: the messages to
        // remove are a prefix of it.
        let mut keep_from = None;
        let mut old = 0u64;
        for row in messages.range((topic, partition, 0)..(topic, partition, processed_below))? {
            let (k, v) = row?;
            if v.value().2 >= before_ms {
                keep_from = Some(k.value().2);
                break;
            }
            old += 1;
        }
        if old == 0 {
            continue;
        }
        let keep_from = keep_from.unwrap_or(processed_below);
        messages.retain_in(
            (topic, partition, 0)..(topic, partition, keep_from),
            |_, _| false,
        )?;
        removed += old;
    }
    Ok(removed)
}

/// Tells the waiters of each partition that grew its new end.
fn wake(watchers: &Watchers, grown: &HashMap<(String, u32), u64>) {
    if grown.is_empty() {
        return;
    }
    let watchers = watchers.lock().unwrap_or_else(|e| e.into_inner());
    for ((topic, partition), end) in grown {
        if let Some(sender) = watchers
            .get(topic)
            .and_then(|senders| senders.get(*partition as usize))
        {
            sender.send_if_modified(|current| {
                let grew = *end > *current;
                *current = (*current).max(*end);
                grew
            });
        }
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
