//! The guard every location runs behind: errors naming the location, per-call and per-chunk
//! timeouts, read-length checks, the circuit breaker. It never retries (the clients below do).

use std::future::Future;
use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;

use crate::{
    BlobName, BlobWriter, ByteStream, CircuitBreaker, Committed, CopyAttributes, CurrentCopy,
    DataBackend, DataError, Result,
};

/// Consecutive failures that open a location's breaker.
const BREAKER_THRESHOLD: u32 = 5;
/// How many times the timeout a call whose work grows with the object gets.
const LONG_CALL_FACTOR: u32 = 20;
/// A writer of more bytes than this may end in a multipart completion,
/// whose work grows with the object: its commit is a long call.
const LONG_COMMIT_SIZE: u64 = 1 << 30;

struct Guard {
    name: String,
    timeout: Duration,
    breaker: Mutex<CircuitBreaker>,
    /// The latest failure's message: what a refusal by the open breaker
    /// reports as its cause.
    last_failure: Mutex<Option<String>>,
}

impl Guard {
    fn breaker(&self) -> std::sync::MutexGuard<'_, CircuitBreaker> {
        // The breaker's state is always whole: a poisoned lock is still usable.
        self.breaker
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn last_failure(&self) -> std::sync::MutexGuard<'_, Option<String>> {
        self.last_failure
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn admit(&self) -> Result<()> {
        let now = Instant::now();
        let wait = {
            let mut breaker = self.breaker();
            if breaker.allow(now) {
                return Ok(());
            }
            breaker.open_for(now).unwrap_or_default()
        };
        let cause = match &*self.last_failure() {
            Some(last) => format!("; last failure: {last}"),
            None => String::new(),
        };
        Err(DataError::CircuitOpen {
            message: format!(
                "location {} is unavailable after repeated failures (next attempt in {:.1}s){cause}",
                self.name,
                wait.as_secs_f64()
            ),
            retry_in: wait,
        })
    }

    /// Feeds the outcome to the breaker and names the location in errors.
    fn settle<T>(&self, result: Result<T>) -> Result<T> {
        match &result {
            // The backend answered: whatever it said, it is up.
            Ok(_)
            | Err(
                DataError::NotFound(_)
                | DataError::Refused(_)
                | DataError::InvalidKey(_)
                | DataError::InvalidAttributes(_)
                | DataError::Unsupported,
            ) => self.breaker().record_success(),
            Err(e) => {
                self.breaker().record_failure(Instant::now());
                *self.last_failure() = Some(e.to_string());
            }
        }
        let named = |m: String| format!("location {}: {m}", self.name);
        result.map_err(|e| match e {
            DataError::Unavailable(m) => DataError::Unavailable(named(m)),
            DataError::Refused(m) => DataError::Refused(named(m)),
            DataError::NotFound(m) => DataError::NotFound(named(m)),
            DataError::Io(io) => {
                DataError::Io(std::io::Error::new(io.kind(), named(io.to_string())))
            }
            other => other,
        })
    }

    async fn call<T>(&self, what: &str, fut: impl Future<Output = Result<T>>) -> Result<T> {
        self.admit()?;
        let result = self.bounded(what, self.timeout, fut).await;
        self.settle(result)
    }

    /// `call` for work that grows with the object (a server-side copy, a
    /// multipart completion: minutes for gigabytes on AWS), bounded by
    /// `LONG_CALL_FACTOR` times the timeout.
    async fn call_long<T>(&self, what: &str, fut: impl Future<Output = Result<T>>) -> Result<T> {
        self.admit()?;
        let result = self
            .bounded(what, self.timeout * LONG_CALL_FACTOR, fut)
            .await;
        self.settle(result)
    }

    /// `call` for steps that may not reach the backend at all (opening a
    /// writer, a write the writer only buffers): the breaker does not hold
    /// them back and their successes prove nothing, but their failures
    /// count. (Counted as successes, they would reset the breaker between
    /// the failing commits of a dead destination; admitted as the one trial
    /// of a half-open breaker, they would never report on it.)
    async fn call_unproven<T>(
        &self,
        what: &str,
        fut: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        match self.bounded(what, self.timeout, fut).await {
            Ok(value) => Ok(value),
            failed => self.settle(failed),
        }
    }

