//! The conformance suite every `MetadataStore` implementation must pass. It is
//! public so that each implementation's tests run the very same checks; each
//! check panics with a message naming what the store got wrong.

use std::collections::BTreeMap;

use crate::MetaError;
use crate::listing::ListPage;
use crate::listing::{ListEntry, ListQuery};
use crate::records::*;
use crate::store::{ListedVersion, MetadataStore, ObjectDelete, ObjectPut, VersionQuery};

/// Runs every check against a fresh, empty store.
pub async fn run_all(store: &dyn MetadataStore) {
    accounts_and_keys(store).await;
    buckets(store).await;
    bucket_settings(store).await;
    objects_and_journal(store).await;
    versions(store).await;
    replication(store).await;
    listing(store).await;
    multipart(store).await;
    blob_lifecycle(store).await;
    locations(store).await;
}

fn bucket(name: &str, owner: &str) -> BucketRecord {
    BucketRecord {
        name: name.into(),
        owner: owner.into(),
        created_ms: 1,
        location: "loc".into(),
        versioning: Versioning::Unversioned,
        object_lock: false,
    }
}

/// A record whose bytes are one stored blob `blob` (or inline when None).
pub fn object(etag: &str, blob: Option<&str>) -> ObjectRecord {
    let chunk = match blob {
        Some(key) => BlobRef::Stored(key.into()),
        None => BlobRef::Inline(format!("inline-{etag}")),
    };
    ObjectRecord {
        size: 3,
        etag: etag.into(),
        last_modified_ms: 2,
        owner: "owner".into(),
        headers: ContentHeaders::default(),
        user_metadata: BTreeMap::new(),
        checksum: None,
        data: DataLocator {
            location: "loc".into(),
            chunks: vec![Chunk {
                size: 3,
                blob: chunk,
                version: None,
            }],
        },
        parts: vec![],
        upload_id: None,
        version_id: None,
        delete_marker: false,
        tags: BTreeMap::new(),
        retention: None,
        legal_hold: false,
        acl: None,
        encryption: None,
        replication: None,
    }
}

fn put(bucket: &str, key: &str, record: ObjectRecord) -> ObjectPut {
    let inline = record.data.inline_ids().next().map(|_| b"abc".to_vec());
    ObjectPut {
        bucket: bucket.into(),
        key: key.into(),
        record,
        inline,
        condition: Precondition::default(),
        shares_current_data: false,
        version_id: None,
    }
}

/// A version bound for `locations`, as the core writes it when a rule matches.
fn replicating(etag: &str, locations: &[&str]) -> ObjectRecord {
    ObjectRecord {
        replication: Some(Replication::pending(locations.iter().copied(), 1)),
        ..object(etag, None)
    }
}

/// DeleteObject of the current version (None) or of one version.
fn del(bucket: &str, key: &str, version_id: Option<&str>) -> ObjectDelete {
    ObjectDelete {
        bucket: bucket.into(),
        key: key.into(),
        version_id: version_id.map(Into::into),
        condition: Precondition::default(),
        requester: "owner".into(),
        bypass_governance: false,
        marker_replication: None,
    }
}

fn addr(key: &str) -> BlobAddr {
    BlobAddr {
        location: "loc".into(),
        key: key.into(),
    }
}

async fn accounts_and_keys(store: &dyn MetadataStore) {
    let account = AccountRecord {
        id: "acct-1".into(),
        name: "alice".into(),
        created_ms: 1,
    };
    store.put_account(account.clone()).await.unwrap();
    assert_eq!(store.get_account("acct-1").unwrap(), Some(account));
    let key = AccessKeyRecord {
        access_key: "AK1".into(),
        secret_key: "secret".into(),
        account_id: "acct-1".into(),
        created_ms: 1,
        declared_by: Some(KeySource::AccountsFile),
    };
    store.put_access_key(key.clone()).await.unwrap();
    assert_eq!(store.get_access_key("AK1").unwrap(), Some(key));
    let orphan = AccessKeyRecord {
        access_key: "AK2".into(),
        secret_key: "s".into(),
        account_id: "nobody".into(),
        created_ms: 1,
        declared_by: None,
    };
    assert!(
        matches!(
            store.put_access_key(orphan).await,
            Err(MetaError::NoSuchAccount)
        ),
        "a key needs an existing account"
    );
    store
        .create_bucket(bucket("alices-bucket", "acct-1"))
        .await
        .unwrap();
    assert!(matches!(
        store.delete_account("acct-1").await,
        Err(MetaError::AccountHasBuckets)
    ));
    store.delete_bucket("alices-bucket").await.unwrap();
    store.delete_account("acct-1").await.unwrap();
    assert_eq!(
        store.get_access_key("AK1").unwrap(),
        None,
        "deleting an account deletes its keys"
    );
    assert!(!store.delete_access_key("AK1").await.unwrap());
}

