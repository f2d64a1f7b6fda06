//! The conformance suite every `Bus` implementation must pass (the embedded
//! one now, Kafka later). It is public so that each implementation's tests
//! run the very same checks; each check panics naming what the bus got wrong.
//! Every check uses its own topics, so they do not see each other's messages;
//! `expire` runs last because retention spans every topic.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::{Bus, Delivered, Durability, Outgoing, partition_of};

/// Runs every check against a fresh, empty bus (any partition count).
pub async fn run_all(bus: &dyn Bus) {
    partitioning(bus);
    empty_partitions(bus).await;
    ordering_and_offsets(bus).await;
    fetch_windows(bus).await;
    consumer_groups(bus).await;
    waiting(bus).await;
    concurrent_publishers(bus).await;
    several_topics_at_once(bus).await;
    topics(bus).await;
    retention(bus).await;
}

fn msg(key: &str, payload: impl Into<Vec<u8>>) -> Outgoing {
    Outgoing {
        key: key.into(),
        payload: payload.into(),
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A key that lands in `partition`.
fn key_in(bus: &dyn Bus, partition: u32, prefix: &str) -> String {
    (0u64..)
        .map(|i| format!("{prefix}{i}"))
        .find(|k| bus.partition_of(k) == partition)
        .expect("some key lands in every partition")
}

/// Every message of a partition, checking its offsets run from `first` to
/// the end offset with no gap.
fn all_of(bus: &dyn Bus, topic: &str, partition: u32, first: u64) -> Vec<Delivered> {
    let all = bus.fetch(topic, partition, 0, usize::MAX).unwrap();
    let end = bus.end_offset(topic, partition).unwrap();
    let offsets: Vec<u64> = all.iter().map(|m| m.offset).collect();
    assert_eq!(
        offsets,
        (first..end).collect::<Vec<_>>(),
        "{topic}/{partition}: offsets must run from {first} to the end offset {end} without gaps"
    );
    for m in &all {
        assert_eq!(
            m.partition, partition,
            "{topic}: fetch returned another partition's message"
        );
    }
    all
}

/// The partitioner is FNV-1a and must never change: a new version (or a
/// Kafka bus) that moved keys would reorder their messages.
fn partitioning(bus: &dyn Bus) {
    let fixed: [(&str, u32, u32); 12] = [
        ("", 1, 0),
        ("", 4, 1),
        ("", 16, 5),
        ("a", 16, 12),
        ("a", 7, 5),
        ("bucket/key", 4, 3),
        ("bucket/key", 16, 7),
        ("photos/2024/cat.jpg", 7, 4),
        ("k0", 16, 14),
        ("k1", 16, 1),
        ("k2", 16, 8),
        ("k3", 7, 1),
    ];
    for (key, partitions, expected) in fixed {
        assert_eq!(
            partition_of(key, partitions),
            expected,
            "partition_of({key:?}, {partitions}) changed"
        );
    }
    assert_eq!(partition_of("anything", 0), 0, "0 partitions count as 1");
    let n = bus.partitions();
    assert!(n > 0, "a bus has at least one partition");
    for i in 0..200 {
        let key = format!("bucket-{}/object-{i}", i % 7);
        let p = bus.partition_of(&key);
        assert!(p < n, "partition_of({key:?}) = {p} is out of range ({n})");
        assert_eq!(
            p,
            partition_of(&key, n),
            "the bus must use the stable partitioner"
        );
    }
}

async fn empty_partitions(bus: &dyn Bus) {
    for p in 0..bus.partitions() {
        assert_eq!(
            bus.end_offset("empty", p).unwrap(),
            0,
            "unknown topic: end 0"
        );
        assert!(
            bus.fetch("empty", p, 0, 10).unwrap().is_empty(),
            "unknown topic: nothing to fetch"
        );
        assert_eq!(
            bus.committed("g", "empty", p).unwrap(),
            0,
            "never committed: 0"
        );
    }
    bus.publish("empty", vec![]).await.unwrap();
    assert!(
        !bus.topics().unwrap().contains(&"empty".to_string()),
        "publishing nothing creates no topic"
    );
}

/// Messages land in their key's partition, in publish order, at offsets
/// 0, 1, 2... of that partition; key, payload and time come back intact.
async fn ordering_and_offsets(bus: &dyn Bus) {
    let topic = "order";
    let keys: Vec<String> = (0..10).map(|i| format!("bucket/key-{i}")).collect();
    let started = now_ms();
    // Three calls, each interleaving every key, some with several messages
    // per key in one call.
    let mut seq = 0u32;
    for round in 0..3 {
        let mut batch = Vec::new();
        for key in &keys {
            for _ in 0..=round {
                batch.push(msg(key, format!("{key}#{seq}")));
                seq += 1;
            }
        }
        bus.publish(topic, batch).await.unwrap();
    }
    let finished = now_ms();
    let mut total = 0;
    for p in 0..bus.partitions() {
        let all = all_of(bus, topic, p, 0);
        total += all.len();
        // Publish order within the partition: the sequence numbers grow.
        let seqs: Vec<u32> = all
            .iter()
            .map(|m| {
                assert_eq!(
                    bus.partition_of(&m.key),
                    p,
                    "{} in the wrong partition",
                    m.key
                );
                let (key, seq) = std::str::from_utf8(&m.payload)
                    .unwrap()
                    .split_once('#')
                    .unwrap();
                assert_eq!(key, m.key, "a message's key and payload must stay together");
                assert!(
                    m.published_ms >= started - 1000 && m.published_ms <= finished + 1000,
                    "published_ms {} is not the publish time ({started}..{finished})",
                    m.published_ms
                );
                seq.parse().unwrap()
            })
            .collect();
        let mut sorted = seqs.clone();
        sorted.sort_unstable();
        assert_eq!(seqs, sorted, "partition {p} must keep publish order");
    }
    assert_eq!(total, 60, "every message is stored exactly once");
    // Offsets keep counting across calls and never restart.
    let key = key_in(bus, 0, "again-");
    let before = bus.end_offset(topic, 0).unwrap();
    bus.publish(topic, vec![msg(&key, "x"), msg(&key, "y")])
        .await
        .unwrap();
    assert_eq!(bus.end_offset(topic, 0).unwrap(), before + 2);
    let last = bus.fetch(topic, 0, before, 10).unwrap();
    let got: Vec<(u64, &[u8])> = last.iter().map(|m| (m.offset, &m.payload[..])).collect();
    assert_eq!(got, vec![(before, &b"x"[..]), (before + 1, &b"y"[..])]);
    // Binary payloads and empty keys are fine.
    let binary: Vec<u8> = (0..=255).collect();
    bus.publish("binary", vec![msg("", binary.clone())])
        .await
        .unwrap();
    let p = bus.partition_of("");
    let got = bus.fetch("binary", p, 0, 1).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].key.as_str(), &got[0].payload), ("", &binary));
}

