//! Sending cached bytes straight from a file, as nginx's `sendfile on`
//! does: the kernel moves page-cache pages to the socket instead of
//! copying the response out of the process. For a 300 KB variant that copy
//! was half of all the CPU a media request took (docs/benchmarks.md).
//!
//! hyper writes every response itself, from memory, and knows nothing of
//! files. So a response whose bytes are also a file's says so with a
//! [`FileBytes`] extension; the connection keeps the last few of those
//! ([`Sends`]), and its socket ([`Stream`]) sends any part of a write that
//! lies inside one of them by `sendfile(2)` from the file, and the rest
//! (the head) as usual, marked `MSG_MORE` so that it leaves in the same
//! packet as the body, like nginx's `tcp_nopush`.
//!
//! A part of a write is recognised by its address: [`Sends`] holds a clone
//! of each [`FileBytes`]' `Bytes`, so that memory stays allocated, cannot be
//! reused for anything else, and never changes (`Bytes` are immutable):
//! whatever lies at those addresses is those bytes. It holds them only
//! until they are sent, as hyper does: a connection never keeps a body,
//! or the cached blob it is part of, after it has left. The file must hold the
//! same bytes, which is what [`FileBytes::new`] is given (a content-addressed
//! variant and the file it was read from, as long); a file found shorter
//! than promised is sent from memory instead.
//!
//! A connection holds no descriptor of its own: [`FileBytes`] refers to
//! its file weakly, and the file stays open only while whoever opened it
//! keeps it (a small cache of open files, in `app::media`). A file closed
//! since is sent from memory.
//!
//! Bytes made in the process (a large rendered page) can be sent the same
//! way from a copy in a file of their own ([`CopyFile`]), on the data
//! directory's disk where [`keep_copies_in`] names one, else in memory
//! (`memfd`). The disk's page cache is the faster of the two to send from:
//! on Linux 6.18 the same nginx answered the gallery page 10–17 % more
//! often from ext4 than from `/dev/shm`, and its client spent less per
//! answer (docs/benchmarks.md, twentieth session). Why was not traced; ext4
//! keeping the file in large folios, shared memory in 4 KiB pages, is the
//! likely reason.
//!
//! Making a copy on the disk is a blocking call on the connection's thread,
//! as the `memfd` was, but one that may wait for the filesystem's journal:
//! it happens once per page version, and only for a client that takes the
//! page uncompressed (browsers take Brotli).
//!
//! Off Linux, or when nothing is registered, writes go to the socket as
//! they would without this module.

use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::io::IoSlice;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// A response's body that is also part of a file.
#[derive(Clone)]
pub struct FileBytes {
    /// The body, exactly as the response holds it.
    bytes: Bytes,
    file: Weak<File>,
    /// Where the body starts in the file.
    at: u64,
}

impl FileBytes {
    /// `bytes` as the content of `file` from offset `at`: the caller
    /// vouches for that (the file is what the bytes were read from, and
    /// never rewritten).
    pub fn new(bytes: Bytes, file: &Arc<File>, at: u64) -> Self {
        Self {
            bytes,
            file: Arc::downgrade(file),
            at,
        }
    }

    /// Whether the file is still open, so that these bytes would leave by
    /// `sendfile` rather than from memory.
    pub fn is_open(&self) -> bool {
        self.file.strong_count() > 0
    }

    /// Where `part` starts in these bytes, if it lies within them.
    fn position_of(&self, part: &[u8]) -> Option<usize> {
        let start = self.bytes.as_ptr() as usize;
        let at = part.as_ptr() as usize;
        let inside = at >= start && at + part.len() <= start + self.bytes.len();
        (inside && !part.is_empty()).then(|| at - start)
    }

    /// Which response this is, for [`Sends::sent`].
    fn id(&self) -> usize {
        self.bytes.as_ptr() as usize
    }
}

/// How many [`CopyFile`]s may exist at once: each is a descriptor.
const COPY_FILES: usize = 64;

static COPY_FILES_OPEN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// The directory [`CopyFile`]s are made in, if one was named.
static COPIES_DIR: RwLock<Option<PathBuf>> = RwLock::new(None);

