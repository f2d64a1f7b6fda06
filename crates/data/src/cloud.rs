//! The `s3` and `azure` locations through `object_store`: blobs named after their object,
//! large writes streamed as multipart uploads or staged blocks. Never buffers more than 3 parts.
//!
//! Object copies are named `<prefix>[<bucket>/]<key>` exactly, with their content headers
//! and user metadata as the backend's own (`x-amz-meta-*`, `x-ms-meta-*`) and their tags
//! as object or blob index tags. On `s3` they are Strata's own requests (`s3_requests`),
//! which carry names object_store's paths cannot; on `azure`, object_store's. Tags are
//! written but not read back (`reads_copy_tags` is false): object_store 0.12 cannot read
//! them, and on `s3` it would cost a GetObjectTagging per `head_copy`.
//!
//! Azure metadata names must be C# identifiers: a copy's metadata name has each `-`
//! written as `_`, and each `_` read back as `-`. Names that had `_` of their own so
//! come back with `-`; names that are not identifiers even then (a leading digit, a
//! `.`) are refused. Both backends return metadata names lowercased.

use std::collections::HashSet;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::TryStreamExt;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::MicrosoftAzureBuilder;
use object_store::path::Path;
use object_store::{
    Attribute, Attributes, BackoffConfig, ClientOptions, GetOptions, GetRange, GetResult,
    ObjectStore, PutMultipartOptions, PutOptions, PutPayload, RetryConfig, TagSet, WriteMultipart,
};

use crate::assembly::Assembler;
use crate::azure_requests::{self, AzureRequests};
use crate::s3_requests::S3Requests;
use crate::spec::{AzureSpec, S3Spec, Tuning};
use crate::{
    BlobName, BlobWriter, ByteStream, Committed, CopyAttributes, CurrentCopy, DataBackend,
    DataError, Result, failing,
};

/// Part size of streamed writes; also the most a small blob buffers before
/// it becomes a multipart upload.
const PART_SIZE: usize = 8 << 20;
/// Parts in flight per writer: memory stays at about (this + 1) parts.
const PARTS_IN_FLIGHT: usize = 2;
/// Longest backend name Strata builds from an object key; longer ones fall
/// back to the unique part alone (S3 and Azure stop at 1024).
const MAX_NAME: usize = 1000;
/// Longest name of an object copy, which has no shorter fallback.
const MAX_COPY_NAME: usize = 1024;
/// Most tags an object (S3) or blob (Azure) may have.
const MAX_TAGS: usize = 10;

/// The keys an `s3` location signs with.
pub(crate) struct S3Keys {
    pub access_key: String,
    pub secret_key: String,
    pub session_token: Option<String>,
}

pub struct CloudBackend {
    kind: &'static str,
    store: Arc<dyn ObjectStore>,
    /// Normalised: empty or ending in `/`.
    prefix: String,
    bucket_match: bool,
    /// Another Strata site (see `S3Spec::strata`).
    strata_site: bool,
    /// How multipart objects become one backend object (`s3`, `azure`).
    assembler: Option<Assembler>,
    /// An `azure` location's own requests, for copies under exact names.
    azure_requests: Option<Arc<AzureRequests>>,
}

fn client_options(endpoint: Option<&str>) -> ClientOptions {
    // No whole-request timeout: a large GET may stream for minutes. The
    // location's guard bounds each call and each wait for a chunk instead.
    ClientOptions::new()
        .with_timeout_disabled()
        .with_connect_timeout(Duration::from_secs(5))
        .with_allow_http(endpoint.is_some_and(|e| e.starts_with("http://")))
}

fn retry_config(tuning: &Tuning) -> RetryConfig {
    RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
            base: 2.0,
        },
        max_retries: tuning.retries(),
        retry_timeout: tuning.timeout(),
    }
}

fn normalise_prefix(prefix: &Option<String>) -> String {
    let p = prefix.as_deref().unwrap_or("").trim_matches('/');
    if p.is_empty() {
        String::new()
    } else {
        format!("{p}/")
    }
}

impl CloudBackend {
    fn new(
        kind: &'static str,
        store: Arc<dyn ObjectStore>,
        prefix: &Option<String>,
        bucket_match: bool,
    ) -> Self {
        Self {
            kind,
            store,
            prefix: normalise_prefix(prefix),
            bucket_match,
            strata_site: false,
            assembler: None,
            azure_requests: None,
        }
    }