async fn fetch_windows(bus: &dyn Bus) {
    let topic = "window";
    let key = key_in(bus, 0, "w-");
    let batch = (0..10).map(|i| msg(&key, vec![i])).collect();
    bus.publish(topic, batch).await.unwrap();
    let offsets = |from, max| -> Vec<u64> {
        bus.fetch(topic, 0, from, max)
            .unwrap()
            .iter()
            .map(|m| m.offset)
            .collect()
    };
    assert_eq!(offsets(3, 2), vec![3, 4], "from 3, at most 2");
    assert_eq!(offsets(8, 5), vec![8, 9], "max past the end");
    assert_eq!(offsets(0, 100).len(), 10);
    assert_eq!(offsets(10, 5), Vec::<u64>::new(), "from the end: nothing");
    assert_eq!(offsets(1000, 5), Vec::<u64>::new(), "past the end: nothing");
    assert_eq!(offsets(2, 0), Vec::<u64>::new(), "max 0: nothing");
    let got = bus.fetch(topic, 0, 7, 1).unwrap();
    assert_eq!(got[0].payload, vec![7], "offset 7 holds the 8th message");
    assert_eq!(bus.end_offset(topic, 0).unwrap(), 10);
    if bus.partitions() > 1 {
        assert!(
            bus.fetch(topic, 1, 0, 100).unwrap().is_empty(),
            "another partition of the topic holds none of them"
        );
        assert_eq!(bus.end_offset(topic, 1).unwrap(), 0);
    }
    assert_eq!(bus.end_offset("other-topic", 0).unwrap(), 0);
}

