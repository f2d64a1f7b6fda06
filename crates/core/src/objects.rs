//! Objects: streaming writes with digests verified before the metadata
//! commit, ranged reads across chunks, copies and deletes.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures::{StreamExt, TryStreamExt};
use strata_data::{ByteStream, DataBackend};
use strata_meta::{
    BlobAddr, BlobRef, BucketRecord, Chunk, ContentHeaders, DataLocator, ObjectPut, ObjectRecord,
    Precondition,
};

use crate::checksum::{BodyDigests, BodyHasher, ChecksumSource};
use crate::conditions::ReadConditions;
use crate::placement::{CopyTarget, first_chunk_ready};
use crate::time::now_ms;
use crate::{AccountRecord, Body, Error, ObjectBody, Result, Strata, random_hex};

/// Longest key S3 accepts, in bytes of UTF-8.
pub const MAX_KEY_BYTES: usize = 1024;
/// Most bytes of user metadata (names and values) S3 accepts.
pub const MAX_USER_METADATA: usize = 2048;
/// Largest object a single PUT may carry.
pub const MAX_PUT_SIZE: u64 = 5 << 30;

/// What a client sends along with an object's bytes.
#[derive(Debug, Clone, Default)]
pub struct ObjectAttributes {
    pub headers: ContentHeaders,
    pub user_metadata: BTreeMap<String, String>,
}

pub struct PutRequest {
    pub bucket: String,
    pub key: String,
    pub body: Body,
    pub content_length: Option<u64>,
    pub attributes: ObjectAttributes,
    pub content_md5: Option<String>,
    pub checksum: ChecksumSource,
    pub condition: Precondition,
}

/// A byte range as a client asks for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// `bytes=first-` or `bytes=first-last`.
    From { first: u64, last: Option<u64> },
    /// `bytes=-n`: the last n bytes.
    Suffix(u64),
}

impl ByteRange {
    /// The half-open range this resolves to in an object of `size` bytes.
    pub fn resolve(self, size: u64) -> Result<std::ops::Range<u64>> {
        match self {
            ByteRange::From { first, last } => {
                if first >= size || last.is_some_and(|l| l < first) {
                    return Err(Error::InvalidRange);
                }
                Ok(first..last.map_or(size, |l| l.saturating_add(1).min(size)))
            }
            ByteRange::Suffix(n) => {
                if n == 0 || size == 0 {
                    return Err(Error::InvalidRange);
                }
                Ok(size.saturating_sub(n)..size)
            }
        }
    }
}

pub struct GetRequest {
    pub bucket: String,
    pub key: String,
    pub range: Option<ByteRange>,
    pub part_number: Option<u32>,
    pub conditions: ReadConditions,
}

pub struct CopyRequest {
    pub source_bucket: String,
    pub source_key: String,
    pub source_conditions: ReadConditions,
    pub bucket: String,
    pub key: String,
    /// Some: REPLACE the metadata with these; None: COPY the source's.
    pub replace_attributes: Option<ObjectAttributes>,
    pub condition: Precondition,
}

pub fn validate_key(key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(Error::InvalidArgument(
            "the object key must not be empty".into(),
        ));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(Error::KeyTooLong);
    }
    Ok(())
}

fn validate_attributes(attributes: &ObjectAttributes) -> Result<()> {
    let size: usize = attributes
        .user_metadata
        .iter()
        .map(|(k, v)| k.len() + v.len())
        .sum();
    if size > MAX_USER_METADATA {
        return Err(Error::MetadataTooLarge);
    }
    Ok(())
}

/// Bytes written to a location, not yet referenced by any committed record.
pub(crate) struct Written {
    pub locator: DataLocator,
    pub inline: Option<Vec<u8>>,
    pub hasher: BodyHasher,
}

