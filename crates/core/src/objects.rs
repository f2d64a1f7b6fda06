//! Objects: streaming writes with digests verified before the metadata
//! commit, ranged reads across chunks, copies and deletes.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures::{StreamExt, TryStreamExt};
use strata_data::{BlobWriter, ByteStream, DataBackend};
use strata_meta::{
    Acl, Assembly, BlobAddr, BlobRef, BucketRecord, Chunk, ContentHeaders, DataLocator,
    DeleteOutcome, Encryption, ObjectDelete, ObjectPut, ObjectRecord, Precondition, Retention,
    Versioning,
};

use crate::access::AclRequest;
use crate::checksum::{BodyDigests, BodyHasher, ChecksumSource};
use crate::conditions::ReadConditions;
use crate::encryption::{
    CustomerKey, Sealer, SegmentCipher, SseRequest, open_stream, sealed_range,
};
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
    pub tags: BTreeMap<String, String>,
    /// Object Lock settings asked for; checked and defaulted by `settle_lock`.
    pub retention: Option<Retention>,
    pub legal_hold: bool,
    /// The ACL asked for (None: the default one).
    pub acl: Option<AclRequest>,
    /// The encryption asked for (None: the bucket's default).
    pub sse: Option<SseRequest>,
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
    pub version_id: Option<String>,
    /// SSE-C: the key the object was written with.
    pub customer_key: Option<CustomerKey>,
    pub range: Option<ByteRange>,
    pub part_number: Option<u32>,
    pub conditions: ReadConditions,
    /// `x-amz-location-constraint`: the location to read the bytes from
    /// (see `read_from`).
    pub from_location: Option<String>,
}

pub struct CopyRequest {
    pub source_bucket: String,
    pub source_key: String,
    pub source_version_id: Option<String>,
    /// SSE-C key of the source (`x-amz-copy-source-server-side-encryption-customer-*`).
    pub source_customer_key: Option<CustomerKey>,
    pub source_conditions: ReadConditions,
    pub bucket: String,
    pub key: String,
    /// What the request sets on the copy: its ACL and Object Lock settings
    /// always, its metadata and content headers only with `replace_metadata`.
    pub attributes: ObjectAttributes,
    /// The REPLACE metadata directive (COPY keeps the source's metadata).
    pub replace_metadata: bool,
    /// Some: REPLACE the tags with these; None: COPY the source's.
    pub replace_tags: Option<BTreeMap<String, String>>,
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

pub(crate) fn validate_attributes(attributes: &ObjectAttributes) -> Result<()> {
    crate::tags::validate_object_tags(&attributes.tags)?;
    let size: usize = attributes
        .user_metadata
        .iter()
        .map(|(k, v)| k.len() + v.len())
        .sum();
    if size > MAX_USER_METADATA {
        return Err(Error::MetadataTooLarge);
    }
    if let Some(location) = &attributes.headers.website_redirect_location
        && !["/", "http://", "https://"]
            .iter()
            .any(|p| location.starts_with(p))
    {
        return Err(Error::InvalidArgument(
            "The website redirect location must have a prefix of 'http://' or 'https://' or '/'"
                .into(),
        ));
    }
    Ok(())
}

/// Where `write_data` puts bytes: a location, and the object they belong to
/// (cloud locations name their blobs after it).
pub(crate) struct Destination<'a> {
    pub location: &'a str,
    pub bucket: &'a str,
    pub key: &'a str,
    /// The body's length when known up front: a location may then stream
    /// it as one request.
    pub size: Option<u64>,
}

/// Bytes written to a location, not yet referenced by any committed record.
pub(crate) struct Written {
    pub locator: DataLocator,
    pub inline: Option<Vec<u8>>,
    pub hasher: BodyHasher,
}

