//! Placement: the location an object's bytes go to (its bucket's, or the one it names), reads
//! naming a location, server-side copies inside one location. Never moves data between locations.

use std::collections::BTreeMap;

use bytes::Bytes;
use futures::StreamExt;
use strata_data::{BlobName, ByteStream};
use strata_meta::{
    Acl, BlobAddr, BlobRef, BucketRecord, Chunk, DataLocator, ObjectPut, ObjectRecord,
    Precondition, ReplicationStatus,
};

use crate::objects::ObjectAttributes;
use crate::time::now_ms;
use crate::{Error, Result, Strata, random_hex};

/// Whether a destination's current copy is the copy of `record`: its size,
/// and the source version id replication wrote on it.
fn is_copy_of(current: &strata_data::CurrentCopy, record: &ObjectRecord) -> bool {
    current.size == record.size
        && current
            .attributes
            .metadata
            .get(crate::replication::META_VERSION_ID)
            .map(String::as_str)
            == Some(record.version_name())
}

/// The user-metadata name (after `x-amz-meta-`) an object uses to pick its
/// location, as in Zenko.
pub const LOCATION_METADATA: &str = "scal-location-constraint";

/// Where a server-side copy goes.
pub(crate) struct CopyTarget<'a> {
    pub bucket: &'a str,
    pub key: &'a str,
    pub location: &'a str,
    pub attributes: &'a ObjectAttributes,
    pub condition: Precondition,
    /// Who owns the copy, and its ACL (see `new_object_acl`).
    pub owner: String,
    pub acl: Option<Acl>,
}

impl Strata {
    /// The location a new object of `bucket` is written to.
    pub(crate) fn placement(
        &self,
        bucket: &BucketRecord,
        user_metadata: &BTreeMap<String, String>,
    ) -> Result<String> {
        match user_metadata.get(LOCATION_METADATA) {
            None => Ok(bucket.location.clone()),
            Some(name) if self.locations.contains(name) => Ok(name.clone()),
            Some(name) => Err(Error::InvalidArgument(format!(
                "x-amz-meta-{LOCATION_METADATA} names an unknown location: {name}"
            ))),
        }
    }

    /// Inline bytes live in the metadata store; a cloud location's objects
    /// must have their bytes in the cloud, so they are never inlined.
    pub(crate) fn inline_limit(&self, location: &str) -> Result<Option<usize>> {
        let backend = self.locations.get(location)?;
        Ok(backend
            .allows_inline()
            .then_some(self.settings.inline_threshold))
    }

    /// A fresh backend key for a blob of `bucket/key` in `location`.
    pub(crate) fn new_blob_key(&self, location: &str, bucket: &str, key: &str) -> Result<String> {
        let backend = self.locations.get(location)?;
        Ok(backend.blob_key(&BlobName {
            bucket,
            key,
            unique: &random_hex(16),
        }))
    }

    /// `x-amz-location-constraint` on a GET: read `record` (a version of
    /// `bucket/key`) from the location it names. That is the location
    /// holding its bytes, or a replication destination whose copy of this
    /// very version is COMPLETED: pinned by the version the destination gave
    /// it, or the destination's current copy when that copy says (by its
    /// `scal-version-id`) it is this version's. `range` of the bytes, plain
    /// (a copy holds them decrypted).
    pub(crate) async fn read_from(
        &self,
        wanted: &str,
        bucket: &str,
        key: &str,
        record: &ObjectRecord,
        range: std::ops::Range<u64>,
        data_key: Option<[u8; 32]>,
    ) -> Result<ByteStream> {
        if !self.locations.contains(wanted) {
            return Err(Error::InvalidArgument(format!(
                "x-amz-location-constraint names an unknown location: {wanted}"
            )));
        }
        if record.data.location == wanted {
            return first_chunk_ready(self.read_data(record, range, data_key)?).await;
        }
        let copy = record
            .replication
            .as_ref()
            .and_then(|r| r.destination(wanted))
            .filter(|d| d.status == ReplicationStatus::Completed);
        let backend = self.locations.get(wanted)?;
        let no_copy = || {
            Error::InvalidArgument(format!(
                "location {wanted} holds no copy of this version (its data is in location {})",
                record.data.location
            ))
        };
        let read = match copy.map(|d| d.copy_version.as_deref()) {
            Some(Some(pinned)) => {
                backend
                    .read_copy(bucket, key, Some(pinned), Some(range))
                    .await?
            }
            Some(None) => match backend.read_current_copy(bucket, key, range).await? {
                Some(current) if is_copy_of(&current, record) => current.bytes,
                _ => return Err(no_copy()),
            },
            None => return Err(no_copy()),
        };
        first_chunk_ready(read).await
    }