impl Strata {
    /// Streams `body` into `location`: bodies up to `inline_limit` (when
    /// inlining is allowed) stay in memory for an inline chunk, others become
    /// one blob whose intent is recorded before its first byte is written,
    /// named (by the location) after `name`: (bucket, key).
    pub(crate) async fn write_data(
        &self,
        location: &str,
        name: (&str, &str),
        mut body: Body,
        inline_limit: Option<usize>,
        hasher: BodyHasher,
        max_size: u64,
    ) -> Result<Written> {
        let mut hasher = hasher;
        let mut head = BytesMut::new();
        let mut ended = false;
        while inline_limit.is_some_and(|limit| head.len() <= limit) {
            match body.next().await {
                Some(chunk) => {
                    let chunk = chunk.map_err(Error::IncompleteBody)?;
                    hasher.update(&chunk);
                    head.extend_from_slice(&chunk);
                }
                None => {
                    ended = true;
                    break;
                }
            }
        }
        if ended {
            let id = random_hex(16);
            return Ok(Written {
                locator: DataLocator {
                    location: location.to_string(),
                    chunks: vec![Chunk {
                        size: head.len() as u64,
                        blob: BlobRef::Inline(id),
                    }],
                },
                inline: Some(head.to_vec()),
                hasher,
            });
        }
        let backend = self.locations.get(location)?.clone();
        let addr = BlobAddr {
            location: location.to_string(),
            key: self.new_blob_key(location, name.0, name.1)?,
        };
        self.meta.open_blob(addr.clone()).await?;
        match stream_to_blob(
            &*backend,
            &addr.key,
            head.freeze(),
            ended,
            body,
            &mut hasher,
            max_size,
        )
        .await
        {
            Ok(()) => Ok(Written {
                locator: DataLocator {
                    location: location.to_string(),
                    chunks: vec![Chunk {
                        size: hasher.size,
                        blob: BlobRef::Stored(addr.key),
                    }],
                },
                inline: None,
                hasher,
            }),
            Err(e) => {
                self.discard(&addr).await;
                Err(e)
            }
        }
    }

    /// Hands a blob that will not be committed to the garbage collector.
    pub(crate) async fn discard(&self, addr: &BlobAddr) {
        if let Err(e) = self.meta.discard_blob(addr.clone()).await {
            tracing::warn!(error = %e, blob = %addr.key, "could not record a discarded blob; it stays an open intent until restart");
        }
        self.gc_wakeup.notify_one();
    }

    /// Gives up written data after a failed verification or commit.
    pub(crate) async fn discard_written(&self, locator: &DataLocator) {
        for addr in locator.stored_blobs() {
            self.discard(&addr).await;
        }
    }

    /// Commits a new current version; on failure its data is discarded.
    pub(crate) async fn commit_object(&self, put: ObjectPut) -> Result<ObjectRecord> {
        let record = put.record.clone();
        match self.meta.put_object(put).await {
            Ok(previous) => {
                if previous.is_some_and(|p| p.data.stored_blobs().next().is_some()) {
                    self.gc_wakeup.notify_one();
                }
                Ok(record)
            }
            Err(e) => {
                self.discard_written(&record.data).await;
                Err(e.into())
            }
        }
    }

    pub async fn put_object(
        &self,
        account: &AccountRecord,
        req: PutRequest,
    ) -> Result<ObjectRecord> {
        validate_key(&req.key)?;
        validate_attributes(&req.attributes)?;
        if req.content_length.is_some_and(|n| n > MAX_PUT_SIZE) {
            return Err(Error::EntityTooLarge);
        }
        let bucket = self.owned_bucket(account, &req.bucket)?;
        let current = self.meta.get_object(&bucket.name, &req.key)?;
        if !req.condition.holds(current.as_ref()) {
            return Err(Error::PreconditionFailed);
        }
        let hasher = BodyHasher::new(req.checksum.algorithm());
        let location = self.placement(&bucket, &req.attributes.user_metadata)?;
        let written = self
            .write_data(
                &location,
                (&bucket.name, &req.key),
                req.body,
                self.inline_limit(&location)?,
                hasher,
                MAX_PUT_SIZE,
            )
            .await?;
        let Written {
            locator,
            inline,
            hasher,
        } = written;
        let digests = match hasher.verify(req.content_md5.as_deref(), req.checksum) {
            Ok(d) => d,
            Err(e) => {
                self.discard_written(&locator).await;
                return Err(e);
            }
        };
        if req.content_length.is_some_and(|n| n != digests.size) {
            self.discard_written(&locator).await;
            return Err(Error::IncompleteBody(std::io::Error::other(
                "body length differs from Content-Length",
            )));
        }
        let record = new_record(account, &digests, req.attributes, locator);
        self.commit_object(ObjectPut {
            bucket: bucket.name,
            key: req.key,
            record,
            inline,
            condition: req.condition,
        })
        .await
    }

