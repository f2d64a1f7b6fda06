//! The `fs` location: one file per blob under `<root>/blobs/xx/yy/<key>`.
//! A blob is written to `<root>/tmp`, fsynced, renamed into place and its
//! directory fsynced, so a crash leaves either no blob or a whole one; what a
//! crash leaves in `tmp` is removed when the backend opens.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};

use crate::{BlobWriter, ByteStream, DataBackend, DataError, Result};

/// Bytes gathered before one blocking write: few thread hops per large blob.
const WRITE_BUFFER: usize = 1 << 20;
/// Size of the chunks a read streams.
const READ_CHUNK: usize = 4 << 20;

pub struct FsBackend {
    root: PathBuf,
}

impl FsBackend {
    /// Opens the location at `root`, creating it, and removes temp files a
    /// crash left behind.
    pub fn open(root: &Path) -> Result<Self> {
        let tmp = root.join("tmp");
        std::fs::create_dir_all(root.join("blobs"))?;
        std::fs::create_dir_all(&tmp)?;
        let mut removed = 0usize;
        for entry in std::fs::read_dir(&tmp)? {
            std::fs::remove_file(entry?.path())?;
            removed += 1;
        }
        if removed > 0 {
            tracing::info!(removed, root = %root.display(), "removed unfinished blobs left by a crash");
        }
        Ok(Self {
            root: root.to_path_buf(),
        })
    }

    fn blob_path(&self, key: &str) -> Result<PathBuf> {
        let valid = key.len() >= 4
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid {
            return Err(DataError::InvalidKey(key.to_string()));
        }
        Ok(self
            .root
            .join("blobs")
            .join(&key[0..2])
            .join(&key[2..4])
            .join(key))
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| DataError::Io(std::io::Error::other(e)))?
        .map_err(DataError::Io)
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Creates the fan-out directories of `path`, fsyncing each new entry's parent.
fn ensure_parent(path: &Path) -> std::io::Result<()> {
    let Some(dir) = path.parent() else {
        return Ok(());
    };
    if dir.is_dir() {
        return Ok(());
    }
    ensure_parent(dir)?;
    match std::fs::create_dir(dir) {
        Ok(()) => sync_dir(dir.parent().unwrap_or(dir)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

#[async_trait::async_trait]
impl DataBackend for FsBackend {
    fn kind(&self) -> &'static str {
        "fs"
    }

    async fn check(&self) -> Result<()> {
        let probe = self
            .root
            .join("tmp")
            .join(format!("probe-{}", crate::random_hex(8)));
        blocking(move || {
            std::fs::write(&probe, b"probe")?;
            std::fs::remove_file(&probe)
        })
        .await
    }

    async fn create(&self, key: &str) -> Result<Box<dyn BlobWriter>> {
        let path = self.blob_path(key)?;
        let tmp = self
            .root
            .join("tmp")
            .join(format!("{key}.{}", crate::random_hex(8)));
        let tmp_for_open = tmp.clone();
        let file = blocking(move || File::create_new(&tmp_for_open)).await?;
        Ok(Box::new(FsWriter {
            file: Some(file),
            buf: BytesMut::new(),
            tmp,
            path,
            committed: false,
        }))
    }

    async fn read(&self, key: &str, range: Range<u64>) -> Result<ByteStream> {
        let path = self.blob_path(key)?;
        let key = key.to_string();
        let start = range.start;
        let file = blocking(move || {
            let mut file = File::open(&path)?;
            file.seek(SeekFrom::Start(start))?;
            Ok(file)
        })
        .await
        .map_err(|e| match e {
            DataError::Io(io) if io.kind() == std::io::ErrorKind::NotFound => {
                DataError::NotFound(key)
            }
            other => other,
        })?;
        let remaining = range.end.saturating_sub(range.start);
        let stream =
            futures::stream::try_unfold((file, remaining), |(mut file, remaining)| async move {
                if remaining == 0 {
                    return Ok(None);
                }
                let want = remaining.min(READ_CHUNK as u64) as usize;
                let (file, chunk) = blocking(move || {
                    // read_to_end fills spare capacity without zeroing it first.
                    let mut buf = Vec::with_capacity(want);
                    (&mut file).take(want as u64).read_to_end(&mut buf)?;
                    if buf.len() < want {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::UnexpectedEof,
                            "blob shorter than expected",
                        ));
                    }
                    Ok((file, Bytes::from(buf)))
                })
                .await?;
                let left = remaining - chunk.len() as u64;
                Ok(Some((chunk, (file, left))))
            });
        Ok(Box::pin(stream))
    }

    async fn delete(&self, key: &str) -> Result<()> {
        let path = self.blob_path(key)?;
        blocking(move || match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        })
        .await
    }
}