async fn consumer_groups(bus: &dyn Bus) {
    let last = bus.partitions() - 1;
    assert_eq!(bus.committed("g1", "groups", 0).unwrap(), 0);
    bus.commit("g1", "groups", 0, 5).await.unwrap();
    assert_eq!(
        bus.committed("g1", "groups", 0).unwrap(),
        5,
        "commit, then committed"
    );
    assert_eq!(
        bus.committed("g2", "groups", 0).unwrap(),
        0,
        "groups are independent"
    );
    assert_eq!(
        bus.committed("g1", "other", 0).unwrap(),
        0,
        "topics are independent"
    );
    if last > 0 {
        assert_eq!(
            bus.committed("g1", "groups", last).unwrap(),
            0,
            "partitions are independent"
        );
    }
    bus.commit("g2", "groups", 0, 2).await.unwrap();
    if last > 0 {
        bus.commit("g1", "groups", last, 9).await.unwrap();
        assert_eq!(bus.committed("g1", "groups", last).unwrap(), 9);
    }
    assert_eq!(bus.committed("g1", "groups", 0).unwrap(), 5);
    assert_eq!(bus.committed("g2", "groups", 0).unwrap(), 2);
    bus.commit("g1", "groups", 0, 7).await.unwrap();
    assert_eq!(
        bus.committed("g1", "groups", 0).unwrap(),
        7,
        "a later commit replaces"
    );
    // Concurrent commits of different groups all land.
    let commits = (0..20u64).map(|i| async move {
        bus.commit(&format!("cg{i}"), "groups", 0, i + 1)
            .await
            .unwrap()
    });
    futures::future::join_all(commits).await;
    for i in 0..20u64 {
        assert_eq!(
            bus.committed(&format!("cg{i}"), "groups", 0).unwrap(),
            i + 1
        );
    }
    // Committing does not create messages.
    assert_eq!(bus.end_offset("groups", 0).unwrap(), 0);
}

async fn waiting(bus: &dyn Bus) {
    let topic = "wait";
    let key = key_in(bus, 0, "wait-");
    // Nothing comes: wait returns after the timeout, not before.
    let timeout = Duration::from_millis(100);
    let t = Instant::now();
    bus.wait(topic, 0, 0, timeout).await;
    let waited = t.elapsed();
    assert!(
        waited >= timeout - Duration::from_millis(5),
        "returned early: {waited:?}"
    );
    assert!(waited < Duration::from_secs(5), "overslept: {waited:?}");

    // A publish wakes a waiter long before its timeout.
    let t = Instant::now();
    let waiter = bus.wait(topic, 0, 0, Duration::from_secs(20));
    let publisher = async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        bus.publish(topic, vec![msg(&key, "wake")]).await.unwrap();
    };
    futures::future::join(waiter, publisher).await;
    let waited = t.elapsed();
    assert!(
        waited < Duration::from_secs(5),
        "publish did not wake the waiter: {waited:?}"
    );

    // A message already there: no wait at all.
    let t = Instant::now();
    bus.wait(topic, 0, 0, Duration::from_secs(20)).await;
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "a message at `from` is there already"
    );

    // Waiting past the end: a message before `from` does not count...
    let t = Instant::now();
    bus.wait(topic, 0, 1, Duration::from_millis(100)).await;
    assert!(
        t.elapsed() >= Duration::from_millis(95),
        "offset 1 does not exist yet"
    );
    // ...nor does one in another partition or topic...
    if bus.partitions() > 1 {
        let other = key_in(bus, 1, "other-");
        let t = Instant::now();
        let waiter = bus.wait(topic, 0, 1, Duration::from_millis(300));
        let publisher = async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            bus.publish(topic, vec![msg(&other, "elsewhere")])
                .await
                .unwrap();
            bus.publish("wait-other", vec![msg(&key, "elsewhere")])
                .await
                .unwrap();
        };
        futures::future::join(waiter, publisher).await;
        assert!(
            t.elapsed() >= Duration::from_millis(290),
            "woke for another partition's or topic's message"
        );
    }
    // ...but the one at `from` does.
    let t = Instant::now();
    let waiter = bus.wait(topic, 0, 1, Duration::from_secs(20));
    let publisher = async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        bus.publish(topic, vec![msg(&key, "second")]).await.unwrap();
    };
    futures::future::join(waiter, publisher).await;
    assert!(t.elapsed() < Duration::from_secs(5), "offset 1 arrived");
    assert_eq!(bus.end_offset(topic, 0).unwrap(), 2);
}

