//! What the operator's HTTP APIs (`/_/backbeat/api/`, `/_/admin/`) share:
//! the bearer-token check, the request read whole, JSON answers and errors.

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::{Method, Request, Response, StatusCode};
use serde::Serialize;

use crate::server::{ResponseBody, full};

/// Largest request body an operator API reads.
const MAX_BODY: usize = 1 << 20;

/// An operator request, authorized and read.
pub struct OperatorRequest {
    pub method: Method,
    /// The path after the API's prefix, split at `/` and percent-decoded.
    pub segments: Vec<String>,
    pub query: Option<String>,
    pub body: Bytes,
}

impl OperatorRequest {
    pub fn segments(&self) -> Vec<&str> {
        self.segments.iter().map(String::as_str).collect()
    }
}

/// Checks `Authorization: Bearer <token>` and reads the request; the answer
/// to send instead when it is refused or unreadable.
pub async fn admit(
    req: Request<hyper::body::Incoming>,
    token: &str,
    prefix: &str,
) -> Result<OperatorRequest, Response<ResponseBody>> {
    let authorized = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|given| constant_time_eq(given.as_bytes(), token.as_bytes()));
    if !authorized {
        return Err(error(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            "the operator API needs 'Authorization: Bearer <token>' (see `strata replication --help`)",
        ));
    }
    let method = req.method().clone();
    let path = req.uri().path().trim_start_matches(prefix).to_string();
    let query = req.uri().query().map(str::to_string);
    let body = match http_body_util::Limited::new(req.into_body(), MAX_BODY)
        .collect()
        .await
    {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "InvalidRequest",
                &e.to_string(),
            ));
        }
    };
    let segments = path
        .split('/')
        .map(|s| urlencoding::decode(s).map_or_else(|_| s.to_string(), |d| d.into_owned()))
        .collect();
    Ok(OperatorRequest {
        method,
        segments,
        query,
        body,
    })
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub fn json(status: StatusCode, value: &impl Serialize) -> Response<ResponseBody> {
    let body = serde_json::to_vec_pretty(value).unwrap_or_default();
    full(status, "application/json", Bytes::from(body))
}

pub fn error(status: StatusCode, code: &str, message: &str) -> Response<ResponseBody> {
    #[derive(Serialize)]
    struct Error<'a> {
        code: &'a str,
        message: &'a str,
    }
    json(status, &Error { code, message })
}
