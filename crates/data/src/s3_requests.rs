//! The S3 requests Strata signs (with rusty-s3) and sends itself (with reqwest),
//! where object_store cannot serve:
//!
//! - parts numbered by the client and streamed with bounded memory, and their
//!   completion (object_store wants each part whole and numbers them by position);
//! - a blob of known size as one streamed PutObject, when it is larger than one of
//!   object_store's parts: no part buffers, and the backend stores it as it would a
//!   client's PUT rather than assembling parts;
//! - ListMultipartUploads, to find the uploads of a blob whose id a crash lost;
//! - object copies under their exact names: object_store's paths cannot carry an
//!   empty segment (`a//b`) or a trailing `/` (the `folder/` markers consoles
//!   create), which S3 keys can;
//! - writes of known size over the location's single-PUT limit, as a multipart
//!   upload of streamed parts (`parted`).
//!
//! A streamed writer holds its last bytes back until it commits: an abandoned part
//! or object (a client that disconnects, a body that fails its checksum) never
//! replaces what was there.

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::aws::AmazonS3;
use object_store::{Attribute, Attributes, TagSet};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE, HeaderMap, RANGE};
use rusty_s3::actions::{
    AbortMultipartUpload, CompleteMultipartUpload, CreateMultipartUpload, DeleteObject, GetObject,
    HeadObject, PutObject, S3Action, UploadPart,
};
use rusty_s3::{Bucket, Credentials, UrlStyle};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::cloud::{backend_error, redact};
use crate::parted::{PartedWriter, Parts, part_size};
use crate::spec::S3Spec;
use crate::{
    BlobWriter, ByteStream, Committed, CopyAttributes, CurrentCopy, DataError, Result, failing,
};

/// Chunks queued towards a streamed request body.
const CHUNKS_QUEUED: usize = 4;
/// Validity of the presigned URLs, sent at once: only clock skew matters.
const SIGNED_FOR: Duration = Duration::from_secs(3600);
/// First pause before a request is sent again; it doubles up to `MAX_BACKOFF`
/// (object_store's backoff for the location's other requests).
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// S3's largest single PutObject, and the default single-PUT limit.
pub(crate) const MAX_PUT_OBJECT: u64 = 5 << 30;
/// S3's smallest part but the last: the lowest single-PUT limit allowed.
pub(crate) const MIN_PART: u64 = 5 << 20;
/// Parts of a write over the single-PUT limit: this size (or the limit, if
/// lower), larger when the object would need more than S3's 10,000 parts.
const PREFERRED_PART: u64 = 512 << 20;
const MAX_PARTS: u64 = 10_000;
/// Pages of versions one blob's deletion goes through at most.
const MAX_VERSION_PAGES: usize = 100;
/// How long an abandoned upload's abort may take in the background.
const ABORT_WITHIN: Duration = Duration::from_secs(60);

/// A location's bucket, for the requests object_store cannot send.
pub(crate) struct S3Requests {
    pub(crate) store: Arc<AmazonS3>,
    bucket: Bucket,
    http: reqwest::Client,
    /// The server-side encryption headers the location asks every PutObject to carry.
    encryption: Vec<(&'static str, String)>,
    /// Times a request without a body is sent again after a connection
    /// error or a 5xx answer.
    retries: usize,
    /// Writes of known size above this go as a multipart upload.
    max_single_put: u64,
    /// Whether a PutObject's or UploadPart's ETag is the MD5 of its bytes
    /// (`S3Spec::md5_from_backend`), so writers report it.
    md5_etags: bool,
}

/// The server-side encryption a location asks for, as object_store sends it:
/// the KMS key id only with a KMS encryption type.
fn encryption_headers(spec: &S3Spec) -> Vec<(&'static str, String)> {
    let Some(kind) = &spec.server_side_encryption else {
        return Vec::new();
    };
    let mut headers = vec![("x-amz-server-side-encryption", kind.clone())];
    if let Some(key) = spec
        .sse_kms_key_id
        .as_ref()
        .filter(|_| kind.starts_with("aws:kms"))
    {
        headers.push(("x-amz-server-side-encryption-aws-kms-key-id", key.clone()));
    }
    headers
}

impl S3Requests {
    pub(crate) fn new(spec: &S3Spec, store: Arc<AmazonS3>, retries: usize) -> Result<Self> {
        let endpoint = spec
            .endpoint
            .clone()
            .unwrap_or_else(|| format!("https://s3.{}.amazonaws.com", spec.region));
        let endpoint: url::Url = endpoint
            .parse()
            .map_err(|e| DataError::Config(format!("endpoint {endpoint:?}: {e}")))?;
        let style = if spec.path_style {
            UrlStyle::Path
        } else {
            UrlStyle::VirtualHost
        };
        let bucket = Bucket::new(endpoint, style, spec.bucket.clone(), spec.region.clone())
            .map_err(|e| DataError::Config(format!("bucket {:?}: {e}", spec.bucket)))?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| DataError::Config(format!("HTTP client: {e}")))?;
        Ok(Self {
            store,
            bucket,
            http,
            encryption: encryption_headers(spec),
            retries,
            max_single_put: spec.max_single_put()?,
            md5_etags: spec.md5_from_backend(),
        })
    }

