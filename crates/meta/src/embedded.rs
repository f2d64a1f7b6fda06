//! The embedded metadata store: one redb file in the data dir. Writers hand
//! closures to a single writer thread that runs every waiting closure in one
//! transaction and fsyncs once (group commit); readers use MVCC snapshots.

use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{SystemTime, UNIX_EPOCH};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::listing::{self, ListPage, ListQuery, Row};
use crate::records::*;
use crate::store::{
    ListedVersion, MetadataStore, ObjectDelete, ObjectPut, PutOutcome, VersionQuery,
};
use crate::versions::{new_version_id, order_key, parse_version_id};
use crate::{MetaError, Result};

mod locations;

type Json = &'static [u8];
const ACCOUNTS: TableDefinition<&str, Json> = TableDefinition::new("accounts");
const KEYS: TableDefinition<&str, Json> = TableDefinition::new("access_keys");
const BUCKETS: TableDefinition<&str, Json> = TableDefinition::new("buckets");
/// The current version of each object (delete markers excluded): what
/// ListObjects scans, so old versions never slow it down.
const OBJECTS: TableDefinition<(&str, &[u8]), Json> = TableDefinition::new("objects");
/// Every version, keyed by (bucket, key, order key): each key's history newest first.
const VERSIONS: TableDefinition<(&str, &[u8], u64), Json> = TableDefinition::new("versions");
/// The order key of each object's `null` version, the one id that names no place.
const NULL_VERSIONS: TableDefinition<(&str, &[u8]), u64> = TableDefinition::new("null_versions");
const INLINE: TableDefinition<&str, &[u8]> = TableDefinition::new("inline");
const UPLOADS: TableDefinition<(&str, &str, &str), Json> = TableDefinition::new("uploads");
const PARTS: TableDefinition<(&str, u32), Json> = TableDefinition::new("parts");
const OPEN_BLOBS: TableDefinition<(&str, &str), i64> = TableDefinition::new("open_blobs");
const GARBAGE: TableDefinition<(&str, &str), i64> = TableDefinition::new("garbage");
const JOURNAL: TableDefinition<u64, Json> = TableDefinition::new("journal");
const COUNTERS: TableDefinition<&str, u64> = TableDefinition::new("counters");
const BUCKET_CONFIGS: TableDefinition<(&str, &str), &str> = TableDefinition::new("bucket_configs");
const LOCATIONS: TableDefinition<&str, Json> = TableDefinition::new("locations");

/// Most closures one group commit takes; bounds the latency of the batch.
const MAX_BATCH: usize = 512;

type Completion = Box<dyn FnOnce(Result<()>) + Send>;
type Job = Box<dyn FnOnce(&WriteTransaction) -> (bool, Completion) + Send>;

pub struct EmbeddedStore {
    db: Arc<Database>,
    jobs: Option<mpsc::Sender<Job>>,
    writer: Option<std::thread::JoinHandle<()>>,
}

impl Drop for EmbeddedStore {
    // Closing the queue ends the writer after its last batch; joining it
    // releases the database file before the store is reported gone.
    fn drop(&mut self) {
        self.jobs.take();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

impl EmbeddedStore {
    /// Opens (or creates) the store at `path` and starts its writer thread.
    pub fn open(path: &Path) -> Result<Self> {
        let db = Arc::new(Database::create(path)?);
        let txn = db.begin_write()?;
        {
            txn.open_table(ACCOUNTS)?;
            txn.open_table(KEYS)?;
            txn.open_table(BUCKETS)?;
            txn.open_table(OBJECTS)?;
            txn.open_table(VERSIONS)?;
            txn.open_table(NULL_VERSIONS)?;
            txn.open_table(INLINE)?;
            txn.open_table(UPLOADS)?;
            txn.open_table(PARTS)?;
            txn.open_table(OPEN_BLOBS)?;
            txn.open_table(GARBAGE)?;
            txn.open_table(JOURNAL)?;
            txn.open_table(COUNTERS)?;
            txn.open_table(BUCKET_CONFIGS)?;
            txn.open_table(LOCATIONS)?;
        }
        txn.commit()?;
        let (jobs, rx) = mpsc::channel::<Job>();
        let writer_db = db.clone();
        let writer = std::thread::Builder::new()
            .name("meta-writer".into())
            .spawn(move || write_loop(&writer_db, &rx))
            .map_err(|e| MetaError::Storage(e.to_string()))?;
        Ok(Self {
            db,
            jobs: Some(jobs),
            writer: Some(writer),
        })
    }

    /// Runs `f` in the next group commit and returns its result once the
    /// commit is durable. `f` must check before it writes: an `Err` that is
    /// not fatal must leave the transaction untouched.
    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&WriteTransaction) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |txn| {
            let result = f(txn);
            let fatal = result.as_ref().is_err_and(MetaError::is_fatal);
            let complete: Completion = Box::new(move |commit| {
                let _ = tx.send(commit.and(result));
            });
            (fatal, complete)
        });
        let jobs = self
            .jobs
            .as_ref()
            .ok_or_else(|| MetaError::Storage("metadata store closed".into()))?;
        jobs.send(job)
            .map_err(|_| MetaError::Storage("metadata writer stopped".into()))?;
        rx.await
            .map_err(|_| MetaError::Storage("metadata writer stopped".into()))?
    }

    /// Applies `change` to a bucket's record in one transaction.
    async fn change_bucket(
        &self,
        name: &str,
        change: impl FnOnce(&mut BucketRecord) -> Result<()> + Send + 'static,
    ) -> Result<()> {
        let name = name.to_string();
        self.write(move |txn| {
            let mut buckets = txn.open_table(BUCKETS)?;
            let mut bucket: BucketRecord =
                get_json(&buckets, name.as_str())?.ok_or(MetaError::NoSuchBucket)?;
            change(&mut bucket)?;
            buckets.insert(name.as_str(), encode(&bucket)?.as_slice())?;
            Ok(())
        })
        .await
    }

    fn read<T>(&self, f: impl FnOnce(&redb::ReadTransaction) -> Result<T>) -> Result<T> {
        let txn = self.db.begin_read()?;
        f(&txn)
    }
}

