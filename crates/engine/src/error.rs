//! The engine's one error type.

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("engine storage: {0}")]
    Storage(String),
    #[error(transparent)]
    Meta(#[from] strata_meta::MetaError),
    #[error(transparent)]
    Data(#[from] strata_data::DataError),
    #[error(transparent)]
    Core(#[from] strata_core::Error),
    #[error("bad message: {0}")]
    Decode(#[from] serde_json::Error),
    #[error("{0}")]
    Invalid(String),
    #[error("engine runtime: {0}")]
    Runtime(#[from] std::io::Error),
}

macro_rules! storage_error_from {
    ($($t:ty),*) => {$(
        impl From<$t> for EngineError {
            fn from(e: $t) -> Self {
                EngineError::Storage(e.to_string())
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
    redb::CommitError,
    redb::SetDurabilityError
);