    async fn bounded<T>(
        &self,
        what: &str,
        limit: Duration,
        fut: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        tokio::time::timeout(limit, fut).await.unwrap_or_else(|_| {
            Err(DataError::Unavailable(format!(
                "{what} timed out after {}s",
                limit.as_secs_f64()
            )))
        })
    }
}

/// A location's backend behind its guard.
pub struct Guarded {
    inner: Arc<dyn DataBackend>,
    guard: Arc<Guard>,
}

impl Guarded {
    /// `timeout` bounds each call and each wait for the next chunk of a read;
    /// `cooldown` is how long the breaker stays open.
    pub fn new(
        name: &str,
        inner: Arc<dyn DataBackend>,
        timeout: Duration,
        cooldown: Duration,
    ) -> Self {
        Self {
            inner,
            guard: Arc::new(Guard {
                name: name.to_string(),
                timeout,
                breaker: Mutex::new(CircuitBreaker::new(BREAKER_THRESHOLD, cooldown)),
                last_failure: Mutex::new(None),
            }),
        }
    }

    /// Guards a writer the inner location opened for `size` bytes (None:
    /// not known).
    fn writer(&self, inner: Box<dyn BlobWriter>, size: Option<u64>) -> Box<dyn BlobWriter> {
        Box::new(GuardedWriter {
            inner,
            guard: self.guard.clone(),
            long_commit: size.is_some_and(|size| size > LONG_COMMIT_SIZE),
        })
    }
}

#[async_trait::async_trait]
impl DataBackend for Guarded {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    fn blob_key(&self, name: &BlobName<'_>) -> String {
        self.inner.blob_key(name)
    }

    fn allows_inline(&self) -> bool {
        self.inner.allows_inline()
    }

    fn keeps_versions(&self) -> bool {
        self.inner.keeps_versions()
    }

    fn supports_copy(&self) -> bool {
        self.inner.supports_copy()
    }

    async fn check(&self) -> Result<()> {
        self.guard.call("check", self.inner.check()).await
    }

    async fn create(&self, key: &str) -> Result<Box<dyn BlobWriter>> {
        let inner = self
            .guard
            .call_unproven("create", self.inner.create(key))
            .await?;
        Ok(self.writer(inner, None))
    }

    async fn create_sized(&self, key: &str, size: u64) -> Result<Box<dyn BlobWriter>> {
        let inner = self
            .guard
            .call_unproven("create", self.inner.create_sized(key, size))
            .await?;
        Ok(self.writer(inner, Some(size)))
    }

    async fn read(
        &self,
        key: &str,
        version: Option<&str>,
        range: Range<u64>,
    ) -> Result<ByteStream> {
        let expected = range.end.saturating_sub(range.start);
        let inner = self
            .guard
            .call("read", self.inner.read(key, version, range))
            .await?;
        Ok(guard_stream(self.guard.clone(), inner, Some(expected)))
    }

    async fn delete(&self, key: &str) -> Result<()> {
        self.guard.call("delete", self.inner.delete(key)).await
    }

    async fn copy(&self, from: &str, to: &str) -> Result<Option<String>> {
        self.guard
            .call_long("copy", self.inner.copy(from, to))
            .await
    }

    fn assembles_parts(&self) -> bool {
        self.inner.assembles_parts()
    }

    async fn start_assembly(&self, key: &str) -> Result<String> {
        self.guard
            .call("start multipart upload", self.inner.start_assembly(key))
            .await
    }

    async fn create_part(
        &self,
        key: &str,
        assembly: &str,
        number: u32,
        size: u64,
    ) -> Result<Box<dyn BlobWriter>> {
        let inner = self
            .guard
            .call_unproven(
                "create part",
                self.inner.create_part(key, assembly, number, size),
            )
            .await?;
        Ok(self.writer(inner, None))
    }

