//! The core's one error type. Each variant is an outcome an S3 client can be
//! told about; the frontend maps them to S3 codes in one place.

use strata_meta::{BucketConfigKind, MetaError};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Access Denied")]
    AccessDenied,
    #[error("The specified bucket does not exist")]
    NoSuchBucket,
    #[error("The specified key does not exist.")]
    NoSuchKey,
    #[error("The specified version does not exist.")]
    NoSuchVersion,
    #[error("Invalid version id specified")]
    InvalidVersionId,
    /// The version asked for is a delete marker: for the current version S3
    /// answers 404 NoSuchKey, for a named version 405 MethodNotAllowed.
    #[error("The specified method is not allowed against this resource.")]
    DeleteMarker { version_id: String, current: bool },
    #[error("{0}")]
    InvalidTag(String),
    #[error("{0}")]
    InvalidBucketState(String),
    #[error("Object Lock configuration does not exist for this bucket")]
    ObjectLockConfigurationNotFound,
    #[error("The specified object does not have a ObjectLock configuration")]
    NoSuchObjectLockConfiguration,
    #[error("Default retention period must be a positive integer value.")]
    InvalidRetentionPeriod,
    #[error("Access Denied because object protected by object lock.")]
    ObjectLocked,
    #[error("{0}")]
    MalformedPolicy(String),
    #[error("Policy exceeds the maximum allowed document size.")]
    PolicyTooLarge,
    #[error("The bucket does not allow ACLs")]
    AccessControlListNotSupported,
    #[error("Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting")]
    InvalidBucketAclWithObjectOwnership,
    #[error("The bucket policy does not exist")]
    NoSuchBucketPolicy,
    #[error(
        "A conflicting conditional operation is currently in progress against this resource. Please try again."
    )]
    OperationAborted,
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
    /// A conditional read whose object has not changed; S3 still sends its ETag.
    #[error("Not Modified")]
    NotModified { etag: String },
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
    #[error("You must provide the Content-Length HTTP header.")]
    MissingContentLength,
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
    #[error("{}", missing_config(*.0))]
    NoSuchConfiguration(BucketConfigKind),
    #[error("The storage class you specified is not valid: {0} is not a location of this server")]
    InvalidStorageClass(String),
    /// Administration of locations: none of that name.
    #[error("{0}")]
    NoSuchLocation(String),
    /// Administration of locations: the name is taken, or still in use.
    #[error("{0}")]
    LocationConflict(String),
    #[error("{0}")]
    ServiceUnavailable(String),
    #[error("{0}")]
    Internal(String),
}

/// S3's message for a bucket without a configuration of this kind.
fn missing_config(kind: BucketConfigKind) -> &'static str {
    use BucketConfigKind as K;
    match kind {
        K::Tagging => "The TagSet does not exist",
        K::Cors => "The CORS configuration does not exist",
        K::Website => "The specified bucket does not have a website configuration",
        K::Lifecycle => "The lifecycle configuration does not exist",
        K::Replication => "The replication configuration was not found",
        K::Notification => "The notification configuration does not exist",
        K::Encryption => "The server side encryption configuration was not found",
        K::Ownership => "The bucket ownership controls were not found",
        K::PublicAccessBlock => "The public access block configuration was not found",
        K::Policy => "The bucket policy does not exist",
        K::Acl => "The bucket ACL does not exist",
        K::ObjectLock => "Object Lock configuration does not exist for this bucket",
    }
}

impl From<MetaError> for Error {
    fn from(e: MetaError) -> Self {
        match e {
            MetaError::NoSuchBucket => Error::NoSuchBucket,
            MetaError::BucketNotEmpty => Error::BucketNotEmpty,
            MetaError::NoSuchUpload => Error::NoSuchUpload,
            MetaError::NoSuchKey => Error::NoSuchKey,
            MetaError::NoSuchVersion => Error::NoSuchVersion,
            MetaError::InvalidVersionId => Error::InvalidVersionId,
            MetaError::DeleteMarker { version_id } => Error::DeleteMarker {
                version_id: version_id.unwrap_or_else(|| strata_meta::NULL_VERSION.into()),
                current: false,
            },
            MetaError::Conflict(_) => Error::OperationAborted,
            MetaError::ObjectLocked => Error::ObjectLocked,
            MetaError::PreconditionFailed => Error::PreconditionFailed,
            // Callers that care (create_bucket) handle BucketExists themselves.
            MetaError::BucketExists { .. } => Error::BucketAlreadyExists,
            MetaError::NoSuchAccount => Error::InvalidArgument("no such account".into()),
            MetaError::AccountHasBuckets => {
                Error::InvalidRequest("the account still owns buckets".into())
            }
            MetaError::NoSuchLocation(_) => Error::NoSuchLocation(e.to_string()),
            MetaError::LocationExists(_) | MetaError::LocationInUse { .. } => {
                Error::LocationConflict(e.to_string())
            }
            MetaError::Storage(_) | MetaError::Corrupt(_) => Error::Internal(e.to_string()),
        }
    }
}

impl From<strata_data::DataError> for Error {
    fn from(e: strata_data::DataError) -> Self {
        use strata_data::DataError as D;
        match e {
            // The message names the location (its guard adds the name).
            D::Unavailable(m)
            | D::Refused(m)
            | D::Config(m)
            | D::CircuitOpen { message: m, .. } => Error::ServiceUnavailable(m),
            other => Error::Internal(format!("data: {other}")),
        }
    }
}
