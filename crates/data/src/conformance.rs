//! The one conformance suite every `DataBackend` must pass (fs, mem, s3,
//! azure), run by each backend's tests. It only uses the public trait.

use std::collections::BTreeMap;
use std::ops::Range;

use bytes::Bytes;
use futures::TryStreamExt;

use md5::Digest as _;

use crate::{BlobName, Committed, CopyAttributes, DataBackend, DataError, probe, random_hex};

/// A blob larger than two cloud parts, so streamed multipart writes are exercised.
const LARGE: usize = 17 << 20 | 12_345;

/// Reads `range` of the blob `key`, at `version` when the location gave one.
async fn read_at(
    b: &dyn DataBackend,
    key: &str,
    version: Option<&str>,
    range: Range<u64>,
) -> Vec<u8> {
    let chunks: Vec<Bytes> = b
        .read(key, version, range.clone())
        .await
        .unwrap_or_else(|e| panic!("read {key} {range:?}: {e}"))
        .try_collect()
        .await
        .unwrap_or_else(|e| panic!("streaming {key} {range:?}: {e}"));
    chunks.concat()
}

async fn read_all(b: &dyn DataBackend, key: &str, range: Range<u64>) -> Vec<u8> {
    read_at(b, key, None, range).await
}

fn key_for(b: &dyn DataBackend, object: &str) -> String {
    b.blob_key(&BlobName {
        bucket: "conformance",
        key: object,
        unique: &random_hex(8),
    })
}

/// Writes a blob; returns the version its commit named, if any.
async fn write(b: &dyn DataBackend, key: &str, data: &[u8], piece: usize) -> Option<String> {
    let mut w = b
        .create(key)
        .await
        .unwrap_or_else(|e| panic!("create {key}: {e}"));
    for chunk in data.chunks(piece.max(1)) {
        w.write(Bytes::copy_from_slice(chunk)).await.expect("write");
    }
    w.commit()
        .await
        .unwrap_or_else(|e| panic!("commit {key}: {e}"))
        .version
}

/// A commit reports an MD5 exactly when its writer said it would, and then
/// the MD5 of the bytes written.
fn check_md5(reports: bool, committed: &Committed, data: &[u8], what: &str) {
    let want = reports.then(|| md5::Md5::digest(data).into());
    assert_eq!(committed.md5, want, "{what}: the MD5 its commit reports");
}

/// Runs every check against `backend`; panics with what failed.
pub async fn run(backend: &dyn DataBackend) {
    let b = backend;
    b.check().await.expect("check");
    probe(b).await.expect("probe");

    // large streamed blob: whole and ranged reads
    let data: Vec<u8> = (0..LARGE as u32).map(|i| (i % 251) as u8).collect();
    let big = key_for(b, "dir/large object");
    let big_version = write(b, &big, &data, 1 << 20).await;
    let n = data.len() as u64;
    assert_eq!(read_all(b, &big, 0..n).await, data, "whole large blob");
    for r in [0..1, 5..10_000_000, n - 1..n, 8_388_600..8_388_700] {
        let want = &data[r.start as usize..r.end as usize];
        let read = read_at(b, &big, big_version.as_deref(), r.clone()).await;
        assert_eq!(read, want, "range {r:?}");
    }

    // a blob whose size is told up front; abandoned after its last byte, none
    let sized = key_for(b, "dir/sized object");
    let mut w = b.create_sized(&sized, n).await.expect("create sized");
    for chunk in data.chunks(1 << 20) {
        w.write(Bytes::copy_from_slice(chunk)).await.expect("write");
    }
    let reports = w.reports_md5();
    let committed = w.commit().await.expect("commit sized");
    check_md5(reports, &committed, &data, "sized blob");
    let read = read_at(b, &sized, committed.version.as_deref(), 0..n).await;
    assert_eq!(read, data, "whole sized blob");
    b.delete(&sized).await.expect("delete sized");
    let dropped = key_for(b, "sized, abandoned");
    let mut w = b.create_sized(&dropped, n).await.expect("create sized");
    for chunk in data.chunks(1 << 20) {
        w.write(Bytes::copy_from_slice(chunk)).await.expect("write");
    }
    drop(w);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        read_fails(b, &dropped, None).await,
        "an abandoned sized blob exists"
    );

    // small and empty blobs
    let small = key_for(b, "small");
    write(b, &small, b"hello, location", 4).await;
    assert_eq!(read_all(b, &small, 7..15).await, b"location");
    rewritten(b).await;
    let empty = key_for(b, "empty");
    write(b, &empty, b"", 1).await;
    assert_eq!(read_all(b, &empty, 0..0).await, b"");

    // names: versions of one object never share a key; odd keys work
    assert_ne!(key_for(b, "same"), key_for(b, "same"));
    for odd in ["a b/ünïcode?#%&", "trailing/", "x/../y", "./z"] {
        let k = key_for(b, odd);
        write(b, &k, odd.as_bytes(), 3).await;
        assert_eq!(
            read_all(b, &k, 0..odd.len() as u64).await,
            odd.as_bytes(),
            "{odd}"
        );
        b.delete(&k).await.expect("delete odd");
    }

    // an abandoned write leaves no blob
    let abandoned = key_for(b, "abandoned");
    let mut w = b.create(&abandoned).await.expect("create");
    w.write(Bytes::from(vec![1u8; 9 << 20]))
        .await
        .expect("write");
    drop(w);
    assert!(
        matches!(
            b.read(&abandoned, None, 0..1).await.map(|_| ()),
            Err(DataError::NotFound(_))
        ) || read_fails(b, &abandoned, None).await
    );

    // server-side copy, where the backend has it
    let copy = key_for(b, "copy");
    match b.copy(&small, &copy).await {
        Ok(version) => {
            let read = read_at(b, &copy, version.as_deref(), 0..15).await;
            assert_eq!(read, b"hello, location");
            b.delete(&copy).await.expect("delete copy");
        }
        Err(DataError::Unsupported) => {}
        Err(e) => panic!("copy: {e}"),
    }

    copies(b, &data).await;
    if b.assembles_parts() {
        assemblies(b).await;
    }

    // deletes are idempotent; a deleted blob is gone
    for k in [&big, &small, &empty] {
        b.delete(k).await.expect("delete");
        b.delete(k).await.expect("delete again");
    }
    assert!(
        read_fails(b, &small, None).await,
        "deleted blob still readable"
    );
}

