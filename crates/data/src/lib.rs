//! Strata's data layer: the `DataBackend` trait (one location's blob store) and its `fs`,
//! `mem`, `s3` and `azure` implementations. It knows nothing of S3 wire types or records.

mod assembly;
mod aws_profile;
mod azure_requests;
mod breaker;
mod cloud;
pub mod conformance;
mod error;
mod fs;
mod guarded;
mod mem;
mod parted;
mod s3_requests;
mod spec;

use std::collections::BTreeMap;
use std::ops::Range;
use std::pin::Pin;

use bytes::Bytes;
use futures::{Stream, TryStreamExt};

pub use breaker::CircuitBreaker;
pub use cloud::CloudBackend;
pub use error::DataError;
pub use fs::FsBackend;
pub use guarded::Guarded;
pub use mem::MemBackend;
pub use spec::{
    AzureSpec, FsSpec, LocationKind, LocationSpec, S3Spec, Tuning, validate_location_name,
};

pub type Result<T, E = DataError> = std::result::Result<T, E>;

/// A stream of a blob's bytes, read lazily with bounded memory.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes>> + Send>>;

/// What a new blob will hold: cloud locations name blobs after their object
/// so the bytes stay findable with the backend's own tools.
#[derive(Debug, Clone, Copy)]
pub struct BlobName<'a> {
    pub bucket: &'a str,
    pub key: &'a str,
    /// Unique per write (random hex): versions never share a blob.
    pub unique: &'a str,
}

/// What an object copy carries besides its bytes: the object's content
/// headers, user metadata and tags, as S3 replication writes them.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct CopyAttributes {
    pub content_type: Option<String>,
    pub content_encoding: Option<String>,
    pub content_disposition: Option<String>,
    pub content_language: Option<String>,
    pub cache_control: Option<String>,
    /// User metadata, names without the `x-amz-meta-` prefix. Give names in
    /// lowercase: S3 lowercases them, and cloud locations return them so.
    pub metadata: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
}