    /// An `s3` location; without `keys`, the AWS credential chain
    /// (environment, instance profile) signs.
    pub(crate) fn s3(spec: &S3Spec, keys: Option<S3Keys>, tuning: &Tuning) -> Result<Self> {
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&spec.bucket)
            .with_region(&spec.region)
            .with_virtual_hosted_style_request(!spec.path_style)
            .with_client_options(client_options(spec.endpoint.as_deref()))
            .with_retry(retry_config(tuning));
        if let Some(endpoint) = &spec.endpoint {
            url_scheme_ok(endpoint)?;
            builder = builder.with_endpoint(endpoint);
        }
        if let Some(keys) = keys {
            builder = builder
                .with_access_key_id(keys.access_key)
                .with_secret_access_key(keys.secret_key);
            if let Some(token) = keys.session_token {
                builder = builder.with_token(token);
            }
        }
        if let Some(sse) = &spec.server_side_encryption {
            if !matches!(sse.as_str(), "AES256" | "aws:kms" | "aws:kms:dsse") {
                return Err(DataError::Config(format!(
                    "server_side_encryption must be AES256, aws:kms or aws:kms:dsse, not {sse:?}"
                )));
            }
            builder = builder.with_config(s3_key("aws_server_side_encryption")?, sse);
        }
        if let Some(key) = &spec.sse_kms_key_id {
            builder = builder.with_config(s3_key("aws_sse_kms_key_id")?, key);
        }
        let store = Arc::new(builder.build().map_err(config_error)?);
        Ok(Self {
            strata_site: spec.strata,
            assembler: Some(Assembler::S3(Arc::new(S3Requests::new(
                spec,
                store.clone(),
                tuning.retries(),
            )?))),
            ..Self::new("s3", store, &spec.prefix, spec.bucket_match)
        })
    }

    pub fn azure(
        spec: &AzureSpec,
        access_key: Option<String>,
        sas_token: Option<String>,
        tuning: &Tuning,
    ) -> Result<Self> {
        let endpoint = spec
            .endpoint
            .clone()
            .unwrap_or_else(|| format!("https://{}.blob.core.windows.net", spec.account));
        url_scheme_ok(&endpoint)?;
        let builder = MicrosoftAzureBuilder::new()
            .with_account(&spec.account)
            .with_container_name(&spec.container)
            .with_endpoint(endpoint.clone())
            .with_client_options(client_options(Some(&endpoint)))
            .with_retry(retry_config(tuning));
        let requests = |key: Option<&str>, sas: Option<&str>| {
            let (account, container) = (&spec.account, &spec.container);
            let limit = spec.max_single_put()?;
            AzureRequests::new(
                &endpoint,
                account,
                container,
                key,
                sas,
                tuning.retries(),
                limit,
            )
        };
        let (builder, azure_requests) = match (access_key, sas_token) {
            (Some(key), None) => (builder.with_access_key(&key), requests(Some(&key), None)?),
            (None, Some(sas)) => {
                let sas = sas.trim_start_matches('?');
                let builder = builder.with_config(object_store::azure::AzureConfigKey::SasKey, sas);
                (builder, requests(None, Some(sas))?)
            }
            _ => {
                return Err(DataError::Config(
                    "give exactly one of access_key (or access_key_env) and sas_token (or sas_token_env)"
                        .into(),
                ));
            }
        };
        let store = Arc::new(builder.build().map_err(config_error)?);
        Ok(Self {
            assembler: Some(Assembler::Azure(store.clone())),
            azure_requests: Some(Arc::new(azure_requests)),
            ..Self::new("azure", store, &spec.prefix, spec.bucket_match)
        })
    }

    fn path(&self, key: &str) -> Result<Path> {
        Path::parse(key).map_err(|_| DataError::InvalidKey(key.to_string()))
    }

    /// The location's own S3 requests (an `s3` location), which name an
    /// object exactly, where object_store's paths cannot.
    fn s3_requests(&self) -> Option<&Arc<S3Requests>> {
        match &self.assembler {
            Some(Assembler::S3(s3)) => Some(s3),
            _ => None,
        }
    }

    fn assembler(&self) -> Result<&Assembler> {
        self.assembler.as_ref().ok_or(DataError::Unsupported)
    }

    fn is_azure(&self) -> bool {
        self.kind == "azure"
    }

    /// Streams `range` (None: all) of the object at `path`, at `version`.
    async fn get(
        &self,
        path: &Path,
        version: Option<&str>,
        range: Option<Range<u64>>,
    ) -> Result<ByteStream> {
        let options = GetOptions {
            version: version.map(str::to_string),
            range: range.map(GetRange::Bounded),
            ..Default::default()
        };
        let result = self
            .store
            .get_opts(path, options)
            .await
            .map_err(backend_error)?;
        Ok(Box::pin(result.into_stream().map_err(backend_error)))
    }

    /// object_store's GET (or HEAD) of the copy of `bucket/key`, with the
    /// copy's attributes read from it; None when there is no copy.
    async fn get_copy(
        &self,
        bucket: &str,
        key: &str,
        options: GetOptions,
    ) -> Result<Option<(GetResult, CopyAttributes)>> {
        let path = self.copy_path(bucket, key)?;
        let result = match self.store.get_opts(&path, options).await {
            Ok(result) => result,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(backend_error(e)),
        };
        let mut copy = CopyAttributes::default();
        for (attribute, value) in result.attributes.iter() {
            let value = value.to_string();
            match attribute {
                Attribute::ContentType => copy.content_type = Some(value),
                Attribute::ContentEncoding => copy.content_encoding = Some(value),
                Attribute::ContentDisposition => copy.content_disposition = Some(value),
                Attribute::ContentLanguage => copy.content_language = Some(value),
                Attribute::CacheControl => copy.cache_control = Some(value),
                Attribute::Metadata(name) => {
                    let name = if self.is_azure() {
                        azure_requests::metadata_name(name)
                    } else {
                        name.to_string()
                    };
                    copy.metadata.insert(name, value);
                }
                _ => {}
            }
        }
        Ok(Some((result, copy)))
    }

    /// The path of a copy, named exactly `copy_key`: `InvalidKey` when
    /// object_store cannot carry that name unchanged (empty, `.` or `..`
    /// segments, a leading or trailing `/`, control characters) or it is too
    /// long. An altered name could collide with another object's copy.
    fn copy_path(&self, bucket: &str, key: &str) -> Result<Path> {
        let name = self.copy_key(bucket, key);
        match Path::parse(&name) {
            Ok(path)
                if path.as_ref() == name && !name.is_empty() && name.len() <= MAX_COPY_NAME =>
            {
                Ok(path)
            }
            _ => Err(DataError::InvalidKey(name)),
        }
    }

    /// The exact name of a copy sent by the location's own requests (S3, Azure):
    /// `InvalidKey` when it is empty, too long, or has a `.` or `..` segment,
    /// which URLs resolve away (S3 keys can hold them, but no URL names them).
    fn exact_copy_name(&self, bucket: &str, key: &str) -> Result<String> {
        let name = self.copy_key(bucket, key);
        let dot_segment = name
            .split('/')
            .any(|segment| segment == "." || segment == "..");
        if name.is_empty() || name.len() > MAX_COPY_NAME || dot_segment {
            return Err(DataError::InvalidKey(name));
        }
        Ok(name)
    }

    /// A copy's attributes and tags as object_store sends them, checked first:
    /// a refusal is a clear `InvalidAttributes`, never a backend's 400 (which
    /// would count against the location's breaker).
    fn put_attributes(&self, copy: &CopyAttributes) -> Result<(Attributes, TagSet)> {
        let mut attributes = Attributes::new();
        let headers = [
            (Attribute::ContentType, &copy.content_type),
            (Attribute::ContentEncoding, &copy.content_encoding),
            (Attribute::ContentDisposition, &copy.content_disposition),
            (Attribute::ContentLanguage, &copy.content_language),
            (Attribute::CacheControl, &copy.cache_control),
        ];
        for (attribute, value) in headers {
            if let Some(value) = value {
                header_value_ok(&format!("{attribute:?}"), value)?;
                attributes.insert(attribute, value.clone().into());
            }
        }
        let mut names = HashSet::new();
        for (name, value) in &copy.metadata {
            let stored = if self.is_azure() {
                azure_metadata_name(name)?
            } else {
                s3_metadata_name(name)?
            };
            // Both backends compare names without case.
            if !names.insert(stored.to_ascii_lowercase()) {
                return Err(DataError::InvalidAttributes(format!(
                    "metadata name {name:?} collides with another as {} stores it",
                    self.kind
                )));
            }
            header_value_ok(&format!("metadata {name:?}"), value)?;
            attributes.insert(Attribute::Metadata(stored.into()), value.clone().into());
        }
        if copy.tags.len() > MAX_TAGS {
            return Err(DataError::InvalidAttributes(format!(
                "{} tags (at most {MAX_TAGS})",
                copy.tags.len()
            )));
        }
        let mut tags = TagSet::default();
        for (key, value) in &copy.tags {
            let chars_ok = |s: &str| {
                !self.is_azure()
                    || s.chars().all(|c| {
                        c.is_ascii_alphanumeric()
                            || matches!(c, ' ' | '+' | '-' | '.' | '/' | ':' | '=' | '_')
                    })
            };
            let key_len = key.chars().count();
            if !(1..=128).contains(&key_len)
                || value.chars().count() > 256
                || !chars_ok(key)
                || !chars_ok(value)
            {
                return Err(DataError::InvalidAttributes(format!(
                    "tag {key:?}={value:?} cannot be stored by {}",
                    self.kind
                )));
            }
            tags.push(key, value);
        }
        Ok((attributes, tags))
    }
}