/// A blob read by the version its commit named is that write's bytes, even
/// once its key was written again (only the backend's own tools could do
/// that to a blob); deleted, no version of it is left to read.
async fn rewritten(b: &dyn DataBackend) {
    let key = key_for(b, "rewritten");
    let first = write(b, &key, b"first bytes", 5).await;
    let second = write(b, &key, b"second", 5).await;
    assert_eq!(read_all(b, &key, 0..6).await, b"second", "current bytes");
    if let Some(first) = &first {
        let read = read_at(b, &key, Some(first), 0..11).await;
        assert_eq!(read, b"first bytes", "the first version");
        assert_ne!(Some(first), second.as_ref(), "two writes, one version");
    }
    b.delete(&key).await.expect("delete rewritten");
    for version in [&first, &second].into_iter().flatten() {
        let gone = read_fails(b, &key, Some(version)).await;
        assert!(gone, "version {version} of a deleted blob is readable");
    }
}

/// Writes part `number` of an assembly in 1 MiB pieces; commits it (its
/// tag) or, with `abandon`, drops the writer after the last byte.
async fn write_part(
    b: &dyn DataBackend,
    (key, assembly): (&str, &str),
    number: u32,
    data: &[u8],
    abandon: bool,
) -> Option<String> {
    let mut w = b
        .create_part(key, assembly, number, data.len() as u64)
        .await
        .unwrap_or_else(|e| panic!("create part {number}: {e}"));
    for chunk in data.chunks(1 << 20) {
        w.write(Bytes::copy_from_slice(chunk))
            .await
            .unwrap_or_else(|e| panic!("write part {number}: {e}"));
    }
    if abandon {
        return None;
    }
    let reports = w.reports_md5();
    let committed = w
        .commit()
        .await
        .unwrap_or_else(|e| panic!("commit part {number}: {e}"));
    check_md5(reports, &committed, data, "part");
    Some(committed.version.expect("a part's tag"))
}

