//! The `fs` location: one file per blob under `<root>/blobs/xx/yy/<key>`.
//! A blob is written to `<root>/tmp`, fsynced, renamed into place and its
//! directory fsynced, so a crash leaves either no blob or a whole one; what a
//! crash leaves in `tmp` is removed when the backend opens.
//!
//! An object copy's bytes live in `<root>/copies/<bucket>/<key>`, both names escaped (see
//! [`escape`]), and its attributes and size in a JSON sidecar beside them, `<key>.attrs`.
//! Both are written to `tmp` and fsynced; then, under a lock that keeps the pair in step
//! within the process, the sidecar is renamed into place and its directory fsynced, then the
//! bytes are renamed and the directory fsynced again. The bytes are what makes a copy exist.
//! A crash between the two renames leaves the new sidecar beside the old bytes (or none):
//! `head_copy` reports such a copy as absent when the sizes disagree, and as the old bytes
//! with the new attributes when they happen to agree. Either way the commit never
//! returned, so its caller writes the copy again, which repairs it. `delete_copy` removes
//! the bytes first, so a crash inside it leaves at worst a sidecar no copy uses.

use std::collections::BTreeSet;
use std::fs::File;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::{Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::{Bytes, BytesMut};

use crate::{
    BlobWriter, ByteStream, Committed, CopyAttributes, CurrentCopy, DataBackend, DataError, Result,
};

/// Bytes gathered before one blocking write: few thread hops per large blob.
const WRITE_BUFFER: usize = 1 << 20;
/// Size of the chunks a read streams.
const READ_CHUNK: usize = 4 << 20;
/// Longest path component an escaped copy name is cut into: file names stop
/// at 255 bytes, and the suffixes `.attrs` and `.more` need room.
const COPY_NAME_CHUNK: usize = 240;
/// Stripes of the lock that keeps a copy's sidecar and bytes in step.
const COPY_LOCKS: usize = 64;

pub struct FsBackend {
    root: PathBuf,
    copy_locks: Arc<Vec<Mutex<()>>>,
}

/// A copy's sidecar: its attributes, and the size its bytes must have.
#[derive(serde::Serialize, serde::Deserialize)]
struct Sidecar {
    size: u64,
    attributes: CopyAttributes,
}

/// Where a copy's bytes and sidecar go, and the lock stripe they share.
struct CopyPaths {
    bytes: PathBuf,
    sidecar: PathBuf,
    locks: Arc<Vec<Mutex<()>>>,
    stripe: usize,
}

impl CopyPaths {
    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        // The lock guards no data: a poisoned one is still a lock.
        self.locks[self.stripe]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A name as one safe path component: ASCII lowercase letters, digits, `-`
/// and `_` stay, every other byte is `%XX`. The result has no `/` and no `.`,
/// so it is never `.`, `..`, hidden, absolute, nor taken for a sidecar or a
/// `.more` directory; and no uppercase letters, so names stay distinct on
/// case-insensitive file systems too.
fn escape(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `copies/<escaped bucket>/<escaped key>` relative to the root. An escaped
/// key longer than one component is cut into components of
/// `COPY_NAME_CHUNK` bytes, each but the last a directory named `<part>.more`.
fn copy_relpath(bucket: &str, key: &str) -> Result<PathBuf> {
    let bucket_part = escape(bucket);
    if bucket.is_empty() || key.is_empty() || bucket_part.len() > COPY_NAME_CHUNK {
        return Err(DataError::InvalidKey(format!("{bucket}/{key}")));
    }
    let mut path = PathBuf::from("copies");
    path.push(bucket_part);
    let escaped = escape(key);
    // Escaped names are ASCII: any byte offset is a char boundary.
    let mut rest = escaped.as_str();
    while rest.len() > COPY_NAME_CHUNK {
        let (part, tail) = rest.split_at(COPY_NAME_CHUNK);
        path.push(format!("{part}.more"));
        rest = tail;
    }
    path.push(rest);
    Ok(path)
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
            copy_locks: Arc::new((0..COPY_LOCKS).map(|_| Mutex::new(())).collect()),
        })
    }

    fn copy_paths(&self, bucket: &str, key: &str) -> Result<CopyPaths> {
        let bytes = self.root.join(copy_relpath(bucket, key)?);
        let mut sidecar = bytes.clone().into_os_string();
        sidecar.push(".attrs");
        let mut hasher = DefaultHasher::new();
        bytes.hash(&mut hasher);
        Ok(CopyPaths {
            bytes,
            sidecar: sidecar.into(),
            locks: self.copy_locks.clone(),
            stripe: (hasher.finish() % COPY_LOCKS as u64) as usize,
        })
    }

    fn tmp_path(&self, name: &str) -> PathBuf {
        self.root
            .join("tmp")
            .join(format!("{name}.{}", crate::random_hex(8)))
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

fn parent(path: &Path) -> &Path {
    path.parent().unwrap_or(path)
}

/// Removes a file; whether it was there.
fn remove_if_present(path: &Path) -> std::io::Result<bool> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

fn not_found_as(key: String) -> impl FnOnce(DataError) -> DataError {
    move |e| match e {
        DataError::Io(io) if io.kind() == std::io::ErrorKind::NotFound => DataError::NotFound(key),
        other => other,
    }
}

/// Directories being created, until their entry is on disk: another writer
/// that finds one existing must not count on it yet.
static CREATING: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());

fn creating() -> std::sync::MutexGuard<'static, BTreeSet<PathBuf>> {
    CREATING.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Creates the fan-out directories of `path`, fsyncing each new entry's
/// parent before it is counted on. A directory another writer has just
/// created (its parent not yet synced) is synced here too, so no write is
/// acknowledged inside a directory a crash could still lose.
fn ensure_parent(path: &Path) -> std::io::Result<()> {
    let Some(dir) = path.parent() else {
        return Ok(());
    };
    if dir.is_dir() && !creating().contains(dir) {
        return Ok(());
    }
    ensure_parent(dir)?;
    creating().insert(dir.to_path_buf());
    let created = match std::fs::create_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
    .and_then(|()| sync_dir(parent(dir)));
    creating().remove(dir);
    created
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
        FsWriter::open(self.tmp_path(key), path, None).await
    }

    async fn read(
        &self,
        key: &str,
        _version: Option<&str>,
        range: Range<u64>,
    ) -> Result<ByteStream> {
        read_file(self.blob_path(key)?, key.to_string(), Some(range)).await
    }

    async fn delete(&self, key: &str) -> Result<()> {
        let path = self.blob_path(key)?;
        blocking(move || remove_if_present(&path).map(|_| ())).await
    }

    /// `copies/<escaped bucket>/<escaped key>`, relative to the root.
    fn copy_key(&self, bucket: &str, key: &str) -> String {
        match copy_relpath(bucket, key) {
            Ok(path) => path.to_string_lossy().into_owned(),
            Err(_) => format!("copies/{}/{}", escape(bucket), escape(key)),
        }
    }

    async fn create_copy(
        &self,
        bucket: &str,
        key: &str,
        _size: u64,
        attributes: &CopyAttributes,
    ) -> Result<Box<dyn BlobWriter>> {
        let paths = self.copy_paths(bucket, key)?;
        let path = paths.bytes.clone();
        let copy = CopyCommit {
            paths,
            attributes: attributes.clone(),
            sidecar_tmp: self.tmp_path("copy-attrs"),
        };
        FsWriter::open(self.tmp_path("copy"), path, Some(copy)).await
    }

    async fn delete_copy(&self, bucket: &str, key: &str) -> Result<()> {
        let paths = self.copy_paths(bucket, key)?;
        blocking(move || {
            let _held = paths.lock();
            // Bytes first: they are what makes the copy exist.
            let removed = remove_if_present(&paths.bytes)?;
            if remove_if_present(&paths.sidecar)? || removed {
                sync_dir(parent(&paths.bytes))?;
            }
            Ok(())
        })
        .await
    }

    async fn head_copy(&self, bucket: &str, key: &str) -> Result<Option<(u64, CopyAttributes)>> {
        let paths = self.copy_paths(bucket, key)?;
        blocking(move || {
            let _held = paths.lock();
            Ok(open_copy(&paths)?.map(|(_, head)| (head.size, head.attributes)))
        })
        .await
    }

    async fn read_copy(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
        range: Option<Range<u64>>,
    ) -> Result<ByteStream> {
        let name = self.copy_key(bucket, key);
        if version.is_some() {
            // Copies here keep no versions: a pinned one cannot be this one.
            return Err(DataError::NotFound(name));
        }
        read_file(self.copy_paths(bucket, key)?.bytes, name, range).await
    }

    async fn read_current_copy(
        &self,
        bucket: &str,
        key: &str,
        range: Range<u64>,
    ) -> Result<Option<CurrentCopy>> {
        let paths = self.copy_paths(bucket, key)?;
        let start = range.start;
        let opened = blocking(move || {
            // Under the lock a commit renames under: the file opened is the
            // copy the sidecar describes, and stays so while it is read.
            let _held = paths.lock();
            let Some((mut file, head)) = open_copy(&paths)? else {
                return Ok(None);
            };
            file.seek(SeekFrom::Start(start))?;
            Ok(Some((file, head)))
        })
        .await?;
        Ok(opened.map(|(file, head)| CurrentCopy {
            size: head.size,
            attributes: head.attributes,
            bytes: stream_file(file, range.end.saturating_sub(range.start)),
        }))
    }
}

