//! Strata's background engine (Backbeat's model): the populator tails the
//! metadata journal and hands entries to extensions, which publish to the
//! bus; processors consume the bus and do the work. Never serves requests.

pub mod bus;
mod error;

pub use error::EngineError;

pub type Result<T, E = EngineError> = std::result::Result<T, E>;