async fn buckets(store: &dyn MetadataStore) {
    store.create_bucket(bucket("b1", "o1")).await.unwrap();
    match store.create_bucket(bucket("b1", "o2")).await {
        Err(MetaError::BucketExists { owner }) => {
            assert_eq!(owner, "o1", "the existing owner is reported")
        }
        other => panic!("creating an existing bucket: {other:?}"),
    }
    assert_eq!(
        store.get_bucket("b1").unwrap().map(|b| b.owner),
        Some("o1".into())
    );
    store
        .put_object(put("b1", "k", object("e1", None)))
        .await
        .unwrap();
    assert!(matches!(
        store.delete_bucket("b1").await,
        Err(MetaError::BucketNotEmpty)
    ));
    store.delete_object(del("b1", "k", None)).await.unwrap();
    store.delete_bucket("b1").await.unwrap();
    assert!(matches!(
        store.delete_bucket("b1").await,
        Err(MetaError::NoSuchBucket)
    ));
    assert!(matches!(
        store.put_object(put("b1", "k", object("e", None))).await,
        Err(MetaError::NoSuchBucket)
    ));
}

async fn bucket_settings(store: &dyn MetadataStore) {
    store.create_bucket(bucket("cfg", "o")).await.unwrap();
    store
        .set_bucket_versioning("cfg", Versioning::Enabled)
        .await
        .unwrap();
    assert_eq!(
        store.get_bucket("cfg").unwrap().map(|b| b.versioning),
        Some(Versioning::Enabled)
    );
    assert!(matches!(
        store
            .set_bucket_versioning("nope", Versioning::Enabled)
            .await,
        Err(MetaError::NoSuchBucket)
    ));
    store.enable_object_lock("cfg").await.unwrap();
    assert!(
        matches!(
            store
                .set_bucket_versioning("cfg", Versioning::Suspended)
                .await,
            Err(MetaError::Conflict(_))
        ),
        "Object Lock keeps versioning on"
    );
    store.create_bucket(bucket("plain", "o")).await.unwrap();
    assert!(matches!(
        store.enable_object_lock("plain").await,
        Err(MetaError::Conflict(_))
    ));
    store.delete_bucket("plain").await.unwrap();
    let kind = BucketConfigKind::Cors;
    assert_eq!(store.get_bucket_config("cfg", kind).unwrap(), None);
    store
        .put_bucket_config("cfg", kind, Some("{\"a\":1}".into()))
        .await
        .unwrap();
    store
        .put_bucket_config("cfg", BucketConfigKind::Tagging, Some("{}".into()))
        .await
        .unwrap();
    assert_eq!(
        store.get_bucket_config("cfg", kind).unwrap().as_deref(),
        Some("{\"a\":1}")
    );
    store.put_bucket_config("cfg", kind, None).await.unwrap();
    assert_eq!(store.get_bucket_config("cfg", kind).unwrap(), None);
    assert!(matches!(
        store
            .put_bucket_config("nope", kind, Some("{}".into()))
            .await,
        Err(MetaError::NoSuchBucket)
    ));
    // Configurations go with their bucket: a new bucket of the same name starts bare.
    store.delete_bucket("cfg").await.unwrap();
    store.create_bucket(bucket("cfg", "o")).await.unwrap();
    assert_eq!(
        store
            .get_bucket_config("cfg", BucketConfigKind::Tagging)
            .unwrap(),
        None
    );
    store.delete_bucket("cfg").await.unwrap();
}

