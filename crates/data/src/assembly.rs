//! Multipart objects a cloud location assembles itself, so a completed upload is one
//! backend object: on `s3` an S3 multipart upload whose part numbers are the client's,
//! on `azure` staged blocks committed as one block list.
//!
//! Parts stream with bounded memory. object_store's multipart API wants each part
//! whole in memory and numbers parts by position, so on `s3` the part uploads and the
//! completion are requests of Strata's own (`s3_requests`); object_store still starts
//! and aborts uploads, with the location's credentials and server-side encryption.
//! On `azure` a part is staged as blocks of `BLOCK_SIZE` (their ids random, so a
//! retried part never overwrites the blocks of the one before).

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use object_store::PutPayload;
use object_store::azure::MicrosoftAzure;
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path;
use tokio::task::JoinHandle;

use crate::cloud::backend_error;
use crate::s3_requests::{S3Requests, check_complete, take};
use crate::{BlobWriter, Committed, DataError, Result};

/// Azure block size: a part's writer buffers at most this much per block.
const BLOCK_SIZE: usize = 8 << 20;
/// Azure blocks in flight per part writer.
const BLOCKS_IN_FLIGHT: usize = 2;

/// How a cloud location assembles multipart objects.
pub(crate) enum Assembler {
    S3(Arc<S3Requests>),
    Azure(Arc<MicrosoftAzure>),
}

impl Assembler {
    pub(crate) async fn start(&self, path: &Path) -> Result<String> {
        let store: &dyn MultipartStore = match self {
            Assembler::S3(s3) => &*s3.store,
            Assembler::Azure(azure) => &**azure,
        };
        store.create_multipart(path).await.map_err(backend_error)
    }

    pub(crate) async fn create_part(
        &self,
        path: &Path,
        assembly: &str,
        number: u32,
        size: u64,
    ) -> Result<Box<dyn BlobWriter>> {
        match self {
            Assembler::S3(s3) => {
                s3.create_part((path.as_ref(), assembly), number, size, true)
                    .await
            }
            Assembler::Azure(azure) => Ok(Box::new(AzurePartWriter {
                store: azure.clone(),
                path: path.clone(),
                assembly: assembly.to_string(),
                buf: BytesMut::new(),
                staging: VecDeque::new(),
                blocks: Vec::new(),
                left: size,
            })),
        }
    }

    pub(crate) async fn finish(
        &self,
        path: &Path,
        assembly: &str,
        parts: &[(u32, String)],
    ) -> Result<Option<String>> {
        match self {
            Assembler::S3(s3) => s3.finish(path.as_ref(), assembly, parts).await,
            Assembler::Azure(azure) => {
                let blocks = parts
                    .iter()
                    .flat_map(|(_, tag)| tag.split(',').filter(|id| !id.is_empty()))
                    .map(|id| PartId {
                        content_id: id.to_string(),
                    })
                    .collect();
                let put = azure
                    .complete_multipart(path, &assembly.to_string(), blocks)
                    .await
                    .map_err(backend_error)?;
                Ok(put.version)
            }
        }
    }

    /// Drops an unfinished upload; with no id, every unfinished upload of
    /// the path (one started by a process that died before it recorded the
    /// id). Azure keeps uncommitted blocks for a week at most, and has no
    /// call to drop them.
    pub(crate) async fn abort(&self, path: &Path, assembly: &str) -> Result<()> {
        let Assembler::S3(s3) = self else {
            return Ok(());
        };
        let ids = if assembly.is_empty() {
            s3.uploads_of(path.as_ref()).await?
        } else {
            vec![assembly.to_string()]
        };
        for id in ids {
            s3.abort_upload(path.as_ref(), &id).await?;
        }
        Ok(())
    }
}

/// One part staged as Azure blocks.
struct AzurePartWriter {
    store: Arc<MicrosoftAzure>,
    path: Path,
    assembly: String,
    /// The block being filled.
    buf: BytesMut,
    staging: VecDeque<JoinHandle<Result<String>>>,
    /// Ids of the blocks staged so far, in order.
    blocks: Vec<String>,
    left: u64,
}

impl AzurePartWriter {
    fn stage(&mut self, block: Bytes) {
        let (store, path, assembly) =
            (self.store.clone(), self.path.clone(), self.assembly.clone());
        self.staging.push_back(tokio::spawn(async move {
            let id = store
                .put_part(&path, &assembly, 0, PutPayload::from(block))
                .await
                .map_err(backend_error)?;
            Ok(id.content_id)
        }));
    }

    async fn settle_one(&mut self) -> Result<()> {
        if let Some(task) = self.staging.pop_front() {
            let id = task
                .await
                .map_err(|e| DataError::Unavailable(format!("Put Block: {e}")))??;
            self.blocks.push(id);
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl BlobWriter for AzurePartWriter {
    async fn write(&mut self, data: Bytes) -> Result<()> {
        take(&mut self.left, data.len())?;
        self.buf.extend_from_slice(&data);
        while self.buf.len() >= BLOCK_SIZE {
            while self.staging.len() >= BLOCKS_IN_FLIGHT {
                self.settle_one().await?;
            }
            let block = self.buf.split_to(BLOCK_SIZE).freeze();
            self.stage(block);
        }
        Ok(())
    }

    async fn commit(mut self: Box<Self>) -> Result<Committed> {
        check_complete(self.left)?;
        if !self.buf.is_empty() {
            let block = self.buf.split().freeze();
            self.stage(block);
        }
        while !self.staging.is_empty() {
            self.settle_one().await?;
        }
        Ok(Committed::version(Some(self.blocks.join(","))))
    }
}

impl Drop for AzurePartWriter {
    fn drop(&mut self) {
        for task in &self.staging {
            task.abort();
        }
    }
}