/// Many publishers at once, into the same partitions: every message gets a
/// distinct offset, the partitions stay gap-free, and each publisher's
/// messages keep their order.
async fn concurrent_publishers(bus: &dyn Bus) {
    let topic = "concurrent";
    let publishers = 32u32;
    let calls = 5u32;
    let run = |p: u32| async move {
        for call in 0..calls {
            // Even publishers send one message per call, odd ones three.
            let per_call = if p.is_multiple_of(2) { 1 } else { 3 };
            let batch = (0..per_call)
                .map(|i| {
                    let key = format!("shared-{}", (p + i) % 4);
                    msg(&key, format!("{p}:{}", call * per_call + i))
                })
                .collect();
            bus.publish(topic, batch).await.unwrap();
        }
    };
    futures::future::join_all((0..publishers).map(run)).await;
    let expected: usize = (0..publishers)
        .map(|p| (calls * if p.is_multiple_of(2) { 1 } else { 3 }) as usize)
        .sum();
    let mut seen = BTreeSet::new();
    for partition in 0..bus.partitions() {
        // Each publisher's sequence numbers grow within a partition.
        let mut last: BTreeMap<u32, u32> = BTreeMap::new();
        for m in all_of(bus, topic, partition, 0) {
            let text = String::from_utf8(m.payload).unwrap();
            let (p, seq) = text.split_once(':').unwrap();
            let (p, seq): (u32, u32) = (p.parse().unwrap(), seq.parse().unwrap());
            if let Some(prev) = last.insert(p, seq) {
                assert!(
                    seq > prev,
                    "publisher {p}'s messages reordered in {partition}"
                );
            }
            assert!(seen.insert((p, seq)), "message {p}:{seq} stored twice");
        }
    }
    assert_eq!(
        seen.len(),
        expected,
        "every concurrent message is stored once"
    );
}

/// One `publish_topics` call appends to each topic as separate calls
/// would; a deferred publish is as visible at once as an immediate one;
/// empty topics are skipped and an empty topic name refused.
async fn several_topics_at_once(bus: &dyn Bus) {
    let key = key_in(bus, 0, "several");
    for (round, durability) in [Durability::Immediate, Durability::Deferred]
        .into_iter()
        .enumerate()
    {
        let messages = BTreeMap::from([
            (
                "several-a".to_string(),
                vec![
                    msg(&key, format!("a{round}")),
                    msg(&key, format!("b{round}")),
                ],
            ),
            (
                "several-b".to_string(),
                vec![msg(&key, format!("c{round}"))],
            ),
            ("several-none".to_string(), vec![]),
        ]);
        bus.publish_topics(messages, durability).await.unwrap();
    }
    let payloads = |topic: &str| -> Vec<Vec<u8>> {
        all_of(bus, topic, 0, 0)
            .into_iter()
            .map(|m| m.payload)
            .collect()
    };
    assert_eq!(
        payloads("several-a"),
        vec![
            b"a0".to_vec(),
            b"b0".to_vec(),
            b"a1".to_vec(),
            b"b1".to_vec()
        ],
        "each topic gets its own messages, in order"
    );
    assert_eq!(payloads("several-b"), vec![b"c0".to_vec(), b"c1".to_vec()]);
    let unnamed = BTreeMap::from([
        ("several-a".to_string(), vec![msg(&key, "never")]),
        (String::new(), vec![msg(&key, "never")]),
    ]);
    assert!(
        bus.publish_topics(unnamed, Durability::Immediate)
            .await
            .is_err(),
        "an empty topic name is refused"
    );
    assert_eq!(
        bus.end_offset("several-a", 0).unwrap(),
        4,
        "a refused call appends nothing"
    );
}

