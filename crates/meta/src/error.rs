//! The one error type of the metadata layer. Validation outcomes (a bucket
//! that exists, a failed precondition) are distinct from storage failures.

#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    #[error("bucket already exists (owner {owner})")]
    BucketExists { owner: String },
    #[error("no such bucket")]
    NoSuchBucket,
    #[error("bucket is not empty")]
    BucketNotEmpty,
    #[error("no such upload")]
    NoSuchUpload,
    #[error("no such key")]
    NoSuchKey,
    #[error("no such version")]
    NoSuchVersion,
    #[error("invalid version id")]
    InvalidVersionId,
    #[error("the version is a delete marker")]
    DeleteMarker { version_id: Option<String> },
    #[error("the version is protected by Object Lock")]
    ObjectLocked,
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("precondition failed")]
    PreconditionFailed,
    #[error("no such account")]
    NoSuchAccount,
    #[error("account still owns buckets")]
    AccountHasBuckets,
    #[error("location {0} already exists")]
    LocationExists(String),
    #[error("no such location: {0}")]
    NoSuchLocation(String),
    #[error("location {name} still holds data: {why}")]
    LocationInUse { name: String, why: String },
    #[error("metadata storage error: {0}")]
    Storage(String),
    #[error("corrupt metadata record: {0}")]
    Corrupt(String),
}

impl MetaError {
    /// Storage failures abort the whole group commit they were part of;
    /// validation outcomes only fail their own request.
    pub fn is_fatal(&self) -> bool {
        matches!(self, MetaError::Storage(_) | MetaError::Corrupt(_))
    }
}

macro_rules! storage_error_from {
    ($($t:ty),*) => {$(
        impl From<$t> for MetaError {
            fn from(e: $t) -> Self {
                MetaError::Storage(e.to_string())
            }
        }
    )*};
}
storage_error_from!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

impl From<serde_json::Error> for MetaError {
    fn from(e: serde_json::Error) -> Self {
        MetaError::Corrupt(e.to_string())
    }
}
