//! The website endpoint: anonymous GET/HEAD on `<bucket>.<website-domain>`,
//! answered from the bucket's website configuration with HTML error pages,
//! as S3's website endpoints do. It never writes, and never serves S3 XML.
//! Reads are authorized as anonymous `GetObject`s: a bucket policy or ACL
//! must make the objects public, as in S3.

use std::net::IpAddr;

use bytes::Bytes;
use futures::StreamExt;
use http::header::{self, HeaderName, HeaderValue};
use http::{HeaderMap, Method, Response, StatusCode};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use s3s::dto::{Timestamp, TimestampFormat};
use strata_core::access::AccessRequest;
use strata_core::bucket_config::website::{Redirection, WebsiteConfiguration};
use strata_core::conditions::ReadConditions;
use strata_core::{Error, ObjectBody, Strata};

use crate::convert::{http_date, timestamp, unix_seconds};
use crate::request_values::RequestValues;
use crate::server::{ResponseBody, full};

/// An error as the website endpoint shows it.
struct Failure {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl Failure {
    fn of(e: Error) -> Self {
        let (status, code) = match &e {
            Error::NoSuchBucket => (StatusCode::NOT_FOUND, "NoSuchBucket"),
            Error::NoSuchKey => (StatusCode::NOT_FOUND, "NoSuchKey"),
            Error::NoSuchConfiguration(_) => (StatusCode::NOT_FOUND, "NoSuchWebsiteConfiguration"),
            Error::AccessDenied => (StatusCode::FORBIDDEN, "AccessDenied"),
            Error::PreconditionFailed => (StatusCode::PRECONDITION_FAILED, "PreconditionFailed"),
            _ => {
                tracing::error!(error = %e, "website endpoint");
                (StatusCode::INTERNAL_SERVER_ERROR, "InternalError")
            }
        };
        Self {
            status,
            code,
            message: e.to_string(),
        }
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn error_page(f: &Failure, bucket: &str, key: &str) -> Response<ResponseBody> {
    let title = format!(
        "{} {}",
        f.status.as_u16(),
        f.status.canonical_reason().unwrap_or("Error")
    );
    let detail = match f.code {
        "NoSuchBucket" | "NoSuchWebsiteConfiguration" => {
            format!("<li>BucketName: {}</li>\n", escape(bucket))
        }
        "NoSuchKey" => format!("<li>Key: {}</li>\n", escape(key)),
        _ => String::new(),
    };
    let body = format!(
        "<html>\n<head><title>{title}</title></head>\n<body>\n<h1>{title}</h1>\n<ul>\n<li>Code: {}</li>\n<li>Message: {}</li>\n{detail}</ul>\n<hr/>\n</body>\n</html>\n",
        f.code,
        escape(&f.message)
    );
    full(f.status, "text/html; charset=utf-8", Bytes::from(body))
}

fn redirect(r: &Redirection) -> Response<ResponseBody> {
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::MOVED_PERMANENTLY);
    let mut resp = full(status, "text/plain", Bytes::new());
    if let Ok(v) = HeaderValue::from_str(&r.location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

fn object_headers(headers: &mut HeaderMap, body: &ObjectBody) {
    let r = &body.record;
    let h = &r.headers;
    let mut set = |name: HeaderName, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(name, v);
        }
    };
    set(
        header::CONTENT_TYPE,
        h.content_type.as_deref().unwrap_or("binary/octet-stream"),
    );
    set(header::CONTENT_LENGTH, &r.size.to_string());
    set(header::ETAG, &format!("\"{}\"", r.etag));
    if let Some(date) = http_date(&timestamp(r.last_modified_ms)) {
        set(header::LAST_MODIFIED, &date);
    }
    let optional = [
        (header::CONTENT_ENCODING, &h.content_encoding),
        (header::CONTENT_DISPOSITION, &h.content_disposition),
        (header::CONTENT_LANGUAGE, &h.content_language),
        (header::CACHE_CONTROL, &h.cache_control),
        (header::EXPIRES, &h.expires),
    ];
    for (name, value) in optional {
        if let Some(v) = value {
            set(name, v);
        }
    }
    for (k, v) in &r.user_metadata {
        if let Ok(name) = HeaderName::from_bytes(format!("x-amz-meta-{k}").as_bytes()) {
            set(name, v);
        }
    }
}

/// An object as the response, with `status` (200, or the error's for an
/// error document); HEAD gets the headers only.
fn object(body: ObjectBody, status: StatusCode, head: bool) -> Response<ResponseBody> {
    let mut resp = full(status, "binary/octet-stream", Bytes::new());
    object_headers(resp.headers_mut(), &body);
    if !head {
        let frames = body.stream.map(|chunk| {
            chunk
                .map(Frame::data)
                .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)
        });
        *resp.body_mut() = StreamBody::new(frames).boxed_unsync();
    }
    resp
}

/// The conditional headers browsers send to revalidate what they cached.
fn conditions(headers: &HeaderMap) -> ReadConditions {
    let text = |name: header::HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let date = |name: header::HeaderName| {
        text(name)
            .and_then(|d| Timestamp::parse(TimestampFormat::HttpDate, &d).ok())
            .map(unix_seconds)
    };
    ReadConditions {
        if_match: text(header::IF_MATCH),
        if_none_match: text(header::IF_NONE_MATCH),
        if_modified_since: date(header::IF_MODIFIED_SINCE),
        if_unmodified_since: date(header::IF_UNMODIFIED_SINCE),
    }
}

fn not_modified(body: &ObjectBody) -> Response<ResponseBody> {
    let mut resp = full(StatusCode::NOT_MODIFIED, "text/plain", Bytes::new());
    resp.headers_mut().remove(header::CONTENT_TYPE);
    if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", body.record.etag)) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    resp
}

/// One request to the website endpoint, as its reads are authorized.
pub(crate) struct WebsiteRequest<'a> {
    pub bucket: &'a str,
    pub method: &'a Method,
    pub headers: &'a HeaderMap,
    pub path: &'a str,
    pub peer: Option<IpAddr>,
}

