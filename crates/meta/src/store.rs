//! The `MetadataStore` trait: every operation the layers above need, each
//! change committed atomically with its journal entry and the derived state
//! (garbage list, open-blob intents) it implies.

use crate::Result;
use crate::listing::{ListPage, ListQuery};
use crate::records::*;

/// A new current version of an object, with what must change along with it.
#[derive(Debug, Clone)]
pub struct ObjectPut {
    pub bucket: String,
    pub key: String,
    pub record: ObjectRecord,
    /// The bytes of the record's inline chunk, if it has one.
    pub inline: Option<Vec<u8>>,
    pub condition: Precondition,
    /// The record reuses the current version's bytes (a copy onto itself).
    /// Allowed only where that version is replaced, never kept alongside:
    /// two versions sharing blobs would lose them when one is deleted.
    pub shares_current_data: bool,
    /// The id the source site gave this version, for a replica: the version
    /// takes its place in the key's history (replacing a previous copy of
    /// it) instead of a fresh id. Versioning buckets only.
    pub version_id: Option<String>,
}

/// What committing a new version did.
#[derive(Debug, Clone)]
pub struct PutOutcome {
    /// The version as stored, with the version id the store gave it.
    pub record: ObjectRecord,
    /// True when a replaced version's blobs went to the garbage list.
    pub retired_blobs: bool,
}

/// A DeleteObject: without a version id it removes (or hides behind a delete
/// marker) the current version; with one it removes that version for good.
#[derive(Debug, Clone)]
pub struct ObjectDelete {
    pub bucket: String,
    pub key: String,
    pub version_id: Option<String>,
    pub condition: Precondition,
    /// Owner of the delete marker this may create.
    pub requester: String,
    /// `x-amz-bypass-governance-retention`, already authorized by the caller.
    pub bypass_governance: bool,
    /// Replication state of the delete marker this may create.
    pub marker_replication: Option<Replication>,
}

/// A page of ListObjectVersions: after `version_id_marker` of the
/// `start_after` key when both are given.
#[derive(Debug, Clone, Default)]
pub struct VersionQuery {
    pub list: ListQuery,
    pub version_id_marker: Option<String>,
}

/// One version in a version listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedVersion {
    pub record: ObjectRecord,
    pub is_latest: bool,
}