async fn objects_and_journal(store: &dyn MetadataStore) {
    store.create_bucket(bucket("obj", "o")).await.unwrap();
    let start = store
        .read_journal(0, usize::MAX)
        .unwrap()
        .last()
        .map_or(0, |e| e.seq);
    let first = store
        .put_object(put("obj", "k", object("e1", None)))
        .await
        .unwrap();
    assert_eq!(
        first.record.version_id, None,
        "an unversioned bucket writes the null version"
    );
    assert_eq!(
        store.read_inline("inline-e1").unwrap(),
        Some(b"abc".to_vec())
    );
    let replaced = store
        .put_object(put("obj", "k", object("e2", Some("blob-2"))))
        .await
        .unwrap();
    assert!(!replaced.retired_blobs, "an inline version has no blobs");
    assert_eq!(
        store.read_inline("inline-e1").unwrap(),
        None,
        "a replaced inline version's bytes go"
    );

    let mut cond = put("obj", "k", object("e3", None));
    cond.condition.if_none_match = Some("*".into());
    assert!(matches!(
        store.put_object(cond).await,
        Err(MetaError::PreconditionFailed)
    ));
    let mut cond = put("obj", "k", object("e3", None));
    cond.condition.if_match = Some("\"e2\"".into());
    store.put_object(cond).await.unwrap();
    assert!(
        store
            .list_garbage(None, 100)
            .unwrap()
            .contains(&addr("blob-2")),
        "a replaced blob becomes garbage"
    );

    let bad = Precondition {
        if_match: Some("nope".into()),
        if_none_match: None,
    };
    let mut refused = del("obj", "k", None);
    refused.condition = bad;
    assert!(matches!(
        store.delete_object(refused).await,
        Err(MetaError::PreconditionFailed)
    ));
    store.delete_object(del("obj", "k", None)).await.unwrap();
    assert_eq!(store.get_object("obj", "k").unwrap(), None);
    assert_eq!(
        store.latest_version("obj", "k").unwrap(),
        None,
        "an unversioned delete leaves no version behind"
    );
    store.delete_object(del("obj", "k", None)).await.unwrap();

    let entries = store.read_journal(start, usize::MAX).unwrap();
    let ops: Vec<(JournalOp, Option<&str>)> = entries
        .iter()
        .map(|e| (e.op, e.value.as_ref().map(|v| v.etag.as_str())))
        .collect();
    assert_eq!(
        ops,
        [
            (JournalOp::Put, Some("e1")),
            (JournalOp::Put, Some("e2")),
            (JournalOp::Put, Some("e3")),
            (JournalOp::Delete, None)
        ],
        "one journal entry per committed change, none for refused ones"
    );
    assert!(
        entries.windows(2).all(|w| w[1].seq == w[0].seq + 1),
        "sequence numbers are consecutive"
    );
    assert_eq!(
        store.read_journal(entries[1].seq, 1).unwrap()[0].seq,
        entries[2].seq,
        "reading resumes after a sequence number"
    );

    // Trimming takes the oldest entries, `limit` at a time; numbering goes on.
    assert_eq!(store.trim_journal(entries[1].seq, 1).await.unwrap(), 1);
    let trimmed = store
        .trim_journal(entries[1].seq, usize::MAX)
        .await
        .unwrap();
    assert!(trimmed >= 1, "the rest up to the bound goes");
    assert_eq!(
        store
            .trim_journal(entries[1].seq, usize::MAX)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store.read_journal(0, 1).unwrap()[0].seq,
        entries[2].seq,
        "entries past the bound stay"
    );
    store
        .put_object(put("obj", "after-trim", object("e4", None)))
        .await
        .unwrap();
    let last = store.read_journal(entries[3].seq, usize::MAX).unwrap();
    assert_eq!(last[0].seq, entries[3].seq + 1, "numbers are never reused");
}

fn version_names(page: &ListPage<ListedVersion>) -> Vec<(String, String, bool, bool)> {
    page.entries
        .iter()
        .filter_map(|e| match e {
            ListEntry::Object(k, v) => Some((
                k.clone(),
                v.record.etag.clone(),
                v.record.delete_marker,
                v.is_latest,
            )),
            ListEntry::CommonPrefix(_) => None,
        })
        .collect()
}