/// Values go out as HTTP header values: visible ASCII, spaces and tabs.
fn header_value_ok(what: &str, value: &str) -> Result<()> {
    if value
        .bytes()
        .all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
    {
        Ok(())
    } else {
        Err(DataError::InvalidAttributes(format!(
            "{what} has a value that is not printable ASCII"
        )))
    }
}

/// An S3 metadata name is an HTTP header name's tail: a token.
fn s3_metadata_name(name: &str) -> Result<String> {
    let token = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if token {
        Ok(name.to_string())
    } else {
        Err(DataError::InvalidAttributes(format!(
            "metadata name {name:?} is not an HTTP token"
        )))
    }
}

/// An Azure metadata name is a C# identifier: `-` is written as `_` (and
/// read back as `-`), anything else outside `[A-Za-z0-9_]` is refused.
fn azure_metadata_name(name: &str) -> Result<String> {
    let mapped = name.replace('-', "_");
    let identifier = mapped
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && mapped
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if identifier {
        Ok(mapped)
    } else {
        Err(DataError::InvalidAttributes(format!(
            "metadata name {name:?} is not an Azure (C# identifier) name, even with - as _"
        )))
    }
}

fn config_error(e: object_store::Error) -> DataError {
    DataError::Config(e.to_string())
}

