//! Multipart uploads: parts streamed to the upload's location, completed
//! into one object. A location that assembles multipart objects itself (an
//! S3 multipart upload, Azure blocks) gets each part as a piece of one
//! backend object; elsewhere each part is a blob, and the object's chunks
//! are those blobs in order.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use strata_meta::{
    Assembly, BlobRef, Checksum, ChecksumAlgorithm, ChecksumType, Chunk, DataLocator, Encryption,
    ObjectPut, ObjectRecord, PartRecord, PartSummary, Precondition, UploadRecord,
};

use crate::checksum::{
    BodyDigests, BodyHasher, ChecksumSource, composite, full_object, upload_checksum_type,
};
use crate::conditions::ReadConditions;
use crate::encryption::{CustomerKey, SegmentCipher};
use crate::objects::{
    ByteRange, Destination, ObjectAttributes, Written, stream_into, validate_attributes,
    validate_key,
};
use crate::placement::first_chunk_ready;
use crate::time::now_ms;
use crate::{AccountRecord, Body, Error, Result, Strata, random_hex};

pub const MAX_PART_NUMBER: u32 = 10_000;
/// Smallest size of every part but the last.
pub const MIN_PART_SIZE: u64 = 5 << 20;
pub const MAX_PART_SIZE: u64 = 5 << 30;

pub struct PartUpload {
    pub bucket: String,
    pub key: String,
    pub upload_id: String,
    pub part_number: u32,
    pub body: Body,
    pub content_length: Option<u64>,
    pub content_md5: Option<String>,
    pub checksum: ChecksumSource,
    /// SSE-C: the key the upload was created with.
    pub customer_key: Option<CustomerKey>,
}

/// Where UploadPartCopy takes its bytes from.
pub struct PartCopySource {
    pub bucket: String,
    pub key: String,
    pub version_id: Option<String>,
    pub range: Option<ByteRange>,
    pub conditions: ReadConditions,
    /// SSE-C key of the source object.
    pub customer_key: Option<CustomerKey>,
}

/// A part as the client lists it in CompleteMultipartUpload.
#[derive(Debug, Clone)]
pub struct CompletedPart {
    pub number: u32,
    pub etag: String,
    pub checksum: Option<String>,
}

/// A part's body as sent: its length when known, how it is hashed and
/// sealed, and what it must match.
struct SentPart<'a> {
    size: Option<u64>,
    hasher: BodyHasher,
    cipher: Option<SegmentCipher>,
    content_md5: Option<&'a str>,
    checksum: ChecksumSource,
}

/// Where a part's bytes went.
enum PartData {
    /// A blob of its own.
    Blob(String),
    /// A piece of the upload's assembly, with the location's tag for it.
    Piece(String),
}

/// What CompleteMultipartUpload may state about the object it makes.
#[derive(Debug, Clone, Default)]
pub struct CompleteExpectations {
    /// `x-amz-checksum-type`: must be the type the upload was created with.
    pub checksum_type: Option<ChecksumType>,
    /// `x-amz-checksum-<algorithm>`: the checksum of the whole object (a
    /// COMPOSITE one with or without its `-N`).
    pub checksum: Option<(ChecksumAlgorithm, String)>,
    /// `x-amz-mp-object-size`.
    pub object_size: Option<i64>,
}

/// What ListMultipartUploads asks for.
pub struct UploadQuery {
    pub prefix: String,
    pub delimiter: Option<String>,
    pub key_marker: Option<String>,
    pub upload_id_marker: Option<String>,
    pub max: usize,
}

/// One page of ListMultipartUploads.
pub struct UploadListing {
    pub uploads: Vec<UploadRecord>,
    pub common_prefixes: Vec<String>,
    pub truncated: bool,
}

/// Upload ids sort by creation time, as S3 lists uploads of one key.
fn new_upload_id() -> String {
    let micros = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros());
    format!("{micros:016x}{}", random_hex(12))
}

/// What a part's blob is named after: the object key and the part number.
fn part_name(upload: &UploadRecord, number: u32) -> String {
    format!("{}.part{number}", upload.key)
}

