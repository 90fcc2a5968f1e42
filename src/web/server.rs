//! Accepting connections and serving the route table on them (what nginx's
//! `client_header_timeout`, `keepalive_timeout` and `worker_connections` do
//! in the classic stack). warp's own server has none of these: a client that
//! sends half a request head kept its connection for as long as it liked,
//! 2 000 of them ran the process out of descriptors, and a stop waited for
//! them all.
//!
//! - A request head must arrive within `header_timeout`, which is also how
//!   long an idle keep-alive connection stays open (hyper restarts the timer
//!   whenever it waits for a head).
//! - A request body that sends nothing for `stall_timeout` fails, and so
//!   does a response the client stops reading.
//! - At most `max_connections` are open, below the descriptor limit; when
//!   full, the idle connection open longest is closed to make room (see
//!   [`super::connections`]), and only when every one is busy is a new one
//!   refused with a bare `503`.
//! - Stopping closes idle connections at once and waits only for requests
//!   in progress.
//! - A client that hangs up is not an error; it is logged at debug.
//! - An unsafe request from another site is refused before it reaches a
//!   route ([`super::cross_site`]).
//! - Connections are accepted here, on the main runtime, and each is
//!   served on one of the connection threads ([`super::shards`]): in the
//!   express lane while its requests are ones the front answers from what
//!   it keeps ([`super::express`]), then by hyper.
//! - A connection closing while its client still sends lingers, reading
//!   and dropping, so the client reads its answer instead of a reset
//!   ([`super::connections::Lingering`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tower_service::Service;
use warp::http;

use super::connections::{Busy, BusyBody, Connections, Lingering, StallLimited};
use super::cross_site;
use super::error::{Failure, Shape};
use super::express::{self, Answers};
use super::shards::Shards;
use super::zero_copy::{self, FileBytes, Sends};

/// The peer a connection comes from, as a request extension (the client,
/// or the proxy in front of it).
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

/// How connections are bounded.
#[derive(Debug, Clone)]
pub struct Limits {
    pub header_timeout: Duration,
    pub stall_timeout: Duration,
    pub max_connections: usize,
    /// How many connection threads serve them.
    pub threads: usize,
}

/// A server accepting and serving until [`Serving::stop`].
pub struct Serving {
    stop: watch::Sender<bool>,
    connections: Connections,
    accepting: tokio::task::JoinHandle<()>,
    shards: Arc<Shards>,
}

/// The route table as a service (`warp::service(routes)`).
pub trait Routes:
    Service<
        http::Request<StallLimited<Incoming>>,
        Response = warp::reply::Response,
        Error = std::convert::Infallible,
        Future: Send + 'static,
    > + Clone
    + Send
    + 'static
{
}

impl<S> Routes for S where
    S: Service<
            http::Request<StallLimited<Incoming>>,
            Response = warp::reply::Response,
            Error = std::convert::Infallible,
            Future: Send + 'static,
        > + Clone
        + Send
        + 'static
{
}

/// Starts serving `routes` on `listener`; fails only if the connection
/// threads cannot be started.
pub fn spawn(
    listener: TcpListener,
    routes: impl Routes,
    express: impl Answers + Clone + 'static,
    limits: Limits,
) -> std::io::Result<Serving> {
    let (stop, stopping) = watch::channel(false);
    let connections = Connections::default();
    let shards = Arc::new(Shards::start(limits.threads)?);
    let accepting = tokio::spawn(accept_loop(
        Site { routes, express },
        listener,
        limits,
        connections.clone(),
        shards.clone(),
        stopping,
    ));
    Ok(Serving {
        stop,
        connections,
        accepting,
        shards,
    })
}

impl Serving {
    /// Stops accepting, closes idle connections, lets requests in progress
    /// finish for at most `grace`, then closes what is left.
    pub async fn stop(self, grace: Duration) {
        let _ = self.stop.send(true);
        let _ = self.accepting.await;
        let idle = self.connections.close_idle();
        tracing::debug!(idle, "closed idle connections");
        if !self.connections.wait_empty(grace).await {
            tracing::warn!(
                open = self.connections.len(),
                "requests still running after {grace:?}; closing them"
            );
            self.connections.close_all();
            self.connections.wait_empty(Duration::from_secs(1)).await;
        }
        // The accept loop, which held the other reference, has ended.
        if let Some(shards) = Arc::into_inner(self.shards) {
            shards.end().await;
        }
    }
}

/// What connections are served: the express lane's answers first, then
/// the route table.
struct Site<R, E> {
    routes: R,
    express: E,
}

async fn accept_loop(
    site: Site<impl Routes, impl Answers + Clone + 'static>,
    listener: TcpListener,
    limits: Limits,
    connections: Connections,
    shards: Arc<Shards>,
    mut stopping: watch::Receiver<bool>,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let mut warned = Warned::default();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stopping.changed() => return,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) if out_of_descriptors(&e) => {
                // Make room, and try again in a moment (the kernel keeps
                // the waiting connection in the backlog meanwhile).
                connections.close_oldest_idle();
                warned.once("out of file descriptors: closing idle connections", &e);
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
            Err(e) => {
                tracing::debug!(error = %e, "accept");
                continue;
            }
        };
        if connections.len() >= limits.max_connections && !connections.close_oldest_idle() {
            warned.once(
                "every connection is busy: refusing new ones",
                &limits.max_connections,
            );
            refuse(&stream);
            continue;
        }
        // The stream moves to a connection thread's runtime.
        let stream = match stream.into_std() {
            Ok(stream) => stream,
            Err(e) => {
                tracing::debug!(error = %e, %peer, "accept");
                continue;
            }
        };
        let handle = connections.open();
        let sends = Sends::default();
        let service = RequestService {
            routes: site.routes.clone(),
            peer: Peer(peer),
            busy: handle.busy.clone(),
            stall: limits.stall_timeout,
            sends: sends.clone(),
        };
        let served = Connection {
            express: site.express.clone(),
            builder: builder.clone(),
            sends,
            stopping: stopping.clone(),
            limits: limits.clone(),
        };
        shards.serve(async move {
            let stream = match TcpStream::from_std(stream) {
                Ok(stream) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, %peer, "cannot serve a connection");
                    return;
                }
            };
            let ended = tokio::select! {
                ended = served.serve(stream, service, &handle.busy) => ended,
                _ = handle.close.notified() => Ok(()),
            };
            if let Err(e) = ended {
                // Clients hang up, time out and send garbage all the time.
                tracing::debug!(error = %e, %peer, "connection ended");
            }
            drop(handle);
        });
    }
}

