//! The embedded store's locations table, and the check that a location no
//! longer holds anything before it goes. It never reads a location's declaration.

use redb::{ReadableTable, WriteTransaction};

use super::{BUCKETS, GARBAGE, Json, LOCATIONS, OPEN_BLOBS, UPLOADS, VERSIONS, decode, encode};
use crate::records::{BucketRecord, LocationRecord, ObjectRecord, UploadRecord};
use crate::{MetaError, Result};

pub(super) fn create(txn: &WriteTransaction, location: &LocationRecord) -> Result<()> {
    let mut table = txn.open_table(LOCATIONS)?;
    if table.get(location.name.as_str())?.is_some() {
        return Err(MetaError::LocationExists(location.name.clone()));
    }
    table.insert(location.name.as_str(), encode(location)?.as_slice())?;
    Ok(())
}

pub(super) fn delete(txn: &WriteTransaction, name: &str) -> Result<()> {
    if txn.open_table(LOCATIONS)?.get(name)?.is_none() {
        return Err(MetaError::NoSuchLocation(name.to_string()));
    }
    if let Some(why) = in_use(txn, name)? {
        return Err(MetaError::LocationInUse {
            name: name.to_string(),
            why,
        });
    }
    txn.open_table(LOCATIONS)?.remove(name)?;
    Ok(())
}

/// What still refers to the location, if anything. Scans every record: an
/// admin command, run rarely, on a stopped server.
fn in_use(txn: &WriteTransaction, name: &str) -> Result<Option<String>> {
    let first = |what: &str, found: Option<String>| found.map(|x| format!("{what} {x}"));
    let buckets = txn.open_table(BUCKETS)?;
    let bucket = find(&buckets, |b: BucketRecord| {
        (b.location == name).then_some(b.name)
    })?;
    if let Some(why) = first("bucket", bucket) {
        return Ok(Some(why));
    }
    // Every version counts, not only current ones.
    let versions = txn.open_table(VERSIONS)?;
    for row in versions.iter()? {
        let (k, v) = row?;
        let record: ObjectRecord = decode(v.value())?;
        let replicating = record.replication.as_ref().is_some_and(|r| {
            r.destinations
                .iter()
                .any(|d| d.location == name && d.status.is_unfinished())
        });
        if record.data.location == name || replicating {
            let (bucket, key, _) = k.value();
            let what = if replicating {
                "still replicating to it"
            } else {
                "its data there"
            };
            return Ok(Some(format!(
                "object {bucket}/{} ({what})",
                String::from_utf8_lossy(key)
            )));
        }
    }
    let uploads = txn.open_table(UPLOADS)?;
    let upload = find(&uploads, |u: UploadRecord| {
        (u.location == name).then(|| format!("{}/{} ({})", u.bucket, u.key, u.upload_id))
    })?;
    if let Some(why) = first("multipart upload", upload) {
        return Ok(Some(why));
    }
    for (table, what) in [
        (GARBAGE, "garbage blob"),
        (OPEN_BLOBS, "blob being written"),
    ] {
        let table = txn.open_table(table)?;
        if let Some(row) = table.range((name, "")..)?.next() {
            let (k, _) = row?;
            let (location, key) = k.value();
            if location == name {
                return Ok(Some(format!("{what} {key} (gc has not removed it yet)")));
            }
        }
    }
    Ok(None)
}

fn find<K: redb::Key + 'static, T: serde::de::DeserializeOwned>(
    table: &impl ReadableTable<K, Json>,
    hit: impl Fn(T) -> Option<String>,
) -> Result<Option<String>> {
    for row in table.iter()? {
        if let Some(found) = hit(decode(row?.1.value())?) {
            return Ok(Some(found));
        }
    }
    Ok(None)
}