/// The bytes of a copy, open, and its sidecar; None when there is no copy.
/// The caller holds the copy's lock.
fn open_copy(paths: &CopyPaths) -> std::io::Result<Option<(File, Sidecar)>> {
    let file = match File::open(&paths.bytes) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let invalid = |what: String| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("copy {}: {what}", paths.bytes.display()),
        )
    };
    let raw = std::fs::read(&paths.sidecar)
        .map_err(|e| invalid(format!("its attributes are unreadable: {e}")))?;
    let sidecar: Sidecar = serde_json::from_slice(&raw)
        .map_err(|e| invalid(format!("its attributes are damaged: {e}")))?;
    // Sizes that disagree: a replacement torn by a crash (see the
    // module's notes), which its writer will redo.
    Ok((sidecar.size == file.metadata()?.len()).then_some((file, sidecar)))
}

/// Streams `range` of the file at `path` (None: all of it); `NotFound`
/// naming `name` when there is no such file.
async fn read_file(path: PathBuf, name: String, range: Option<Range<u64>>) -> Result<ByteStream> {
    let (file, range) = blocking(move || {
        let mut file = File::open(&path)?;
        let range = match range {
            Some(range) => range,
            None => 0..file.metadata()?.len(),
        };
        file.seek(SeekFrom::Start(range.start))?;
        Ok((file, range))
    })
    .await
    .map_err(not_found_as(name))?;
    Ok(stream_file(file, range.end.saturating_sub(range.start)))
}