    async fn finish_assembly(
        &self,
        key: &str,
        assembly: &str,
        parts: &[(u32, String)],
    ) -> Result<Option<String>> {
        self.guard
            .call_long(
                "complete multipart upload",
                self.inner.finish_assembly(key, assembly, parts),
            )
            .await
    }

    async fn abort_assembly(&self, key: &str, assembly: &str) -> Result<()> {
        self.guard
            .call(
                "abort multipart upload",
                self.inner.abort_assembly(key, assembly),
            )
            .await
    }

    fn copy_key(&self, bucket: &str, key: &str) -> String {
        self.inner.copy_key(bucket, key)
    }

    fn reads_copy_tags(&self) -> bool {
        self.inner.reads_copy_tags()
    }

    async fn create_copy(
        &self,
        bucket: &str,
        key: &str,
        size: u64,
        attributes: &CopyAttributes,
    ) -> Result<Box<dyn BlobWriter>> {
        let inner = self
            .guard
            .call_unproven(
                "create copy",
                self.inner.create_copy(bucket, key, size, attributes),
            )
            .await?;
        Ok(self.writer(inner, Some(size)))
    }

    async fn delete_copy(&self, bucket: &str, key: &str) -> Result<()> {
        self.guard
            .call("delete copy", self.inner.delete_copy(bucket, key))
            .await
    }

    async fn abort_copy_upload(&self, bucket: &str, key: &str, upload: &str) -> Result<()> {
        self.guard
            .call(
                "abort copy upload",
                self.inner.abort_copy_upload(bucket, key, upload),
            )
            .await
    }

    async fn head_copy(&self, bucket: &str, key: &str) -> Result<Option<(u64, CopyAttributes)>> {
        self.guard
            .call("head copy", self.inner.head_copy(bucket, key))
            .await
    }

    async fn read_copy(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
        range: Option<Range<u64>>,
    ) -> Result<ByteStream> {
        let expected = range.as_ref().map(|r| r.end - r.start);
        let read = self.inner.read_copy(bucket, key, version, range);
        let inner = self.guard.call("read copy", read).await?;
        Ok(guard_stream(self.guard.clone(), inner, expected))
    }

    async fn read_current_copy(
        &self,
        bucket: &str,
        key: &str,
        range: Range<u64>,
    ) -> Result<Option<CurrentCopy>> {
        let expected = range.end.saturating_sub(range.start);
        let read = self.inner.read_current_copy(bucket, key, range);
        let copy = self.guard.call("read copy", read).await?;
        Ok(copy.map(|copy| CurrentCopy {
            bytes: guard_stream(self.guard.clone(), copy.bytes, Some(expected)),
            ..copy
        }))
    }
}

/// A read's stream behind the guard: each wait for a chunk is bounded, and
/// when the length is known (`expected`) more or fewer bytes are an error.
fn guard_stream(guard: Arc<Guard>, inner: ByteStream, expected: Option<u64>) -> ByteStream {
    let stream = futures::stream::unfold(Some((inner, expected)), move |state| {
        let guard = guard.clone();
        async move {
            let (mut inner, left) = state?;
            let next = tokio::time::timeout(guard.timeout, inner.next()).await;
            // A backend that sends more or fewer bytes than asked for is
            // broken: an error, never silently wrong data.
            let item = match next {
                Ok(None) if left.is_none_or(|left| left == 0) => return None,
                Ok(None) => guard.settle(Err(DataError::Unavailable(format!(
                    "read ended {} bytes early",
                    left.unwrap_or_default()
                )))),
                Ok(Some(Ok(chunk))) if left.is_some_and(|left| chunk.len() as u64 > left) => guard
                    .settle(Err(DataError::Unavailable(
                        "read returned more bytes than asked for".into(),
                    ))),
                Ok(Some(Ok(chunk))) => Ok(chunk),
                Ok(Some(Err(e))) => guard.settle(Err(e)),
                Err(_) => guard.settle(Err(DataError::Unavailable(format!(
                    "read stalled for {}s",
                    guard.timeout.as_secs_f64()
                )))),
            };
            // After an error the stream ends: a reader never sees bytes past a gap.
            let rest = match &item {
                Ok(chunk) => Some((inner, left.map(|left| left - chunk.len() as u64))),
                Err(_) => None,
            };
            Some((item, rest))
        }
    });
    Box::pin(stream)
}