    async fn credentials(&self) -> Result<Credentials> {
        let c = self
            .store
            .credentials()
            .get_credential()
            .await
            .map_err(backend_error)?;
        Ok(match &c.token {
            Some(token) => Credentials::new_with_token(&c.key_id, &c.secret_key, token),
            None => Credentials::new(&c.key_id, &c.secret_key),
        })
    }

    /// Part `number` of an upload, `size` bytes streamed as one UploadPart;
    /// its commit gives the part's ETag as its version. With `wants_md5`,
    /// the writer reports the part's MD5 if the location trusts ETags for it.
    pub(crate) async fn create_part(
        &self,
        (key, upload_id): (&str, &str),
        number: u32,
        size: u64,
        wants_md5: bool,
    ) -> Result<Box<dyn BlobWriter>> {
        let number = u16::try_from(number)
            .map_err(|_| DataError::InvalidKey(format!("part number {number}")))?;
        let credentials = self.credentials().await?;
        let url = UploadPart::new(&self.bucket, Some(&credentials), key, number, upload_id)
            .sign(SIGNED_FOR);
        let reports_md5 = wants_md5 && self.md5_etags;
        Ok(self.stream(
            url,
            size,
            Vec::new(),
            "UploadPart",
            reports_md5,
            |headers| {
                let etag = header(headers, reqwest::header::ETAG.as_str()).ok_or_else(|| {
                    DataError::Unavailable("UploadPart answered without an ETag".into())
                })?;
                Ok(Committed {
                    md5: md5_of_etag(&etag),
                    version: Some(etag),
                })
            },
        ))
    }

    /// A blob of `size` bytes as one streamed PutObject; its commit returns
    /// the version the backend gave it, if any.
    pub(crate) async fn create_object(
        self: &Arc<Self>,
        key: &str,
        size: u64,
    ) -> Result<Box<dyn BlobWriter>> {
        self.put_object(key, size, Vec::new(), true).await
    }

    /// The object copy named exactly `name`: `size` bytes with `attributes`
    /// (content headers, metadata) and `tags`, as one streamed PutObject.
    pub(crate) async fn create_copy(
        self: &Arc<Self>,
        name: &str,
        size: u64,
        attributes: &Attributes,
        tags: &TagSet,
    ) -> Result<Box<dyn BlobWriter>> {
        let mut headers = Vec::new();
        for (attribute, value) in attributes {
            let name = match attribute {
                Attribute::ContentType => "content-type".to_string(),
                Attribute::ContentEncoding => "content-encoding".to_string(),
                Attribute::ContentDisposition => "content-disposition".to_string(),
                Attribute::ContentLanguage => "content-language".to_string(),
                Attribute::CacheControl => "cache-control".to_string(),
                Attribute::Metadata(name) => format!("x-amz-meta-{}", name.to_ascii_lowercase()),
                _ => continue,
            };
            headers.push((name, value.to_string()));
        }
        if !tags.encoded().is_empty() {
            headers.push(("x-amz-tagging".to_string(), tags.encoded().to_string()));
        }
        // Nobody needs a copy's MD5 (and a Strata site answers a replica
        // with its source's ETag, a multipart one's not an MD5).
        self.put_object(name, size, headers, false).await
    }