fn write_loop(db: &Database, rx: &mpsc::Receiver<Job>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let txn = match db.begin_write() {
            Ok(txn) => txn,
            Err(e) => {
                tracing::error!(error = %e, "metadata write transaction failed to start");
                continue; // dropping the jobs tells their callers the write failed
            }
        };
        let mut fatal = false;
        let completions: Vec<Completion> = batch
            .into_iter()
            .map(|job| {
                let (job_fatal, complete) = job(&txn);
                fatal |= job_fatal;
                complete
            })
            .collect();
        let outcome = if fatal {
            let _ = txn.abort();
            Err("a write in the batch failed; the batch was rolled back".to_string())
        } else {
            txn.commit().map_err(|e| e.to_string())
        };
        for complete in completions {
            complete(outcome.clone().map_err(MetaError::Storage));
        }
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    Ok(serde_json::to_vec(value)?)
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    Ok(serde_json::from_slice(bytes)?)
}

fn get_json<'a, K: redb::Key + 'static, T: DeserializeOwned>(
    table: &impl ReadableTable<K, Json>,
    key: impl std::borrow::Borrow<K::SelfType<'a>>,
) -> Result<Option<T>> {
    table.get(key)?.map(|v| decode(v.value())).transpose()
}

fn all_json<K: redb::Key + 'static, T: DeserializeOwned>(
    table: &impl ReadableTable<K, Json>,
) -> Result<Vec<T>> {
    table.iter()?.map(|row| decode(row?.1.value())).collect()
}

/// Appends the journal entry of a change, in the caller's transaction.
fn journal(
    txn: &WriteTransaction,
    bucket: &str,
    key: &str,
    op: JournalOp,
    version_id: Option<&str>,
    value: Option<&ObjectRecord>,
    change: Option<Change>,
) -> Result<()> {
    let mut counters = txn.open_table(COUNTERS)?;
    let seq = counters.get("journal")?.map_or(0, |v| v.value()) + 1;
    counters.insert("journal", seq)?;
    let entry = JournalEntry {
        seq,
        bucket: bucket.to_string(),
        key: key.to_string(),
        version_id: version_id.map(str::to_string),
        op,
        value: value.cloned(),
        change,
        at_ms: now_ms(),
    };
    txn.open_table(JOURNAL)?
        .insert(seq, encode(&entry)?.as_slice())?;
    Ok(())
}

/// Retires a version: its inline bytes go now, its blobs to the garbage
/// list, except what the version replacing it (`keep`) still uses. Returns
/// whether any blob went to the garbage list.
fn retire(
    txn: &WriteTransaction,
    record: &ObjectRecord,
    keep: Option<&ObjectRecord>,
) -> Result<bool> {
    let kept =
        |chunk: &Chunk| keep.is_some_and(|k| k.data.chunks.iter().any(|c| c.blob == chunk.blob));
    let mut inline = txn.open_table(INLINE)?;
    let mut retired_blobs = false;
    for chunk in record.data.chunks.iter().filter(|c| !kept(c)) {
        match &chunk.blob {
            BlobRef::Inline(id) => {
                inline.remove(id.as_str())?;
            }
            // A destination's copy belongs to the destination.
            BlobRef::Copy { .. } => {}
            BlobRef::Stored(key) => {
                retired_blobs = true;
                add_garbage(
                    txn,
                    &BlobAddr {
                        location: record.data.location.clone(),
                        key: key.clone(),
                    },
                )?
            }
        }
    }
    Ok(retired_blobs)
}

fn add_garbage(txn: &WriteTransaction, blob: &BlobAddr) -> Result<()> {
    txn.open_table(OPEN_BLOBS)?
        .remove((blob.location.as_str(), blob.key.as_str()))?;
    txn.open_table(GARBAGE)?
        .insert((blob.location.as_str(), blob.key.as_str()), now_ms())?;
    Ok(())
}

/// Ends an upload's parts: what the object made of it does not use (`used`)
/// goes to the garbage list, its parts' blobs or its unfinished assembly.
fn retire_upload(txn: &WriteTransaction, upload: &UploadRecord, used: &[BlobAddr]) -> Result<()> {
    let parts = remove_parts(txn, &upload.upload_id)?;
    if let Some(assembly) = &upload.assembly {
        if !used.iter().any(|b| b.key == assembly.key) {
            add_garbage(txn, &assembly.garbage(&upload.location))?;
        }
        return Ok(());
    }
    for part in parts {
        let blob = BlobAddr {
            location: upload.location.clone(),
            key: part.blob,
        };
        if !used.contains(&blob) {
            add_garbage(txn, &blob)?;
        }
    }
    Ok(())
}

/// The blobs of a committed version are no longer open intents.
fn close_blobs(txn: &WriteTransaction, record: &ObjectRecord) -> Result<()> {
    let mut open = txn.open_table(OPEN_BLOBS)?;
    for blob in record.data.stored_blobs() {
        open.remove((blob.location.as_str(), blob.key.as_str()))?;
    }
    Ok(())
}

fn bucket_record(txn: &WriteTransaction, name: &str) -> Result<BucketRecord> {
    get_json(&txn.open_table(BUCKETS)?, name)?.ok_or(MetaError::NoSuchBucket)
}

/// The next order key: a clock in microseconds that never goes back, so
/// version ids also sort sensibly across sites.
fn next_order(txn: &WriteTransaction) -> Result<u64> {
    let mut counters = txn.open_table(COUNTERS)?;
    let now_us = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64);
    let clock = counters
        .get("version_clock")?
        .map_or(0, |v| v.value())
        .saturating_add(1)
        .max(now_us);
    counters.insert("version_clock", clock)?;
    Ok(order_key(clock))
}