/// Multipart objects the location assembles: parts with the client's
/// numbers (gaps allowed), uploaded out of order, an abandoned re-upload
/// that changes nothing, and aborts.
async fn assemblies(b: &dyn DataBackend) {
    let key = key_for(b, "assembled");
    let id = b.start_assembly(&key).await.expect("start assembly");
    let first: Vec<u8> = (0..(5u32 << 20) + 3).map(|i| (i % 241) as u8).collect();
    let last = b"the last part, small".to_vec();
    let tag3 = write_part(b, (&key, &id), 3, &last, false).await;
    let tag1 = write_part(b, (&key, &id), 1, &first, false).await;
    // Every byte of a different part 1 sent, but never committed.
    write_part(b, (&key, &id), 1, &vec![9u8; first.len()], true).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let parts = [(1, tag1.expect("tag 1")), (3, tag3.expect("tag 3"))];
    let version = b
        .finish_assembly(&key, &id, &parts)
        .await
        .expect("finish assembly");
    let whole = [first.as_slice(), last.as_slice()].concat();
    let n = whole.len() as u64;
    let version = version.as_deref();
    assert_eq!(
        read_at(b, &key, version, 0..n).await,
        whole,
        "assembled blob"
    );
    assert_eq!(
        read_at(b, &key, version, n - 25..n).await,
        &whole[whole.len() - 25..],
        "range across parts"
    );
    b.delete(&key).await.expect("delete assembled blob");

    // aborted before and after finishing: nothing left either way
    let dropped = key_for(b, "aborted assembly");
    let id = b.start_assembly(&dropped).await.expect("start assembly");
    write_part(b, (&dropped, &id), 1, b"never finished", false).await;
    b.abort_assembly(&dropped, &id).await.expect("abort");
    b.abort_assembly(&dropped, &id).await.expect("abort again");
    assert!(
        read_fails(b, &dropped, None).await,
        "aborted assembly readable"
    );
    let finished = key_for(b, "finished, then aborted");
    let id = b.start_assembly(&finished).await.expect("start assembly");
    let tag = write_part(b, (&finished, &id), 1, b"one part", false).await;
    b.finish_assembly(&finished, &id, &[(1, tag.expect("tag"))])
        .await
        .expect("finish");
    b.abort_assembly(&finished, &id)
        .await
        .expect("abort finished");
    assert!(
        read_fails(b, &finished, None).await,
        "aborted blob readable"
    );
}

const BUCKET: &str = "conformance";

async fn write_copy(
    b: &dyn DataBackend,
    key: &str,
    attributes: &CopyAttributes,
    data: &[u8],
    piece: usize,
) -> Option<String> {
    let mut w = b
        .create_copy(BUCKET, key, data.len() as u64, attributes)
        .await
        .unwrap_or_else(|e| panic!("create copy {key}: {e}"));
    for chunk in data.chunks(piece.max(1)) {
        w.write(Bytes::copy_from_slice(chunk))
            .await
            .unwrap_or_else(|e| panic!("write copy {key}: {e}"));
    }
    w.commit()
        .await
        .unwrap_or_else(|e| panic!("commit copy {key}: {e}"))
        .version
}

async fn read_copy(b: &dyn DataBackend, key: &str) -> Vec<u8> {
    read_copy_at(b, key, None, None).await
}

async fn read_copy_at(
    b: &dyn DataBackend,
    key: &str,
    version: Option<&str>,
    range: Option<Range<u64>>,
) -> Vec<u8> {
    let chunks: Vec<Bytes> = b
        .read_copy(BUCKET, key, version, range)
        .await
        .unwrap_or_else(|e| panic!("read copy {key}: {e}"))
        .try_collect()
        .await
        .unwrap_or_else(|e| panic!("streaming copy {key}: {e}"));
    chunks.concat()
}

/// The current copy's size, user metadata and `range` of its bytes, in one
/// read; the bytes are None when they cannot be read (a range past the end).
async fn read_current_copy(
    b: &dyn DataBackend,
    key: &str,
    range: Range<u64>,
) -> Option<(u64, BTreeMap<String, String>, Option<Vec<u8>>)> {
    let current = b
        .read_current_copy(BUCKET, key, range)
        .await
        .unwrap_or_else(|e| panic!("read current copy {key}: {e}"))?;
    let chunks: Result<Vec<Bytes>, _> = current.bytes.try_collect().await;
    let bytes = chunks.ok().map(|chunks| chunks.concat());
    Some((current.size, current.attributes.metadata, bytes))
}

async fn head_copy(b: &dyn DataBackend, key: &str) -> Option<(u64, CopyAttributes)> {
    b.head_copy(BUCKET, key)
        .await
        .unwrap_or_else(|e| panic!("head copy {key}: {e}"))
}

/// Checks a copy's size and attributes; a content type written as none may
/// come back as the location's default, and tags only where readable.
async fn assert_copy(b: &dyn DataBackend, key: &str, size: usize, want: &CopyAttributes) {
    let (got_size, mut got) = head_copy(b, key)
        .await
        .unwrap_or_else(|| panic!("copy {key} missing"));
    assert_eq!(got_size, size as u64, "size of copy {key}");
    if want.content_type.is_none() {
        got.content_type = None;
    }
    if !b.reads_copy_tags() {
        assert!(got.tags.is_empty(), "tags read back though unreadable");
        got.tags = want.tags.clone();
    }
    assert_eq!(&got, want, "attributes of copy {key}");
}