/// Makes [`CopyFile`]s in `dir` from now on, a directory on the data's
/// disk that the server can write to. Where it cannot make one there (the
/// directory is gone, the disk is full) it makes it in memory.
pub fn keep_copies_in(dir: PathBuf) {
    *COPIES_DIR.write().unwrap_or_else(|e| e.into_inner()) = Some(dir);
}

/// A copy of bytes made in the process (a rendered page), for them to be
/// sent by `sendfile` as a file's are. The file has no name: it goes when
/// it is closed, or with the process. At most [`COPY_FILES`] exist at
/// once.
pub struct CopyFile {
    file: Arc<File>,
}

impl CopyFile {
    /// A file holding `bytes`, unless there are already [`COPY_FILES`] or
    /// the system refuses one.
    pub fn of(bytes: &[u8]) -> Option<Self> {
        let dir = COPIES_DIR.read().unwrap_or_else(|e| e.into_inner()).clone();
        Self::of_in(bytes, dir.as_deref())
    }

    fn of_in(bytes: &[u8], dir: Option<&Path>) -> Option<Self> {
        use std::sync::atomic::Ordering::Relaxed;
        COPY_FILES_OPEN
            .fetch_update(Relaxed, Relaxed, |n| (n < COPY_FILES).then_some(n + 1))
            .ok()?;
        let made = Self::create(bytes, dir);
        if made.is_none() {
            COPY_FILES_OPEN.fetch_sub(1, Relaxed);
        }
        made.map(|file| Self {
            file: Arc::new(file),
        })
    }

    #[cfg(target_os = "linux")]
    fn create(bytes: &[u8], dir: Option<&Path>) -> Option<File> {
        use rustix::fs::{MemfdFlags, memfd_create};
        use std::io::Write;
        let on_disk = dir.and_then(|dir| tempfile::tempfile_in(dir).ok());
        let mut file = match on_disk {
            Some(file) => file,
            None => File::from(memfd_create("scoot-page", MemfdFlags::CLOEXEC).ok()?),
        };
        file.write_all(bytes).ok()?;
        Some(file)
    }

    #[cfg(not(target_os = "linux"))]
    fn create(_bytes: &[u8], _dir: Option<&Path>) -> Option<File> {
        None
    }

    /// `bytes`, which must be what this file was made of, as [`FileBytes`].
    pub fn holding(&self, bytes: Bytes) -> FileBytes {
        FileBytes::new(bytes, &self.file, 0)
    }
}

