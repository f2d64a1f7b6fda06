//! s3s reads the XML (or JSON policy) body of a configuration request whole,
//! up to its `xml_max_body_size` (20 MiB by default), but answers a longer
//! one with a 500 InternalError. S3 answers 400 MaxMessageLengthExceeded:
//! so does this check, from the request's Content-Length, before s3s reads
//! anything.

use http::{HeaderMap, Method, header::CONTENT_LENGTH};

/// s3s's default `xml_max_body_size`, which Strata keeps.
const LIMIT: u64 = 20 << 20;

/// Query parameters naming a PUT whose body s3s reads whole.
const BODY_READ_WHOLE: &[&str] = &[
    "acl",
    "accelerate",
    "cors",
    "encryption",
    "legal-hold",
    "lifecycle",
    "logging",
    "notification",
    "object-lock",
    "ownershipControls",
    "policy",
    "publicAccessBlock",
    "replication",
    "requestPayment",
    "retention",
    "tagging",
    "versioning",
    "website",
];

/// Whether the request's body is one s3s reads whole and is over the limit.
pub(crate) fn too_long(method: &Method, query: Option<&str>, headers: &HeaderMap) -> bool {
    let length = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    length.is_some_and(|n| n > LIMIT) && reads_body_whole(method, query.unwrap_or_default())
}

fn reads_body_whole(method: &Method, query: &str) -> bool {
    let has = |name: &str| query.split('&').any(|p| p.split('=').next() == Some(name));
    match *method {
        // DeleteObjects; CompleteMultipartUpload.
        Method::POST => has("delete") || has("uploadId"),
        Method::PUT => !has("partNumber") && BODY_READ_WHOLE.iter().any(|s| has(s)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_long_bodies_read_whole_are_refused() {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_LENGTH, (LIMIT + 1).into());
        assert!(too_long(&Method::PUT, Some("cors"), &headers));
        assert!(too_long(&Method::POST, Some("delete="), &headers));
        assert!(too_long(&Method::POST, Some("uploadId=u1"), &headers));
        assert!(too_long(
            &Method::PUT,
            Some("tagging&versionId=v"),
            &headers
        ));
        // Streamed bodies: PutObject, UploadPart.
        assert!(!too_long(&Method::PUT, None, &headers));
        assert!(!too_long(
            &Method::PUT,
            Some("partNumber=1&uploadId=u1"),
            &headers
        ));
        assert!(!too_long(&Method::PUT, Some("x-id=PutObject"), &headers));
        headers.insert(CONTENT_LENGTH, LIMIT.into());
        assert!(!too_long(&Method::PUT, Some("cors"), &headers));
    }
}
