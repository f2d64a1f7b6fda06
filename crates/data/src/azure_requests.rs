//! The Azure Blob requests Strata signs (Shared Key, or the location's SAS)
//! and sends itself (with reqwest), for object copies under their exact
//! names: object_store's paths cannot carry an empty segment (`a//b`), a
//! leading `/` or a trailing one (the `folder/` markers consoles create),
//! which blob names can. Put Blob streams a copy of known size up to the
//! location's single-PUT limit (at most 5,000 MiB) with bounded memory;
//! larger ones go as streamed Put Block requests and a Put Block List
//! (`parted`).

use std::ops::Range;
use std::sync::Arc;

use base64_simd::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use reqwest::{Method, RequestBuilder};
use sha2::Sha256;

use crate::parted::{PartedWriter, Parts, part_size};
use crate::s3_requests::{
    byte_range, checked, copy_head, copy_read, header, ranged_body, send_retrying, streamed_put,
};
use crate::{
    BlobWriter, ByteStream, Committed, CopyAttributes, CurrentCopy, DataError, Result, random_hex,
};

/// The service version the requests speak: Put Blob up to 5,000 MiB and
/// blob index tags need 2019-12-12 or later.
const VERSION: &str = "2020-10-02";
/// The most one Put Blob may carry, and the default single-PUT limit.
pub(crate) const MAX_PUT_BLOB: u64 = 5000 << 20;
/// Blocks of a copy over the single-PUT limit: this size (or the limit, if
/// lower), larger when the copy would need more than Azure's 50,000 blocks.
const PREFERRED_BLOCK: u64 = 512 << 20;
const MAX_BLOCKS: u64 = 50_000;

/// How requests prove who sends them.
enum Auth {
    /// The account's shared key, decoded.
    SharedKey(Vec<u8>),
    /// A SAS token's query string, appended to every URL.
    Sas(String),
}

pub(crate) struct AzureRequests {
    http: reqwest::Client,
    /// The blob service URL with the container: `<endpoint>/<container>`.
    container_url: String,
    account: String,
    auth: Auth,
    /// Times a request without a body is sent again after a connection
    /// error or a 5xx answer.
    retries: usize,
    /// Copies above this go as blocks and a block list.
    max_single_put: u64,
}

