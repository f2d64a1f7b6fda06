//! Every answer carries `x-amz-request-id` (and `x-amz-id-2`, which S3
//! sends with it), and an S3 error body names the same id in `<RequestId>`:
//! what a client reports of a failure then points at the server's own log
//! lines of that request, which carry the id in their span.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderName, HeaderValue};
use hyper::{Response, StatusCode};

use crate::server::{ResponseBody, edit_body};

static REQUEST_ID: HeaderName = HeaderName::from_static("x-amz-request-id");
static ID_2: HeaderName = HeaderName::from_static("x-amz-id-2");
/// Error bodies larger than this are passed on as they are (S3's are tiny).
const MAX_ERROR_BODY: u64 = 64 << 10;

/// Random per process, so ids stay distinct across restarts.
static PROCESS: LazyLock<String> = LazyLock::new(|| strata_core::random_hex(4).to_uppercase());
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A new id: 16 hex digits, as S3's.
pub(crate) fn next() -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{}{:08X}", *PROCESS, n & 0xFFFF_FFFF)
}

/// Puts the id on the answer: in its headers, and in an S3 error body.
pub(crate) async fn stamp(
    resp: Response<ResponseBody>,
    id: &str,
) -> Result<Response<ResponseBody>, s3s::HttpError> {
    let mut resp = if is_xml_error(&resp) {
        with_id_in_body(resp, id).await?
    } else {
        resp
    };
    if let Ok(value) = HeaderValue::from_str(id) {
        resp.headers_mut().insert(REQUEST_ID.clone(), value.clone());
        resp.headers_mut().insert(ID_2.clone(), value);
    }
    Ok(resp)
}

fn is_xml_error(resp: &Response<ResponseBody>) -> bool {
    use hyper::body::Body as _;
    // s3s leaves out the type of some errors that carry headers of their own.
    let xml = resp
        .headers()
        .get(CONTENT_TYPE)
        .is_none_or(|t| t.as_bytes().ends_with(b"/xml"));
    let declared = resp
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|n| n.to_str().ok()?.parse().ok());
    let small = declared
        .or(resp.body().size_hint().upper())
        .is_some_and(|n: u64| n <= MAX_ERROR_BODY);
    resp.status() >= StatusCode::BAD_REQUEST && xml && small
}

async fn with_id_in_body(
    resp: Response<ResponseBody>,
    id: &str,
) -> Result<Response<ResponseBody>, s3s::HttpError> {
    edit_body(resp, |headers, xml| {
        let end = xml
            .rfind("</Error>")
            .filter(|_| !xml.contains("<RequestId>"))?;
        headers
            .entry(CONTENT_TYPE)
            .or_insert(HeaderValue::from_static("application/xml"));
        Some(format!(
            "{}<RequestId>{id}</RequestId>{}",
            &xml[..end],
            &xml[end..]
        ))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_distinct_hex() {
        let (a, b) = (next(), next());
        assert_ne!(a, b);
        for id in [a, b] {
            assert_eq!(id.len(), 16);
            assert!(
                id.chars()
                    .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase())
            );
        }
    }
}