fn full_attributes() -> CopyAttributes {
    CopyAttributes {
        content_type: Some("text/plain; charset=utf-8".into()),
        // Not gzip at all: a client that decoded it would garble the bytes.
        content_encoding: Some("gzip".into()),
        content_disposition: Some("attachment; filename=\"a b.txt\"".into()),
        content_language: Some("en-GB".into()),
        cache_control: Some("max-age=60, private".into()),
        metadata: [
            ("color", "blue"),
            ("multi-part-name", "a value, with spaces"),
            ("empty-ish", "-"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .into(),
        tags: [("team", "data"), ("tier", "gold 1"), ("path", "a/b:c=d")]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .into(),
    }
}

/// Object copies: written, read back, replaced and deleted under the
/// object's own name, with their attributes.
async fn copies(b: &dyn DataBackend, large: &[u8]) {
    let run = random_hex(4);
    let key = format!("copies-{run}/odd ünïcode?#%&+=~[x] Key.txt");
    assert_eq!(b.copy_key(BUCKET, &key), b.copy_key(BUCKET, &key));
    assert_ne!(b.copy_key(BUCKET, &key), b.copy_key(BUCKET, "other"));

    // absent copies: none to head, deleting one succeeds
    assert_eq!(head_copy(b, &key).await, None);
    b.delete_copy(BUCKET, &key)
        .await
        .expect("delete missing copy");
    assert!(
        copy_read_fails(b, &key, None).await,
        "missing copy readable"
    );
    assert_eq!(read_current_copy(b, &key, 0..1).await, None);

    // create and commit, then head and read back
    let attributes = full_attributes();
    let first = write_copy(b, &key, &attributes, b"hello, copy", 4).await;
    assert_copy(b, &key, 11, &attributes).await;
    assert_eq!(read_copy(b, &key).await, b"hello, copy");
    assert_eq!(read_copy_at(b, &key, None, Some(7..11)).await, b"copy");
    // the current copy's attributes come with its bytes, ranged or empty
    let metadata = attributes.metadata.clone();
    assert_eq!(
        read_current_copy(b, &key, 7..11).await,
        Some((11, metadata.clone(), Some(b"copy".to_vec())))
    );
    assert_eq!(
        read_current_copy(b, &key, 0..0).await,
        Some((11, metadata, Some(Vec::new())))
    );

    // replacing: new bytes and attributes, none of the old left
    let replacement = CopyAttributes {
        content_type: None,
        metadata: [("shade".to_string(), "green".to_string())].into(),
        tags: [("tier".to_string(), "silver".to_string())].into(),
        ..Default::default()
    };
    let second = write_copy(b, &key, &replacement, b"replaced!", 100).await;
    assert_copy(b, &key, 9, &replacement).await;
    assert_eq!(read_copy(b, &key).await, b"replaced!");
    assert_eq!(
        read_current_copy(b, &key, 0..9).await,
        Some((9, replacement.metadata.clone(), Some(b"replaced!".to_vec())))
    );
    // a range the shorter copy does not reach still tells which copy it is
    let past_end = read_current_copy(b, &key, 10..11).await;
    assert_eq!(
        past_end.map(|(size, metadata, bytes)| (size, metadata, bytes.is_some())),
        Some((9, replacement.metadata.clone(), false))
    );
    // a location that versions its copies still reads the replaced one by
    // the version its commit named
    match (&first, &second) {
        (Some(first), Some(second)) => {
            assert_ne!(first, second, "two copies, one version");
            assert_eq!(
                read_copy_at(b, &key, Some(first), Some(0..5)).await,
                b"hello"
            );
            assert_eq!(
                read_copy_at(b, &key, Some(second), None).await,
                b"replaced!"
            );
        }
        (None, None) => {}
        _ => panic!("only one of two copies got a version"),
    }

    // an abandoned replacement leaves the copy as it was
    let never = Bytes::from_static(b"never committed");
    let mut w = b
        .create_copy(BUCKET, &key, never.len() as u64, &attributes)
        .await
        .expect("create copy");
    w.write(never).await.expect("write");
    drop(w);
    assert_copy(b, &key, 9, &replacement).await;
    // so does an abandoned empty one, which has no bytes to hold back
    let w = b
        .create_copy(BUCKET, &key, 0, &CopyAttributes::default())
        .await
        .expect("create empty copy");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    drop(w);
    assert_copy(b, &key, 9, &replacement).await;

    // larger than one cloud part, streamed in several writes
    let big = format!("copies-{run}/dir/large copy");
    write_copy(b, &big, &attributes, large, 1 << 20).await;
    assert_copy(b, &big, large.len(), &attributes).await;
    assert!(read_copy(b, &big).await == large, "large copy read back");
    let across = (5 << 20) - 3..(5 << 20) + 5;
    assert!(
        read_copy_at(b, &big, None, Some(across.clone())).await
            == large[across.start as usize..across.end as usize],
        "a range of the large copy"
    );

    // an empty copy
    let empty = format!("copies-{run}/empty");
    write_copy(b, &empty, &CopyAttributes::default(), b"", 1).await;
    assert_copy(b, &empty, 0, &CopyAttributes::default()).await;

    // names that differ only in ways a path might lose stay apart, or are
    // refused when the location cannot name them exactly
    let plain = format!("copies-{run}/name");
    write_copy(b, &plain, &CopyAttributes::default(), b"plain", 2).await;
    let mut written = vec![plain.clone(), key.clone(), big.clone(), empty.clone()];
    let odd_names = ["/", "//", "/./", "/../", "/x/..", "%2F", ".", "\u{1}"]
        .map(|tail| format!("{plain}{tail}"))
        .into_iter()
        .chain([format!("copies-{run}/NAME"), format!("copies-{run}//name")]);
    for k in odd_names {
        let size = k.len() as u64;
        match b
            .create_copy(BUCKET, &k, size, &CopyAttributes::default())
            .await
        {
            Ok(mut w) => {
                w.write(Bytes::from(k.clone()))
                    .await
                    .expect("write odd copy");
                w.commit().await.expect("commit odd copy");
                written.push(k);
            }
            Err(DataError::InvalidKey(_)) => {}
            Err(e) => panic!("create copy {k:?}: {e}"),
        }
    }
    assert_eq!(read_copy(b, &plain).await, b"plain");
    for k in &written[4..] {
        assert_eq!(read_copy(b, k).await, k.as_bytes(), "copy {k:?}");
    }
    // a long name, which the fs location spreads over several directories
    let long = format!("copies-{run}/{}end", "ü/".repeat(300));
    match b
        .create_copy(BUCKET, &long, 4, &CopyAttributes::default())
        .await
    {
        Ok(w) => {
            drop(w);
            write_copy(b, &long, &CopyAttributes::default(), b"long", 1).await;
            assert_eq!(read_copy(b, &long).await, b"long");
            written.push(long);
        }
        Err(DataError::InvalidKey(_)) => {}
        Err(e) => panic!("create long copy: {e}"),
    }

    // deleting: gone, and deleting again succeeds
    for k in &written {
        b.delete_copy(BUCKET, k).await.expect("delete copy");
        assert_eq!(head_copy(b, k).await, None, "deleted copy {k:?}");
        b.delete_copy(BUCKET, k).await.expect("delete copy again");
    }
    assert!(
        copy_read_fails(b, &key, None).await,
        "deleted copy still readable"
    );
}

async fn copy_read_fails(b: &dyn DataBackend, key: &str, version: Option<&str>) -> bool {
    match b.read_copy(BUCKET, key, version, None).await {
        Err(_) => true,
        Ok(s) => s.try_collect::<Vec<Bytes>>().await.is_err(),
    }
}

/// Some backends only report a missing blob once the stream is polled.
async fn read_fails(b: &dyn DataBackend, key: &str, version: Option<&str>) -> bool {
    match b.read(key, version, 0..1).await {
        Err(_) => true,
        Ok(s) => s.try_collect::<Vec<Bytes>>().await.is_err(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use crate::{FsBackend, Guarded, MemBackend};

    #[tokio::test]
    async fn fs_passes() {
        let dir = tempfile::tempdir().unwrap();
        super::run(&FsBackend::open(dir.path()).unwrap()).await;
    }

    #[tokio::test]
    async fn mem_passes() {
        super::run(&MemBackend::default()).await;
    }

    #[tokio::test]
    async fn guarded_passes() {
        let inner = Arc::new(MemBackend::default());
        let g = Guarded::new("m", inner, Duration::from_secs(5), Duration::from_secs(1));
        super::run(&g).await;
    }
}