/// Streams the next `remaining` bytes of `file`; fewer is an error.
fn stream_file(file: File, remaining: u64) -> ByteStream {
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
    Box::pin(stream)
}

/// What committing an object copy does besides moving its bytes into place.
struct CopyCommit {
    paths: CopyPaths,
    attributes: CopyAttributes,
    sidecar_tmp: PathBuf,
}

impl CopyCommit {
    /// Writes and fsyncs the sidecar, then (holding the copy's lock) renames
    /// it and then the bytes at `tmp` into place, fsyncing the directory after each.
    fn commit(self, tmp: &Path, size: u64) -> std::io::Result<()> {
        let sidecar = Sidecar {
            size,
            attributes: self.attributes,
        };
        let json = serde_json::to_vec(&sidecar).map_err(std::io::Error::other)?;
        let written = File::create_new(&self.sidecar_tmp).and_then(|mut file| {
            file.write_all(&json)?;
            file.sync_data()
        });
        let dir = parent(&self.paths.bytes);
        let result = written.and_then(|()| {
            let _held = self.paths.lock();
            std::fs::rename(&self.sidecar_tmp, &self.paths.sidecar)?;
            sync_dir(dir)?;
            std::fs::rename(tmp, &self.paths.bytes)?;
            sync_dir(dir)
        });
        if result.is_err() {
            let _ = std::fs::remove_file(&self.sidecar_tmp);
        }
        result
    }
}

struct FsWriter {
    file: Option<File>,
    buf: BytesMut,
    written: u64,
    tmp: PathBuf,
    path: PathBuf,
    /// Set for an object copy.
    copy: Option<CopyCommit>,
    committed: bool,
}