/// The order key a version id names (`null` through its index), None when
/// the key has no such version.
fn version_order(
    nulls: &impl ReadableTable<(&'static str, &'static [u8]), u64>,
    bucket: &str,
    key: &str,
    version_id: &str,
) -> Result<Option<u64>> {
    if version_id == NULL_VERSION {
        return Ok(nulls.get((bucket, key.as_bytes()))?.map(|v| v.value()));
    }
    parse_version_id(version_id)
        .map(Some)
        .ok_or(MetaError::InvalidVersionId)
}

/// The version at `order` whose id is `version_id` (ids carry random digits
/// besides the order, so a forged id finds nothing).
fn version_at(
    versions: &impl ReadableTable<(&'static str, &'static [u8], u64), Json>,
    bucket: &str,
    key: &str,
    order: u64,
    version_id: &str,
) -> Result<Option<ObjectRecord>> {
    let record: Option<ObjectRecord> = get_json(versions, (bucket, key.as_bytes(), order))?;
    Ok(record.filter(|r| r.version_name() == version_id))
}

/// The newest version of a key and its order key.
fn latest(
    versions: &impl ReadableTable<(&'static str, &'static [u8], u64), Json>,
    bucket: &str,
    k: &[u8],
) -> Result<Option<(u64, ObjectRecord)>> {
    match versions
        .range((bucket, k, 0)..=(bucket, k, u64::MAX))?
        .next()
    {
        Some(row) => {
            let (key, value) = row?;
            Ok(Some((key.value().2, decode(value.value())?)))
        }
        None => Ok(None),
    }
}

/// Makes the newest remaining version of a key its current one in OBJECTS
/// (none when that version is a delete marker).
fn refresh_current(txn: &WriteTransaction, bucket: &str, key: &str) -> Result<()> {
    let newest = latest(&txn.open_table(VERSIONS)?, bucket, key.as_bytes())?;
    let mut objects = txn.open_table(OBJECTS)?;
    match newest {
        Some((_, record)) if !record.delete_marker => {
            objects.insert((bucket, key.as_bytes()), encode(&record)?.as_slice())?;
        }
        _ => {
            objects.remove((bucket, key.as_bytes()))?;
        }
    }
    Ok(())
}

/// Removes the key's `null` version, if any, retiring what `keep` does not
/// reuse. Returns whether blobs went to the garbage list.
fn remove_null_version(
    txn: &WriteTransaction,
    bucket: &str,
    key: &str,
    keep: Option<&ObjectRecord>,
) -> Result<bool> {
    let Some(order) = txn
        .open_table(NULL_VERSIONS)?
        .remove((bucket, key.as_bytes()))?
        .map(|v| v.value())
    else {
        return Ok(false);
    };
    let removed = txn
        .open_table(VERSIONS)?
        .remove((bucket, key.as_bytes(), order))?
        .map(|v| decode::<ObjectRecord>(v.value()))
        .transpose()?;
    match removed {
        Some(record) => retire(txn, &record, keep),
        None => Ok(false),
    }
}

/// Adds a version as the newest of its key. Where the bucket is not
/// versioning it becomes the `null` version, replacing the previous one.
/// A replica (`preset` id) goes where its id puts it instead.
fn add_version(
    txn: &WriteTransaction,
    bucket: &BucketRecord,
    key: &str,
    mut record: ObjectRecord,
    preset: Option<(u64, &str)>,
) -> Result<PutOutcome> {
    if let Some((order, id)) = preset {
        return add_replica_version(txn, &bucket.name, key, record, order, id);
    }
    let order = next_order(txn)?;
    let name = bucket.name.as_str();
    let retired_blobs = if bucket.versioning == Versioning::Enabled {
        record.version_id = Some(new_version_id(order));
        false
    } else {
        record.version_id = None;
        let retired = remove_null_version(txn, name, key, Some(&record))?;
        txn.open_table(NULL_VERSIONS)?
            .insert((name, key.as_bytes()), order)?;
        retired
    };
    let json = encode(&record)?;
    txn.open_table(VERSIONS)?
        .insert((name, key.as_bytes(), order), json.as_slice())?;
    let mut objects = txn.open_table(OBJECTS)?;
    if record.delete_marker {
        objects.remove((name, key.as_bytes()))?;
    } else {
        objects.insert((name, key.as_bytes()), json.as_slice())?;
    }
    drop(objects);
    journal(
        txn,
        name,
        key,
        JournalOp::Put,
        record.version_id.as_deref(),
        Some(&record),
        None,
    )?;
    Ok(PutOutcome {
        record,
        retired_blobs,
    })
}

/// Puts a replica at the place its source-given id names. A copy of the
/// same version already there (redelivery, or a metadata change sent again)
/// is replaced; the key's current version is whichever is newest.
fn add_replica_version(
    txn: &WriteTransaction,
    name: &str,
    key: &str,
    mut record: ObjectRecord,
    order: u64,
    id: &str,
) -> Result<PutOutcome> {
    record.version_id = Some(id.to_string());
    let json = encode(&record)?;
    let previous = txn
        .open_table(VERSIONS)?
        .insert((name, key.as_bytes(), order), json.as_slice())?
        .map(|v| decode::<ObjectRecord>(v.value()))
        .transpose()?;
    let retired_blobs = match previous {
        Some(old) => retire(txn, &old, Some(&record))?,
        None => false,
    };
    refresh_current(txn, name, key)?;
    journal(
        txn,
        name,
        key,
        JournalOp::Put,
        Some(id),
        Some(&record),
        None,
    )?;
    Ok(PutOutcome {
        record,
        retired_blobs,
    })
}