/// One connection's serving, on its connection thread.
struct Connection<E> {
    express: E,
    builder: auto::Builder<TokioExecutor>,
    sends: Sends,
    stopping: watch::Receiver<bool>,
    limits: Limits,
}

impl<E: Answers> Connection<E> {
    /// Serves `stream` until it ends: in the express lane while it lasts,
    /// then with hyper and the route table.
    async fn serve(
        mut self,
        stream: TcpStream,
        service: RequestService<impl Routes>,
        busy: &Arc<std::sync::atomic::AtomicUsize>,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let stream = zero_copy::Stream::new(stream, self.sends.clone());
        let mut io = tokio_io_timeout::TimeoutStream::new(stream);
        io.set_write_timeout(Some(self.limits.stall_timeout));
        let mut io = Box::pin(io);
        let lane = express::Lane {
            io: &mut io,
            sends: &self.sends,
            busy,
            header_timeout: self.limits.header_timeout,
            stopping: &mut self.stopping,
        };
        let read = match lane.serve(&self.express).await {
            express::Ended::Closed => return Ok(()),
            express::Ended::Handed(read) => read.freeze(),
        };
        let io = TokioIo::new(Lingering::new(express::Rewound::new(read, io)));
        let hyper_service = hyper_util::service::TowerToHyperService::new(service);
        let conn = self.builder.serve_connection(io, hyper_service);
        tokio::pin!(conn);
        tokio::select! {
            ended = conn.as_mut() => return ended,
            () = stopped(&mut self.stopping) => {}
        }
        conn.as_mut().graceful_shutdown();
        conn.await
    }
}

/// Resolves once the server stops.
async fn stopped(stopping: &mut watch::Receiver<bool>) {
    let _ = stopping.wait_for(|s| *s).await;
}

/// A `503` written without waiting, for a connection there is no room for.
fn refuse(stream: &TcpStream) {
    const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nretry-after: 1\r\n\
        content-length: 0\r\nconnection: close\r\n\r\n";
    let _ = stream.try_write(BUSY);
}

fn out_of_descriptors(e: &std::io::Error) -> bool {
    // EMFILE (24): this process; ENFILE (23): the whole system.
    matches!(e.raw_os_error(), Some(23 | 24))
}

/// Logs a warning at most once a minute.
#[derive(Default)]
struct Warned(Option<Instant>);

impl Warned {
    fn once(&mut self, what: &str, detail: &dyn std::fmt::Display) {
        if self
            .0
            .is_none_or(|at| at.elapsed() >= Duration::from_secs(60))
        {
            self.0 = Some(Instant::now());
            tracing::warn!(%detail, "{what}");
        }
    }
}

/// warp's service, with the peer's address, the busy mark and the body's
/// stall limit added to each request, and the bytes of each response that
/// are also a file's handed to the connection's socket.
#[derive(Clone)]
struct RequestService<S> {
    routes: S,
    peer: Peer,
    busy: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    stall: Duration,
    sends: Sends,
}

type WarpBody = <warp::reply::Response as IntoParts>::Body;

impl<S: Routes> Service<http::Request<Incoming>> for RequestService<S> {
    type Response = http::Response<BusyBody<WarpBody>>;
    type Error = std::convert::Infallible;
    type Future = std::pin::Pin<
        Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send + 'static>,
    >;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.routes.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<Incoming>) -> Self::Future {
        let busy = Busy::new(&self.busy);
        if let Some(reason) = cross_site::refusal(req.method(), req.headers()) {
            tracing::debug!(peer = %self.peer.0, path = req.uri().path(), "{reason}");
            let shape = match req.uri().path().starts_with("/api/") {
                true => Shape::Json,
                false => Shape::Html,
            };
            let failure = Failure::new(http::StatusCode::FORBIDDEN, reason).shaped(shape);
            let resp = super::error::render(&failure);
            return Box::pin(async move { Ok(resp.map(|body| BusyBody::new(body, busy))) });
        }
        let mut req = req.map(|body| StallLimited::new(body, self.stall));
        req.extensions_mut().insert(self.peer);
        let answer = self.routes.call(req);
        let sends = self.sends.clone();
        Box::pin(async move {
            let mut resp = answer.await?;
            if let Some(bytes) = resp.extensions_mut().remove::<FileBytes>() {
                sends.add(bytes);
            }
            Ok(resp.map(|body| BusyBody::new(body, busy)))
        })
    }
}

/// Names the body type of a response.
trait IntoParts {
    type Body;
}

impl<B> IntoParts for http::Response<B> {
    type Body = B;
}
