//! A write of known size too large for one request (over the location's
//! `max_single_put_mib`), sent as consecutive parts: an S3 multipart upload,
//! or Azure blocks and their block list. Each part is one streamed request
//! of Strata's own, so memory stays bounded whatever the size, the object's
//! name is exact, and the part size grows with the object so the service's
//! part-count limit is never reached.

use std::sync::Arc;

use bytes::Bytes;

use crate::s3_requests::{check_complete, take};
use crate::{BlobWriter, Result};

/// Where a parted write's parts go: one upload (block list) in the making.
#[async_trait::async_trait]
pub(crate) trait Parts: Send + Sync + 'static {
    /// Starts part `number` (from 1) of exactly `size` bytes; its commit
    /// returns the part's tag for `finish`.
    async fn part(&self, number: u32, size: u64) -> Result<Box<dyn BlobWriter>>;
    /// Makes the object of `parts` (number and tag, in order); returns the
    /// version the location gave it, if any.
    async fn finish(&self, parts: Vec<(u32, String)>) -> Result<Option<String>>;
    /// Drops what an unfinished write left in the backend (in the background:
    /// called from `Drop`).
    fn abandon(self: Arc<Self>);
}

/// The size of each part of a `size`-byte write: `preferred`, or larger when
/// the write would otherwise need more than `max_parts`.
pub(crate) fn part_size(size: u64, preferred: u64, max_parts: u64) -> u64 {
    size.div_ceil(max_parts).max(preferred).max(1)
}

pub(crate) struct PartedWriter {
    parts: Arc<dyn Parts>,
    part_size: u64,
    /// Bytes still to come, and those of them no part has been started for.
    left: u64,
    unassigned: u64,
    /// The part being written and the bytes it still takes.
    current: Option<(Box<dyn BlobWriter>, u64)>,
    done: Vec<(u32, String)>,
    finished: bool,
}

impl PartedWriter {
    pub(crate) fn new(parts: Arc<dyn Parts>, size: u64, part_size: u64) -> Self {
        Self {
            parts,
            part_size,
            left: size,
            unassigned: size,
            current: None,
            done: Vec::new(),
            finished: false,
        }
    }
}

#[async_trait::async_trait]
impl BlobWriter for PartedWriter {
    async fn write(&mut self, mut data: Bytes) -> Result<()> {
        take(&mut self.left, data.len())?;
        while !data.is_empty() {
            let number = self.done.len() as u32 + 1;
            let (mut writer, mut room) = match self.current.take() {
                Some(current) => current,
                None => {
                    let size = self.part_size.min(self.unassigned);
                    self.unassigned -= size;
                    (self.parts.part(number, size).await?, size)
                }
            };
            let piece = data.split_to(room.min(data.len() as u64) as usize);
            room -= piece.len() as u64;
            writer.write(piece).await?;
            if room == 0 {
                let tag = writer.commit().await?.unwrap_or_default();
                self.done.push((number, tag));
            } else {
                self.current = Some((writer, room));
            }
        }
        Ok(())
    }

    /// Every part was sent (and ended) as its last byte came: what is left
    /// is making the object of them.
    async fn commit(mut self: Box<Self>) -> Result<Option<String>> {
        check_complete(self.left)?;
        let version = self.parts.finish(std::mem::take(&mut self.done)).await?;
        self.finished = true;
        Ok(version)
    }
}

impl Drop for PartedWriter {
    fn drop(&mut self) {
        if !self.finished {
            self.parts.clone().abandon();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::part_size;

    #[test]
    fn parts_grow_so_their_count_stays_under_the_limit() {
        const MIB: u64 = 1 << 20;
        assert_eq!(part_size(6 << 30, 512 * MIB, 10_000), 512 * MIB);
        // 5 TiB, S3's largest object, in at most 10,000 parts
        let big = part_size(5 << 40, 512 * MIB, 10_000);
        assert!(big > 512 * MIB && (5u64 << 40).div_ceil(big) <= 10_000);
        assert_eq!(part_size(10, 0, 10_000), 1);
    }
}