struct GuardedWriter {
    inner: Box<dyn BlobWriter>,
    guard: Arc<Guard>,
    long_commit: bool,
}

#[async_trait::async_trait]
impl BlobWriter for GuardedWriter {
    async fn write(&mut self, data: Bytes) -> Result<()> {
        self.guard
            .call_unproven("write", self.inner.write(data))
            .await
    }

    fn reports_md5(&self) -> bool {
        self.inner.reports_md5()
    }

    fn unfinished_upload(&self) -> Option<String> {
        self.inner.unfinished_upload()
    }

    async fn commit(self: Box<Self>) -> Result<Committed> {
        let GuardedWriter {
            inner,
            guard,
            long_commit,
        } = *self;
        if long_commit {
            guard.call_long("commit", inner.commit()).await
        } else {
            guard.call("commit", inner.commit()).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::TryStreamExt;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A broken backend: short reads, writes that hang, checks that fail.
    #[derive(Default)]
    struct Broken {
        calls: AtomicUsize,
    }

    #[async_trait::async_trait]
    impl DataBackend for Broken {
        fn kind(&self) -> &'static str {
            "broken"
        }
        async fn check(&self) -> Result<()> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            Err(DataError::Unavailable("HTTP 500".into()))
        }
        async fn create(&self, _key: &str) -> Result<Box<dyn BlobWriter>> {
            std::future::pending().await
        }
        async fn read(
            &self,
            _key: &str,
            _version: Option<&str>,
            _range: Range<u64>,
        ) -> Result<ByteStream> {
            let chunk = Bytes::from_static(b"abc");
            Ok(Box::pin(futures::stream::once(async move { Ok(chunk) })))
        }
        /// Refused, as a key without the permission to delete is.
        async fn delete(&self, _key: &str) -> Result<()> {
            Err(DataError::Refused(
                "HTTP 403 Forbidden: AccessDenied".into(),
            ))
        }
        /// A writer whose commit is slower than a call's timeout, as a big
        /// multipart completion is.
        async fn create_sized(&self, _key: &str, _size: u64) -> Result<Box<dyn BlobWriter>> {
            Ok(Box::new(SlowCommit))
        }
        /// Slower than a call's timeout, as a big server-side copy is.
        async fn copy(&self, _from: &str, _to: &str) -> Result<Option<String>> {
            tokio::time::sleep(Duration::from_millis(600)).await;
            Ok(None)
        }
        fn copy_key(&self, bucket: &str, key: &str) -> String {
            format!("{bucket}/{key}")
        }
        async fn create_copy(
            &self,
            _bucket: &str,
            _key: &str,
            _size: u64,
            _attributes: &CopyAttributes,
        ) -> Result<Box<dyn BlobWriter>> {
            std::future::pending().await
        }
        async fn delete_copy(&self, _bucket: &str, _key: &str) -> Result<()> {
            Err(DataError::Unavailable("HTTP 503".into()))
        }
        async fn head_copy(
            &self,
            _bucket: &str,
            _key: &str,
        ) -> Result<Option<(u64, CopyAttributes)>> {
            Err(DataError::InvalidAttributes("refused".into()))
        }
        async fn read_copy(
            &self,
            _bucket: &str,
            _key: &str,
            _version: Option<&str>,
            _range: Option<Range<u64>>,
        ) -> Result<ByteStream> {
            // Stalls after its first chunk.
            let chunk = Bytes::from_static(b"abc");
            let first = futures::stream::once(async move { Ok(chunk) });
            Ok(Box::pin(first.chain(futures::stream::pending())))
        }
        async fn read_current_copy(
            &self,
            _bucket: &str,
            _key: &str,
            _range: Range<u64>,
        ) -> Result<Option<CurrentCopy>> {
            std::future::pending().await
        }
    }

    struct SlowCommit;

