//! Bucket tagging: the tag set and S3's limits on it.
//! It never touches object tags (a different API with a limit of 10).

use serde::{Deserialize, Serialize};
use strata_meta::BucketConfigKind;

use super::{BucketConfig, ConfigContext, Tag, check_tags};
use crate::{Error, Result};

/// Most tags a bucket may carry (objects: 10).
pub const MAX_TAGS: usize = 50;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketTagging {
    pub tags: Vec<Tag>,
}

impl BucketConfig for BucketTagging {
    const KIND: BucketConfigKind = BucketConfigKind::Tagging;

    fn validate(&self, _: &ConfigContext<'_>) -> Result<()> {
        if self.tags.len() > MAX_TAGS {
            return Err(Error::InvalidTag(
                "Bucket tag count cannot be greater than 50".into(),
            ));
        }
        // `aws:` tags are set by AWS services, never by a bucket's owner.
        if self.tags.iter().any(|t| t.key.starts_with("aws:")) {
            return Err(Error::InvalidTag(
                "System tags cannot be added/updated by requester".into(),
            ));
        }
        check_tags(self.tags.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bucket_config::check_config;

    fn tagging(tags: &[(String, String)]) -> BucketTagging {
        BucketTagging {
            tags: tags
                .iter()
                .map(|(key, value)| Tag {
                    key: key.clone(),
                    value: value.clone(),
                })
                .collect(),
        }
    }

    fn tag(k: &str, v: &str) -> (String, String) {
        (k.to_string(), v.to_string())
    }

    #[test]
    fn tag_limits() {
        let check = |t: &[(String, String)]| check_config(&tagging(t), Default::default());
        assert!(check(&[tag(&"k".repeat(128), &"v".repeat(256)), tag("e", "")]).is_ok());
        assert!(check(&[tag(&"k".repeat(129), "v")]).is_err());
        assert!(check(&[tag("k", &"v".repeat(257))]).is_err());
        assert!(check(&[tag("", "v")]).is_err());
        assert!(check(&[tag("a", "1"), tag("a", "2")]).is_err());
        assert!(check(&[tag("aws:x", "1")]).is_err());
        let many: Vec<_> = (0..51).map(|i| tag(&i.to_string(), "")).collect();
        assert!(check(&many[..50]).is_ok());
        assert!(check(&many).is_err());
    }
}