impl FsWriter {
    async fn open(
        tmp: PathBuf,
        path: PathBuf,
        copy: Option<CopyCommit>,
    ) -> Result<Box<dyn BlobWriter>> {
        let tmp_for_open = tmp.clone();
        let file = blocking(move || File::create_new(&tmp_for_open)).await?;
        Ok(Box::new(FsWriter {
            file: Some(file),
            buf: BytesMut::new(),
            written: 0,
            tmp,
            path,
            copy,
            committed: false,
        }))
    }

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
        self.written += data.len() as u64;
        self.buf.extend_from_slice(&data);
        if self.buf.len() >= WRITE_BUFFER {
            self.flush_buffer().await?;
        }
        Ok(())
    }

    async fn commit(mut self: Box<Self>) -> Result<Committed> {
        self.flush_buffer().await?;
        let file = self
            .file
            .take()
            .ok_or_else(|| DataError::Io(std::io::Error::other("writer already failed")))?;
        let (tmp, path, size) = (self.tmp.clone(), self.path.clone(), self.written);
        let copy = self.copy.take();
        blocking(move || {
            file.sync_data()?;
            drop(file);
            ensure_parent(&path)?;
            match copy {
                Some(copy) => copy.commit(&tmp, size),
                None => {
                    std::fs::rename(&tmp, &path)?;
                    sync_dir(parent(&path))
                }
            }
        })
        .await?;
        self.committed = true;
        Ok(Committed::default())
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
            .read(key, None, range)
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
            backend.read("abcdef01", None, 0..1).await,
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
        assert!(backend.read("abcdef02", None, 0..1).await.is_err());
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

    #[test]
    fn copy_names_are_escaped_into_the_copies_tree() {
        let rel = |bucket: &str, key: &str| copy_relpath(bucket, key).unwrap();
        assert_eq!(
            rel("my.bucket", "dir/Übel file.txt"),
            Path::new("copies/my%2Ebucket/dir%2F%C3%9Cbel%20file%2Etxt")
        );
        // nothing climbs out of the tree, nor is absolute, hidden or a sidecar
        for key in [
            "..",
            ".",
            "/",
            "/etc/passwd",
            "../../x",
            "a/../../b",
            "x.attrs",
            "\\..\\",
        ] {
            let path = rel("b", key);
            assert_eq!(path.components().count(), 3, "{key:?}: {path:?}");
            for part in path.iter().skip(1) {
                let part = part.to_str().unwrap();
                assert!(!part.contains(['/', '.', '\\']), "{key:?}: {part:?}");
            }
        }
        // distinct keys, distinct paths, even ignoring case
        let keys = ["a", "a/", "a//", "a%2F", "A", "a.", "a%", "a%25"];
        let paths: std::collections::HashSet<String> = keys
            .iter()
            .map(|k| rel("b", k).to_string_lossy().to_lowercase())
            .collect();
        assert_eq!(paths.len(), keys.len());
        // long keys are cut into components a file system takes
        let long = "ü".repeat(500);
        let path = rel("b", &long);
        let parts: Vec<&str> = path.iter().map(|p| p.to_str().unwrap()).collect();
        assert_eq!(parts.len(), 2 + 3000usize.div_ceil(COPY_NAME_CHUNK));
        for part in &parts[2..parts.len() - 1] {
            assert!(part.len() <= 255 && part.ends_with(".more"), "{part}");
        }
        let joined: String = parts[2..]
            .iter()
            .map(|p| p.trim_end_matches(".more"))
            .collect();
        assert_eq!(joined, escape(&long));
        // no key or bucket, no copy
        assert!(copy_relpath("b", "").is_err());
        assert!(copy_relpath("", "k").is_err());
    }

    #[tokio::test]
    async fn a_copy_torn_by_a_crash_reads_as_absent() {
        let dir = tempfile::tempdir().unwrap();
        let backend = FsBackend::open(dir.path()).unwrap();
        let attributes = CopyAttributes {
            content_type: Some("text/plain".into()),
            ..Default::default()
        };
        let mut w = backend.create_copy("b", "k", 5, &attributes).await.unwrap();
        w.write(Bytes::from_static(b"12345")).await.unwrap();
        w.commit().await.unwrap();
        assert_eq!(
            backend.head_copy("b", "k").await.unwrap(),
            Some((5, attributes))
        );
        assert!(dir.path().join("copies/b/k.attrs").is_file());
        // the sidecar of a longer replacement landed, its bytes did not
        let sidecar = dir.path().join("copies/b/k.attrs");
        let json = std::fs::read_to_string(&sidecar).unwrap();
        std::fs::write(&sidecar, json.replace("\"size\":5", "\"size\":6")).unwrap();
        assert_eq!(backend.head_copy("b", "k").await.unwrap(), None);
        // a damaged sidecar is an error, not a copy without attributes
        std::fs::write(&sidecar, b"{").unwrap();
        assert!(backend.head_copy("b", "k").await.is_err());
        backend.delete_copy("b", "k").await.unwrap();
        assert!(!sidecar.exists());
        assert_eq!(
            std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
            0
        );
    }
}
