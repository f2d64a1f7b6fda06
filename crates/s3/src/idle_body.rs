//! A request body that fails once the client has sent nothing for a while,
//! so a stalled upload (a client gone without closing its connection) ends
//! with S3's `RequestTimeout` and its partial data is cleaned up, instead of
//! holding a connection, a temp file and the server's shutdown forever.
//! (A body s3s reads whole, an XML document, fails inside s3s as a 500: the
//! flag `new` returns lets the server answer `RequestTimeout` instead.)

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use tokio::time::{Instant, Sleep};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What the failed read says; `error::to_s3` recognises it.
pub(crate) const IDLE_MESSAGE: &str =
    "RequestTimeout: the client sent no data within the idle timeout";

pub(crate) struct IdleTimeout {
    inner: Incoming,
    idle: Duration,
    /// Set once the body timed out, for whoever answers the request.
    timed_out: Arc<AtomicBool>,
    /// When the last frame came, or the first read was asked for: the
    /// clock starts only then, as a client waiting for `100 Continue` sends
    /// nothing until the server reads.
    last: Option<Instant>,
    /// Fires at `last + idle` at the earliest; moved on lazily, so a busy
    /// body costs one clock read per frame rather than a timer reset.
    timer: Pin<Box<Sleep>>,
}

impl IdleTimeout {
    /// The body, and a flag that turns true if it times out.
    pub(crate) fn new(inner: Incoming, idle: Duration) -> (Self, Arc<AtomicBool>) {
        let timed_out = Arc::new(AtomicBool::new(false));
        let body = Self {
            inner,
            idle,
            timed_out: timed_out.clone(),
            last: None,
            timer: Box::pin(tokio::time::sleep(idle)),
        };
        (body, timed_out)
    }
}

impl Body for IdleTimeout {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        let last = *this.last.get_or_insert_with(|| {
            let now = Instant::now();
            this.timer.as_mut().reset(now + this.idle);
            now
        });
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            this.last = Some(Instant::now());
            return Poll::Ready(frame.map(|f| f.map_err(BoxError::from)));
        }
        loop {
            if this.timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let deadline = this.last.unwrap_or(last) + this.idle;
            if Instant::now() >= deadline {
                this.timed_out.store(true, Ordering::Relaxed);
                return Poll::Ready(Some(Err(IDLE_MESSAGE.into())));
            }
            this.timer.as_mut().reset(deadline);
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
