//! The wrapper every location runs behind: names the location in its errors,
//! bounds each backend call (and each chunk of a read) by a timeout, and
//! applies the location's circuit breaker. It never retries: the clients below do.

use std::future::Future;
use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;

use crate::{BlobName, BlobWriter, ByteStream, CircuitBreaker, DataBackend, DataError, Result};

/// Consecutive failures that open a location's breaker.
const BREAKER_THRESHOLD: u32 = 5;

struct Guard {
    name: String,
    timeout: Duration,
    breaker: Mutex<CircuitBreaker>,
}

impl Guard {
    fn breaker(&self) -> std::sync::MutexGuard<'_, CircuitBreaker> {
        // The breaker's state is always whole: a poisoned lock is still usable.
        self.breaker
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn admit(&self) -> Result<()> {
        let now = Instant::now();
        let mut breaker = self.breaker();
        if breaker.allow(now) {
            return Ok(());
        }
        let wait = breaker.open_for(now).unwrap_or_default();
        Err(DataError::Unavailable(format!(
            "location {} is unavailable after repeated failures (next attempt in {:.1}s)",
            self.name,
            wait.as_secs_f64()
        )))
    }

    /// Feeds the outcome to the breaker and names the location in errors.
    fn settle<T>(&self, result: Result<T>) -> Result<T> {
        match &result {
            Ok(_)
            | Err(DataError::NotFound(_) | DataError::InvalidKey(_) | DataError::Unsupported) => {
                self.breaker().record_success()
            }
            Err(_) => self.breaker().record_failure(Instant::now()),
        }
        result.map_err(|e| match e {
            DataError::Unavailable(m) => {
                DataError::Unavailable(format!("location {}: {m}", self.name))
            }
            DataError::Io(io) => DataError::Io(std::io::Error::new(
                io.kind(),
                format!("location {}: {io}", self.name),
            )),
            other => other,
        })
    }

    async fn call<T>(&self, what: &str, fut: impl Future<Output = Result<T>>) -> Result<T> {
        self.admit()?;
        let result = tokio::time::timeout(self.timeout, fut)
            .await
            .unwrap_or_else(|_| {
                Err(DataError::Unavailable(format!(
                    "{what} timed out after {}s",
                    self.timeout.as_secs_f64()
                )))
            });
        self.settle(result)
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
            }),
        }
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

    fn supports_copy(&self) -> bool {
        self.inner.supports_copy()
    }

    async fn check(&self) -> Result<()> {
        self.guard.call("check", self.inner.check()).await
    }

    async fn create(&self, key: &str) -> Result<Box<dyn BlobWriter>> {
        let inner = self.guard.call("create", self.inner.create(key)).await?;
        Ok(Box::new(GuardedWriter {
            inner,
            guard: self.guard.clone(),
        }))
    }

    async fn read(&self, key: &str, range: Range<u64>) -> Result<ByteStream> {
        let inner = self.guard.call("read", self.inner.read(key, range)).await?;
        let guard = self.guard.clone();
        let stream = futures::stream::unfold(Some(inner), move |state| {
            let guard = guard.clone();
            async move {
                let mut inner = state?;
                let next = tokio::time::timeout(guard.timeout, inner.next()).await;
                let item = match next {
                    Ok(None) => return None,
                    Ok(Some(Ok(chunk))) => Ok(chunk),
                    Ok(Some(Err(e))) => guard.settle(Err(e)),
                    Err(_) => guard.settle(Err(DataError::Unavailable(format!(
                        "read stalled for {}s",
                        guard.timeout.as_secs_f64()
                    )))),
                };
                // After an error the stream ends: a reader never sees bytes past a gap.
                let rest = item.is_ok().then_some(inner);
                Some((item, rest))
            }
        });
        Ok(Box::pin(stream))
    }

    async fn delete(&self, key: &str) -> Result<()> {
        self.guard.call("delete", self.inner.delete(key)).await
    }

    async fn copy(&self, from: &str, to: &str) -> Result<()> {
        self.guard.call("copy", self.inner.copy(from, to)).await
    }
}

struct GuardedWriter {
    inner: Box<dyn BlobWriter>,
    guard: Arc<Guard>,
}

#[async_trait::async_trait]
impl BlobWriter for GuardedWriter {
    async fn write(&mut self, data: Bytes) -> Result<()> {
        self.guard.call("write", self.inner.write(data)).await
    }

    async fn commit(self: Box<Self>) -> Result<()> {
        let GuardedWriter { inner, guard } = *self;
        guard.call("commit", inner.commit()).await
    }
}
