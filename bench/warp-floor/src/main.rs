//! Serves one file's bytes from memory at `/`, on `127.0.0.1:PORT`, the way
//! Scoot's server runs warp (a `warp::service` under hyper's HTTP/1
//! connection, sockets with `TCP_NODELAY`) and with nothing else: no
//! routing table, headers, metrics or caches. What it costs per request is
//! the least any warp handler can cost on the machine.
//!
//!     cargo run --release --manifest-path bench/warp-floor/Cargo.toml -- FILE PORT

use bytes::Bytes;
use hyper_util::rt::TokioIo;
use warp::Filter;
use warp::http::HeaderValue;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(file), Some(port)) = (args.next(), args.next()) else {
        eprintln!("usage: warp-floor FILE PORT");
        std::process::exit(2);
    };
    let body = Bytes::from(std::fs::read(&file).expect("the file is readable"));
    let page = warp::path::end().map(move || {
        let mut resp = warp::reply::Response::new(body.clone().into());
        const HTML: HeaderValue = HeaderValue::from_static("text/html; charset=utf-8");
        resp.headers_mut().insert("content-type", HTML);
        resp
    });
    let service = warp::service(page);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port.parse().expect("a port")))
        .await
        .expect("the port is free");
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
