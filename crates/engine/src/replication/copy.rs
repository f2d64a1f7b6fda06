//! Sends one version to one destination: its bytes streamed with bounded
//! memory into the destination's object copy, with metadata, tags and the
//! `scal-*` fields that let a Strata destination keep the version as is.

use futures::TryStreamExt;
use strata_core::replication::{
    META_CHECKSUM, META_DELETE_MARKER, META_ETAG, META_LEGAL_HOLD, META_RETENTION, META_STATUS,
    META_VERSION_ID,
};
use strata_data::{CopyAttributes, DataBackend, DataError};
use strata_meta::{ObjectRecord, ReplicationStatus};

use super::Replication;
use crate::Result;
use crate::state::OpenUpload;

/// What sending a version did.
pub struct Sent {
    pub bytes: u64,
    /// The version the destination gave its copy, when it keeps versions.
    pub copy_version: Option<String>,
}

/// Copies `record` (a version of `bucket/key`) to `location`, whose
/// backend is `destination`, telling `on_progress` the bytes sent so far.
/// Sending the same version again replaces the copy with the same bytes:
/// redelivery is harmless.
///
/// A copy that keeps an upload open at the destination while it runs (an
/// S3 multipart upload, over the location's single-PUT limit) records it
/// in the engine state until it completes, so one a crash cuts short is
/// aborted when the destination's data processor starts or stops instead of
/// keeping its parts there (`abort_left_uploads`). A copy that fails aborts
/// its upload before it returns (`close_upload`).
pub async fn send_version(
    replication: &Replication,
    location: &str,
    destination: &dyn DataBackend,
    bucket: &str,
    key: &str,
    record: &ObjectRecord,
    on_progress: &(dyn Fn(u64) + Sync),
) -> Result<Sent> {
    if record.delete_marker {
        return send_delete_marker(destination, bucket, key, record).await;
    }
    let attributes = copy_attributes(record);
    let mut chunks = replication.strata.replication_source(record)?;
    let mut writer = destination
        .create_copy(bucket, key, record.size, &attributes)
        .await?;
    let open = writer.unfinished_upload().map(|upload| OpenUpload {
        bucket: bucket.to_string(),
        key: key.to_string(),
        upload,
    });
    if let Some(open) = &open {
        replication.state.add_open_upload(location, open)?;
    }
    // The writer goes with this block: on an error it is dropped (and
    // starts aborting its upload) before the abort below.
    let sent = async {
        let mut sent = 0u64;
        while let Some(chunk) = chunks.try_next().await? {
            sent += chunk.len() as u64;
            writer.write(chunk).await?;
            on_progress(sent);
        }
        Ok::<_, crate::EngineError>(Sent {
            bytes: sent,
            copy_version: writer.commit().await?.version,
        })
    }
    .await;
    if let Some(open) = &open {
        match &sent {
            Ok(_) => forget_upload(replication, location, open),
            Err(_) => close_upload(replication, location, destination, open).await,
        }
    }
    sent
}

/// A Strata site keeps the marker itself (an empty object it recognises);
/// a foreign cloud has no markers: its copy of the object goes, as Zenko does.
async fn send_delete_marker(
    destination: &dyn DataBackend,
    bucket: &str,
    key: &str,
    record: &ObjectRecord,
) -> Result<Sent> {
    let mut copy_version = None;
    if destination.keeps_versions() {
        let mut attributes = CopyAttributes::default();
        replica_fields(&mut attributes, record);
        attributes
            .metadata
            .insert(META_DELETE_MARKER.into(), "true".into());
        let writer = destination.create_copy(bucket, key, 0, &attributes).await?;
        copy_version = writer.commit().await?.version;
    } else {
        destination.delete_copy(bucket, key).await?;
    }
    Ok(Sent {
        bytes: 0,
        copy_version,
    })
}

fn replica_fields(attributes: &mut CopyAttributes, record: &ObjectRecord) {
    let meta = &mut attributes.metadata;
    meta.insert(
        META_STATUS.into(),
        ReplicationStatus::Replica.as_str().into(),
    );
    meta.insert(META_VERSION_ID.into(), record.version_name().into());
}

fn copy_attributes(record: &ObjectRecord) -> CopyAttributes {
    let headers = &record.headers;
    let mut attributes = CopyAttributes {
        content_type: headers.content_type.clone(),
        content_encoding: headers.content_encoding.clone(),
        content_disposition: headers.content_disposition.clone(),
        content_language: headers.content_language.clone(),
        cache_control: headers.cache_control.clone(),
        metadata: record.user_metadata.clone(),
        tags: record.tags.clone(),
    };
    replica_fields(&mut attributes, record);
    let meta = &mut attributes.metadata;
    meta.insert(META_ETAG.into(), record.etag.clone());
    if let Some(json) = record
        .checksum
        .as_ref()
        .and_then(|c| serde_json::to_string(c).ok())
    {
        meta.insert(META_CHECKSUM.into(), json);
    }
    if let Some(json) = record
        .retention
        .as_ref()
        .and_then(|r| serde_json::to_string(r).ok())
    {
        meta.insert(META_RETENTION.into(), json);
    }
    if record.legal_hold {
        meta.insert(META_LEGAL_HOLD.into(), "ON".into());
    }
    attributes
}

/// Aborts the uploads that copies to `location` left open when they were
/// cut short (a crash, or a failure whose abort did not get through), one
/// by one (`close_upload`). Only while no copy to `location` runs: as its
/// data processor starts, and as it stops (with the backend it had: a
/// location replaced or removed meanwhile gets no other chance).
pub async fn abort_left_uploads(
    replication: &Replication,
    location: &str,
    destination: &dyn DataBackend,
) -> Result<()> {
    for open in replication.state.open_uploads(location)? {
        close_upload(replication, location, destination, &open).await;
    }
    Ok(())
}

/// Aborts a copy's upload and forgets it. One the destination refuses to
/// abort (no `s3:AbortMultipartUpload` permission, say) is forgotten too,
/// with a warning, since asking again cannot help; one it cannot answer
/// about now (down) stays recorded for the next try.
async fn close_upload(
    replication: &Replication,
    location: &str,
    destination: &dyn DataBackend,
    open: &OpenUpload,
) {
    let (bucket, key) = (&open.bucket, &open.key);
    match destination
        .abort_copy_upload(bucket, key, &open.upload)
        .await
    {
        Ok(()) => forget_upload(replication, location, open),
        Err(e @ DataError::Refused(_)) => {
            tracing::warn!(%location, %bucket, %key, error = %e, "the destination refuses to abort a copy's unfinished upload; an AbortIncompleteMultipartUpload lifecycle rule there must clear it");
            forget_upload(replication, location, open);
        }
        Err(e) => {
            tracing::warn!(%location, %bucket, %key, error = %e, "could not abort a copy's unfinished upload; trying again when the data processor next starts or stops")
        }
    }
}

/// Drops an upload's record. Failing to is only logged: the copy itself
/// went as it did, and a later abort of an upload already gone succeeds.
fn forget_upload(replication: &Replication, location: &str, open: &OpenUpload) {
    if let Err(e) = replication.state.remove_open_upload(location, open) {
        tracing::warn!(%location, bucket = %open.bucket, key = %open.key, error = %e, "could not forget a copy's upload");
    }
}
