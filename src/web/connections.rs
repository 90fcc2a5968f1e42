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
//!
//! A connection idle for longer than the head timeout is closed by
//! [`Connections::sweep`], which looks once a second, as nginx's
//! `client_header_timeout` and `keepalive_timeout` do with one timer
//! tree for all connections. hyper's own header timeout did it with a
//! timer per request, allocated, registered in tokio's timer wheel and
//! taken out again on every keep-alive request. Here a request's end
//! only stores the sweep's clock, a whole number of seconds.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::sync::Notify;

/// Every open connection, by id.
#[derive(Clone, Default)]
pub struct Connections {
    inner: Arc<Mutex<Table>>,
    /// Seconds since the table was made, as [`Self::sweep`] counts them.
    clock: Arc<AtomicU64>,
}

#[derive(Default)]
struct Table {
    next_id: u64,
    open: HashMap<u64, Entry>,
}

struct Entry {
    opened: Instant,
    busy: Arc<Activity>,
    close: Arc<Notify>,
}

/// What a connection is doing, for the table to see.
pub struct Activity {
    /// Requests in progress (more than one only with HTTP/2).
    requests: AtomicUsize,
    /// The table's clock when a request last began or ended, or the
    /// connection opened.
    active_at: AtomicU64,
    clock: Arc<AtomicU64>,
}

impl Activity {
    fn is_idle(&self) -> bool {
        self.requests.load(Ordering::Acquire) == 0
    }

    fn touch(&self) {
        let now = self.clock.load(Ordering::Relaxed);
        self.active_at.store(now, Ordering::Release);
    }
}

/// One connection's side of the table; dropping it removes the entry.
pub struct Handle {
    id: u64,
    table: Connections,
    /// Requests in progress on this connection, and since when it has
    /// had none.
    pub busy: Arc<Activity>,
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
        let busy = Arc::new(Activity {
            requests: AtomicUsize::new(0),
            active_at: AtomicU64::new(self.clock.load(Ordering::Relaxed)),
            clock: self.clock.clone(),
        });
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
            .filter(|e| e.busy.is_idle())
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
        let idle = table.open.values().filter(|e| e.busy.is_idle());
        idle.map(|e| e.close.notify_one()).count()
    }

    /// Closes, once a second until `stopping`, every connection idle for
    /// longer than `limit` (rounded up to whole seconds): one that sends
    /// its head too slowly, or keeps alive with nothing to ask.
    pub async fn sweep(self, limit: Duration, mut stopping: tokio::sync::watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stopping.wait_for(|s| *s) => return,
            }
            self.close_idle_for(limit);
        }
    }

    /// Moves the clock on a second and closes the connections idle for
    /// longer than `limit`; how many.
    fn close_idle_for(&self, limit: Duration) -> usize {
        let now = self.clock.fetch_add(1, Ordering::AcqRel) + 1;
        let limit = limit.as_secs() + u64::from(limit.subsec_nanos() > 0);
        let table = self.lock();
        // The count first: a request that begins meanwhile has stored
        // its time before counting itself, one that ends is still counted.
        let stale = table.open.values().filter(|e| {
            e.busy.is_idle() && now.saturating_sub(e.busy.active_at.load(Ordering::Acquire)) > limit
        });
        stale.map(|e| e.close.notify_one()).count()
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
pub struct Busy(Arc<Activity>);

impl Busy {
    pub fn new(activity: &Arc<Activity>) -> Self {
        activity.touch();
        activity.requests.fetch_add(1, Ordering::AcqRel);
        Self(activity.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        // Idle from now: the time is stored before the count falls, so a
        // sweep that sees no request in progress sees this time.
        self.0.touch();
        self.0.requests.fetch_sub(1, Ordering::AcqRel);
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

    fn told_to_close(handle: &Handle) -> bool {
        futures_util::FutureExt::now_or_never(handle.close.notified()).is_some()
    }

    #[test]
    fn a_connection_idle_for_longer_than_the_limit_is_closed() {
        let limit = Duration::from_secs(2);
        let table = Connections::default();
        let waiting = table.open();
        let working = table.open();
        let busy = Busy::new(&working.busy);
        // Two seconds idle is not more than two.
        assert_eq!(table.close_idle_for(limit), 0);
        assert_eq!(table.close_idle_for(limit), 0);
        assert_eq!(table.close_idle_for(limit), 1);
        assert!(told_to_close(&waiting));
        assert!(!told_to_close(&working), "busy, however long");
        // Idle from the end of its request, not from when it opened.
        drop(busy);
        assert_eq!(table.close_idle_for(limit), 1, "the first, not yet gone");
        drop(waiting);
        assert_eq!(table.close_idle_for(limit), 0);
        assert_eq!(table.close_idle_for(limit), 1);
        assert!(told_to_close(&working));
    }
}
