//! Scoot in its production shape, on loopback: PostgreSQL, an S3 server,
//! `scoot serve` processes with the environment of `deploy/scoot.env`, and
//! nginx as the load balancer with `deploy/nginx.conf`.
//!
//! [`two_nodes_behind_nginx`] runs when `SCOOT_TEST_NGINX` names nginx; it
//! then needs the engines (`SCOOT_TEST_DATABASE_URL`,
//! `SCOOT_TEST_STORE_URL`, with the `AWS_*` variables) and
//! `SCOOT_TEST_WRK` (wrk), and fails if any is missing. In order:
//!
//! 1. uploads through the balancer render on both nodes;
//! 2. an edit through node A shows through node B within a second;
//! 3. node A is killed (SIGKILL) in the middle of renders: node B finishes
//!    every job once A's leases run out;
//! 4. a node gets SIGTERM under `wrk` load through the balancer: the
//!    client sees no error and nothing but 2xx (drain, then the balancer
//!    moves on).
//!
//! [`engines_going_away_lose_nothing`] runs when `SCOOT_TEST_S3_SERVER`
//! names an `s3s-fs` binary (and `SCOOT_TEST_DATABASE_URL` a server): it
//! starts an S3 server of its own, stops and restarts it during a burst of
//! uploads, and cuts the node's database connections twice. Every upload
//! the node accepted must end rendered with its bytes intact, and
//! `/readyz` must say 503 while the store is away and 200 again after.

#[path = "support/postgres.rs"]
mod postgres;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::multipart::{Form, Part};
use reqwest::{Client, StatusCode};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_scoot");

/// How long a killed node's leases last here (deploy/scoot.env says 30 s;
/// the test is the same with a shorter wait).
const LEASE_SECONDS: &str = "5";

fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The peers the environment names, or `None` when it names no balancer.
struct Peers {
    nginx: String,
    wrk: String,
    database_server: String,
    store: String,
}

fn peers() -> Option<Peers> {
    let nginx = std::env::var("SCOOT_TEST_NGINX").ok()?;
    let need = |name: &str| {
        std::env::var(name)
            .unwrap_or_else(|_| panic!("SCOOT_TEST_NGINX is named, so the scale test needs {name}"))
    };
    Some(Peers {
        nginx,
        wrk: need("SCOOT_TEST_WRK"),
        database_server: need("SCOOT_TEST_DATABASE_URL"),
        store: need("SCOOT_TEST_STORE_URL"),
    })
}

/// One site: a fresh database and a fresh prefix in the bucket, dropped
/// (the database) at the end.
struct Site {
    database_url: String,
    store_url: String,
    server: String,
    name: String,
    dir: tempfile::TempDir,
    /// Set for every process of the site, over deploy/scoot.env.
    env: Vec<(String, String)>,
}

impl Site {
    /// A fresh database on `server`, and a fresh prefix in bucket `store`
    /// (`s3://BUCKET`).
    fn new(server: &str, store: &str) -> Self {
        let name = format!("scoot_s_{}", scoot::domain::random_hex(8));
        Self {
            database_url: postgres::fresh_database(server, &name),
            store_url: format!("{}/{name}", store.trim_end_matches('/')),
            server: server.to_owned(),
            name,
            dir: tempfile::tempdir().unwrap(),
            env: Vec::new(),
        }
    }

    /// `scoot` with this site's settings: deploy/scoot.env, then the test's
    /// own database, store and lease.
    fn scoot(&self, data: &str) -> Command {
        let mut cmd = Command::new(BIN);
        for (key, value) in env_file(&repo_file("deploy/scoot.env")) {
            // The engines' credentials and endpoint are the test's.
            if !key.starts_with("AWS_") {
                cmd.env(key, value);
            }
        }
        cmd.env("SCOOT_DATABASE_URL", &self.database_url)
            .env("SCOOT_STORE_URL", &self.store_url)
            .env("SCOOT_RENDER__LEASE_SECONDS", LEASE_SECONDS)
            .env("SCOOT_RENDER__THREADS", "1")
            .env("SCOOT_LOG_FORMAT", "json")
            .env("SCOOT_DATA_DIR", self.dir.path().join(data))
            .env_remove("SCOOT_CONFIG")
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd
    }

    fn cli(&self, args: &[&str], stdin: &str) -> String {
        use std::io::Write;
        let mut child = self
            .scoot("cli")
            .args(args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "scoot {args:?}");
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        postgres::drop_database(&self.server, &self.name);
    }
}

