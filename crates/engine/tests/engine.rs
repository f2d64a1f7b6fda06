//! The engine's integration tests (its one test binary): the embedded bus
//! against the bus conformance suite, across a reopen, and its throughput;
//! then replication with the whole engine running over `mem` locations.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use strata_engine::bus::{Bus, Durability, EmbeddedBus, Outgoing, conformance};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_bus_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let bus = EmbeddedBus::open(&dir.path().join("bus.redb"), Some(4)).unwrap();
    conformance::run_all(&bus).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_bus_with_one_partition_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let bus = EmbeddedBus::open(&dir.path().join("bus.redb"), Some(1)).unwrap();
    conformance::run_all(&bus).await;
}

fn msg(key: &str, payload: &str) -> Outgoing {
    Outgoing {
        key: key.into(),
        payload: payload.as_bytes().to_vec(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_and_offsets_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bus.redb");
    let ends: Vec<u64>;
    {
        let bus = Arc::new(EmbeddedBus::open(&path, Some(4)).unwrap());
        // Publishers on several tasks share group commits.
        let publishers: Vec<_> = (0..40)
            .map(|i| {
                let bus = bus.clone();
                tokio::spawn(async move {
                    bus.publish("t", vec![msg(&format!("k{}", i % 8), &format!("m{i}"))])
                        .await
                })
            })
            .collect();
        for p in publishers {
            p.await.unwrap().unwrap();
        }
        bus.commit("g", "t", 1, 3).await.unwrap();
        bus.commit("g", "t", 2, 1).await.unwrap();
        bus.commit("h", "t", 1, 2).await.unwrap();
        ends = (0..4).map(|p| bus.end_offset("t", p).unwrap()).collect();
        assert_eq!(ends.iter().sum::<u64>(), 40);
    }
    let bus = EmbeddedBus::open(&path, Some(4)).unwrap();
    assert_eq!(bus.topics().unwrap(), vec!["t".to_string()]);
    let mut payloads = Vec::new();
    for p in 0..4 {
        assert_eq!(bus.end_offset("t", p).unwrap(), ends[p as usize]);
        let all = bus.fetch("t", p, 0, 100).unwrap();
        assert_eq!(all.len() as u64, ends[p as usize]);
        payloads.extend(all.into_iter().map(|m| m.payload));
    }
    payloads.sort();
    let mut expected: Vec<Vec<u8>> = (0..40).map(|i| format!("m{i}").into_bytes()).collect();
    expected.sort();
    assert_eq!(payloads, expected);
    // Offset commits (written without an fsync of their own) survive a clean close.
    assert_eq!(bus.committed("g", "t", 1).unwrap(), 3);
    assert_eq!(bus.committed("g", "t", 2).unwrap(), 1);
    assert_eq!(bus.committed("h", "t", 1).unwrap(), 2);
    assert_eq!(bus.committed("g", "t", 0).unwrap(), 0);
    // Offsets continue where they were.
    let key = (0..)
        .map(|i| format!("x{i}"))
        .find(|k| bus.partition_of(k) == 0)
        .unwrap();
    bus.publish("t", vec![msg(&key, "after")]).await.unwrap();
    let last = bus.fetch("t", 0, ends[0], 10).unwrap();
    assert_eq!(last.len(), 1);
    assert_eq!(
        (last[0].offset, &last[0].payload[..]),
        (ends[0], &b"after"[..])
    );
    drop(bus);

    // The partition count is the stored one: another count is refused.
    let err = EmbeddedBus::open(&path, Some(8))
        .err()
        .expect("8 partitions refused");
    assert!(err.to_string().contains("has 4 partitions"), "{err}");
    assert!(EmbeddedBus::open(&path, Some(0)).is_err());
    assert!(EmbeddedBus::open(&path, Some(4)).is_ok());
    // Asking for none: the stored count, or the default for a new bus.
    assert_eq!(EmbeddedBus::open(&path, None).unwrap().partitions(), 4);
    let fresh = EmbeddedBus::open(&dir.path().join("fresh.redb"), None).unwrap();
    assert_eq!(fresh.partitions(), strata_engine::bus::DEFAULT_PARTITIONS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_range_partitions_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let bus = EmbeddedBus::open(&dir.path().join("bus.redb"), Some(2)).unwrap();
    assert!(bus.fetch("t", 2, 0, 1).is_err());
    assert!(bus.end_offset("t", 2).is_err());
    assert!(bus.committed("g", "t", 2).is_err());
    assert!(bus.commit("g", "t", 2, 1).await.is_err());
    assert!(bus.publish("", vec![msg("k", "v")]).await.is_err());
}

/// Set for the child process of `survives_a_crash`: the bus file it writes.
const CRASH_ENV: &str = "STRATA_ENGINE_CRASH_BUS";

/// Publishes are on disk when acknowledged, and offset commits and deferred
/// publishes (which skip their own fsync) reach it within about a second, in
/// the order they were made: a child process writes,
/// then aborts without closing anything, and the parent reopens its file.
#[test]
fn survives_a_crash() {
    let (_dir, bus) = after_crash_of("crash_child");
    let key = key_in_partition_0(&bus);
    let all = bus.fetch("t", 0, 0, 100).unwrap();
    let payloads: Vec<&[u8]> = all.iter().map(|m| &m.payload[..]).collect();
    assert_eq!(
        payloads,
        vec![&b"one"[..], b"two"],
        "acknowledged publishes survive"
    );
    assert!(all.iter().all(|m| m.key == key));
    assert_eq!(bus.end_offset("t", 0).unwrap(), 2);
    assert_eq!(
        bus.fetch("u", 0, 0, 10).unwrap().len(),
        1,
        "a deferred publish a second old survives"
    );
    // The last deferred publish and the commit after it were made just
    // before the abort: the commit never survives without the publish.
    let committed = bus.committed("g", "t", 0).unwrap();
    assert!(
        committed == 2 || committed == 3,
        "committed offset {committed}: a commit a second old must survive"
    );
    if committed == 3 {
        assert_eq!(
            bus.fetch("u", 0, 1, 10).unwrap().len(),
            1,
            "a commit survived the deferred publish made before it"
        );
    }
}

/// Runs the ignored test `child` in a child process that writes a bus and
/// aborts; returns the bus it left, reopened.
fn after_crash_of(child: &str) -> (tempfile::TempDir, EmbeddedBus) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bus.redb");
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", child, "--ignored", "--nocapture"])
        .env(CRASH_ENV, &path)
        .status()
        .unwrap();
    assert!(!status.success(), "the child must die by abort, not pass");
    assert!(path.exists(), "the child never wrote its bus: {status:?}");
    let bus = EmbeddedBus::open(&path, Some(2)).unwrap();
    (dir, bus)
}

/// The bus a crash child writes, when run as one.
fn crash_child_bus() -> Option<EmbeddedBus> {
    let path = std::env::var_os(CRASH_ENV)?;
    Some(EmbeddedBus::open(std::path::Path::new(&path), Some(2)).unwrap())
}

fn key_in_partition_0(bus: &EmbeddedBus) -> String {
    (0..)
        .map(|i| format!("k{i}"))
        .find(|k| bus.partition_of(k) == 0)
        .unwrap()
}

/// A flush puts every deferred publish and offset commit before it on
/// disk at once, well within the writer's own flush interval.
#[test]
fn a_flush_survives_a_crash() {
    let (_dir, bus) = after_crash_of("flush_child");
    let payloads: Vec<Vec<u8>> = bus
        .fetch("u", 0, 0, 10)
        .unwrap()
        .into_iter()
        .map(|m| m.payload)
        .collect();
    assert_eq!(payloads, vec![b"a".to_vec(), b"b".to_vec()]);
    assert_eq!(bus.committed("g", "u", 0).unwrap(), 1);
}

/// The child of `a_flush_survives_a_crash`; does nothing when run on its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn flush_child() {
    let Some(bus) = crash_child_bus() else {
        return;
    };
    let key = key_in_partition_0(&bus);
    let messages = BTreeMap::from([("u".to_string(), vec![msg(&key, "a"), msg(&key, "b")])]);
    bus.publish_topics(messages, Durability::Deferred)
        .await
        .unwrap();
    bus.commit("g", "u", 0, 1).await.unwrap();
    bus.flush().await.unwrap();
    std::process::abort();
}

/// The child of `survives_a_crash`; does nothing when run on its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn crash_child() {
    let Some(bus) = crash_child_bus() else {
        return;
    };
    let key = key_in_partition_0(&bus);
    bus.publish("t", vec![msg(&key, "one"), msg(&key, "two")])
        .await
        .unwrap();
    bus.commit("g", "t", 0, 2).await.unwrap();
    let deferred = |payload: &str| {
        let messages = BTreeMap::from([("u".to_string(), vec![msg(&key, payload)])]);
        bus.publish_topics(messages, Durability::Deferred)
    };
    deferred("early").await.unwrap();
    // Past the flush interval, with no durable publish to carry them.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    deferred("late").await.unwrap();
    bus.commit("g", "t", 0, 3).await.unwrap();
    std::process::abort();
}

