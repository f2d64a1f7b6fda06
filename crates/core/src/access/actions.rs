//! The S3 action names policies may use (without `s3:`). A policy naming an
//! action not listed here is refused as malformed, as S3 does.

const ACTIONS: &[&str] = &[
    "AbortMultipartUpload",
    "BypassGovernanceRetention",
    "CreateBucket",
    "DeleteBucket",
    "DeleteBucketOwnershipControls",
    "DeleteBucketPolicy",
    "DeleteBucketWebsite",
    "DeleteObject",
    "DeleteObjectTagging",
    "DeleteObjectVersion",
    "DeleteObjectVersionTagging",
    "GetAccelerateConfiguration",
    "GetBucketAcl",
    "GetBucketCORS",
    "GetBucketLocation",
    "GetBucketLogging",
    "GetBucketNotification",
    "GetBucketObjectLockConfiguration",
    "GetBucketOwnershipControls",
    "GetBucketPolicy",
    "GetBucketPolicyStatus",
    "GetBucketPublicAccessBlock",
    "GetBucketRequestPayment",
    "GetBucketTagging",
    "GetBucketVersioning",
    "GetBucketWebsite",
    "GetEncryptionConfiguration",
    "GetLifecycleConfiguration",
    "GetObject",
    "GetObjectAcl",
    "GetObjectAttributes",
    "GetObjectLegalHold",
    "GetObjectRetention",
    "GetObjectTagging",
    "GetObjectVersion",
    "GetObjectVersionAcl",
    "GetObjectVersionAttributes",
    "GetObjectVersionTagging",
    "GetReplicationConfiguration",
    "ListAllMyBuckets",
    "ListBucket",
    "ListBucketMultipartUploads",
    "ListBucketVersions",
    "ListMultipartUploadParts",
    "PutAccelerateConfiguration",
    "PutBucketAcl",
    "PutBucketCORS",
    "PutBucketLogging",
    "PutBucketNotification",
    "PutBucketObjectLockConfiguration",
    "PutBucketOwnershipControls",
    "PutBucketPolicy",
    "PutBucketPublicAccessBlock",
    "PutBucketRequestPayment",
    "PutBucketTagging",
    "PutBucketVersioning",
    "PutBucketWebsite",
    "PutEncryptionConfiguration",
    "PutLifecycleConfiguration",
    "PutObject",
    "PutObjectAcl",
    "PutObjectLegalHold",
    "PutObjectRetention",
    "PutObjectTagging",
    "PutObjectVersionAcl",
    "PutObjectVersionTagging",
    "PutReplicationConfiguration",
    "ReplicateDelete",
    "ReplicateObject",
    "ReplicateTags",
    "RestoreObject",
];

/// Whether S3 knows this action (exact case, as policies must spell it).
pub fn is_action(name: &str) -> bool {
    ACTIONS.binary_search(&name).is_ok()
}

/// The action an S3 operation needs. `versioned`: the request names a
/// version id, which some operations check under a separate action.
pub fn for_operation(operation: &str, versioned: bool) -> &str {
    let pick = |plain: &'static str, version: &'static str| if versioned { version } else { plain };
    match operation {
        "GetObject" | "HeadObject" => pick("GetObject", "GetObjectVersion"),
        "DeleteObject" => pick("DeleteObject", "DeleteObjectVersion"),
        "GetObjectAcl" => pick("GetObjectAcl", "GetObjectVersionAcl"),
        "PutObjectAcl" => pick("PutObjectAcl", "PutObjectVersionAcl"),
        "GetObjectTagging" => pick("GetObjectTagging", "GetObjectVersionTagging"),
        "PutObjectTagging" => pick("PutObjectTagging", "PutObjectVersionTagging"),
        "DeleteObjectTagging" => pick("DeleteObjectTagging", "DeleteObjectVersionTagging"),
        "GetObjectAttributes" => pick("GetObjectAttributes", "GetObjectVersionAttributes"),
        "HeadBucket" | "ListObjects" | "ListObjectsV2" => "ListBucket",
        "ListObjectVersions" => "ListBucketVersions",
        "ListMultipartUploads" => "ListBucketMultipartUploads",
        "ListParts" => "ListMultipartUploadParts",
        "CreateMultipartUpload"
        | "UploadPart"
        | "UploadPartCopy"
        | "CompleteMultipartUpload"
        | "CopyObject"
        | "PostObject" => "PutObject",
        "DeleteObjects" => "DeleteObject",
        "ListBuckets" => "ListAllMyBuckets",
        "PutBucketCors" | "DeleteBucketCors" => "PutBucketCORS",
        "GetBucketCors" => "GetBucketCORS",
        "PutBucketLifecycleConfiguration" | "DeleteBucketLifecycle" => "PutLifecycleConfiguration",
        "GetBucketLifecycleConfiguration" | "GetBucketLifecycle" => "GetLifecycleConfiguration",
        "PutBucketReplication" | "DeleteBucketReplication" => "PutReplicationConfiguration",
        "GetBucketReplication" => "GetReplicationConfiguration",
        "PutBucketNotificationConfiguration" => "PutBucketNotification",
        "GetBucketNotificationConfiguration" => "GetBucketNotification",
        "PutBucketEncryption" | "DeleteBucketEncryption" => "PutEncryptionConfiguration",
        "GetBucketEncryption" => "GetEncryptionConfiguration",
        "DeleteBucketTagging" => "PutBucketTagging",
        "PutObjectLockConfiguration" => "PutBucketObjectLockConfiguration",
        "GetObjectLockConfiguration" => "GetBucketObjectLockConfiguration",
        "PutPublicAccessBlock" | "DeletePublicAccessBlock" => "PutBucketPublicAccessBlock",
        "GetPublicAccessBlock" => "GetBucketPublicAccessBlock",
        "GetBucketAccelerateConfiguration" => "GetAccelerateConfiguration",
        "PutBucketAccelerateConfiguration" => "PutAccelerateConfiguration",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_is_sorted_for_binary_search() {
        assert!(ACTIONS.windows(2).all(|w| w[0] < w[1]));
        assert!(is_action("GetObject") && !is_action("getobject") && !is_action("Fly"));
    }

    #[test]
    fn operations_map_to_their_actions() {
        assert_eq!(for_operation("HeadObject", true), "GetObjectVersion");
        assert_eq!(for_operation("ListObjectsV2", false), "ListBucket");
        assert_eq!(for_operation("PutBucketPolicy", false), "PutBucketPolicy");
        assert!(
            ACTIONS
                .iter()
                .all(|a| for_operation(a, false) == *a || a.contains("Version"))
        );
    }
}
