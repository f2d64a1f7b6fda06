//! Conversions between s3s's bucket-configuration DTOs and the core's
//! configuration types. No validation here: the core judges every document.

use s3s::dto;
use strata_core::bucket_config::{
    Tag, cors, encryption, lifecycle, notification, ownership, replication, tagging, website,
};

use crate::convert::{timestamp, unix_seconds};

/// S3 leaves out an empty list rather than sending an empty element.
fn non_empty<T>(v: Vec<T>) -> Option<Vec<T>> {
    (!v.is_empty()).then_some(v)
}

// ------------------------------------------------------------------ tags

fn tag_in(t: dto::Tag) -> Tag {
    // s3s turns empty elements into None; S3 treats them as empty strings.
    Tag {
        key: t.key.unwrap_or_default(),
        value: t.value.unwrap_or_default(),
    }
}

fn tag_out(t: &Tag) -> dto::Tag {
    dto::Tag {
        key: Some(t.key.clone()),
        value: Some(t.value.clone()),
    }
}

fn tags_in(tags: Option<dto::TagSet>) -> Vec<Tag> {
    tags.unwrap_or_default().into_iter().map(tag_in).collect()
}

fn tags_out(tags: &[Tag]) -> Option<dto::TagSet> {
    non_empty(tags.iter().map(tag_out).collect())
}

pub(crate) fn tagging_in(t: dto::Tagging) -> tagging::BucketTagging {
    tagging::BucketTagging {
        tags: tags_in(Some(t.tag_set)),
    }
}

pub(crate) fn tagging_out(t: &tagging::BucketTagging) -> dto::TagSet {
    t.tags.iter().map(tag_out).collect()
}

// ------------------------------------------------------------------ cors

pub(crate) fn cors_in(c: dto::CORSConfiguration) -> cors::CorsConfiguration {
    cors::CorsConfiguration {
        rules: c
            .cors_rules
            .into_iter()
            .map(|r| cors::CorsRule {
                id: r.id,
                allowed_origins: r.allowed_origins,
                allowed_methods: r.allowed_methods,
                allowed_headers: r.allowed_headers.unwrap_or_default(),
                expose_headers: r.expose_headers.unwrap_or_default(),
                max_age_seconds: r.max_age_seconds,
            })
            .collect(),
    }
}

pub(crate) fn cors_out(c: &cors::CorsConfiguration) -> dto::CORSRules {
    c.rules
        .iter()
        .map(|r| dto::CORSRule {
            id: r.id.clone(),
            allowed_origins: r.allowed_origins.clone(),
            allowed_methods: r.allowed_methods.clone(),
            allowed_headers: non_empty(r.allowed_headers.clone()),
            expose_headers: non_empty(r.expose_headers.clone()),
            max_age_seconds: r.max_age_seconds,
        })
        .collect()
}

// ------------------------------------------------------------------ lifecycle

fn date_in(d: Option<dto::Date>) -> Option<i64> {
    d.map(unix_seconds)
}

fn date_out(d: Option<i64>) -> Option<dto::Date> {
    d.map(|s| timestamp(s.saturating_mul(1000)))
}

fn class_in(c: Option<dto::TransitionStorageClass>) -> Option<String> {
    c.map(|c| c.as_str().to_string())
}

fn class_out(c: &Option<String>) -> Option<dto::TransitionStorageClass> {
    c.clone().map(dto::TransitionStorageClass::from)
}

fn lifecycle_filter_in(f: dto::LifecycleRuleFilter) -> lifecycle::LifecycleFilter {
    lifecycle::LifecycleFilter {
        prefix: f.prefix,
        tag: f.tag.map(tag_in),
        and: f.and.map(|a| lifecycle::AndFilter {
            prefix: a.prefix,
            tags: tags_in(a.tags),
            object_size_greater_than: a.object_size_greater_than,
            object_size_less_than: a.object_size_less_than,
        }),
        object_size_greater_than: f.object_size_greater_than,
        object_size_less_than: f.object_size_less_than,
    }
}

