//! Connections are bounded: a head must arrive in time, an idle keep-alive
//! connection is closed, a client that stalls never keeps a real one out,
//! even with the descriptors all used, and a stop does not wait for it.

use std::process::Command;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{scoot, serve_command, spawn_app_with};

/// A server process that does not outlive a failed test.
struct KillOnDrop(Option<std::process::Child>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Reads until the server closes the connection; how long that took.
async fn closed_after(stream: &mut TcpStream, limit: Duration) -> Duration {
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(limit, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return started.elapsed(),
            Ok(Ok(_)) => continue,
            Err(_) => panic!("the connection was still open after {limit:?}"),
        }
    }
}

#[tokio::test]
async fn a_head_that_never_ends_and_an_idle_connection_are_closed() {
    let app = spawn_app_with(|c| c.web.header_timeout_seconds = 1).await;
    let addr = app.url("").trim_start_matches("http://").to_owned();

    let mut stalled = TcpStream::connect(&addr).await.unwrap();
    stalled
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    let took = closed_after(&mut stalled, Duration::from_secs(5)).await;
    assert!(took < Duration::from_secs(3), "closed after {took:?}");

    let mut idle = TcpStream::connect(&addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut answer = [0u8; 12];
    idle.read_exact(&mut answer).await.unwrap();
    assert_eq!(&answer, b"HTTP/1.1 200");
    let took = closed_after(&mut idle, Duration::from_secs(5)).await;
    assert!(took < Duration::from_secs(3), "idle for {took:?}");
    app.shutdown().await;
}

/// The same attack as issue 14's, scaled to a test: more stalled
/// connections than the process has descriptors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_clients_beyond_the_descriptor_limit_do_not_keep_healthz_out() {
    let dir = tempfile::tempdir().unwrap();
    let server = scoot(dir.path());
    let mut limited = Command::new("sh");
    limited
        .arg("-c")
        .arg(r#"ulimit -n 256 && exec "$0" "$@""#)
        .arg(server.get_program())
        .args(server.get_args())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("SCOOT_DRAIN_SECONDS", "0")
        // Long enough that only making room helps, not the timeout.
        .env("SCOOT_WEB__HEADER_TIMEOUT_SECONDS", "60");
    for (key, value) in server.get_envs() {
        match value {
            Some(value) => limited.env(key, value),
            None => limited.env_remove(key),
        };
    }
    let (child, base) = serve_command(limited);
    let mut child = KillOnDrop(Some(child));
    let addr = base.trim_start_matches("http://").to_owned();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();

    let mut stalled = Vec::new();
    let mut slowest = Duration::ZERO;
    for n in 0..400 {
        if let Ok(mut s) = TcpStream::connect(&addr).await {
            let _ = s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ").await;
            stalled.push(s);
        }
        if n % 20 == 0 {
            let started = Instant::now();
            let resp = client.get(format!("{base}/healthz")).send().await;
            assert_eq!(
                resp.map(|r| r.status()).ok(),
                Some(StatusCode::OK),
                "at {n}"
            );
            slowest = slowest.max(started.elapsed());
        }
    }
    for _ in 0..10 {
        let started = Instant::now();
        let resp = client.get(format!("{base}/healthz")).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        slowest = slowest.max(started.elapsed());
    }
    eprintln!("400 stalled connections under 256 descriptors: slowest /healthz {slowest:?}");
    assert!(
        slowest < Duration::from_secs(1),
        "/healthz took {slowest:?}"
    );

    // A stop does not wait for them.
    let started = Instant::now();
    let mut child = child.0.take().unwrap();
    let term = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success(), "{status}");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "SIGTERM took {took:?}");
    drop(stalled);
}

/// An upload whose body stops arriving: the head, the first bytes of a
/// part, then nothing.
async fn stalled_upload(addr: &str, token: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /api/photos HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 100000\r\n\r\n\
         --b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.png\"\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&[7u8; 4096]).await.unwrap();
    stream
}

/// A client still sending a body that was refused before it was read
/// gets the answer, not a reset: closing with the body unread made the
/// kernel reset the connection, and the client failed with `EPIPE` while
/// sending instead of reading its `413`.
#[tokio::test]
async fn an_upload_refused_before_its_body_is_read_gets_its_answer() {
    let app = spawn_app_with(|c| c.upload.max_bytes = 64 * 1024).await;
    let addr = app.url("").trim_start_matches("http://").to_owned();
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /api/photos HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Type: multipart/form-data; boundary=b\r\nContent-Length: {}\r\n\r\n",
        app.token,
        64 << 20
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let chunk = vec![b'x'; 64 * 1024];
    for _ in 0..(16 << 20) / chunk.len() {
        stream
            .write_all(&chunk)
            .await
            .expect("the body is taken while the server closes");
    }
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream
            .read(&mut buf)
            .await
            .expect("the answer, not a reset");
        assert!(n > 0, "closed without an answer");
        answer.extend_from_slice(&buf[..n]);
    }
    assert!(
        answer.starts_with(b"HTTP/1.1 413"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    app.shutdown().await;
}

#[tokio::test]
async fn an_upload_that_stalls_is_cut_off_and_leaves_nothing_staged() {
    let app = spawn_app_with(|c| c.web.stall_timeout_seconds = 1).await;
    let addr = app.url("").trim_start_matches("http://").to_owned();
    let mut stalled = stalled_upload(&addr, &app.token).await;
    let took = closed_after(&mut stalled, Duration::from_secs(10)).await;
    assert!(took < Duration::from_secs(4), "cut off after {took:?}");
    let staging = app.data_dir().join("tmp");
    let left = std::fs::read_dir(&staging).map_or(0, |d| d.count());
    assert_eq!(left, 0, "staged files left behind");
    assert!(app.stored_files().await.is_empty());
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    app.shutdown().await;
}

#[tokio::test]
async fn when_every_connection_is_busy_a_newcomer_gets_a_bare_503() {
    let app = spawn_app_with(|c| c.web.max_connections = 2).await;
    let addr = app.url("").trim_start_matches("http://").to_owned();
    // Two requests in progress (their bodies still coming): nothing idle
    // to close to make room.
    let first = stalled_upload(&addr, &app.token).await;
    let _second = stalled_upload(&addr, &app.token).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut newcomer = TcpStream::connect(&addr).await.unwrap();
    let _ = newcomer
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), newcomer.read_to_end(&mut answer))
        .await
        .expect("the refusal comes at once")
        .ok();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("retry-after: 1"),
        "{answer}"
    );

    // One of them goes away: there is room again.
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut stream = TcpStream::connect(&addr).await.unwrap();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer).await;
        if answer.starts_with(b"HTTP/1.1 200") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still refused: {}",
            String::from_utf8_lossy(&answer)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Connections are served on threads of their own, so the server closes an
/// idle one on time even while the test's runtime is blocked (by a CLI run,
/// say); the test client must not send its next request into it.
#[tokio::test]
async fn a_test_that_blocks_past_the_idle_limit_still_gets_answers() {
    let app = spawn_app_with(|c| c.web.header_timeout_seconds = 1).await;
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    std::thread::sleep(Duration::from_millis(1600));
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
}
