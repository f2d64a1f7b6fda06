//! Streaming bodies in and out of the core: bytes flow through, never whole.

use std::pin::Pin;

use bytes::Bytes;
use futures::Stream;
use strata_meta::ObjectRecord;

/// A request body: the frontend's stream of bytes. An `Err` item means the
/// client's body was cut off or failed verification.
pub type Body = Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>;

/// An object's bytes on their way out, with the record they belong to.
pub struct ObjectBody {
    pub record: ObjectRecord,
    /// What `x-amz-version-id` shows, if anything.
    pub version_id: Option<String>,
    /// The byte range sent, `start..end`, of `record.size`.
    pub range: std::ops::Range<u64>,
    /// Set when the range came from a `Range` header or a part number.
    pub partial: bool,
    /// The part count, when a part was asked for (`?partNumber=`).
    pub parts_count: Option<usize>,
    pub stream: strata_data::ByteStream,
}