#[async_trait::async_trait]
pub trait MetadataStore: Send + Sync + 'static {
    /// Readiness: the store can be read.
    fn check(&self) -> Result<()>;

    // -- accounts and access keys
    /// Creates or replaces an account.
    async fn put_account(&self, account: AccountRecord) -> Result<()>;
    /// Deletes an account and its keys; refused while it owns buckets.
    async fn delete_account(&self, id: &str) -> Result<()>;
    fn get_account(&self, id: &str) -> Result<Option<AccountRecord>>;
    fn list_accounts(&self) -> Result<Vec<AccountRecord>>;
    /// Creates or replaces an access key; its account must exist.
    async fn put_access_key(&self, key: AccessKeyRecord) -> Result<()>;
    /// Returns whether the key existed.
    async fn delete_access_key(&self, access_key: &str) -> Result<bool>;
    fn get_access_key(&self, access_key: &str) -> Result<Option<AccessKeyRecord>>;
    fn list_access_keys(&self) -> Result<Vec<AccessKeyRecord>>;

    // -- buckets
    async fn create_bucket(&self, bucket: BucketRecord) -> Result<()>;
    /// Refused with `BucketNotEmpty` while objects remain; unfinished
    /// uploads are aborted with it (their parts become garbage), as in S3.
    async fn delete_bucket(&self, name: &str) -> Result<()>;
    fn get_bucket(&self, name: &str) -> Result<Option<BucketRecord>>;
    fn list_buckets(&self) -> Result<Vec<BucketRecord>>;
    /// Changes a bucket's versioning state; refused with `Conflict` when
    /// Object Lock is on and the state is not Enabled.
    async fn set_bucket_versioning(&self, name: &str, state: Versioning) -> Result<()>;
    /// Turns Object Lock on; refused with `Conflict` unless versioning is Enabled.
    async fn enable_object_lock(&self, name: &str) -> Result<()>;
    /// Stores (Some) or removes (None) one configuration document of a bucket.
    async fn put_bucket_config(
        &self,
        bucket: &str,
        kind: BucketConfigKind,
        document: Option<String>,
    ) -> Result<()>;
    fn get_bucket_config(&self, bucket: &str, kind: BucketConfigKind) -> Result<Option<String>>;

    // -- objects and their versions
    /// The current version, unless there is none or it is a delete marker.
    fn get_object(&self, bucket: &str, key: &str) -> Result<Option<ObjectRecord>>;
    /// The newest version, delete markers included.
    fn latest_version(&self, bucket: &str, key: &str) -> Result<Option<ObjectRecord>>;
    /// One version by id (`null` included); `InvalidVersionId` for ids this
    /// store never mints.
    fn get_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
    ) -> Result<Option<ObjectRecord>>;
    fn read_inline(&self, id: &str) -> Result<Option<Vec<u8>>>;
    /// Adds `put.record` as the newest version if the condition holds. In a
    /// versioning bucket it gets a fresh id; otherwise it is the `null`
    /// version and replaces the previous one, whose blobs go to the garbage
    /// list. The new version's blobs stop being open intents.
    async fn put_object(&self, put: ObjectPut) -> Result<PutOutcome>;
    async fn delete_object(&self, delete: ObjectDelete) -> Result<DeleteOutcome>;
    /// Changes one version (None: the current one) without a new version.
    async fn update_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        update: VersionUpdate,
    ) -> Result<ObjectRecord>;
    /// Current versions only, delete markers hidden.
    fn list_objects(&self, bucket: &str, query: &ListQuery) -> Result<ListPage<ObjectRecord>>;
    /// Every version, each key's newest first.
    fn list_versions(&self, bucket: &str, query: &VersionQuery) -> Result<ListPage<ListedVersion>>;

    // -- multipart uploads
    /// Records an upload; for one its location assembles, the assembly's
    /// `Assembly::starting` intent closes in the same transaction.
    async fn create_upload(&self, upload: UploadRecord) -> Result<()>;
    fn get_upload(&self, bucket: &str, key: &str, upload_id: &str) -> Result<Option<UploadRecord>>;
    /// Uploads ordered by (key, upload id), strictly after `after` when given.
    fn list_uploads(
        &self,
        bucket: &str,
        after: Option<(&str, &str)>,
        limit: usize,
    ) -> Result<Vec<UploadRecord>>;
    /// Records a part (replacing one with the same number, whose blob becomes garbage).
    async fn put_part(&self, upload: &UploadRecord, part: PartRecord, location: &str)
    -> Result<()>;
    /// Parts ordered by number, strictly after `after`.
    fn list_parts(&self, upload_id: &str, after: u32, limit: usize) -> Result<Vec<PartRecord>>;
    /// Turns an upload into the current version: the upload and its part
    /// records go; blobs of parts the record does not use become garbage.
    async fn complete_upload(&self, upload: &UploadRecord, put: ObjectPut) -> Result<PutOutcome>;
    /// Removes an upload; its parts' blobs become garbage.
    async fn abort_upload(&self, upload: &UploadRecord) -> Result<()>;

    // -- blob intents and garbage
    /// Records that a blob is being written, before its first byte, so a crash
    /// mid-write leaves a record to clean up rather than an unknown file.
    async fn open_blob(&self, blob: BlobAddr) -> Result<()>;
    /// Gives up a blob that will not be committed: it becomes garbage.
    async fn discard_blob(&self, blob: BlobAddr) -> Result<()>;
    /// At start-up: every blob still open was cut off by a crash; all become
    /// garbage, in one transaction. A blob in one of the `assembling`
    /// locations (whose writes may be multipart uploads of their own) also
    /// gets the entry that aborts every unfinished upload of its name.
    /// Returns how many blobs were open.
    async fn recover_open_blobs(&self, assembling: &[String]) -> Result<usize>;
    /// Garbage blobs in (location, key) order, strictly after `after` when
    /// given, at most `limit`.
    fn list_garbage(&self, after: Option<&BlobAddr>, limit: usize) -> Result<Vec<BlobAddr>>;
    /// Forgets blobs the collector has removed from their location.
    async fn forget_garbage(&self, blobs: Vec<BlobAddr>) -> Result<()>;

    // -- journal
    /// Entries with a sequence number greater than `after`, oldest first.
    fn read_journal(&self, after: u64, limit: usize) -> Result<Vec<JournalEntry>>;
    /// Removes up to `limit` of the oldest entries numbered `through` or
    /// less (what the journal's consumer has durably taken); returns how
    /// many went. Numbers are never reused: later entries keep counting up.
    async fn trim_journal(&self, through: u64, limit: usize) -> Result<usize>;

    // -- locations added by the admin CLI
    /// Adds a location; refused with `LocationExists` if the name is taken.
    async fn create_location(&self, location: LocationRecord) -> Result<()>;
    fn get_location(&self, name: &str) -> Result<Option<LocationRecord>>;
    fn list_locations(&self) -> Result<Vec<LocationRecord>>;
    /// Removes a location, refused with `LocationInUse` while anything still
    /// names it: a bucket, an object's data, an upload, a garbage or open blob.
    async fn delete_location(&self, name: &str) -> Result<()>;
}
