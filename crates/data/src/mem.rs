//! The `mem` location: blobs and object copies in process memory. For tests
//! and ephemeral servers; everything is gone when the process stops.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::{Bytes, BytesMut};

use crate::{
    BlobWriter, ByteStream, Committed, CopyAttributes, CurrentCopy, DataBackend, DataError, Result,
    failing,
};

/// Object copies by (bucket, key).
type Copies = HashMap<(String, String), (Bytes, CopyAttributes)>;

#[derive(Default, Clone)]
pub struct MemBackend {
    blobs: Arc<Mutex<HashMap<String, Bytes>>>,
    copies: Arc<Mutex<Copies>>,
}

/// A panic while holding one of the locks cannot leave its map half-updated.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl MemBackend {
    fn blobs(&self) -> MutexGuard<'_, HashMap<String, Bytes>> {
        lock(&self.blobs)
    }

    fn copies(&self) -> MutexGuard<'_, Copies> {
        lock(&self.copies)
    }
}

fn once(bytes: Bytes) -> ByteStream {
    Box::pin(futures::stream::once(async move { Ok(bytes) }))
}

#[async_trait::async_trait]
impl DataBackend for MemBackend {
    fn kind(&self) -> &'static str {
        "mem"
    }

    async fn check(&self) -> Result<()> {
        Ok(())
    }

    async fn create(&self, key: &str) -> Result<Box<dyn BlobWriter>> {
        Ok(Box::new(MemWriter {
            backend: self.clone(),
            target: Target::Blob(key.to_string()),
            buf: BytesMut::new(),
        }))
    }

    async fn read(
        &self,
        key: &str,
        _version: Option<&str>,
        range: Range<u64>,
    ) -> Result<ByteStream> {
        let blob = self
            .blobs()
            .get(key)
            .cloned()
            .ok_or_else(|| DataError::NotFound(key.to_string()))?;
        let end = (range.end as usize).min(blob.len());
        let start = (range.start as usize).min(end);
        Ok(once(blob.slice(start..end)))
    }

    async fn delete(&self, key: &str) -> Result<()> {
        self.blobs().remove(key);
        Ok(())
    }

    /// `<bucket>/<key>`: copies live apart from blobs.
    fn copy_key(&self, bucket: &str, key: &str) -> String {
        format!("{bucket}/{key}")
    }

    async fn create_copy(
        &self,
        bucket: &str,
        key: &str,
        _size: u64,
        attributes: &CopyAttributes,
    ) -> Result<Box<dyn BlobWriter>> {
        Ok(Box::new(MemWriter {
            backend: self.clone(),
            target: Target::Copy((bucket.to_string(), key.to_string()), attributes.clone()),
            buf: BytesMut::new(),
        }))
    }

    async fn delete_copy(&self, bucket: &str, key: &str) -> Result<()> {
        self.copies().remove(&(bucket.to_string(), key.to_string()));
        Ok(())
    }

    async fn head_copy(&self, bucket: &str, key: &str) -> Result<Option<(u64, CopyAttributes)>> {
        Ok(self
            .copies()
            .get(&(bucket.to_string(), key.to_string()))
            .map(|(bytes, attributes)| (bytes.len() as u64, attributes.clone())))
    }

    async fn read_copy(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
        range: Option<Range<u64>>,
    ) -> Result<ByteStream> {
        let not_found = || DataError::NotFound(self.copy_key(bucket, key));
        if version.is_some() {
            return Err(not_found());
        }
        let (bytes, _) = self
            .copies()
            .get(&(bucket.to_string(), key.to_string()))
            .cloned()
            .ok_or_else(not_found)?;
        let range = range.unwrap_or(0..bytes.len() as u64);
        Ok(once(slice(&bytes, range).ok_or_else(not_found)?))
    }

    async fn read_current_copy(
        &self,
        bucket: &str,
        key: &str,
        range: Range<u64>,
    ) -> Result<Option<CurrentCopy>> {
        let copy = self
            .copies()
            .get(&(bucket.to_string(), key.to_string()))
            .cloned();
        let Some((bytes, attributes)) = copy else {
            return Ok(None);
        };
        let part = match slice(&bytes, range) {
            Some(part) => once(part),
            None => failing(DataError::NotFound(self.copy_key(bucket, key))),
        };
        Ok(Some(CurrentCopy {
            size: bytes.len() as u64,
            attributes,
            bytes: part,
        }))
    }
}

/// `range` of `bytes`, None when it does not lie within them.
fn slice(bytes: &Bytes, range: Range<u64>) -> Option<Bytes> {
    (range.start <= range.end && range.end <= bytes.len() as u64)
        .then(|| bytes.slice(range.start as usize..range.end as usize))
}

enum Target {
    Blob(String),
    Copy((String, String), CopyAttributes),
}

struct MemWriter {
    backend: MemBackend,
    target: Target,
    buf: BytesMut,
}

#[async_trait::async_trait]
impl BlobWriter for MemWriter {
    async fn write(&mut self, data: Bytes) -> Result<()> {
        self.buf.extend_from_slice(&data);
        Ok(())
    }

    async fn commit(self: Box<Self>) -> Result<Committed> {
        let bytes = self.buf.freeze();
        match self.target {
            Target::Blob(key) => {
                self.backend.blobs().insert(key, bytes);
            }
            Target::Copy(name, attributes) => {
                self.backend.copies().insert(name, (bytes, attributes));
            }
        }
        Ok(Committed::default())
    }
}