fn lifecycle_filter_out(f: &lifecycle::LifecycleFilter) -> dto::LifecycleRuleFilter {
    dto::LifecycleRuleFilter {
        prefix: f.prefix.clone(),
        tag: f.tag.as_ref().map(tag_out),
        and: f.and.as_ref().map(|a| dto::LifecycleRuleAndOperator {
            prefix: a.prefix.clone(),
            tags: tags_out(&a.tags),
            object_size_greater_than: a.object_size_greater_than,
            object_size_less_than: a.object_size_less_than,
        }),
        object_size_greater_than: f.object_size_greater_than,
        object_size_less_than: f.object_size_less_than,
    }
}

fn lifecycle_rule_in(r: dto::LifecycleRule) -> lifecycle::LifecycleRule {
    lifecycle::LifecycleRule {
        id: r.id,
        status: r.status.as_str().to_string(),
        prefix: r.prefix,
        filter: r.filter.map(lifecycle_filter_in),
        expiration: r.expiration.map(|e| lifecycle::Expiration {
            days: e.days,
            date: date_in(e.date),
            expired_object_delete_marker: e.expired_object_delete_marker,
        }),
        transitions: r
            .transitions
            .unwrap_or_default()
            .into_iter()
            .map(|t| lifecycle::Transition {
                days: t.days,
                date: date_in(t.date),
                storage_class: class_in(t.storage_class),
            })
            .collect(),
        noncurrent_version_expiration: r.noncurrent_version_expiration.map(|n| {
            lifecycle::NoncurrentAction {
                noncurrent_days: n.noncurrent_days,
                newer_noncurrent_versions: n.newer_noncurrent_versions,
                storage_class: None,
            }
        }),
        noncurrent_version_transitions: r
            .noncurrent_version_transitions
            .unwrap_or_default()
            .into_iter()
            .map(|n| lifecycle::NoncurrentAction {
                noncurrent_days: n.noncurrent_days,
                newer_noncurrent_versions: n.newer_noncurrent_versions,
                storage_class: class_in(n.storage_class),
            })
            .collect(),
        // An empty AbortIncompleteMultipartUpload is as invalid as a zero.
        abort_incomplete_multipart_upload_days: r
            .abort_incomplete_multipart_upload
            .map(|a| a.days_after_initiation.unwrap_or(0)),
    }
}

fn lifecycle_rule_out(r: &lifecycle::LifecycleRule) -> dto::LifecycleRule {
    dto::LifecycleRule {
        id: r.id.clone(),
        status: dto::ExpirationStatus::from(r.status.clone()),
        prefix: r.prefix.clone(),
        filter: r.filter.as_ref().map(lifecycle_filter_out),
        expiration: r.expiration.as_ref().map(|e| dto::LifecycleExpiration {
            days: e.days,
            date: date_out(e.date),
            expired_object_delete_marker: e.expired_object_delete_marker,
        }),
        transitions: non_empty(
            r.transitions
                .iter()
                .map(|t| dto::Transition {
                    days: t.days,
                    date: date_out(t.date),
                    storage_class: class_out(&t.storage_class),
                })
                .collect(),
        ),
        noncurrent_version_expiration: r.noncurrent_version_expiration.as_ref().map(|n| {
            dto::NoncurrentVersionExpiration {
                noncurrent_days: n.noncurrent_days,
                newer_noncurrent_versions: n.newer_noncurrent_versions,
            }
        }),
        noncurrent_version_transitions: non_empty(
            r.noncurrent_version_transitions
                .iter()
                .map(|n| dto::NoncurrentVersionTransition {
                    noncurrent_days: n.noncurrent_days,
                    newer_noncurrent_versions: n.newer_noncurrent_versions,
                    storage_class: class_out(&n.storage_class),
                })
                .collect(),
        ),
        abort_incomplete_multipart_upload: r.abort_incomplete_multipart_upload_days.map(|d| {
            dto::AbortIncompleteMultipartUpload {
                days_after_initiation: Some(d),
            }
        }),
    }
}

pub(crate) fn lifecycle_in(
    c: Option<dto::BucketLifecycleConfiguration>,
) -> lifecycle::LifecycleConfiguration {
    lifecycle::LifecycleConfiguration {
        rules: c
            .map(|c| c.rules)
            .unwrap_or_default()
            .into_iter()
            .map(lifecycle_rule_in)
            .collect(),
    }
}

