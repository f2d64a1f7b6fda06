//! Which versions replicate where (the bucket's rules, decided in the write
//! that creates the version) and how a replica written by another site is
//! recognised. Copying is the engine's job, never this module's.

use std::collections::BTreeMap;

use strata_meta::{ObjectPut, ObjectRecord, Replication, ReplicationStatus};

use crate::bucket_config::replication::{ReplicationConfiguration, ReplicationRule};
use crate::time::now_ms;
use crate::{Error, Result, Strata};

/// User-metadata names (Zenko's) a replica carries: foreign clouds keep them
/// as metadata; a Strata destination turns them back into the version's own
/// fields.
pub const META_STATUS: &str = "scal-replication-status";
pub const META_VERSION_ID: &str = "scal-version-id";
pub const META_ETAG: &str = "scal-etag";
pub const META_CHECKSUM: &str = "scal-checksum";
pub const META_RETENTION: &str = "scal-retention";
pub const META_LEGAL_HOLD: &str = "scal-legal-hold";
/// Set on the empty object a delete marker is sent to a Strata site as.
pub const META_DELETE_MARKER: &str = "scal-delete-marker";

impl ReplicationRule {
    fn enabled(&self) -> bool {
        self.status == "Enabled"
    }

    fn prefix(&self) -> &str {
        let filter = self.filter.as_ref();
        self.prefix
            .as_deref()
            .or_else(|| filter.and_then(|f| f.prefix.as_deref()))
            .or_else(|| filter.and_then(|f| f.and.as_ref()?.prefix.as_deref()))
            .unwrap_or("")
    }

    fn has_tag_filter(&self) -> bool {
        self.filter
            .as_ref()
            .is_some_and(|f| f.tag.is_some() || f.and.as_ref().is_some_and(|a| !a.tags.is_empty()))
    }

    /// Whether an object version with these tags falls under the rule.
    fn matches(&self, key: &str, tags: &BTreeMap<String, String>) -> bool {
        let Some(filter) = &self.filter else {
            return key.starts_with(self.prefix());
        };
        let wanted = filter
            .tag
            .iter()
            .chain(filter.and.iter().flat_map(|a| &a.tags));
        key.starts_with(self.prefix())
            && wanted
                .into_iter()
                .all(|t| tags.get(&t.key) == Some(&t.value))
    }

    /// Delete markers replicate under schema V1 rules (no Filter) and under
    /// V2 rules that enable it without a tag filter, as in S3.
    fn matches_marker(&self, key: &str) -> bool {
        let enabled = match &self.filter {
            None => self.delete_marker_replication.as_deref() != Some("Disabled"),
            Some(_) => {
                self.delete_marker_replication.as_deref() == Some("Enabled")
                    && !self.has_tag_filter()
            }
        };
        enabled && key.starts_with(self.prefix())
    }
}

/// The locations the matching rules name, each once, in rule order.
fn destinations<'a>(rules: impl Iterator<Item = &'a ReplicationRule>) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for rule in rules {
        for location in rule.destination.locations().filter(|l| !l.is_empty()) {
            if !out.contains(&location) {
                out.push(location);
            }
        }
    }
    out
}

fn pending(locations: Vec<&str>) -> Option<Replication> {
    (!locations.is_empty()).then(|| Replication::pending(locations, now_ms()))
}

impl Strata {
    pub(crate) fn replication_rules(&self, bucket: &str) -> Result<Vec<ReplicationRule>> {
        let config: Option<ReplicationConfiguration> = self.bucket_document(bucket)?;
        Ok(config
            .map(|c| {
                c.rules
                    .into_iter()
                    .filter(ReplicationRule::enabled)
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Before a new version is committed: a replica written by another site
    /// keeps that site's version id and is marked REPLICA; any other version
    /// gets PENDING for every destination its bucket's rules name.
    pub(crate) fn settle_replication(&self, put: &mut ObjectPut) -> Result<()> {
        if let Some(version_id) = take_replica_metadata(&mut put.record)? {
            put.version_id = Some(version_id);
            return Ok(());
        }
        let rules = self.replication_rules(&put.bucket)?;
        let record = &put.record;
        put.record.replication = pending(destinations(
            rules.iter().filter(|r| r.matches(&put.key, &record.tags)),
        ));
        Ok(())
    }

    /// A version's plain bytes, for a replication processor. SSE-S3 and
    /// SSE-KMS versions are opened here; SSE-C ones cannot be (the key is
    /// the customer's), which is an error.
    pub fn replication_source(&self, record: &ObjectRecord) -> Result<strata_data::ByteStream> {
        let key = self.data_key(record, None)?;
        self.read_data(record, 0..record.size, key)
    }

    /// The destinations the bucket's rules name for an existing version
    /// (what a backfill binds it to).
    pub fn replication_destinations(
        &self,
        bucket: &str,
        key: &str,
        record: &ObjectRecord,
    ) -> Result<Vec<String>> {
        let rules = self.replication_rules(bucket)?;
        let matching = rules.iter().filter(|r| {
            if record.delete_marker {
                r.matches_marker(key)
            } else {
                r.matches(key, &record.tags)
            }
        });
        Ok(destinations(matching)
            .into_iter()
            .map(str::to_string)
            .collect())
    }

    /// The replication state a delete marker for `key` is created with.
    pub(crate) fn marker_replication(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Option<Replication>> {
        let rules = self.replication_rules(bucket)?;
        Ok(pending(destinations(
            rules.iter().filter(|r| r.matches_marker(key)),
        )))
    }
}

/// Turns the `scal-*` metadata of a replica into the record's own fields
/// and returns the source's version id; None for an ordinary write.
fn take_replica_metadata(record: &mut ObjectRecord) -> Result<Option<String>> {
    let meta = &mut record.user_metadata;
    if meta.get(META_STATUS).map(String::as_str) != Some(ReplicationStatus::Replica.as_str()) {
        return Ok(None);
    }
    let bad = |what: &str| Error::InvalidRequest(format!("a replica's {what} is malformed"));
    meta.remove(META_STATUS);
    let version_id = meta
        .remove(META_VERSION_ID)
        .ok_or_else(|| bad("x-amz-meta-scal-version-id"))?;
    if let Some(etag) = meta.remove(META_ETAG) {
        record.etag = etag;
    }
    if let Some(checksum) = meta.remove(META_CHECKSUM) {
        record.checksum =
            Some(serde_json::from_str(&checksum).map_err(|_| bad("x-amz-meta-scal-checksum"))?);
    }
    if let Some(retention) = meta.remove(META_RETENTION) {
        record.retention =
            Some(serde_json::from_str(&retention).map_err(|_| bad("x-amz-meta-scal-retention"))?);
    }
    record.legal_hold = meta.remove(META_LEGAL_HOLD).as_deref() == Some("ON");
    if meta.remove(META_DELETE_MARKER).as_deref() == Some("true") {
        if record.size != 0 {
            return Err(bad("delete marker (it has bytes)"));
        }
        record.delete_marker = true;
        record.data.chunks.clear();
        record.etag.clear();
    }
    record.replication = Some(Replication::replica());
    Ok(Some(version_id))
}
