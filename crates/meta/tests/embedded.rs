//! The embedded store against the conformance suite, and across a reopen.

use strata_meta::conformance;
use strata_meta::{BucketRecord, EmbeddedStore, MetadataStore, ObjectPut, Precondition};

#[tokio::test]
async fn embedded_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(&dir.path().join("meta.redb")).unwrap();
    conformance::run_all(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_writes_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.redb");
    {
        let store = std::sync::Arc::new(EmbeddedStore::open(&path).unwrap());
        let bucket = BucketRecord {
            name: "b".into(),
            owner: "o".into(),
            created_ms: 1,
            location: "l".into(),
            versioning: Default::default(),
            object_lock: false,
        };
        store.create_bucket(bucket).await.unwrap();
        // Concurrent writers share group commits.
        let writers: Vec<_> = (0..50)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    store
                        .put_object(ObjectPut {
                            bucket: "b".into(),
                            key: format!("k{i:02}"),
                            record: conformance::object(
                                &format!("e{i}"),
                                Some(&format!("blob{i}")),
                            ),
                            inline: None,
                            condition: Precondition::default(),
                            shares_current_data: false,
                            version_id: None,
                        })
                        .await
                })
            })
            .collect();
        for w in writers {
            w.await.unwrap().unwrap();
        }
    }
    let store = EmbeddedStore::open(&path).unwrap();
    assert_eq!(
        store.get_object("b", "k49").unwrap().map(|r| r.etag),
        Some("e49".into())
    );
    assert_eq!(store.read_journal(0, 1000).unwrap().len(), 50);
}
