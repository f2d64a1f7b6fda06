//! The one conformance suite every `DataBackend` must pass (fs, mem, s3,
//! azure), run by each backend's tests. It only uses the public trait.

use bytes::Bytes;
use futures::TryStreamExt;

use crate::{BlobName, DataBackend, DataError, probe, random_hex};

/// A blob larger than two cloud parts, so streamed multipart writes are exercised.
const LARGE: usize = 17 << 20 | 12_345;

async fn read_all(b: &dyn DataBackend, key: &str, range: std::ops::Range<u64>) -> Vec<u8> {
    let chunks: Vec<Bytes> = b
        .read(key, range.clone())
        .await
        .unwrap_or_else(|e| panic!("read {key} {range:?}: {e}"))
        .try_collect()
        .await
        .unwrap_or_else(|e| panic!("streaming {key} {range:?}: {e}"));
    chunks.concat()
}

fn key_for(b: &dyn DataBackend, object: &str) -> String {
    b.blob_key(&BlobName {
        bucket: "conformance",
        key: object,
        unique: &random_hex(8),
    })
}

async fn write(b: &dyn DataBackend, key: &str, data: &[u8], piece: usize) {
    let mut w = b
        .create(key)
        .await
        .unwrap_or_else(|e| panic!("create {key}: {e}"));
    for chunk in data.chunks(piece.max(1)) {
        w.write(Bytes::copy_from_slice(chunk)).await.expect("write");
    }
    w.commit()
        .await
        .unwrap_or_else(|e| panic!("commit {key}: {e}"));
}

/// Runs every check against `backend`; panics with what failed.
pub async fn run(backend: &dyn DataBackend) {
    let b = backend;
    b.check().await.expect("check");
    probe(b).await.expect("probe");

    // large streamed blob: whole and ranged reads
    let data: Vec<u8> = (0..LARGE as u32).map(|i| (i % 251) as u8).collect();
    let big = key_for(b, "dir/large object");
    write(b, &big, &data, 1 << 20).await;
    let n = data.len() as u64;
    assert_eq!(read_all(b, &big, 0..n).await, data, "whole large blob");
    for r in [0..1, 5..10_000_000, n - 1..n, 8_388_600..8_388_700] {
        let want = &data[r.start as usize..r.end as usize];
        assert_eq!(read_all(b, &big, r.clone()).await, want, "range {r:?}");
    }

    // small and empty blobs
    let small = key_for(b, "small");
    write(b, &small, b"hello, location", 4).await;
    assert_eq!(read_all(b, &small, 7..15).await, b"location");
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
            b.read(&abandoned, 0..1).await.map(|_| ()),
            Err(DataError::NotFound(_))
        ) || read_fails(b, &abandoned).await
    );

    // server-side copy, where the backend has it
    let copy = key_for(b, "copy");
    match b.copy(&small, &copy).await {
        Ok(()) => {
            assert_eq!(read_all(b, &copy, 0..15).await, b"hello, location");
            b.delete(&copy).await.expect("delete copy");
        }
        Err(DataError::Unsupported) => {}
        Err(e) => panic!("copy: {e}"),
    }

    // deletes are idempotent; a deleted blob is gone
    for k in [&big, &small, &empty] {
        b.delete(k).await.expect("delete");
        b.delete(k).await.expect("delete again");
    }
    assert!(read_fails(b, &small).await, "deleted blob still readable");
}

/// Some backends only report a missing blob once the stream is polled.
async fn read_fails(b: &dyn DataBackend, key: &str) -> bool {
    match b.read(key, 0..1).await {
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
