//! The `S3` trait of s3s, implemented as thin adapters from S3 DTOs to core
//! calls. Operations not listed here answer s3s's NotImplemented error.

use std::sync::Arc;

use futures::StreamExt;
use http::StatusCode;
use s3s::dto::*;
use s3s::{S3, S3Error, S3ErrorCode, S3Request, S3Response, S3Result};
use strata_core::conditions::ReadConditions;
use strata_core::meta::{ListEntry, ListQuery, Precondition, Versioning};
use strata_core::multipart::{CompletedPart as CorePart, PartCopySource, PartUpload};
use strata_core::objects::{CopyRequest, GetRequest, ObjectAttributes, PutRequest};
use strata_core::{AccountRecord, Body, Strata};

use crate::convert::{self, attributes_of, checksum_headers_of, object_fields, set_checksums};
use crate::error::to_s3;

pub(crate) struct Handlers {
    pub strata: Arc<Strata>,
}

type R<T> = S3Result<S3Response<T>>;

fn ok<T>(output: T) -> R<T> {
    Ok(S3Response::new(output))
}

fn invalid_argument(msg: impl Into<String>) -> S3Error {
    S3Error::with_message(S3ErrorCode::InvalidArgument, msg.into())
}

fn body_of(blob: Option<StreamingBlob>) -> Body {
    match blob {
        Some(blob) => Box::pin(blob.map(|r| r.map_err(std::io::Error::other))),
        None => Box::pin(futures::stream::empty()),
    }
}

fn content_length(n: Option<i64>) -> S3Result<Option<u64>> {
    n.map(|n| u64::try_from(n).map_err(|_| invalid_argument("negative Content-Length")))
        .transpose()
}

fn max_keys(n: Option<i32>) -> S3Result<usize> {
    match n {
        None => Ok(strata_core::listing::MAX_KEYS),
        Some(n) => usize::try_from(n)
            .map_err(|_| invalid_argument("max-keys must be a non-negative integer")),
    }
}

fn copy_source(cs: &CopySource) -> S3Result<(String, String)> {
    match cs {
        CopySource::Bucket {
            bucket,
            key,
            version_id: None,
        } => Ok((bucket.to_string(), key.to_string())),
        CopySource::Bucket { .. } => Err(S3Error::with_message(
            S3ErrorCode::NotImplemented,
            "versioned copy sources are not supported yet",
        )),
        _ => Err(invalid_argument(
            "only bucket/key copy sources are supported",
        )),
    }
}

fn copy_source_range(header: Option<&str>) -> S3Result<Option<strata_core::objects::ByteRange>> {
    let Some(h) = header else { return Ok(None) };
    let bad = || {
        invalid_argument(
            "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy",
        )
    };
    let spec = h.strip_prefix("bytes=").ok_or_else(bad)?;
    let (a, b) = spec.split_once('-').ok_or_else(bad)?;
    let first = a.parse::<u64>().map_err(|_| bad())?;
    let last = b.parse::<u64>().map_err(|_| bad())?;
    if last < first {
        return Err(bad());
    }
    Ok(Some(strata_core::objects::ByteRange::From {
        first,
        last: Some(last),
    }))
}

impl Handlers {
    fn account<T>(&self, req: &S3Request<T>) -> S3Result<AccountRecord> {
        let creds = req
            .credentials
            .as_ref()
            .ok_or_else(|| S3Error::new(S3ErrorCode::AccessDenied))?;
        match self.strata.lookup_key(&creds.access_key).map_err(to_s3)? {
            Some((_, account)) => Ok(account),
            None => Err(S3Error::new(S3ErrorCode::InvalidAccessKeyId)),
        }
    }
}

#[async_trait::async_trait]
impl S3 for Handlers {
    // ---------------------------------------------------------------- buckets

    async fn create_bucket(&self, req: S3Request<CreateBucketInput>) -> R<CreateBucketOutput> {
        let account = self.account(&req)?;
        let location = req
            .input
            .create_bucket_configuration
            .as_ref()
            .and_then(|c| c.location_constraint.as_ref())
            .map(|l| l.as_str().to_string());
        self.strata
            .create_bucket(&account, &req.input.bucket, location.as_deref())
            .await
            .map_err(to_s3)?;
        ok(CreateBucketOutput {
            location: Some(format!("/{}", req.input.bucket)),
        })
    }

    async fn delete_bucket(&self, req: S3Request<DeleteBucketInput>) -> R<DeleteBucketOutput> {
        let account = self.account(&req)?;
        self.strata
            .delete_bucket(&account, &req.input.bucket)
            .await
            .map_err(to_s3)?;
        Ok(S3Response::with_status(
            DeleteBucketOutput::default(),
            StatusCode::NO_CONTENT,
        ))
    }

