use std::collections::HashMap;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;

/// Answers kept by target: a head and a body.
struct Kept(HashMap<&'static str, (&'static str, &'static str)>);

impl Answers for Kept {
    fn answer(&self, ask: &Ask<'_>) -> Option<Quick> {
        let (head, body) = self.0.get(ask.target)?;
        Some(Quick::new(
            Bytes::from_static(head.as_bytes()),
            Bytes::from_static(body.as_bytes()),
            None,
        ))
    }
}

fn kept() -> Kept {
    Kept(HashMap::from([
        ("/a", ("HTTP/1.1 200 OK\r\ncontent-length: 1\r\n", "A")),
        ("/b", ("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n", "BB")),
    ]))
}

/// How a lane over a fresh connection ended, after `client` ran against
/// it; what the client read; how long the lane took.
async fn run<F, Fut>(
    timeout: Duration,
    stop_after: Option<Duration>,
    client: F,
) -> (Ended, Vec<u8>, Duration)
where
    F: FnOnce(TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = Vec<u8>> + Send,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let client = tokio::spawn(async move { client(TcpStream::connect(addr).await.unwrap()).await });
    let (mut ours, _) = listener.accept().await.unwrap();
    let (stop, mut stopping) = watch::channel(false);
    if let Some(after) = stop_after {
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            stop.send(true).unwrap();
        });
    }
    let busy = Arc::new(AtomicUsize::new(0));
    let lane = Lane {
        io: &mut ours,
        sends: &Sends::default(),
        busy: &busy,
        header_timeout: timeout,
        stopping: &mut stopping,
    };
    let started = std::time::Instant::now();
    let ended = lane.serve(&kept()).await;
    let took = started.elapsed();
    drop(ours);
    (ended, client.await.unwrap(), took)
}

