//! The one place where core errors become S3 error codes and statuses.

use s3s::{S3Error, S3ErrorCode};
use strata_core::Error;

pub(crate) fn to_s3(e: Error) -> S3Error {
    use S3ErrorCode as C;
    let message = e.to_string();
    let code = match e {
        Error::AccessDenied => C::AccessDenied,
        Error::NoSuchBucket => C::NoSuchBucket,
        Error::NoSuchKey => C::NoSuchKey,
        Error::NoSuchVersion => C::NoSuchVersion,
        Error::InvalidVersionId => C::InvalidArgument,
        Error::DeleteMarker {
            version_id,
            current,
        } => return delete_marker(&version_id, current, message),
        Error::InvalidTag(_) => C::InvalidTag,
        Error::NoSuchTagSet => C::NoSuchTagSet,
        Error::OperationAborted => C::OperationAborted,
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
    let mut err = if current {
        S3Error::with_message(S3ErrorCode::NoSuchKey, "The specified key does not exist.")
    } else {
        S3Error::with_message(S3ErrorCode::MethodNotAllowed, message)
    };
    let mut headers = http::HeaderMap::new();
    headers.insert("x-amz-delete-marker", http::HeaderValue::from_static("true"));
    if let Ok(v) = http::HeaderValue::from_str(version_id) {
        headers.insert("x-amz-version-id", v);
    }
    err.set_headers(headers);
    err
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