/// Checks the condition, then adds the new version.
fn install_object(txn: &WriteTransaction, put: &ObjectPut) -> Result<PutOutcome> {
    let bucket = bucket_record(txn, &put.bucket)?;
    let current: Option<ObjectRecord> = get_json(
        &txn.open_table(OBJECTS)?,
        (put.bucket.as_str(), put.key.as_bytes()),
    )?;
    if !put.condition.holds(current.as_ref()) {
        return Err(MetaError::PreconditionFailed);
    }
    if put.shares_current_data && bucket.versioning != Versioning::Unversioned {
        return Err(MetaError::Conflict(
            "the bucket's versioning changed during the copy".into(),
        ));
    }
    let preset = match put.version_id.as_deref() {
        Some(_) if bucket.versioning != Versioning::Enabled => {
            return Err(MetaError::Conflict(
                "a replica's bucket must have versioning enabled".into(),
            ));
        }
        Some(id) => Some((parse_version_id(id).ok_or(MetaError::InvalidVersionId)?, id)),
        None => None,
    };
    if let Some(bytes) = &put.inline {
        let mut inline = txn.open_table(INLINE)?;
        for id in put.record.data.inline_ids() {
            inline.insert(id, bytes.as_slice())?;
        }
    }
    close_blobs(txn, &put.record)?;
    add_version(txn, &bucket, &put.key, put.record.clone(), preset)
}

/// DeleteObject without a version id: unversioned buckets lose the object;
/// versioning (or suspended) buckets get a delete marker on top.
fn delete_current(
    txn: &WriteTransaction,
    bucket: &BucketRecord,
    delete: &ObjectDelete,
) -> Result<DeleteOutcome> {
    let (name, key) = (bucket.name.as_str(), delete.key.as_str());
    let current: Option<ObjectRecord> =
        get_json(&txn.open_table(OBJECTS)?, (name, key.as_bytes()))?;
    if !delete.condition.holds(current.as_ref()) {
        return Err(MetaError::PreconditionFailed);
    }
    if bucket.versioning == Versioning::Unversioned {
        if current.is_none() {
            return Ok(DeleteOutcome::default());
        }
        txn.open_table(OBJECTS)?.remove((name, key.as_bytes()))?;
        let retired_blobs = remove_null_version(txn, name, key, None)?;
        journal(txn, name, key, JournalOp::Delete, None, None, None)?;
        return Ok(DeleteOutcome {
            version_id: None,
            delete_marker: false,
            retired_blobs,
        });
    }
    let marker = ObjectRecord {
        size: 0,
        etag: String::new(),
        last_modified_ms: now_ms(),
        owner: delete.requester.clone(),
        headers: ContentHeaders::default(),
        user_metadata: Default::default(),
        checksum: None,
        data: DataLocator {
            location: bucket.location.clone(),
            chunks: Vec::new(),
        },
        parts: Vec::new(),
        upload_id: None,
        version_id: None,
        delete_marker: true,
        tags: Default::default(),
        retention: None,
        legal_hold: false,
        acl: None,
        encryption: None,
        replication: delete.marker_replication.clone(),
    };
    let added = add_version(txn, bucket, key, marker, None)?;
    Ok(DeleteOutcome {
        version_id: Some(added.record.version_name().to_string()),
        delete_marker: true,
        retired_blobs: added.retired_blobs,
    })
}

/// DeleteObject with a version id: that version goes for good; when it was
/// the newest, the next one becomes current.
fn delete_version(
    txn: &WriteTransaction,
    bucket: &str,
    key: &str,
    version_id: &str,
    bypass_governance: bool,
) -> Result<DeleteOutcome> {
    let gone = DeleteOutcome {
        version_id: Some(version_id.to_string()),
        ..Default::default()
    };
    let Some(order) = version_order(&txn.open_table(NULL_VERSIONS)?, bucket, key, version_id)?
    else {
        return Ok(gone);
    };
    let mut versions = txn.open_table(VERSIONS)?;
    let Some(record) = version_at(&versions, bucket, key, order, version_id)? else {
        return Ok(gone);
    };
    if record.is_protected(now_ms(), bypass_governance) {
        return Err(MetaError::ObjectLocked);
    }
    let was_latest = latest(&versions, bucket, key.as_bytes())?.is_some_and(|(o, _)| o == order);
    versions.remove((bucket, key.as_bytes(), order))?;
    drop(versions);
    if record.version_id.is_none() {
        txn.open_table(NULL_VERSIONS)?
            .remove((bucket, key.as_bytes()))?;
    }
    let retired_blobs = retire(txn, &record, None)?;
    if was_latest {
        refresh_current(txn, bucket, key)?;
    }
    journal(
        txn,
        bucket,
        key,
        JournalOp::Delete,
        Some(version_id),
        None,
        None,
    )?;
    Ok(DeleteOutcome {
        delete_marker: record.delete_marker,
        retired_blobs,
        ..gone
    })
}