impl AzureRequests {
    pub(crate) fn new(
        endpoint: &str,
        account: &str,
        container: &str,
        access_key: Option<&str>,
        sas_token: Option<&str>,
        retries: usize,
        max_single_put: u64,
    ) -> Result<Self> {
        let auth = match (access_key, sas_token) {
            (Some(key), _) => Auth::SharedKey(
                BASE64
                    .decode_to_vec(key.trim())
                    .map_err(|_| DataError::Config("the Azure access key is not base64".into()))?,
            ),
            (None, Some(sas)) => Auth::Sas(sas.trim_start_matches('?').to_string()),
            (None, None) => {
                return Err(DataError::Config(
                    "an Azure location needs access_key or sas_token".into(),
                ));
            }
        };
        let http = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(5))
            .build()
            .map_err(|e| DataError::Config(format!("HTTP client: {e}")))?;
        Ok(Self {
            http,
            container_url: format!("{}/{container}", endpoint.trim_end_matches('/')),
            account: account.to_string(),
            auth,
            retries,
            max_single_put,
        })
    }

    /// A streamed Put Blob of `size` bytes under `name`, with the copy's
    /// attributes (over the single-PUT limit: blocks, then a block list
    /// carrying them); its commit returns the version Azure gave it, if any.
    pub(crate) fn create_copy(
        self: &Arc<Self>,
        name: &str,
        size: u64,
        attributes: &CopyAttributes,
        metadata: &[(String, String)],
        tags: &str,
    ) -> Result<Box<dyn BlobWriter>> {
        let mut headers = Vec::new();
        let content = [
            ("x-ms-blob-content-type", &attributes.content_type),
            ("x-ms-blob-content-encoding", &attributes.content_encoding),
            (
                "x-ms-blob-content-disposition",
                &attributes.content_disposition,
            ),
            ("x-ms-blob-content-language", &attributes.content_language),
            ("x-ms-blob-cache-control", &attributes.cache_control),
        ];
        for (header, value) in content {
            if let Some(value) = value {
                headers.push((header.to_string(), value.clone()));
            }
        }
        for (name, value) in metadata {
            headers.push((format!("x-ms-meta-{name}"), value.clone()));
        }
        if !tags.is_empty() {
            headers.push(("x-ms-tags".to_string(), tags.to_string()));
        }
        self.put_blob(name, size, headers, false)
    }

    /// A blob of `size` bytes as one streamed Put Blob (over the
    /// single-PUT limit: blocks, then a block list); its commit returns the
    /// version Azure gave it, if any, and for a Put Blob the MD5 Azure
    /// computed of it (which Put Blob always answers with).
    pub(crate) fn create_blob(
        self: &Arc<Self>,
        name: &str,
        size: u64,
    ) -> Result<Box<dyn BlobWriter>> {
        self.put_blob(name, size, Vec::new(), true)
    }

    fn put_blob(
        self: &Arc<Self>,
        name: &str,
        size: u64,
        mut headers: Vec<(String, String)>,
        wants_md5: bool,
    ) -> Result<Box<dyn BlobWriter>> {
        if size > self.max_single_put {
            let blocks = BlockList {
                requests: self.clone(),
                name: name.to_string(),
                headers,
                writer: random_hex(8),
            };
            let block = part_size(size, PREFERRED_BLOCK.min(self.max_single_put), MAX_BLOCKS);
            return Ok(Box::new(PartedWriter::new(Arc::new(blocks), size, block)));
        }
        headers.push(("x-ms-blob-type".to_string(), "BlockBlob".to_string()));
        let request = self.signed(Method::PUT, name, &[], headers, size)?;
        // Azure answers a stored blob with its ETag: a 2xx without one did
        // not come from it (a broken proxy).
        let mut writer = streamed_put(request, size, "Put Blob", |headers| {
            header(headers, "etag").ok_or_else(|| {
                DataError::Unavailable("Put Blob answered without an ETag".into())
            })?;
            Ok(Committed {
                version: header(headers, "x-ms-version-id"),
                md5: header(headers, "content-md5")
                    .and_then(|md5| base64_simd::STANDARD.decode_to_vec(md5).ok())
                    .and_then(|md5| md5.try_into().ok()),
            })
        });
        writer.reports_md5 = wants_md5;
        Ok(Box::new(writer))
    }

    /// Removes the blob `name`; a missing one is success.
    pub(crate) async fn delete(&self, name: &str) -> Result<()> {
        let request = self.signed(Method::DELETE, name, &[], Vec::new(), 0)?;
        let response = send_retrying(request, self.retries).await?;
        match checked(response, "Delete Blob").await {
            Ok(_) | Err(DataError::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The size and attributes of the blob `name`, None when missing.
    pub(crate) async fn head(&self, name: &str) -> Result<Option<(u64, CopyAttributes)>> {
        let request = self.signed(Method::HEAD, name, &[], Vec::new(), 0)?;
        let response = send_retrying(request, self.retries).await?;
        copy_head(response, "Get Blob Properties", "x-ms-meta-", metadata_name).await
    }

    /// Streams `range` (None: all) of the blob `name`, at `version`.
    pub(crate) async fn read(
        &self,
        name: &str,
        version: Option<&str>,
        range: Option<Range<u64>>,
    ) -> Result<ByteStream> {
        let response = self.get(name, version, range.as_ref()).await?;
        ranged_body(response, range.is_some(), "Get Blob").await
    }

    /// Streams `range` of the blob `name` with the attributes its Get Blob
    /// answered with (see `DataBackend::read_current_copy`).
    pub(crate) async fn read_copy_with_attributes(
        &self,
        name: &str,
        range: Range<u64>,
    ) -> Result<Option<CurrentCopy>> {
        let response = self.get(name, None, Some(&range)).await?;
        let head = self.head(name);
        copy_read(response, "Get Blob", "x-ms-meta-", metadata_name, head).await
    }

    async fn get(
        &self,
        name: &str,
        version: Option<&str>,
        range: Option<&Range<u64>>,
    ) -> Result<reqwest::Response> {
        let query: Vec<(&str, &str)> = version.map(|v| ("versionid", v)).into_iter().collect();
        let headers = range
            .map(|r| ("x-ms-range".to_string(), byte_range(r)))
            .into_iter()
            .collect();
        let request = self.signed(Method::GET, name, &query, headers, 0)?;
        send_retrying(request, self.retries).await
    }

    /// A request for the blob `name`, dated and signed (or carrying the
    /// SAS), with `headers` and a body of `content_length` bytes to come.
    fn signed(
        &self,
        method: Method,
        name: &str,
        query: &[(&str, &str)],
        headers: Vec<(String, String)>,
        content_length: u64,
    ) -> Result<RequestBuilder> {
        let mut url = format!("{}/{}", self.container_url, encode_path(name));
        let mut params: Vec<String> = query
            .iter()
            .map(|(k, v)| format!("{k}={}", urlencoding::encode(v)))
            .collect();
        if let Auth::Sas(sas) = &self.auth {
            params.push(sas.clone());
        }
        if !params.is_empty() {
            url = format!("{url}?{}", params.join("&"));
        }
        let date = jiff::Timestamp::now()
            .strftime("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        let mut headers = headers;
        headers.push(("x-ms-date".to_string(), date));
        headers.push(("x-ms-version".to_string(), VERSION.to_string()));
        let mut request = self.http.request(method.clone(), &url);
        if let Auth::SharedKey(key) = &self.auth {
            let parsed =
                url::Url::parse(&url).map_err(|e| DataError::Config(format!("blob URL: {e}")))?;
            let to_sign = string_to_sign(&method, &self.account, &parsed, &headers, content_length);
            let mut mac = Hmac::<Sha256>::new_from_slice(key)
                .map_err(|e| DataError::Config(format!("shared key: {e}")))?;
            mac.update(to_sign.as_bytes());
            let signature = BASE64.encode_to_string(mac.finalize().into_bytes());
            request = request.header(
                "authorization",
                format!("SharedKey {}:{signature}", self.account),
            );
        }
        for (name, value) in headers {
            request = request.header(name, value);
        }
        Ok(request)
    }
}

/// A block blob a `PartedWriter` fills: its blocks staged one after the
/// other, then committed as one block list carrying the copy's headers.
/// Blocks never committed expire in Azure (which has no call to drop them).
struct BlockList {
    requests: Arc<AzureRequests>,
    name: String,
    /// The copy's content headers, metadata and tags, for the block list.
    headers: Vec<(String, String)>,
    /// Random, so a copy sent again never commits an earlier attempt's blocks.
    writer: String,
}

impl BlockList {
    /// Block ids are base64 and all of one length within a blob.
    fn block_id(&self, number: u32) -> String {
        BASE64.encode_to_string(format!("{}-{number:06}", self.writer))
    }
}

#[async_trait::async_trait]
impl Parts for BlockList {
    async fn part(&self, number: u32, size: u64) -> Result<Box<dyn BlobWriter>> {
        let id = self.block_id(number);
        let query = [("comp", "block"), ("blockid", id.as_str())];
        let request = self
            .requests
            .signed(Method::PUT, &self.name, &query, Vec::new(), size)?;
        // The block list names blocks by number; a 2xx must still be Azure's.
        Ok(Box::new(streamed_put(
            request,
            size,
            "Put Block",
            |headers| {
                header(headers, "x-ms-request-id")
                    .map(|id| Committed::version(Some(id)))
                    .ok_or_else(|| {
                        DataError::Unavailable("Put Block answered without a request id".into())
                    })
            },
        )))
    }

    async fn finish(&self, parts: Vec<(u32, String)>) -> Result<Option<String>> {
        let mut body = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>");
        for (number, _) in &parts {
            body.push_str(&format!("<Latest>{}</Latest>", self.block_id(*number)));
        }
        body.push_str("</BlockList>");
        let request = self.requests.signed(
            Method::PUT,
            &self.name,
            &[("comp", "blocklist")],
            self.headers.clone(),
            body.len() as u64,
        )?;
        let response = send_retrying(request.body(body), self.requests.retries).await?;
        let response = checked(response, "Put Block List").await?;
        header(response.headers(), "etag").ok_or_else(|| {
            DataError::Unavailable("Put Block List answered without an ETag".into())
        })?;
        Ok(header(response.headers(), "x-ms-version-id"))
    }

    fn abandon(self: Arc<Self>) {}

    /// Azure discards a blob's uncommitted blocks itself, a week on.
    fn upload_id(&self) -> Option<String> {
        None
    }
}

/// Shared Key's string to sign (Blob service, version 2009-09-19 and on):
/// the verb, the standard headers Strata sends (only Content-Length), the
/// `x-ms-` headers sorted, and the resource (`/account/path` and the query).
fn string_to_sign(
    method: &Method,
    account: &str,
    url: &url::Url,
    headers: &[(String, String)],
    content_length: u64,
) -> String {
    let length = if content_length == 0 {
        String::new()
    } else {
        content_length.to_string()
    };
    let mut ms: Vec<(String, &str)> = headers
        .iter()
        .filter(|(n, _)| n.starts_with("x-ms-"))
        .map(|(n, v)| (n.to_ascii_lowercase(), v.trim()))
        .collect();
    ms.sort();
    let canonical_headers: String = ms.iter().map(|(n, v)| format!("{n}:{v}\n")).collect();
    let mut query: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.into_owned()))
        .collect();
    query.sort();
    let canonical_query: String = query.iter().map(|(k, v)| format!("\n{k}:{v}")).collect();
    format!(
        "{method}\n\n\n{length}\n\n\n\n\n\n\n\n\n{canonical_headers}/{account}{}{canonical_query}",
        url.path()
    )
}

/// A blob name as a URL path: every byte but the unreserved ones and `/`
/// percent-encoded, so the name reaches Azure exactly, slashes and all.
fn encode_path(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for byte in name.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(byte as char)
            }
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

/// A copy's metadata name as Azure gives it back: names are stored with `_`
/// for `-` (see `azure_metadata_name`).
pub(crate) fn metadata_name(stored: &str) -> String {
    stored.replace('_', "-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_keep_their_slashes_and_lose_nothing() {
        assert_eq!(encode_path("folder/"), "folder/");
        assert_eq!(encode_path("a//b"), "a//b");
        assert_eq!(encode_path("/lead"), "/lead");
        assert_eq!(encode_path("sp ace?#%"), "sp%20ace%3F%23%25");
        assert_eq!(encode_path("é"), "%C3%A9");
    }

    #[test]
    fn the_string_to_sign_follows_shared_key() {
        let url =
            url::Url::parse("http://127.0.0.1:1/devstoreaccount1/c/a//b?versionid=v1").unwrap();
        let headers = vec![
            ("x-ms-version".to_string(), VERSION.to_string()),
            (
                "x-ms-date".to_string(),
                "Mon, 01 Jan 2024 00:00:00 GMT".to_string(),
            ),
        ];
        assert_eq!(
            string_to_sign(&Method::GET, "devstoreaccount1", &url, &headers, 0),
            "GET\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:Mon, 01 Jan 2024 00:00:00 GMT\n\
             x-ms-version:2020-10-02\n/devstoreaccount1/devstoreaccount1/c/a//b\nversionid:v1"
        );
        let put = string_to_sign(&Method::PUT, "acct", &url, &headers, 12);
        assert!(put.starts_with("PUT\n\n\n12\n"), "{put}");
    }
}
