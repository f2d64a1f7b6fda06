//! The one place where core errors become S3 error codes and statuses.

use http::StatusCode;
use s3s::{S3Error, S3ErrorCode};
use strata_core::Error;
use strata_core::meta::BucketConfigKind;

pub(crate) fn to_s3(e: Error) -> S3Error {
    use S3ErrorCode as C;
    let message = e.to_string();
    let code = match e {
        Error::AccessDenied => C::AccessDenied,
        Error::NoSuchBucket => C::NoSuchBucket,
        // S3 tells a missing key apart from a hidden one even here.
        Error::NoSuchKey => {
            return with_delete_marker_header(
                S3Error::with_message(C::NoSuchKey, message),
                false,
                None,
            );
        }
        Error::NoSuchVersion => C::NoSuchVersion,
        Error::InvalidVersionId => C::InvalidArgument,
        Error::DeleteMarker {
            version_id,
            current,
        } => return delete_marker(&version_id, current, message),
        Error::InvalidTag(_) => C::InvalidTag,
        Error::OperationAborted => C::OperationAborted,
        Error::MalformedPolicy(_) => C::MalformedPolicy,
        Error::PolicyTooLarge => return bad_request("PolicyTooLarge", message),
        Error::AccessControlListNotSupported => C::AccessControlListNotSupported,
        Error::InvalidBucketAclWithObjectOwnership => C::InvalidBucketAclWithObjectOwnership,
        Error::NoSuchBucketPolicy => C::NoSuchBucketPolicy,
        Error::InvalidBucketState(_) => C::InvalidBucketState,
        Error::ObjectLockConfigurationNotFound => C::ObjectLockConfigurationNotFoundError,
        Error::NoSuchObjectLockConfiguration => C::NoSuchObjectLockConfiguration,
        Error::InvalidRetentionPeriod => return bad_request("InvalidRetentionPeriod", message),
        Error::ObjectLocked => C::AccessDenied,
        Error::NoSuchUpload => C::NoSuchUpload,
        Error::BucketAlreadyExists => C::BucketAlreadyExists,
        Error::BucketAlreadyOwnedByYou => C::BucketAlreadyOwnedByYou,
        Error::BucketNotEmpty => C::BucketNotEmpty,
        Error::InvalidBucketName(_) => C::InvalidBucketName,
        Error::InvalidLocationConstraint(_) => C::InvalidLocationConstraint,
        Error::PreconditionFailed => C::PreconditionFailed,
        Error::NotModified { etag } => {
            let mut err = S3Error::with_message(C::NotModified, message);
            if let Ok(v) = http::HeaderValue::from_str(&format!("\"{etag}\"")) {
                let mut headers = http::HeaderMap::new();
                headers.insert(http::header::ETAG, v);
                err.set_headers(headers);
            }
            return err;
        }
        Error::InvalidRange => C::InvalidRange,
        Error::InvalidArgument(_) => C::InvalidArgument,
        Error::InvalidRequest(_) | Error::NoSuchLocation(_) | Error::LocationConflict(_) => {
            C::InvalidRequest
        }
        Error::MalformedXml(_) => C::MalformedXML,
        Error::InvalidPart(_) => C::InvalidPart,
        Error::InvalidPartOrder => C::InvalidPartOrder,
        Error::EntityTooSmall => C::EntityTooSmall,
        Error::EntityTooLarge => C::EntityTooLarge,
        Error::MissingContentLength => C::MissingContentLength,
        Error::BadDigest(_) => C::BadDigest,
        Error::InvalidDigest => C::InvalidDigest,
        Error::MetadataTooLarge => C::MetadataTooLarge,
        Error::KeyTooLong => C::KeyTooLongError,
        Error::IncompleteBody(io) => return body_error(io),
        Error::NoSuchConfiguration(kind) => return missing_config(kind, message),
        Error::InvalidStorageClass(_) => C::InvalidStorageClass,
        Error::ServiceUnavailable(_) => C::ServiceUnavailable,
        Error::Internal(_) => {
            tracing::error!(error = %message, "internal error");
            C::InternalError
        }
    };
    S3Error::with_message(code, message)
}

