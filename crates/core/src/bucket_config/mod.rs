//! Bucket configuration documents (tagging, CORS, website, lifecycle, ...):
//! validation, then storage as JSON of the core's own types. It never runs them.
//!
//! Each document type names its `BucketConfigKind` and validates itself
//! against the bucket and this server's locations; this module stores,
//! reads and deletes them once the frontend has authorized the request.
//! Applying them (lifecycle and replication workers, CORS evaluation,
//! website serving) happens elsewhere.

pub mod cors;
pub mod encryption;
pub mod lifecycle;
pub mod notification;
pub mod ownership;
pub mod replication;
pub mod tagging;
pub mod website;

use serde::Serialize;
use serde::de::DeserializeOwned;
use strata_meta::{BucketConfigKind, BucketRecord};

use crate::{AccountRecord, Error, Locations, Result, Strata};

/// What a document may be checked against besides itself.
pub struct ConfigContext<'a> {
    pub bucket: &'a BucketRecord,
    pub locations: &'a Locations,
}

/// A bucket configuration document.
pub trait BucketConfig: Serialize + DeserializeOwned {
    const KIND: BucketConfigKind;
    /// Refuses a document S3 would refuse; nothing is stored when it fails.
    fn validate(&self, cx: &ConfigContext<'_>) -> Result<()>;
    /// Fills in what S3 fills in before storing (rule IDs), once valid.
    fn complete(&mut self) {}
}

impl Strata {
    /// Validates and stores `config` as the bucket's document of its kind.
    pub async fn put_bucket_config<C: BucketConfig>(
        &self,
        account: &AccountRecord,
        bucket: &str,
        mut config: C,
    ) -> Result<()> {
        let record = self.owned_bucket(account, bucket)?;
        config.validate(&ConfigContext {
            bucket: &record,
            locations: &self.locations,
        })?;
        config.complete();
        self.set_bucket_config(bucket, C::KIND, Some(&config)).await
    }

    /// The bucket's document, or the kind's "not found" error.
    pub fn get_bucket_config<C: BucketConfig>(
        &self,
        account: &AccountRecord,
        bucket: &str,
    ) -> Result<C> {
        self.owned_bucket(account, bucket)?;
        self.bucket_document::<C>(bucket)?
            .ok_or(Error::NoSuchConfiguration(C::KIND))
    }

    /// Removes the bucket's document of this kind; removing none is no error, as in S3.
    pub async fn delete_bucket_config<C: BucketConfig>(
        &self,
        account: &AccountRecord,
        bucket: &str,
    ) -> Result<()> {
        self.owned_bucket(account, bucket)?;
        self.set_bucket_config::<C>(bucket, C::KIND, None).await
    }

    /// The bucket's document, for no requester in particular: for the code that
    /// applies configurations (CORS evaluation, the website endpoint).
    pub fn bucket_document<C: BucketConfig>(&self, bucket: &str) -> Result<Option<C>> {
        self.bucket_config(bucket, C::KIND)
    }
}

/// S3's limit on rules in one lifecycle or replication configuration.
pub const MAX_RULES: usize = 1000;

/// Refuses a rule list over `max` or with a repeated non-empty ID.
fn check_rule_ids<'a>(
    ids: impl Iterator<Item = Option<&'a str>>,
    count: usize,
    max: usize,
    what: &str,
) -> Result<()> {
    if count > max {
        return Err(Error::InvalidRequest(format!(
            "The number of {what} rules should not exceed allowed limit of {max} rules"
        )));
    }
    let mut seen = std::collections::BTreeSet::new();
    for id in ids.flatten() {
        if id.chars().count() > 255 {
            return Err(Error::InvalidArgument(
                "ID length should not exceed allowed limit of 255".into(),
            ));
        }
        if !seen.insert(id) {
            return Err(Error::InvalidArgument(
                "Rule ID must be unique. Found same ID for more than one rule".into(),
            ));
        }
    }
    Ok(())
}

/// A StorageClass of a lifecycle transition or a replication destination
/// names a location of this server.
fn check_location(locations: &Locations, name: &str) -> Result<()> {
    if locations.contains(name) {
        Ok(())
    } else {
        Err(Error::InvalidStorageClass(name.to_string()))
    }
}

/// S3's rules for a lifecycle or replication `<Filter>`: one condition at
/// most (several go in `<And>`), and valid tags.
fn check_filter(conditions: &[bool], tag: Option<&Tag>, and_tags: &[Tag]) -> Result<()> {
    if conditions.iter().filter(|c| **c).count() > 1 {
        return Err(Error::MalformedXml(
            "a Filter holds one condition; combine several with And".into(),
        ));
    }
    check_tags(tag.into_iter().chain(and_tags))
}

/// The tag rules objects follow too (key and value lengths, no key twice);
/// how many tags there may be is the caller's to limit.
fn check_tags<'a>(tags: impl Iterator<Item = &'a Tag>) -> Result<()> {
    let set = crate::tags::tag_set(tags.map(|t| (t.key.clone(), t.value.clone())))?;
    crate::tags::validate_tags(&set, usize::MAX)
}

/// Gives every rule without an ID a random one, as S3 does.
fn fill_ids<'a>(ids: impl Iterator<Item = &'a mut Option<String>>) {
    for id in ids.filter(|id| id.is_none()) {
        *id = Some(crate::random_hex(16));
    }
}

/// A tag of a filter or of a bucket: key and value as S3 stores them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

/// Validates `config` for a bucket `src` with the given versioning, on a
/// server with the locations `local` and `aws`.
#[cfg(test)]
pub(crate) fn check_config<C: BucketConfig>(
    config: &C,
    versioning: strata_meta::Versioning,
) -> Result<()> {
    let locations = Locations::new("local");
    for name in ["local", "aws"] {
        let spec: strata_data::LocationSpec = serde_json::from_str(r#"{"type":"mem"}"#)
            .map_err(|e| Error::Internal(e.to_string()))?;
        let location = crate::Location {
            backend: std::sync::Arc::new(strata_data::MemBackend::default()),
            spec,
            source: crate::Source::Admin,
        };
        locations.add(name, location);
    }
    let bucket = BucketRecord {
        name: "src".into(),
        owner: "o".into(),
        created_ms: 0,
        location: "local".into(),
        versioning,
        object_lock: false,
    };
    config.validate(&ConfigContext {
        bucket: &bucket,
        locations: &locations,
    })
}