fn s3_key(name: &str) -> Result<AmazonS3ConfigKey> {
    name.parse().map_err(config_error)
}

fn url_scheme_ok(endpoint: &str) -> Result<()> {
    if endpoint.starts_with("http://") || endpoint.starts_with("https://") {
        Ok(())
    } else {
        Err(DataError::Config(format!(
            "endpoint {endpoint:?} must start with http:// or https://"
        )))
    }
}

/// An object_store error as a data error: the message keeps what went wrong
/// but never a URL's query string (a SAS token lives there).
/// The stream of an empty range.
fn nothing() -> ByteStream {
    Box::pin(futures::stream::empty())
}

pub(crate) fn backend_error(e: object_store::Error) -> DataError {
    match e {
        object_store::Error::NotFound { path, .. } => DataError::NotFound(path),
        other => write_error(other),
    }
}

/// A write's error: a write has no blob to miss, so "not found" there means
/// the bucket or container is missing, which the full message says (S3's
/// `NoSuchBucket`); never a `NotFound` the caller would take for a blob's.
fn write_error(e: object_store::Error) -> DataError {
    use object_store::Error as E;
    let message = redact(&e.to_string());
    match e {
        E::PermissionDenied { .. }
        | E::Unauthenticated { .. }
        | E::Precondition { .. }
        | E::NotModified { .. }
        | E::AlreadyExists { .. } => DataError::Refused(message),
        _ => DataError::Unavailable(message),
    }
}

/// Drops the query string of each URL in `message`: a `?` in a word holding
/// `://`. Any other `?` stays: an error body's `<?xml …?>` is followed by the
/// error's code (`SignatureDoesNotMatch`, `NoSuchBucket`…), the useful part.
/// Control characters (a body of garbage) become U+FFFD, so the message
/// fits in the XML of an S3 error.
pub(crate) fn redact(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut in_query = false;
    // Where the word being copied starts in `out`.
    let mut word = 0;
    let printable = |c: char| {
        if c.is_control() && !matches!(c, '\t' | '\n' | '\r') {
            char::REPLACEMENT_CHARACTER
        } else {
            c
        }
    };
    for c in message.chars().map(printable) {
        let boundary = c.is_whitespace() || matches!(c, '(' | ')' | '"' | '\'' | ',' | '<' | '>');
        if in_query && boundary {
            in_query = false;
        } else if c == '?' && !in_query && out[word..].contains("://") {
            in_query = true;
            out.push_str("?…");
        }
        if !in_query {
            out.push(c);
        }
        if boundary {
            word = out.len();
        }
    }
    // Backend error bodies can be long XML, after a URL as long as the key:
    // the error's code goes first, so the cut below keeps it.
    if let Some(code) = out
        .split_once("<Code>")
        .and_then(|(_, rest)| rest.split_once("</Code>"))
        .map(|(code, _)| code.to_string())
    {
        out = format!("{code}: {out}");
    }
    if out.len() > 400 {
        let cut = (0..=400)
            .rev()
            .find(|&i| out.is_char_boundary(i))
            .unwrap_or(0);
        out.truncate(cut);
        out.push('…');
    }
    out
}

