//! The one error type of the data layer. A location that cannot be reached or
//! refuses a request is `Unavailable`, with a message naming the location.

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("blob not found: {0}")]
    NotFound(String),
    #[error("invalid blob key: {0}")]
    InvalidKey(String),
    /// Object-copy attributes this location cannot store as given.
    #[error("invalid copy attributes: {0}")]
    InvalidAttributes(String),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The backend failed or timed out.
    #[error("{0}")]
    Unavailable(String),
    /// The backend answered and refused this request (access denied, a
    /// failed precondition): it is up, so its breaker stays closed.
    #[error("{0}")]
    Refused(String),
    /// The location's circuit breaker refused the call (nothing was sent)
    /// after repeated failures; it lets one through again in `retry_in`.
    #[error("{message}")]
    CircuitOpen {
        message: String,
        retry_in: std::time::Duration,
    },
    /// A location declaration that cannot be used as written.
    #[error("{0}")]
    Config(String),
    /// The backend cannot do this itself (the caller falls back).
    #[error("not supported by this location type")]
    Unsupported,
}