pub(crate) fn lifecycle_out(c: &lifecycle::LifecycleConfiguration) -> dto::LifecycleRules {
    c.rules.iter().map(lifecycle_rule_out).collect()
}

// ------------------------------------------------------------------ replication

pub(crate) fn replication_in(
    c: dto::ReplicationConfiguration,
) -> replication::ReplicationConfiguration {
    replication::ReplicationConfiguration {
        role: c.role,
        rules: c
            .rules
            .into_iter()
            .map(|r| replication::ReplicationRule {
                id: r.id,
                priority: r.priority,
                status: r.status.as_str().to_string(),
                prefix: r.prefix,
                filter: r.filter.map(|f| replication::ReplicationFilter {
                    prefix: f.prefix,
                    tag: f.tag.map(tag_in),
                    and: f.and.map(|a| replication::ReplicationAnd {
                        prefix: a.prefix,
                        tags: tags_in(a.tags),
                    }),
                }),
                delete_marker_replication: r
                    .delete_marker_replication
                    .map(|d| d.status.map(|s| s.as_str().to_string()).unwrap_or_default()),
                destination: replication::ReplicationDestination {
                    bucket: r.destination.bucket,
                    storage_class: r.destination.storage_class.map(|s| s.as_str().to_string()),
                    account: r.destination.account,
                },
            })
            .collect(),
    }
}

pub(crate) fn replication_out(
    c: &replication::ReplicationConfiguration,
) -> dto::ReplicationConfiguration {
    dto::ReplicationConfiguration {
        role: c.role.clone(),
        rules: c
            .rules
            .iter()
            .map(|r| dto::ReplicationRule {
                id: r.id.clone(),
                priority: r.priority,
                status: dto::ReplicationRuleStatus::from(r.status.clone()),
                prefix: r.prefix.clone(),
                filter: r.filter.as_ref().map(|f| dto::ReplicationRuleFilter {
                    prefix: f.prefix.clone(),
                    tag: f.tag.as_ref().map(tag_out),
                    and: f.and.as_ref().map(|a| dto::ReplicationRuleAndOperator {
                        prefix: a.prefix.clone(),
                        tags: tags_out(&a.tags),
                    }),
                }),
                delete_marker_replication: r.delete_marker_replication.as_ref().map(|s| {
                    dto::DeleteMarkerReplication {
                        status: Some(dto::DeleteMarkerReplicationStatus::from(s.clone())),
                    }
                }),
                destination: dto::Destination {
                    bucket: r.destination.bucket.clone(),
                    storage_class: r
                        .destination
                        .storage_class
                        .clone()
                        .map(dto::StorageClass::from),
                    account: r.destination.account.clone(),
                    ..Default::default()
                },
                existing_object_replication: None,
                source_selection_criteria: None,
            })
            .collect(),
    }
}

// ------------------------------------------------------------------ notification

fn filter_rules_in(
    f: Option<dto::NotificationConfigurationFilter>,
) -> Vec<notification::FilterRule> {
    f.and_then(|f| f.key)
        .and_then(|k| k.filter_rules)
        .unwrap_or_default()
        .into_iter()
        .map(|r| notification::FilterRule {
            name: r.name.map(|n| n.as_str().to_string()).unwrap_or_default(),
            value: r.value.unwrap_or_default(),
        })
        .collect()
}

fn filter_rules_out(
    rules: &[notification::FilterRule],
) -> Option<dto::NotificationConfigurationFilter> {
    (!rules.is_empty()).then(|| dto::NotificationConfigurationFilter {
        key: Some(dto::S3KeyFilter {
            filter_rules: Some(
                rules
                    .iter()
                    .map(|r| dto::FilterRule {
                        name: Some(dto::FilterRuleName::from(r.name.clone())),
                        value: Some(r.value.clone()),
                    })
                    .collect(),
            ),
        }),
    })
}

fn events_in(events: dto::EventList) -> Vec<String> {
    events.into_iter().map(String::from).collect()
}

fn events_out(events: &[String]) -> dto::EventList {
    events.iter().cloned().map(dto::Event::from).collect()
}