#[async_trait::async_trait]
impl DataBackend for CloudBackend {
    fn kind(&self) -> &'static str {
        self.kind
    }

    fn keeps_versions(&self) -> bool {
        self.strata_site
    }

    /// `<prefix>[<bucket>/]<object key>@<unique>`: readable by the backend's
    /// own tools under the object's name, while versions never collide.
    fn blob_key(&self, name: &BlobName<'_>) -> String {
        let object = if self.bucket_match {
            name.key.to_string()
        } else {
            format!("{}/{}", name.bucket, name.key)
        };
        let full = format!("{}{object}@{}", self.prefix, name.unique);
        let path: Path = full.split('/').collect();
        let key = path.to_string();
        if key.len() <= MAX_NAME && !key.is_empty() {
            key
        } else {
            format!("{}{}", self.prefix, name.unique)
        }
    }

    fn allows_inline(&self) -> bool {
        false
    }

    fn supports_copy(&self) -> bool {
        true
    }

    /// Lists a prefix nothing is under: one request, answered with an empty
    /// page by a bucket (container) that exists and with an error by one
    /// that does not (a HEAD's 404 could not tell a missing bucket apart).
    async fn check(&self) -> Result<()> {
        let path = Path::parse(format!("{}strata-ready-check/", self.prefix))
            .map_err(|e| DataError::Config(e.to_string()))?;
        let mut listing = self.store.list(Some(&path));
        listing.try_next().await.map_err(write_error)?;
        Ok(())
    }

    async fn create(&self, key: &str) -> Result<Box<dyn BlobWriter>> {
        Ok(Box::new(CloudWriter {
            store: self.store.clone(),
            path: self.path(key)?,
            attributes: Attributes::new(),
            tags: TagSet::default(),
            buf: BytesMut::new(),
            upload: None,
        }))
    }

    async fn create_sized(&self, key: &str, size: u64) -> Result<Box<dyn BlobWriter>> {
        // Small blobs keep object_store's single PUT, which it retries.
        if size > PART_SIZE as u64 {
            if let Some(s3) = self.s3_requests() {
                return s3.create_object(self.path(key)?.as_ref(), size).await;
            }
            if let Some(azure) = &self.azure_requests {
                return azure.create_blob(self.path(key)?.as_ref(), size);
            }
        }
        self.create(key).await
    }

    async fn read(
        &self,
        key: &str,
        version: Option<&str>,
        range: Range<u64>,
    ) -> Result<ByteStream> {
        if range.is_empty() {
            return Ok(nothing());
        }
        self.get(&self.path(key)?, version, Some(range)).await
    }

    /// In an `s3` location, every version too (Azure: see docs/locations.md).
    async fn delete(&self, key: &str) -> Result<()> {
        let path = self.path(key)?;
        if let Some(s3) = self.s3_requests() {
            return s3.delete_blob(path.as_ref()).await;
        }
        match self.store.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(backend_error(e)),
        }
    }

    /// object_store's copy reports no version: the new blob's is read back
    /// (its key is unique, so nothing else can have written it since).
    async fn copy(&self, from: &str, to: &str) -> Result<Option<String>> {
        let to = self.path(to)?;
        self.store
            .copy(&self.path(from)?, &to)
            .await
            .map_err(backend_error)?;
        let copied = self.store.head(&to).await.map_err(backend_error)?;
        Ok(copied.version)
    }

    fn assembles_parts(&self) -> bool {
        self.assembler.is_some()
    }

    async fn start_assembly(&self, key: &str) -> Result<String> {
        self.assembler()?.start(&self.path(key)?).await
    }

    async fn create_part(
        &self,
        key: &str,
        assembly: &str,
        number: u32,
        size: u64,
    ) -> Result<Box<dyn BlobWriter>> {
        let path = self.path(key)?;
        self.assembler()?
            .create_part(&path, assembly, number, size)
            .await
    }

    async fn finish_assembly(
        &self,
        key: &str,
        assembly: &str,
        parts: &[(u32, String)],
    ) -> Result<Option<String>> {
        self.assembler()?
            .finish(&self.path(key)?, assembly, parts)
            .await
    }

    async fn abort_assembly(&self, key: &str, assembly: &str) -> Result<()> {
        self.assembler()?.abort(&self.path(key)?, assembly).await?;
        self.delete(key).await
    }

    /// `<prefix>[<bucket>/]<object key>`: the object's own name, as in a
    /// replication target bucket.
    fn copy_key(&self, bucket: &str, key: &str) -> String {
        if self.bucket_match {
            format!("{}{key}", self.prefix)
        } else {
            format!("{}{bucket}/{key}", self.prefix)
        }
    }

    fn reads_copy_tags(&self) -> bool {
        false
    }

    async fn create_copy(
        &self,
        bucket: &str,
        key: &str,
        size: u64,
        attributes: &CopyAttributes,
    ) -> Result<Box<dyn BlobWriter>> {
        if let Some(s3) = self.s3_requests() {
            let name = self.exact_copy_name(bucket, key)?;
            let (attributes, tags) = self.put_attributes(attributes)?;
            return s3.create_copy(&name, size, &attributes, &tags).await;
        }
        if let Some(azure) = &self.azure_requests {
            let name = self.exact_copy_name(bucket, key)?;
            let (checked, tags) = self.put_attributes(attributes)?;
            let metadata: Vec<(String, String)> = checked
                .iter()
                .filter_map(|(attribute, value)| match attribute {
                    Attribute::Metadata(name) => Some((name.to_string(), value.to_string())),
                    _ => None,
                })
                .collect();
            return azure.create_copy(&name, size, attributes, &metadata, tags.encoded());
        }
        // A location over object_store alone (its in-memory store, in unit
        // tests): a PUT, or its multipart upload, under names it can carry.
        let path = self.copy_path(bucket, key)?;
        let (attributes, tags) = self.put_attributes(attributes)?;
        Ok(Box::new(CloudWriter {
            store: self.store.clone(),
            path,
            attributes,
            tags,
            buf: BytesMut::new(),
            upload: None,
        }))
    }

    async fn delete_copy(&self, bucket: &str, key: &str) -> Result<()> {
        if let Some(s3) = self.s3_requests() {
            return s3.delete_object(&self.exact_copy_name(bucket, key)?).await;
        }
        if let Some(azure) = &self.azure_requests {
            return azure.delete(&self.exact_copy_name(bucket, key)?).await;
        }
        match self.store.delete(&self.copy_path(bucket, key)?).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(backend_error(e)),
        }
    }

    async fn abort_copy_upload(&self, bucket: &str, key: &str, upload: &str) -> Result<()> {
        match self.s3_requests() {
            Some(s3) => {
                s3.abort_upload(&self.exact_copy_name(bucket, key)?, upload)
                    .await
            }
            None => Ok(()),
        }
    }

    async fn head_copy(&self, bucket: &str, key: &str) -> Result<Option<(u64, CopyAttributes)>> {
        if let Some(s3) = self.s3_requests() {
            return s3.head_copy(&self.exact_copy_name(bucket, key)?).await;
        }
        if let Some(azure) = &self.azure_requests {
            return azure.head(&self.exact_copy_name(bucket, key)?).await;
        }
        let options = GetOptions {
            head: true,
            ..Default::default()
        };
        let copy = self.get_copy(bucket, key, options).await?;
        Ok(copy.map(|(result, attributes)| (result.meta.size, attributes)))
    }

    async fn read_copy(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
        range: Option<Range<u64>>,
    ) -> Result<ByteStream> {
        // An empty range is no request: a service would refuse its header.
        if range.as_ref().is_some_and(Range::is_empty) {
            return Ok(nothing());
        }
        if let Some(s3) = self.s3_requests() {
            let name = self.exact_copy_name(bucket, key)?;
            return s3.read(&name, version, range).await;
        }
        if let Some(azure) = &self.azure_requests {
            let name = self.exact_copy_name(bucket, key)?;
            return azure.read(&name, version, range).await;
        }
        self.get(&self.copy_path(bucket, key)?, version, range)
            .await
    }

    async fn read_current_copy(
        &self,
        bucket: &str,
        key: &str,
        range: Range<u64>,
    ) -> Result<Option<CurrentCopy>> {
        // No bytes to read, so none to pair with the wrong attributes.
        if range.is_empty() {
            let head = self.head_copy(bucket, key).await?;
            return Ok(CurrentCopy::from_head(head, nothing()));
        }
        if let Some(s3) = self.s3_requests() {
            let name = self.exact_copy_name(bucket, key)?;
            return s3.read_copy_with_attributes(&name, range).await;
        }
        if let Some(azure) = &self.azure_requests {
            let name = self.exact_copy_name(bucket, key)?;
            return azure.read_copy_with_attributes(&name, range).await;
        }
        let options = GetOptions {
            range: Some(GetRange::Bounded(range)),
            ..Default::default()
        };
        match self.get_copy(bucket, key, options).await {
            Ok(copy) => Ok(copy.map(|(result, attributes)| CurrentCopy {
                size: result.meta.size,
                attributes,
                bytes: Box::pin(result.into_stream().map_err(backend_error)),
            })),
            // object_store's refusal of a range past the end looks like any
            // other failure: a HEAD tells the copy there, whose bytes fail.
            Err(e) => {
                let head = self.head_copy(bucket, key).await?;
                Ok(CurrentCopy::from_head(head, failing(e)))
            }
        }
    }
}