    #[async_trait::async_trait]
    impl BlobWriter for SlowCommit {
        async fn write(&mut self, _data: Bytes) -> Result<()> {
            Ok(())
        }
        async fn commit(self: Box<Self>) -> Result<Committed> {
            tokio::time::sleep(Duration::from_millis(600)).await;
            Ok(Committed::default())
        }
    }

    fn guarded(inner: Arc<Broken>) -> Guarded {
        Guarded::new(
            "flaky",
            inner,
            Duration::from_millis(200),
            Duration::from_secs(60),
        )
    }

    #[tokio::test]
    async fn short_reads_and_hangs_are_errors_naming_the_location() {
        let g = guarded(Arc::default());
        let short: Result<Vec<Bytes>> = g.read("k", None, 0..10).await.unwrap().try_collect().await;
        let err = short.unwrap_err().to_string();
        assert!(
            err.contains("location flaky") && err.contains("7 bytes early"),
            "{err}"
        );
        let long: Result<Vec<Bytes>> = g.read("k", None, 0..2).await.unwrap().try_collect().await;
        assert!(long.is_err());
        let started = Instant::now();
        let hang = g.create("k").await.map(|_| ()).unwrap_err().to_string();
        assert!(hang.contains("timed out"), "{hang}");
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[tokio::test]
    async fn refusals_name_the_location_but_never_open_the_breaker() {
        let inner = Arc::new(Broken::default());
        let g = guarded(inner.clone());
        for _ in 0..2 * BREAKER_THRESHOLD {
            let err = g.delete("k").await.unwrap_err();
            assert!(
                matches!(&err, DataError::Refused(m) if m.starts_with("location flaky: HTTP 403"))
            );
        }
        let err = g.check().await.unwrap_err().to_string();
        assert!(
            err.contains("location flaky: HTTP 500"),
            "still tried: {err}"
        );
    }

    #[tokio::test]
    async fn work_that_grows_with_the_object_gets_longer() {
        let g = guarded(Arc::default());
        g.copy("a", "b").await.unwrap();
        let big = g.create_sized("k", LONG_COMMIT_SIZE + 1).await.unwrap();
        big.commit().await.unwrap();
        let small = g.create_sized("k", 10).await.unwrap();
        let err = small.commit().await.unwrap_err().to_string();
        assert!(err.contains("commit timed out"), "{err}");
    }

    #[tokio::test]
    async fn the_breaker_opens_and_spares_the_backend() {
        let inner = Arc::new(Broken::default());
        let g = guarded(inner.clone());
        for _ in 0..BREAKER_THRESHOLD {
            let err = g.check().await.unwrap_err().to_string();
            assert!(err.contains("location flaky: HTTP 500"), "{err}");
        }
        let err = g.check().await.unwrap_err().to_string();
        assert!(err.contains("unavailable after repeated failures"), "{err}");
        assert!(
            err.ends_with("; last failure: HTTP 500"),
            "the cause is kept: {err}"
        );
        assert_eq!(
            inner.calls.load(Ordering::SeqCst),
            BREAKER_THRESHOLD as usize
        );
    }

    #[tokio::test]
    async fn copies_are_guarded_too() {
        let g = guarded(Arc::default());
        assert_eq!(g.copy_key("b", "k"), "b/k");
        let hang = g
            .create_copy("b", "k", 0, &CopyAttributes::default())
            .await
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(hang.contains("create copy timed out"), "{hang}");
        let err = g.delete_copy("b", "k").await.unwrap_err().to_string();
        assert!(err.contains("location flaky: HTTP 503"), "{err}");
        let read: Result<Vec<Bytes>> = g
            .read_copy("b", "k", None, None)
            .await
            .unwrap()
            .try_collect()
            .await;
        let err = read.unwrap_err().to_string();
        assert!(err.contains("read stalled"), "{err}");
        // Refused attributes are the caller's problem, not the location's:
        // they never open the breaker.
        for _ in 0..2 * BREAKER_THRESHOLD {
            assert!(matches!(
                g.head_copy("b", "k").await,
                Err(DataError::InvalidAttributes(_))
            ));
        }
        let err = g.delete_copy("b", "k").await.unwrap_err().to_string();
        assert!(err.contains("HTTP 503"), "{err}");
    }
}