async fn topics(bus: &dyn Bus) {
    let topics = bus.topics().unwrap();
    for t in [
        "order",
        "binary",
        "window",
        "wait",
        "wait-other",
        "concurrent",
        "several-a",
        "several-b",
    ] {
        let had = t != "wait-other" || bus.partitions() > 1;
        assert_eq!(topics.contains(&t.to_string()), had, "topics() and {t}");
    }
    for t in ["empty", "groups", "other", "other-topic", "several-none"] {
        assert!(!topics.contains(&t.to_string()), "{t} never had a message");
    }
    let mut sorted = topics.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), topics.len(), "each topic is listed once");
}

/// Retention removes what was published before the cutoff and processed by
/// every group reading its partition, in every topic, and nothing else;
/// offsets, ends and committed offsets stay.
async fn retention(bus: &dyn Bus) {
    let topic = "retention";
    let slow_topic = "retention-two-groups";
    let unread_topic = "retention-unread";
    let key = key_in(bus, 0, "r-");
    for t in [topic, slow_topic, unread_topic] {
        bus.publish(t, (0..5).map(|i| msg(&key, vec![i])).collect())
            .await
            .unwrap();
    }
    bus.commit("rg", topic, 0, 3).await.unwrap();
    bus.commit("fast", slow_topic, 0, 5).await.unwrap();
    bus.commit("slow", slow_topic, 0, 2).await.unwrap();
    let old = bus.fetch(topic, 0, 0, 100).unwrap();
    assert_eq!(old.len(), 5);
    let cutoff = [topic, slow_topic, unread_topic]
        .iter()
        .flat_map(|t| bus.fetch(t, 0, 0, 100).unwrap())
        .map(|m| m.published_ms)
        .max()
        .unwrap()
        + 1;
    // The next messages are published after the cutoff.
    while now_ms() <= cutoff {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    bus.publish(topic, (5..8).map(|i| msg(&key, vec![i])).collect())
        .await
        .unwrap();
    let fresh = bus.fetch(topic, 0, 5, 100).unwrap();
    assert!(
        fresh.iter().all(|m| m.published_ms >= cutoff),
        "later messages carry a later time"
    );

    let removed = bus.expire(cutoff).await.unwrap();
    assert!(
        removed >= 5,
        "expire removed {removed}, fewer than the 5 old processed messages"
    );
    let payloads = |t: &str| -> Vec<u8> {
        bus.fetch(t, 0, 0, 100)
            .unwrap()
            .iter()
            .map(|m| m.payload[0])
            .collect()
    };
    assert_eq!(
        payloads(topic),
        vec![3, 4, 5, 6, 7],
        "old unprocessed messages remain"
    );
    all_of(bus, topic, 0, 3);
    assert_eq!(
        payloads(slow_topic),
        vec![2, 3, 4],
        "the slowest group decides what is processed"
    );
    assert_eq!(
        payloads(unread_topic),
        vec![0, 1, 2, 3, 4],
        "a partition no group reads keeps everything"
    );
    let offsets: Vec<u64> = bus
        .fetch(topic, 0, 0, 2)
        .unwrap()
        .iter()
        .map(|m| m.offset)
        .collect();
    assert_eq!(
        offsets,
        vec![3, 4],
        "fetch from an expired offset skips to the oldest kept"
    );
    assert_eq!(
        bus.end_offset(topic, 0).unwrap(),
        8,
        "retention keeps the end offset"
    );
    assert_eq!(
        bus.committed("rg", topic, 0).unwrap(),
        3,
        "retention keeps offsets"
    );
    assert_eq!(
        bus.expire(cutoff).await.unwrap(),
        0,
        "nothing more to remove"
    );

    // Once processed, old messages go, newer ones stay; new ones continue
    // the offsets.
    bus.commit("rg", topic, 0, 8).await.unwrap();
    bus.commit("slow", slow_topic, 0, 5).await.unwrap();
    assert_eq!(bus.expire(cutoff).await.unwrap(), 5);
    assert_eq!(
        payloads(topic),
        vec![5, 6, 7],
        "newer processed messages remain"
    );
    assert!(payloads(slow_topic).is_empty());
    assert!(
        bus.topics().unwrap().contains(&slow_topic.to_string()),
        "an emptied topic is still a topic"
    );
    bus.publish(topic, vec![msg(&key, vec![8])]).await.unwrap();
    assert_eq!(bus.fetch(topic, 0, 8, 1).unwrap()[0].payload, vec![8]);
    assert_eq!(bus.end_offset(topic, 0).unwrap(), 9);
}