impl Drop for CopyFile {
    fn drop(&mut self) {
        COPY_FILES_OPEN.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// How many responses a connection remembers: one is enough for HTTP/1.1,
/// which answers in turn; a few let HTTP/2's interleaved streams benefit.
const REMEMBERED: usize = 4;

/// The file-backed bytes of a connection's latest responses.
#[derive(Clone, Default)]
pub struct Sends(Arc<Mutex<VecDeque<FileBytes>>>);

impl Sends {
    /// Remembers a response's bytes, forgetting the oldest past
    /// [`REMEMBERED`] (a forgotten one is only sent the ordinary way).
    pub fn add(&self, bytes: FileBytes) {
        let mut sends = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if sends.len() == REMEMBERED {
            sends.pop_front();
        }
        sends.push_back(bytes);
    }

    /// How to send `bufs`: which leading slices go as they are, or where
    /// the first one comes from in a file.
    fn plan(&self, bufs: &[IoSlice<'_>]) -> Plan {
        let mut sends = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if sends.is_empty() {
            return Plan::Write(bufs.len());
        }
        for (i, buf) in bufs.iter().enumerate() {
            for (n, send) in sends.iter().enumerate() {
                let Some(position) = send.position_of(buf) else {
                    continue;
                };
                return match (i, send.file.upgrade()) {
                    (0, Some(file)) => Plan::File {
                        file,
                        offset: send.at + position as u64,
                        len: buf.len(),
                        id: send.id(),
                        rest: send.bytes.len() - position,
                    },
                    (0, None) => {
                        // Closed since: the rest goes from memory.
                        sends.remove(n);
                        Plan::Write(1)
                    }
                    _ => Plan::Head(i),
                };
            }
        }
        Plan::Write(bufs.len())
    }

    /// Forgets the response `id` once its last byte has left.
    fn sent(&self, id: usize, sent: usize, rest: usize) {
        if sent == rest {
            let mut sends = self.0.lock().unwrap_or_else(|e| e.into_inner());
            sends.retain(|s| s.id() != id);
        }
    }
}

enum Plan {
    /// The first `n` slices, as they are.
    Write(usize),
    /// The first `n` slices, with more to follow at once.
    Head(usize),
    /// The first slice, from `file`; it is part of response `id`, which
    /// has `rest` bytes left from there.
    File {
        file: Arc<File>,
        offset: u64,
        len: usize,
        id: usize,
        rest: usize,
    },
}

/// A connection's socket, sending what [`Sends`] names from files.
pub struct Stream {
    tcp: TcpStream,
    sends: Sends,
}

impl Stream {
    pub fn new(tcp: TcpStream, sends: Sends) -> Self {
        Self { tcp, sends }
    }

    /// Runs the non-blocking `write` once the socket can take bytes.
    #[cfg(target_os = "linux")]
    fn poll_send(
        &self,
        cx: &mut Context<'_>,
        mut write: impl FnMut() -> rustix::io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        loop {
            std::task::ready!(self.tcp.poll_write_ready(cx))?;
            match self
                .tcp
                .try_io(tokio::io::Interest::WRITABLE, || Ok(write()?))
            {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                sent => return Poll::Ready(sent),
            }
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.sends.plan(bufs) {
            Plan::Write(n) => Pin::new(&mut self.tcp).poll_write_vectored(cx, &bufs[..n]),
            #[cfg(target_os = "linux")]
            Plan::Head(n) => self.poll_send(cx, || {
                use rustix::net::{SendAncillaryBuffer, SendFlags, sendmsg};
                let mut no_control = SendAncillaryBuffer::default();
                sendmsg(&self.tcp, &bufs[..n], &mut no_control, SendFlags::MORE)
            }),
            #[cfg(target_os = "linux")]
            Plan::File {
                file,
                offset,
                len,
                id,
                rest,
            } => {
                let sent = std::task::ready!(self.poll_send(cx, || {
                    let mut at = offset;
                    rustix::fs::sendfile(&self.tcp, &*file, Some(&mut at), len)
                }));
                let sent = match sent {
                    // The file ended early: whatever became of it, the
                    // bytes in memory are the response.
                    Ok(0) => std::task::ready!(Pin::new(&mut self.tcp).poll_write(cx, &bufs[0])),
                    other => other,
                }?;
                self.sends.sent(id, sent, rest);
                Poll::Ready(Ok(sent))
            }
            #[cfg(not(target_os = "linux"))]
            Plan::Head(n) => Pin::new(&mut self.tcp).poll_write_vectored(cx, &bufs[..n]),
            #[cfg(not(target_os = "linux"))]
            Plan::File { .. } => Pin::new(&mut self.tcp).poll_write(cx, &bufs[0]),
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A connected pair: our side as a [`Stream`] with `sends`, and the
    /// peer's.
    async fn pair(sends: Sends) -> (Stream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let peer = TcpStream::connect(listener.local_addr().unwrap());
        let (peer, accepted) = tokio::join!(peer, listener.accept());
        (Stream::new(accepted.unwrap().0, sends), peer.unwrap())
    }

    /// What the peer receives of `head` then `body`, sent over a fresh
    /// connection that remembers `sends`.
    async fn send_via(sends: &Sends, head: &[u8], body: &[u8]) -> Vec<u8> {
        let (ours, peer) = pair(sends.clone()).await;
        send(ours, peer, head, body).await
    }

    /// A file of `len` bytes of `fill`.
    fn file_of(fill: u8, len: usize) -> Arc<File> {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(&vec![fill; len]).unwrap();
        Arc::new(f)
    }

    /// Writes `head` then `body` as hyper does (one vectored write, then
    /// whatever is left), and returns what the peer received.
    async fn send(mut ours: Stream, mut peer: TcpStream, head: &[u8], body: &[u8]) -> Vec<u8> {
        let reading = tokio::spawn(async move {
            let mut got = Vec::new();
            peer.read_to_end(&mut got).await.unwrap();
            got
        });
        let n = ours
            .write_vectored(&[IoSlice::new(head), IoSlice::new(body)])
            .await
            .unwrap();
        if n < head.len() {
            ours.write_all(&head[n..]).await.unwrap();
            ours.write_all(body).await.unwrap();
        } else {
            ours.write_all(&body[n - head.len()..]).await.unwrap();
        }
        ours.shutdown().await.unwrap();
        drop(ours);
        reading.await.unwrap()
    }

    // The file's bytes differ from the memory's on purpose here, which
    // never happens in use: it shows which of the two was sent.

    #[tokio::test]
    async fn registered_bytes_leave_from_their_file() {
        let len = 300_000;
        let memory = Bytes::from(vec![b'm'; len]);
        let file = file_of(b'f', len);
        let sends = Sends::default();
        sends.add(FileBytes::new(memory.clone(), &file, 0));
        let got = send_via(&sends, b"HEAD\r\n", &memory).await;
        assert_eq!(&got[..6], b"HEAD\r\n");
        assert_eq!(got.len(), 6 + len);
        assert!(got[6..].iter().all(|&b| b == b'f'), "sent from the file");
        // Sent, so no longer held: the connection keeps no body.
        assert!(sends.0.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_range_leaves_from_the_same_place_in_the_file() {
        let memory = Bytes::from((0..=255u8).cycle().take(10_000).collect::<Vec<_>>());
        let mut f = tempfile::tempfile().unwrap();
        let on_disk: Vec<u8> = memory.iter().map(|b| b.wrapping_add(1)).collect();
        f.write_all(&on_disk).unwrap();
        let file = Arc::new(f);
        let sends = Sends::default();
        let part = memory.slice(1000..2500);
        sends.add(FileBytes::new(part.clone(), &file, 1000));
        let got = send_via(&sends, b"H", &part).await;
        assert_eq!(&got[1..], &on_disk[1000..2500]);
    }

    #[tokio::test]
    async fn other_bytes_and_closed_files_are_sent_from_memory() {
        let memory = Bytes::from(vec![b'm'; 50_000]);
        let file = file_of(b'f', 50_000);
        let sends = Sends::default();
        sends.add(FileBytes::new(memory.clone(), &file, 0));
        let unrelated = vec![b'u'; 50_000];
        let got = send_via(&sends, b"H", &unrelated).await;
        assert_eq!(&got[1..], &unrelated[..]);

        drop(file);
        let got = send_via(&sends, b"H", &memory).await;
        assert!(got[1..].iter().all(|&b| b == b'm'), "the file is closed");
        assert!(sends.0.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_copy_file_sends_what_it_was_made_of() {
        let dir = tempfile::tempdir().unwrap();
        for place in [None, Some(dir.path())] {
            // Made of other bytes than it is said to hold, to show which left.
            let memory = Bytes::from(vec![b'm'; 100_000]);
            let copy = CopyFile::of_in(&[b'p'; 100_000], place).expect("a copy file");
            let sends = Sends::default();
            sends.add(copy.holding(memory.clone()));
            let got = send_via(&sends, b"H", &memory).await;
            assert!(got[1..].iter().all(|&b| b == b'p'), "sent from the file");
            assert_eq!(got.len(), 100_001);
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_copy_file_is_made_on_the_named_disk_and_leaves_no_name() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let copy = CopyFile::of_in(b"page", Some(dir.path())).expect("a copy file");
        let device = copy.file.metadata().unwrap().dev();
        assert_eq!(device, std::fs::metadata(dir.path()).unwrap().dev());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);

        // A directory gone: the copy is made in memory instead.
        let gone = dir.path().join("gone");
        let copy = CopyFile::of_in(b"page", Some(&gone)).expect("a copy in memory");
        assert_ne!(copy.file.metadata().unwrap().dev(), device);
    }

    #[tokio::test]
    async fn a_file_shorter_than_promised_is_sent_from_memory() {
        let memory = Bytes::from(vec![b'm'; 20_000]);
        let file = file_of(b'f', 5_000);
        let sends = Sends::default();
        sends.add(FileBytes::new(memory.clone(), &file, 0));
        let got = send_via(&sends, b"H", &memory).await;
        assert_eq!(got.len(), 20_001);
        // What the file had, then memory for the rest.
        assert!(got[1..5_001].iter().all(|&b| b == b'f'));
        assert!(got[5_001..].iter().all(|&b| b == b'm'));
    }
}