/// One location's blob store, and the home of object copies: the second kind
/// of write, an object kept under its own name with its attributes (what S3
/// replication writes to a target bucket). In a cloud location both share the
/// bucket's namespace, told apart by the blob names' `@<unique>` suffix.
#[async_trait::async_trait]
pub trait DataBackend: Send + Sync + 'static {
    /// The location type: `fs`, `mem`, `s3`, `azure`.
    fn kind(&self) -> &'static str;
    /// The key a new blob gets; by default the unique part alone.
    fn blob_key(&self, name: &BlobName<'_>) -> String {
        name.unique.to_string()
    }
    /// Whether small objects may live in the metadata store instead: false
    /// for cloud locations, whose bytes must be in the cloud.
    fn allows_inline(&self) -> bool {
        true
    }
    /// Readiness: the backend answers (cheap; no write).
    async fn check(&self) -> Result<()>;
    /// Starts writing a new blob; it exists only once the writer commits.
    async fn create(&self, key: &str) -> Result<Box<dyn BlobWriter>>;
    /// `create` for a blob of exactly `size` bytes, which a location may
    /// then send as one streamed request.
    async fn create_sized(&self, key: &str, _size: u64) -> Result<Box<dyn BlobWriter>> {
        self.create(key).await
    }
    /// Streams `range` of a blob (the caller knows the blob's size): of
    /// `version`, the one its commit returned, when the location gave one.
    async fn read(&self, key: &str, version: Option<&str>, range: Range<u64>)
    -> Result<ByteStream>;
    /// Removes a blob, with every version a versioned backend bucket keeps
    /// of it (a blob's key is unique to one write, so all its versions are
    /// the blob's); removing a missing blob succeeds (gc retries are harmless).
    async fn delete(&self, key: &str) -> Result<()>;
    /// Whether `copy` works (so callers need not prepare for it in vain).
    fn supports_copy(&self) -> bool {
        false
    }
    /// Copies a blob inside the backend, without the bytes passing through
    /// Strata; `Unsupported` when the backend cannot. Returns the new blob's
    /// version, as a writer's commit does.
    async fn copy(&self, _from: &str, _to: &str) -> Result<Option<String>> {
        Err(DataError::Unsupported)
    }

    /// Whether this location assembles a multipart object itself from parts
    /// sent one by one (an S3 multipart upload, Azure staged blocks), so the
    /// completed object is one blob. Else each part is a blob of its own.
    fn assembles_parts(&self) -> bool {
        false
    }
    /// Starts assembling the blob `key`; returns the backend's id for it.
    async fn start_assembly(&self, _key: &str) -> Result<String> {
        Err(DataError::Unsupported)
    }
    /// Starts writing part `number` of an assembly: exactly `size` bytes.
    /// Its commit returns the part's tag for `finish_assembly`; an abandoned
    /// writer leaves an earlier part of that number as it was.
    async fn create_part(
        &self,
        _key: &str,
        _assembly: &str,
        _number: u32,
        _size: u64,
    ) -> Result<Box<dyn BlobWriter>> {
        Err(DataError::Unsupported)
    }
    /// Makes the blob `key` of the given parts (number and tag), in order;
    /// returns its version, as a writer's commit does.
    async fn finish_assembly(
        &self,
        _key: &str,
        _assembly: &str,
        _parts: &[(u32, String)],
    ) -> Result<Option<String>> {
        Err(DataError::Unsupported)
    }
    /// Drops an assembly and the blob it may have become; either being
    /// gone already is success. An empty `assembly` drops every unfinished
    /// assembly of `key`: one whose id was lost in a crash.
    async fn abort_assembly(&self, _key: &str, _assembly: &str) -> Result<()> {
        Err(DataError::Unsupported)
    }

    /// The name an object copy of `bucket/key` gets in this location (for
    /// logs and status; the copy methods take `bucket` and `key`).
    fn copy_key(&self, bucket: &str, key: &str) -> String;
    /// Whether this location is another Strata site: it keeps a replica's
    /// version id and delete markers (sent as `scal-*` metadata) itself.
    fn keeps_versions(&self) -> bool {
        false
    }
    /// Whether `head_copy` reads tags back. When false, tags are still
    /// written but `head_copy` returns none: callers must not compare them.
    fn reads_copy_tags(&self) -> bool {
        true
    }
    /// Starts writing the copy of `bucket/key`: `size` bytes (a location
    /// that streams them, `s3` up to 5 GiB, refuses a commit after any
    /// other count).
    /// Once the writer commits, the copy replaces any previous one, bytes
    /// and attributes together; an abandoned writer leaves the previous copy
    /// (or none) as it was.
    /// Attributes the location cannot store are `InvalidAttributes`, and a key
    /// it cannot name exactly is `InvalidKey`, both before any byte is sent.
    async fn create_copy(
        &self,
        bucket: &str,
        key: &str,
        size: u64,
        attributes: &CopyAttributes,
    ) -> Result<Box<dyn BlobWriter>>;
    /// Removes the copy of `bucket/key`; removing a missing copy succeeds.
    async fn delete_copy(&self, bucket: &str, key: &str) -> Result<()>;
    /// Drops what a copy of `bucket/key` left when its process died while
    /// writing it: `upload`, its writer's `unfinished_upload`. One already
    /// gone (committed, or aborted) is success.
    async fn abort_copy_upload(&self, _bucket: &str, _key: &str, _upload: &str) -> Result<()> {
        Ok(())
    }
    /// The size and attributes of the copy of `bucket/key`, `None` when there
    /// is none: for tests, and for replication to verify a copy. A location
    /// may report a content type the copy was written without (S3's
    /// `binary/octet-stream`, Azure's `application/octet-stream`).
    async fn head_copy(&self, bucket: &str, key: &str) -> Result<Option<(u64, CopyAttributes)>>;
    /// Streams `range` (None: all) of the copy of `bucket/key`: its current
    /// one, or with `version` the one a writer's commit named (only
    /// meaningful where commits name versions). `NotFound` when there is
    /// none (some locations only say so once the stream is polled).
    async fn read_copy(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
        range: Option<Range<u64>>,
    ) -> Result<ByteStream>;
    /// Streams `range` of the current copy of `bucket/key` with that very
    /// copy's size and attributes, taken in one read: a copy replaced
    /// meanwhile cannot pair one copy's attributes with another's bytes, as
    /// a `head_copy` then `read_copy` could. None when there is no copy.
    /// A range past the copy's end is no error here: check the size before
    /// reading the bytes, whose stream then fails.
    async fn read_current_copy(
        &self,
        bucket: &str,
        key: &str,
        range: Range<u64>,
    ) -> Result<Option<CurrentCopy>>;
}

