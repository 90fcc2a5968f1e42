//! The open connections, for [`super::server`]: how many there are, which
//! are busy with a request, and a way to close any of them.
//!
//! A connection is *busy* from the moment its request head has arrived until
//! its response body has been written out (or dropped); otherwise it is
//! idle — between keep-alive requests, or still sending a head, as a
//! slowloris client does for ever. When the table is full, or descriptors
//! run out, the idle connection open the longest is closed to make room,
//! so a stalled client never keeps a real one out; at shutdown every idle
//! connection is closed at once and only busy ones are waited for.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;

/// Every open connection, by id.
#[derive(Clone, Default)]
pub struct Connections {
    inner: Arc<Mutex<Table>>,
}

#[derive(Default)]
struct Table {
    next_id: u64,
    open: HashMap<u64, Entry>,
}

struct Entry {
    opened: Instant,
    busy: Arc<AtomicUsize>,
    close: Arc<Notify>,
}

/// One connection's side of the table; dropping it removes the entry.
pub struct Handle {
    id: u64,
    table: Connections,
    /// Requests in progress on this connection (more than one only with
    /// HTTP/2).
    pub busy: Arc<AtomicUsize>,
    /// Notified when the connection must close now.
    pub close: Arc<Notify>,
}

impl Connections {
    pub fn len(&self) -> usize {
        self.lock().open.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Registers a new connection.
    pub fn open(&self) -> Handle {
        let busy = Arc::new(AtomicUsize::new(0));
        let close = Arc::new(Notify::new());
        let mut table = self.lock();
        let id = table.next_id;
        table.next_id += 1;
        table.open.insert(
            id,
            Entry {
                opened: Instant::now(),
                busy: busy.clone(),
                close: close.clone(),
            },
        );
        Handle {
            id,
            table: self.clone(),
            busy,
            close,
        }
    }

    /// Closes the idle connection open the longest; false when every one is
    /// busy.
    pub fn close_oldest_idle(&self) -> bool {
        let table = self.lock();
        let oldest = table
            .open
            .values()
            .filter(|e| e.busy.load(Ordering::Acquire) == 0)
            .min_by_key(|e| e.opened);
        match oldest {
            Some(entry) => {
                entry.close.notify_one();
                true
            }
            None => false,
        }
    }

    /// Closes every idle connection; returns how many were closed.
    pub fn close_idle(&self) -> usize {
        let table = self.lock();
        let idle = table
            .open
            .values()
            .filter(|e| e.busy.load(Ordering::Acquire) == 0);
        idle.map(|e| e.close.notify_one()).count()
    }

    /// Closes every connection.
    pub fn close_all(&self) {
        for entry in self.lock().open.values() {
            entry.close.notify_one();
        }
    }

    /// Waits until no connection is left, for at most `limit`.
    pub async fn wait_empty(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while !self.is_empty() {
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        true
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.table.lock().open.remove(&self.id);
    }
}

/// Marks a connection busy while alive.
pub struct Busy(Arc<AtomicUsize>);

impl Busy {
    pub fn new(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::AcqRel);
        Self(count.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

pin_project_lite::pin_project! {
    /// A response body that keeps its connection marked busy until it has
    /// been written out or dropped.
    pub struct BusyBody<B> {
        #[pin]
        inner: B,
        busy: Option<Busy>,
    }
}

impl<B> BusyBody<B> {
    pub fn new(inner: B, busy: Busy) -> Self {
        Self {
            inner,
            busy: Some(busy),
        }
    }
}

impl<B: Body> Body for BusyBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let polled = this.inner.poll_frame(cx);
        if let Poll::Ready(None) = polled {
            this.busy.take();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Any cause a body can fail with.
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What a request body gives when its client stops sending.
#[derive(Debug, thiserror::Error)]
#[error("the client sent no body bytes for {0:?}")]
pub struct BodyStalled(Duration);

pin_project_lite::pin_project! {
    /// A request body that fails when no bytes arrive for `limit`, so a
    /// client that stops half-way through an upload does not hold its
    /// connection (and whatever the handler holds) for ever.
    pub struct StallLimited<B> {
        #[pin]
        inner: B,
        #[pin]
        deadline: tokio::time::Sleep,
        limit: Duration,
    }
}

impl<B> StallLimited<B> {
    pub fn new(inner: B, limit: Duration) -> Self {
        Self {
            inner,
            deadline: tokio::time::sleep(limit),
            limit,
        }
    }
}

impl<B> Body for StallLimited<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let mut this = self.project();
        match this.inner.poll_frame(cx) {
            Poll::Ready(Some(frame)) => {
                let next = tokio::time::Instant::now() + *this.limit;
                this.deadline.as_mut().reset(next);
                Poll::Ready(Some(frame.map_err(Into::into)))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => match this.deadline.poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyStalled(*this.limit))))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// How long a connection closing with its client still sending goes on
/// reading, for the client to finish and read the answer (nginx's
/// `lingering_time`, shorter).
pub const LINGER: Duration = Duration::from_secs(2);

pin_project_lite::pin_project! {
    /// A connection that closes as nginx's `lingering_close` does.
    ///
    /// A server that answers before it has read a request's body (a `413`
    /// for an upload declared too large, a `401` before any of it is read)
    /// and then closes would leave the rest unread, and the kernel answers
    /// a close with unread bytes by resetting the connection. A client
    /// still sending gets the reset instead of the answer (`EPIPE` while
    /// writing its body). So closing here sends the end of the stream,
    /// then reads and drops what still comes, until the client closes too
    /// or [`LINGER`] has passed.
    pub struct Lingering<IO> {
        #[pin]
        io: IO,
        deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    }
}

impl<IO> Lingering<IO> {
    pub fn new(io: IO) -> Self {
        Self { io, deadline: None }
    }
}

impl<IO: AsyncRead> AsyncRead for Lingering<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        self.project().io.poll_read(cx, buf)
    }
}

impl<IO: AsyncRead + AsyncWrite> AsyncWrite for Lingering<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.project().io.poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        self.project().io.poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.project().io.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let mut this = self.project();
        if this.deadline.is_none() {
            std::task::ready!(this.io.as_mut().poll_shutdown(cx))?;
            *this.deadline = Some(Box::pin(tokio::time::sleep(LINGER)));
        }
        let deadline = this.deadline.as_mut().expect("set above");
        let mut dropped = [0u8; 8192];
        loop {
            if deadline.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Ok(()));
            }
            let mut buf = ReadBuf::new(&mut dropped);
            match std::task::ready!(this.io.as_mut().poll_read(cx, &mut buf)) {
                Ok(()) if !buf.filled().is_empty() => continue,
                // The client closed too, or the connection failed.
                _ => return Poll::Ready(Ok(())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_idle_connection_is_closed_first() {
        let table = Connections::default();
        let first = table.open();
        let second = table.open();
        let third = table.open();
        let _busy = Busy::new(&first.busy);
        assert!(table.close_oldest_idle());
        // `first` is busy, so `second` is the one told to close.
        assert!(futures_util::FutureExt::now_or_never(second.close.notified()).is_some());
        assert!(futures_util::FutureExt::now_or_never(third.close.notified()).is_none());
        drop(second);
        drop(third);
        assert_eq!(table.len(), 1);
        assert!(!table.close_oldest_idle(), "the only one left is busy");
    }
}
