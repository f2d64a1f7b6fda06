//! Strata's data layer: the `DataBackend` trait (one location's blob store)
//! and its `fs` and `mem` implementations. Blobs are opaque bytes under keys
//! chosen by the core; this layer knows nothing of buckets, objects or S3.

mod error;
mod fs;
mod mem;

use std::ops::Range;
use std::pin::Pin;

use bytes::Bytes;
use futures::Stream;

pub use error::DataError;
pub use fs::FsBackend;
pub use mem::MemBackend;

pub type Result<T, E = DataError> = std::result::Result<T, E>;

/// A stream of a blob's bytes, read lazily with bounded memory.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes>> + Send>>;

/// One location's blob store.
#[async_trait::async_trait]
pub trait DataBackend: Send + Sync + 'static {
    /// The location type: `fs`, `mem`, ...
    fn kind(&self) -> &'static str;
    /// Readiness: the backend can be written and read.
    async fn check(&self) -> Result<()>;
    /// Starts writing a new blob; it exists only once the writer commits.
    async fn create(&self, key: &str) -> Result<Box<dyn BlobWriter>>;
    /// Streams `range` of a blob (the caller knows the blob's size).
    async fn read(&self, key: &str, range: Range<u64>) -> Result<ByteStream>;
    /// Removes a blob; removing a missing blob succeeds (gc retries are harmless).
    async fn delete(&self, key: &str) -> Result<()>;
}

/// An open blob being written.
#[async_trait::async_trait]
pub trait BlobWriter: Send {
    async fn write(&mut self, data: Bytes) -> Result<()>;
    /// Makes the blob durable and visible under its key.
    async fn commit(self: Box<Self>) -> Result<()>;
}