    /// The current version of an object in a bucket `account` owns.
    pub fn object_record(
        &self,
        account: &AccountRecord,
        bucket: &str,
        key: &str,
    ) -> Result<(BucketRecord, ObjectRecord)> {
        let bucket = self.owned_bucket(account, bucket)?;
        let record = self
            .meta
            .get_object(&bucket.name, key)?
            .ok_or(Error::NoSuchKey)?;
        Ok((bucket, record))
    }

    /// HEAD: the record, after the conditions; with a part number, the part's
    /// range and the part count.
    pub fn head_object(
        &self,
        account: &AccountRecord,
        req: &GetRequest,
    ) -> Result<(ObjectRecord, Option<PartRange>)> {
        let (_, record) = self.object_record(account, &req.bucket, &req.key)?;
        req.conditions.check(&record)?;
        let part = match req.part_number {
            Some(n) => Some(part_range(&record, n)?),
            None => None,
        };
        Ok((record, part))
    }

    pub async fn get_object(&self, account: &AccountRecord, req: GetRequest) -> Result<ObjectBody> {
        let (record, part) = self.head_object(account, &req)?;
        let (range, partial, parts_count) = match (part, req.range) {
            (Some(p), _) => (p.range, true, Some(p.parts_count)),
            (None, Some(r)) => (r.resolve(record.size)?, true, None),
            (None, None) => (0..record.size, false, None),
        };
        let stream = first_chunk_ready(self.read_data(&record.data, range.clone())?).await?;
        Ok(ObjectBody {
            record,
            range,
            partial,
            parts_count,
            stream,
        })
    }

    /// Streams `range` of the bytes a locator describes, chunk after chunk.
    pub(crate) fn read_data(
        &self,
        locator: &DataLocator,
        range: std::ops::Range<u64>,
    ) -> Result<ByteStream> {
        let backend = self.locations.get(&locator.location)?.clone();
        let mut reads = Vec::new();
        let mut offset = 0u64;
        for chunk in &locator.chunks {
            let (start, end) = (offset, offset + chunk.size);
            offset = end;
            if end <= range.start || start >= range.end {
                continue;
            }
            let within = range.start.max(start) - start..range.end.min(end) - start;
            reads.push((chunk.blob.clone(), within));
        }
        let meta = self.meta.clone();
        let stream = futures::stream::iter(reads)
            .then(move |(blob, within)| read_chunk(meta.clone(), backend.clone(), blob, within))
            .try_flatten();
        Ok(Box::pin(stream))
    }

    pub async fn delete_object(
        &self,
        account: &AccountRecord,
        bucket: &str,
        key: &str,
    ) -> Result<()> {
        let bucket = self.owned_bucket(account, bucket)?;
        validate_key(key)?;
        if let Some(previous) = self
            .meta
            .delete_object(&bucket.name, key, Precondition::default())
            .await?
            && previous.data.stored_blobs().next().is_some()
        {
            self.gc_wakeup.notify_one();
        }
        Ok(())
    }