struct CloudWriter {
    store: Arc<dyn ObjectStore>,
    path: Path,
    /// What an object copy carries (none for blobs): sent with the single PUT
    /// or when the multipart upload starts.
    attributes: Attributes,
    tags: TagSet,
    /// Bytes of a blob still small enough for one PUT.
    buf: BytesMut,
    /// The multipart upload, once the blob outgrew one part.
    upload: Option<WriteMultipart>,
}

#[async_trait::async_trait]
impl BlobWriter for CloudWriter {
    async fn write(&mut self, data: Bytes) -> Result<()> {
        if let Some(upload) = &mut self.upload {
            upload
                .wait_for_capacity(PARTS_IN_FLIGHT)
                .await
                .map_err(write_error)?;
            upload.put(data);
            return Ok(());
        }
        self.buf.extend_from_slice(&data);
        if self.buf.len() > PART_SIZE {
            let options = PutMultipartOptions {
                attributes: std::mem::take(&mut self.attributes),
                tags: std::mem::take(&mut self.tags),
                ..Default::default()
            };
            let upload = self
                .store
                .put_multipart_opts(&self.path, options)
                .await
                .map_err(write_error)?;
            let mut upload = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
            upload.put(self.buf.split().freeze());
            self.upload = Some(upload);
        }
        Ok(())
    }