async fn versions(store: &dyn MetadataStore) {
    store.create_bucket(bucket("ver", "o")).await.unwrap();
    // Written before versioning: the null version.
    store
        .put_object(put("ver", "k", object("n0", Some("blob-n0"))))
        .await
        .unwrap();
    store
        .set_bucket_versioning("ver", Versioning::Enabled)
        .await
        .unwrap();
    let v1 = store
        .put_object(put("ver", "k", object("v1", None)))
        .await
        .unwrap()
        .record;
    let v1_id = v1
        .version_id
        .clone()
        .expect("a versioning bucket mints ids");
    let v2 = store
        .put_object(put("ver", "k", object("v2", None)))
        .await
        .unwrap()
        .record;
    assert_ne!(v2.version_id, v1.version_id);
    assert_eq!(
        store.get_object("ver", "k").unwrap().map(|r| r.etag),
        Some("v2".into())
    );
    assert_eq!(
        store
            .get_version("ver", "k", &v1_id)
            .unwrap()
            .map(|r| r.etag),
        Some("v1".into())
    );
    assert_eq!(
        store
            .get_version("ver", "k", NULL_VERSION)
            .unwrap()
            .map(|r| r.etag),
        Some("n0".into()),
        "the version from before versioning is the null version"
    );
    assert!(matches!(
        store.get_version("ver", "k", "not-an-id"),
        Err(MetaError::InvalidVersionId)
    ));

    // A delete without a version id hides the object behind a marker.
    let marked = store.delete_object(del("ver", "k", None)).await.unwrap();
    assert!(marked.delete_marker && marked.version_id.is_some());
    assert_eq!(store.get_object("ver", "k").unwrap(), None);
    assert!(
        store
            .latest_version("ver", "k")
            .unwrap()
            .is_some_and(|r| r.delete_marker)
    );
    let query = VersionQuery {
        list: ListQuery {
            limit: 100,
            ..Default::default()
        },
        version_id_marker: None,
    };
    let all = store.list_versions("ver", &query).unwrap();
    assert_eq!(
        version_names(&all),
        [
            ("k".into(), "".into(), true, true),
            ("k".into(), "v2".into(), false, false),
            ("k".into(), "v1".into(), false, false),
            ("k".into(), "n0".into(), false, false),
        ],
        "versions list newest first"
    );
    assert!(
        store
            .list_objects("ver", &query.list)
            .unwrap()
            .entries
            .is_empty(),
        "a delete marker hides the key from ListObjects"
    );
    // Paging inside one key's history.
    let mut paged = query.clone();
    paged.list.limit = 2;
    let first = store.list_versions("ver", &paged).unwrap();
    assert!(first.truncated);
    paged.list.start_after = Some("k".into());
    paged.version_id_marker = v2.version_id.clone();
    let rest = store.list_versions("ver", &paged).unwrap();
    assert_eq!(
        version_names(&rest),
        [
            ("k".into(), "v1".into(), false, false),
            ("k".into(), "n0".into(), false, false),
        ]
    );

    // Removing the marker by id brings v2 back.
    store
        .delete_object(del("ver", "k", marked.version_id.as_deref()))
        .await
        .unwrap();
    assert_eq!(
        store.get_object("ver", "k").unwrap().map(|r| r.etag),
        Some("v2".into())
    );
    // Removing the current version for good makes the previous one current.
    store
        .delete_object(del("ver", "k", v2.version_id.as_deref()))
        .await
        .unwrap();
    assert_eq!(
        store.get_object("ver", "k").unwrap().map(|r| r.etag),
        Some("v1".into())
    );
    let gone = store
        .delete_object(del("ver", "k", Some(NULL_VERSION)))
        .await
        .unwrap();
    assert!(gone.retired_blobs);
    assert!(
        store
            .list_garbage(None, 100)
            .unwrap()
            .contains(&addr("blob-n0"))
    );

    // Tags change a version in place, current or not.
    let tags: BTreeMap<String, String> = [("a".to_string(), "1".to_string())].into();
    store
        .update_version("ver", "k", None, VersionUpdate::Tags(tags.clone()))
        .await
        .unwrap();
    assert_eq!(
        store.get_object("ver", "k").unwrap().map(|r| r.tags),
        Some(tags)
    );

    // Object Lock: a protected version cannot be removed, a bypass lifts
    // GOVERNANCE only, and a legal hold holds whatever the bypass.
    let locked = store
        .put_object(put("ver", "locked", object("l", None)))
        .await
        .unwrap()
        .record;
    let locked_id = locked.version_id.as_deref();
    let far = i64::MAX / 2;
    for (mode, bypassable) in [(LockMode::Compliance, false), (LockMode::Governance, true)] {
        let retention = Retention {
            mode,
            until_ms: far,
        };
        store
            .update_version(
                "ver",
                "locked",
                locked_id,
                VersionUpdate::Retention(Some(retention)),
            )
            .await
            .unwrap();
        assert!(matches!(
            store.delete_object(del("ver", "locked", locked_id)).await,
            Err(MetaError::ObjectLocked)
        ));
        let mut bypass = del("ver", "locked", locked_id);
        bypass.bypass_governance = true;
        store
            .update_version("ver", "locked", locked_id, VersionUpdate::LegalHold(true))
            .await
            .unwrap();
        assert!(matches!(
            store.delete_object(bypass.clone()).await,
            Err(MetaError::ObjectLocked)
        ));
        store
            .update_version("ver", "locked", locked_id, VersionUpdate::LegalHold(false))
            .await
            .unwrap();
        assert_eq!(store.delete_object(bypass).await.is_ok(), bypassable);
    }

    // Suspended: writes replace the null version and keep the others.
    store
        .set_bucket_versioning("ver", Versioning::Suspended)
        .await
        .unwrap();
    for etag in ["s1", "s2"] {
        let written = store
            .put_object(put("ver", "k", object(etag, None)))
            .await
            .unwrap();
        assert_eq!(written.record.version_id, None);
    }
    let etags: Vec<String> = version_names(&store.list_versions("ver", &query).unwrap())
        .into_iter()
        .map(|v| v.1)
        .collect();
    assert_eq!(etags, ["s2", "v1"]);
    assert!(matches!(
        store.delete_bucket("ver").await,
        Err(MetaError::BucketNotEmpty)
    ));
    for id in [v1_id.as_str(), NULL_VERSION] {
        store
            .delete_object(del("ver", "k", Some(id)))
            .await
            .unwrap();
    }
    store.delete_bucket("ver").await.unwrap();
}

