//! Transient sources: a version written to a `transient` location keeps its
//! bytes there only until every replication destination holds a copy. Then
//! its locator moves to a destination's copy, pinned by the version that
//! destination gave it, reads go there, and the local bytes are collected.

use strata_meta::{
    BlobRef, Chunk, DataLocator, DestinationState, ObjectRecord, ReplicationStatus, VersionUpdate,
};

use crate::{Result, Strata};

impl Strata {
    /// Lets a transient source's version go once it is COMPLETED at every
    /// destination; returns the location its reads go to from now on, or
    /// None when the version keeps its bytes (not transient, not complete,
    /// already moved, or no destination can serve this very version).
    pub async fn release_transient(
        &self,
        bucket: &str,
        key: &str,
        record: &ObjectRecord,
    ) -> Result<Option<String>> {
        let Some(replication) = &record.replication else {
            return Ok(None);
        };
        let movable = replication.status == ReplicationStatus::Completed
            && self.locations.is_transient(&record.data.location)
            && !record.delete_marker
            && record.version_id.is_some()
            && !record.data.chunks.is_empty()
            // Copies hold the plain bytes, while the version says it is sealed.
            && record.encryption.is_none()
            && record
                .data
                .chunks
                .iter()
                .all(|c| !matches!(c.blob, BlobRef::Copy { .. }));
        if !movable {
            return Ok(None);
        }
        let preferred = self.preferred_read(bucket)?;
        let destinations = &replication.destinations;
        // The preferred destination first, then any other: only a copy the
        // destination keeps by version (a versioned bucket, a Strata site)
        // stays this version's once newer versions replace the current copy.
        let pinned = |d: &DestinationState| Some((d.location.clone(), d.copy_version.clone()?));
        let target = destinations
            .iter()
            .filter(|d| Some(d.location.as_str()) == preferred.as_deref())
            .chain(destinations)
            .find_map(pinned);
        let Some((location, version)) = target else {
            tracing::debug!(
                bucket,
                key,
                "no destination keeps this version's copy by version; its bytes stay"
            );
            return Ok(None);
        };
        let locator = DataLocator {
            location: location.clone(),
            chunks: vec![Chunk {
                size: record.size,
                blob: BlobRef::Copy {
                    bucket: bucket.to_string(),
                    key: key.to_string(),
                    version,
                },
                version: None,
            }],
        };
        self.meta
            .update_version(
                bucket,
                key,
                record.version_id.as_deref(),
                VersionUpdate::Relocate(locator),
            )
            .await?;
        self.gc_wakeup.notify_one();
        Ok(Some(location))
    }

    /// The destination a bucket's rules mark `:preferred_read`, if any.
    fn preferred_read(&self, bucket: &str) -> Result<Option<String>> {
        Ok(self
            .replication_rules(bucket)?
            .iter()
            .find_map(|r| r.destination.preferred_read().map(str::to_string)))
    }
}
