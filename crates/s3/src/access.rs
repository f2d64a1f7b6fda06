//! The s3s access hook: before any operation runs, the core's `authorize`
//! decides from the request's principal, action, target and conditions.
//! Presigned URLs valid for more than seven days are refused here too.

use std::net::SocketAddr;
use std::sync::Arc;

use s3s::access::{S3Access, S3AccessContext};
use s3s::{S3Result, s3_error};
use strata_core::Strata;
use strata_core::access::{AccessRequest, actions};

use crate::error::to_s3;
use crate::request_values::RequestValues;

/// The signer's account, found once by the access hook for the operation.
#[derive(Debug, Clone)]
pub(crate) struct Requester(pub strata_core::AccountRecord);

/// Set when the request was authorized to write a replica (`s3:ReplicateObject`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReplicaWriter;

/// A write's user metadata may mark it a replica (Zenko's
/// `scal-replication-status: REPLICA`, which lets it choose its version id)
/// only if the access hook authorized that; metadata the hook cannot see
/// (a POST form's fields) never can.
pub(crate) fn check_replica_metadata(
    extensions: &http::Extensions,
    attributes: &strata_core::objects::ObjectAttributes,
) -> s3s::S3Result<()> {
    let replica = attributes
        .user_metadata
        .get(strata_core::replication::META_STATUS)
        .is_some_and(|v| v.eq_ignore_ascii_case("REPLICA"));
    if replica && extensions.get::<ReplicaWriter>().is_none() {
        return Err(s3_error!(
            AccessDenied,
            "writing a replica needs s3:ReplicateObject, asked in the x-amz-meta-scal-replication-status header"
        ));
    }
    Ok(())
}

/// The client's address, put in each request's extensions by the server.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PeerAddr(pub SocketAddr);

pub(crate) struct StrataAccess(pub Arc<Strata>);

/// The longest a SigV4 presigned URL may stay valid, in seconds.
const MAX_PRESIGN_EXPIRY: u64 = 7 * 24 * 3600;

fn query_param<'a>(query: Option<&'a str>, name: &str) -> Option<&'a str> {
    query?
        .split('&')
        .find_map(|kv| kv.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
}

/// The bucket, key and version id named by `x-amz-copy-source`.
fn copy_source(header: &str) -> Option<(String, String, Option<String>)> {
    let decoded = urlencoding::decode(header).ok()?;
    let (path, version) = match decoded.split_once("?versionId=") {
        Some((p, v)) => (p, Some(v.to_string())),
        None => (decoded.as_ref(), None),
    };
    let (bucket, key) = path.trim_start_matches('/').split_once('/')?;
    Some((bucket.to_string(), key.to_string(), version))
}

#[async_trait::async_trait]
impl S3Access for StrataAccess {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        let peer = cx.extensions_mut().get::<PeerAddr>().map(|p| p.0.ip());
        let query = cx.uri().query();
        let expires =
            query_param(query, "X-Amz-Expires").map(|v| v.parse::<u64>().unwrap_or(u64::MAX));
        if expires.is_some_and(|e| e > MAX_PRESIGN_EXPIRY) {
            return Err(s3_error!(
                AuthorizationQueryParametersError,
                "X-Amz-Expires must be less than a week (in seconds) that is 604800"
            ));
        }
        let principal = match cx.credentials() {
            Some(c) => match self.0.lookup_key(&c.access_key).map_err(to_s3)? {
                Some((_, account)) => Some(account),
                None => return Err(s3_error!(InvalidAccessKeyId)),
            },
            None => None,
        };

        let operation = cx.s3_op().name();
        let Some(bucket) = cx.s3_path().get_bucket_name() else {
            // ListBuckets and the like: any signed-in account, for itself.
            return match principal {
                Some(_) => Ok(()),
                None => Err(s3_error!(AccessDenied, "Access Denied")),
            };
        };
        if operation == "CreateBucket" {
            return match principal {
                Some(_) => Ok(()),
                None => Err(s3_error!(AccessDenied, "Access Denied")),
            };
        }
        let values = RequestValues {
            headers: cx.headers(),
            query,
            source_ip: peer,
        };
        let lookup = |name: &str| values.get(name);
        let version_id = query_param(query, "versionId")
            .and_then(|v| urlencoding::decode(v).ok())
            .map(|v| v.into_owned());
        let request = AccessRequest {
            principal: principal.as_ref(),
            action: actions::for_operation(operation, version_id.is_some()),
            bucket,
            key: cx.s3_path().get_object_key(),
            version_id: version_id.as_deref(),
            values: &lookup,
        };
        self.0.authorize(&request).map_err(to_s3)?;
        if let Some(expected) = cx.headers().get("x-amz-expected-bucket-owner") {
            let owner = self
                .0
                .meta
                .get_bucket(bucket)
                .map_err(|e| to_s3(e.into()))?;
            if owner.is_some_and(|b| expected.as_bytes() != b.owner.as_bytes()) {
                return Err(s3_error!(AccessDenied, "Access Denied"));
            }
        }
        // Lifting a GOVERNANCE retention is a permission of its own.
        let bypass = cx
            .headers()
            .get("x-amz-bypass-governance-retention")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"true"));
        if bypass {
            let lift = AccessRequest {
                action: "BypassGovernanceRetention",
                ..request
            };
            self.0.authorize(&lift).map_err(to_s3)?;
        }
        // Writing a replica (a version with its source's id) is a permission of its own.
        let replica = cx
            .headers()
            .get("x-amz-meta-scal-replication-status")
            .is_some_and(|v| v.as_bytes() == b"REPLICA");
        if replica
            && matches!(
                operation,
                "PutObject" | "CreateMultipartUpload" | "CopyObject"
            )
        {
            let replicate = AccessRequest {
                action: "ReplicateObject",
                ..request
            };
            self.0.authorize(&replicate).map_err(to_s3)?;
        }
        // A copy also reads its source.
        if matches!(operation, "CopyObject" | "UploadPartCopy")
            && let Some((src_bucket, src_key, src_version)) = cx
                .headers()
                .get("x-amz-copy-source")
                .and_then(|h| h.to_str().ok())
                .and_then(copy_source)
        {
            let source = AccessRequest {
                action: actions::for_operation("GetObject", src_version.is_some()),
                bucket: &src_bucket,
                key: Some(&src_key),
                version_id: src_version.as_deref(),
                ..request
            };
            self.0.authorize(&source).map_err(to_s3)?;
        }
        // The operation acts as this account: no second lookup.
        if let Some(account) = principal {
            cx.extensions_mut().insert(Requester(account));
        }
        if replica {
            cx.extensions_mut().insert(ReplicaWriter);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_sources_parse() {
        assert_eq!(
            copy_source("/b/dir/k%20x?versionId=v1"),
            Some(("b".into(), "dir/k x".into(), Some("v1".into())))
        );
        assert_eq!(copy_source("b/k"), Some(("b".into(), "k".into(), None)));
        assert_eq!(copy_source("nokey"), None);
    }
}