fn apply_update(
    txn: &WriteTransaction,
    bucket: &str,
    key: &str,
    version_id: Option<&str>,
    update: VersionUpdate,
) -> Result<ObjectRecord> {
    if txn.open_table(BUCKETS)?.get(bucket)?.is_none() {
        return Err(MetaError::NoSuchBucket);
    }
    let mut versions = txn.open_table(VERSIONS)?;
    let newest = latest(&versions, bucket, key.as_bytes())?;
    let (order, mut record) = match version_id {
        None => newest.clone().ok_or(MetaError::NoSuchKey)?,
        Some(id) => {
            let order = version_order(&txn.open_table(NULL_VERSIONS)?, bucket, key, id)?
                .ok_or(MetaError::NoSuchVersion)?;
            let record =
                version_at(&versions, bucket, key, order, id)?.ok_or(MetaError::NoSuchVersion)?;
            (order, record)
        }
    };
    let change = update.change();
    if record.delete_marker && change != Change::Replication {
        return Err(MetaError::DeleteMarker {
            version_id: record.version_id,
        });
    }
    let now = now_ms();
    // Replicated metadata changed: every destination needs the version again.
    let resend = |record: &mut ObjectRecord| {
        if let Some(r) = &mut record.replication {
            r.resend(now);
        }
    };
    match update {
        VersionUpdate::Tags(tags) => {
            record.tags = tags;
            resend(&mut record);
        }
        VersionUpdate::Retention(retention) => {
            record.retention = retention;
            resend(&mut record);
        }
        VersionUpdate::LegalHold(on) => {
            record.legal_hold = on;
            resend(&mut record);
        }
        VersionUpdate::Acl(acl) => record.acl = Some(acl),
        VersionUpdate::Replication(reports) => {
            // A backfill gives a version written before the rule its first state.
            let replication = record.replication.get_or_insert_with(|| Replication {
                status: ReplicationStatus::Pending,
                destinations: Vec::new(),
            });
            let mut changed = false;
            for report in &reports {
                changed |= replication.apply(report, now);
            }
            if !changed {
                return Ok(record);
            }
        }
        VersionUpdate::Relocate(locator) => {
            let before = std::mem::replace(&mut record.data, locator);
            let old = ObjectRecord {
                data: before,
                ..record.clone()
            };
            retire(txn, &old, Some(&record))?;
        }
    }
    let json = encode(&record)?;
    versions.insert((bucket, key.as_bytes(), order), json.as_slice())?;
    drop(versions);
    if !record.delete_marker && newest.is_some_and(|(o, _)| o == order) {
        txn.open_table(OBJECTS)?
            .insert((bucket, key.as_bytes()), json.as_slice())?;
    }
    journal(
        txn,
        bucket,
        key,
        JournalOp::Update,
        record.version_id.as_deref(),
        Some(&record),
        Some(change),
    )?;
    Ok(record)
}

/// Up to `n` current objects of a bucket from position `(start, sub)`; a key
/// holds one row here, so any `sub` past 0 means "after `start`".
fn scan_objects(
    table: &impl ReadableTable<(&'static str, &'static [u8]), Json>,
    bucket: &str,
    start: &[u8],
    sub: u64,
    n: usize,
) -> Result<Vec<Row<Vec<u8>>>> {
    let mut after = start.to_vec();
    if sub > 0 {
        after.push(0);
    }
    let mut rows = Vec::new();
    for row in table.range((bucket, after.as_slice())..)? {
        let (k, v) = row?;
        let (b, key) = k.value();
        if b != bucket || rows.len() == n {
            break;
        }
        rows.push(Row {
            key: key.to_vec(),
            sub: 0,
            value: v.value().to_vec(),
        });
    }
    Ok(rows)
}

/// A version row still encoded, with whether it is its key's newest.
type VersionRow = Row<(Vec<u8>, bool)>;

/// Up to `n` versions of a bucket from position `(start, order)`, each
/// flagged with whether it is its key's newest.
fn scan_versions(
    table: &impl ReadableTable<(&'static str, &'static [u8], u64), Json>,
    bucket: &str,
    start: &[u8],
    order: u64,
    n: usize,
) -> Result<Vec<VersionRow>> {
    let mut rows: Vec<VersionRow> = Vec::new();
    for row in table.range((bucket, start, order)..)? {
        let (k, v) = row?;
        let (b, key, order_here) = k.value();
        if b != bucket || rows.len() == n {
            break;
        }
        let is_latest = match rows.last() {
            Some(prev) => prev.key != key,
            // A scan that starts inside a key's history has newer versions before it.
            None => latest(table, bucket, key)?.is_none_or(|(o, _)| o == order_here),
        };
        rows.push(Row {
            key: key.to_vec(),
            sub: order_here,
            value: (v.value().to_vec(), is_latest),
        });
    }
    Ok(rows)
}

#[async_trait::async_trait]
impl MetadataStore for EmbeddedStore {
    fn check(&self) -> Result<()> {
        self.read(|txn| {
            txn.open_table(COUNTERS)?;
            Ok(())
        })
    }

    async fn put_account(&self, account: AccountRecord) -> Result<()> {
        self.write(move |txn| {
            txn.open_table(ACCOUNTS)?
                .insert(account.id.as_str(), encode(&account)?.as_slice())?;
            Ok(())
        })
        .await
    }

    async fn delete_account(&self, id: &str) -> Result<()> {
        let id = id.to_string();
        self.write(move |txn| {
            let mut accounts = txn.open_table(ACCOUNTS)?;
            if accounts.get(id.as_str())?.is_none() {
                return Err(MetaError::NoSuchAccount);
            }
            let buckets: Vec<BucketRecord> = all_json(&txn.open_table(BUCKETS)?)?;
            if buckets.iter().any(|b| b.owner == id) {
                return Err(MetaError::AccountHasBuckets);
            }
            let mut keys = txn.open_table(KEYS)?;
            let owned: Vec<AccessKeyRecord> = all_json(&keys)?;
            for key in owned.iter().filter(|k| k.account_id == id) {
                keys.remove(key.access_key.as_str())?;
            }
            accounts.remove(id.as_str())?;
            Ok(())
        })
        .await
    }

    fn get_account(&self, id: &str) -> Result<Option<AccountRecord>> {
        self.read(|txn| get_json(&txn.open_table(ACCOUNTS)?, id))
    }

    fn list_accounts(&self) -> Result<Vec<AccountRecord>> {
        self.read(|txn| all_json(&txn.open_table(ACCOUNTS)?))
    }

