//! Multipart objects a cloud location assembles itself, so a completed upload is one
//! backend object: on `s3` an S3 multipart upload whose part numbers are the client's,
//! on `azure` staged blocks committed as one block list.
//!
//! Parts stream with bounded memory. object_store's multipart API wants each part
//! whole in memory and numbers parts by position, so on `s3` the part uploads and the
//! completion are requests of their own, presigned by rusty-s3 (the crate Strata's
//! bench already uses) and sent by the same reqwest client object_store runs on;
//! object_store still starts and aborts uploads, with the location's credentials
//! and server-side encryption. On `azure` a part is staged as blocks of `BLOCK_SIZE`
//! (their ids random, so a retried part never overwrites the blocks of the one before).
//!
//! A blob whose size is known up front goes the same way, as one streamed PutObject,
//! when it is larger than one of object_store's parts: no part buffers, and the backend
//! stores it as it would a client's PUT rather than assembling parts.
//!
//! A part's writer holds its last bytes back until it commits: an abandoned part
//! (a client that disconnects, a body that fails its checksum) never replaces an
//! earlier upload of the same part number.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use object_store::PutPayload;
use object_store::aws::AmazonS3;
use object_store::azure::MicrosoftAzure;
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path;
use rusty_s3::actions::{CompleteMultipartUpload, PutObject, S3Action, UploadPart};
use rusty_s3::{Bucket, Credentials, UrlStyle};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::cloud::{backend_error, redact};
use crate::spec::S3Spec;
use crate::{BlobWriter, DataError, Result};

/// Azure block size: a part's writer buffers at most this much per block.
const BLOCK_SIZE: usize = 8 << 20;
/// Azure blocks in flight per part writer.
const BLOCKS_IN_FLIGHT: usize = 2;
/// Chunks queued towards an S3 part upload.
const CHUNKS_QUEUED: usize = 4;
/// Validity of the presigned URLs, sent at once: only clock skew matters.
const SIGNED_FOR: Duration = Duration::from_secs(3600);

/// How a cloud location assembles multipart objects.
pub(crate) enum Assembler {
    S3(S3Parts),
    Azure(Arc<MicrosoftAzure>),
}

/// The requests of an S3 multipart upload that object_store cannot send.
pub(crate) struct S3Parts {
    store: Arc<AmazonS3>,
    bucket: Bucket,
    http: reqwest::Client,
    /// Whether whole blobs may go as streamed PutObjects: not when the
    /// location asks for server-side encryption, which object_store sends.
    pub(crate) streams_objects: bool,
}

