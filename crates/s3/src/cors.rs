//! CORS on the wire: answers preflight `OPTIONS` requests (which s3s does not
//! route) and adds CORS headers to actual requests that carry `Origin`.
//! The rules and their evaluation belong to the core; this never stores them.

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Method, Response, StatusCode};
use strata_core::Strata;
use strata_core::bucket_config::cors::{CorsAnswer, CorsConfiguration};

use crate::server::{ResponseBody, full};

const REQUEST_METHOD: &str = "access-control-request-method";
const REQUEST_HEADERS: &str = "access-control-request-headers";

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// An S3 XML error answer (for answers given before s3s sees the request).
pub(crate) fn error(status: StatusCode, code: &str, message: &str) -> Response<ResponseBody> {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    );
    full(status, "application/xml", Bytes::from(body))
}

/// The bucket's rules; a missing bucket or a failing read has none.
fn rules(strata: &Strata, bucket: Option<&str>) -> Option<CorsConfiguration> {
    let bucket = bucket?;
    match strata.bucket_document::<CorsConfiguration>(bucket) {
        Ok(rules) => rules,
        Err(e) => {
            tracing::warn!(bucket, error = %e, "reading CORS rules");
            None
        }
    }
}

/// Answers a preflight request from the bucket's rules; no credentials needed.
pub(crate) fn preflight(
    strata: &Strata,
    bucket: Option<&str>,
    headers: &HeaderMap,
) -> Response<ResponseBody> {
    let Some(origin) = header(headers, "origin") else {
        return error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "Insufficient information. Origin request header needed.",
        );
    };
    let Some(method) = header(headers, REQUEST_METHOD) else {
        return error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "Invalid Access-Control-Request-Method: null",
        );
    };
    let requested: Vec<&str> = header(headers, REQUEST_HEADERS)
        .map(|h| {
            h.split(',')
                .map(str::trim)
                .filter(|h| !h.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let Some(config) = rules(strata, bucket) else {
        return error(
            StatusCode::FORBIDDEN,
            "AccessForbidden",
            "CORSResponse: CORS is not enabled for this bucket.",
        );
    };
    match config.evaluate(origin, method, &requested) {
        Some(answer) => {
            let mut resp = full(StatusCode::OK, "text/plain", Bytes::new());
            apply(resp.headers_mut(), &answer);
            resp
        }
        None => error(
            StatusCode::FORBIDDEN,
            "AccessForbidden",
            "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.",
        ),
    }
}

/// What an actual request needs to be matched against the rules after s3s
/// has answered it.
pub(crate) struct ActualRequest {
    bucket: String,
    origin: String,
    method: Method,
}

impl ActualRequest {
    /// Some when the request carries `Origin` and addresses a bucket. The
    /// rules are matched against `Access-Control-Request-Method` when the
    /// request carries one (as s3-tests expects of S3), else its own method.
    pub fn of(bucket: Option<&str>, method: &Method, headers: &HeaderMap) -> Option<Self> {
        let method = match header(headers, REQUEST_METHOD) {
            Some(asked) => Method::from_bytes(asked.as_bytes()).ok()?,
            None => method.clone(),
        };
        Some(Self {
            bucket: bucket?.to_string(),
            origin: header(headers, "origin")?.to_string(),
            method,
        })
    }

    /// Adds the matching rule's headers to the response (whatever its status, as S3 does).
    pub fn decorate(&self, strata: &Strata, headers: &mut HeaderMap) {
        let Some(config) = rules(strata, Some(&self.bucket)) else {
            return;
        };
        if let Some(answer) = config.evaluate(&self.origin, self.method.as_str(), &[]) {
            apply(headers, &answer);
        }
    }
}

fn apply(headers: &mut HeaderMap, answer: &CorsAnswer) {
    let mut set = |name: &'static str, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(HeaderName::from_static(name), v);
        }
    };
    set("access-control-allow-origin", &answer.allow_origin);
    set("access-control-allow-methods", &answer.allow_methods);
    if answer.allow_origin != "*" {
        set("access-control-allow-credentials", "true");
    }
    if let Some(h) = &answer.allow_headers {
        set("access-control-allow-headers", h);
    }
    if let Some(h) = &answer.expose_headers {
        set("access-control-expose-headers", h);
    }
    if let Some(age) = answer.max_age {
        set("access-control-max-age", &age.to_string());
    }
    set(
        "vary",
        "Origin, Access-Control-Request-Headers, Access-Control-Request-Method",
    );
}
