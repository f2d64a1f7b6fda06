//! Lifecycle configuration: S3's rule schema and its validation, stored for
//! the lifecycle workers. It never expires or moves anything itself.

use serde::{Deserialize, Serialize};
use strata_meta::BucketConfigKind;

use super::{
    BucketConfig, ConfigContext, MAX_RULES, Tag, check_filter, check_location, check_rule_ids,
    fill_ids,
};
use crate::{Error, Locations, Result};

const SECONDS_PER_DAY: i64 = 86_400;

/// The objects a lifecycle rule applies to, as S3's `<Filter>` holds them:
/// at most one of the fields is set (several conditions go in `and`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleFilter {
    pub prefix: Option<String>,
    pub tag: Option<Tag>,
    pub and: Option<AndFilter>,
    pub object_size_greater_than: Option<i64>,
    pub object_size_less_than: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AndFilter {
    pub prefix: Option<String>,
    #[serde(default)]
    pub tags: Vec<Tag>,
    pub object_size_greater_than: Option<i64>,
    pub object_size_less_than: Option<i64>,
}

/// A point in time: a number of days after an event, or a date (Unix
/// seconds, midnight UTC).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expiration {
    pub days: Option<i32>,
    pub date: Option<i64>,
    pub expired_object_delete_marker: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    pub days: Option<i32>,
    pub date: Option<i64>,
    /// The Strata location the data moves to.
    pub storage_class: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoncurrentAction {
    pub noncurrent_days: Option<i32>,
    pub newer_noncurrent_versions: Option<i32>,
    /// Set for transitions only: the target location.
    pub storage_class: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleRule {
    pub id: Option<String>,
    /// `Enabled` or `Disabled`, as sent (validated).
    pub status: String,
    /// The legacy top-level `<Prefix>`.
    pub prefix: Option<String>,
    pub filter: Option<LifecycleFilter>,
    pub expiration: Option<Expiration>,
    #[serde(default)]
    pub transitions: Vec<Transition>,
    pub noncurrent_version_expiration: Option<NoncurrentAction>,
    #[serde(default)]
    pub noncurrent_version_transitions: Vec<NoncurrentAction>,
    /// AbortIncompleteMultipartUpload's DaysAfterInitiation.
    pub abort_incomplete_multipart_upload_days: Option<i32>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleConfiguration {
    pub rules: Vec<LifecycleRule>,
}

impl BucketConfig for LifecycleConfiguration {
    const KIND: BucketConfigKind = BucketConfigKind::Lifecycle;

    fn complete(&mut self) {
        fill_ids(self.rules.iter_mut().map(|r| &mut r.id));
    }

    fn validate(&self, cx: &ConfigContext<'_>) -> Result<()> {
        if self.rules.is_empty() {
            return Err(Error::MalformedXml(
                "a lifecycle configuration needs a rule".into(),
            ));
        }
        check_rule_ids(
            self.rules.iter().map(|r| r.id.as_deref()),
            self.rules.len(),
            MAX_RULES,
            "lifecycle",
        )?;
        self.rules.iter().try_for_each(|r| r.validate(cx.locations))
    }
}

fn malformed(m: &str) -> Error {
    Error::MalformedXml(m.into())
}

/// `what` names the field the way S3's message does.
fn positive(days: Option<i32>, what: &str) -> Result<()> {
    match days {
        Some(d) if d <= 0 => Err(Error::InvalidArgument(format!(
            "{what} must be a positive integer"
        ))),
        _ => Ok(()),
    }
}

fn midnight(date: Option<i64>) -> Result<()> {
    match date {
        Some(d) if d % SECONDS_PER_DAY != 0 => Err(Error::InvalidArgument(
            "'Date' must be at midnight GMT".into(),
        )),
        _ => Ok(()),
    }
}

fn transition_target(locations: &Locations, class: Option<&str>) -> Result<()> {
    let class = class.ok_or_else(|| malformed("a transition needs a StorageClass"))?;
    check_location(locations, class)
}

impl LifecycleFilter {
    fn validate(&self) -> Result<()> {
        let no_tags = Vec::new();
        let and_tags = self.and.as_ref().map_or(&no_tags, |a| &a.tags);
        check_filter(
            &[
                self.prefix.is_some(),
                self.tag.is_some(),
                self.and.is_some(),
                self.object_size_greater_than.is_some(),
                self.object_size_less_than.is_some(),
            ],
            self.tag.as_ref(),
            and_tags,
        )?;
        if let Some(and) = &self.and
            && let (Some(gt), Some(lt)) = (and.object_size_greater_than, and.object_size_less_than)
            && gt >= lt
        {
            return Err(Error::InvalidArgument(
                "ObjectSizeGreaterThan must be less than ObjectSizeLessThan".into(),
            ));
        }
        let sizes = [
            self.object_size_greater_than,
            self.object_size_less_than,
            self.and.as_ref().and_then(|a| a.object_size_greater_than),
            self.and.as_ref().and_then(|a| a.object_size_less_than),
        ];
        if sizes.iter().flatten().any(|s| *s < 0) {
            return Err(Error::InvalidArgument(
                "object size limits must not be negative".into(),
            ));
        }
        Ok(())
    }

    fn has_tags(&self) -> bool {
        self.tag.is_some() || self.and.as_ref().is_some_and(|a| !a.tags.is_empty())
    }
}

impl LifecycleRule {
    fn validate(&self, locations: &Locations) -> Result<()> {
        if self.status != "Enabled" && self.status != "Disabled" {
            return Err(malformed("Status must be Enabled or Disabled"));
        }
        if self.prefix.is_some() && self.filter.is_some() {
            return Err(malformed("a rule cannot have both Prefix and Filter"));
        }
        if let Some(filter) = &self.filter {
            filter.validate()?;
        }
        let has_action = self.expiration.is_some()
            || !self.transitions.is_empty()
            || self.noncurrent_version_expiration.is_some()
            || !self.noncurrent_version_transitions.is_empty()
            || self.abort_incomplete_multipart_upload_days.is_some();
        if !has_action {
            return Err(Error::InvalidRequest(
                "At least one action needs to be specified in a rule".into(),
            ));
        }
        let tagged = self.filter.as_ref().is_some_and(LifecycleFilter::has_tags);
        if let Some(e) = &self.expiration {
            let given = [
                e.days.is_some(),
                e.date.is_some(),
                e.expired_object_delete_marker.is_some(),
            ];
            if given.iter().filter(|g| **g).count() != 1 {
                return Err(malformed(
                    "Expiration holds exactly one of Days, Date and ExpiredObjectDeleteMarker",
                ));
            }
            if e.expired_object_delete_marker.is_some() && tagged {
                return Err(Error::InvalidRequest(
                    "ExpiredObjectDeleteMarker cannot be specified with Tag filters".into(),
                ));
            }
            positive(e.days, "'Days' for Expiration action")?;
            midnight(e.date)?;
        }
        for t in &self.transitions {
            if t.days.is_some() == t.date.is_some() {
                return Err(malformed("a Transition holds exactly one of Days and Date"));
            }
            if t.days.is_some_and(|d| d < 0) {
                return Err(Error::InvalidArgument(
                    "'Days' in Transition action must be nonnegative".into(),
                ));
            }
            midnight(t.date)?;
            transition_target(locations, t.storage_class.as_deref())?;
        }
        let noncurrent = self
            .noncurrent_version_expiration
            .iter()
            .chain(&self.noncurrent_version_transitions);
        for n in noncurrent {
            if n.noncurrent_days.is_none() {
                return Err(malformed("NoncurrentDays is required"));
            }
            positive(n.noncurrent_days, "'NoncurrentDays'")?;
            if n.newer_noncurrent_versions
                .is_some_and(|v| !(1..=100).contains(&v))
            {
                return Err(Error::InvalidArgument(
                    "NewerNoncurrentVersions must be between 1 and 100".into(),
                ));
            }
        }
        for n in &self.noncurrent_version_transitions {
            transition_target(locations, n.storage_class.as_deref())?;
        }
        if self.abort_incomplete_multipart_upload_days.is_some() && tagged {
            return Err(Error::InvalidRequest(
                "AbortIncompleteMultipartUpload cannot be specified with Tags.".into(),
            ));
        }
        positive(
            self.abort_incomplete_multipart_upload_days,
            "'DaysAfterInitiation' for AbortIncompleteMultipartUpload action",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bucket_config::check_config;

    fn check(rule: &LifecycleRule) -> Result<()> {
        let config = LifecycleConfiguration {
            rules: vec![rule.clone()],
        };
        check_config(&config, Default::default())
    }

    fn expire_in(days: i32) -> LifecycleRule {
        LifecycleRule {
            id: Some("r".into()),
            status: "Enabled".into(),
            prefix: Some("logs/".into()),
            expiration: Some(Expiration {
                days: Some(days),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn rules_follow_s3() {
        assert!(check(&expire_in(1)).is_ok());
        assert!(matches!(
            check(&expire_in(0)),
            Err(Error::InvalidArgument(_))
        ));
        let mut r = expire_in(1);
        r.status = "enabled".into();
        assert!(matches!(check(&r), Err(Error::MalformedXml(_))));
        let mut r = expire_in(1);
        r.expiration = None;
        assert!(matches!(check(&r), Err(Error::InvalidRequest(_))));
        let mut r = expire_in(1);
        r.expiration = Some(Expiration {
            date: Some(SECONDS_PER_DAY * 20_000 + 3600),
            ..Default::default()
        });
        assert!(matches!(check(&r), Err(Error::InvalidArgument(_))));
        let mut r = expire_in(1);
        r.transitions = vec![Transition {
            days: Some(30),
            date: None,
            storage_class: Some("local".into()),
        }];
        assert!(check(&r).is_ok());
        r.transitions[0].storage_class = Some("GLACIER".into());
        assert!(matches!(check(&r), Err(Error::InvalidStorageClass(_))));
    }

    #[test]
    fn filters_hold_one_condition() {
        let mut r = expire_in(1);
        r.prefix = None;
        r.filter = Some(LifecycleFilter {
            prefix: Some("a".into()),
            object_size_greater_than: Some(10),
            ..Default::default()
        });
        assert!(matches!(check(&r), Err(Error::MalformedXml(_))));
        r.filter = Some(LifecycleFilter {
            and: Some(AndFilter {
                prefix: Some("a".into()),
                object_size_greater_than: Some(10),
                ..Default::default()
            }),
            ..Default::default()
        });
        assert!(check(&r).is_ok());
    }
}