fn check_part_number(n: u32) -> Result<()> {
    if !(1..=MAX_PART_NUMBER).contains(&n) {
        return Err(Error::InvalidArgument(format!(
            "part number must be an integer between 1 and {MAX_PART_NUMBER}"
        )));
    }
    Ok(())
}

/// Parts' stored checksums of `algorithm`, with their sizes; None when one
/// part has none.
fn part_checksums<'a>(
    algorithm: ChecksumAlgorithm,
    parts: &[&'a PartRecord],
) -> Option<Vec<(&'a str, u64)>> {
    parts
        .iter()
        .map(|p| {
            p.checksum
                .as_ref()
                .filter(|c| c.algorithm == algorithm)
                .map(|c| (c.value.as_str(), p.size))
        })
        .collect()
}

/// The checksum of a completed upload, COMPOSITE or FULL_OBJECT as the
/// upload was created, checked against what the Complete request states.
fn object_checksum(
    upload: &UploadRecord,
    parts: &[&PartRecord],
    expected: &CompleteExpectations,
) -> Result<Option<Checksum>> {
    let checksum = match upload.checksum_algorithm {
        Some(algorithm) => {
            let values = part_checksums(algorithm, parts).ok_or_else(|| {
                Error::InvalidRequest(format!(
                    "The upload was created using a {} checksum. A part was uploaded without it.",
                    crate::checksum::name(algorithm)
                ))
            })?;
            Some(match upload.checksum_type {
                Some(ChecksumType::FullObject) => full_object(algorithm, &values)?,
                Some(ChecksumType::Composite) | None => {
                    let values: Vec<&str> = values.iter().map(|(v, _)| *v).collect();
                    composite(algorithm, &values)?
                }
            })
        }
        // No checksum was asked for at creation; a whole-object CRC the
        // client states can still be checked when every part carries its CRC.
        None => match &expected.checksum {
            Some((algorithm, _)) => {
                let values = part_checksums(*algorithm, parts)
                    .filter(|_| {
                        !matches!(algorithm, ChecksumAlgorithm::Sha1 | ChecksumAlgorithm::Sha256)
                    })
                    .ok_or_else(|| {
                        Error::InvalidRequest(format!(
                            "The upload was created without a checksum algorithm; its {} cannot be verified.",
                            crate::checksum::name(*algorithm)
                        ))
                    })?;
                Some(full_object(*algorithm, &values)?)
            }
            None => None,
        },
    };
    if let Some(kind) = expected.checksum_type
        && checksum.as_ref().map(|c| c.kind) != Some(kind)
    {
        return Err(Error::BadDigest(
            "The checksum type you specified does not match the checksum type of the upload."
                .into(),
        ));
    }
    if let (Some((algorithm, value)), Some(actual)) = (&expected.checksum, &checksum) {
        if *algorithm != actual.algorithm {
            return Err(Error::InvalidRequest(format!(
                "The upload was created using a {} checksum, not {}.",
                crate::checksum::name(actual.algorithm),
                crate::checksum::name(*algorithm)
            )));
        }
        let matches = match actual.kind {
            ChecksumType::FullObject => *value == actual.value,
            // A composite value may be stated with or without its `-N`.
            ChecksumType::Composite => {
                let bare = |v: &str| v.split_once('-').map_or(v, |(b, _)| b).to_string();
                bare(value) == bare(&actual.value)
            }
        };
        if !matches {
            return Err(Error::BadDigest(format!(
                "The {} you specified did not match the calculated checksum.",
                crate::checksum::name(actual.algorithm)
            )));
        }
    }
    Ok(checksum)
}