/// Writes `sent` in parts, a moment apart, then reads to the end.
async fn send_parts(mut peer: TcpStream, sent: Vec<&'static [u8]>) -> Vec<u8> {
    for part in sent {
        peer.write_all(part).await.unwrap();
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    // The lane closing with bytes unread resets the connection.
    let mut got = Vec::new();
    let _ = peer.read_to_end(&mut got).await;
    got
}

/// The answers in `got`, their dates taken out.
fn undated(got: &[u8]) -> String {
    let text = String::from_utf8(got.to_vec()).unwrap();
    text.split("date: ")
        .enumerate()
        .map(|(i, part)| if i == 0 { part } else { &part[29..] })
        .collect()
}

const SECOND: Duration = Duration::from_secs(1);

#[tokio::test]
async fn pipelined_requests_are_answered_in_turn_and_the_rest_is_handed_on() {
    let sent: &[&[u8]] = &[b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nConnection: keep-alive\r\n\r\nGET /c HTTP/1.1\r\n\r\nGET /a"];
    let (ended, got, _) = run(SECOND, None, move |peer| send_parts(peer, sent.to_vec())).await;
    assert_eq!(
        undated(&got),
        "HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\n\r\nA\
         HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n\r\nBB"
    );
    match ended {
        Ended::Handed(read) => assert_eq!(&read[..], b"GET /c HTTP/1.1\r\n\r\nGET /a"),
        Ended::Closed => panic!("closed, not handed on"),
    }
}

#[tokio::test]
async fn a_head_in_parts_is_answered_and_head_gets_no_body() {
    let sent: &[&[u8]] = &[b"HEAD /b HT", b"TP/1.1\r\nHost: x\r", b"\n\r\n"];
    let (ended, got, _) = run(5 * SECOND, Some(SECOND / 2), move |peer| {
        send_parts(peer, sent.to_vec())
    })
    .await;
    assert_eq!(
        undated(&got),
        "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n\r\n"
    );
    assert!(matches!(ended, Ended::Closed), "the stop closed it");
}

#[tokio::test]
async fn what_the_lane_does_not_take_goes_to_hyper_unanswered() {
    let refused: [&'static [u8]; 8] = [
        b"GET /a HTTP/1.0\r\n\r\n",
        b"POST /a HTTP/1.1\r\n\r\n",
        b"GET /a HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
        b"GET /a HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n",
        b"GET /a HTTP/1.1\r\nConnection: close\r\n\r\n",
        b"GET /a HTTP/1.1\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
        b"GET /nowhere HTTP/1.1\r\n\r\n",
        b"GET /a HTTP/1.1\r\nBad Header\r\n\r\n",
    ];
    for request in refused {
        let (ended, got, _) = run(SECOND, None, move |peer| send_parts(peer, vec![request])).await;
        assert!(got.is_empty(), "{}", String::from_utf8_lossy(request));
        match ended {
            Ended::Handed(read) => assert_eq!(&read[..], request),
            Ended::Closed => panic!("closed: {}", String::from_utf8_lossy(request)),
        }
    }
}

#[tokio::test]
async fn a_head_too_long_goes_to_hyper_as_read() {
    let long: &'static [u8] = Box::leak(
        format!(
            "GET /a HTTP/1.1\r\nX-Long: {}\r\n\r\n",
            "x".repeat(MAX_HEAD)
        )
        .into_bytes()
        .into_boxed_slice(),
    );
    let (ended, _, _) = run(SECOND, None, move |peer| send_parts(peer, vec![long])).await;
    match ended {
        Ended::Handed(read) => assert!(read.len() >= MAX_HEAD && long.starts_with(&read)),
        Ended::Closed => panic!("closed"),
    }
}

#[tokio::test]
async fn a_head_that_stalls_and_an_idle_connection_are_closed_in_time() {
    let short = Duration::from_millis(200);
    for sent in [
        &b"GET /a HTTP/1.1\r\nX-Slow: "[..],
        &b"GET /a HTTP/1.1\r\n\r\n"[..],
    ] {
        let (ended, _, took) = run(short, None, move |peer| async move {
            let mut peer = peer;
            peer.write_all(sent).await.unwrap();
            // Trickles a byte at a time: no reset of the head's time.
            for _ in 0..20 {
                tokio::time::sleep(Duration::from_millis(50)).await;
                if peer.write_all(b"x").await.is_err() {
                    break;
                }
            }
            Vec::new()
        })
        .await;
        assert!(matches!(ended, Ended::Closed));
        assert!(took >= short && took < 3 * short, "{took:?}");
    }
}

#[test]
fn a_wire_head_is_hypers() {
    let mut headers = HeaderMap::new();
    headers.insert(header::ETAG, "\"e\"".parse().unwrap());
    let ok = wire_head(StatusCode::OK, &headers, 12);
    assert_eq!(
        &ok[..],
        b"HTTP/1.1 200 OK\r\netag: \"e\"\r\ncontent-length: 12\r\n"
    );
    let fresh = wire_head(StatusCode::NOT_MODIFIED, &headers, 0);
    assert_eq!(&fresh[..], b"HTTP/1.1 304 Not Modified\r\netag: \"e\"\r\n");
    headers.insert(header::CONTENT_LENGTH, 5.into());
    let said = wire_head(StatusCode::OK, &headers, 0);
    assert_eq!(
        &said[..],
        b"HTTP/1.1 200 OK\r\netag: \"e\"\r\ncontent-length: 5\r\n"
    );
}

#[test]
fn the_date_line_is_now() {
    let line = date_line();
    let text = std::str::from_utf8(&line).unwrap();
    assert!(
        text.starts_with("date: ") && text.ends_with(" GMT\r\n\r\n"),
        "{text}"
    );
    let date = httpdate::parse_http_date(&text[6..35]).unwrap();
    let off = SystemTime::now().duration_since(date).unwrap();
    assert!(off < Duration::from_secs(2));
}

#[tokio::test]
async fn rewound_reads_give_the_bytes_read_before_first() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut peer = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (ours, _) = listener.accept().await.unwrap();
    peer.write_all(b" world").await.unwrap();
    drop(peer);
    let mut rewound = Rewound::new(Bytes::from_static(b"hello"), ours);
    let mut got = String::new();
    rewound.read_to_string(&mut got).await.unwrap();
    assert_eq!(got, "hello world");
}
