//! Bucket tagging: the tag set and S3's limits on it.
//! It never touches object tags (a different API with a limit of 10).

use serde::{Deserialize, Serialize};
use strata_meta::BucketConfigKind;

use super::{BucketConfig, ConfigContext, Tag};
use crate::{Error, Result};

pub const MAX_TAGS: usize = 50;
pub const MAX_KEY_CHARS: usize = 128;
pub const MAX_VALUE_CHARS: usize = 256;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketTagging {
    pub tags: Vec<Tag>,
}

/// S3's rules for one tag, shared with the tags of lifecycle and replication filters.
pub fn validate_tag(tag: &Tag) -> Result<()> {
    let invalid = |m: &str| Err(Error::InvalidTag(m.into()));
    if tag.key.is_empty() {
        return invalid("The TagKey you have provided is invalid");
    }
    if tag.key.chars().count() > MAX_KEY_CHARS {
        return invalid("The TagKey you have provided is too long, max 128");
    }
    if tag.value.chars().count() > MAX_VALUE_CHARS {
        return invalid("The TagValue you have provided is too long, max 256");
    }
    Ok(())
}

/// Refuses repeated keys in a tag set.
pub fn validate_unique(tags: &[Tag]) -> Result<()> {
    let mut keys = std::collections::BTreeSet::new();
    if tags.iter().all(|t| keys.insert(t.key.as_str())) {
        Ok(())
    } else {
        Err(Error::InvalidTag(
            "Cannot provide multiple Tags with the same key".into(),
        ))
    }
}

impl BucketConfig for BucketTagging {
    const KIND: BucketConfigKind = BucketConfigKind::Tagging;

    fn validate(&self, _: &ConfigContext<'_>) -> Result<()> {
        if self.tags.len() > MAX_TAGS {
            return Err(Error::InvalidTag(
                "Bucket tag count cannot be greater than 50".into(),
            ));
        }
        self.tags.iter().try_for_each(validate_tag)?;
        // `aws:` tags are set by AWS services, never by a bucket's owner.
        if self.tags.iter().any(|t| t.key.starts_with("aws:")) {
            return Err(Error::InvalidTag(
                "System tags cannot be added/updated by requester".into(),
            ));
        }
        validate_unique(&self.tags)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(k: &str, v: &str) -> Tag {
        Tag {
            key: k.into(),
            value: v.into(),
        }
    }

    #[test]
    fn tag_limits() {
        assert!(validate_tag(&tag(&"k".repeat(128), &"v".repeat(256))).is_ok());
        assert!(validate_tag(&tag("k", "")).is_ok());
        assert!(validate_tag(&tag(&"k".repeat(129), "v")).is_err());
        assert!(validate_tag(&tag("k", &"v".repeat(257))).is_err());
        assert!(validate_tag(&tag("", "v")).is_err());
        assert!(validate_unique(&[tag("a", "1"), tag("b", "1")]).is_ok());
        assert!(validate_unique(&[tag("a", "1"), tag("a", "2")]).is_err());
    }
}