    async fn put_access_key(&self, key: AccessKeyRecord) -> Result<()> {
        self.write(move |txn| {
            if txn
                .open_table(ACCOUNTS)?
                .get(key.account_id.as_str())?
                .is_none()
            {
                return Err(MetaError::NoSuchAccount);
            }
            txn.open_table(KEYS)?
                .insert(key.access_key.as_str(), encode(&key)?.as_slice())?;
            Ok(())
        })
        .await
    }

    async fn delete_access_key(&self, access_key: &str) -> Result<bool> {
        let access_key = access_key.to_string();
        self.write(move |txn| Ok(txn.open_table(KEYS)?.remove(access_key.as_str())?.is_some()))
            .await
    }

    fn get_access_key(&self, access_key: &str) -> Result<Option<AccessKeyRecord>> {
        self.read(|txn| get_json(&txn.open_table(KEYS)?, access_key))
    }

    fn list_access_keys(&self) -> Result<Vec<AccessKeyRecord>> {
        self.read(|txn| all_json(&txn.open_table(KEYS)?))
    }

    async fn create_bucket(&self, bucket: BucketRecord) -> Result<()> {
        self.write(move |txn| {
            let mut buckets = txn.open_table(BUCKETS)?;
            if let Some(existing) = get_json::<_, BucketRecord>(&buckets, bucket.name.as_str())? {
                return Err(MetaError::BucketExists {
                    owner: existing.owner,
                });
            }
            buckets.insert(bucket.name.as_str(), encode(&bucket)?.as_slice())?;
            Ok(())
        })
        .await
    }

    async fn delete_bucket(&self, name: &str) -> Result<()> {
        let name = name.to_string();
        self.write(move |txn| {
            let mut buckets = txn.open_table(BUCKETS)?;
            if buckets.get(name.as_str())?.is_none() {
                return Err(MetaError::NoSuchBucket);
            }
            // Old versions and delete markers keep a bucket, as in S3.
            if !scan_versions(&txn.open_table(VERSIONS)?, &name, b"", 0, 1)?.is_empty() {
                return Err(MetaError::BucketNotEmpty);
            }
            // Unfinished multipart uploads do not keep a bucket: they go with it.
            let mut uploads = txn.open_table(UPLOADS)?;
            let mut pending: Vec<UploadRecord> = Vec::new();
            for row in uploads.range((name.as_str(), "", "")..)? {
                let (k, v) = row?;
                if k.value().0 != name {
                    break;
                }
                pending.push(decode(v.value())?);
            }
            for upload in &pending {
                uploads.remove((
                    upload.bucket.as_str(),
                    upload.key.as_str(),
                    upload.upload_id.as_str(),
                ))?;
            }
            drop(uploads);
            for upload in &pending {
                retire_upload(txn, upload, &[])?;
            }
            buckets.remove(name.as_str())?;
            remove_bucket_configs(txn, &name)?;
            Ok(())
        })
        .await
    }

    fn get_bucket(&self, name: &str) -> Result<Option<BucketRecord>> {
        self.read(|txn| get_json(&txn.open_table(BUCKETS)?, name))
    }

    fn list_buckets(&self) -> Result<Vec<BucketRecord>> {
        self.read(|txn| all_json(&txn.open_table(BUCKETS)?))
    }

    async fn set_bucket_versioning(&self, name: &str, state: Versioning) -> Result<()> {
        self.change_bucket(name, move |bucket| {
            if bucket.object_lock && state != Versioning::Enabled {
                return Err(MetaError::Conflict(
                    "Object Lock is on: versioning stays Enabled".into(),
                ));
            }
            bucket.versioning = state;
            Ok(())
        })
        .await
    }

    async fn enable_object_lock(&self, name: &str) -> Result<()> {
        self.change_bucket(name, |bucket| {
            if bucket.versioning != Versioning::Enabled {
                return Err(MetaError::Conflict(
                    "Object Lock needs versioning Enabled".into(),
                ));
            }
            bucket.object_lock = true;
            Ok(())
        })
        .await
    }

    async fn put_bucket_config(
        &self,
        bucket: &str,
        kind: BucketConfigKind,
        document: Option<String>,
    ) -> Result<()> {
        let bucket = bucket.to_string();
        self.write(move |txn| {
            if txn.open_table(BUCKETS)?.get(bucket.as_str())?.is_none() {
                return Err(MetaError::NoSuchBucket);
            }
            let mut configs = txn.open_table(BUCKET_CONFIGS)?;
            let key = (bucket.as_str(), kind.as_str());
            match &document {
                Some(doc) => configs.insert(key, doc.as_str())?,
                None => configs.remove(key)?,
            };
            Ok(())
        })
        .await
    }

    fn get_bucket_config(&self, bucket: &str, kind: BucketConfigKind) -> Result<Option<String>> {
        self.read(|txn| {
            Ok(txn
                .open_table(BUCKET_CONFIGS)?
                .get((bucket, kind.as_str()))?
                .map(|v| v.value().to_string()))
        })
    }

    fn get_object(&self, bucket: &str, key: &str) -> Result<Option<ObjectRecord>> {
        self.read(|txn| get_json(&txn.open_table(OBJECTS)?, (bucket, key.as_bytes())))
    }

    fn latest_version(&self, bucket: &str, key: &str) -> Result<Option<ObjectRecord>> {
        self.read(|txn| {
            Ok(latest(&txn.open_table(VERSIONS)?, bucket, key.as_bytes())?.map(|(_, r)| r))
        })
    }