    async fn commit(mut self: Box<Self>) -> Result<Committed> {
        if let Some(upload) = &mut self.upload {
            // The parts in flight first, while the upload is still the
            // writer's: a failure or a cancel here drops the writer, whose
            // `Drop` aborts the upload. (`finish` then sends the last part
            // and completes; a failed completion aborts by itself.)
            upload.wait_for_capacity(0).await.map_err(write_error)?;
        }
        let put = match self.upload.take() {
            Some(upload) => upload.finish().await.map_err(write_error)?,
            None => {
                let options = PutOptions {
                    attributes: std::mem::take(&mut self.attributes),
                    tags: std::mem::take(&mut self.tags),
                    ..Default::default()
                };
                let payload = PutPayload::from(self.buf.split().freeze());
                self.store
                    .put_opts(&self.path, payload, options)
                    .await
                    .map_err(write_error)?
            }
        };
        Ok(Committed::version(put.version))
    }
}

impl Drop for CloudWriter {
    fn drop(&mut self) {
        // An abandoned multipart upload would keep its parts (and their cost)
        // in the backend: abort it in the background.
        if let Some(upload) = self.upload.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(async move {
                if let Err(e) = upload.abort().await {
                    tracing::warn!(error = %redact(&e.to_string()), "could not abort an abandoned multipart upload");
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::memory::InMemory;

    fn backend(kind: &'static str, bucket_match: bool) -> CloudBackend {
        CloudBackend::new(
            kind,
            Arc::new(InMemory::new()),
            &Some("/replica/".into()),
            bucket_match,
        )
    }

    #[tokio::test]
    async fn the_conformance_suite_passes_over_object_stores_memory() {
        crate::conformance::run(&backend("s3", false)).await;
        crate::conformance::run(&backend("azure", true)).await;
    }

    #[test]
    fn copies_keep_their_exact_name_or_are_refused() {
        let b = backend("s3", false);
        assert_eq!(b.copy_key("bk", "a/b c"), "replica/bk/a/b c");
        assert_eq!(backend("s3", true).copy_key("bk", "a/b c"), "replica/a/b c");
        let exact = b.copy_path("bk", "odd ?#%2F[]~.txt").unwrap();
        assert_eq!(exact.as_ref(), "replica/bk/odd ?#%2F[]~.txt");
        let long = "k".repeat(MAX_COPY_NAME - "replica/bk/".len());
        assert!(b.copy_path("bk", &long).is_ok());
        for key in [
            "a//b",
            "a/",
            "/a",
            "x/../y",
            "./z",
            "a\nb",
            "",
            &format!("{long}k"),
        ] {
            assert!(
                matches!(b.copy_path("bk", key), Err(DataError::InvalidKey(_))),
                "{key:?}"
            );
        }
        // An `s3` location's own requests carry what a path cannot, except
        // dot segments, which URLs resolve away.
        for key in [
            "a//b",
            "a/",
            "/a",
            "a\nb",
            "odd ?#%2F[]~.txt",
            "..a/b.",
            &long,
        ] {
            assert_eq!(
                b.exact_copy_name("bk", key).unwrap(),
                format!("replica/bk/{key}")
            );
        }
        let top = backend("s3", true);
        for key in ["x/../y", "./z", "a/.", "..", &format!("{long}kkkkkkkkkkk")] {
            assert!(
                matches!(
                    top.exact_copy_name("bk", key),
                    Err(DataError::InvalidKey(_))
                ),
                "{key:?}"
            );
        }
    }

    #[tokio::test]
    async fn attributes_a_backend_cannot_store_are_refused_up_front() {
        let with = |f: &dyn Fn(&mut CopyAttributes)| {
            let mut a = CopyAttributes::default();
            f(&mut a);
            a
        };
        let meta = |pairs: &[(&str, &str)]| {
            with(&|a| {
                a.metadata = pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect()
            })
        };
        let tags = |pairs: &[(&str, &str)]| {
            with(&|a| {
                a.tags = pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect()
            })
        };
        let eleven: Vec<(String, String)> =
            (0..11).map(|i| (format!("k{i}"), String::new())).collect();
        let eleven: Vec<(&str, &str)> = eleven
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let (s3, azure) = (backend("s3", true), backend("azure", true));
        let refused = |b: &CloudBackend, a: &CopyAttributes| {
            matches!(b.put_attributes(a), Err(DataError::InvalidAttributes(_)))
        };
        for b in [&s3, &azure] {
            assert!(refused(b, &meta(&[("name", "ünïcode")])));
            assert!(refused(b, &meta(&[("name", "line\nbreak")])));
            assert!(refused(b, &meta(&[("Name", "1"), ("name", "2")])));
            assert!(refused(b, &with(&|a| a.content_type = Some("ü".into()))));
            assert!(refused(b, &tags(&eleven)));
            assert!(refused(b, &tags(&[("", "v")])));
            assert!(!refused(b, &meta(&[("multi-part", "v"), ("x_y", "w")])));
        }
        assert!(refused(&s3, &meta(&[("a b", "v")])));
        assert!(!refused(&s3, &meta(&[("1st.name", "v")])));
        assert!(!refused(&s3, &tags(&[("who", "me@example.com")])));
        for name in ["1st", "a.b", "a b"] {
            assert!(refused(&azure, &meta(&[(name, "v")])), "{name}");
        }
        assert!(refused(&azure, &meta(&[("a-b", "1"), ("a_b", "2")])));
        assert!(refused(&azure, &tags(&[("who", "me@example.com")])));
        // refused before any byte is sent
        let err = azure
            .create_copy("bk", "k", 1, &meta(&[("a.b", "v")]))
            .await
            .map(|_| ());
        assert!(matches!(err, Err(DataError::InvalidAttributes(_))));
    }

    #[tokio::test]
    async fn azure_metadata_names_map_hyphens_to_underscores_and_back() {
        let b = backend("azure", true);
        let (attributes, _) = b
            .put_attributes(&CopyAttributes {
                metadata: [("multi-part".to_string(), "v".to_string())].into(),
                ..Default::default()
            })
            .unwrap();
        assert!(
            attributes
                .get(&Attribute::Metadata("multi_part".into()))
                .is_some()
        );
        let mut w = b
            .create_copy(
                "bk",
                "k",
                1,
                &CopyAttributes {
                    metadata: [
                        ("multi-part".to_string(), "v".to_string()),
                        ("own_underscore".to_string(), "w".to_string()),
                    ]
                    .into(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        w.write(Bytes::from_static(b"x")).await.unwrap();
        w.commit().await.unwrap();
        let (_, read) = b.head_copy("bk", "k").await.unwrap().unwrap();
        // An underscore of the name's own comes back as a hyphen (documented).
        let names: Vec<&str> = read.metadata.keys().map(String::as_str).collect();
        assert_eq!(names, ["multi-part", "own-underscore"]);
    }

    #[test]
    fn query_strings_never_reach_messages() {
        let m = redact("error sending request for url (http://h/c/b?sv=1&sig=SECRET) 403");
        assert!(!m.contains("SECRET"), "{m}");
        assert!(m.contains("403"));
        let m = redact(
            "Error performing PUT https://a.blob.example/c/k?sv=1&sig=SECRET in 3ms - 403 Forbidden: \
             <?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>AuthenticationFailed</Code></Error>",
        );
        assert!(!m.contains("SECRET"), "{m}");
        assert!(m.contains("k?… in 3ms"), "{m}");
        assert!(
            m.ends_with(
                "<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>AuthenticationFailed</Code></Error>"
            ),
            "an error body's code is kept: {m}"
        );
        assert!(
            m.starts_with("AuthenticationFailed: Error performing PUT"),
            "{m}"
        );
        // However long the URL (it holds the key), the code survives the cut.
        let long = redact(&format!(
            "Error performing PUT http://h/b/{} - 403 Forbidden: <Error><Code>AccessDenied</Code></Error>",
            "k".repeat(1000)
        ));
        assert!(
            long.starts_with("AccessDenied: ") && long.ends_with('…'),
            "{long}"
        );
    }

    #[test]
    fn garbage_bodies_reach_messages_as_printable_text() {
        let m = redact("PutObject: \u{0}\u{1b}[1mbold\u{7f}\tline\nnext");
        assert_eq!(m, "PutObject: \u{fffd}\u{fffd}[1mbold\u{fffd}\tline\nnext");
    }
}
