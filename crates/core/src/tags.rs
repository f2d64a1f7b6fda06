//! Object tags: S3's limits on them, and reading or replacing the tag set of
//! one version. Tags never change an object's bytes or make a new version.

use std::collections::BTreeMap;

use strata_meta::{ObjectRecord, VersionUpdate};

use crate::{AccountRecord, Error, Result, Strata};

/// Most tags an object version may carry.
pub const MAX_OBJECT_TAGS: usize = 10;
/// Longest tag key and value, in Unicode characters.
pub const MAX_TAG_KEY_CHARS: usize = 128;
pub const MAX_TAG_VALUE_CHARS: usize = 256;

/// S3's rules for a tag set of at most `max` tags.
pub fn validate_tags(tags: &BTreeMap<String, String>, max: usize) -> Result<()> {
    if tags.len() > max {
        return Err(Error::InvalidTag(format!(
            "Object tags cannot be greater than {max}"
        )));
    }
    for (key, value) in tags {
        let key_chars = key.chars().count();
        if key_chars == 0 || key_chars > MAX_TAG_KEY_CHARS {
            return Err(Error::InvalidTag(format!(
                "The TagKey you have provided is invalid: it must be 1 to {MAX_TAG_KEY_CHARS} characters long"
            )));
        }
        if value.chars().count() > MAX_TAG_VALUE_CHARS {
            return Err(Error::InvalidTag(format!(
                "The TagValue you have provided is invalid: it must be at most {MAX_TAG_VALUE_CHARS} characters long"
            )));
        }
    }
    Ok(())
}

pub(crate) fn validate_object_tags(tags: &BTreeMap<String, String>) -> Result<()> {
    validate_tags(tags, MAX_OBJECT_TAGS)
}

/// Builds a tag set from (key, value) pairs, refusing a key given twice.
pub fn tag_set(
    pairs: impl IntoIterator<Item = (String, String)>,
) -> Result<BTreeMap<String, String>> {
    let mut tags = BTreeMap::new();
    for (key, value) in pairs {
        if tags.insert(key, value).is_some() {
            return Err(Error::InvalidTag(
                "Cannot provide multiple Tags with the same key".into(),
            ));
        }
    }
    Ok(tags)
}

impl Strata {
    /// GetObjectTagging: the tags of a version (None: the current one).
    pub fn object_tags(
        &self,
        account: &AccountRecord,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<ObjectRecord> {
        Ok(self.object_version(account, bucket, key, version_id)?.1)
    }

    /// PutObjectTagging (and DeleteObjectTagging with an empty set).
    pub async fn set_object_tags(
        &self,
        account: &AccountRecord,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        tags: BTreeMap<String, String>,
    ) -> Result<ObjectRecord> {
        validate_object_tags(&tags)?;
        // The same lookup as a read: delete markers and missing versions
        // answer as they would to a GET.
        self.object_version(account, bucket, key, version_id)?;
        Ok(self
            .meta
            .update_version(bucket, key, version_id, VersionUpdate::Tags(tags))
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(n: usize, key_len: usize, value_len: usize) -> BTreeMap<String, String> {
        (0..n)
            .map(|i| {
                (
                    format!("{i}{}", "k".repeat(key_len - 1)),
                    "v".repeat(value_len),
                )
            })
            .collect()
    }

    #[test]
    fn object_tag_limits_follow_s3() {
        assert!(validate_object_tags(&tags(10, 128, 256)).is_ok());
        assert!(validate_object_tags(&tags(11, 3, 3)).is_err());
        assert!(validate_object_tags(&tags(1, 129, 3)).is_err());
        assert!(validate_object_tags(&tags(1, 3, 257)).is_err());
        assert!(validate_object_tags(&[(String::new(), "v".into())].into()).is_err());
        // Limits count characters, not bytes.
        assert!(validate_object_tags(&[("é".repeat(128), "ü".repeat(256))].into()).is_ok());
    }

    #[test]
    fn duplicate_keys_are_refused() {
        let pair = || ("a".to_string(), "1".to_string());
        assert!(tag_set([pair(), pair()]).is_err());
        assert_eq!(tag_set([pair()]).unwrap().len(), 1);
    }
}