    pub async fn copy_object(
        &self,
        account: &AccountRecord,
        req: CopyRequest,
    ) -> Result<ObjectRecord> {
        validate_key(&req.key)?;
        let (_, source) = self.object_record(account, &req.source_bucket, &req.source_key)?;
        req.source_conditions.check_copy_source(&source)?;
        let bucket = self.owned_bucket(account, &req.bucket)?;
        let onto_itself = req.source_bucket == req.bucket && req.source_key == req.key;
        if onto_itself && req.replace_attributes.is_none() {
            return Err(Error::InvalidRequest(
                "This copy request is illegal because it is trying to copy an object to itself without changing the \
                 object's metadata, storage class, website redirect location or encryption attributes."
                    .into(),
            ));
        }
        let attributes = match req.replace_attributes {
            Some(a) => a,
            None => ObjectAttributes {
                headers: source.headers.clone(),
                user_metadata: source.user_metadata.clone(),
            },
        };
        validate_attributes(&attributes)?;
        if onto_itself {
            // Only the metadata changes: the new version shares the bytes.
            let record = ObjectRecord {
                last_modified_ms: now_ms(),
                owner: account.id.clone(),
                headers: attributes.headers,
                user_metadata: attributes.user_metadata,
                ..source
            };
            let put = ObjectPut {
                bucket: bucket.name,
                key: req.key,
                record: record.clone(),
                inline: None,
                condition: req.condition,
            };
            self.meta.put_object(put).await?;
            return Ok(record);
        }
        let location = self.placement(&bucket, &attributes.user_metadata)?;
        let target = CopyTarget {
            bucket: &bucket.name,
            key: &req.key,
            location: &location,
            attributes: &attributes,
            condition: req.condition.clone(),
        };
        if let Some(record) = self.copy_in_location(account, &source, target).await? {
            return Ok(record);
        }
        let source_bytes = first_chunk_ready(self.read_data(&source.data, 0..source.size)?).await?;
        let body: Body = Box::pin(source_bytes.map_err(std::io::Error::other));
        let algorithm = source.checksum.as_ref().map(|c| c.algorithm);
        let written = self
            .write_data(
                &location,
                (&bucket.name, &req.key),
                body,
                self.inline_limit(&location)?,
                BodyHasher::new(algorithm),
                MAX_PUT_SIZE,
            )
            .await?;
        let Written {
            locator,
            inline,
            hasher,
        } = written;
        let digests = hasher.verify(None, ChecksumSource::None)?;
        let record = new_record(account, &digests, attributes, locator);
        self.commit_object(ObjectPut {
            bucket: bucket.name,
            key: req.key,
            record,
            inline,
            condition: req.condition,
        })
        .await
    }
}

fn new_record(
    account: &AccountRecord,
    digests: &BodyDigests,
    attributes: ObjectAttributes,
    data: DataLocator,
) -> ObjectRecord {
    ObjectRecord {
        size: digests.size,
        etag: hex_simd::encode_to_string(digests.md5, hex_simd::AsciiCase::Lower),
        last_modified_ms: now_ms(),
        owner: account.id.clone(),
        headers: attributes.headers,
        user_metadata: attributes.user_metadata,
        checksum: digests.checksum.clone(),
        data,
        parts: Vec::new(),
        upload_id: None,
    }
}

/// The bytes of one part (`?partNumber=`) and how many parts the object has.
pub struct PartRange {
    pub range: std::ops::Range<u64>,
    pub parts_count: usize,
}

/// An object uploaded in one piece has a single part 1.
fn part_range(record: &ObjectRecord, number: u32) -> Result<PartRange> {
    if record.parts.is_empty() {
        return match number {
            1 => Ok(PartRange {
                range: 0..record.size,
                parts_count: 1,
            }),
            _ => Err(Error::InvalidPart(format!("part {number} does not exist"))),
        };
    }
    let mut offset = 0;
    for part in &record.parts {
        if part.number == number {
            return Ok(PartRange {
                range: offset..offset + part.size,
                parts_count: record.parts.len(),
            });
        }
        offset += part.size;
    }
    Err(Error::InvalidPart(format!("part {number} does not exist")))
}

async fn stream_to_blob(
    backend: &dyn DataBackend,
    key: &str,
    head: Bytes,
    ended: bool,
    mut body: Body,
    hasher: &mut BodyHasher,
    max_size: u64,
) -> Result<()> {
    let mut writer = backend.create(key).await?;
    writer.write(head).await?;
    if !ended {
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(Error::IncompleteBody)?;
            hasher.update(&chunk);
            if hasher.size > max_size {
                return Err(Error::EntityTooLarge);
            }
            writer.write(chunk).await?;
        }
    }
    writer.commit().await?;
    Ok(())
}

async fn read_chunk(
    meta: Arc<dyn strata_meta::MetadataStore>,
    backend: Arc<dyn DataBackend>,
    blob: BlobRef,
    within: std::ops::Range<u64>,
) -> strata_data::Result<ByteStream> {
    match blob {
        BlobRef::Stored(key) => backend.read(&key, within).await,
        BlobRef::Inline(id) => {
            let bytes = meta
                .read_inline(&id)
                .map_err(|e| strata_data::DataError::Io(std::io::Error::other(e)))?
                .ok_or(strata_data::DataError::NotFound(id))?;
            let slice = Bytes::from(bytes).slice(within.start as usize..within.end as usize);
            Ok(Box::pin(futures::stream::once(async move { Ok(slice) })))
        }
    }
}