/// Publish throughput, printed: `cargo test -p strata-engine --test engine
/// -- --ignored --nocapture publish_throughput`. No timed assertions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn publish_throughput() {
    let dir = tempfile::tempdir().unwrap();
    let bus = Arc::new(EmbeddedBus::open(&dir.path().join("bus.redb"), Some(16)).unwrap());
    let payload = vec![b'x'; 200];
    let batch = |n: usize, round: usize| -> Vec<Outgoing> {
        (0..n)
            .map(|i| Outgoing {
                key: format!("bucket/object-{round}-{i}"),
                payload: payload.clone(),
            })
            .collect()
    };

    // One publisher, one message per call: one fsync per message.
    let calls = 300;
    let t = Instant::now();
    for round in 0..calls {
        bus.publish("bench1", batch(1, round)).await.unwrap();
    }
    let rate = calls as f64 / t.elapsed().as_secs_f64();
    eprintln!(
        "batch of 1, 1 publisher:    {rate:>9.0} msg/s ({:.2} ms/publish)",
        1000.0 / rate
    );

    // One publisher, 100 messages per call.
    let calls = 100;
    let t = Instant::now();
    for round in 0..calls {
        bus.publish("bench100", batch(100, round)).await.unwrap();
    }
    let secs = t.elapsed().as_secs_f64();
    eprintln!(
        "batch of 100, 1 publisher:  {:>9.0} msg/s ({:.2} ms/publish)",
        (calls * 100) as f64 / secs,
        secs * 1000.0 / calls as f64
    );

    // Many publishers of single messages: group commit shares the fsyncs.
    for publishers in [16, 64] {
        let per = 100;
        let t = Instant::now();
        let tasks: Vec<_> = (0..publishers)
            .map(|p| {
                let bus = bus.clone();
                let payload = payload.clone();
                tokio::spawn(async move {
                    for i in 0..per {
                        let m = Outgoing {
                            key: format!("bucket/object-{p}-{i}"),
                            payload: payload.clone(),
                        };
                        bus.publish("bench-concurrent", vec![m]).await.unwrap();
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        let rate = (publishers * per) as f64 / t.elapsed().as_secs_f64();
        eprintln!("batch of 1, {publishers} publishers: {rate:>9.0} msg/s");
    }
}

// -- replication, with the whole engine running over `mem` locations

mod replication {
    use std::ops::Range;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use bytes::Bytes;
    use futures::TryStreamExt;
    use strata_core::bucket_config::replication::{
        ReplicationConfiguration, ReplicationDestination, ReplicationRule,
    };
    use strata_core::meta::{
        DestinationReport, Precondition, ReplicationStatus, VersionUpdate, Versioning,
    };
    use strata_core::objects::PutRequest;
    use strata_core::{
        AccountRecord, ChecksumSource, Location, LocationSpec, Locations, Source, Strata,
    };
    use strata_data::{BlobWriter, ByteStream, CopyAttributes, DataBackend};
    use strata_engine::{Engine, EngineSettings};

    const BUCKET: &str = "src";
    /// A foreign destination: it keeps one copy per key, no versions.
    const DEST: &str = "dest";

    struct Site {
        strata: Arc<Strata>,
        account: AccountRecord,
        dir: tempfile::TempDir,
    }

    fn mem_location(name: &str) -> Location {
        let spec: LocationSpec = serde_json::from_str(r#"{"type": "mem"}"#).unwrap();
        Location {
            backend: spec.open(name).unwrap(),
            spec,
            source: Source::ConfigFile,
        }
    }

    /// A `mem` location whose copies of keys starting with `slow` take
    /// `SLOW_COPY` to commit, as a big copy to a cloud does.
    struct SlowCopies(Arc<dyn DataBackend>);
    const SLOW_COPY: Duration = Duration::from_secs(4);

    struct SlowWriter(Box<dyn BlobWriter>);

    #[async_trait::async_trait]
    impl BlobWriter for SlowWriter {
        async fn write(&mut self, data: Bytes) -> strata_data::Result<()> {
            self.0.write(data).await
        }
        async fn commit(self: Box<Self>) -> strata_data::Result<strata_data::Committed> {
            tokio::time::sleep(SLOW_COPY).await;
            self.0.commit().await
        }
    }

    #[async_trait::async_trait]
    impl DataBackend for SlowCopies {
        fn kind(&self) -> &'static str {
            "mem"
        }
        async fn check(&self) -> strata_data::Result<()> {
            self.0.check().await
        }
        async fn create(&self, key: &str) -> strata_data::Result<Box<dyn BlobWriter>> {
            self.0.create(key).await
        }
        async fn read(
            &self,
            key: &str,
            version: Option<&str>,
            range: Range<u64>,
        ) -> strata_data::Result<ByteStream> {
            self.0.read(key, version, range).await
        }
        async fn delete(&self, key: &str) -> strata_data::Result<()> {
            self.0.delete(key).await
        }
        fn copy_key(&self, bucket: &str, key: &str) -> String {
            self.0.copy_key(bucket, key)
        }
        async fn create_copy(
            &self,
            bucket: &str,
            key: &str,
            size: u64,
            attributes: &CopyAttributes,
        ) -> strata_data::Result<Box<dyn BlobWriter>> {
            if attributes.metadata.contains_key("refuse") {
                return Err(strata_data::DataError::Refused(
                    "refused by the test".into(),
                ));
            }
            let writer = self.0.create_copy(bucket, key, size, attributes).await?;
            Ok(if key.starts_with("slow") {
                Box::new(SlowWriter(writer))
            } else {
                writer
            })
        }
        async fn delete_copy(&self, bucket: &str, key: &str) -> strata_data::Result<()> {
            self.0.delete_copy(bucket, key).await
        }
        async fn head_copy(
            &self,
            bucket: &str,
            key: &str,
        ) -> strata_data::Result<Option<(u64, CopyAttributes)>> {
            self.0.head_copy(bucket, key).await
        }
        async fn read_copy(
            &self,
            bucket: &str,
            key: &str,
            version: Option<&str>,
            range: Option<Range<u64>>,
        ) -> strata_data::Result<ByteStream> {
            self.0.read_copy(bucket, key, version, range).await
        }
        async fn read_current_copy(
            &self,
            bucket: &str,
            key: &str,
            range: Range<u64>,
        ) -> strata_data::Result<Option<strata_data::CurrentCopy>> {
            self.0.read_current_copy(bucket, key, range).await
        }
    }

    /// A site with a versioned bucket and no replication rule yet.
    async fn site() -> Site {
        let dir = tempfile::tempdir().unwrap();
        let meta = strata_core::meta::EmbeddedStore::open(&dir.path().join("meta.redb")).unwrap();
        let locations = Locations::new("local");
        locations.add("local", mem_location("local"));
        let dest = mem_location(DEST);
        locations.add(
            DEST,
            Location {
                backend: Arc::new(SlowCopies(dest.backend.clone())),
                ..dest
            },
        );
        let strata = Arc::new(Strata::new(Arc::new(meta), locations, Default::default()));
        let (account, _) = strata.create_account("tester").await.unwrap();
        strata
            .create_bucket(&account, BUCKET, None, false, None)
            .await
            .unwrap();
        strata
            .set_versioning(&account, BUCKET, Versioning::Enabled)
            .await
            .unwrap();
        Site {
            strata,
            account,
            dir,
        }
    }

    impl Site {
        async fn put(&self, key: &str, body: &'static [u8]) -> String {
            self.put_with(key, body, Default::default()).await
        }

        async fn put_with(
            &self,
            key: &str,
            body: &'static [u8],
            attributes: strata_core::objects::ObjectAttributes,
        ) -> String {
            let stream = futures::stream::iter([Ok(Bytes::from_static(body))]);
            let record = self
                .strata
                .put_object(
                    &self.account,
                    PutRequest {
                        bucket: BUCKET.into(),
                        key: key.into(),
                        body: Box::pin(stream),
                        content_length: Some(body.len() as u64),
                        attributes,
                        content_md5: None,
                        checksum: ChecksumSource::None,
                        condition: Precondition::default(),
                    },
                )
                .await
                .unwrap();
            record.version_name().to_string()
        }

        async fn replicate_to(&self, locations: &str) {
            let rule = ReplicationRule {
                id: Some("all".into()),
                status: "Enabled".into(),
                prefix: Some(String::new()),
                destination: ReplicationDestination {
                    bucket: "arn:aws:s3:::replicas".into(),
                    storage_class: Some(locations.into()),
                    account: None,
                },
                ..Default::default()
            };
            let config = ReplicationConfiguration {
                role: "r".into(),
                rules: vec![rule],
            };
            self.strata
                .put_bucket_config(&self.account, BUCKET, config)
                .await
                .unwrap();
        }

        fn start_engine(&self) -> (Engine, tokio::sync::watch::Sender<bool>) {
            let (stop, stopped) = tokio::sync::watch::channel(false);
            let engine = Engine::start(
                self.strata.clone(),
                self.dir.path(),
                &EngineSettings::default(),
                stopped,
            )
            .unwrap();
            (engine, stop)
        }

        async fn wait_status(&self, key: &str, version: &str, want: ReplicationStatus) {
            let deadline = Instant::now() + Duration::from_secs(20);
            while self.status(key, version) != Some(want) {
                assert!(
                    Instant::now() < deadline,
                    "{key} {version} still {:?}",
                    self.status(key, version)
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }

        fn status(&self, key: &str, version: &str) -> Option<ReplicationStatus> {
            let record = self
                .strata
                .meta
                .get_version(BUCKET, key, version)
                .unwrap()
                .unwrap();
            Some(record.replication?.destination(DEST)?.status)
        }

        async fn wait_completed(&self, key: &str, version: &str) {
            self.wait_status(key, version, ReplicationStatus::Completed)
                .await;
        }

        /// The destination's copy of `key`.
        async fn copy_at_destination(&self, key: &str) -> Vec<u8> {
            let backend = self.strata.locations.get(DEST).unwrap();
            let chunks: Vec<Bytes> = backend
                .read_copy(BUCKET, key, None, None)
                .await
                .unwrap()
                .try_collect()
                .await
                .unwrap();
            chunks.concat()
        }
    }

    /// Backfills the bucket while the destination is paused, so that one
    /// batch then takes a key's versions together, the newest first, before
    /// its COMPLETED reaches the record.
    async fn backfill_in_one_batch(engine: &Engine) {
        let replication = engine.replication.clone().unwrap();
        replication.pause(DEST).unwrap();
        engine.backfill(BUCKET).unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        replication.resume(DEST, None).unwrap();
    }

    async fn stop(engine: Engine, stop: tokio::sync::watch::Sender<bool>) {
        stop.send(true).unwrap();
        engine.workers.join().await;
    }

    /// How many messages the running populator has published.
    fn published(engine: &Engine) -> Option<u64> {
        let populator = engine
            .workers
            .list()
            .into_iter()
            .find(|w| w.name == "populator")?;
        let (_, after) = populator.progress.split_once(", ")?;
        after.strip_suffix(" messages published")?.parse().ok()
    }

    /// A clean stop saves the populator's checkpoint: a restart does not
    /// publish (and replicate) again what the last run published.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_clean_stop_saves_the_populator_checkpoint() {
        let site = site().await;
        site.replicate_to(DEST).await;
        let (engine, stopper) = site.start_engine();
        let version = site.put("doc", b"bytes").await;
        // Stopped as soon as it is published: well within the once-a-second save.
        let deadline = Instant::now() + Duration::from_secs(20);
        while published(&engine) != Some(1) {
            assert!(Instant::now() < deadline, "never published");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        stop(engine, stopper).await;

        let (engine, stopper) = site.start_engine();
        site.wait_completed("doc", &version).await;
        tokio::time::sleep(Duration::from_millis(300)).await; // a few journal polls
        assert_eq!(
            published(&engine),
            Some(0),
            "published again after a clean stop"
        );
        stop(engine, stopper).await;
    }

    /// A backfill queues a key's versions newest first; a destination that
    /// keeps one copy per key must still end with the newest.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_older_version_never_replaces_a_newer_copy() {
        let site = site().await;
        let v1 = site.put("doc", b"first").await;
        let v2 = site.put("doc", b"second").await;
        site.replicate_to(DEST).await;
        let (engine, stopper) = site.start_engine();
        backfill_in_one_batch(&engine).await;
        site.wait_completed("doc", &v2).await;
        site.wait_completed("doc", &v1).await;
        assert_eq!(site.copy_at_destination("doc").await, b"second");

        // A change to the older version's tags sends it again: still not over the newer.
        let tags = [("k".to_string(), "v".to_string())].into();
        site.strata
            .meta
            .update_version(BUCKET, "doc", Some(&v1), VersionUpdate::Tags(tags))
            .await
            .unwrap();
        let v3 = site.put("other", b"later").await;
        site.wait_completed("other", &v3).await;
        site.wait_completed("doc", &v1).await;
        assert_eq!(site.copy_at_destination("doc").await, b"second");
        stop(engine, stopper).await;
    }

    /// A version bound PENDING whose task never reached the bus (a crash
    /// between the two) is queued again by a backfill.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn backfill_requeues_a_version_left_pending() {
        let site = site().await;
        let v1 = site.put("stuck", b"bytes").await;
        site.replicate_to(DEST).await;
        let pending = DestinationReport::new(DEST, 0, ReplicationStatus::Pending);
        site.strata
            .meta
            .update_version(
                BUCKET,
                "stuck",
                Some(&v1),
                VersionUpdate::Replication(vec![pending]),
            )
            .await
            .unwrap();
        let (engine, stopper) = site.start_engine();
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(
            site.status("stuck", &v1),
            Some(ReplicationStatus::Pending),
            "nothing queued it"
        );
        engine.backfill(BUCKET).unwrap();
        site.wait_completed("stuck", &v1).await;
        assert_eq!(site.copy_at_destination("stuck").await, b"bytes");
        stop(engine, stopper).await;
    }

    /// A copy that takes long holds up only its own partition: the versions
    /// of other partitions queued behind it complete meanwhile.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_slow_copy_holds_up_no_other_partition() {
        let site = site().await;
        site.replicate_to(DEST).await;
        let (engine, stopper) = site.start_engine();
        let slow = site.put("slow", b"takes a while").await;
        tokio::time::sleep(Duration::from_millis(300)).await; // its copy is under way
        let bus = engine.replication.as_ref().unwrap().bus.clone();
        let partition = |key: &str| bus.partition_of(&format!("{BUCKET}/{key}"));
        let mut others = Vec::new();
        for i in 0..20 {
            let key = format!("quick-{i}");
            others.push((key.clone(), site.put(&key, b"quick").await));
        }
        let (held, free): (Vec<_>, Vec<_>) = others
            .iter()
            .partition(|(key, _)| partition(key) == partition("slow"));
        assert!(!free.is_empty());
        for (key, version) in &free {
            site.wait_completed(key, version).await;
        }
        assert_ne!(
            site.status("slow", &slow),
            Some(ReplicationStatus::Completed),
            "the other partitions' versions did not wait for the slow copy"
        );
        for (key, version) in held {
            site.wait_completed(key, version).await;
        }
        site.wait_completed("slow", &slow).await;
        stop(engine, stopper).await;
    }

    /// Only a newer version whose copy is there keeps an older one from a
    /// destination that holds one copy per key: one that failed does not.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_older_version_is_sent_when_the_newer_one_failed() {
        let site = site().await;
        site.replicate_to(DEST).await;
        let (engine, stopper) = site.start_engine();
        let replication = engine.replication.clone().unwrap();
        replication.pause(DEST).unwrap();
        let v1 = site.put("doc", b"first").await;
        let refused = strata_core::objects::ObjectAttributes {
            user_metadata: [("refuse".to_string(), "yes".to_string())].into(),
            ..Default::default()
        };
        let v2 = site.put_with("doc", b"second", refused).await;
        replication.resume(DEST, None).unwrap();
        site.wait_completed("doc", &v1).await;
        site.wait_status("doc", &v2, ReplicationStatus::Failed)
            .await;
        assert_eq!(site.copy_at_destination("doc").await, b"first");

        // Its location gone, a failed entry is not retried (nothing would
        // send it): it stays listed.
        let target = strata_engine::replication::RetryTarget {
            location: DEST.into(),
            bucket: BUCKET.into(),
            key: "doc".into(),
            version_id: v2.clone(),
        };
        let removed = site.strata.locations.remove(DEST).unwrap();
        assert!(
            replication
                .retry(std::slice::from_ref(&target))
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(site.status("doc", &v2), Some(ReplicationStatus::Failed));
        site.strata.locations.add(DEST, removed);
        assert_eq!(replication.retry(&[target]).await.unwrap().len(), 1);
        stop(engine, stopper).await;
    }

    /// A key deleted before the rule (its newest version a delete marker)
    /// ends without a copy at a destination that keeps no markers, though a
    /// backfill also sends its older versions.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_deleted_key_stays_deleted_at_a_foreign_destination() {
        let site = site().await;
        let v1 = site.put("gone", b"first").await;
        let v2 = site.put("gone", b"second").await;
        let marker = site
            .strata
            .delete_object(&site.account, BUCKET, "gone", None, false)
            .await
            .unwrap();
        let marker = marker.version_id.expect("a delete marker's version");
        site.replicate_to(DEST).await;
        let (engine, stopper) = site.start_engine();
        backfill_in_one_batch(&engine).await;
        for version in [&marker, &v2, &v1] {
            site.wait_completed("gone", version).await;
        }
        let backend = site.strata.locations.get(DEST).unwrap();
        assert!(backend.head_copy(BUCKET, "gone").await.unwrap().is_none());
        stop(engine, stopper).await;
    }
}
