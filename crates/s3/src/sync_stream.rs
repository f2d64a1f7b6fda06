//! s3s wants response bodies that are `Sync`; the core's streams are only
//! `Send`. Polling needs `&mut`, so a `Mutex` makes the stream `Sync` at no
//! cost: `get_mut` never locks.

use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};

use futures::{Stream, StreamExt};

pub(crate) struct SyncStream<S>(Mutex<S>);

impl<S> SyncStream<S> {
    pub fn new(stream: S) -> Self {
        Self(Mutex::new(stream))
    }
}

impl<S: Stream + Unpin> Stream for SyncStream<S> {
    type Item = S::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let inner = self
            .get_mut()
            .0
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        inner.poll_next_unpin(cx)
    }
}
