//! The express lane: requests the front answers from what it keeps,
//! answered on the connection without hyper, as nginx answers a static
//! file: parse the head, look the URL up, write a head made once and the
//! body (by `sendfile` where the bytes are a file's).
//!
//! hyper's parsing, header maps, service calls and flushing were about half
//! of such a request's own work (docs/benchmarks.md): more than nginx
//! spends on the whole request. Here a connection starts in the lane. Each
//! request head is parsed with `httparse` (the parser hyper itself uses);
//! one the lane takes is answered here, and the first one it does not take
//! ends the lane: the connection, with every byte read and not yet
//! answered, goes to hyper for the rest of its life ([`Rewound`]). So
//! whatever is not the plainest `GET` or `HEAD` of a kept answer is
//! hyper's, as it was.
//!
//! The lane takes only an HTTP/1.1 `GET` or `HEAD` with no body
//! (`Content-Length` or `Transfer-Encoding` of any value sends it to
//! hyper), no `Expect`, no `Upgrade`, and no `Connection` but
//! `keep-alive`; and only when [`Answers`] has the answer: what the answer
//! is, and which requests get it, the front decides (`super::front`). A
//! head that does not parse goes to hyper, which says why.
//!
//! The lane keeps hyper's bounds: a head must arrive within the header
//! timeout, which also closes an idle connection; the connection counts as
//! busy while an answer is written, and a write that stalls fails by the
//! connection's write timeout (the socket the lane writes to is the one
//! hyper gets). A head longer than [`MAX_HEAD`] goes to hyper part-read,
//! which gives it a header timeout of its own.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::sync::watch;
use warp::http::{HeaderMap, HeaderName, Method, StatusCode, header};

use super::conditional::http_date;
use super::connections::Busy;
use super::zero_copy::{FileBytes, Sends};

/// The longest head the lane reads before it gives the connection to
/// hyper as it is.
pub const MAX_HEAD: usize = 8 * 1024;

/// How many header lines the lane parses; a request with more goes to
/// hyper.
const MAX_HEADERS: usize = 32;

/// A request the lane may answer: a `GET` or `HEAD` with no body.
pub struct Ask<'a> {
    pub method: Method,
    /// The request target as sent: a path and, perhaps, a query.
    pub target: &'a str,
    headers: &'a [httparse::Header<'a>],
}

impl<'a> Ask<'a> {
    /// The request `parsed` as the lane may take it, or `None` for hyper.
    fn of(parsed: &'a httparse::Request<'_, 'a>) -> Option<Self> {
        let method = match parsed.method? {
            "GET" => Method::GET,
            "HEAD" => Method::HEAD,
            _ => return None,
        };
        if parsed.version? != 1 {
            return None;
        }
        let headers = &*parsed.headers;
        let ours = headers.iter().all(|h| {
            let named = |n: &HeaderName| h.name.eq_ignore_ascii_case(n.as_str());
            let framing = [
                header::CONTENT_LENGTH,
                header::TRANSFER_ENCODING,
                header::EXPECT,
                header::UPGRADE,
            ];
            !framing.iter().any(named)
                && (!named(&header::CONNECTION) || h.value.eq_ignore_ascii_case(b"keep-alive"))
        });
        ours.then(|| Self {
            method,
            target: parsed.path.expect("a complete head has a target"),
            headers,
        })
    }

    /// The first value of the header `name`.
    pub fn header(&self, name: &HeaderName) -> Option<&'a [u8]> {
        let name = name.as_str();
        let found = self
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name));
        found.map(|h| h.value)
    }

    /// Whether any of `names` came.
    pub fn has_any(&self, names: &[HeaderName]) -> bool {
        names.iter().any(|name| self.header(name).is_some())
    }

    /// The target's path, without its query.
    pub fn path(&self) -> &'a str {
        let target = self.target;
        target.split_once('?').map_or(target, |(path, _)| path)
    }
}

/// A whole answer, ready to write: the head up to the date (see
/// [`wire_head`]), and the body.
pub struct Quick {
    head: Bytes,
    body: Bytes,
    /// The body as a file's bytes, to leave by `sendfile`.
    file: Option<FileBytes>,
}

impl Quick {
    pub fn new(head: Bytes, body: Bytes, file: Option<FileBytes>) -> Self {
        Self { head, body, file }
    }
}

