//! Serves one file's bytes from memory at `/`, on `127.0.0.1:PORT`, the way
//! Scoot's server runs warp (a `warp::service` under hyper's HTTP/1
//! connection, sockets with `TCP_NODELAY`) and with nothing else: no
//! routing table, headers, metrics or caches. What it costs per request is
//! the least any warp handler can cost on the machine.
//!
//!     cargo run --release --manifest-path bench/warp-floor/Cargo.toml -- FILE PORT [THREADS]
//!
//! Without THREADS, connections are served on tokio's shared multi-thread
//! runtime. With THREADS, on that many threads each running a
//! single-threaded runtime with a listener of its own on the same port
//! (`SO_REUSEPORT`), as Scoot's connection threads and nginx's workers do.

use bytes::Bytes;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpSocket};
use warp::Filter;
use warp::http::HeaderValue;

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(file), Some(port)) = (args.next(), args.next()) else {
        eprintln!("usage: warp-floor FILE PORT [THREADS]");
        std::process::exit(2);
    };
    let port: u16 = port.parse().expect("a port");
    let threads: Option<usize> = args.next().map(|n| n.parse().expect("a number of threads"));
    let body = Bytes::from(std::fs::read(&file).expect("the file is readable"));
    let Some(threads) = threads else {
        let runtime = tokio::runtime::Runtime::new().expect("a runtime");
        runtime.block_on(async move { serve(listener(port, false), body).await });
        return;
    };
    let threads: Vec<_> = (0..threads)
        .map(|_| {
            let body = body.clone();
            std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime");
                runtime.block_on(async move { serve(listener(port, true), body).await });
            })
        })
        .collect();
    for thread in threads {
        let _ = thread.join();
    }
}

fn listener(port: u16, shared: bool) -> TcpListener {
    let socket = TcpSocket::new_v4().expect("a socket");
    socket.set_reuseaddr(true).expect("SO_REUSEADDR");
    if shared {
        socket.set_reuseport(true).expect("SO_REUSEPORT");
    }
    socket
        .bind(([127, 0, 0, 1], port).into())
        .expect("the port is free");
    socket.listen(1024).expect("listening")
}

async fn serve(listener: TcpListener, body: Bytes) {
    let page = warp::path::end().map(move || {
        let mut resp = warp::reply::Response::new(body.clone().into());
        const HTML: HeaderValue = HeaderValue::from_static("text/html; charset=utf-8");
        resp.headers_mut().insert("content-type", HTML);
        resp
    });
    let service = warp::service(page);
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = hyper_util::service::TowerToHyperService::new(service.clone());
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