impl S3Parts {
    pub(crate) fn new(spec: &S3Spec, store: Arc<AmazonS3>) -> Result<Self> {
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
            streams_objects: spec.server_side_encryption.is_none() && spec.sse_kms_key_id.is_none(),
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

    async fn create_part(
        &self,
        key: &str,
        upload_id: &str,
        number: u32,
        size: u64,
    ) -> Result<Box<dyn BlobWriter>> {
        let number = u16::try_from(number)
            .map_err(|_| DataError::InvalidKey(format!("part number {number}")))?;
        let credentials = self.credentials().await?;
        let url = UploadPart::new(&self.bucket, Some(&credentials), key, number, upload_id)
            .sign(SIGNED_FOR);
        Ok(self.stream(url, size, "UploadPart", |headers| {
            header(headers, reqwest::header::ETAG.as_str())
                .map(Some)
                .ok_or_else(|| DataError::Unavailable("UploadPart answered without an ETag".into()))
        }))
    }

    /// A blob of `size` bytes as one streamed PutObject; its commit returns
    /// the version the backend gave it, if any.
    pub(crate) async fn create_object(&self, key: &str, size: u64) -> Result<Box<dyn BlobWriter>> {
        let credentials = self.credentials().await?;
        let url = PutObject::new(&self.bucket, Some(&credentials), key).sign(SIGNED_FOR);
        Ok(self.stream(url, size, "PutObject", |headers| {
            Ok(header(headers, "x-amz-version-id"))
        }))
    }

    /// Starts a request whose body is what the writer is given: `size`
    /// bytes, the last held back until the commit; `answer` reads the
    /// commit's result from the response headers.
    fn stream(
        &self,
        url: url::Url,
        size: u64,
        what: &'static str,
        answer: fn(&reqwest::header::HeaderMap) -> Result<Option<String>>,
    ) -> Box<dyn BlobWriter> {
        let (sender, receiver) = mpsc::channel::<std::io::Result<Bytes>>(CHUNKS_QUEUED);
        let body = futures::stream::unfold(receiver, |mut r| async move {
            r.recv().await.map(|chunk| (chunk, r))
        });
        let request = self
            .http
            .put(url)
            .header(reqwest::header::CONTENT_LENGTH, size)
            .body(reqwest::Body::wrap_stream(body));
        let response = tokio::spawn(async move {
            let response = request.send().await.map_err(request_error)?;
            let response = checked(response, what).await?;
            answer(response.headers())
        });
        Box::new(S3StreamWriter {
            sender: Some(sender),
            held: None,
            response,
            left: size,
            what,
        })
    }

    async fn finish(&self, key: &str, upload_id: &str, parts: &[(u32, String)]) -> Result<()> {
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
        let response = self
            .http
            .post(url)
            .body(body)
            .send()
            .await
            .map_err(request_error)?;
        let response = checked(response, "CompleteMultipartUpload").await?;
        // S3 may answer 200 and report the failure in the body.
        let text = response.text().await.map_err(request_error)?;
        if text.contains("<Error>") {
            return Err(DataError::Unavailable(format!(
                "CompleteMultipartUpload: {}",
                redact(&text)
            )));
        }
        Ok(())
    }

    /// The ids of the unfinished uploads of exactly `key`
    /// (ListMultipartUploads, which rusty-s3 does not have, so presigned
    /// here with its signing function).
    async fn uploads_of(&self, key: &str) -> Result<Vec<String>> {
        let credentials = self.credentials().await?;
        // The query must be sorted by name.
        let query = [("prefix", key), ("uploads", "")];
        let url = rusty_s3::signing::sign(
            &jiff::Timestamp::now(),
            rusty_s3::Method::Get,
            self.bucket.base_url().clone(),
            credentials.key(),
            credentials.secret(),
            credentials.token(),
            self.bucket.region(),
            SIGNED_FOR.as_secs(),
            query.into_iter(),
            std::iter::empty(),
        );
        let response = self.http.get(url).send().await.map_err(request_error)?;
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

fn header(headers: &reqwest::header::HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn request_error(e: reqwest::Error) -> DataError {
    DataError::Unavailable(redact(&e.to_string()))
}

/// The response when it succeeded, else its status and S3 error as a data error.
async fn checked(response: reqwest::Response, what: &str) -> Result<reqwest::Response> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let text = response.text().await.unwrap_or_default();
    let message = format!("{what}: HTTP {status}: {}", redact(&text));
    Err(if text.contains("<Code>NoSuchUpload</Code>") {
        DataError::NotFound(message)
    } else {
        DataError::Unavailable(message)
    })
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

impl Assembler {
    pub(crate) async fn start(&self, path: &Path) -> Result<String> {
        let store: &dyn MultipartStore = match self {
            Assembler::S3(s3) => &*s3.store,
            Assembler::Azure(azure) => &**azure,
        };
        store.create_multipart(path).await.map_err(backend_error)
    }

    pub(crate) async fn create_part(
        &self,
        path: &Path,
        assembly: &str,
        number: u32,
        size: u64,
    ) -> Result<Box<dyn BlobWriter>> {
        match self {
            Assembler::S3(s3) => s3.create_part(path.as_ref(), assembly, number, size).await,
            Assembler::Azure(azure) => Ok(Box::new(AzurePartWriter {
                store: azure.clone(),
                path: path.clone(),
                assembly: assembly.to_string(),
                buf: BytesMut::new(),
                staging: VecDeque::new(),
                blocks: Vec::new(),
                left: size,
            })),
        }
    }

    pub(crate) async fn finish(
        &self,
        path: &Path,
        assembly: &str,
        parts: &[(u32, String)],
    ) -> Result<()> {
        match self {
            Assembler::S3(s3) => s3.finish(path.as_ref(), assembly, parts).await,
            Assembler::Azure(azure) => {
                let blocks = parts
                    .iter()
                    .flat_map(|(_, tag)| tag.split(',').filter(|id| !id.is_empty()))
                    .map(|id| PartId {
                        content_id: id.to_string(),
                    })
                    .collect();
                azure
                    .complete_multipart(path, &assembly.to_string(), blocks)
                    .await
                    .map_err(backend_error)?;
                Ok(())
            }
        }
    }

    /// Drops an unfinished upload; with no id, every unfinished upload of
    /// the path (one started by a process that died before it recorded the
    /// id). Azure keeps uncommitted blocks for a week at most, and has no
    /// call to drop them.
    pub(crate) async fn abort(&self, path: &Path, assembly: &str) -> Result<()> {
        let Assembler::S3(s3) = self else {
            return Ok(());
        };
        let ids = if assembly.is_empty() {
            s3.uploads_of(path.as_ref()).await?
        } else {
            vec![assembly.to_string()]
        };
        for id in ids {
            match s3.store.abort_multipart(path, &id).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(backend_error(e)),
            }
        }
        Ok(())
    }
}

/// Counts a part's bytes against the size it was opened with.
fn take(left: &mut u64, n: usize) -> Result<()> {
    *left = left.checked_sub(n as u64).ok_or_else(|| {
        DataError::Io(std::io::Error::other("a part got more bytes than its size"))
    })?;
    Ok(())
}

fn check_complete(left: u64) -> Result<()> {
    if left == 0 {
        Ok(())
    } else {
        Err(DataError::Io(std::io::Error::other(format!(
            "a part ended {left} bytes short of its size"
        ))))
    }
}

/// A blob or part streaming into one S3 request (PutObject, UploadPart).
struct S3StreamWriter {
    sender: Option<mpsc::Sender<std::io::Result<Bytes>>>,
    /// The latest chunk, sent only on commit: until then the request cannot
    /// complete, so an abandoned writer stores nothing.
    held: Option<Bytes>,
    response: JoinHandle<Result<Option<String>>>,
    left: u64,
    what: &'static str,
}

impl S3StreamWriter {
    async fn send(&mut self, chunk: Bytes) -> Result<()> {
        let delivered = match &self.sender {
            Some(sender) => sender.send(Ok(chunk)).await.is_ok(),
            None => false,
        };
        if delivered {
            return Ok(());
        }
        // The request ended early: its outcome says why.
        self.sender = None;
        match (&mut self.response).await {
            Ok(Err(e)) => Err(e),
            _ => Err(DataError::Unavailable(format!(
                "{} ended before its body was sent",
                self.what
            ))),
        }
    }
}

#[async_trait::async_trait]
impl BlobWriter for S3StreamWriter {
    async fn write(&mut self, data: Bytes) -> Result<()> {
        take(&mut self.left, data.len())?;
        if let Some(previous) = self.held.replace(data) {
            self.send(previous).await?;
        }
        Ok(())
    }

    async fn commit(mut self: Box<Self>) -> Result<Option<String>> {
        check_complete(self.left)?;
        if let Some(last) = self.held.take() {
            self.send(last).await?;
        }
        self.sender = None;
        (&mut self.response)
            .await
            .map_err(|e| DataError::Unavailable(format!("{}: {e}", self.what)))?
    }
}

impl Drop for S3StreamWriter {
    fn drop(&mut self) {
        // Cuts the request short of its Content-Length: S3 keeps nothing.
        self.response.abort();
    }
}

/// One part staged as Azure blocks.
struct AzurePartWriter {
    store: Arc<MicrosoftAzure>,
    path: Path,
    assembly: String,
    /// The block being filled.
    buf: BytesMut,
    staging: VecDeque<JoinHandle<Result<String>>>,
    /// Ids of the blocks staged so far, in order.
    blocks: Vec<String>,
    left: u64,
}

impl AzurePartWriter {
    fn stage(&mut self, block: Bytes) {
        let (store, path, assembly) =
            (self.store.clone(), self.path.clone(), self.assembly.clone());
        self.staging.push_back(tokio::spawn(async move {
            let id = store
                .put_part(&path, &assembly, 0, PutPayload::from(block))
                .await
                .map_err(backend_error)?;
            Ok(id.content_id)
        }));
    }

    async fn settle_one(&mut self) -> Result<()> {
        if let Some(task) = self.staging.pop_front() {
            let id = task
                .await
                .map_err(|e| DataError::Unavailable(format!("Put Block: {e}")))??;
            self.blocks.push(id);
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl BlobWriter for AzurePartWriter {
    async fn write(&mut self, data: Bytes) -> Result<()> {
        take(&mut self.left, data.len())?;
        self.buf.extend_from_slice(&data);
        while self.buf.len() >= BLOCK_SIZE {
            while self.staging.len() >= BLOCKS_IN_FLIGHT {
                self.settle_one().await?;
            }
            let block = self.buf.split_to(BLOCK_SIZE).freeze();
            self.stage(block);
        }
        Ok(())
    }

    async fn commit(mut self: Box<Self>) -> Result<Option<String>> {
        check_complete(self.left)?;
        if !self.buf.is_empty() {
            let block = self.buf.split().freeze();
            self.stage(block);
        }
        while !self.staging.is_empty() {
            self.settle_one().await?;
        }
        Ok(Some(self.blocks.join(",")))
    }
}

impl Drop for AzurePartWriter {
    fn drop(&mut self) {
        for task in &self.staging {
            task.abort();
        }
    }
}