struct FsWriter {
    file: Option<File>,
    buf: BytesMut,
    tmp: PathBuf,
    path: PathBuf,
    committed: bool,
}

impl FsWriter {
    async fn flush_buffer(&mut self) -> Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let data = self.buf.split().freeze();
        let mut file = self
            .file
            .take()
            .ok_or_else(|| DataError::Io(std::io::Error::other("writer already failed")))?;
        let file = blocking(move || file.write_all(&data).map(|()| file)).await?;
        self.file = Some(file);
        Ok(())
    }
}

#[async_trait::async_trait]
impl BlobWriter for FsWriter {
    async fn write(&mut self, data: Bytes) -> Result<()> {
        self.buf.extend_from_slice(&data);
        if self.buf.len() >= WRITE_BUFFER {
            self.flush_buffer().await?;
        }
        Ok(())
    }

    async fn commit(mut self: Box<Self>) -> Result<()> {
        self.flush_buffer().await?;
        let file = self
            .file
            .take()
            .ok_or_else(|| DataError::Io(std::io::Error::other("writer already failed")))?;
        let (tmp, path) = (self.tmp.clone(), self.path.clone());
        blocking(move || {
            file.sync_data()?;
            drop(file);
            ensure_parent(&path)?;
            std::fs::rename(&tmp, &path)?;
            sync_dir(path.parent().unwrap_or(&path))
        })
        .await?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for FsWriter {
    fn drop(&mut self) {
        if !self.committed {
            // An abandoned write (client gone, bad checksum): its temp file goes now.
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::TryStreamExt;

    async fn read_all(b: &dyn DataBackend, key: &str, range: Range<u64>) -> Vec<u8> {
        let chunks: Vec<Bytes> = b
            .read(key, range)
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        chunks.concat()
    }

    #[tokio::test]
    async fn write_commit_read_range_delete() {
        let dir = tempfile::tempdir().unwrap();
        let backend = FsBackend::open(dir.path()).unwrap();
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let mut w = backend.create("abcdef01").await.unwrap();
        for chunk in data.chunks(70_000) {
            w.write(Bytes::copy_from_slice(chunk)).await.unwrap();
        }
        w.commit().await.unwrap();
        assert_eq!(
            read_all(&backend, "abcdef01", 0..data.len() as u64).await,
            data
        );
        assert_eq!(
            read_all(&backend, "abcdef01", 1_500_000..2_700_001).await,
            &data[1_500_000..2_700_001]
        );
        backend.delete("abcdef01").await.unwrap();
        backend.delete("abcdef01").await.unwrap();
        assert!(matches!(
            backend.read("abcdef01", 0..1).await,
            Err(DataError::NotFound(_))
        ));
    }

    #[tokio::test]
    async fn abandoned_writes_leave_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let backend = FsBackend::open(dir.path()).unwrap();
        let mut w = backend.create("abcdef02").await.unwrap();
        w.write(Bytes::from_static(b"partial")).await.unwrap();
        drop(w);
        assert_eq!(
            std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
            0
        );
        assert!(backend.read("abcdef02", 0..1).await.is_err());
        // a temp file left by a crash is removed at open
        std::fs::write(dir.path().join("tmp").join("crashed.x"), b"x").unwrap();
        FsBackend::open(dir.path()).unwrap();
        assert_eq!(
            std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
            0
        );
    }

    #[tokio::test]
    async fn keys_cannot_escape_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let backend = FsBackend::open(dir.path()).unwrap();
        assert!(matches!(
            backend.create("../../etc").await,
            Err(DataError::InvalidKey(_))
        ));
    }
}