/// A read whose bytes cannot come: it fails with `error` when polled.
pub(crate) fn failing(error: DataError) -> ByteStream {
    Box::pin(futures::stream::once(async move { Err(error) }))
}

/// The current copy of an object, as one read found it.
pub struct CurrentCopy {
    pub size: u64,
    pub attributes: CopyAttributes,
    /// The range asked for.
    pub bytes: ByteStream,
}

impl CurrentCopy {
    /// The copy a `head_copy` found, paired with `bytes` (which a read
    /// that told nothing of the copy could not give: empty, or failing).
    pub(crate) fn from_head(
        head: Option<(u64, CopyAttributes)>,
        bytes: ByteStream,
    ) -> Option<Self> {
        head.map(|(size, attributes)| CurrentCopy {
            size,
            attributes,
            bytes,
        })
    }
}

/// An open blob being written.
#[async_trait::async_trait]
pub trait BlobWriter: Send {
    async fn write(&mut self, data: Bytes) -> Result<()>;
    /// Whether the commit will give the MD5 of the bytes as the location
    /// computed them (`Committed::md5`), so the writer's caller need not
    /// hash them itself.
    fn reports_md5(&self) -> bool {
        false
    }
    /// Makes the blob (or object copy) durable and visible under its key.
    async fn commit(self: Box<Self>) -> Result<Committed>;
    /// The id of what this write keeps at the backend until it commits or
    /// is dropped, should the process die first: an S3 multipart upload,
    /// whose parts the service keeps (and bills) until it is aborted. A
    /// caller that must leave nothing behind records it and, after a
    /// crash, gives it to `DataBackend::abort_copy_upload`.
    fn unfinished_upload(&self) -> Option<String> {
        None
    }
}

/// What a writer's commit left in the location.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Committed {
    /// The version the location gave the write when it keeps versions (a
    /// versioned S3 bucket, a Strata site, Azure with blob versioning): an
    /// object copy stays readable by it after later copies replace it, and a
    /// blob is read by it (the bytes read are the ones written, whatever
    /// else the backend's key may since hold). For a part of an assembly,
    /// the part's tag.
    pub version: Option<String>,
    /// The MD5 of the bytes stored, from the location's answer; present
    /// exactly when the writer `reports_md5`.
    pub md5: Option<[u8; 16]>,
}

impl Committed {
    pub fn version(version: Option<String>) -> Self {
        Self { version, md5: None }
    }
}

/// Proves a location works end to end: writes, reads back and deletes a
/// probe blob, then a probe object copy (the way replication writes, which
/// in an `s3` location goes through requests of Strata's own). Used when a
/// location is added, never per request.
pub async fn probe(backend: &dyn DataBackend) -> Result<()> {
    let unique = random_hex(8);
    let key = backend.blob_key(&BlobName {
        bucket: PROBE,
        key: PROBE,
        unique: &unique,
    });
    let payload = Bytes::from(format!("strata probe {unique}"));
    let mut writer = backend.create(&key).await?;
    writer.write(payload.clone()).await?;
    let version = writer.commit().await?.version;
    let read = backend
        .read(&key, version.as_deref(), 0..payload.len() as u64)
        .await;
    let delete = backend.delete(&key).await;
    same_bytes(read?, &payload, "blob").await?;
    delete?;

    let copy_key = format!("{PROBE}-{unique}");
    let mut writer = backend
        .create_copy(
            PROBE,
            &copy_key,
            payload.len() as u64,
            &CopyAttributes::default(),
        )
        .await?;
    writer.write(payload.clone()).await?;
    writer.commit().await?;
    let read = backend.read_copy(PROBE, &copy_key, None, None).await;
    let delete = backend.delete_copy(PROBE, &copy_key).await;
    same_bytes(read?, &payload, "object copy").await?;
    delete
}

/// The bucket name probe blobs and copies are named under: they never go
/// through the namespace, and are removed at once.
const PROBE: &str = "strata-probe";

async fn same_bytes(read: ByteStream, want: &Bytes, what: &str) -> Result<()> {
    let read: Vec<Bytes> = read.try_collect().await?;
    if read.concat() == *want {
        Ok(())
    } else {
        Err(DataError::Unavailable(format!(
            "the probe {what} read back differs from what was written"
        )))
    }
}

/// Lowercase hex of `n` random bytes.
pub(crate) fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    let _ = getrandom::fill(&mut bytes);
    hex_simd::encode_to_string(bytes, hex_simd::AsciiCase::Lower)
}
