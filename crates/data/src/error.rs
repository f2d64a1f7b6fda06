//! The one error type of the data layer.

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("blob not found: {0}")]
    NotFound(String),
    #[error("invalid blob key: {0}")]
    InvalidKey(String),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}
