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
    /// Changes a bucket's versioning state.
    async fn set_bucket_versioning(&self, name: &str, state: Versioning) -> Result<()>;
    /// Stores (Some) or removes (None) one configuration document of a bucket.
    async fn put_bucket_config(
        &self,
        bucket: &str,
        kind: BucketConfigKind,
        document: Option<String>,
    ) -> Result<()>;
    fn get_bucket_config(&self, bucket: &str, kind: BucketConfigKind) -> Result<Option<String>>;

    // -- objects (current versions)
    fn get_object(&self, bucket: &str, key: &str) -> Result<Option<ObjectRecord>>;
    fn read_inline(&self, id: &str) -> Result<Option<Vec<u8>>>;
    /// Makes `put.record` the current version if the condition holds; the
    /// replaced version's blobs go to the garbage list, the new version's
    /// blobs stop being open intents. Returns the replaced version.
    async fn put_object(&self, put: ObjectPut) -> Result<Option<ObjectRecord>>;
    /// Removes the current version if the condition holds (its blobs go to
    /// the garbage list). Returns the removed version, None if there was none.
    async fn delete_object(
        &self,
        bucket: &str,
        key: &str,
        condition: Precondition,
    ) -> Result<Option<ObjectRecord>>;
    fn list_objects(&self, bucket: &str, query: &ListQuery) -> Result<ListPage<ObjectRecord>>;

    // -- multipart uploads
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
    async fn complete_upload(
        &self,
        upload: &UploadRecord,
        put: ObjectPut,
    ) -> Result<Option<ObjectRecord>>;
    /// Removes an upload; its parts' blobs become garbage.
    async fn abort_upload(&self, upload: &UploadRecord) -> Result<()>;

    // -- blob intents and garbage
    /// Records that a blob is being written, before its first byte, so a crash
    /// mid-write leaves a record to clean up rather than an unknown file.
    async fn open_blob(&self, blob: BlobAddr) -> Result<()>;
    /// Gives up a blob that will not be committed: it becomes garbage.
    async fn discard_blob(&self, blob: BlobAddr) -> Result<()>;
    /// At start-up: every blob still open was cut off by a crash; all become garbage.
    async fn recover_open_blobs(&self) -> Result<usize>;
    fn list_garbage(&self, limit: usize) -> Result<Vec<BlobAddr>>;
    /// Forgets blobs the collector has removed from their location.
    async fn forget_garbage(&self, blobs: Vec<BlobAddr>) -> Result<()>;

    // -- journal
    /// Entries with a sequence number greater than `after`, oldest first.
    fn read_journal(&self, after: u64, limit: usize) -> Result<Vec<JournalEntry>>;

    // -- locations added by the admin CLI
    /// Adds a location; refused with `LocationExists` if the name is taken.
    async fn create_location(&self, location: LocationRecord) -> Result<()>;
    fn get_location(&self, name: &str) -> Result<Option<LocationRecord>>;
    fn list_locations(&self) -> Result<Vec<LocationRecord>>;
    /// Removes a location, refused with `LocationInUse` while anything still
    /// names it: a bucket, an object's data, an upload, a garbage or open blob.
    async fn delete_location(&self, name: &str) -> Result<()>;
}