/// `KEY=VALUE` lines, without comments and blank lines.
fn env_file(path: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// A `scoot serve` process.
struct Node {
    port: u16,
    child: Child,
}

impl Node {
    async fn start(site: &Site, name: &'static str, port: u16) -> Self {
        let log = std::fs::File::create(site.dir.path().join(format!("{name}.log"))).unwrap();
        let child = site
            .scoot(name)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .stderr(log)
            .spawn()
            .unwrap();
        let node = Self { port, child };
        wait_until(
            Duration::from_secs(30),
            &format!("{name} ready"),
            || async { get_status(&node.url("/readyz")).await == Some(StatusCode::OK) },
        )
        .await;
        node
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn kill_9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Renders this node finished, from its own metrics.
    async fn renders(&self) -> u64 {
        let text = client()
            .get(self.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find(|l| l.starts_with(r#"scoot_renders_total{outcome="ready"}"#))
            .and_then(|l| l.rsplit(' ').next())
            .map_or(0, |n| n.parse().unwrap())
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// nginx with deploy/nginx.conf, its ports replaced.
struct Balancer {
    child: Child,
    port: u16,
}

impl Balancer {
    async fn start(nginx: &str, dir: &Path, nodes: [u16; 2]) -> Self {
        let port = free_port();
        let site = std::fs::read_to_string(repo_file("deploy/nginx.conf"))
            .unwrap()
            .replace("127.0.0.1:8081", &format!("127.0.0.1:{}", nodes[0]))
            .replace("127.0.0.1:8082", &format!("127.0.0.1:{}", nodes[1]))
            .replace("listen 80;", &format!("listen 127.0.0.1:{port};"));
        let d = dir.display();
        let conf = format!(
            "worker_processes 1; pid {d}/nginx.pid; error_log {d}/nginx-error.log; daemon off;\n\
             events {{ worker_connections 1024; }}\n\
             http {{ access_log off; client_body_temp_path {d}/nginx-body; proxy_temp_path {d}/nginx-proxy;\n{site}\n}}\n"
        );
        let path = dir.join("nginx.conf");
        std::fs::write(&path, conf).unwrap();
        let log = std::fs::File::create(dir.join("nginx-stderr.log")).unwrap();
        let child = Command::new(nginx)
            .arg("-c")
            .arg(&path)
            .arg("-p")
            .arg(dir)
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("SCOOT_TEST_NGINX={nginx}: {e}"));
        let balancer = Self { child, port };
        wait_until(Duration::from_secs(10), "nginx listening", || async {
            get_status(&balancer.url("/healthz")).await == Some(StatusCode::OK)
        })
        .await;
        balancer
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for Balancer {
    /// SIGTERM: the master stops its workers (SIGKILL would orphan them).
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

async fn get_status(url: &str) -> Option<StatusCode> {
    client().get(url).send().await.ok().map(|r| r.status())
}

async fn wait_until<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A photo of distinct pixels, big enough that renders take a while.
fn photo(seed: u8) -> Vec<u8> {
    let img = image::RgbImage::from_fn(2000, 1500, |x, y| {
        let v = (x.wrapping_mul(31) ^ y.wrapping_mul(17)).wrapping_add(u32::from(seed) * 7);
        image::Rgb([v as u8, (v >> 3) as u8, seed])
    });
    let mut out = Vec::new();
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

async fn upload(base: &str, token: &str, bytes: Vec<u8>) -> String {
    let form = Form::new().part("file", Part::bytes(bytes).file_name("p.png"));
    let resp = client()
        .post(format!("{base}/api/photos"))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    resp.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn status(base: &str, token: &str, id: &str) -> String {
    let photo: Value = client()
        .get(format!("{base}/api/photos/{id}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    photo["status"].as_str().unwrap().to_owned()
}

async fn all_ready(base: &str, token: &str, ids: &[String], limit: Duration) {
    let deadline = Instant::now() + limit;
    for id in ids {
        loop {
            match status(base, token, id).await.as_str() {
                "ready" => break,
                "pending" if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                other => panic!("photo {id} is {other}"),
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_behind_nginx() {
    let Some(peers) = peers() else {
        eprintln!("SCOOT_TEST_NGINX is not set: the scale-out test does not run");
        return;
    };
    let site = Site::new(&peers.database_server, &peers.store);
    site.cli(&["user", "add", "erin", "--admin"], "a good password\n");
    let token = site.cli(&["token", "create", "erin"], "");
    let (port_a, port_b) = (free_port(), free_port());
    let mut a = Node::start(&site, "a", port_a).await;
    let b = Node::start(&site, "b", port_b).await;
    let lb = Balancer::start(&peers.nginx, site.dir.path(), [port_a, port_b]).await;
    let base = lb.url("");

    // 1. Uploads through the balancer render on both nodes.
    let mut ids = Vec::new();
    for seed in 0..8 {
        ids.push(upload(&base, &token, photo(seed)).await);
    }
    all_ready(&base, &token, &ids, Duration::from_secs(120)).await;
    let (on_a, on_b) = (a.renders().await, b.renders().await);
    assert_eq!(on_a + on_b, 8);
    assert!(on_a > 0 && on_b > 0, "renders: a {on_a}, b {on_b}");

    // 2. An edit through A shows through B within a second, cached or not.
    let page = format!("/photos/{}", ids[0]);
    let seen = client().get(b.url(&page)).send().await.unwrap();
    assert_eq!(seen.status(), StatusCode::OK);
    let resp = client()
        .patch(a.url(&format!("/api/photos/{}", ids[0])))
        .bearer_auth(&token)
        .json(&serde_json::json!({"title": "Seen from the other node"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let edited = Instant::now();
    wait_until(
        Duration::from_secs(1),
        "the edit through node B",
        || async {
            let html = client()
                .get(b.url(&page))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            html.contains("Seen from the other node")
        },
    )
    .await;
    eprintln!(
        "edit visible through the other node after {:?}",
        edited.elapsed()
    );

    // 3. Kill -9 of A in the middle of renders: B finishes every job.
    let mut batch = Vec::new();
    for seed in 8..20 {
        batch.push(upload(&a.url(""), &token, photo(seed)).await);
    }
    let mut pending = 0;
    for id in &batch {
        if status(&b.url(""), &token, id).await == "pending" {
            pending += 1;
        }
    }
    a.kill_9();
    assert!(pending > 0, "the kill must land while renders are queued");
    let killed = Instant::now();
    all_ready(&b.url(""), &token, &batch, Duration::from_secs(120)).await;
    eprintln!(
        "{pending} renders pending at the kill; all done by node b {:?} later",
        killed.elapsed()
    );

    // 4. SIGTERM to a node under load through the balancer: no errors.
    let a = Node::start(&site, "a", port_a).await;
    let wrk = Command::new(&peers.wrk)
        .args(["-t2", "-c16", "-d10s", &lb.url("/")])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("SCOOT_TEST_WRK={}: {e}", peers.wrk));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    a.terminate();
    let out = tokio::task::spawn_blocking(move || wrk.wait_with_output().unwrap())
        .await
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    eprintln!("{report}");
    assert!(out.status.success(), "wrk failed");
    assert!(!report.contains("Non-2xx"), "non-2xx answers:\n{report}");
    assert!(
        !report.contains("Socket errors"),
        "socket errors:\n{report}"
    );
    let requests: u64 = report
        .lines()
        .find_map(|l| l.trim().split_once(" requests in "))
        .map(|(n, _)| n.trim().parse().unwrap())
        .expect("wrk reports its requests");
    assert!(requests > 100, "{report}");
    let mut a = a;
    let exited = tokio::task::spawn_blocking(move || {
        let status = a.child.wait().unwrap();
        (a, status)
    })
    .await
    .unwrap();
    assert!(exited.1.success(), "node a stops cleanly: {:?}", exited.1);
    drop(lb);
    drop(b);
}

/// An `s3s-fs` of the test's own, which it can stop and start again on the
/// same port and files.
struct S3Server {
    bin: String,
    root: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl S3Server {
    const KEY: &str = "faults";
    const SECRET: &str = "faults-secret";

    fn start(&mut self) {
        let child = Command::new(&self.bin)
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--access-key", Self::KEY, "--secret-key", Self::SECRET])
            .arg(&self.root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("SCOOT_TEST_S3_SERVER={}: {e}", self.bin));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "the S3 server does not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// What a node needs to reach this server.
    fn env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT", format!("http://127.0.0.1:{}", self.port)),
            ("AWS_ACCESS_KEY_ID", Self::KEY.to_owned()),
            ("AWS_SECRET_ACCESS_KEY", Self::SECRET.to_owned()),
            ("AWS_DEFAULT_REGION", "us-east-1".to_owned()),
            ("AWS_ALLOW_HTTP", "true".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Ends every connection to database `name` but this one: what a
/// PostgreSQL restart or failover does to a node's pool and listener.
fn cut_connections(server: &str, name: &str) {
    let (server, name) = (server.to_owned(), name.to_owned());
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (client, connection) = tokio_postgres::connect(&server, tokio_postgres::NoTls)
                .await
                .unwrap();
            tokio::spawn(connection);
            let rows = client
                .query(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                     WHERE datname = $1 AND pid <> pg_backend_pid()",
                    &[&name],
                )
                .await
                .unwrap();
            assert!(!rows.is_empty(), "the node had connections to cut");
        });
    })
    .join()
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engines_going_away_lose_nothing() {
    let Ok(bin) = std::env::var("SCOOT_TEST_S3_SERVER") else {
        eprintln!("SCOOT_TEST_S3_SERVER is not set: the engine fault test does not run");
        return;
    };
    let server = std::env::var("SCOOT_TEST_DATABASE_URL")
        .expect("SCOOT_TEST_S3_SERVER is named, so the fault test needs SCOOT_TEST_DATABASE_URL");
    let mut site = Site::new(&server, "s3://faults");
    let root = site.dir.path().join("s3");
    std::fs::create_dir_all(root.join("faults")).unwrap();
    let mut s3 = S3Server {
        bin,
        root,
        port: free_port(),
        child: None,
    };
    s3.start();
    site.env = s3.env();
    site.cli(&["user", "add", "fay", "--admin"], "a good password\n");
    let token = site.cli(&["token", "create", "fay"], "");
    let node = Node::start(&site, "a", free_port()).await;
    let base = node.url("");

    // A burst of uploads that goes on until the faults are over (and a few
    // uploads past them), retrying whatever is answered 503.
    let faults_over = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let burst = tokio::spawn({
        let (base, token, over) = (base.clone(), token.clone(), faults_over.clone());
        async move {
            let (mut accepted, mut refused, mut after) = (Vec::new(), 0, 0);
            for seed in 0u8.. {
                let bytes = photo(seed);
                loop {
                    let form =
                        Form::new().part("file", Part::bytes(bytes.clone()).file_name("p.png"));
                    let sent = client()
                        .post(format!("{base}/api/photos"))
                        .bearer_auth(&token)
                        .multipart(form)
                        .send()
                        .await
                        .expect("the node stays up");
                    match sent.status() {
                        StatusCode::CREATED => {
                            let json: Value = sent.json().await.unwrap();
                            accepted.push((json["id"].as_str().unwrap().to_owned(), bytes));
                            break;
                        }
                        StatusCode::SERVICE_UNAVAILABLE => {
                            assert!(sent.headers().contains_key("retry-after"));
                            refused += 1;
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                        other => panic!("upload answered {other}: {}", sent.text().await.unwrap()),
                    }
                }
                if over.load(std::sync::atomic::Ordering::SeqCst) {
                    after += 1;
                    if after == 4 {
                        return (accepted, refused);
                    }
                }
            }
            unreachable!()
        }
    });

    tokio::time::sleep(Duration::from_millis(700)).await;
    s3.stop();
    wait_until(
        Duration::from_secs(15),
        "/readyz 503 without the store",
        || async {
            get_status(&node.url("/readyz")).await == Some(StatusCode::SERVICE_UNAVAILABLE)
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    s3.start();
    wait_until(
        Duration::from_secs(30),
        "/readyz 200 with the store back",
        || async { get_status(&node.url("/readyz")).await == Some(StatusCode::OK) },
    )
    .await;
    cut_connections(&server, &site.name);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    cut_connections(&server, &site.name);
    faults_over.store(true, std::sync::atomic::Ordering::SeqCst);

    let (accepted, refused) = burst.await.unwrap();
    eprintln!(
        "{} uploads accepted, {refused} answers of 503 retried",
        accepted.len()
    );
    assert!(refused > 0, "the burst met the faults");
    let ids: Vec<String> = accepted.iter().map(|(id, _)| id.clone()).collect();
    all_ready(&base, &token, &ids, Duration::from_secs(180)).await;
    for (id, bytes) in &accepted {
        let photo: Value = client()
            .get(format!("{base}/api/photos/{id}"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let original = client()
            .get(format!("{base}{}", photo["original_url"].as_str().unwrap()))
            .send()
            .await
            .unwrap();
        assert_eq!(original.status(), StatusCode::OK, "{id}");
        assert!(
            original.bytes().await.unwrap()[..] == bytes[..],
            "{id}: original bytes differ"
        );
    }
}