impl Strata {
    pub async fn create_upload(
        &self,
        account: &AccountRecord,
        bucket: &str,
        key: &str,
        attributes: ObjectAttributes,
        checksum_algorithm: Option<ChecksumAlgorithm>,
        checksum_type: Option<ChecksumType>,
    ) -> Result<UploadRecord> {
        validate_key(key)?;
        let checksum_type = upload_checksum_type(checksum_algorithm, checksum_type)?;
        validate_attributes(&attributes)?;
        let bucket = self.owned_bucket(account, bucket)?;
        let mut attributes = attributes;
        self.settle_lock(&bucket, &mut attributes)?;
        let (owner, acl) = self.new_object_acl(account, &bucket, attributes.acl.as_ref())?;
        let encryption = self
            .new_data_key(&bucket, attributes.sse.as_ref())?
            .map(|(enc, _)| enc);
        let location = self.placement(&bucket, &attributes.user_metadata)?;
        let assembly = match encryption {
            None => self.start_assembly(&location, &bucket.name, key).await?,
            // Each part is sealed on its own, so it stays a blob of its own.
            Some(_) => None,
        };
        let upload = UploadRecord {
            bucket: bucket.name,
            key: key.to_string(),
            upload_id: new_upload_id(),
            owner,
            initiated_ms: now_ms(),
            location,
            headers: attributes.headers,
            user_metadata: attributes.user_metadata,
            checksum_algorithm,
            checksum_type,
            tags: attributes.tags,
            retention: attributes.retention,
            legal_hold: attributes.legal_hold,
            acl,
            encryption,
            assembly,
        };
        if let Err(e) = self.meta.create_upload(upload.clone()).await {
            if let Some(assembly) = &upload.assembly {
                // The intent, still open, covers the upload the backend started.
                self.discard(&Assembly::starting(&upload.location, &assembly.key))
                    .await;
            }
            return Err(e.into());
        }
        Ok(upload)
    }

    /// Starts the backend's assembly of an upload to `location`, when the
    /// location assembles multipart objects itself.
    async fn start_assembly(
        &self,
        location: &str,
        bucket: &str,
        key: &str,
    ) -> Result<Option<Assembly>> {
        let backend = self.locations.get(location)?;
        if !backend.assembles_parts() {
            return Ok(None);
        }
        let blob = self.new_blob_key(location, bucket, key)?;
        // Closed by the upload's record; a crash before that leaves it to
        // recovery, which aborts whatever upload the backend started.
        let intent = Assembly::starting(location, &blob);
        self.meta.open_blob(intent.clone()).await?;
        match backend.start_assembly(&blob).await {
            Ok(id) => Ok(Some(Assembly { key: blob, id })),
            Err(e) => {
                self.discard(&intent).await;
                Err(e.into())
            }
        }
    }

    /// Streams part `number` into the upload's assembly. The piece is
    /// committed only once the body proved whole and true to its digests,
    /// so a bad body leaves an earlier upload of the part as it was.
    async fn write_piece(
        &self,
        upload: &UploadRecord,
        assembly: &Assembly,
        number: u32,
        body: Body,
        sent: SentPart<'_>,
    ) -> Result<(BodyDigests, String)> {
        // The backend needs the part's length before its first byte.
        let size = sent.size.ok_or(Error::MissingContentLength)?;
        let backend = self.locations.get(&upload.location)?;
        let mut writer = backend
            .create_part(&assembly.key, &assembly.id, number, size)
            .await?;
        let mut hasher = sent.hasher;
        // Digests the client sent are checked before the commit; without
        // any, the location's own MD5 (known at the commit) can stand in
        // for hashing.
        let unverified = sent.content_md5.is_none() && !sent.checksum.is_expected();
        let left = unverified && hasher.leave_md5_to(&*writer);
        stream_into(&mut *writer, Bytes::new(), body, &mut hasher, size, None).await?;
        let whole = |received: u64| {
            if received == size {
                Ok(())
            } else {
                Err(Error::IncompleteBody(std::io::Error::other(
                    "body length differs from Content-Length",
                )))
            }
        };
        let (digests, committed) = if left {
            whole(hasher.size)?;
            let committed = writer.commit().await?;
            hasher.location_committed(&committed);
            (hasher.verify(None, sent.checksum)?, committed)
        } else {
            let digests = hasher.verify(sent.content_md5, sent.checksum)?;
            whole(digests.size)?;
            (digests, writer.commit().await?)
        };
        let tag = committed
            .version
            .ok_or_else(|| Error::Internal("the location gave a part no tag".into()))?;
        Ok((digests, tag))
    }

