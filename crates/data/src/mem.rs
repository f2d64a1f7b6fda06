//! The `mem` location: blobs in process memory. For tests and ephemeral
//! servers; everything is gone when the process stops.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};

use crate::{BlobWriter, ByteStream, DataBackend, DataError, Result};

#[derive(Default, Clone)]
pub struct MemBackend {
    blobs: Arc<Mutex<HashMap<String, Bytes>>>,
}

impl MemBackend {
    fn blobs(&self) -> std::sync::MutexGuard<'_, HashMap<String, Bytes>> {
        // A panic while holding the lock cannot leave the map half-updated.
        self.blobs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
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
            key: key.to_string(),
            buf: BytesMut::new(),
        }))
    }

    async fn read(&self, key: &str, range: Range<u64>) -> Result<ByteStream> {
        let blob = self
            .blobs()
            .get(key)
            .cloned()
            .ok_or_else(|| DataError::NotFound(key.to_string()))?;
        let end = (range.end as usize).min(blob.len());
        let start = (range.start as usize).min(end);
        let slice = blob.slice(start..end);
        Ok(Box::pin(futures::stream::once(async move { Ok(slice) })))
    }

    async fn delete(&self, key: &str) -> Result<()> {
        self.blobs().remove(key);
        Ok(())
    }
}

struct MemWriter {
    backend: MemBackend,
    key: String,
    buf: BytesMut,
}

#[async_trait::async_trait]
impl BlobWriter for MemWriter {
    async fn write(&mut self, data: Bytes) -> Result<()> {
        self.buf.extend_from_slice(&data);
        Ok(())
    }

    async fn commit(self: Box<Self>) -> Result<()> {
        self.backend.blobs().insert(self.key, self.buf.freeze());
        Ok(())
    }
}