    /// A streamed PutObject carrying `headers` (signed) and the location's
    /// encryption headers; over the single-PUT limit, a multipart upload
    /// started with them, its parts streamed one after the other. With
    /// `wants_md5`, a single PutObject's writer reports the MD5 if the
    /// location trusts ETags for it.
    async fn put_object(
        self: &Arc<Self>,
        key: &str,
        size: u64,
        mut headers: Vec<(String, String)>,
        wants_md5: bool,
    ) -> Result<Box<dyn BlobWriter>> {
        let encryption = self.encryption.iter();
        headers.extend(encryption.map(|(name, value)| (name.to_string(), value.clone())));
        if size > self.max_single_put {
            let upload = S3Upload {
                upload_id: self.start_upload(key, &headers).await?,
                requests: self.clone(),
                key: key.to_string(),
            };
            let part = part_size(size, PREFERRED_PART.min(self.max_single_put), MAX_PARTS);
            return Ok(Box::new(PartedWriter::new(Arc::new(upload), size, part)));
        }
        let credentials = self.credentials().await?;
        let mut action = PutObject::new(&self.bucket, Some(&credentials), key);
        for (name, value) in &headers {
            action.headers_mut().insert(name.as_str(), value.as_str());
        }
        let url = action.sign(SIGNED_FOR);
        // Every S3 service answers a stored object with its ETag: a 2xx
        // without one did not come from the service (a broken proxy).
        let reports_md5 = wants_md5 && self.md5_etags;
        Ok(
            self.stream(url, size, headers, "PutObject", reports_md5, |headers| {
                let etag = header(headers, "etag").ok_or_else(|| {
                    DataError::Unavailable("PutObject answered without an ETag".into())
                })?;
                Ok(Committed {
                    version: header(headers, "x-amz-version-id"),
                    md5: md5_of_etag(&etag),
                })
            }),
        )
    }

    /// CreateMultipartUpload of `key` carrying `headers` (signed); the upload's id.
    async fn start_upload(&self, key: &str, headers: &[(String, String)]) -> Result<String> {
        let credentials = self.credentials().await?;
        let mut action = CreateMultipartUpload::new(&self.bucket, Some(&credentials), key);
        for (name, value) in headers {
            action.headers_mut().insert(name.as_str(), value.as_str());
        }
        let mut request = self.http.post(action.sign(SIGNED_FOR));
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let response = request.send().await.map_err(request_error)?;
        let response = checked(response, "CreateMultipartUpload").await?;
        let text = response.text().await.map_err(request_error)?;
        let started: StartedUpload = quick_xml::de::from_str(&text).map_err(|e| {
            DataError::Unavailable(format!(
                "CreateMultipartUpload: unreadable answer ({e}): {}",
                redact(&text)
            ))
        })?;
        Ok(started.upload_id)
    }