/// A delete marker where an object was asked for: S3 says so in headers,
/// with 404 NoSuchKey for the current version, 405 for a named one.
fn delete_marker(version_id: &str, current: bool, message: String) -> S3Error {
    let err = if current {
        S3Error::with_message(S3ErrorCode::NoSuchKey, "The specified key does not exist.")
    } else {
        S3Error::with_message(S3ErrorCode::MethodNotAllowed, message)
    };
    with_delete_marker_header(err, true, Some(version_id))
}

fn with_delete_marker_header(mut err: S3Error, marker: bool, version_id: Option<&str>) -> S3Error {
    let mut headers = http::HeaderMap::new();
    let flag = if marker { "true" } else { "false" };
    headers.insert("x-amz-delete-marker", http::HeaderValue::from_static(flag));
    if let Some(v) = version_id.and_then(|v| http::HeaderValue::from_str(v).ok()) {
        headers.insert("x-amz-version-id", v);
    }
    err.set_headers(headers);
    err
}

/// A body that failed: an S3 error s3s put there is kept; a client idle too
/// long gets `RequestTimeout`; a chunk or payload that fails s3s's checks
/// gets S3's code for it; otherwise the client sent less than it announced.
/// (s3s's stream errors are private types, told apart by their text; the
/// s3s version is pinned and `tests/test_auth.py` sends each case.)
fn body_error(io: std::io::Error) -> S3Error {
    let message = io.to_string();
    if let Some(Ok(s3)) = io.into_inner().map(|inner| inner.downcast::<S3Error>()) {
        return *s3;
    }
    let (code, status) = if message.contains(crate::idle_body::IDLE_MESSAGE) {
        (S3ErrorCode::RequestTimeout, StatusCode::BAD_REQUEST)
    } else if message.contains("AwsChunkedStreamError: SignatureMismatch") {
        (S3ErrorCode::SignatureDoesNotMatch, StatusCode::FORBIDDEN)
    } else if message.contains("UploadStreamError: Sha256Mismatch") {
        (
            S3ErrorCode::Custom("XAmzContentSHA256Mismatch".into()),
            StatusCode::BAD_REQUEST,
        )
    } else {
        (S3ErrorCode::IncompleteBody, StatusCode::BAD_REQUEST)
    };
    let mut err = S3Error::with_message(code, message);
    err.set_status_code(status);
    err
}

/// A 400 with a code s3s does not know.
fn bad_request(code: &'static str, message: String) -> S3Error {
    let mut err = S3Error::with_message(S3ErrorCode::Custom(code.into()), message);
    err.set_status_code(StatusCode::BAD_REQUEST);
    err
}

/// S3's code for a bucket without a configuration of this kind; all answer
/// 404 (s3s lists ServerSideEncryptionConfigurationNotFoundError as 400, AWS
/// answers 404).
fn missing_config(kind: BucketConfigKind, message: String) -> S3Error {
    use BucketConfigKind as K;
    use S3ErrorCode as C;
    let code = match kind {
        K::Tagging => C::NoSuchTagSet,
        K::Cors => C::NoSuchCORSConfiguration,
        K::Website => C::NoSuchWebsiteConfiguration,
        K::Lifecycle => C::NoSuchLifecycleConfiguration,
        K::Replication => C::ReplicationConfigurationNotFoundError,
        K::Encryption => C::ServerSideEncryptionConfigurationNotFoundError,
        K::Ownership => C::OwnershipControlsNotFoundError,
        K::PublicAccessBlock => C::Custom("NoSuchPublicAccessBlockConfiguration".into()),
        K::Policy => C::NoSuchBucketPolicy,
        K::ObjectLock => C::ObjectLockConfigurationNotFoundError,
        K::Notification | K::Acl => C::Custom("NoSuchConfiguration".into()),
    };
    let mut e = S3Error::with_message(code, message);
    e.set_status_code(StatusCode::NOT_FOUND);
    e
}