    pub fn get_upload(
        &self,
        account: &AccountRecord,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> Result<UploadRecord> {
        self.owned_bucket(account, bucket)?;
        self.meta
            .get_upload(bucket, key, upload_id)?
            .ok_or(Error::NoSuchUpload)
    }

    pub async fn upload_part(
        &self,
        account: &AccountRecord,
        req: PartUpload,
    ) -> Result<(PartRecord, Option<Encryption>)> {
        check_part_number(req.part_number)?;
        if req.content_length.is_some_and(|n| n > MAX_PART_SIZE) {
            return Err(Error::EntityTooLarge);
        }
        let upload = self.get_upload(account, &req.bucket, &req.key, &req.upload_id)?;
        let algorithm = req.checksum.algorithm().or(upload.checksum_algorithm);
        let hasher = BodyHasher::new(algorithm);
        let cipher = self.part_cipher(&upload, req.part_number, req.customer_key.as_ref())?;
        let checksum = match upload.checksum_algorithm {
            Some(a) if req.checksum.algorithm().is_none() => ChecksumSource::Compute(a),
            _ => req.checksum,
        };
        let sent = SentPart {
            size: req.content_length,
            hasher,
            cipher,
            content_md5: req.content_md5.as_deref(),
            checksum,
        };
        self.store_part(&upload, req.part_number, req.body, sent)
            .await
    }

    /// The cipher a part of an encrypted upload is sealed with: the upload's
    /// data key (SSE-C: from the same customer key) and the part's number.
    fn part_cipher(
        &self,
        upload: &UploadRecord,
        part_number: u32,
        customer: Option<&CustomerKey>,
    ) -> Result<Option<SegmentCipher>> {
        match (&upload.encryption, customer) {
            (Some(enc), customer) => {
                let key = self.keyring.data_key(enc, customer)?;
                Ok(Some(SegmentCipher::new(&key, part_number)))
            }
            (None, Some(_)) => Err(Error::InvalidRequest(
                "The upload was not created with customer-provided encryption".into(),
            )),
            (None, None) => Ok(None),
        }
    }

    pub async fn upload_part_copy(
        &self,
        account: &AccountRecord,
        upload: (&str, &str, &str),
        part_number: u32,
        source: PartCopySource,
        customer_key: Option<&CustomerKey>,
    ) -> Result<(PartRecord, Option<Encryption>)> {
        check_part_number(part_number)?;
        let (bucket, key, upload_id) = upload;
        let upload = self.get_upload(account, bucket, key, upload_id)?;
        let (_, record) = self.object_version(
            account,
            &source.bucket,
            &source.key,
            source.version_id.as_deref(),
        )?;
        source.conditions.check_copy_source(&record)?;
        // Unlike a GET range, a copy-source range must lie wholly inside the source.
        let range = match source.range {
            Some(ByteRange::From {
                first,
                last: Some(last),
            }) if last < record.size => first..last + 1,
            Some(_) => return Err(Error::InvalidRange),
            None => 0..record.size,
        };
        if range.end - range.start > MAX_PART_SIZE {
            return Err(Error::EntityTooLarge);
        }
        let source_key = self.data_key(&record, source.customer_key.as_ref())?;
        let cipher = self.part_cipher(&upload, part_number, customer_key)?;
        let size = range.end - range.start;
        let stream = first_chunk_ready(self.read_data(&record, range, source_key)?).await?;
        let body: Body = Box::pin(futures::TryStreamExt::map_err(
            stream,
            std::io::Error::other,
        ));
        let algorithm = upload.checksum_algorithm;
        let checksum = algorithm.map_or(ChecksumSource::None, ChecksumSource::Compute);
        let sent = SentPart {
            size: Some(size),
            hasher: BodyHasher::new(algorithm),
            cipher,
            content_md5: None,
            checksum,
        };
        self.store_part(&upload, part_number, body, sent).await
    }

    /// Stores part `number`: a piece of the upload's assembly, or a blob
    /// of its own, then its record.
    async fn store_part(
        &self,
        upload: &UploadRecord,
        number: u32,
        body: Body,
        sent: SentPart<'_>,
    ) -> Result<(PartRecord, Option<Encryption>)> {
        if let Some(assembly) = &upload.assembly {
            let (digests, tag) = self
                .write_piece(upload, assembly, number, body, sent)
                .await?;
            return self
                .save_part(upload, number, digests, PartData::Piece(tag))
                .await;
        }
        let name = part_name(upload, number);
        let written = self
            .write_data(
                Destination {
                    location: &upload.location,
                    bucket: &upload.bucket,
                    key: &name,
                    size: None,
                },
                body,
                None,
                sent.hasher,
                MAX_PART_SIZE,
                sent.cipher,
            )
            .await?;
        self.record_part(
            upload,
            number,
            written,
            sent.content_md5,
            sent.checksum,
            sent.size,
        )
        .await
    }

    async fn record_part(
        &self,
        upload: &UploadRecord,
        number: u32,
        written: Written,
        content_md5: Option<&str>,
        checksum: ChecksumSource,
        content_length: Option<u64>,
    ) -> Result<(PartRecord, Option<Encryption>)> {
        let Written {
            locator, hasher, ..
        } = written;
        let digests = match hasher.verify(content_md5, checksum) {
            Ok(d) if content_length.is_none_or(|n| n == d.size) => d,
            Ok(_) => {
                self.discard_written(&locator).await;
                return Err(Error::IncompleteBody(std::io::Error::other(
                    "body length differs from Content-Length",
                )));
            }
            Err(e) => {
                self.discard_written(&locator).await;
                return Err(e);
            }
        };
        // A part is a blob of its own only where the location does not
        // assemble parts (fs, mem), which gives blobs no versions to keep.
        let Some(Chunk {
            blob: BlobRef::Stored(blob),
            ..
        }) = locator.chunks.first().cloned()
        else {
            return Err(Error::Internal("a part was not written to a blob".into()));
        };
        let saved = self
            .save_part(upload, number, digests, PartData::Blob(blob))
            .await;
        if saved.is_err() {
            self.discard_written(&locator).await;
        }
        saved
    }

    /// Records a part whose bytes are stored and verified.
    async fn save_part(
        &self,
        upload: &UploadRecord,
        number: u32,
        digests: BodyDigests,
        data: PartData,
    ) -> Result<(PartRecord, Option<Encryption>)> {
        let (blob, piece) = match data {
            PartData::Blob(blob) => (blob, None),
            PartData::Piece(tag) => (String::new(), Some(tag)),
        };
        let part = PartRecord {
            number,
            size: digests.size,
            etag: hex_simd::encode_to_string(digests.md5, hex_simd::AsciiCase::Lower),
            last_modified_ms: now_ms(),
            blob,
            checksum: digests.checksum,
            piece,
        };
        self.meta
            .put_part(upload, part.clone(), &upload.location)
            .await?;
        Ok((part, upload.encryption.clone()))
    }

    pub async fn complete_upload(
        &self,
        account: &AccountRecord,
        upload: (&str, &str, &str),
        parts: &[CompletedPart],
        condition: Precondition,
        customer_key: Option<&CustomerKey>,
        expected: &CompleteExpectations,
    ) -> Result<ObjectRecord> {
        let (bucket, key, upload_id) = upload;
        let upload = match self.get_upload(account, bucket, key, upload_id) {
            Err(Error::NoSuchUpload) => {
                // Completing an upload twice answers with the version it made.
                let current = self.meta.get_object(bucket, key)?;
                return current
                    .filter(|r| r.upload_id.as_deref() == Some(upload_id))
                    .ok_or(Error::NoSuchUpload);
            }
            other => other?,
        };
        // If-Match on a key with no current version: S3 answers 404, not 412.
        if condition.if_match.is_some() && self.meta.get_object(bucket, key)?.is_none() {
            return Err(Error::NoSuchKey);
        }
        // An SSE-C upload completes only with the key its parts were sealed with.
        self.part_cipher(&upload, 0, customer_key)?;
        if parts.is_empty() {
            return Err(Error::InvalidRequest(
                "You must specify at least one part".into(),
            ));
        }
        if parts.windows(2).any(|w| w[0].number >= w[1].number) {
            return Err(Error::InvalidPartOrder);
        }
        let stored = self
            .meta
            .list_parts(&upload.upload_id, 0, MAX_PART_NUMBER as usize)?;
        let mut chosen = Vec::with_capacity(parts.len());
        for (i, wanted) in parts.iter().enumerate() {
            let part = stored
                .iter()
                .find(|p| p.number == wanted.number && p.etag == wanted.etag.trim_matches('"'))
                .ok_or_else(|| {
                    Error::InvalidPart(format!(
                        "One or more of the specified parts could not be found (part {}).",
                        wanted.number
                    ))
                })?;
            if i + 1 < parts.len() && part.size < MIN_PART_SIZE {
                return Err(Error::EntityTooSmall);
            }
            if let (Some(given), Some(kept)) = (&wanted.checksum, &part.checksum)
                && *given != kept.value
            {
                return Err(Error::InvalidPart(format!(
                    "the checksum of part {} does not match",
                    wanted.number
                )));
            }
            chosen.push(part);
        }
        let mut md5s = Vec::with_capacity(16 * chosen.len());
        for part in &chosen {
            md5s.extend(
                hex_simd::decode_to_vec(&part.etag)
                    .map_err(|_| Error::Internal("stored part ETag is not hex".into()))?,
            );
        }
        let etag = format!("{}-{}", crate::checksum::md5_hex(&md5s), chosen.len());
        let size: u64 = chosen.iter().map(|p| p.size).sum();
        if expected
            .object_size
            .is_some_and(|n| u64::try_from(n) != Ok(size))
        {
            return Err(Error::InvalidRequest(format!(
                "The x-amz-mp-object-size header does not match the object size ({size})."
            )));
        }
        let checksum = object_checksum(&upload, &chosen, expected)?;
        let record = ObjectRecord {
            size,
            etag,
            last_modified_ms: now_ms(),
            owner: upload.owner.clone(),
            headers: upload.headers.clone(),
            user_metadata: upload.user_metadata.clone(),
            checksum,
            data: self.assemble(&upload, &chosen, &condition).await?,
            parts: chosen
                .iter()
                .map(|p| PartSummary {
                    number: p.number,
                    size: p.size,
                    etag: p.etag.clone(),
                    checksum: p.checksum.as_ref().map(|c| c.value.clone()),
                })
                .collect(),
            upload_id: Some(upload.upload_id.clone()),
            version_id: None,
            delete_marker: false,
            tags: upload.tags.clone(),
            retention: upload.retention.clone(),
            legal_hold: upload.legal_hold,
            acl: upload.acl.clone(),
            encryption: upload.encryption.clone(),
            replication: None,
        };
        let mut put = ObjectPut {
            bucket: upload.bucket.clone(),
            key: upload.key.clone(),
            record,
            inline: None,
            condition,
            shares_current_data: false,
            version_id: None,
        };
        self.settle_replication(&mut put)?;
        let outcome = match self.meta.complete_upload(&upload, put).await {
            Ok(outcome) => outcome,
            Err(e) => {
                // The backend assembled an object no record will own, and the
                // upload cannot be assembled again: both are given up.
                if upload.assembly.is_some() {
                    let _ = self.meta.abort_upload(&upload).await;
                    self.gc_wakeup.notify_one();
                }
                return Err(e.into());
            }
        };
        // Parts the object does not use are garbage now.
        self.gc_wakeup.notify_one();
        Ok(outcome.record)
    }

    /// The data of the object an upload completes into: its assembled blob
    /// (assembled now), else the parts' blobs in order.
    async fn assemble(
        &self,
        upload: &UploadRecord,
        chosen: &[&PartRecord],
        condition: &Precondition,
    ) -> Result<DataLocator> {
        let Some(assembly) = &upload.assembly else {
            return Ok(DataLocator {
                location: upload.location.clone(),
                chunks: chosen
                    .iter()
                    .map(|p| Chunk {
                        size: p.size,
                        blob: BlobRef::Stored(p.blob.clone()),
                        version: None,
                    })
                    .collect(),
            });
        };
        // Checked again when the record commits; checked first, a failed
        // condition leaves the upload to be completed later.
        if !condition.holds(self.meta.get_object(&upload.bucket, &upload.key)?.as_ref()) {
            return Err(Error::PreconditionFailed);
        }
        let pieces = chosen
            .iter()
            .map(|p| match &p.piece {
                Some(tag) => Ok((p.number, tag.clone())),
                None => Err(Error::Internal(format!(
                    "part {} of an assembled upload has no piece",
                    p.number
                ))),
            })
            .collect::<Result<Vec<_>>>()?;
        let backend = self.locations.get(&upload.location)?;
        let version = backend
            .finish_assembly(&assembly.key, &assembly.id, &pieces)
            .await?;
        Ok(DataLocator {
            location: upload.location.clone(),
            chunks: vec![Chunk {
                size: chosen.iter().map(|p| p.size).sum(),
                blob: BlobRef::Stored(assembly.key.clone()),
                version,
            }],
        })
    }

    pub async fn abort_upload(
        &self,
        account: &AccountRecord,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> Result<()> {
        let upload = self.get_upload(account, bucket, key, upload_id)?;
        self.meta.abort_upload(&upload).await?;
        self.gc_wakeup.notify_one();
        Ok(())
    }

    /// Parts after `marker`, at most `max`; true when more follow.
    pub fn list_parts(
        &self,
        upload: &UploadRecord,
        marker: u32,
        max: usize,
    ) -> Result<(Vec<PartRecord>, bool)> {
        let mut parts = self.meta.list_parts(&upload.upload_id, marker, max + 1)?;
        let truncated = parts.len() > max;
        parts.truncate(max);
        Ok((parts, truncated))
    }

    /// ListMultipartUploads with S3's prefix, delimiter and markers.
    pub fn list_uploads(
        &self,
        account: &AccountRecord,
        bucket: &str,
        query: &UploadQuery,
    ) -> Result<UploadListing> {
        self.owned_bucket(account, bucket)?;
        let (prefix, max) = (query.prefix.as_str(), query.max);
        let delimiter = query.delimiter.as_deref();
        let (key_marker, upload_id_marker) = (
            query.key_marker.as_deref(),
            query.upload_id_marker.as_deref(),
        );
        let mut listing = UploadListing {
            uploads: Vec::new(),
            common_prefixes: Vec::new(),
            truncated: false,
        };
        // Without an upload-id marker, the key marker excludes every upload of that key.
        let mut after: Option<(String, String)> = key_marker.map(|k| match upload_id_marker {
            Some(id) => (k.to_string(), id.to_string()),
            None => (format!("{k}\0"), String::new()),
        });
        if after.is_none() && !prefix.is_empty() {
            after = Some((prefix.to_string(), String::new()));
        }
        'pages: loop {
            let batch = self.meta.list_uploads(
                bucket,
                after.as_ref().map(|(k, i)| (k.as_str(), i.as_str())),
                1000,
            )?;
            if batch.is_empty() {
                break;
            }
            for upload in batch {
                after = Some((upload.key.clone(), upload.upload_id.clone()));
                if !upload.key.starts_with(prefix) {
                    if upload.key.as_str() > prefix {
                        break 'pages;
                    }
                    continue;
                }
                let full = listing.uploads.len() + listing.common_prefixes.len() >= max;
                let rolled = delimiter.filter(|d| !d.is_empty()).and_then(|d| {
                    upload.key[prefix.len()..]
                        .find(d)
                        .map(|i| upload.key[..prefix.len() + i + d.len()].to_string())
                });
                match rolled {
                    Some(cp) => {
                        if listing.common_prefixes.last() != Some(&cp) {
                            if full {
                                listing.truncated = true;
                                break 'pages;
                            }
                            listing.common_prefixes.push(cp.clone());
                        }
                    }
                    None => {
                        if full {
                            listing.truncated = true;
                            break 'pages;
                        }
                        listing.uploads.push(upload);
                    }
                }
            }
        }
        Ok(listing)
    }
}