    fn get_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
    ) -> Result<Option<ObjectRecord>> {
        self.read(|txn| {
            match version_order(&txn.open_table(NULL_VERSIONS)?, bucket, key, version_id)? {
                Some(order) => {
                    version_at(&txn.open_table(VERSIONS)?, bucket, key, order, version_id)
                }
                None => Ok(None),
            }
        })
    }

    fn read_inline(&self, id: &str) -> Result<Option<Vec<u8>>> {
        self.read(|txn| Ok(txn.open_table(INLINE)?.get(id)?.map(|v| v.value().to_vec())))
    }

    async fn put_object(&self, put: ObjectPut) -> Result<PutOutcome> {
        self.write(move |txn| install_object(txn, &put)).await
    }

    async fn delete_object(&self, delete: ObjectDelete) -> Result<DeleteOutcome> {
        self.write(move |txn| {
            let bucket = bucket_record(txn, &delete.bucket)?;
            match &delete.version_id {
                None => delete_current(txn, &bucket, &delete),
                Some(id) => {
                    delete_version(txn, &bucket.name, &delete.key, id, delete.bypass_governance)
                }
            }
        })
        .await
    }

    async fn update_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        update: VersionUpdate,
    ) -> Result<ObjectRecord> {
        let (bucket, key) = (bucket.to_string(), key.to_string());
        let version_id = version_id.map(str::to_string);
        self.write(move |txn| apply_update(txn, &bucket, &key, version_id.as_deref(), update))
            .await
    }

    fn list_objects(&self, bucket: &str, query: &ListQuery) -> Result<ListPage<ObjectRecord>> {
        self.read(|txn| {
            let table = txn.open_table(OBJECTS)?;
            let page = listing::list_page(query, None, |start, sub, n| {
                scan_objects(&table, bucket, start, sub, n)
            })?;
            page.try_map(|bytes| decode(&bytes))
        })
    }

    fn list_versions(&self, bucket: &str, query: &VersionQuery) -> Result<ListPage<ListedVersion>> {
        self.read(|txn| {
            let table = txn.open_table(VERSIONS)?;
            let after_sub = match (&query.list.start_after, &query.version_id_marker) {
                (Some(key), Some(id)) => {
                    version_order(&txn.open_table(NULL_VERSIONS)?, bucket, key, id)?
                }
                _ => None,
            };
            let page = listing::list_page(&query.list, after_sub, |start, order, n| {
                scan_versions(&table, bucket, start, order, n)
            })?;
            page.try_map(|(bytes, is_latest)| {
                Ok(ListedVersion {
                    record: decode(&bytes)?,
                    is_latest,
                })
            })
        })
    }

    async fn create_upload(&self, upload: UploadRecord) -> Result<()> {
        self.write(move |txn| {
            if txn
                .open_table(BUCKETS)?
                .get(upload.bucket.as_str())?
                .is_none()
            {
                return Err(MetaError::NoSuchBucket);
            }
            let key = (
                upload.bucket.as_str(),
                upload.key.as_str(),
                upload.upload_id.as_str(),
            );
            txn.open_table(UPLOADS)?
                .insert(key, encode(&upload)?.as_slice())?;
            if let Some(assembly) = &upload.assembly {
                let intent = Assembly::starting(&upload.location, &assembly.key);
                txn.open_table(OPEN_BLOBS)?
                    .remove((intent.location.as_str(), intent.key.as_str()))?;
            }
            Ok(())
        })
        .await
    }

    fn get_upload(&self, bucket: &str, key: &str, upload_id: &str) -> Result<Option<UploadRecord>> {
        self.read(|txn| get_json(&txn.open_table(UPLOADS)?, (bucket, key, upload_id)))
    }

    fn list_uploads(
        &self,
        bucket: &str,
        after: Option<(&str, &str)>,
        limit: usize,
    ) -> Result<Vec<UploadRecord>> {
        self.read(|txn| {
            let table = txn.open_table(UPLOADS)?;
            let (key, id) = after.unwrap_or(("", ""));
            let mut out = Vec::new();
            for row in table.range((bucket, key, id)..)? {
                let (k, v) = row?;
                let (b, k, i) = k.value();
                if b != bucket || out.len() == limit {
                    break;
                }
                if after.is_some_and(|a| a == (k, i)) {
                    continue;
                }
                out.push(decode(v.value())?);
            }
            Ok(out)
        })
    }

    async fn put_part(
        &self,
        upload: &UploadRecord,
        part: PartRecord,
        location: &str,
    ) -> Result<()> {
        let upload = upload.clone();
        let location = location.to_string();
        self.write(move |txn| {
            let key = (
                upload.bucket.as_str(),
                upload.key.as_str(),
                upload.upload_id.as_str(),
            );
            if txn.open_table(UPLOADS)?.get(key)?.is_none() {
                return Err(MetaError::NoSuchUpload);
            }
            let mut parts = txn.open_table(PARTS)?;
            let part_key = (upload.upload_id.as_str(), part.number);
            let replaced: Option<PartRecord> = get_json(&parts, part_key)?;
            parts.insert(part_key, encode(&part)?.as_slice())?;
            drop(parts);
            // A piece of an assembly replaces the earlier one in the backend.
            if upload.assembly.is_none() {
                if let Some(old) = replaced {
                    add_garbage(
                        txn,
                        &BlobAddr {
                            location: location.clone(),
                            key: old.blob,
                        },
                    )?;
                }
                txn.open_table(OPEN_BLOBS)?
                    .remove((location.as_str(), part.blob.as_str()))?;
            }
            Ok(())
        })
        .await
    }

    fn list_parts(&self, upload_id: &str, after: u32, limit: usize) -> Result<Vec<PartRecord>> {
        self.read(|txn| {
            let table = txn.open_table(PARTS)?;
            let mut out = Vec::new();
            for row in table.range((upload_id, after.saturating_add(1))..)? {
                let (k, v) = row?;
                if k.value().0 != upload_id || out.len() == limit || after == u32::MAX {
                    break;
                }
                out.push(decode(v.value())?);
            }
            Ok(out)
        })
    }

    async fn complete_upload(&self, upload: &UploadRecord, put: ObjectPut) -> Result<PutOutcome> {
        let upload = upload.clone();
        self.write(move |txn| {
            let key = (
                upload.bucket.as_str(),
                upload.key.as_str(),
                upload.upload_id.as_str(),
            );
            if txn.open_table(UPLOADS)?.get(key)?.is_none() {
                return Err(MetaError::NoSuchUpload);
            }
            let outcome = install_object(txn, &put)?;
            txn.open_table(UPLOADS)?.remove(key)?;
            let used: Vec<BlobAddr> = put.record.data.stored_blobs().collect();
            retire_upload(txn, &upload, &used)?;
            Ok(outcome)
        })
        .await
    }

    async fn abort_upload(&self, upload: &UploadRecord) -> Result<()> {
        let upload = upload.clone();
        self.write(move |txn| {
            let key = (
                upload.bucket.as_str(),
                upload.key.as_str(),
                upload.upload_id.as_str(),
            );
            if txn.open_table(UPLOADS)?.remove(key)?.is_none() {
                return Err(MetaError::NoSuchUpload);
            }
            retire_upload(txn, &upload, &[])?;
            Ok(())
        })
        .await
    }

    async fn open_blob(&self, blob: BlobAddr) -> Result<()> {
        self.write(move |txn| {
            txn.open_table(OPEN_BLOBS)?
                .insert((blob.location.as_str(), blob.key.as_str()), now_ms())?;
            Ok(())
        })
        .await
    }

    async fn discard_blob(&self, blob: BlobAddr) -> Result<()> {
        self.write(move |txn| add_garbage(txn, &blob)).await
    }

    async fn recover_open_blobs(&self, assembling: &[String]) -> Result<usize> {
        let assembling = assembling.to_vec();
        self.write(move |txn| {
            let open: Vec<BlobAddr> = txn
                .open_table(OPEN_BLOBS)?
                .iter()?
                .map(|row| {
                    let (k, _) = row?;
                    let (location, key) = k.value();
                    Ok(BlobAddr {
                        location: location.to_string(),
                        key: key.to_string(),
                    })
                })
                .collect::<Result<_>>()?;
            for blob in &open {
                add_garbage(txn, blob)?;
                let lost_upload = assembling.contains(&blob.location)
                    && Assembly::from_garbage(&blob.key).is_none();
                if lost_upload {
                    add_garbage(txn, &Assembly::starting(&blob.location, &blob.key))?;
                }
            }
            Ok(open.len())
        })
        .await
    }

    fn list_garbage(&self, after: Option<&BlobAddr>, limit: usize) -> Result<Vec<BlobAddr>> {
        use std::ops::Bound;
        self.read(|txn| {
            let start = after.map_or(Bound::Unbounded, |a| {
                Bound::Excluded((a.location.as_str(), a.key.as_str()))
            });
            txn.open_table(GARBAGE)?
                .range::<(&str, &str)>((start, Bound::Unbounded))?
                .take(limit)
                .map(|row| {
                    let (k, _) = row?;
                    let (location, key) = k.value();
                    Ok(BlobAddr {
                        location: location.to_string(),
                        key: key.to_string(),
                    })
                })
                .collect()
        })
    }

    async fn forget_garbage(&self, blobs: Vec<BlobAddr>) -> Result<()> {
        self.write(move |txn| {
            let mut garbage = txn.open_table(GARBAGE)?;
            for blob in &blobs {
                garbage.remove((blob.location.as_str(), blob.key.as_str()))?;
            }
            Ok(())
        })
        .await
    }

    fn read_journal(&self, after: u64, limit: usize) -> Result<Vec<JournalEntry>> {
        self.read(|txn| {
            txn.open_table(JOURNAL)?
                .range(after.saturating_add(1)..)?
                .take(limit)
                .map(|row| decode(row?.1.value()))
                .collect()
        })
    }

    async fn trim_journal(&self, through: u64, limit: usize) -> Result<usize> {
        self.write(move |txn| {
            let mut journal = txn.open_table(JOURNAL)?;
            let oldest = journal
                .range(..=through)?
                .take(limit)
                .map(|row| Ok(row?.0.value()))
                .collect::<Result<Vec<u64>>>()?;
            for seq in &oldest {
                journal.remove(seq)?;
            }
            Ok(oldest.len())
        })
        .await
    }

    async fn create_location(&self, location: LocationRecord) -> Result<()> {
        self.write(move |txn| locations::create(txn, &location))
            .await
    }

    fn get_location(&self, name: &str) -> Result<Option<LocationRecord>> {
        self.read(|txn| get_json(&txn.open_table(LOCATIONS)?, name))
    }

    fn list_locations(&self) -> Result<Vec<LocationRecord>> {
        self.read(|txn| all_json(&txn.open_table(LOCATIONS)?))
    }

    async fn delete_location(&self, name: &str) -> Result<()> {
        let name = name.to_string();
        self.write(move |txn| locations::delete(txn, &name)).await
    }
}

fn remove_bucket_configs(txn: &WriteTransaction, bucket: &str) -> Result<()> {
    let mut configs = txn.open_table(BUCKET_CONFIGS)?;
    let mut kinds = Vec::new();
    for row in configs.range((bucket, "")..)? {
        let (k, _) = row?;
        let (b, kind) = k.value();
        if b != bucket {
            break;
        }
        kinds.push(kind.to_string());
    }
    for kind in &kinds {
        configs.remove((bucket, kind.as_str()))?;
    }
    Ok(())
}

fn remove_parts(txn: &WriteTransaction, upload_id: &str) -> Result<Vec<PartRecord>> {
    let mut table = txn.open_table(PARTS)?;
    let mut parts = Vec::new();
    for row in table.range((upload_id, 0u32)..)? {
        let (k, v) = row?;
        if k.value().0 != upload_id {
            break;
        }
        parts.push(decode::<PartRecord>(v.value())?);
    }
    for part in &parts {
        table.remove((upload_id, part.number))?;
    }
    Ok(parts)
}