    /// AbortMultipartUpload; an upload already gone is success.
    pub(crate) async fn abort_upload(&self, key: &str, upload_id: &str) -> Result<()> {
        let credentials = self.credentials().await?;
        let url = AbortMultipartUpload::new(&self.bucket, Some(&credentials), key, upload_id)
            .sign(SIGNED_FOR);
        let response = self.send(self.http.delete(url)).await?;
        match checked(response, "AbortMultipartUpload").await {
            Ok(_) | Err(DataError::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Removes the object `name` (in a versioned bucket: hides it behind a
    /// delete marker); S3 answers success for a missing one.
    pub(crate) async fn delete_object(&self, name: &str) -> Result<()> {
        self.delete_version(name, None).await.map(|_| ())
    }

    /// Removes the blob `name` for good: a plain DELETE and, when its answer
    /// says the bucket is versioned (it left a delete marker), every
    /// version and marker of the name, which are all the blob's own.
    pub(crate) async fn delete_blob(&self, name: &str) -> Result<()> {
        if !self.delete_version(name, None).await? {
            return Ok(());
        }
        match self.delete_versions(name).await {
            // Without s3:ListBucketVersions or s3:DeleteObjectVersion the
            // blob stays hidden behind its marker: said, not retried forever.
            Err(DataError::Refused(e)) => {
                tracing::warn!(blob = name, error = %e, "a deleted blob's earlier versions stay in the \
                    versioned bucket; a lifecycle rule there expiring noncurrent versions removes them");
                Ok(())
            }
            done => done,
        }
    }

    /// Deletes the versions of `name` page after page (each page lists what
    /// is left); a service whose listing does not shrink is given up on
    /// after `MAX_VERSION_PAGES`, to be tried again by the next pass.
    async fn delete_versions(&self, name: &str) -> Result<()> {
        for _ in 0..MAX_VERSION_PAGES {
            let (versions, truncated) = self.versions_of(name).await?;
            for version in &versions {
                self.delete_version(name, Some(version)).await?;
            }
            if !truncated || versions.is_empty() {
                return Ok(());
            }
        }
        Err(DataError::Unavailable(format!(
            "{name}: versions still listed after deleting {MAX_VERSION_PAGES} pages of them"
        )))
    }

    /// DELETE of `name` (at `version`): whether the answer says it left a
    /// delete marker (`x-amz-delete-marker: true`).
    async fn delete_version(&self, name: &str, version: Option<&str>) -> Result<bool> {
        let credentials = self.credentials().await?;
        let mut action = DeleteObject::new(&self.bucket, Some(&credentials), name);
        if let Some(version) = version {
            action.query_mut().insert("versionId", version);
        }
        let response = self.send(self.http.delete(action.sign(SIGNED_FOR))).await?;
        match checked(response, "DeleteObject").await {
            Ok(response) => Ok(version.is_none()
                && header(response.headers(), "x-amz-delete-marker").as_deref() == Some("true")),
            Err(DataError::NotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The version ids (delete markers included) of exactly `name`, from the
    /// first page of ListObjectVersions, and whether there are more.
    async fn versions_of(&self, name: &str) -> Result<(Vec<String>, bool)> {
        let response = self.list(&[("prefix", name), ("versions", "")]).await?;
        if response.status() == StatusCode::NOT_IMPLEMENTED {
            // A service without the call has no versions to find.
            return Err(DataError::Refused("ListObjectVersions: HTTP 501".into()));
        }
        let response = checked(response, "ListObjectVersions").await?;
        let text = response.text().await.map_err(request_error)?;
        let listed: ListedVersions = quick_xml::de::from_str(&text).map_err(|e| {
            DataError::Unavailable(format!("ListObjectVersions: unreadable answer: {e}"))
        })?;
        let mut truncated = false;
        let mut versions = Vec::new();
        for entry in listed.entries {
            match entry {
                // Trimmed as in `uploads_of`.
                VersionEntry::Version(v) | VersionEntry::DeleteMarker(v)
                    if v.key.trim() == name.trim() =>
                {
                    versions.push(v.version_id)
                }
                VersionEntry::IsTruncated(t) => truncated = t,
                _ => {}
            }
        }
        Ok((versions, truncated))
    }

    /// A GET of the bucket with `query` (sorted by name), which rusty-s3 has
    /// no action for, presigned with its signing function.
    async fn list(&self, query: &[(&str, &str)]) -> Result<reqwest::Response> {
        let credentials = self.credentials().await?;
        let url = rusty_s3::signing::sign(
            &jiff::Timestamp::now(),
            rusty_s3::Method::Get,
            self.bucket.base_url().clone(),
            credentials.key(),
            credentials.secret(),
            credentials.token(),
            self.bucket.region(),
            SIGNED_FOR.as_secs(),
            query.iter().copied(),
            std::iter::empty(),
        );
        self.send(self.http.get(url)).await
    }

    /// The size and attributes of the object copy `name`, None when missing.
    pub(crate) async fn head_copy(&self, name: &str) -> Result<Option<(u64, CopyAttributes)>> {
        let credentials = self.credentials().await?;
        let url = HeadObject::new(&self.bucket, Some(&credentials), name).sign(SIGNED_FOR);
        let response = self.send(self.http.head(url)).await?;
        copy_head(response, "HeadObject", "x-amz-meta-", str::to_string).await
    }

    /// Streams `range` (None: all) of the object `name`, at `version`.
    pub(crate) async fn read(
        &self,
        name: &str,
        version: Option<&str>,
        range: Option<Range<u64>>,
    ) -> Result<ByteStream> {
        let response = self.get(name, version, range.as_ref()).await?;
        ranged_body(response, range.is_some(), "GetObject").await
    }

    /// Streams `range` of the object copy `name` with the attributes its
    /// GET answered with (see `DataBackend::read_current_copy`).
    pub(crate) async fn read_copy_with_attributes(
        &self,
        name: &str,
        range: Range<u64>,
    ) -> Result<Option<CurrentCopy>> {
        let response = self.get(name, None, Some(&range)).await?;
        let head = self.head_copy(name);
        copy_read(response, "GetObject", "x-amz-meta-", str::to_string, head).await
    }

    async fn get(
        &self,
        name: &str,
        version: Option<&str>,
        range: Option<&Range<u64>>,
    ) -> Result<reqwest::Response> {
        let credentials = self.credentials().await?;
        let mut action = GetObject::new(&self.bucket, Some(&credentials), name);
        if let Some(version) = version {
            action.query_mut().insert("versionId", version);
        }
        let mut request = self.http.get(action.sign(SIGNED_FOR));
        if let Some(range) = range {
            request = request.header(RANGE, byte_range(range));
        }
        self.send(request).await
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<reqwest::Response> {
        send_retrying(request, self.retries).await
    }

    /// A PUT to `url` whose body is what the writer is given (see
    /// `streamed_put`).
    fn stream(
        &self,
        url: url::Url,
        size: u64,
        headers: Vec<(String, String)>,
        what: &'static str,
        reports_md5: bool,
        answer: fn(&HeaderMap) -> Result<Committed>,
    ) -> Box<dyn BlobWriter> {
        let mut request = self.http.put(url);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let mut writer = streamed_put(request, size, what, answer);
        writer.reports_md5 = reports_md5;
        Box::new(writer)
    }

    pub(crate) async fn finish(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[(u32, String)],
    ) -> Result<Option<String>> {
        let credentials = self.credentials().await?;
        let url = CompleteMultipartUpload::new(
            &self.bucket,
            Some(&credentials),
            key,
            upload_id,
            std::iter::empty(),
        )
        .sign(SIGNED_FOR);
        // rusty-s3 would number the parts by position; they keep the client's.
        let mut body = String::from("<CompleteMultipartUpload>");
        for (number, etag) in parts {
            body.push_str(&format!(
                "<Part><PartNumber>{number}</PartNumber><ETag>{}</ETag></Part>",
                xml_escape(etag)
            ));
        }
        body.push_str("</CompleteMultipartUpload>");
        // Sent again after a 5xx, which completed nothing: the parts stay
        // until the upload completes or is aborted. (One the service did
        // complete answers a resend NoSuchUpload, an error as before.)
        let response = self.send(self.http.post(url).body(body)).await?;
        let response = checked(response, "CompleteMultipartUpload").await?;
        let version = header(response.headers(), "x-amz-version-id");
        // S3 may answer 200 and report the failure in the body; only a
        // result naming the object's ETag says it was made (the element is
        // `CompleteMultipartUploadResult` in AWS, `…Response` in moto).
        let text = response.text().await.map_err(request_error)?;
        if text.contains("<Error>") || !text.contains("<ETag>") {
            return Err(DataError::Unavailable(format!(
                "CompleteMultipartUpload: {}",
                redact(&text)
            )));
        }
        Ok(version)
    }

    /// The ids of the unfinished uploads of exactly `key`
    /// (ListMultipartUploads, which rusty-s3 does not have, so presigned
    /// here with its signing function).
    pub(crate) async fn uploads_of(&self, key: &str) -> Result<Vec<String>> {
        let response = self.list(&[("prefix", key), ("uploads", "")]).await?;
        let status = response.status();
        if status == reqwest::StatusCode::FORBIDDEN
            || status == reqwest::StatusCode::NOT_IMPLEMENTED
        {
            // Without s3:ListBucketMultipartUploads (or on a service without
            // the call) nothing can be found: said once, not retried forever.
            tracing::warn!(key, %status, "cannot list the unfinished uploads of a lost assembly; \
                an AbortIncompleteMultipartUpload rule on the bucket clears them");
            return Ok(Vec::new());
        }
        let response = checked(response, "ListMultipartUploads").await?;
        let text = response.text().await.map_err(request_error)?;
        let listed: ListedUploads = quick_xml::de::from_str(&text).map_err(|e| {
            DataError::Unavailable(format!("ListMultipartUploads: unreadable answer: {e}"))
        })?;
        // quick-xml trims the whitespace around a text, which a key may
        // start with; blob keys end in a unique suffix, so comparing them
        // trimmed cannot take another blob's upload for this one.
        Ok(listed
            .uploads
            .into_iter()
            .filter(|u| u.key.trim() == key.trim())
            .map(|u| u.upload_id)
            .collect())
    }
}

/// A multipart upload a `PartedWriter` fills.
struct S3Upload {
    requests: Arc<S3Requests>,
    key: String,
    upload_id: String,
}

#[async_trait::async_trait]
impl Parts for S3Upload {
    async fn part(&self, number: u32, size: u64) -> Result<Box<dyn BlobWriter>> {
        let (key, id) = (&self.key, &self.upload_id);
        // A part of a parted write: its MD5 is no use.
        self.requests
            .create_part((key, id), number, size, false)
            .await
    }

    async fn finish(&self, parts: Vec<(u32, String)>) -> Result<Option<String>> {
        let (key, id) = (&self.key, &self.upload_id);
        self.requests.finish(key, id, &parts).await
    }

    fn abandon(self: Arc<Self>) {
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let abort = self.requests.abort_upload(&self.key, &self.upload_id);
                match tokio::time::timeout(ABORT_WITHIN, abort).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, key = %self.key, "could not abort an abandoned multipart upload")
                    }
                    Err(_) => {
                        tracing::warn!(key = %self.key, "aborting an abandoned multipart upload timed out")
                    }
                }
            });
        }
    }

    fn upload_id(&self) -> Option<String> {
        Some(self.upload_id.clone())
    }
}

/// What Strata reads of a CreateMultipartUpload answer.
#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StartedUpload {
    upload_id: String,
}

/// What Strata reads of a ListObjectVersions answer: its elements in order
/// (versions and delete markers interleave).
#[derive(serde::Deserialize)]
struct ListedVersions {
    #[serde(rename = "$value", default)]
    entries: Vec<VersionEntry>,
}

#[derive(serde::Deserialize)]
enum VersionEntry {
    Version(ListedVersion),
    DeleteMarker(ListedVersion),
    IsTruncated(bool),
    #[serde(other)]
    Other,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListedVersion {
    key: String,
    version_id: String,
}

/// What Strata reads of a ListMultipartUploads answer.
#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListedUploads {
    #[serde(default, rename = "Upload")]
    uploads: Vec<ListedUpload>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListedUpload {
    key: String,
    upload_id: String,
}

/// Sends a request without a body, or with one held in memory, again after
/// a connection error, a 5xx answer (but 501) or a 429 (up to `retries`
/// times, with backoff): HEAD, GET and DELETE are idempotent, and so are the
/// bodies sent this way (a multipart completion, an Azure block list). The
/// last answer or error is the outcome.
pub(crate) async fn send_retrying(
    request: reqwest::RequestBuilder,
    retries: usize,
) -> Result<reqwest::Response> {
    let mut backoff = FIRST_BACKOFF;
    let mut retries_left = retries;
    loop {
        let attempt = request
            .try_clone()
            .ok_or_else(|| DataError::Unavailable("a request with a body is not resent".into()))?
            .send()
            .await;
        let failed = match &attempt {
            Ok(response) => {
                let status = response.status();
                (status.is_server_error() && status != StatusCode::NOT_IMPLEMENTED)
                    || status == StatusCode::TOO_MANY_REQUESTS
            }
            Err(e) => !e.is_builder(),
        };
        if !failed || retries_left == 0 {
            return attempt.map_err(request_error);
        }
        retries_left -= 1;
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Starts `request` (an S3 PutObject or UploadPart, an Azure Put Blob) with
/// a body that is what the writer is given: `size` bytes, the last held
/// back until the commit; `answer` reads the commit's result from the
/// response headers.
pub(crate) fn streamed_put(
    request: reqwest::RequestBuilder,
    size: u64,
    what: &'static str,
    answer: fn(&HeaderMap) -> Result<Committed>,
) -> StreamedWriter {
    let (sender, receiver) = mpsc::channel::<std::io::Result<Bytes>>(CHUNKS_QUEUED);
    let body = futures::stream::unfold(receiver, |mut r| async move {
        r.recv().await.map(|chunk| (chunk, r))
    });
    let request = request
        .header(CONTENT_LENGTH, size)
        .body(reqwest::Body::wrap_stream(body));
    StreamedWriter {
        sender: Some(sender),
        held: None,
        request: Some(request),
        answer,
        response: None,
        left: size,
        what,
        reports_md5: false,
    }
}

/// The MD5 an ETag spells (32 hex digits, quoted), if it spells one: a
/// multipart upload's (`…-<parts>`) does not.
fn md5_of_etag(etag: &str) -> Option<[u8; 16]> {
    let hex = etag.trim_matches('"');
    if hex.len() != 32 {
        return None;
    }
    hex_simd::decode_to_vec(hex).ok()?.try_into().ok()
}

/// A `Range` header's value for `range` (not empty).
pub(crate) fn byte_range(range: &Range<u64>) -> String {
    format!("bytes={}-{}", range.start, range.end - 1)
}

/// What a HEAD of an object copy answered: None for a 404, else its size and
/// attributes. User metadata comes in headers starting `meta_prefix`, whose
/// rest `meta_name` turns back into the name the copy was written with.
pub(crate) async fn copy_head(
    response: reqwest::Response,
    what: &str,
    meta_prefix: &str,
    meta_name: fn(&str) -> String,
) -> Result<Option<(u64, CopyAttributes)>> {
    if response.status() == StatusCode::NOT_FOUND {
        return Ok(None);
    }
    let response = checked(response, what).await?;
    let headers = response.headers();
    let size = header(headers, CONTENT_LENGTH.as_str())
        .and_then(|length| length.parse().ok())
        .ok_or_else(|| DataError::Unavailable(format!("{what} answered without a size")))?;
    Ok(Some((
        size,
        copy_attributes(headers, meta_prefix, meta_name),
    )))
}

/// A ranged GET's answer for an object copy, as `DataBackend::read_current_copy`
/// gives it; None when there is no copy (a missing bucket is the location's
/// failure, see `checked`). `head` is asked only when the range starts past
/// the copy's end (416), which says nothing of the copy that is there.
pub(crate) async fn copy_read(
    response: reqwest::Response,
    what: &str,
    meta_prefix: &str,
    meta_name: fn(&str) -> String,
    head: impl Future<Output = Result<Option<(u64, CopyAttributes)>>>,
) -> Result<Option<CurrentCopy>> {
    if response.status() == StatusCode::RANGE_NOT_SATISFIABLE {
        let past_end = DataError::NotFound(format!("{what}: the range starts past the copy's end"));
        return Ok(CurrentCopy::from_head(head.await?, failing(past_end)));
    }
    let response = match checked(response, what).await {
        Err(DataError::NotFound(_)) => return Ok(None),
        answer => answer?,
    };
    let headers = response.headers();
    let attributes = copy_attributes(headers, meta_prefix, meta_name);
    // `bytes FIRST-LAST/SIZE`
    let size = header(headers, CONTENT_RANGE.as_str())
        .and_then(|range| range.rsplit_once('/')?.1.parse().ok())
        .ok_or_else(|| {
            DataError::Unavailable(format!("{what} answered without the copy's size"))
        })?;
    let bytes = ranged_body(response, true, what).await?;
    Ok(Some(CurrentCopy {
        size,
        attributes,
        bytes,
    }))
}

/// A copy's attributes as the headers of a HEAD or GET of it give them.
fn copy_attributes(
    headers: &HeaderMap,
    meta_prefix: &str,
    meta_name: fn(&str) -> String,
) -> CopyAttributes {
    let mut copy = CopyAttributes {
        content_type: header(headers, "content-type"),
        content_encoding: header(headers, "content-encoding"),
        content_disposition: header(headers, "content-disposition"),
        content_language: header(headers, "content-language"),
        cache_control: header(headers, "cache-control"),
        ..Default::default()
    };
    for (name, value) in headers {
        if let (Some(meta), Ok(value)) = (name.as_str().strip_prefix(meta_prefix), value.to_str()) {
            copy.metadata.insert(meta_name(meta), value.to_string());
        }
    }
    copy
}

/// The body of a GET's answer, checked: a service that ignores the range
/// asked for answers 200 with the whole object, never passed on as the range.
pub(crate) async fn ranged_body(
    response: reqwest::Response,
    ranged: bool,
    what: &str,
) -> Result<ByteStream> {
    let response = checked(response, what).await?;
    if ranged && response.status() != StatusCode::PARTIAL_CONTENT {
        return Err(DataError::Unavailable(format!(
            "{what} answered HTTP {} to a range request",
            response.status()
        )));
    }
    Ok(Box::pin(response.bytes_stream().map_err(request_error)))
}

pub(crate) fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

pub(crate) fn request_error(e: reqwest::Error) -> DataError {
    DataError::Unavailable(redact(&e.to_string()))
}

/// The response when it succeeded, else its status and S3 error as a data error.
pub(crate) async fn checked(response: reqwest::Response, what: &str) -> Result<reqwest::Response> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let text = response.text().await.unwrap_or_default();
    let message = format!("{what}: HTTP {status}: {}", redact(&text));
    // A missing key, version or upload; a missing bucket is the location's
    // failure, never an absence its callers could take for success.
    let missing = status == StatusCode::NOT_FOUND
        && !text.contains("<Code>NoSuchBucket</Code>")
        && !text.contains("<Code>ContainerNotFound</Code>");
    // Any other 4xx but a timeout or throttling: the service is up and
    // refused this request.
    let refused = status.is_client_error()
        && !matches!(
            status,
            StatusCode::NOT_FOUND | StatusCode::REQUEST_TIMEOUT | StatusCode::TOO_MANY_REQUESTS
        );
    Err(if missing {
        DataError::NotFound(message)
    } else if refused {
        DataError::Refused(message)
    } else {
        DataError::Unavailable(message)
    })
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Counts a streamed body's bytes against the size it was opened with.
pub(crate) fn take(left: &mut u64, n: usize) -> Result<()> {
    *left = left.checked_sub(n as u64).ok_or_else(|| {
        DataError::Io(std::io::Error::other(
            "a sized write got more bytes than its size",
        ))
    })?;
    Ok(())
}

pub(crate) fn check_complete(left: u64) -> Result<()> {
    if left == 0 {
        Ok(())
    } else {
        Err(DataError::Io(std::io::Error::other(format!(
            "a sized write ended {left} bytes short of its size"
        ))))
    }
}

/// A blob, part or object copy streaming into one request (S3 PutObject or
/// UploadPart, Azure Put Blob).
pub(crate) struct StreamedWriter {
    sender: Option<mpsc::Sender<std::io::Result<Bytes>>>,
    /// The latest chunk, sent only on commit: until then the request cannot
    /// complete, so an abandoned writer stores nothing.
    held: Option<Bytes>,
    /// The request, until it starts with the first chunk sent (an empty
    /// body's at the commit: it would complete as soon as it started).
    request: Option<reqwest::RequestBuilder>,
    answer: fn(&HeaderMap) -> Result<Committed>,
    response: Option<JoinHandle<Result<Committed>>>,
    left: u64,
    what: &'static str,
    /// Whether the commit gives the answer's MD5 (which it then must hold).
    pub(crate) reports_md5: bool,
}

impl StreamedWriter {
    fn start(&mut self) -> &mut JoinHandle<Result<Committed>> {
        let (request, answer, what) = (self.request.take(), self.answer, self.what);
        self.response.get_or_insert_with(|| {
            tokio::spawn(async move {
                let request = request
                    .ok_or_else(|| DataError::Unavailable(format!("{what} was started twice")))?;
                let response = request.send().await.map_err(request_error)?;
                let response = checked(response, what).await?;
                answer(response.headers())
            })
        })
    }

    async fn send(&mut self, chunk: Bytes) -> Result<()> {
        self.start();
        let delivered = match &self.sender {
            Some(sender) => sender.send(Ok(chunk)).await.is_ok(),
            None => false,
        };
        if delivered {
            return Ok(());
        }
        // The request ended early: its outcome says why.
        self.sender = None;
        match self.start().await {
            Ok(Err(e)) => Err(e),
            _ => Err(DataError::Unavailable(format!(
                "{} ended before its body was sent",
                self.what
            ))),
        }
    }
}

#[async_trait::async_trait]
impl BlobWriter for StreamedWriter {
    async fn write(&mut self, data: Bytes) -> Result<()> {
        take(&mut self.left, data.len())?;
        if let Some(previous) = self.held.replace(data) {
            self.send(previous).await?;
        }
        Ok(())
    }

    fn reports_md5(&self) -> bool {
        self.reports_md5
    }

    async fn commit(mut self: Box<Self>) -> Result<Committed> {
        check_complete(self.left)?;
        if let Some(last) = self.held.take() {
            self.send(last).await?;
        }
        self.sender = None;
        let what = self.what;
        let mut committed = self
            .start()
            .await
            .map_err(|e| DataError::Unavailable(format!("{what}: {e}")))??;
        if !self.reports_md5 {
            committed.md5 = None;
        } else if committed.md5.is_none() {
            // The bytes are stored, but nobody has their MD5: the caller
            // must not keep them (the location is set to trust an answer
            // that cannot give it: see `md5_from_backend`). The backend is
            // up: its breaker must stay closed for reads.
            return Err(DataError::Refused(format!(
                "{what} answered without the MD5 of the bytes stored (an s3 location's ETag \
                 must be one when md5_from_backend is set)"
            )));
        }
        Ok(committed)
    }
}

impl Drop for StreamedWriter {
    fn drop(&mut self) {
        // Cuts the request short of its Content-Length: S3 keeps nothing.
        if let Some(response) = &self.response {
            response.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(encryption: Option<&str>, key: Option<&str>) -> S3Spec {
        let mut spec: S3Spec = toml::from_str("bucket = \"b\"").expect("spec");
        spec.server_side_encryption = encryption.map(str::to_string);
        spec.sse_kms_key_id = key.map(str::to_string);
        spec
    }

    #[test]
    fn only_an_etag_of_32_hex_digits_spells_an_md5() {
        let md5 = md5_of_etag("\"5d41402abc4b2a76b9719d911017c592\"").expect("an MD5");
        assert_eq!(md5[..2], [0x5d, 0x41]);
        assert!(md5_of_etag("5d41402abc4b2a76b9719d911017c592").is_some());
        assert_eq!(md5_of_etag("\"5d41402abc4b2a76b9719d911017c592-2\""), None);
        assert_eq!(md5_of_etag("\"zz41402abc4b2a76b9719d911017c592\""), None);
        assert_eq!(md5_of_etag("0x8DC0A1B2C3D4E5F"), None);
    }

    #[test]
    fn the_kms_key_goes_only_with_a_kms_encryption() {
        let names = |encryption, key| -> Vec<&str> {
            encryption_headers(&spec(encryption, key))
                .into_iter()
                .map(|(name, _)| name)
                .collect()
        };
        let kms_key = "x-amz-server-side-encryption-aws-kms-key-id";
        assert!(names(None, Some("k")).is_empty());
        assert_eq!(
            names(Some("AES256"), Some("k")),
            ["x-amz-server-side-encryption"]
        );
        assert_eq!(names(Some("aws:kms"), Some("k"))[1], kms_key);
        assert_eq!(names(Some("aws:kms:dsse"), Some("k"))[1], kms_key);
        assert_eq!(names(Some("aws:kms"), None).len(), 1);
    }
}