/// Where the lane's answers come from.
pub trait Answers: Send + Sync {
    /// The answer to `ask`, if it is kept and this request may have it;
    /// counted as answered.
    fn answer(&self, ask: &Ask<'_>) -> Option<Quick>;
}

/// A response's head as hyper writes it to an HTTP/1.1 client, without
/// the `date` and the empty line that end it: the status line, each
/// header, and, when `headers` have none and the status has a body, the
/// `content-length` of `body_len` bytes.
pub fn wire_head(status: StatusCode, headers: &HeaderMap, body_len: usize) -> Bytes {
    let mut head = Vec::with_capacity(512);
    head.extend_from_slice(b"HTTP/1.1 ");
    head.extend_from_slice(status.as_str().as_bytes());
    head.push(b' ');
    let reason = status.canonical_reason().unwrap_or("<none>");
    head.extend_from_slice(reason.as_bytes());
    head.extend_from_slice(b"\r\n");
    for (name, value) in headers {
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    let bodiless = matches!(status, StatusCode::NO_CONTENT | StatusCode::NOT_MODIFIED);
    if !headers.contains_key(header::CONTENT_LENGTH) && !bodiless {
        head.extend_from_slice(b"content-length: ");
        head.extend_from_slice(itoa::Buffer::new().format(body_len).as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head.into()
}

/// How the lane left a connection.
pub enum Ended {
    /// It is done: closed by the client, timed out, failed, or stopping.
    Closed,
    /// It is hyper's, with the bytes read and not answered.
    Handed(BytesMut),
}

/// A connection in the lane: its socket, and what bounds it.
pub struct Lane<'a, IO> {
    pub io: &'a mut IO,
    /// The socket's record of bodies to send from files.
    pub sends: &'a Sends,
    /// The connection's busy count (see `super::connections`).
    pub busy: &'a Arc<AtomicUsize>,
    pub header_timeout: Duration,
    pub stopping: &'a mut watch::Receiver<bool>,
}

impl<IO: AsyncRead + AsyncWrite + Unpin> Lane<'_, IO> {
    /// Answers the connection's requests for as long as `answers` has
    /// them.
    pub async fn serve(self, answers: &impl Answers) -> Ended {
        let mut read = BytesMut::with_capacity(MAX_HEAD);
        // A head's time starts when it is waited for, and runs on while it
        // arrives a part at a time.
        let mut deadline = tokio::time::Instant::now() + self.header_timeout;
        loop {
            // Every whole head read so far, in turn.
            while !read.is_empty() {
                let mut lines = [httparse::EMPTY_HEADER; MAX_HEADERS];
                let mut parsed = httparse::Request::new(&mut lines);
                let (len, quick, head_only) = match parsed.parse(&read) {
                    Ok(httparse::Status::Complete(len)) => {
                        let Some(ask) = Ask::of(&parsed) else {
                            return Ended::Handed(read);
                        };
                        let Some(quick) = answers.answer(&ask) else {
                            return Ended::Handed(read);
                        };
                        (len, quick, ask.method == Method::HEAD)
                    }
                    Ok(httparse::Status::Partial) => break,
                    Err(_) => return Ended::Handed(read),
                };
                let busy = Busy::new(self.busy);
                if send(self.io, self.sends, quick, head_only).await.is_err() {
                    return Ended::Closed;
                }
                drop(busy);
                read.advance(len);
                if *self.stopping.borrow() {
                    return Ended::Closed;
                }
                deadline = tokio::time::Instant::now() + self.header_timeout;
            }
            if read.len() >= MAX_HEAD {
                return Ended::Handed(read);
            }
            read.reserve(MAX_HEAD - read.len());
            let more = tokio::select! {
                more = tokio::time::timeout_at(deadline, self.io.read_buf(&mut read)) => more,
                _ = self.stopping.wait_for(|s| *s) => return Ended::Closed,
            };
            match more {
                Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return Ended::Closed,
                Ok(Ok(_)) => {}
            }
        }
    }
}

/// Writes `quick`, its head and, unless `head_only`, its body.
async fn send(
    io: &mut (impl AsyncWrite + Unpin),
    sends: &Sends,
    quick: Quick,
    head_only: bool,
) -> io::Result<()> {
    let date = date_line();
    let body: &[u8] = if head_only { &[] } else { &quick.body };
    if let Some(file) = quick.file.filter(|_| !head_only) {
        sends.add(file);
    }
    let mut parts = [
        IoSlice::new(&quick.head),
        IoSlice::new(&date),
        IoSlice::new(body),
    ];
    let mut left = &mut parts[..];
    while !left.is_empty() {
        match io.write_vectored(left).await? {
            0 => return Err(io::ErrorKind::WriteZero.into()),
            n => IoSlice::advance_slices(&mut left, n),
        }
    }
    io.flush().await
}

/// `date: <now>` and the empty line that ends a head.
type DateLine = [u8; 39];

thread_local! {
    /// The date line of the second it was made in: made once a second, as
    /// hyper makes its own.
    static DATE: std::cell::Cell<(u64, DateLine)> = const { std::cell::Cell::new((0, [0; 39])) };
}

fn date_line() -> DateLine {
    let now = SystemTime::now();
    let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    DATE.with(|cell| {
        let (made, line) = cell.get();
        if made == second {
            return line;
        }
        let mut line = *b"date: Thu, 01 Jan 1970 00:00:00 GMT\r\n\r\n";
        let ms = i64::try_from(second).map_or(0, |s| s.saturating_mul(1000));
        line[6..35].copy_from_slice(http_date(ms).as_bytes());
        cell.set((second, line));
        line
    })
}

pin_project_lite::pin_project! {
    /// A socket whose first reads give back bytes read from it before:
    /// what the lane read and did not answer, for hyper.
    pub struct Rewound<IO> {
        read: Bytes,
        #[pin]
        io: IO,
    }
}

impl<IO> Rewound<IO> {
    pub fn new(read: Bytes, io: IO) -> Self {
        Self { read, io }
    }
}

impl<IO: AsyncRead> AsyncRead for Rewound<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.project();
        if this.read.is_empty() {
            return this.io.poll_read(cx, buf);
        }
        let n = this.read.len().min(buf.remaining());
        buf.put_slice(&this.read.split_to(n));
        Poll::Ready(Ok(()))
    }
}

impl<IO: AsyncWrite> AsyncWrite for Rewound<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.project().io.poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.project().io.poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().io.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().io.poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests;