    /// What HEAD shows as `x-amz-storage-class`: the location, when not the default.
    pub fn storage_class(&self, record: &ObjectRecord) -> Option<String> {
        (record.data.location != self.locations.default_name())
            .then(|| record.data.location.clone())
    }

    /// Copies a single-blob object inside its own location when the backend
    /// can copy by itself (the bytes never pass through Strata). None when
    /// it does not apply; the caller then streams the copy.
    pub(crate) async fn copy_in_location(
        &self,
        source: &ObjectRecord,
        target: CopyTarget<'_>,
    ) -> Result<Option<ObjectRecord>> {
        let [
            Chunk {
                blob: BlobRef::Stored(from),
                size,
                ..
            },
        ] = source.data.chunks.as_slice()
        else {
            return Ok(None);
        };
        let backend = self.locations.get(target.location)?;
        // A multipart source's ETag is not the MD5 of its bytes: S3 gives the
        // copy a fresh one, which needs the bytes.
        if source.data.location != target.location
            || !source.parts.is_empty()
            || !backend.supports_copy()
        {
            return Ok(None);
        }
        let addr = BlobAddr {
            location: target.location.to_string(),
            key: self.new_blob_key(target.location, target.bucket, target.key)?,
        };
        self.meta.open_blob(addr.clone()).await?;
        let version = match backend.copy(from, &addr.key).await {
            Ok(version) => version,
            Err(e) => {
                self.discard(&addr).await;
                return Err(e.into());
            }
        };
        let record = ObjectRecord {
            size: *size,
            etag: source.etag.clone(),
            last_modified_ms: now_ms(),
            owner: target.owner,
            headers: target.attributes.headers.clone(),
            user_metadata: target.attributes.user_metadata.clone(),
            checksum: source.checksum.clone(),
            data: DataLocator {
                location: addr.location.clone(),
                chunks: vec![Chunk {
                    size: *size,
                    blob: BlobRef::Stored(addr.key.clone()),
                    version,
                }],
            },
            parts: Vec::new(),
            upload_id: None,
            version_id: None,
            delete_marker: false,
            tags: target.attributes.tags.clone(),
            retention: target.attributes.retention.clone(),
            legal_hold: target.attributes.legal_hold,
            acl: target.acl,
            encryption: None,
            replication: None,
        };
        self.commit_object(ObjectPut {
            bucket: target.bucket.to_string(),
            key: target.key.to_string(),
            record,
            inline: None,
            condition: target.condition,
            shares_current_data: false,
            version_id: None,
        })
        .await
        .map(Some)
    }
}

/// Waits for a read's first chunk, so a location that is down fails the
/// request with a clear error before any response header is sent.
pub(crate) async fn first_chunk_ready(mut stream: ByteStream) -> Result<ByteStream> {
    match stream.next().await {
        None => Ok(stream),
        Some(Err(e)) => Err(e.into()),
        Some(Ok(first)) => {
            let head = futures::stream::once(async move { Ok::<Bytes, _>(first) });
            Ok(Box::pin(head.chain(stream)))
        }
    }
}
