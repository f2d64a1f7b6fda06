//! Replication configuration: S3's rule schema with Zenko's convention that
//! a destination's StorageClass lists Strata locations; validated and stored
//! for the replication workers. It never copies anything itself.

use serde::{Deserialize, Serialize};
use strata_meta::{BucketConfigKind, Versioning};

use super::{
    BucketConfig, ConfigContext, MAX_RULES, Tag, check_filter, check_location, check_rule_ids,
    fill_ids,
};
use crate::{Error, Result};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicationFilter {
    pub prefix: Option<String>,
    pub tag: Option<Tag>,
    pub and: Option<ReplicationAnd>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicationAnd {
    pub prefix: Option<String>,
    #[serde(default)]
    pub tags: Vec<Tag>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicationDestination {
    /// `arn:aws:s3:::name`.
    pub bucket: String,
    /// One or several comma-separated location names (Zenko's convention).
    pub storage_class: Option<String>,
    pub account: Option<String>,
}

/// Zenko's mark on the one destination a transient source's reads go to
/// once its own bytes are gone: `StorageClass: "aws:preferred_read,azure"`.
const PREFERRED_READ: &str = ":preferred_read";

impl ReplicationDestination {
    fn entries(&self) -> impl Iterator<Item = &str> {
        self.storage_class
            .iter()
            .flat_map(|s| s.split(','))
            .map(str::trim)
    }

    /// The locations this destination replicates to, in order.
    pub fn locations(&self) -> impl Iterator<Item = &str> {
        self.entries()
            .map(|e| e.strip_suffix(PREFERRED_READ).unwrap_or(e))
    }

    /// The location marked `:preferred_read`, if any.
    pub fn preferred_read(&self) -> Option<&str> {
        self.entries().find_map(|e| e.strip_suffix(PREFERRED_READ))
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicationRule {
    pub id: Option<String>,
    pub priority: Option<i32>,
    /// `Enabled` or `Disabled`, as sent (validated).
    pub status: String,
    /// The legacy top-level `<Prefix>` (schema V1).
    pub prefix: Option<String>,
    /// `<Filter>` (schema V2).
    pub filter: Option<ReplicationFilter>,
    /// DeleteMarkerReplication's Status, when given.
    pub delete_marker_replication: Option<String>,
    pub destination: ReplicationDestination,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicationConfiguration {
    pub role: String,
    pub rules: Vec<ReplicationRule>,
}

const ARN_PREFIX: &str = "arn:aws:s3:::";

fn enabled_or_disabled(status: &str, what: &str) -> Result<()> {
    if status == "Enabled" || status == "Disabled" {
        Ok(())
    } else {
        Err(Error::MalformedXml(format!(
            "{what} must be Enabled or Disabled"
        )))
    }
}

impl BucketConfig for ReplicationConfiguration {
    const KIND: BucketConfigKind = BucketConfigKind::Replication;

    fn complete(&mut self) {
        fill_ids(self.rules.iter_mut().map(|r| &mut r.id));
    }

    fn validate(&self, cx: &ConfigContext<'_>) -> Result<()> {
        if cx.bucket.versioning != Versioning::Enabled {
            return Err(Error::InvalidRequest(
                "Versioning must be 'Enabled' on the bucket to apply a replication configuration"
                    .into(),
            ));
        }
        if self.rules.is_empty() {
            return Err(Error::MalformedXml(
                "a replication configuration needs a rule".into(),
            ));
        }
        check_rule_ids(
            self.rules.iter().map(|r| r.id.as_deref()),
            self.rules.len(),
            MAX_RULES,
            "replication",
        )?;
        let mut priorities = std::collections::BTreeSet::new();
        for rule in &self.rules {
            rule.validate(cx)?;
            if rule.filter.is_some()
                && let Some(p) = rule.priority
                && !priorities.insert(p)
            {
                return Err(Error::InvalidRequest(format!(
                    "Found duplicate priority {p} in the replication configuration"
                )));
            }
        }
        Ok(())
    }
}

impl ReplicationRule {
    fn validate(&self, cx: &ConfigContext<'_>) -> Result<()> {
        enabled_or_disabled(&self.status, "Status")?;
        if self.prefix.is_some() && self.filter.is_some() {
            return Err(Error::MalformedXml(
                "a rule cannot have both Prefix and Filter".into(),
            ));
        }
        if let Some(filter) = &self.filter {
            let no_tags = Vec::new();
            check_filter(
                &[
                    filter.prefix.is_some(),
                    filter.tag.is_some(),
                    filter.and.is_some(),
                ],
                filter.tag.as_ref(),
                filter.and.as_ref().map_or(&no_tags, |a| &a.tags),
            )?;
            // Schema V2 (a Filter) requires an explicit delete-marker choice.
            if self.delete_marker_replication.is_none() {
                return Err(Error::InvalidRequest(
                    "DeleteMarkerReplication must be specified for this version of Cross Region Replication configuration schema.".into(),
                ));
            }
        }
        if let Some(s) = &self.delete_marker_replication {
            enabled_or_disabled(s, "DeleteMarkerReplication Status")?;
        }
        let name = self
            .destination
            .bucket
            .strip_prefix(ARN_PREFIX)
            .filter(|n| !n.is_empty() && !n.contains(['/', ':']))
            .ok_or_else(|| Error::InvalidArgument("Invalid bucket ARN.".into()))?;
        if name == cx.bucket.name {
            return Err(Error::InvalidRequest(
                "Destination bucket cannot be the same as the source bucket.".into(),
            ));
        }
        // An enabled rule with nowhere to send would replicate nothing, silently.
        if self.status == "Enabled" && self.destination.locations().all(str::is_empty) {
            return Err(Error::InvalidRequest(
                "The Destination's StorageClass must name the location(s) to replicate to (comma-separated Strata locations)."
                    .into(),
            ));
        }
        if self
            .destination
            .entries()
            .filter(|e| e.ends_with(PREFERRED_READ))
            .count()
            > 1
        {
            return Err(Error::InvalidArgument(
                "Only one destination location can be marked :preferred_read.".into(),
            ));
        }
        self.destination
            .locations()
            .try_for_each(|l| check_location(cx.locations, l))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bucket_config::check_config as check;

    fn rule(storage_class: Option<&str>) -> ReplicationConfiguration {
        ReplicationConfiguration {
            role: "r".into(),
            rules: vec![ReplicationRule {
                status: "Enabled".into(),
                prefix: Some(String::new()),
                destination: ReplicationDestination {
                    bucket: "arn:aws:s3:::dst".into(),
                    storage_class: storage_class.map(str::to_string),
                    account: None,
                },
                ..Default::default()
            }],
        }
    }

    #[test]
    fn destinations_name_locations() {
        assert!(check(&rule(Some("local,aws")), Versioning::Enabled).is_ok());
        for nowhere in [None, Some(""), Some(" ")] {
            assert!(matches!(
                check(&rule(nowhere), Versioning::Enabled),
                Err(Error::InvalidRequest(_))
            ));
        }
        let mut disabled = rule(None);
        disabled.rules[0].status = "Disabled".into();
        assert!(check(&disabled, Versioning::Enabled).is_ok());
        assert!(matches!(
            check(&rule(Some("local,gcp")), Versioning::Enabled),
            Err(Error::InvalidStorageClass(l)) if l == "gcp"
        ));
        let preferred = rule(Some("local, aws:preferred_read"));
        assert!(check(&preferred, Versioning::Enabled).is_ok());
        let destination = &preferred.rules[0].destination;
        assert_eq!(
            destination.locations().collect::<Vec<_>>(),
            ["local", "aws"]
        );
        assert_eq!(destination.preferred_read(), Some("aws"));
        assert!(matches!(
            check(
                &rule(Some("local:preferred_read,aws:preferred_read")),
                Versioning::Enabled
            ),
            Err(Error::InvalidArgument(_))
        ));
        assert!(matches!(
            check(&rule(Some("gcp:preferred_read")), Versioning::Enabled),
            Err(Error::InvalidStorageClass(l)) if l == "gcp"
        ));
        assert!(matches!(
            check(&rule(Some("local")), Versioning::Suspended),
            Err(Error::InvalidRequest(_))
        ));
        let mut bad_arn = rule(Some("local"));
        bad_arn.rules[0].destination.bucket = "dst".into();
        assert!(matches!(
            check(&bad_arn, Versioning::Enabled),
            Err(Error::InvalidArgument(_))
        ));
    }
}
