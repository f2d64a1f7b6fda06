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

/// Whether the request's body is one s3s reads whole and is over the limit;
/// `to_bucket`: the request names a bucket and no key.
pub(crate) fn too_long(
    method: &Method,
    query: Option<&str>,
    to_bucket: bool,
    headers: &HeaderMap,
) -> bool {
    let length = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    length.is_some_and(|n| n > LIMIT)
        && reads_body_whole(method, query.unwrap_or_default(), to_bucket)
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
    fn only_long_bodies_read_whole_are_refused() {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_LENGTH, (LIMIT + 1).into());
        let object = |method, query| too_long(&method, query, false, &headers);
        assert!(object(Method::PUT, Some("cors")));
        assert!(object(Method::POST, Some("delete=")));
        assert!(object(Method::POST, Some("uploadId=u1")));
        assert!(object(Method::PUT, Some("tagging&versionId=v")));
        assert!(too_long(&Method::PUT, None, true, &headers), "CreateBucket");
        // Streamed bodies: PutObject, UploadPart.
        assert!(!object(Method::PUT, None));
        assert!(!object(Method::PUT, Some("partNumber=1&uploadId=u1")));
        assert!(!object(Method::PUT, Some("x-id=PutObject")));
        headers.insert(CONTENT_LENGTH, LIMIT.into());
        assert!(!too_long(&Method::PUT, Some("cors"), false, &headers));
        assert!(!too_long(&Method::PUT, None, true, &headers));
    }
}
