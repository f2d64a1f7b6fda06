//! The bus: partitioned, durable topics between the populator and the
//! processors. Only the trait and its types live here; implementations
//! (embedded now, Kafka later) must pass `conformance`.

pub mod conformance;
mod embedded;

pub use embedded::{DEFAULT_PARTITIONS, EmbeddedBus};

use std::collections::BTreeMap;

use crate::Result;

/// Messages to publish, by topic.
pub type ByTopic = BTreeMap<String, Vec<Outgoing>>;

/// When a publish must survive a crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Before the publish returns.
    Immediate,
    /// Together with whatever the bus writes next, within about a second,
    /// or at the next `flush`: a crash loses it only with every later
    /// publish and offset commit. For messages whose publisher records its
    /// progress after them: a processor's reports (the offset commit that
    /// follows is lost with them), or the populator's (which checkpoints
    /// only after a `flush`); a crash then has the work redone.
    Deferred,
}

/// A message to publish: its key picks the partition, so one object's
/// messages (keyed `bucket/key`) stay in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub key: String,
    pub payload: Vec<u8>,
}

/// A message as a consumer reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    pub partition: u32,
    pub offset: u64,
    pub key: String,
    pub payload: Vec<u8>,
    /// When it was published (ms since the epoch).
    pub published_ms: i64,
}

/// Partitioned topics with consumer groups. Offsets of a partition start at
/// 0 and grow by one per message; a group's committed offset is the next
/// offset it has yet to process (0 when it never committed).
#[async_trait::async_trait]
pub trait Bus: Send + Sync + 'static {
    /// Partitions per topic (the same for every topic).
    fn partitions(&self) -> u32;
    /// The partition `key` belongs to: stable across restarts and versions.
    fn partition_of(&self, key: &str) -> u32 {
        partition_of(key, self.partitions())
    }
    /// Appends the messages of every topic at once, each to its key's
    /// partition, keeping their order within a partition; they are visible
    /// to `fetch` when it returns, and survive a crash as `durability` says.
    async fn publish_topics(&self, messages: ByTopic, durability: Durability) -> Result<()>;
    /// Appends one topic's messages; returns once they survive a crash.
    async fn publish(&self, topic: &str, messages: Vec<Outgoing>) -> Result<()> {
        let messages = BTreeMap::from([(topic.to_string(), messages)]);
        self.publish_topics(messages, Durability::Immediate).await
    }
    /// Returns once every publish and offset commit made so far survives a crash.
    async fn flush(&self) -> Result<()>;
    /// Up to `max` messages of a partition from offset `from`, oldest first.
    /// Messages removed by retention (all processed) are skipped.
    fn fetch(&self, topic: &str, partition: u32, from: u64, max: usize) -> Result<Vec<Delivered>>;
    /// The offset the next message of the partition will get.
    fn end_offset(&self, topic: &str, partition: u32) -> Result<u64>;
    /// The group's committed offset of a partition.
    fn committed(&self, group: &str, topic: &str, partition: u32) -> Result<u64>;
    /// Records that the group processed every message before `next`.
    async fn commit(&self, group: &str, topic: &str, partition: u32, next: u64) -> Result<()>;
    /// Waits until the partition has a message at or after `from`, or the
    /// timeout passes (whichever comes first; no error on timeout).
    async fn wait(&self, topic: &str, partition: u32, from: u64, timeout: std::time::Duration);
    /// Removes messages published before `before_ms` that every consumer
    /// group reading their partition has committed past (retention); a
    /// message some group has yet to process is kept however old, so
    /// retention never loses work. A group reads a partition once it has
    /// committed an offset there. Returns how many went.
    async fn expire(&self, before_ms: i64) -> Result<u64>;
    /// Topics that have ever had a message.
    fn topics(&self) -> Result<Vec<String>>;
}

/// FNV-1a of the key, modulo the partition count: stable by construction,
/// unlike std's hasher.
pub fn partition_of(key: &str, partitions: u32) -> u32 {
    let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    (hash % u64::from(partitions.max(1))) as u32
}

/// Runs `work` on every partition at once (how a consumer takes a batch
/// from each); returns how many messages they handled in all.
pub async fn each_partition<F, Fut>(bus: &dyn Bus, work: F) -> Result<usize>
where
    F: Fn(u32) -> Fut,
    Fut: std::future::Future<Output = Result<usize>>,
{
    let results = futures::future::join_all((0..bus.partitions()).map(work)).await;
    results.into_iter().sum()
}

/// Waits until any partition of `topic` has a message the group has not
/// committed yet, or the timeout passes: how an idle consumer sleeps.
pub async fn wait_any(bus: &dyn Bus, group: &str, topic: &str, timeout: std::time::Duration) {
    let waits = (0..bus.partitions()).map(|p| {
        let from = bus.committed(group, topic, p).unwrap_or(0);
        Box::pin(bus.wait(topic, p, from, timeout))
    });
    futures::future::select_all(waits).await;
}