    async fn head_bucket(&self, req: S3Request<HeadBucketInput>) -> R<HeadBucketOutput> {
        let account = self.account(&req)?;
        self.strata
            .owned_bucket(&account, &req.input.bucket)
            .map_err(to_s3)?;
        ok(HeadBucketOutput {
            bucket_region: Some(self.strata.settings.region.clone()),
            ..Default::default()
        })
    }

    async fn list_buckets(&self, req: S3Request<ListBucketsInput>) -> R<ListBucketsOutput> {
        let account = self.account(&req)?;
        let input = req.input;
        let max = match input.max_buckets {
            None => 10_000,
            Some(n @ 1..=10_000) => n as usize,
            Some(_) => {
                return Err(invalid_argument(
                    "max-buckets must be an integer from 1 to 10000",
                ));
            }
        };
        let after = input
            .continuation_token
            .as_deref()
            .map(decode_token)
            .transpose()?;
        let prefix = input.prefix.clone().unwrap_or_default();
        let mut buckets: Vec<Bucket> = self
            .strata
            .list_buckets(&account)
            .map_err(to_s3)?
            .into_iter()
            .filter(|b| b.name.starts_with(&prefix) && after.as_ref().is_none_or(|a| b.name > *a))
            .take(max + 1)
            .map(|b| Bucket {
                name: Some(b.name),
                creation_date: Some(convert::timestamp(b.created_ms)),
                bucket_region: Some(self.strata.settings.region.clone()),
            })
            .collect();
        let more = buckets.len() > max;
        buckets.truncate(max);
        let continuation_token = more
            .then(|| {
                buckets
                    .last()
                    .and_then(|b| b.name.as_deref())
                    .map(encode_token)
            })
            .flatten();
        ok(ListBucketsOutput {
            buckets: Some(buckets),
            owner: Some(convert::owner(&account)),
            prefix: input.prefix,
            continuation_token,
        })
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> R<GetBucketLocationOutput> {
        let account = self.account(&req)?;
        let location = self
            .strata
            .bucket_location(&account, &req.input.bucket)
            .map_err(to_s3)?;
        ok(GetBucketLocationOutput {
            location_constraint: (!location.is_empty())
                .then(|| BucketLocationConstraint::from(location)),
        })
    }

    async fn put_bucket_versioning(
        &self,
        req: S3Request<PutBucketVersioningInput>,
    ) -> R<PutBucketVersioningOutput> {
        let account = self.account(&req)?;
        let config = &req.input.versioning_configuration;
        if config
            .mfa_delete
            .as_ref()
            .is_some_and(|m| m.as_str() == MFADelete::ENABLED)
        {
            return Err(S3Error::with_message(
                S3ErrorCode::InvalidArgument,
                "MFA delete is not supported by this server",
            ));
        }
        let state = match config.status.as_ref().map(|s| s.as_str()) {
            Some(BucketVersioningStatus::ENABLED) => Versioning::Enabled,
            Some(BucketVersioningStatus::SUSPENDED) => Versioning::Suspended,
            _ => {
                return Err(S3Error::with_message(
                    S3ErrorCode::MalformedXML,
                    "The versioning Status must be Enabled or Suspended",
                ));
            }
        };
        self.strata
            .set_versioning(&account, &req.input.bucket, state)
            .await
            .map_err(to_s3)?;
        ok(PutBucketVersioningOutput::default())
    }

    async fn get_bucket_versioning(
        &self,
        req: S3Request<GetBucketVersioningInput>,
    ) -> R<GetBucketVersioningOutput> {
        let account = self.account(&req)?;
        let bucket = self
            .strata
            .owned_bucket(&account, &req.input.bucket)
            .map_err(to_s3)?;
        let status = match bucket.versioning {
            Versioning::Unversioned => None,
            Versioning::Enabled => Some(BucketVersioningStatus::ENABLED),
            Versioning::Suspended => Some(BucketVersioningStatus::SUSPENDED),
        };
        ok(GetBucketVersioningOutput {
            status: status.map(BucketVersioningStatus::from_static),
            mfa_delete: None,
        })
    }

    async fn get_bucket_acl(&self, req: S3Request<GetBucketAclInput>) -> R<GetBucketAclOutput> {
        // Until ACLs are stored (S3-breadth issue), every bucket has the
        // default ACL: its owner has FULL_CONTROL.
        let account = self.account(&req)?;
        self.strata
            .owned_bucket(&account, &req.input.bucket)
            .map_err(to_s3)?;
        ok(GetBucketAclOutput {
            owner: Some(convert::owner(&account)),
            grants: Some(vec![owner_full_control(&account)]),
        })
    }

    async fn get_object_acl(&self, req: S3Request<GetObjectAclInput>) -> R<GetObjectAclOutput> {
        let account = self.account(&req)?;
        self.strata
            .object_record(&account, &req.input.bucket, &req.input.key)
            .map_err(to_s3)?;
        ok(GetObjectAclOutput {
            owner: Some(convert::owner(&account)),
            grants: Some(vec![owner_full_control(&account)]),
            ..Default::default()
        })
    }

    // ---------------------------------------------------------------- objects

    async fn put_object(&self, mut req: S3Request<PutObjectInput>) -> R<PutObjectOutput> {
        let account = self.account(&req)?;
        let checksum = convert::checksum_source(
            checksum_headers_of!(req.input),
            req.input.checksum_algorithm.as_ref().map(|a| a.as_str()),
            &req.headers,
            req.trailing_headers.take(),
        )?;
        let input = req.input;
        let condition = convert::precondition(input.if_match, input.if_none_match);
        let put = PutRequest {
            bucket: input.bucket,
            key: input.key,
            body: body_of(input.body),
            content_length: content_length(input.content_length)?,
            content_md5: input.content_md5,
            checksum,
            condition,
            attributes: ObjectAttributes::from(attributes_of!(input)),
        };
        let record = self.strata.put_object(&account, put).await.map_err(to_s3)?;
        let mut out = PutObjectOutput {
            e_tag: Some(convert::etag(&record.etag)),
            ..Default::default()
        };
        let fields = convert::checksum_fields(record.checksum.as_ref());
        out.checksum_type = fields.kind.clone();
        set_checksums!(out, fields);
        ok(out)
    }

    async fn get_object(&self, req: S3Request<GetObjectInput>) -> R<GetObjectOutput> {
        let account = self.account(&req)?;
        if let Some(wanted) = req.headers.get("x-amz-location-constraint") {
            let wanted = wanted.to_str().unwrap_or_default();
            self.strata
                .check_read_location(&account, &req.input.bucket, &req.input.key, wanted)
                .map_err(to_s3)?;
        }
        let input = req.input;
        let checksum_mode = input
            .checksum_mode
            .as_ref()
            .is_some_and(|m| m.as_str() == ChecksumMode::ENABLED);
        let get = GetRequest {
            bucket: input.bucket,
            key: input.key,
            range: input.range.map(convert::range),
            part_number: part_number(input.part_number)?,
            conditions: read_conditions(
                input.if_match,
                input.if_none_match,
                input.if_modified_since,
                input.if_unmodified_since,
            ),
        };
        let whole_object = get.range.is_none() && get.part_number.is_none();
        let body = self.strata.get_object(&account, get).await.map_err(to_s3)?;
        let r = &body.record;
        let mut out = GetObjectOutput::default();
        object_fields!(out, r);
        out.storage_class = self.strata.storage_class(r).map(StorageClass::from);
        out.content_length = Some((body.range.end - body.range.start) as i64);
        if body.partial {
            out.content_range = Some(format!(
                "bytes {}-{}/{}",
                body.range.start,
                body.range.end.saturating_sub(1),
                r.size
            ));
        }
        out.parts_count = body.parts_count.map(|n| n as i32);
        if checksum_mode && whole_object {
            let fields = convert::checksum_fields(r.checksum.as_ref());
            out.checksum_type = fields.kind.clone();
            set_checksums!(out, fields);
        }
        out.body = Some(StreamingBlob::wrap(crate::sync_stream::SyncStream::new(
            body.stream,
        )));
        let status = if body.partial && body.range.end - body.range.start < r.size
            || body.parts_count.is_some()
        {
            StatusCode::PARTIAL_CONTENT
        } else {
            StatusCode::OK
        };
        Ok(S3Response::with_status(out, status))
    }

    async fn head_object(&self, req: S3Request<HeadObjectInput>) -> R<HeadObjectOutput> {
        let account = self.account(&req)?;
        let input = req.input;
        let checksum_mode = input
            .checksum_mode
            .as_ref()
            .is_some_and(|m| m.as_str() == ChecksumMode::ENABLED);
        let get = GetRequest {
            bucket: input.bucket,
            key: input.key,
            range: input.range.map(convert::range),
            part_number: part_number(input.part_number)?,
            conditions: read_conditions(
                input.if_match,
                input.if_none_match,
                input.if_modified_since,
                input.if_unmodified_since,
            ),
        };
        let (record, part) = self.strata.head_object(&account, &get).map_err(to_s3)?;
        let mut out = HeadObjectOutput::default();
        object_fields!(out, &record);
        out.storage_class = self.strata.storage_class(&record).map(StorageClass::from);
        let mut status = StatusCode::OK;
        match (part, get.range) {
            (
                Some(strata_core::objects::PartRange {
                    range,
                    parts_count: count,
                }),
                _,
            ) => {
                out.content_length = Some((range.end - range.start) as i64);
                out.content_range = Some(format!(
                    "bytes {}-{}/{}",
                    range.start,
                    range.end.saturating_sub(1),
                    record.size
                ));
                out.parts_count = Some(count as i32);
                status = StatusCode::PARTIAL_CONTENT;
            }
            (None, Some(r)) => {
                let range = r.resolve(record.size).map_err(to_s3)?;
                out.content_length = Some((range.end - range.start) as i64);
                out.content_range = Some(format!(
                    "bytes {}-{}/{}",
                    range.start,
                    range.end.saturating_sub(1),
                    record.size
                ));
                status = StatusCode::PARTIAL_CONTENT;
            }
            (None, None) => out.content_length = Some(record.size as i64),
        }
        if checksum_mode {
            let fields = convert::checksum_fields(record.checksum.as_ref());
            out.checksum_type = fields.kind.clone();
            set_checksums!(out, fields);
        }
        Ok(S3Response::with_status(out, status))
    }

    async fn delete_object(&self, req: S3Request<DeleteObjectInput>) -> R<DeleteObjectOutput> {
        let account = self.account(&req)?;
        only_null_version(req.input.version_id.as_deref())?;
        self.strata
            .delete_object(&account, &req.input.bucket, &req.input.key)
            .await
            .map_err(to_s3)?;
        Ok(S3Response::with_status(
            DeleteObjectOutput::default(),
            StatusCode::NO_CONTENT,
        ))
    }

    async fn delete_objects(&self, req: S3Request<DeleteObjectsInput>) -> R<DeleteObjectsOutput> {
        let account = self.account(&req)?;
        let input = req.input;
        self.strata
            .owned_bucket(&account, &input.bucket)
            .map_err(to_s3)?;
        if input.delete.objects.len() > 1000 {
            return Err(S3Error::with_message(
                S3ErrorCode::MalformedXML,
                "a DeleteObjects request holds at most 1000 keys",
            ));
        }
        let quiet = input.delete.quiet.unwrap_or(false);
        let mut deleted = Vec::new();
        let mut errors = Vec::new();
        for object in input.delete.objects {
            let outcome = match only_null_version(object.version_id.as_deref()) {
                Ok(()) => self
                    .strata
                    .delete_object(&account, &input.bucket, &object.key)
                    .await
                    .map_err(to_s3),
                Err(e) => Err(e),
            };
            match outcome {
                Ok(()) if quiet => {}
                Ok(()) => deleted.push(DeletedObject {
                    key: Some(object.key),
                    version_id: object.version_id,
                    ..Default::default()
                }),
                Err(e) => {
                    errors.push(Error {
                        key: Some(object.key),
                        code: Some(e.code().as_str().to_string()),
                        message: e.message().map(str::to_string),
                        version_id: None,
                    });
                }
            }
        }
        ok(DeleteObjectsOutput {
            deleted: Some(deleted),
            errors: Some(errors),
            ..Default::default()
        })
    }

    async fn copy_object(&self, req: S3Request<CopyObjectInput>) -> R<CopyObjectOutput> {
        let account = self.account(&req)?;
        let input = req.input;
        let (source_bucket, source_key) = copy_source(&input.copy_source)?;
        let replace = match input.metadata_directive.as_ref().map(|d| d.as_str()) {
            None | Some(MetadataDirective::COPY) => false,
            Some(MetadataDirective::REPLACE) => true,
            Some(other) => {
                return Err(invalid_argument(format!(
                    "Unknown metadata directive {other}"
                )));
            }
        };
        let attributes = ObjectAttributes::from(attributes_of!(input));
        let copy = CopyRequest {
            source_bucket,
            source_key,
            source_conditions: read_conditions(
                input.copy_source_if_match,
                input.copy_source_if_none_match,
                input.copy_source_if_modified_since,
                input.copy_source_if_unmodified_since,
            ),
            bucket: input.bucket,
            key: input.key,
            replace_attributes: replace.then_some(attributes),
            condition: Precondition::default(),
        };
        let record = self
            .strata
            .copy_object(&account, copy)
            .await
            .map_err(to_s3)?;
        let mut result = CopyObjectResult {
            e_tag: Some(convert::etag(&record.etag)),
            last_modified: Some(convert::timestamp(record.last_modified_ms)),
            ..Default::default()
        };
        let fields = convert::checksum_fields(record.checksum.as_ref());
        result.checksum_type = fields.kind.clone();
        set_checksums!(result, fields);
        ok(CopyObjectOutput {
            copy_object_result: Some(result),
            ..Default::default()
        })
    }

    // ---------------------------------------------------------------- listing

    async fn list_objects(&self, req: S3Request<ListObjectsInput>) -> R<ListObjectsOutput> {
        let account = self.account(&req)?;
        let input = req.input;
        let url = encoding_is_url(input.encoding_type.as_ref())?;
        let query = list_query(
            input.prefix.as_deref(),
            input.delimiter.as_deref(),
            input.marker.as_deref(),
            input.max_keys,
        )?;
        let page = self
            .strata
            .list_objects(&account, &input.bucket, query)
            .map_err(to_s3)?;
        let next_marker = (page.truncated && input.delimiter.is_some())
            .then(|| {
                page.entries
                    .last()
                    .map(|e| convert::encode_key(e.name().to_string(), url))
            })
            .flatten();
        let (contents, prefixes) = split_entries(page.entries, Some(convert::owner(&account)), url);
        ok(ListObjectsOutput {
            name: Some(input.bucket),
            prefix: Some(convert::encode_key(input.prefix.unwrap_or_default(), url)),
            marker: Some(convert::encode_key(input.marker.unwrap_or_default(), url)),
            max_keys: Some(input.max_keys.unwrap_or(1000)),
            is_truncated: Some(page.truncated),
            contents: Some(contents),
            common_prefixes: Some(prefixes),
            delimiter: input
                .delimiter
                .filter(|d| !d.is_empty())
                .map(|d| convert::encode_key(d, url)),
            next_marker,
            encoding_type: input.encoding_type,
            ..Default::default()
        })
    }

    async fn list_objects_v2(&self, req: S3Request<ListObjectsV2Input>) -> R<ListObjectsV2Output> {
        let account = self.account(&req)?;
        let input = req.input;
        let url = encoding_is_url(input.encoding_type.as_ref())?;
        let start_after = match &input.continuation_token {
            Some(token) => Some(decode_token(token)?),
            None => input.start_after.clone().filter(|s| !s.is_empty()),
        };
        let query = list_query(
            input.prefix.as_deref(),
            input.delimiter.as_deref(),
            start_after.as_deref(),
            input.max_keys,
        )?;
        let page = self
            .strata
            .list_objects(&account, &input.bucket, query)
            .map_err(to_s3)?;
        let next_token = page
            .truncated
            .then(|| page.entries.last().map(|e| encode_token(e.name())))
            .flatten();
        let owner = input
            .fetch_owner
            .unwrap_or(false)
            .then(|| convert::owner(&account));
        let (contents, prefixes) = split_entries(page.entries, owner, url);
        ok(ListObjectsV2Output {
            name: Some(input.bucket),
            prefix: Some(convert::encode_key(input.prefix.unwrap_or_default(), url)),
            max_keys: Some(input.max_keys.unwrap_or(1000)),
            key_count: Some((contents.len() + prefixes.len()) as i32),
            continuation_token: input.continuation_token,
            is_truncated: Some(page.truncated),
            next_continuation_token: next_token,
            contents: Some(contents),
            common_prefixes: Some(prefixes),
            delimiter: input
                .delimiter
                .filter(|d| !d.is_empty())
                .map(|d| convert::encode_key(d, url)),
            encoding_type: input.encoding_type,
            start_after: input.start_after.map(|s| convert::encode_key(s, url)),
            ..Default::default()
        })
    }

    async fn list_object_versions(
        &self,
        req: S3Request<ListObjectVersionsInput>,
    ) -> R<ListObjectVersionsOutput> {
        // Until versioning exists (S3-breadth issue) every object has exactly
        // one version, the `null` version, which is the latest.
        let account = self.account(&req)?;
        let input = req.input;
        let url = encoding_is_url(input.encoding_type.as_ref())?;
        let query = list_query(
            input.prefix.as_deref(),
            input.delimiter.as_deref(),
            input.key_marker.as_deref(),
            input.max_keys,
        )?;
        let page = self
            .strata
            .list_objects(&account, &input.bucket, query)
            .map_err(to_s3)?;
        let next_key_marker = page
            .truncated
            .then(|| {
                page.entries
                    .last()
                    .map(|e| convert::encode_key(e.name().to_string(), url))
            })
            .flatten();
        let owner = convert::owner(&account);
        let (contents, prefixes) = split_entries(page.entries, Some(owner), url);
        let versions = contents
            .into_iter()
            .map(|o| ObjectVersion {
                key: o.key,
                e_tag: o.e_tag,
                last_modified: o.last_modified,
                size: o.size,
                owner: o.owner,
                checksum_algorithm: o.checksum_algorithm,
                is_latest: Some(true),
                version_id: Some("null".into()),
                storage_class: Some(ObjectVersionStorageClass::from_static(
                    ObjectVersionStorageClass::STANDARD,
                )),
                ..Default::default()
            })
            .collect();
        ok(ListObjectVersionsOutput {
            name: Some(input.bucket),
            prefix: Some(convert::encode_key(input.prefix.unwrap_or_default(), url)),
            delimiter: input.delimiter,
            key_marker: input.key_marker,
            version_id_marker: input.version_id_marker,
            next_version_id_marker: next_key_marker.as_ref().map(|_| "null".to_string()),
            next_key_marker,
            max_keys: Some(input.max_keys.unwrap_or(1000)),
            is_truncated: Some(page.truncated),
            versions: Some(versions),
            common_prefixes: Some(prefixes),
            encoding_type: input.encoding_type,
            ..Default::default()
        })
    }

    // ---------------------------------------------------------------- multipart

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> R<CreateMultipartUploadOutput> {
        let account = self.account(&req)?;
        let input = req.input;
        let algorithm = input
            .checksum_algorithm
            .as_ref()
            .map(|a| convert::algorithm(a.as_str()))
            .transpose()?;
        let attributes = ObjectAttributes::from(attributes_of!(input));
        let upload = self
            .strata
            .create_upload(&account, &input.bucket, &input.key, attributes, algorithm)
            .await
            .map_err(to_s3)?;
        ok(CreateMultipartUploadOutput {
            bucket: Some(upload.bucket),
            key: Some(upload.key),
            upload_id: Some(upload.upload_id),
            checksum_algorithm: input.checksum_algorithm,
            checksum_type: algorithm.map(|_| ChecksumType::from_static(ChecksumType::COMPOSITE)),
            ..Default::default()
        })
    }

    async fn upload_part(&self, mut req: S3Request<UploadPartInput>) -> R<UploadPartOutput> {
        let account = self.account(&req)?;
        let checksum = convert::checksum_source(
            checksum_headers_of!(req.input),
            req.input.checksum_algorithm.as_ref().map(|a| a.as_str()),
            &req.headers,
            req.trailing_headers.take(),
        )?;
        let input = req.input;
        let part = PartUpload {
            bucket: input.bucket,
            key: input.key,
            upload_id: input.upload_id,
            part_number: u32::try_from(input.part_number).map_err(|_| {
                invalid_argument("Part number must be an integer between 1 and 10000, inclusive")
            })?,
            body: body_of(input.body),
            content_length: content_length(input.content_length)?,
            content_md5: input.content_md5,
            checksum,
        };
        let part = self
            .strata
            .upload_part(&account, part)
            .await
            .map_err(to_s3)?;
        let mut out = UploadPartOutput {
            e_tag: Some(convert::etag(&part.etag)),
            ..Default::default()
        };
        set_checksums!(out, convert::checksum_fields(part.checksum.as_ref()));
        ok(out)
    }

    async fn upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> R<UploadPartCopyOutput> {
        let account = self.account(&req)?;
        let input = req.input;
        let (bucket, key) = copy_source(&input.copy_source)?;
        let source = PartCopySource {
            bucket,
            key,
            range: copy_source_range(input.copy_source_range.as_deref())?,
            conditions: read_conditions(
                input.copy_source_if_match,
                input.copy_source_if_none_match,
                input.copy_source_if_modified_since,
                input.copy_source_if_unmodified_since,
            ),
        };
        let number = u32::try_from(input.part_number).map_err(|_| {
            invalid_argument("Part number must be an integer between 1 and 10000, inclusive")
        })?;
        let part = self
            .strata
            .upload_part_copy(
                &account,
                (&input.bucket, &input.key, &input.upload_id),
                number,
                source,
            )
            .await
            .map_err(to_s3)?;
        ok(UploadPartCopyOutput {
            copy_part_result: Some(CopyPartResult {
                e_tag: Some(convert::etag(&part.etag)),
                last_modified: Some(convert::timestamp(part.last_modified_ms)),
                ..Default::default()
            }),
            ..Default::default()
        })
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> R<CompleteMultipartUploadOutput> {
        let account = self.account(&req)?;
        let input = req.input;
        let parts = input
            .multipart_upload
            .and_then(|m| m.parts)
            .unwrap_or_default()
            .into_iter()
            .map(|p| {
                let number = p
                    .part_number
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| invalid_argument("each part needs a valid PartNumber"))?;
                let checksum = p
                    .checksum_crc32
                    .or(p.checksum_crc32c)
                    .or(p.checksum_crc64nvme)
                    .or(p.checksum_sha1)
                    .or(p.checksum_sha256);
                Ok(CorePart {
                    number,
                    etag: p.e_tag.map(|e| e.value().to_string()).unwrap_or_default(),
                    checksum,
                })
            })
            .collect::<S3Result<Vec<_>>>()?;
        let condition = convert::precondition(input.if_match, input.if_none_match);
        let record = self
            .strata
            .complete_upload(
                &account,
                (&input.bucket, &input.key, &input.upload_id),
                &parts,
                condition,
            )
            .await
            .map_err(to_s3)?;
        let mut out = CompleteMultipartUploadOutput {
            bucket: Some(input.bucket.clone()),
            key: Some(input.key.clone()),
            location: Some(format!("/{}/{}", input.bucket, input.key)),
            e_tag: Some(convert::etag(&record.etag)),
            ..Default::default()
        };
        let fields = convert::checksum_fields(record.checksum.as_ref());
        out.checksum_type = fields.kind.clone();
        set_checksums!(out, fields);
        ok(out)
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> R<AbortMultipartUploadOutput> {
        let account = self.account(&req)?;
        let i = &req.input;
        self.strata
            .abort_upload(&account, &i.bucket, &i.key, &i.upload_id)
            .await
            .map_err(to_s3)?;
        Ok(S3Response::with_status(
            AbortMultipartUploadOutput::default(),
            StatusCode::NO_CONTENT,
        ))
    }

    async fn list_parts(&self, req: S3Request<ListPartsInput>) -> R<ListPartsOutput> {
        let account = self.account(&req)?;
        let input = req.input;
        let upload = self
            .strata
            .get_upload(&account, &input.bucket, &input.key, &input.upload_id)
            .map_err(to_s3)?;
        let marker = match input.part_number_marker {
            Some(m) => u32::try_from(m).map_err(|_| {
                invalid_argument("part-number-marker must be a non-negative integer")
            })?,
            None => 0,
        };
        let max = max_keys(input.max_parts)?.min(1000);
        let (parts, truncated) = self
            .strata
            .list_parts(&upload, marker, max)
            .map_err(to_s3)?;
        let next = parts.last().map(|p| p.number as i32);
        let owner = self
            .strata
            .meta
            .get_account(&upload.owner)
            .ok()
            .flatten()
            .map(|a| convert::owner(&a));
        let algorithm = upload.checksum_algorithm;
        ok(ListPartsOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(input.upload_id),
            part_number_marker: input.part_number_marker,
            next_part_number_marker: next,
            max_parts: Some(max as i32),
            is_truncated: Some(truncated),
            parts: Some(
                parts
                    .into_iter()
                    .map(|p| {
                        let mut part = Part {
                            part_number: Some(p.number as i32),
                            e_tag: Some(convert::etag(&p.etag)),
                            size: Some(p.size as i64),
                            last_modified: Some(convert::timestamp(p.last_modified_ms)),
                            ..Default::default()
                        };
                        set_checksums!(part, convert::checksum_fields(p.checksum.as_ref()));
                        part
                    })
                    .collect(),
            ),
            initiator: owner.clone().map(|o| Initiator {
                id: o.id,
                display_name: o.display_name,
            }),
            owner,
            storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
            checksum_algorithm: algorithm.map(|a| {
                ChecksumAlgorithm::from(convert::strata_core_algorithm_name(a).to_string())
            }),
            ..Default::default()
        })
    }

    async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> R<ListMultipartUploadsOutput> {
        let account = self.account(&req)?;
        let input = req.input;
        let url = encoding_is_url(input.encoding_type.as_ref())?;
        let max = max_keys(input.max_uploads)?.min(1000);
        let listing = self
            .strata
            .list_uploads(
                &account,
                &input.bucket,
                &strata_core::multipart::UploadQuery {
                    prefix: input.prefix.clone().unwrap_or_default(),
                    delimiter: input.delimiter.clone(),
                    key_marker: input.key_marker.clone(),
                    upload_id_marker: input.upload_id_marker.clone(),
                    max,
                },
            )
            .map_err(to_s3)?;
        let last = listing
            .uploads
            .last()
            .map(|u| (u.key.clone(), u.upload_id.clone()));
        let owner = convert::owner(&account);
        ok(ListMultipartUploadsOutput {
            bucket: Some(input.bucket),
            prefix: input.prefix.map(|p| convert::encode_key(p, url)),
            delimiter: input.delimiter,
            key_marker: input.key_marker,
            upload_id_marker: input.upload_id_marker,
            next_key_marker: last
                .as_ref()
                .map(|(k, _)| convert::encode_key(k.clone(), url)),
            next_upload_id_marker: last.map(|(_, id)| id),
            max_uploads: Some(max as i32),
            is_truncated: Some(listing.truncated),
            uploads: Some(
                listing
                    .uploads
                    .into_iter()
                    .map(|u| MultipartUpload {
                        key: Some(convert::encode_key(u.key, url)),
                        upload_id: Some(u.upload_id),
                        initiated: Some(convert::timestamp(u.initiated_ms)),
                        owner: Some(owner.clone()),
                        initiator: Some(Initiator {
                            id: owner.id.clone(),
                            display_name: owner.display_name.clone(),
                        }),
                        storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
                        ..Default::default()
                    })
                    .collect(),
            ),
            common_prefixes: Some(
                listing
                    .common_prefixes
                    .into_iter()
                    .map(|p| CommonPrefix {
                        prefix: Some(convert::encode_key(p, url)),
                    })
                    .collect(),
            ),
            encoding_type: input.encoding_type,
            ..Default::default()
        })
    }
}

fn owner_full_control(account: &AccountRecord) -> Grant {
    Grant {
        grantee: Some(Grantee {
            type_: Type::from_static(Type::CANONICAL_USER),
            id: Some(account.id.clone()),
            display_name: Some(account.name.clone()),
            email_address: None,
            uri: None,
        }),
        permission: Some(Permission::from_static(Permission::FULL_CONTROL)),
    }
}

/// Without versioning, the only version an object has is `null`.
fn only_null_version(version_id: Option<&str>) -> S3Result<()> {
    match version_id {
        None | Some("null") => Ok(()),
        Some(_) => Err(invalid_argument("Invalid version id specified")),
    }
}

fn part_number(n: Option<i32>) -> S3Result<Option<u32>> {
    n.map(|n| {
        u32::try_from(n).ok().filter(|n| *n >= 1).ok_or_else(|| {
            invalid_argument("Part number must be an integer between 1 and 10000, inclusive")
        })
    })
    .transpose()
}

fn read_conditions(
    if_match: Option<ETagCondition>,
    if_none_match: Option<ETagCondition>,
    if_modified_since: Option<Timestamp>,
    if_unmodified_since: Option<Timestamp>,
) -> ReadConditions {
    ReadConditions {
        if_match: convert::condition(if_match),
        if_none_match: convert::condition(if_none_match),
        if_modified_since: if_modified_since.map(convert::unix_seconds),
        if_unmodified_since: if_unmodified_since.map(convert::unix_seconds),
    }
}

/// A listing page as the core takes it; an empty marker means no marker.
fn list_query(
    prefix: Option<&str>,
    delimiter: Option<&str>,
    after: Option<&str>,
    max: Option<i32>,
) -> S3Result<ListQuery> {
    Ok(ListQuery {
        prefix: prefix.unwrap_or_default().to_string(),
        delimiter: delimiter.map(str::to_string),
        start_after: after.filter(|a| !a.is_empty()).map(str::to_string),
        limit: max_keys(max)?,
    })
}

fn encoding_is_url(e: Option<&EncodingType>) -> S3Result<bool> {
    match e.map(|e| e.as_str()) {
        None => Ok(false),
        Some(EncodingType::URL) => Ok(true),
        Some(_) => Err(invalid_argument(
            "Invalid Encoding Method specified in Request",
        )),
    }
}

fn split_entries(
    entries: Vec<ListEntry<strata_core::ObjectRecord>>,
    owner: Option<Owner>,
    url: bool,
) -> (Vec<Object>, Vec<CommonPrefix>) {
    let mut contents = Vec::new();
    let mut prefixes = Vec::new();
    for e in entries {
        match e {
            ListEntry::Object(key, r) => contents.push(convert::list_entry(
                convert::encode_key(key, url),
                &r,
                owner.clone(),
            )),
            ListEntry::CommonPrefix(p) => prefixes.push(CommonPrefix {
                prefix: Some(convert::encode_key(p, url)),
            }),
        }
    }
    (contents, prefixes)
}

/// Continuation tokens are the last listed name, base64-encoded (opaque to clients).
fn encode_token(name: &str) -> String {
    base64_simd::URL_SAFE_NO_PAD.encode_to_string(name.as_bytes())
}

fn decode_token(token: &str) -> S3Result<String> {
    base64_simd::URL_SAFE_NO_PAD
        .decode_to_vec(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| invalid_argument("The continuation token provided is incorrect"))
}
