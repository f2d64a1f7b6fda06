//! Notification configuration: destinations, S3 event names and key
//! filters, validated and stored for the notification workers. It never sends events.

use serde::{Deserialize, Serialize};
use strata_meta::BucketConfigKind;

use super::{BucketConfig, ConfigContext};
use crate::{Error, Result};

/// The event names S3 accepts in a notification configuration.
const EVENTS: &[&str] = &[
    "s3:TestEvent",
    "s3:ObjectCreated:*",
    "s3:ObjectCreated:Put",
    "s3:ObjectCreated:Post",
    "s3:ObjectCreated:Copy",
    "s3:ObjectCreated:CompleteMultipartUpload",
    "s3:ObjectRemoved:*",
    "s3:ObjectRemoved:Delete",
    "s3:ObjectRemoved:DeleteMarkerCreated",
    "s3:ObjectRestore:*",
    "s3:ObjectRestore:Post",
    "s3:ObjectRestore:Completed",
    "s3:ObjectRestore:Delete",
    "s3:ReducedRedundancyLostObject",
    "s3:Replication:*",
    "s3:Replication:OperationFailedReplication",
    "s3:Replication:OperationNotTracked",
    "s3:Replication:OperationMissedThreshold",
    "s3:Replication:OperationReplicatedAfterThreshold",
    "s3:LifecycleExpiration:*",
    "s3:LifecycleExpiration:Delete",
    "s3:LifecycleExpiration:DeleteMarkerCreated",
    "s3:LifecycleTransition",
    "s3:IntelligentTiering",
    "s3:ObjectTagging:*",
    "s3:ObjectTagging:Put",
    "s3:ObjectTagging:Delete",
    "s3:ObjectAcl:Put",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TargetKind {
    Topic,
    Queue,
    LambdaFunction,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilterRule {
    /// `prefix` or `suffix` (any case, as S3 accepts).
    pub name: String,
    pub value: String,
}

/// One destination: where events go, which ones, for which keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationTarget {
    pub kind: TargetKind,
    pub id: Option<String>,
    pub arn: String,
    pub events: Vec<String>,
    #[serde(default)]
    pub filter_rules: Vec<FilterRule>,
}

/// An empty list of targets is a valid configuration: it turns notifications off.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationConfiguration {
    pub targets: Vec<NotificationTarget>,
}

impl BucketConfig for NotificationConfiguration {
    const KIND: BucketConfigKind = BucketConfigKind::Notification;

    fn validate(&self, _: &ConfigContext<'_>) -> Result<()> {
        let mut ids = std::collections::BTreeSet::new();
        for t in &self.targets {
            if t.events.is_empty() {
                return Err(Error::MalformedXml("a configuration needs an Event".into()));
            }
            if let Some(e) = t.events.iter().find(|e| !EVENTS.contains(&e.as_str())) {
                return Err(Error::InvalidArgument(format!(
                    "The event is not supported for notifications: {e}"
                )));
            }
            if t.arn.is_empty() {
                return Err(Error::InvalidArgument("The ARN is not well formed".into()));
            }
            if let Some(id) = &t.id
                && !ids.insert(id.as_str())
            {
                return Err(Error::InvalidArgument(
                    "Configuration is ambiguously defined: the same Id is used twice".into(),
                ));
            }
            let mut names = std::collections::BTreeSet::new();
            for rule in &t.filter_rules {
                let name = rule.name.to_ascii_lowercase();
                if name != "prefix" && name != "suffix" {
                    return Err(Error::InvalidArgument(
                        "filter rule name must be either prefix or suffix".into(),
                    ));
                }
                if !names.insert(name) {
                    return Err(Error::InvalidArgument(
                        "Cannot specify more than one prefix rule in a filter.".into(),
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bucket_config::check_config;

    fn target(events: &[&str], rules: &[(&str, &str)]) -> NotificationConfiguration {
        NotificationConfiguration {
            targets: vec![NotificationTarget {
                kind: TargetKind::Queue,
                id: None,
                arn: "arn:aws:sqs:us-east-1:1:q".into(),
                events: events.iter().map(|s| s.to_string()).collect(),
                filter_rules: rules
                    .iter()
                    .map(|(n, v)| FilterRule {
                        name: n.to_string(),
                        value: v.to_string(),
                    })
                    .collect(),
            }],
        }
    }

    #[test]
    fn events_and_filters_follow_s3() {
        let v = |c: NotificationConfiguration| check_config(&c, Default::default());
        assert!(
            v(target(
                &["s3:ObjectCreated:*"],
                &[("Prefix", "a/"), ("suffix", ".jpg")]
            ))
            .is_ok()
        );
        assert!(v(target(&["s3:ObjectCreated:Bogus"], &[])).is_err());
        assert!(v(target(&["s3:ObjectCreated:*"], &[("middle", "x")])).is_err());
        assert!(
            v(target(
                &["s3:ObjectCreated:*"],
                &[("prefix", "a"), ("Prefix", "b")]
            ))
            .is_err()
        );
        assert!(v(NotificationConfiguration::default()).is_ok());
    }
}