impl WebsiteRequest<'_> {
    /// The object at `key`, if an anonymous reader may have it.
    fn read(&self, strata: &Strata, key: &str) -> Result<ObjectBody, Error> {
        let values = RequestValues {
            headers: self.headers,
            query: None,
            source_ip: self.peer,
        };
        let lookup = |name: &str| values.get(name);
        strata.authorize(&AccessRequest {
            principal: None,
            action: "GetObject",
            bucket: self.bucket,
            key: Some(key),
            version_id: None,
            values: &lookup,
        })?;
        strata.website_object(self.bucket, key)
    }
}

/// Answers one request to the website endpoint of `bucket`. `path` is the
/// request path; the Host header is kept by redirects that name no host.
pub(crate) fn serve(strata: &Strata, req: &WebsiteRequest<'_>) -> Response<ResponseBody> {
    let (bucket, method, headers) = (req.bucket, req.method, req.headers);
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let path = req.path.trim_start_matches('/');
    let key = urlencoding::decode(path)
        .map(|k| k.into_owned())
        .unwrap_or_else(|_| path.to_string());
    if method != Method::GET && method != Method::HEAD {
        let f = Failure {
            status: StatusCode::METHOD_NOT_ALLOWED,
            code: "MethodNotAllowed",
            message: format!("The specified method is not allowed against this resource: {method}"),
        };
        return error_page(&f, bucket, &key);
    }
    let head = method == Method::HEAD;
    let config = match strata.website(bucket) {
        Ok(c) => c,
        Err(e) => return error_page(&Failure::of(e), bucket, &key),
    };
    if let Some(r) = config.redirect_before(&key, host) {
        return redirect(&r);
    }
    let object_key = config.object_key(&key);
    let failure = match req.read(strata, &object_key) {
        Ok(body) => {
            if let Some(location) = body.record.headers.website_redirect_location.clone() {
                return redirect(&Redirection {
                    status: 301,
                    location,
                });
            }
            match conditions(headers).check(&body.record) {
                Ok(()) => return object(body, StatusCode::OK, head),
                Err(Error::NotModified { .. }) => return not_modified(&body),
                Err(e) => Failure::of(e),
            }
        }
        Err(Error::NoSuchKey) if is_directory(strata, req, &config, &key) => {
            // `dir` without its slash: S3 sends the browser to `dir/`.
            return redirect(&Redirection {
                status: 302,
                location: format!("/{key}/"),
            });
        }
        Err(e) => Failure::of(e),
    };
    if let Some(r) = config.redirect_after(&key, host, failure.status.as_u16()) {
        return redirect(&r);
    }
    error_document(strata, req, &config, &object_key, failure, head)
}

/// Whether `key` names a "directory" holding an index document.
fn is_directory(
    strata: &Strata,
    req: &WebsiteRequest<'_>,
    config: &WebsiteConfiguration,
    key: &str,
) -> bool {
    match &config.index_suffix {
        Some(suffix) if !key.is_empty() && !key.ends_with('/') => {
            req.read(strata, &format!("{key}/{suffix}")).is_ok()
        }
        _ => false,
    }
}

/// The bucket's error document with the failure's status, for client
/// errors; S3's HTML page otherwise or when there is none.
fn error_document(
    strata: &Strata,
    req: &WebsiteRequest<'_>,
    config: &WebsiteConfiguration,
    key: &str,
    failure: Failure,
    head: bool,
) -> Response<ResponseBody> {
    if failure.status.is_client_error()
        && let Some(error_key) = &config.error_key
        && let Ok(body) = req.read(strata, error_key)
    {
        return object(body, failure.status, head);
    }
    error_page(&failure, req.bucket, key)
}
