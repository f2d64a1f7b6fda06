//! Strata's metadata layer: the records Strata keeps about accounts, buckets,
//! objects and uploads, the `MetadataStore` trait, and its embedded redb store.
//! It never touches object bytes and knows nothing of HTTP or S3 XML.

pub mod conformance;
mod embedded;
mod error;
pub mod listing;
mod records;
mod store;
mod versions;

pub use embedded::EmbeddedStore;
pub use error::MetaError;
pub use listing::{ListEntry, ListPage, ListQuery};
pub use records::*;
pub use store::{ListedVersion, MetadataStore, ObjectDelete, ObjectPut, PutOutcome, VersionQuery};
pub use versions::parse_version_id;

pub type Result<T, E = MetaError> = std::result::Result<T, E>;
