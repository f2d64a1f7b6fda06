//! A write of known size too large for one request (over the location's
//! `max_single_put_mib`), sent as consecutive parts: an S3 multipart upload,
//! or Azure blocks and their block list. Each part is one streamed request
//! of Strata's own, so memory stays bounded whatever the size, the object's
//! name is exact, and the part size grows with the object so the service's
//! part-count limit is never reached.

use std::sync::Arc;

use bytes::Bytes;

use crate::s3_requests::{check_complete, take};
use crate::{BlobWriter, Committed, DataError, Result};

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
    /// See `BlobWriter::unfinished_upload`.
    fn upload_id(&self) -> Option<String>;
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
    /// Set while a write runs and left set when it fails or is cancelled:
    /// the parts then no longer add up, so nothing more is taken.
    broken: bool,
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
            broken: false,
        }
    }

    fn usable(&self) -> Result<()> {
        if self.broken {
            return Err(DataError::Unavailable(
                "an earlier write of these parts failed".into(),
            ));
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl BlobWriter for PartedWriter {
    async fn write(&mut self, mut data: Bytes) -> Result<()> {
        self.usable()?;
        take(&mut self.left, data.len())?;
        self.broken = true;
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
                let tag = writer.commit().await?.version.unwrap_or_default();
                self.done.push((number, tag));
            } else {
                self.current = Some((writer, room));
            }
        }
        self.broken = false;
        Ok(())
    }

    /// Every part was sent (and ended) as its last byte came: what is left
    /// is making the object of them.
    async fn commit(mut self: Box<Self>) -> Result<Committed> {
        self.usable()?;
        check_complete(self.left)?;
        let version = self.parts.finish(std::mem::take(&mut self.done)).await?;
        self.finished = true;
        Ok(Committed::version(version))
    }

    fn unfinished_upload(&self) -> Option<String> {
        self.parts.upload_id()
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
    use std::sync::Mutex;

    use super::*;

    /// Parts kept in memory: each part's number and bytes, then the list
    /// `finish` was given.
    #[derive(Default)]
    struct Recorded {
        parts: Mutex<Vec<(u32, u64, Vec<u8>)>>,
        finished: Mutex<Option<Vec<(u32, String)>>>,
        /// Part numbers whose commit fails.
        failing: Vec<u32>,
    }

    struct PartWriter {
        parts: Arc<Recorded>,
        number: u32,
        size: u64,
        bytes: Vec<u8>,
    }

    #[async_trait::async_trait]
    impl BlobWriter for PartWriter {
        async fn write(&mut self, data: Bytes) -> Result<()> {
            self.bytes.extend_from_slice(&data);
            Ok(())
        }
        async fn commit(self: Box<Self>) -> Result<Committed> {
            if self.parts.failing.contains(&self.number) {
                return Err(DataError::Unavailable("HTTP 500".into()));
            }
            let tag = format!("tag{}", self.number);
            let part = (self.number, self.size, self.bytes);
            self.parts.parts.lock().unwrap().push(part);
            Ok(Committed::version(Some(tag)))
        }
    }

    struct Shared(Arc<Recorded>);

    #[async_trait::async_trait]
    impl Parts for Shared {
        async fn part(&self, number: u32, size: u64) -> Result<Box<dyn BlobWriter>> {
            Ok(Box::new(PartWriter {
                parts: self.0.clone(),
                number,
                size,
                bytes: Vec::new(),
            }))
        }
        async fn finish(&self, parts: Vec<(u32, String)>) -> Result<Option<String>> {
            *self.0.finished.lock().unwrap() = Some(parts);
            Ok(Some("v1".into()))
        }
        fn abandon(self: Arc<Self>) {}
        fn upload_id(&self) -> Option<String> {
            None
        }
    }

    fn writer(recorded: &Arc<Recorded>, size: u64, part: u64) -> PartedWriter {
        PartedWriter::new(Arc::new(Shared(recorded.clone())), size, part)
    }

    #[tokio::test]
    async fn chunks_are_split_across_parts_of_the_exact_size() {
        let recorded = Arc::new(Recorded::default());
        let data: Vec<u8> = (0..23u8).collect();
        let mut w = writer(&recorded, 23, 5);
        // chunks that straddle parts, end on a boundary, and span several
        let mut at = 0;
        for n in [3, 7, 5, 1, 7] {
            w.write(Bytes::copy_from_slice(&data[at..at + n]))
                .await
                .unwrap();
            at += n;
        }
        assert_eq!(
            Box::new(w).commit().await.unwrap(),
            Committed::version(Some("v1".into()))
        );
        let parts = recorded.parts.lock().unwrap().clone();
        let sizes: Vec<(u32, u64)> = parts.iter().map(|(n, s, _)| (*n, *s)).collect();
        assert_eq!(sizes, [(1, 5), (2, 5), (3, 5), (4, 5), (5, 3)]);
        assert!(
            parts
                .iter()
                .all(|(_, size, bytes)| bytes.len() as u64 == *size)
        );
        let joined: Vec<u8> = parts.into_iter().flat_map(|(_, _, b)| b).collect();
        assert_eq!(joined, data);
        let finished = recorded.finished.lock().unwrap().clone().unwrap();
        let numbers: Vec<u32> = finished.iter().map(|(n, _)| *n).collect();
        assert_eq!(numbers, [1, 2, 3, 4, 5]);
        assert_eq!(finished[4].1, "tag5");
    }

    #[tokio::test]
    async fn too_few_too_many_or_failed_writes_never_finish() {
        let recorded = Arc::new(Recorded::default());
        let mut short = writer(&recorded, 10, 4);
        short.write(Bytes::from_static(b"123456789")).await.unwrap();
        assert!(Box::new(short).commit().await.is_err());
        let mut long = writer(&recorded, 3, 4);
        assert!(long.write(Bytes::from_static(b"1234")).await.is_err());

        let failing = Arc::new(Recorded {
            failing: vec![2],
            ..Default::default()
        });
        let mut w = writer(&failing, 10, 4);
        assert!(w.write(Bytes::from_static(b"12345678")).await.is_err());
        assert!(w.write(Bytes::from_static(b"90")).await.is_err(), "broken");
        assert!(Box::new(w).commit().await.is_err());
        assert!(recorded.finished.lock().unwrap().is_none());
        assert!(failing.finished.lock().unwrap().is_none());
    }

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
