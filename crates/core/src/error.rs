//! The core's one error type. Each variant is an outcome an S3 client can be
//! told about; the frontend maps them to S3 codes in one place.

use strata_meta::MetaError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Access Denied")]
    AccessDenied,
    #[error("The specified bucket does not exist")]
    NoSuchBucket,
    #[error("The specified key does not exist.")]
    NoSuchKey,
    #[error(
        "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed."
    )]
    NoSuchUpload,
    #[error(
        "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again."
    )]
    BucketAlreadyExists,
    #[error("Your previous request to create the named bucket succeeded and you already own it.")]
    BucketAlreadyOwnedByYou,
    #[error("The bucket you tried to delete is not empty")]
    BucketNotEmpty,
    #[error("The specified bucket is not valid: {0}")]
    InvalidBucketName(String),
    #[error("The specified location-constraint is not valid: {0}")]
    InvalidLocationConstraint(String),
    #[error("At least one of the pre-conditions you specified did not hold")]
    PreconditionFailed,
    #[error("Not Modified")]
    NotModified,
    #[error("The requested range is not satisfiable")]
    InvalidRange,
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    InvalidRequest(String),
    #[error(
        "The XML you provided was not well-formed or did not validate against our published schema: {0}"
    )]
    MalformedXml(String),
    #[error("{0}")]
    InvalidPart(String),
    #[error(
        "The list of parts was not in ascending order. The parts list must be specified in order by part number."
    )]
    InvalidPartOrder,
    #[error("Your proposed upload is smaller than the minimum allowed object size.")]
    EntityTooSmall,
    #[error("Your proposed upload exceeds the maximum allowed size")]
    EntityTooLarge,
    #[error("{0}")]
    BadDigest(String),
    #[error("The Content-MD5 you specified was invalid.")]
    InvalidDigest,
    #[error("Your metadata headers exceed the maximum allowed metadata size.")]
    MetadataTooLarge,
    #[error("Your key is too long")]
    KeyTooLong,
    #[error(
        "You did not provide the number of bytes specified by the Content-Length HTTP header: {0}"
    )]
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
            MetaError::LocationExists(_)
            | MetaError::NoSuchLocation(_)
            | MetaError::LocationInUse { .. } => Error::InvalidRequest(e.to_string()),
            MetaError::Storage(_) | MetaError::Corrupt(_) => Error::Internal(e.to_string()),
        }
    }
}

impl From<strata_data::DataError> for Error {
    fn from(e: strata_data::DataError) -> Self {
        use strata_data::DataError as D;
        match e {
            // The message names the location (its guard adds the name).
            D::Unavailable(m) | D::Config(m) => Error::ServiceUnavailable(m),
            other => Error::Internal(format!("data: {other}")),
        }
    }
}