async fn listing(store: &dyn MetadataStore) {
    store.create_bucket(bucket("lst", "o")).await.unwrap();
    store.create_bucket(bucket("lst2", "o")).await.unwrap();
    for key in ["a", "b/1", "b/2", "c", "é", "z"] {
        store
            .put_object(put("lst", key, object(key, None)))
            .await
            .unwrap();
    }
    store
        .put_object(put("lst2", "a", object("other", None)))
        .await
        .unwrap();
    let q = |prefix: &str, delimiter: Option<&str>, after: Option<&str>, limit| ListQuery {
        prefix: prefix.into(),
        delimiter: delimiter.map(Into::into),
        start_after: after.map(Into::into),
        limit,
    };
    let names = |page: crate::ListPage<ObjectRecord>| {
        page.entries
            .iter()
            .map(|e| e.name().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(store.list_objects("lst", &q("", None, None, 100)).unwrap()),
        ["a", "b/1", "b/2", "c", "z", "é"],
        "byte order, one bucket only"
    );
    let page = store
        .list_objects("lst", &q("", Some("/"), None, 2))
        .unwrap();
    assert!(page.truncated);
    assert!(matches!(&page.entries[1], ListEntry::CommonPrefix(p) if p == "b/"));
    assert_eq!(
        names(
            store
                .list_objects("lst", &q("", Some("/"), Some("b/"), 10))
                .unwrap()
        ),
        ["c", "z", "é"]
    );
    assert_eq!(
        names(store.list_objects("lst", &q("b/", None, None, 10)).unwrap()),
        ["b/1", "b/2"]
    );
}

async fn multipart(store: &dyn MetadataStore) {
    store.create_bucket(bucket("mp", "o")).await.unwrap();
    let upload = UploadRecord {
        bucket: "mp".into(),
        key: "big".into(),
        upload_id: "u1".into(),
        owner: "o".into(),
        initiated_ms: 1,
        location: "loc".into(),
        headers: ContentHeaders::default(),
        user_metadata: BTreeMap::new(),
        checksum_algorithm: None,
        checksum_type: None,
        tags: BTreeMap::new(),
        retention: None,
        legal_hold: false,
        acl: None,
        encryption: None,
        assembly: None,
    };
    store.create_upload(upload.clone()).await.unwrap();
    let part = |n: u32, blob: &str| PartRecord {
        number: n,
        size: 3,
        etag: format!("p{n}"),
        last_modified_ms: 1,
        blob: blob.into(),
        checksum: None,
        piece: None,
    };
    for (n, blob) in [(1, "part-1"), (2, "part-2"), (3, "part-3")] {
        store.open_blob(addr(blob)).await.unwrap();
        store.put_part(&upload, part(n, blob), "loc").await.unwrap();
    }
    store
        .put_part(&upload, part(2, "part-2b"), "loc")
        .await
        .unwrap();
    assert!(
        store
            .list_garbage(None, 100)
            .unwrap()
            .contains(&addr("part-2")),
        "a replaced part becomes garbage"
    );
    assert_eq!(
        store
            .list_parts("u1", 1, 10)
            .unwrap()
            .iter()
            .map(|p| p.number)
            .collect::<Vec<_>>(),
        [2, 3]
    );
    assert_eq!(
        store.list_uploads("mp", None, 10).unwrap(),
        vec![upload.clone()]
    );
    assert!(
        store
            .list_uploads("mp", Some(("big", "u1")), 10)
            .unwrap()
            .is_empty()
    );

    let mut record = object("mpu-2", Some("part-1"));
    record.data.chunks.push(Chunk {
        size: 3,
        blob: BlobRef::Stored("part-2b".into()),
        version: None,
    });
    store
        .complete_upload(&upload, put("mp", "big", record))
        .await
        .unwrap();
    let garbage = store.list_garbage(None, 100).unwrap();
    assert!(
        garbage.contains(&addr("part-3")),
        "an unused part becomes garbage"
    );
    assert!(
        !garbage.contains(&addr("part-1")) && !garbage.contains(&addr("part-2b")),
        "used parts stay"
    );
    assert!(store.get_upload("mp", "big", "u1").unwrap().is_none());
    assert!(matches!(
        store.abort_upload(&upload).await,
        Err(MetaError::NoSuchUpload)
    ));
    assert!(matches!(
        store.put_part(&upload, part(4, "x"), "loc").await,
        Err(MetaError::NoSuchUpload)
    ));

    let unfinished = UploadRecord {
        upload_id: "u2".into(),
        ..upload.clone()
    };
    store.create_upload(unfinished.clone()).await.unwrap();
    store
        .put_part(&unfinished, part(1, "part-u2"), "loc")
        .await
        .unwrap();
    assert!(
        matches!(
            store.delete_bucket("mp").await,
            Err(MetaError::BucketNotEmpty)
        ),
        "objects keep a bucket"
    );
    store.delete_object(del("mp", "big", None)).await.unwrap();
    store.delete_bucket("mp").await.unwrap();
    assert!(
        store.get_upload("mp", "big", "u2").unwrap().is_none(),
        "unfinished uploads go with their bucket"
    );
    assert!(
        store
            .list_garbage(None, 100)
            .unwrap()
            .contains(&addr("part-u2")),
        "and their parts become garbage"
    );
    assembled_uploads(store, upload).await;
}

/// Uploads whose location assembles the object: their parts are pieces,
/// never garbage; an upload given up leaves its assembly as garbage.
async fn assembled_uploads(store: &dyn MetadataStore, template: UploadRecord) {
    store.create_bucket(bucket("asm", "o")).await.unwrap();
    let assembly = |n: &str| Assembly {
        key: format!("asm/big@{n}"),
        id: format!("backend-upload-{n}"),
    };
    let upload = |id: &str| UploadRecord {
        bucket: "asm".into(),
        upload_id: id.into(),
        location: "loc".into(),
        assembly: Some(assembly(id)),
        ..template.clone()
    };
    // Each assembly's intent opens before its backend upload starts, and
    // recording the upload closes it; one never recorded is recovered as
    // "abort every assembly of this key".
    for n in ["a1", "a2", "a3", "lost"] {
        let intent = Assembly::starting("loc", &assembly(n).key);
        store.open_blob(intent).await.unwrap();
    }
    let piece = |n: u32, tag: &str| PartRecord {
        number: n,
        size: 3,
        etag: format!("p{n}"),
        last_modified_ms: 1,
        blob: String::new(),
        checksum: None,
        piece: Some(tag.into()),
    };
    let (done, aborted, orphaned) = (upload("a1"), upload("a2"), upload("a3"));
    for u in [&done, &aborted, &orphaned] {
        store.create_upload(u.clone()).await.unwrap();
        store.put_part(u, piece(1, "tag-1"), "loc").await.unwrap();
        store.put_part(u, piece(1, "tag-1b"), "loc").await.unwrap();
        store.put_part(u, piece(2, "tag-2"), "loc").await.unwrap();
    }
    assert_eq!(
        store.get_upload("asm", "big", "a1").unwrap(),
        Some(done.clone()),
        "an upload keeps its assembly"
    );
    assert_eq!(
        store.list_parts("a1", 0, 10).unwrap()[0].piece.as_deref(),
        Some("tag-1b"),
        "a piece replaces the one before"
    );
    let garbage = |store: &dyn MetadataStore| {
        store
            .list_garbage(None, 1000)
            .unwrap()
            .into_iter()
            .filter(|g| g.key.starts_with("asm/") || g.key.is_empty())
            .collect::<Vec<_>>()
    };
    assert!(garbage(store).is_empty(), "pieces are never garbage");

    let mut record = object("asm-1", Some(&assembly("a1").key));
    record.data.chunks[0].size = 6;
    store
        .complete_upload(&done, put("asm", "big", record))
        .await
        .unwrap();
    assert!(
        garbage(store).is_empty(),
        "a completed assembly is the object"
    );
    store.abort_upload(&aborted).await.unwrap();
    let given_up = assembly("a2").garbage("loc");
    assert_eq!(garbage(store), vec![given_up.clone()]);
    assert_eq!(Assembly::from_garbage(&given_up.key), Some(assembly("a2")));
    assert_eq!(Assembly::from_garbage(&addr("part-1").key), None);
    store.forget_garbage(vec![given_up]).await.unwrap();
    store.delete_object(del("asm", "big", None)).await.unwrap();
    let forgotten: Vec<BlobAddr> = store.list_garbage(None, 1000).unwrap();
    store.forget_garbage(forgotten).await.unwrap();
    store.delete_bucket("asm").await.unwrap();
    assert_eq!(
        garbage(store),
        vec![assembly("a3").garbage("loc")],
        "an upload that goes with its bucket leaves its assembly as garbage"
    );
    store.recover_open_blobs(&[]).await.unwrap();
    let lost = Assembly::starting("loc", &assembly("lost").key);
    assert_eq!(
        garbage(store),
        vec![assembly("a3").garbage("loc"), lost.clone()],
        "only the intent of the assembly never recorded is left to recover"
    );
    assert_eq!(
        Assembly::from_garbage(&lost.key),
        Some(Assembly {
            key: assembly("lost").key,
            id: String::new(),
        })
    );
    store.forget_garbage(garbage(store)).await.unwrap();
}

async fn blob_lifecycle(store: &dyn MetadataStore) {
    store.open_blob(addr("crashed")).await.unwrap();
    store.open_blob(addr("failed")).await.unwrap();
    store.discard_blob(addr("failed")).await.unwrap();
    assert!(
        store
            .list_garbage(None, 1000)
            .unwrap()
            .contains(&addr("failed"))
    );
    store.open_blob(addr("crashed-in-a-cloud")).await.unwrap();
    let cloud = addr("crashed-in-a-cloud").location;
    assert!(
        store
            .recover_open_blobs(std::slice::from_ref(&cloud))
            .await
            .unwrap()
            >= 2
    );
    let lost_upload = Assembly::starting(&cloud, &addr("crashed-in-a-cloud").key);
    assert!(
        store
            .list_garbage(None, 1000)
            .unwrap()
            .contains(&lost_upload),
        "a blob of an assembling location also gets its uploads aborted"
    );
    assert!(
        store
            .list_garbage(None, 1000)
            .unwrap()
            .contains(&addr("crashed")),
        "open blobs become garbage at recovery"
    );
    let all = store.list_garbage(None, 1000).unwrap();
    // Page by page, strictly after the last one seen, in (location, key) order.
    let mut paged = Vec::new();
    loop {
        let page = store.list_garbage(paged.last(), 1).unwrap();
        if page.is_empty() {
            break;
        }
        paged.extend(page);
    }
    assert_eq!(paged, all, "garbage pages cover the list once, in order");
    let mut sorted = all.clone();
    sorted.sort_by(|a, b| (&a.location, &a.key).cmp(&(&b.location, &b.key)));
    assert_eq!(all, sorted);
    store.forget_garbage(all).await.unwrap();
    assert!(store.list_garbage(None, 1000).unwrap().is_empty());
    assert_eq!(store.recover_open_blobs(&[]).await.unwrap(), 0);
}

async fn locations(store: &dyn MetadataStore) {
    let record = |name: &str| LocationRecord {
        name: name.into(),
        spec: format!("{{\"type\":\"mem\",\"n\":\"{name}\"}}"),
        created_ms: 5,
    };
    store.create_location(record("cloud-a")).await.unwrap();
    store.create_location(record("cloud-b")).await.unwrap();
    assert!(
        matches!(
            store.create_location(record("cloud-a")).await,
            Err(MetaError::LocationExists(_))
        ),
        "a location name is added once"
    );
    assert_eq!(
        store.get_location("cloud-a").unwrap(),
        Some(record("cloud-a"))
    );
    let names: Vec<String> = store
        .list_locations()
        .unwrap()
        .into_iter()
        .map(|l| l.name)
        .collect();
    assert_eq!(names, ["cloud-a", "cloud-b"]);
    assert!(matches!(
        store.delete_location("nowhere").await,
        Err(MetaError::NoSuchLocation(_))
    ));

    // Refused while a bucket, an object's data or a garbage blob names it.
    let in_use = |r: crate::Result<()>| matches!(r, Err(MetaError::LocationInUse { .. }));
    let mut b = bucket("located", "o");
    b.location = "cloud-a".into();
    store.create_bucket(b).await.unwrap();
    assert!(
        in_use(store.delete_location("cloud-a").await),
        "bucket names it"
    );
    store.create_bucket(bucket("elsewhere", "o")).await.unwrap();
    let mut rec = object("e", Some("blob-in-b"));
    rec.data.location = "cloud-b".into();
    store.put_object(put("elsewhere", "k", rec)).await.unwrap();
    assert!(
        in_use(store.delete_location("cloud-b").await),
        "object data in it"
    );
    store
        .set_bucket_versioning("elsewhere", Versioning::Enabled)
        .await
        .unwrap();
    let marker = store
        .delete_object(del("elsewhere", "k", None))
        .await
        .unwrap();
    assert!(
        in_use(store.delete_location("cloud-b").await),
        "an older version's data in it"
    );
    store
        .delete_object(del("elsewhere", "k", marker.version_id.as_deref()))
        .await
        .unwrap();
    store
        .delete_object(del("elsewhere", "k", Some(NULL_VERSION)))
        .await
        .unwrap();
    assert!(
        in_use(store.delete_location("cloud-b").await),
        "garbage in it"
    );
    let garbage = store.list_garbage(None, 1000).unwrap();
    store.forget_garbage(garbage).await.unwrap();
    store.delete_location("cloud-b").await.unwrap();
    assert_eq!(store.get_location("cloud-b").unwrap(), None);
    store.delete_bucket("located").await.unwrap();
    store.delete_bucket("elsewhere").await.unwrap();
    store.delete_location("cloud-a").await.unwrap();
    assert!(store.list_locations().unwrap().is_empty());
}

/// Replication state rides on versions: reports update it in place, stale
/// rounds are ignored, metadata changes start a new round, and replicas keep
/// the id their source gave them.
/// A version whose bytes move to a destination's copy: its own blob becomes
/// garbage, its inline bytes go, and the copy is never collected with it.
async fn relocation(store: &dyn MetadataStore) {
    let stored = store
        .put_object(put("rep", "moved", object("m1", Some("moved-blob"))))
        .await
        .unwrap()
        .record;
    let inline = store
        .put_object(put("rep", "moved-inline", object("m2", None)))
        .await
        .unwrap()
        .record;
    let copy = |key: &str, version: &str| DataLocator {
        location: "east".into(),
        chunks: vec![Chunk {
            size: 3,
            blob: BlobRef::Copy {
                bucket: "rep".into(),
                key: key.into(),
                version: version.into(),
            },
            version: None,
        }],
    };
    let moved = store
        .update_version(
            "rep",
            "moved",
            stored.version_id.as_deref(),
            VersionUpdate::Relocate(copy("moved", "e1")),
        )
        .await
        .unwrap();
    assert_eq!(moved.data, copy("moved", "e1"));
    let got = store.get_object("rep", "moved").unwrap().unwrap();
    assert_eq!(
        got.data,
        copy("moved", "e1"),
        "the current version moved too"
    );
    let garbage = store.list_garbage(None, 1000).unwrap();
    assert!(
        garbage.contains(&BlobAddr {
            location: "loc".into(),
            key: "moved-blob".into()
        }),
        "the version's own blob is garbage once it moved"
    );
    store
        .update_version(
            "rep",
            "moved-inline",
            inline.version_id.as_deref(),
            VersionUpdate::Relocate(copy("moved-inline", "e2")),
        )
        .await
        .unwrap();
    assert_eq!(store.read_inline("inline-m2").unwrap(), None);
    let entries = store.read_journal(0, usize::MAX).unwrap();
    assert_eq!(entries.last().unwrap().change, Some(Change::Relocated));
    store
        .delete_object(del("rep", "moved", stored.version_id.as_deref()))
        .await
        .unwrap();
    assert!(
        !store
            .list_garbage(None, 1000)
            .unwrap()
            .iter()
            .any(|b| b.location == "east"),
        "a destination's copy is not this store's garbage"
    );
}

async fn replication(store: &dyn MetadataStore) {
    store.create_bucket(bucket("rep", "o")).await.unwrap();
    store
        .set_bucket_versioning("rep", Versioning::Enabled)
        .await
        .unwrap();
    let v = store
        .put_object(put("rep", "k", replicating("r1", &["east", "west"])))
        .await
        .unwrap()
        .record;
    let id = v.version_id.clone().unwrap();
    let report = DestinationReport::new;
    let after = store
        .update_version(
            "rep",
            "k",
            Some(&id),
            VersionUpdate::Replication(vec![report("east", 0, ReplicationStatus::Completed)]),
        )
        .await
        .unwrap();
    let state = after.replication.clone().unwrap();
    assert_eq!(
        state.destination("east").map(|d| d.status),
        Some(ReplicationStatus::Completed)
    );
    assert_eq!(
        state.status,
        ReplicationStatus::Pending,
        "west still pending"
    );
    // A tag change sends the version again: round 1, all pending.
    let retagged = store
        .update_version(
            "rep",
            "k",
            None,
            VersionUpdate::Tags([("a".to_string(), "b".to_string())].into()),
        )
        .await
        .unwrap();
    let state = retagged.replication.unwrap();
    assert!(
        state
            .destinations
            .iter()
            .all(|d| d.round == 1 && d.status == ReplicationStatus::Pending)
    );
    // A report about round 0 is stale now.
    let stale = store
        .update_version(
            "rep",
            "k",
            None,
            VersionUpdate::Replication(vec![report("west", 0, ReplicationStatus::Completed)]),
        )
        .await
        .unwrap();
    assert_eq!(
        stale
            .replication
            .unwrap()
            .destination("west")
            .map(|d| d.status),
        Some(ReplicationStatus::Pending),
        "a stale round's report changes nothing"
    );
    let done = store
        .update_version(
            "rep",
            "k",
            None,
            VersionUpdate::Replication(vec![
                report("west", 1, ReplicationStatus::Completed),
                report("east", 1, ReplicationStatus::Completed),
            ]),
        )
        .await
        .unwrap();
    assert_eq!(
        done.replication.unwrap().status,
        ReplicationStatus::Completed
    );
    let entries = store.read_journal(0, usize::MAX).unwrap();
    let last = entries.last().unwrap();
    assert_eq!(
        (last.op, last.change),
        (JournalOp::Update, Some(Change::Replication))
    );

    relocation(store).await;

    // Delete markers take reports too, and stay delete markers.
    let mut marker = del("rep", "k", None);
    marker.marker_replication = Some(Replication::pending(["east"], 1));
    let outcome = store.delete_object(marker).await.unwrap();
    let marker_id = outcome.version_id.unwrap();
    store
        .update_version(
            "rep",
            "k",
            Some(&marker_id),
            VersionUpdate::Replication(vec![report("east", 0, ReplicationStatus::Completed)]),
        )
        .await
        .unwrap();
    assert!(store.get_object("rep", "k").unwrap().is_none());

    // Replicas: an older id goes below the current version, a redelivery
    // replaces the copy, and a newer id becomes current.
    store.create_bucket(bucket("site-b", "o")).await.unwrap();
    store
        .set_bucket_versioning("site-b", Versioning::Enabled)
        .await
        .unwrap();
    let replica = |etag: &str, id: &str| ObjectPut {
        version_id: Some(id.into()),
        ..put(
            "site-b",
            "k",
            ObjectRecord {
                replication: Some(Replication::replica()),
                ..object(etag, None)
            },
        )
    };
    let newer = store
        .put_object(put("site-b", "k", object("local", None)))
        .await
        .unwrap()
        .record;
    let stored = store.put_object(replica("copy", &id)).await.unwrap().record;
    assert_eq!(stored.version_id.as_deref(), Some(id.as_str()));
    assert_eq!(
        store.get_object("site-b", "k").unwrap().map(|r| r.etag),
        Some(newer.etag.clone()),
        "an older replica does not hide a newer version"
    );
    store.put_object(replica("copy2", &id)).await.unwrap();
    let versions = store
        .list_versions(
            "site-b",
            &VersionQuery {
                list: ListQuery {
                    limit: 100,
                    ..Default::default()
                },
                version_id_marker: None,
            },
        )
        .unwrap()
        .entries;
    assert_eq!(versions.len(), 2, "a redelivered replica replaces its copy");
    assert_eq!(
        store
            .get_version("site-b", "k", &id)
            .unwrap()
            .map(|r| (r.etag, r.replication.map(|x| x.status))),
        Some(("copy2".into(), Some(ReplicationStatus::Replica)))
    );
    let newest_id = crate::versions::new_version_id(0);
    store
        .put_object(replica("newest", &newest_id))
        .await
        .unwrap();
    assert_eq!(
        store.get_object("site-b", "k").unwrap().map(|r| r.etag),
        Some("newest".into())
    );
    store.create_bucket(bucket("plain", "o")).await.unwrap();
    let refused = store
        .put_object(ObjectPut {
            bucket: "plain".into(),
            ..replica("x", &id)
        })
        .await;
    assert!(
        matches!(refused, Err(MetaError::Conflict(_))),
        "replicas need a versioning bucket"
    );
}