pub(crate) fn notification_in(
    c: dto::NotificationConfiguration,
) -> notification::NotificationConfiguration {
    use notification::{NotificationTarget as T, TargetKind as K};
    let topics = c
        .topic_configurations
        .unwrap_or_default()
        .into_iter()
        .map(|t| T {
            kind: K::Topic,
            id: t.id,
            arn: t.topic_arn,
            events: events_in(t.events),
            filter_rules: filter_rules_in(t.filter),
        });
    let queues = c
        .queue_configurations
        .unwrap_or_default()
        .into_iter()
        .map(|q| T {
            kind: K::Queue,
            id: q.id,
            arn: q.queue_arn,
            events: events_in(q.events),
            filter_rules: filter_rules_in(q.filter),
        });
    let lambdas = c
        .lambda_function_configurations
        .unwrap_or_default()
        .into_iter()
        .map(|l| T {
            kind: K::LambdaFunction,
            id: l.id,
            arn: l.lambda_function_arn,
            events: events_in(l.events),
            filter_rules: filter_rules_in(l.filter),
        });
    notification::NotificationConfiguration {
        targets: topics.chain(queues).chain(lambdas).collect(),
    }
}

pub(crate) fn notification_out(
    c: &notification::NotificationConfiguration,
) -> dto::GetBucketNotificationConfigurationOutput {
    use notification::TargetKind as K;
    let of = |kind: K| c.targets.iter().filter(move |t| t.kind == kind);
    dto::GetBucketNotificationConfigurationOutput {
        topic_configurations: non_empty(
            of(K::Topic)
                .map(|t| dto::TopicConfiguration {
                    id: t.id.clone(),
                    topic_arn: t.arn.clone(),
                    events: events_out(&t.events),
                    filter: filter_rules_out(&t.filter_rules),
                })
                .collect(),
        ),
        queue_configurations: non_empty(
            of(K::Queue)
                .map(|t| dto::QueueConfiguration {
                    id: t.id.clone(),
                    queue_arn: t.arn.clone(),
                    events: events_out(&t.events),
                    filter: filter_rules_out(&t.filter_rules),
                })
                .collect(),
        ),
        lambda_function_configurations: non_empty(
            of(K::LambdaFunction)
                .map(|t| dto::LambdaFunctionConfiguration {
                    id: t.id.clone(),
                    lambda_function_arn: t.arn.clone(),
                    events: events_out(&t.events),
                    filter: filter_rules_out(&t.filter_rules),
                })
                .collect(),
        ),
        event_bridge_configuration: None,
    }
}

// ------------------------------------------------------------------ encryption

pub(crate) fn encryption_in(
    c: dto::ServerSideEncryptionConfiguration,
) -> encryption::EncryptionConfiguration {
    encryption::EncryptionConfiguration {
        rules: c
            .rules
            .into_iter()
            .map(|r| {
                let default = r.apply_server_side_encryption_by_default;
                encryption::EncryptionRule {
                    sse_algorithm: default
                        .as_ref()
                        .map(|d| d.sse_algorithm.as_str().to_string())
                        .unwrap_or_default(),
                    kms_master_key_id: default.and_then(|d| d.kms_master_key_id),
                    bucket_key_enabled: r.bucket_key_enabled,
                }
            })
            .collect(),
    }
}

pub(crate) fn encryption_out(
    c: &encryption::EncryptionConfiguration,
) -> dto::ServerSideEncryptionConfiguration {
    dto::ServerSideEncryptionConfiguration {
        rules: c
            .rules
            .iter()
            .map(|r| dto::ServerSideEncryptionRule {
                apply_server_side_encryption_by_default: Some(dto::ServerSideEncryptionByDefault {
                    sse_algorithm: dto::ServerSideEncryption::from(r.sse_algorithm.clone()),
                    kms_master_key_id: r.kms_master_key_id.clone(),
                }),
                bucket_key_enabled: r.bucket_key_enabled,
            })
            .collect(),
    }
}

// ------------------------------------------------------------------ ownership

pub(crate) fn ownership_in(c: dto::OwnershipControls) -> ownership::OwnershipControls {
    ownership::OwnershipControls {
        rules: c
            .rules
            .into_iter()
            .map(|r| r.object_ownership.as_str().to_string())
            .collect(),
    }
}

