//! s3s reads the XML (or JSON policy) body of a configuration request whole,
//! up to its `xml_max_body_size` (20 MiB by default), but answers a longer
//! one with a 500 InternalError. S3 answers 400 MaxMessageLengthExceeded:
//! so does the router, from the request's Content-Length, before s3s reads
//! anything. A body sent chunked, without a Content-Length, s3s refuses
//! with 411 MissingContentLength, as S3 does, but only once it has read it
//! whole (and one over the limit gets the 500): the router answers the 411
//! before reading it instead.

use http::{Method, StatusCode};

/// s3s's default `xml_max_body_size`, which Strata keeps.
const LIMIT: u64 = 20 << 20;

/// What the router does with a request's body before s3s sees it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum WholeBody {
    /// Not one s3s reads whole, or its length is within the limit.
    Pass,
    /// s3s would read it whole and its Content-Length is over the limit.
    TooLong,
    /// s3s would read it whole and its length is not known (chunked): S3
    /// refuses it for its missing Content-Length.
    Unmeasured,
}

impl WholeBody {
    /// The S3 error that refuses the request unread, if it must be.
    pub(crate) fn refusal(&self) -> Option<(StatusCode, &'static str, &'static str)> {
        match self {
            WholeBody::Pass => None,
            WholeBody::TooLong => Some((
                StatusCode::BAD_REQUEST,
                "MaxMessageLengthExceeded",
                "Your request was too big.",
            )),
            WholeBody::Unmeasured => Some((
                StatusCode::LENGTH_REQUIRED,
                "MissingContentLength",
                "You must provide the Content-Length HTTP header.",
            )),
        }
    }
}

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

/// How the request's body must be treated; `to_bucket`: the request names
/// a bucket and no key; `length`: the body's length when known (from its
/// Content-Length, or 0 when it has neither that nor a chunked encoding).
pub(crate) fn classify(
    method: &Method,
    query: Option<&str>,
    to_bucket: bool,
    length: Option<u64>,
) -> WholeBody {
    if !reads_body_whole(method, query.unwrap_or_default(), to_bucket) {
        return WholeBody::Pass;
    }
    match length {
        None => WholeBody::Unmeasured,
        Some(n) if n > LIMIT => WholeBody::TooLong,
        Some(_) => WholeBody::Pass,
    }
}

/// Whether a request path names a bucket and no key: `/` when the bucket is
/// in the Host, else `/bucket` or `/bucket/` (as s3s reads it: in
/// `/bucket//` the key is `/`).
pub(crate) fn names_a_bucket_only(path: &str, virtual_hosted: bool) -> bool {
    if virtual_hosted {
        return path == "/";
    }
    let Some(rest) = path.strip_prefix('/') else {
        return false;
    };
    let name = rest.strip_suffix('/').unwrap_or(rest);
    !name.is_empty() && !name.contains('/')
}

fn reads_body_whole(method: &Method, query: &str, to_bucket: bool) -> bool {
    let has = |name: &str| query.split('&').any(|p| p.split('=').next() == Some(name));
    match *method {
        // DeleteObjects; CompleteMultipartUpload.
        Method::POST => has("delete") || has("uploadId"),
        // CreateBucket (its CreateBucketConfiguration), or a configuration.
        Method::PUT => {
            (to_bucket && query.is_empty())
                || (!has("partNumber") && BODY_READ_WHOLE.iter().any(|s| has(s)))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_only_paths_are_told_from_object_paths() {
        for (path, virtual_hosted, bucket_only) in [
            ("/bucket", false, true),
            ("/bucket/", false, true),
            ("/bucket//", false, false),
            ("/bucket/key", false, false),
            ("//bucket", false, false),
            ("/", false, false),
            ("/", true, true),
            ("/key", true, false),
            ("//", true, false),
        ] {
            assert_eq!(
                names_a_bucket_only(path, virtual_hosted),
                bucket_only,
                "{path} {virtual_hosted}"
            );
        }
    }

    #[test]
    fn only_long_or_unmeasured_bodies_read_whole_are_held() {
        let over = Some(LIMIT + 1);
        let object = |method, query, length| classify(&method, query, false, length);
        for (method, query) in [
            (Method::PUT, "cors"),
            (Method::POST, "delete="),
            (Method::POST, "uploadId=u1"),
            (Method::PUT, "tagging&versionId=v"),
        ] {
            assert_eq!(
                object(method.clone(), Some(query), over),
                WholeBody::TooLong,
                "{query}"
            );
            assert_eq!(
                object(method, Some(query), None),
                WholeBody::Unmeasured,
                "{query}"
            );
        }
        assert_eq!(
            classify(&Method::PUT, None, true, over),
            WholeBody::TooLong,
            "CreateBucket"
        );
        assert_eq!(
            classify(&Method::PUT, None, true, None),
            WholeBody::Unmeasured
        );
        // Streamed bodies: PutObject, UploadPart.
        for query in [
            None,
            Some("partNumber=1&uploadId=u1"),
            Some("x-id=PutObject"),
        ] {
            assert_eq!(
                object(Method::PUT, query, over),
                WholeBody::Pass,
                "{query:?}"
            );
            assert_eq!(
                object(Method::PUT, query, None),
                WholeBody::Pass,
                "{query:?}"
            );
        }
        assert_eq!(
            object(Method::PUT, Some("cors"), Some(LIMIT)),
            WholeBody::Pass
        );
        assert_eq!(classify(&Method::PUT, None, true, Some(0)), WholeBody::Pass);
        assert_eq!(object(Method::GET, Some("cors"), None), WholeBody::Pass);
    }
}
