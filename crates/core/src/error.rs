//! The core's one error type. Each variant is an outcome an S3 client can be
//! told about; the frontend maps them to S3 codes in one place.

use strata_meta::MetaError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("access denied")]
    AccessDenied,
    #[error("the specified bucket does not exist")]
    NoSuchBucket,
    #[error("the specified key does not exist")]
    NoSuchKey,
    #[error("the specified upload does not exist")]
    NoSuchUpload,
    #[error("the requested bucket name is not available")]
    BucketAlreadyExists,
    #[error("your previous request to create the named bucket succeeded and you already own it")]
    BucketAlreadyOwnedByYou,
    #[error("the bucket you tried to delete is not empty")]
    BucketNotEmpty,
    #[error("the specified bucket is not valid: {0}")]
    InvalidBucketName(String),
    #[error("the specified location-constraint is not valid: {0}")]
    InvalidLocationConstraint(String),
    #[error("at least one of the preconditions you specified did not hold")]
    PreconditionFailed,
    #[error("not modified")]
    NotModified,
    #[error("the requested range is not satisfiable")]
    InvalidRange,
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    InvalidPart(String),
    #[error("the list of parts was not in ascending order")]
    InvalidPartOrder,
    #[error("your proposed upload is smaller than the minimum allowed object size")]
    EntityTooSmall,
    #[error("your proposed upload exceeds the maximum allowed size")]
    EntityTooLarge,
    #[error("{0}")]
    BadDigest(String),
    #[error("the Content-MD5 you specified is not valid")]
    InvalidDigest,
    #[error("your metadata headers exceed the maximum allowed metadata size")]
    MetadataTooLarge,
    #[error("your key is too long")]
    KeyTooLong,
    #[error("the request body ended early or could not be read: {0}")]
    IncompleteBody(#[source] std::io::Error),
    #[error("{0}")]
    ServiceUnavailable(String),
    #[error("{0}")]
    Internal(String),
}

impl From<MetaError> for Error {
    fn from(e: MetaError) -> Self {
        match e {
            MetaError::NoSuchBucket => Error::NoSuchBucket,
            MetaError::BucketNotEmpty => Error::BucketNotEmpty,
            MetaError::NoSuchUpload => Error::NoSuchUpload,
            MetaError::PreconditionFailed => Error::PreconditionFailed,
            // Callers that care (create_bucket) handle BucketExists themselves.
            MetaError::BucketExists { .. } => Error::BucketAlreadyExists,
            MetaError::NoSuchAccount => Error::InvalidArgument("no such account".into()),
            MetaError::AccountHasBuckets => {
                Error::InvalidRequest("the account still owns buckets".into())
            }
            MetaError::Storage(_) | MetaError::Corrupt(_) => Error::Internal(e.to_string()),
        }
    }
}

impl From<strata_data::DataError> for Error {
    fn from(e: strata_data::DataError) -> Self {
        Error::Internal(format!("data: {e}"))
    }
}
