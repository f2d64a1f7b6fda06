//! The engine's own small durable state, in `engine.redb` beside the
//! metadata: checkpoints, failed replication entries, paused destinations.
//! Objects' metadata never goes here: the metadata store owns it.

use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use crate::{EngineError, Result};

const CHECKPOINTS: TableDefinition<&str, u64> = TableDefinition::new("checkpoints");
/// (location, bucket, key, version id) -> FailedEntry as JSON.
const FAILED: TableDefinition<(&str, &str, &str, &str), &[u8]> = TableDefinition::new("failed");
/// location -> Pause as JSON.
const PAUSES: TableDefinition<&str, &[u8]> = TableDefinition::new("pauses");
/// job name -> the job's own progress document (JSON).
const JOBS: TableDefinition<&str, &[u8]> = TableDefinition::new("jobs");
/// (location, bucket, key, upload id): the uploads copies keep open at
/// their destinations (see `copy.rs`).
const OPEN_UPLOADS: TableDefinition<(&str, &str, &str, &str), ()> =
    TableDefinition::new("open_uploads");

/// A version one destination could not get after every retry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedEntry {
    pub location: String,
    pub bucket: String,
    pub key: String,
    pub version_id: String,
    pub round: u32,
    pub size: u64,
    pub error: String,
    pub attempts: u32,
    pub failed_ms: i64,
}

/// An upload a copy opened at its destination and did not see end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenUpload {
    pub bucket: String,
    pub key: String,
    pub upload: String,
}

/// A destination an operator paused, perhaps until a set time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pause {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume_at_ms: Option<i64>,
}

pub struct EngineState {
    db: Database,
}

impl EngineState {
    pub fn open(path: &Path) -> Result<Self> {
        let db = Database::create(path)?;
        let txn = db.begin_write()?;
        {
            txn.open_table(CHECKPOINTS)?;
            txn.open_table(FAILED)?;
            txn.open_table(PAUSES)?;
            txn.open_table(JOBS)?;
            txn.open_table(OPEN_UPLOADS)?;
        }
        txn.commit()?;
        Ok(Self { db })
    }

    fn write(&self, f: impl FnOnce(&redb::WriteTransaction) -> Result<()>) -> Result<()> {
        let txn = self.db.begin_write()?;
        f(&txn)?;
        Ok(txn.commit()?)
    }