impl Strata {
    /// Streams `body` into `to.location`: bodies up to `inline_limit` (when
    /// inlining is allowed) stay in memory for an inline chunk, others become
    /// one blob whose intent is recorded before its first byte is written,
    /// named (by the location) after `to.bucket` and `to.key`.
    pub(crate) async fn write_data(
        &self,
        to: Destination<'_>,
        mut body: Body,
        inline_limit: Option<usize>,
        hasher: BodyHasher,
        max_size: u64,
        cipher: Option<SegmentCipher>,
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
            let inline = match &cipher {
                Some(c) => c.seal_all(&head)?,
                None => head.to_vec(),
            };
            return Ok(Written {
                locator: DataLocator {
                    location: to.location.to_string(),
                    chunks: vec![Chunk {
                        size: head.len() as u64,
                        blob: BlobRef::Inline(id),
                        version: None,
                    }],
                },
                inline: Some(inline),
                hasher,
            });
        }
        let backend = self.locations.get(to.location)?;
        let addr = BlobAddr {
            location: to.location.to_string(),
            key: self.new_blob_key(to.location, to.bucket, to.key)?,
        };
        self.meta.open_blob(addr.clone()).await?;
        // Sealing changes the length.
        let size = to.size.filter(|_| cipher.is_none());
        match stream_to_blob(
            &*backend,
            (&addr.key, size),
            head.freeze(),
            body,
            &mut hasher,
            max_size,
            cipher.map(Sealer::new),
        )
        .await
        {
            Ok(version) => Ok(Written {
                locator: DataLocator {
                    location: to.location.to_string(),
                    chunks: vec![Chunk {
                        size: hasher.size,
                        blob: BlobRef::Stored(addr.key),
                        version,
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

    /// Hands a blob that will not be committed to the garbage collector
    /// (its uploads' entry first: the blob's own closes its open intent,
    /// which a crash in between must still find at recovery).
    pub(crate) async fn discard(&self, addr: &BlobAddr) {
        for entry in self
            .unfinished_uploads_of(addr)
            .into_iter()
            .chain([addr.clone()])
        {
            if let Err(e) = self.meta.discard_blob(entry).await {
                tracing::warn!(error = %e, blob = %addr.key, "could not record a discarded blob; it stays an open intent until restart");
            }
        }
        self.gc_wakeup.notify_one();
    }

    /// At start-up: the blobs a crash cut off go to the garbage collector
    /// (with their unfinished uploads, see `unfinished_uploads_of`).
    /// Returns how many.
    pub async fn recover_open_blobs(&self) -> Result<usize> {
        let assembling: Vec<String> = self
            .locations
            .all()
            .into_iter()
            .filter(|(_, l)| l.backend.assembles_parts())
            .map(|(name, _)| name)
            .collect();
        Ok(self.meta.recover_open_blobs(&assembling).await?)
    }

    /// A blob a cloud location was writing (one over 8 MiB) may have a
    /// multipart upload of its own open there, which a plain delete leaves
    /// behind: the collector's entry that aborts every unfinished upload of
    /// that name, for locations that have them.
    fn unfinished_uploads_of(&self, addr: &BlobAddr) -> Option<BlobAddr> {
        let assembles = self
            .locations
            .get(&addr.location)
            .is_ok_and(|backend| backend.assembles_parts());
        (assembles && Assembly::from_garbage(&addr.key).is_none())
            .then(|| Assembly::starting(&addr.location, &addr.key))
    }

    /// Gives up written data after a failed verification or commit.
    pub(crate) async fn discard_written(&self, locator: &DataLocator) {
        for addr in locator.stored_blobs() {
            self.discard(&addr).await;
        }
    }

    /// Commits a new current version; on failure its data is discarded.
    pub(crate) async fn commit_object(&self, mut put: ObjectPut) -> Result<ObjectRecord> {
        let data = put.record.data.clone();
        if let Err(e) = self.settle_replication(&mut put) {
            self.discard_written(&data).await;
            return Err(e);
        }
        match self.meta.put_object(put).await {
            Ok(outcome) => {
                if outcome.retired_blobs {
                    self.gc_wakeup.notify_one();
                }
                Ok(outcome.record)
            }
            Err(e) => {
                self.discard_written(&data).await;
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
        let mut req = req;
        self.settle_lock(&bucket, &mut req.attributes)?;
        let (owner, acl) = self.new_object_acl(account, &bucket, req.attributes.acl.as_ref())?;
        let current = self.meta.get_object(&bucket.name, &req.key)?;
        // If-Match on a key with no current version: S3 answers 404, not 412.
        if req.condition.if_match.is_some() && current.is_none() {
            return Err(Error::NoSuchKey);
        }
        if !req.condition.holds(current.as_ref()) {
            return Err(Error::PreconditionFailed);
        }
        let hasher = BodyHasher::new(req.checksum.algorithm());
        let sealed = self.new_data_key(&bucket, req.attributes.sse.as_ref())?;
        let location = self.placement(&bucket, &req.attributes.user_metadata)?;
        let written = self
            .write_data(
                Destination {
                    location: &location,
                    bucket: &bucket.name,
                    key: &req.key,
                    size: req.content_length,
                },
                req.body,
                self.inline_limit(&location)?,
                hasher,
                MAX_PUT_SIZE,
                sealed.as_ref().map(|(_, key)| SegmentCipher::new(key, 0)),
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
        let mut record = new_record(owner, &digests, req.attributes, locator, acl);
        record.encryption = sealed.map(|(enc, _)| enc);
        self.commit_object(ObjectPut {
            bucket: bucket.name,
            key: req.key,
            record,
            inline,
            condition: req.condition,
            shares_current_data: false,
            version_id: None,
        })
        .await
    }

    /// A version of an object (None: the current one) in a bucket `account`
    /// owns. Delete markers are not objects: asking for one is an error that
    /// carries its id, as S3 answers it.
    pub fn object_version(
        &self,
        account: &AccountRecord,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<(BucketRecord, ObjectRecord)> {
        let bucket = self.owned_bucket(account, bucket)?;
        let record = match version_id {
            None => match self.meta.get_object(&bucket.name, key)? {
                Some(record) => record,
                None => {
                    return Err(match self.meta.latest_version(&bucket.name, key)? {
                        Some(marker) if marker.delete_marker => Error::DeleteMarker {
                            version_id: marker.version_name().to_string(),
                            current: true,
                        },
                        _ => Error::NoSuchKey,
                    });
                }
            },
            Some(id) => self
                .meta
                .get_version(&bucket.name, key, id)?
                .ok_or(Error::NoSuchVersion)?,
        };
        if record.delete_marker {
            return Err(Error::DeleteMarker {
                version_id: record.version_name().to_string(),
                current: false,
            });
        }
        Ok((bucket, record))
    }

    /// HEAD: the version, after the conditions; with a part number, the
    /// part's range and the part count.
    pub fn head_object(&self, account: &AccountRecord, req: &GetRequest) -> Result<Found> {
        if req.part_number.is_some() && req.range.is_some() {
            return Err(Error::InvalidRequest(
                "Cannot specify both Range header and partNumber query parameter".into(),
            ));
        }
        let (bucket, record) =
            self.object_version(account, &req.bucket, &req.key, req.version_id.as_deref())?;
        req.conditions.check(&record)?;
        // A part that does not exist is InvalidPart even without the SSE-C key.
        let part = match req.part_number {
            Some(n) => Some(part_range(&record, n)?),
            None => None,
        };
        let data_key = self.data_key(&record, req.customer_key.as_ref())?;
        Ok(Found {
            version_id: visible_version_id(&bucket, &record),
            record,
            part,
            data_key,
        })
    }

    pub async fn get_object(&self, account: &AccountRecord, req: GetRequest) -> Result<ObjectBody> {
        let Found {
            record,
            part,
            version_id,
            data_key,
        } = self.head_object(account, &req)?;
        let (range, partial, parts_count) = match (part, req.range) {
            (Some(p), _) => (p.range, true, Some(p.parts_count)),
            (None, Some(r)) => (r.resolve(record.size)?, true, None),
            (None, None) => (0..record.size, false, None),
        };
        let stream = match &req.from_location {
            Some(wanted) => {
                self.read_from(
                    wanted,
                    &req.bucket,
                    &req.key,
                    &record,
                    range.clone(),
                    data_key,
                )
                .await?
            }
            None => first_chunk_ready(self.read_data(&record, range.clone(), data_key)?).await?,
        };
        Ok(ObjectBody {
            record,
            version_id,
            range,
            partial,
            parts_count,
            stream,
        })
    }

    /// Streams `range` of a version's bytes, chunk after chunk, opening
    /// sealed chunks with `data_key` (see `data_key`).
    pub(crate) fn read_data(
        &self,
        record: &ObjectRecord,
        range: std::ops::Range<u64>,
        data_key: Option<[u8; 32]>,
    ) -> Result<ByteStream> {
        let locator = &record.data;
        let backend = self.locations.get(&locator.location)?;
        let mut reads = Vec::new();
        let mut offset = 0u64;
        for (i, chunk) in locator.chunks.iter().enumerate() {
            let (start, end) = (offset, offset + chunk.size);
            offset = end;
            if end <= range.start || start >= range.end {
                continue;
            }
            let within = range.start.max(start) - start..range.end.min(end) - start;
            // Each part of a multipart object was sealed under its own number.
            let part = record.parts.get(i).map_or(0, |p| p.number);
            let opener = data_key.map(|key| (SegmentCipher::new(&key, part), chunk.size));
            reads.push((chunk.clone(), within, opener));
        }
        let meta = self.meta.clone();
        let stream = futures::stream::iter(reads)
            .then(move |(chunk, within, opener)| {
                let (meta, backend) = (meta.clone(), backend.clone());
                async move {
                    let Some((cipher, plain_len)) = opener else {
                        return read_chunk(meta, backend, chunk, within).await;
                    };
                    let take = within.end - within.start;
                    let (sealed, first, skip) = sealed_range(within, plain_len);
                    let stream = read_chunk(meta, backend, chunk, sealed).await?;
                    Ok(open_stream(cipher, first, skip, take, stream))
                }
            })
            .try_flatten();
        Ok(Box::pin(stream))
    }

    /// The key that opens a version's bytes: none for plain objects; SSE-C
    /// objects need the customer's key, and plain ones refuse one.
    pub fn data_key(
        &self,
        record: &ObjectRecord,
        customer: Option<&CustomerKey>,
    ) -> Result<Option<[u8; 32]>> {
        match (&record.encryption, customer) {
            (Some(enc), customer) => Ok(Some(self.keyring.data_key(enc, customer)?)),
            (None, Some(_)) => Err(Error::InvalidRequest(
                "The encryption parameters are not applicable to this object.".into(),
            )),
            (None, None) => Ok(None),
        }
    }

    /// A fresh data key for a new version or upload in `bucket`: what the
    /// request asks for, else the bucket's default encryption.
    pub(crate) fn new_data_key(
        &self,
        bucket: &BucketRecord,
        asked: Option<&SseRequest>,
    ) -> Result<Option<(Encryption, [u8; 32])>> {
        let default = match asked {
            Some(_) => None,
            None => self.default_encryption(&bucket.name)?,
        };
        asked
            .or(default.as_ref())
            .map(|a| self.keyring.new_key(a))
            .transpose()
    }

    /// DeleteObject: without a version id, the current version goes (or,
    /// in a versioning bucket, hides behind a new delete marker); with one,
    /// that version goes for good.
    pub async fn delete_object(
        &self,
        account: &AccountRecord,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        bypass_governance: bool,
    ) -> Result<DeleteOutcome> {
        let bucket = self.owned_bucket(account, bucket)?;
        validate_key(key)?;
        let marker_replication = match (version_id, bucket.versioning) {
            (None, Versioning::Enabled | Versioning::Suspended) => {
                self.marker_replication(&bucket.name, key)?
            }
            _ => None,
        };
        let outcome = self
            .meta
            .delete_object(ObjectDelete {
                bucket: bucket.name,
                key: key.to_string(),
                version_id: version_id.map(str::to_string),
                condition: Precondition::default(),
                requester: account.id.clone(),
                // Only the bucket owner gets here, and it may bypass GOVERNANCE.
                bypass_governance,
                marker_replication,
            })
            .await?;
        if outcome.retired_blobs {
            self.gc_wakeup.notify_one();
        }
        Ok(outcome)
    }

    pub async fn copy_object(
        &self,
        account: &AccountRecord,
        req: CopyRequest,
    ) -> Result<ObjectRecord> {
        validate_key(&req.key)?;
        let (_, source) = self.object_version(
            account,
            &req.source_bucket,
            &req.source_key,
            req.source_version_id.as_deref(),
        )?;
        req.source_conditions.check_copy_source(&source)?;
        let source_key = self.data_key(&source, req.source_customer_key.as_ref())?;
        let bucket = self.owned_bucket(account, &req.bucket)?;
        let onto_itself = req.source_bucket == req.bucket
            && req.source_key == req.key
            && req.source_version_id.is_none();
        if onto_itself && !req.replace_metadata && req.replace_tags.is_none() {
            return Err(Error::InvalidRequest(
                "This copy request is illegal because it is trying to copy an object to itself without changing the \
                 object's metadata, storage class, website redirect location or encryption attributes."
                    .into(),
            ));
        }
        let mut attributes = req.attributes;
        if !req.replace_metadata {
            // As in S3, an object's website redirect is not copied with it:
            // only the request's own applies.
            attributes.headers = ContentHeaders {
                website_redirect_location: attributes.headers.website_redirect_location.take(),
                ..source.headers.clone()
            };
            attributes.user_metadata = source.user_metadata.clone();
        }
        attributes.tags = req.replace_tags.unwrap_or_else(|| source.tags.clone());
        validate_attributes(&attributes)?;
        self.settle_lock(&bucket, &mut attributes)?;
        let (owner, acl) = self.new_object_acl(account, &bucket, attributes.acl.as_ref())?;
        // Plain bytes that stay plain (no encryption asked for, none by the
        // bucket's default) may be shared or copied as they are.
        let keeps_bytes = attributes.sse.is_none()
            && source.encryption.is_none()
            && self.default_encryption(&bucket.name)?.is_none();
        if onto_itself && keeps_bytes && bucket.versioning == Versioning::Unversioned {
            // Only the metadata changes, and the version it replaces goes:
            // the new version may share its bytes.
            let record = ObjectRecord {
                last_modified_ms: now_ms(),
                owner,
                headers: attributes.headers,
                user_metadata: attributes.user_metadata,
                tags: attributes.tags,
                retention: attributes.retention,
                legal_hold: attributes.legal_hold,
                acl,
                ..source
            };
            let mut put = ObjectPut {
                bucket: bucket.name,
                key: req.key,
                record,
                inline: None,
                condition: req.condition,
                shares_current_data: true,
                version_id: None,
            };
            self.settle_replication(&mut put)?;
            return Ok(self.meta.put_object(put).await?.record);
        }
        let location = self.placement(&bucket, &attributes.user_metadata)?;
        // A backend's own copy moves the bytes as they are: only for plain ones.
        if keeps_bytes {
            let target = CopyTarget {
                bucket: &bucket.name,
                key: &req.key,
                location: &location,
                attributes: &attributes,
                condition: req.condition.clone(),
                owner: owner.clone(),
                acl: acl.clone(),
            };
            if let Some(record) = self.copy_in_location(&source, target).await? {
                return Ok(record);
            }
        }
        let source_bytes =
            first_chunk_ready(self.read_data(&source, 0..source.size, source_key)?).await?;
        let body: Body = Box::pin(source_bytes.map_err(std::io::Error::other));
        let algorithm = source.checksum.as_ref().map(|c| c.algorithm);
        let sealed = self.new_data_key(&bucket, attributes.sse.as_ref())?;
        let written = self
            .write_data(
                Destination {
                    location: &location,
                    bucket: &bucket.name,
                    key: &req.key,
                    size: Some(source.size),
                },
                body,
                self.inline_limit(&location)?,
                BodyHasher::new(algorithm),
                MAX_PUT_SIZE,
                sealed.as_ref().map(|(_, key)| SegmentCipher::new(key, 0)),
            )
            .await?;
        let Written {
            locator,
            inline,
            hasher,
        } = written;
        let digests = hasher.verify(None, ChecksumSource::None)?;
        let mut record = new_record(owner, &digests, attributes, locator, acl);
        record.encryption = sealed.map(|(enc, _)| enc);
        self.commit_object(ObjectPut {
            bucket: bucket.name,
            key: req.key,
            record,
            inline,
            condition: req.condition,
            shares_current_data: false,
            version_id: None,
        })
        .await
    }
}

fn new_record(
    owner: String,
    digests: &BodyDigests,
    attributes: ObjectAttributes,
    data: DataLocator,
    acl: Option<Acl>,
) -> ObjectRecord {
    ObjectRecord {
        size: digests.size,
        etag: hex_simd::encode_to_string(digests.md5, hex_simd::AsciiCase::Lower),
        last_modified_ms: now_ms(),
        owner,
        headers: attributes.headers,
        user_metadata: attributes.user_metadata,
        checksum: digests.checksum.clone(),
        data,
        parts: Vec::new(),
        upload_id: None,
        version_id: None,
        delete_marker: false,
        tags: attributes.tags,
        retention: attributes.retention,
        legal_hold: attributes.legal_hold,
        acl,
        encryption: None,
        replication: None,
    }
}

/// A version found by HEAD.
pub struct Found {
    pub record: ObjectRecord,
    /// What `x-amz-version-id` shows (see `visible_version_id`).
    pub version_id: Option<String>,
    pub part: Option<PartRange>,
    /// The key that opens the version's bytes (checked against SSE-C's).
    pub(crate) data_key: Option<[u8; 32]>,
}

/// The version id S3 shows for a version: none in a bucket that has never
/// versioned, `null` for the null version of one that has.
pub fn visible_version_id(bucket: &BucketRecord, record: &ObjectRecord) -> Option<String> {
    match (&record.version_id, bucket.versioning) {
        (Some(id), _) => Some(id.clone()),
        (None, Versioning::Unversioned) => None,
        (None, _) => Some(strata_meta::NULL_VERSION.to_string()),
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

/// Writes `head` and the rest of `body` to a new blob, sealing them first
/// when a `sealer` is given (the hasher always sees plaintext); returns the
/// version the location gave the blob, if any.
async fn stream_to_blob(
    backend: &dyn DataBackend,
    (key, size): (&str, Option<u64>),
    head: Bytes,
    body: Body,
    hasher: &mut BodyHasher,
    max_size: u64,
    sealer: Option<Sealer>,
) -> Result<Option<String>> {
    let mut writer = match size {
        Some(size) => backend.create_sized(key, size).await?,
        None => backend.create(key).await?,
    };
    // Sealed bytes are not the body: their MD5 is no use.
    let left = sealer.is_none() && hasher.leave_md5_to(&*writer);
    stream_into(&mut *writer, head, body, hasher, max_size, sealer).await?;
    let committed = writer.commit().await?;
    if left {
        hasher.location_committed(&committed);
    }
    Ok(committed.version)
}

/// Streams `head`, then `body`, into `writer` (sealed by `sealer`), hashing
/// the plain bytes; leaves the commit to the caller.
pub(crate) async fn stream_into(
    writer: &mut dyn BlobWriter,
    head: Bytes,
    mut body: Body,
    hasher: &mut BodyHasher,
    max_size: u64,
    mut sealer: Option<Sealer>,
) -> Result<()> {
    let mut next = (!head.is_empty()).then_some(head);
    loop {
        let Some(chunk) = next.take() else {
            match body.next().await {
                Some(chunk) => {
                    let chunk = chunk.map_err(Error::IncompleteBody)?;
                    hasher.update(&chunk);
                    if hasher.size > max_size {
                        return Err(Error::EntityTooLarge);
                    }
                    next = Some(chunk);
                    continue;
                }
                None => break,
            }
        };
        match sealer.as_mut() {
            Some(s) => {
                for sealed in s.push(&chunk)? {
                    writer.write(sealed).await?;
                }
            }
            None => writer.write(chunk).await?,
        }
    }
    if let Some(last) = sealer.map(Sealer::finish).transpose()?.flatten() {
        writer.write(last).await?;
    }
    Ok(())
}

async fn read_chunk(
    meta: Arc<dyn strata_meta::MetadataStore>,
    backend: Arc<dyn DataBackend>,
    chunk: Chunk,
    within: std::ops::Range<u64>,
) -> strata_data::Result<ByteStream> {
    match chunk.blob {
        BlobRef::Stored(key) => backend.read(&key, chunk.version.as_deref(), within).await,
        BlobRef::Copy {
            bucket,
            key,
            version,
        } => {
            backend
                .read_copy(&bucket, &key, Some(&version), Some(within))
                .await
        }
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
