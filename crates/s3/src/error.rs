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
        Error::NoSuchKey => C::NoSuchKey,
        Error::NoSuchUpload => C::NoSuchUpload,
        Error::BucketAlreadyExists => C::BucketAlreadyExists,
        Error::BucketAlreadyOwnedByYou => C::BucketAlreadyOwnedByYou,
        Error::BucketNotEmpty => C::BucketNotEmpty,
        Error::InvalidBucketName(_) => C::InvalidBucketName,
        Error::InvalidLocationConstraint(_) => C::InvalidLocationConstraint,
        Error::PreconditionFailed => C::PreconditionFailed,
        Error::NotModified => C::NotModified,
        Error::InvalidRange => C::InvalidRange,
        Error::InvalidArgument(_) => C::InvalidArgument,
        Error::InvalidRequest(_) => C::InvalidRequest,
        Error::MalformedXml(_) => C::MalformedXML,
        Error::InvalidPart(_) => C::InvalidPart,
        Error::InvalidPartOrder => C::InvalidPartOrder,
        Error::EntityTooSmall => C::EntityTooSmall,
        Error::EntityTooLarge => C::EntityTooLarge,
        Error::BadDigest(_) => C::BadDigest,
        Error::InvalidDigest => C::InvalidDigest,
        Error::MetadataTooLarge => C::MetadataTooLarge,
        Error::KeyTooLong => C::KeyTooLongError,
        Error::IncompleteBody(io) => return body_error(io),
        Error::NoSuchConfiguration(kind) => return missing_config(kind, message),
        Error::InvalidTag(_) => C::InvalidTag,
        Error::InvalidStorageClass(_) => C::InvalidStorageClass,
        Error::NotImplemented(_) => C::NotImplemented,
        Error::ServiceUnavailable(_) => C::ServiceUnavailable,
        Error::Internal(_) => {
            tracing::error!(error = %message, "internal error");
            C::InternalError
        }
    };
    S3Error::with_message(code, message)
}

/// A body that failed: when s3s itself rejected it (a bad chunk signature,
/// a malformed aws-chunked frame) its S3 error is kept; otherwise the client
/// sent less than it announced.
fn body_error(io: std::io::Error) -> S3Error {
    let message = io.to_string();
    match io.into_inner().map(|inner| inner.downcast::<S3Error>()) {
        Some(Ok(s3)) => *s3,
        _ => S3Error::with_message(S3ErrorCode::IncompleteBody, message),
    }
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