    pub fn checkpoint(&self, name: &str) -> Result<u64> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(CHECKPOINTS)?;
        Ok(table.get(name)?.map_or(0, |v| v.value()))
    }

    /// Saves a checkpoint durably.
    pub fn save_checkpoint(&self, name: &str, value: u64) -> Result<()> {
        self.write(|txn| {
            txn.open_table(CHECKPOINTS)?.insert(name, value)?;
            Ok(())
        })
    }

    pub fn add_failed(&self, entry: &FailedEntry) -> Result<()> {
        let json = serde_json::to_vec(entry)?;
        self.write(|txn| {
            txn.open_table(FAILED)?.insert(
                (
                    entry.location.as_str(),
                    entry.bucket.as_str(),
                    entry.key.as_str(),
                    entry.version_id.as_str(),
                ),
                json.as_slice(),
            )?;
            Ok(())
        })
    }

    /// A failed entry, None when it is not listed.
    pub fn failed_entry(
        &self,
        location: &str,
        bucket: &str,
        key: &str,
        version_id: &str,
    ) -> Result<Option<FailedEntry>> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(FAILED)?;
        let entry = table.get((location, bucket, key, version_id))?;
        Ok(entry
            .map(|v| serde_json::from_slice(v.value()))
            .transpose()?)
    }

    /// Removes a failed entry if `keep` returns false for the one listed
    /// now (in one transaction, so an entry added again meanwhile is seen).
    /// Returns whether one was removed.
    pub fn remove_failed_unless(
        &self,
        location: &str,
        bucket: &str,
        key: &str,
        version_id: &str,
        keep: impl FnOnce(&FailedEntry) -> bool,
    ) -> Result<bool> {
        if self
            .failed_entry(location, bucket, key, version_id)?
            .is_none()
        {
            return Ok(false); // the common case, without a write
        }
        let mut removed = false;
        self.write(|txn| {
            let mut table = txn.open_table(FAILED)?;
            let id = (location, bucket, key, version_id);
            let listed: Option<FailedEntry> = table
                .get(id)?
                .map(|v| serde_json::from_slice(v.value()))
                .transpose()?;
            if listed.is_some_and(|entry| !keep(&entry)) {
                table.remove(id)?;
                removed = true;
            }
            Ok(())
        })?;
        Ok(removed)
    }

    /// Failed entries in (location, bucket, key, version) order, strictly
    /// after `after`, at most `limit`; `location` narrows to one destination.
    pub fn list_failed(
        &self,
        location: Option<&str>,
        after: Option<&FailedEntry>,
        limit: usize,
    ) -> Result<Vec<FailedEntry>> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(FAILED)?;
        let start = after.map(|a| {
            (
                a.location.as_str(),
                a.bucket.as_str(),
                a.key.as_str(),
                a.version_id.as_str(),
            )
        });
        let range = match (start, location) {
            (Some(s), _) => table.range(s..)?,
            (None, Some(l)) => table.range((l, "", "", "")..)?,
            (None, None) => table.iter()?,
        };
        let mut out = Vec::new();
        for row in range {
            let (k, v) = row?;
            if start.is_some_and(|s| k.value() == s) {
                continue;
            }
            if location.is_some_and(|l| k.value().0 != l) || out.len() == limit {
                break;
            }
            out.push(serde_json::from_slice(v.value())?);
        }
        Ok(out)
    }

    /// How many entries failed, per destination.
    pub fn failed_counts(&self) -> Result<std::collections::BTreeMap<String, u64>> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(FAILED)?;
        let mut counts = std::collections::BTreeMap::new();
        for row in table.iter()? {
            let (k, _) = row?;
            *counts.entry(k.value().0.to_string()).or_insert(0) += 1;
        }
        Ok(counts)
    }

    pub fn pause(&self, location: &str) -> Result<Option<Pause>> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(PAUSES)?;
        table
            .get(location)?
            .map(|v| serde_json::from_slice(v.value()).map_err(EngineError::from))
            .transpose()
    }

    /// Pauses (Some) or resumes (None) a destination.
    pub fn set_pause(&self, location: &str, pause: Option<&Pause>) -> Result<()> {
        let json = pause.map(serde_json::to_vec).transpose()?;
        self.write(|txn| {
            let mut table = txn.open_table(PAUSES)?;
            match &json {
                Some(j) => table.insert(location, j.as_slice())?,
                None => table.remove(location)?,
            };
            Ok(())
        })
    }

    pub fn job<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<Option<T>> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(JOBS)?;
        table
            .get(name)?
            .map(|v| serde_json::from_slice(v.value()).map_err(EngineError::from))
            .transpose()
    }

    /// Every job whose name starts with `prefix`, with its document.
    pub fn jobs<T: serde::de::DeserializeOwned>(&self, prefix: &str) -> Result<Vec<(String, T)>> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(JOBS)?;
        let mut out = Vec::new();
        for row in table.range(prefix..)? {
            let (k, v) = row?;
            if !k.value().starts_with(prefix) {
                break;
            }
            out.push((k.value().to_string(), serde_json::from_slice(v.value())?));
        }
        Ok(out)
    }

    pub fn save_job<T: Serialize>(&self, name: &str, document: &T) -> Result<()> {
        let json = serde_json::to_vec(document)?;
        self.write(|txn| {
            txn.open_table(JOBS)?.insert(name, json.as_slice())?;
            Ok(())
        })
    }

    /// Records, durably, an upload a copy to `location` keeps open.
    pub fn add_open_upload(&self, location: &str, open: &OpenUpload) -> Result<()> {
        self.write(|txn| {
            txn.open_table(OPEN_UPLOADS)?.insert(
                (
                    location,
                    open.bucket.as_str(),
                    open.key.as_str(),
                    open.upload.as_str(),
                ),
                (),
            )?;
            Ok(())
        })
    }

    pub fn remove_open_upload(&self, location: &str, open: &OpenUpload) -> Result<()> {
        self.write(|txn| {
            txn.open_table(OPEN_UPLOADS)?.remove((
                location,
                open.bucket.as_str(),
                open.key.as_str(),
                open.upload.as_str(),
            ))?;
            Ok(())
        })
    }

    /// The uploads recorded for copies to `location`.
    pub fn open_uploads(&self, location: &str) -> Result<Vec<OpenUpload>> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(OPEN_UPLOADS)?;
        let mut out = Vec::new();
        for row in table.range((location, "", "", "")..)? {
            let (k, _) = row?;
            let (at, bucket, key, upload) = k.value();
            if at != location {
                break;
            }
            out.push(OpenUpload {
                bucket: bucket.to_string(),
                key: key.to_string(),
                upload: upload.to_string(),
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(bucket: &str, key: &str, upload: &str) -> OpenUpload {
        OpenUpload {
            bucket: bucket.into(),
            key: key.into(),
            upload: upload.into(),
        }
    }

    /// A location's uploads are its own, even beside a location whose name
    /// starts with it; forgetting one leaves the others.
    #[test]
    fn open_uploads_are_kept_per_location() {
        let dir = tempfile::tempdir().unwrap();
        let state = EngineState::open(&dir.path().join("engine.redb")).unwrap();
        let (a, b, c) = (
            open("b", "k", "u1"),
            open("b", "k", "u2"),
            open("b", "k", "u3"),
        );
        state.add_open_upload("moto", &a).unwrap();
        state.add_open_upload("moto", &b).unwrap();
        state.add_open_upload("moto-parted", &c).unwrap();
        state.add_open_upload("mot", &c).unwrap();
        assert_eq!(state.open_uploads("moto").unwrap(), [a.clone(), b.clone()]);
        assert_eq!(state.open_uploads("moto-parted").unwrap(), [c]);
        state.remove_open_upload("moto", &a).unwrap();
        assert_eq!(state.open_uploads("moto").unwrap(), [b]);
        assert!(state.open_uploads("other").unwrap().is_empty());
    }
}