pub(crate) fn ownership_out(c: &ownership::OwnershipControls) -> dto::OwnershipControls {
    dto::OwnershipControls {
        rules: c
            .rules
            .iter()
            .map(|o| dto::OwnershipControlsRule {
                object_ownership: dto::ObjectOwnership::from(o.clone()),
            })
            .collect(),
    }
}

pub(crate) fn public_access_block_in(
    c: dto::PublicAccessBlockConfiguration,
) -> ownership::PublicAccessBlock {
    ownership::PublicAccessBlock {
        block_public_acls: c.block_public_acls.unwrap_or(false),
        ignore_public_acls: c.ignore_public_acls.unwrap_or(false),
        block_public_policy: c.block_public_policy.unwrap_or(false),
        restrict_public_buckets: c.restrict_public_buckets.unwrap_or(false),
    }
}

pub(crate) fn public_access_block_out(
    c: &ownership::PublicAccessBlock,
) -> dto::PublicAccessBlockConfiguration {
    dto::PublicAccessBlockConfiguration {
        block_public_acls: Some(c.block_public_acls),
        ignore_public_acls: Some(c.ignore_public_acls),
        block_public_policy: Some(c.block_public_policy),
        restrict_public_buckets: Some(c.restrict_public_buckets),
    }
}

// ------------------------------------------------------------------ website

fn protocol_in(p: Option<dto::Protocol>) -> Option<String> {
    p.map(|p| p.as_str().to_string())
}

fn protocol_out(p: &Option<String>) -> Option<dto::Protocol> {
    p.clone().map(dto::Protocol::from)
}

pub(crate) fn website_in(c: dto::WebsiteConfiguration) -> website::WebsiteConfiguration {
    website::WebsiteConfiguration {
        index_suffix: c.index_document.map(|i| i.suffix),
        error_key: c.error_document.map(|e| e.key),
        redirect_all: c.redirect_all_requests_to.map(|r| website::RedirectAll {
            host_name: r.host_name,
            protocol: protocol_in(r.protocol),
        }),
        routing_rules: c
            .routing_rules
            .unwrap_or_default()
            .into_iter()
            .map(|r| website::RoutingRule {
                condition: r.condition.map(|c| website::RoutingCondition {
                    key_prefix_equals: c.key_prefix_equals,
                    http_error_code_returned_equals: c.http_error_code_returned_equals,
                }),
                redirect: website::RoutingRedirect {
                    host_name: r.redirect.host_name,
                    http_redirect_code: r.redirect.http_redirect_code,
                    protocol: protocol_in(r.redirect.protocol),
                    replace_key_prefix_with: r.redirect.replace_key_prefix_with,
                    replace_key_with: r.redirect.replace_key_with,
                },
            })
            .collect(),
    }
}

pub(crate) fn website_out(c: &website::WebsiteConfiguration) -> dto::GetBucketWebsiteOutput {
    dto::GetBucketWebsiteOutput {
        index_document: c
            .index_suffix
            .clone()
            .map(|suffix| dto::IndexDocument { suffix }),
        error_document: c.error_key.clone().map(|key| dto::ErrorDocument { key }),
        redirect_all_requests_to: c.redirect_all.as_ref().map(|r| dto::RedirectAllRequestsTo {
            host_name: r.host_name.clone(),
            protocol: protocol_out(&r.protocol),
        }),
        routing_rules: (!c.routing_rules.is_empty()).then(|| {
            c.routing_rules
                .iter()
                .map(|r| dto::RoutingRule {
                    condition: r.condition.as_ref().map(|c| dto::Condition {
                        key_prefix_equals: c.key_prefix_equals.clone(),
                        http_error_code_returned_equals: c.http_error_code_returned_equals.clone(),
                    }),
                    redirect: dto::Redirect {
                        host_name: r.redirect.host_name.clone(),
                        http_redirect_code: r.redirect.http_redirect_code.clone(),
                        protocol: protocol_out(&r.redirect.protocol),
                        replace_key_prefix_with: r.redirect.replace_key_prefix_with.clone(),
                        replace_key_with: r.redirect.replace_key_with.clone(),
                    },
                })
                .collect()
        }),
    }
}
