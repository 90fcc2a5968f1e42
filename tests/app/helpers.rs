//! `spawn_app()`: a real Scoot on port 0 with a temp data dir, a user with an
//! API token, and a real HTTP client.
//!
//! Every test runs on SQLite and the local disk under its data dir, unless
//! `SCOOT_TEST_DATABASE_URL` / `SCOOT_TEST_STORE_URL` name production
//! engines: then each data dir gets a fresh PostgreSQL database and a
//! fresh prefix in the bucket ([`backends`]), in the app and in every
//! process a test starts on that data dir alike.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use reqwest::multipart::{Form, Part};
use reqwest::{Client, Response, StatusCode};
use scoot::RunningApp;
use scoot::changes::Change;
use scoot::config::Config;
use scoot::model::TokenKind;
use scoot::web::api::PhotoJson;
use tempfile::TempDir;

#[path = "../support/postgres.rs"]
mod postgres;

pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

pub fn read_fixture(rel: &str) -> Vec<u8> {
    std::fs::read(fixture(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// A tiny PNG of one colour; distinct colours give distinct uploads.
pub fn png(width: u32, height: u32, rgb: [u8; 3]) -> Vec<u8> {
    let img = image::RgbImage::from_pixel(width, height, image::Rgb(rgb));
    let mut out = Vec::new();
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

pub struct TestApp {
    pub base: String,
    pub client: Client,
    /// Bearer token of `alice`, an admin.
    pub token: String,
    pub config: Config,
    /// What the app announced, for [`TestApp::settled`].
    heard: std::sync::Mutex<Heard>,
    app: Option<RunningApp>,
    _dir: TempDir,
}

/// The app's announcements since it started, as far as tests need them.
struct Heard {
    events: tokio::sync::broadcast::Receiver<Change>,
    /// Photos whose render's end was announced.
    settled: HashSet<String>,
    /// Announcements were missed: every photo counts as announced.
    lagged: bool,
}

impl Heard {
    /// Whether the end of `id`'s render was announced, as far as heard.
    fn settled(&mut self, id: &str) -> bool {
        use tokio::sync::broadcast::error::TryRecvError;
        loop {
            match self.events.try_recv() {
                Ok(change) => {
                    if let Some((photo, _)) = change.settled() {
                        self.settled.insert(photo.as_str().to_owned());
                    }
                }
                Err(TryRecvError::Lagged(_)) => self.lagged = true,
                Err(TryRecvError::Empty | TryRecvError::Closed) => break,
            }
        }
        self.lagged || self.settled.contains(id)
    }
}

/// A test configuration: port 0, everything under `dir` (or in the
/// production engines the environment names, see [`backends`]).
pub fn test_config(dir: &Path) -> Config {
    let (database_url, store_url) = backends(dir);
    let mut config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.to_path_buf(),
        database_url: database_url.unwrap_or_default(),
        store_url: store_url.unwrap_or_default(),
        ..Config::default()
    };
    config.render.threads = 2;
    config
}

/// The database and store URLs for data dir `dir` when the environment
/// names production engines (`None`: the default under `dir`).
///
/// `SCOOT_TEST_DATABASE_URL=postgres://…/db`: a database named after
/// `dir`, created on first use (`scoot_t_…`; `.ci/run` drops them after
/// the run). `SCOOT_TEST_STORE_URL=s3://BUCKET`: the prefix `t-…` named
/// after `dir`. The same `dir` always maps to the same pair, so the CLI
/// processes a test starts find the app's data.
pub fn backends(dir: &Path) -> (Option<String>, Option<String>) {
    let name = scoot::domain::ContentHash::of(dir.as_os_str().as_encoded_bytes());
    let name = &name.as_str()[..16];
    let database = std::env::var("SCOOT_TEST_DATABASE_URL")
        .ok()
        .map(|url| postgres::fresh_database(&url, &format!("scoot_t_{name}")));
    let store = std::env::var("SCOOT_TEST_STORE_URL")
        .ok()
        .map(|url| format!("{}/t-{name}", url.trim_end_matches('/')));
    (database, store)
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    spawn_app_on(adjust, |store| store).await
}

/// [`spawn_app_with`], on the store that `wrap` makes of the configured
/// one (one that injects faults, say).
pub async fn spawn_app_on(
    adjust: impl FnOnce(&mut Config),
    wrap: impl FnOnce(scoot::store::Store) -> scoot::store::Store,
) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    adjust(&mut config);
    let token = create_user(&config, "alice", true).await;
    let (db, store) = scoot::open_backends(&config).await.expect("backends open");
    let app = scoot::start_on(config.clone(), db, wrap(store))
        .await
        .expect("scoot starts");
    let heard = Heard {
        events: app.app().changes().subscribe(),
        settled: HashSet::new(),
        lagged: false,
    };
    TestApp {
        base: format!("http://{}", app.local_addr()),
        client: Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            // The server closes a connection idle for `header_timeout`, on
            // its own threads, even while a test blocks this runtime (a
            // CLI run, a restore): a client that kept the connection for
            // longer would send its next request into the closed socket.
            .pool_idle_timeout(Duration::from_millis(
                config.web.header_timeout_seconds * 500,
            ))
            .build()
            .unwrap(),
        token,
        config,
        heard: std::sync::Mutex::new(heard),
        app: Some(app),
        _dir: dir,
    }
}

/// Creates a user (password `password-NAME`) and returns an API token.
pub async fn create_user(config: &Config, name: &str, admin: bool) -> String {
    let db = scoot::db::open(&config.database_url()).await.unwrap();
    let user = scoot::auth::create_user(
        db.as_ref(),
        &scoot::auth::Hasher::new(1),
        name,
        Some(&format!("password-{name}")),
        admin,
        false,
    )
    .await
    .unwrap()
    .unwrap();
    scoot::auth::issue_token(db.as_ref(), &user, TokenKind::Api, "test", None)
        .await
        .unwrap()
}

/// The first form token in a page, if any.
pub fn form_token_in(page: &str) -> Option<String> {
    let (_, rest) = page.split_once(r#"name="form_token" value=""#)?;
    Some(rest.split('"').next()?.to_owned())
}

pub fn file_form(name: &str, bytes: Vec<u8>) -> Form {
    Form::new().part("file", Part::bytes(bytes).file_name(name.to_owned()))
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn data_dir(&self) -> &Path {
        &self.config.data_dir
    }

    /// The services of the running app.
    pub fn services(&self) -> &scoot::app::App {
        self.app.as_ref().expect("running").app()
    }

    pub async fn shutdown(mut self) {
        if let Some(app) = self.app.take() {
            app.shutdown().await;
        }
    }

    /// Stops the app and hands over its data dir, which lives on as long
    /// as what is returned does.
    pub async fn stop_keeping_data(mut self) -> TempDir {
        if let Some(app) = self.app.take() {
            app.shutdown().await;
        }
        self._dir
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    /// Posts the login form for `name` (whose password is `password-NAME`).
    pub async fn log_in(&self, name: &str) -> Response {
        self.client
            .post(self.url("/login"))
            .form(&[("name", name), ("password", &format!("password-{name}"))])
            .send()
            .await
            .unwrap()
    }

    /// Logs `name` in; returns the session's cookie (`name=value`) and the
    /// form token its pages carry.
    pub async fn session(&self, name: &str) -> (String, String) {
        let resp = self.log_in(name).await;
        assert_eq!(resp.status(), StatusCode::SEE_OTHER, "{name} logs in");
        let cookie = resp.headers()[reqwest::header::SET_COOKIE]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let token = self.form_token(&cookie).await;
        (cookie, token)
    }

    /// The form token in the pages the session in `cookie` is shown.
    pub async fn form_token(&self, cookie: &str) -> String {
        let page = self.get_with_cookie("/upload", cookie).await;
        form_token_in(&page.text().await.unwrap()).expect("the upload page has a form token")
    }

    /// `GET path` with the session in `cookie`.
    pub async fn get_with_cookie(&self, path: &str, cookie: &str) -> Response {
        self.client
            .get(self.url(path))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap()
    }

    /// Uploads `bytes` as `name` with the admin's token.
    pub async fn upload_bytes(&self, name: &str, bytes: Vec<u8>) -> Response {
        self.upload_form(file_form(name, bytes), Some(&self.token))
            .await
    }

    pub async fn upload_form(&self, form: Form, token: Option<&str>) -> Response {
        let mut req = self.client.post(self.url("/api/photos")).multipart(form);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap()
    }

    /// Uploads a fixture and returns the accepted photo.
    pub async fn upload_fixture(&self, rel: &str) -> PhotoJson {
        let name = rel.rsplit('/').next().unwrap();
        let resp = self.upload_bytes(name, read_fixture(rel)).await;
        assert_eq!(resp.status(), StatusCode::CREATED, "{rel}");
        resp.json().await.unwrap()
    }

    /// `GET path` with `token` as the bearer.
    pub async fn get_as(&self, path: &str, token: &str) -> Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    /// Edits a photo through the API as its uploader (alice), with the
    /// fields in `change`; the edit must succeed.
    pub async fn edit_photo(&self, id: &str, change: serde_json::Value) {
        let resp = self
            .client
            .patch(self.url(&format!("/api/photos/{id}")))
            .bearer_auth(&self.token)
            .json(&change)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "edit {id}");
    }

    /// Deletes a photo for good as `token`'s holder: into the trash (which
    /// must succeed), then out of it. The second answer.
    pub async fn delete_for_good(&self, id: &str, token: &str) -> Response {
        let delete = |path: String| {
            self.client
                .delete(self.url(&path))
                .bearer_auth(token)
                .send()
        };
        let trashed = delete(format!("/api/photos/{id}")).await.unwrap();
        assert_eq!(trashed.status(), StatusCode::NO_CONTENT, "trash {id}");
        delete(format!("/api/trash/{id}")).await.unwrap()
    }

    /// The photo JSON as its uploader (alice) sees it.
    pub async fn photo(&self, id: &str) -> Option<PhotoJson> {
        let resp = self.get_as(&format!("/api/photos/{id}"), &self.token).await;
        match resp.status() {
            StatusCode::OK => Some(resp.json().await.unwrap()),
            StatusCode::NOT_FOUND => None,
            other => panic!("GET photo {id}: {other}"),
        }
    }

    /// Waits until a photo is no longer pending, and the app has
    /// announced so: the row says `ready` a moment before the data
    /// version moves on, and a page built in that moment is kept under
    /// the old version.
    ///
    /// A photo another process rendered (on SQLite, the app hears of it
    /// only as a resync) counts as announced after a few seconds.
    pub async fn settled(&self, id: &str) -> PhotoJson {
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut unannounced_since = None;
        loop {
            let p = self.photo(id).await.expect("photo exists");
            if p.status != "pending" {
                let since = *unannounced_since.get_or_insert_with(Instant::now);
                let heard = self.heard.lock().unwrap().settled(id);
                if heard || since.elapsed() > Duration::from_secs(3) {
                    return p;
                }
            }
            if Instant::now() > deadline {
                // What the render pool was doing, for a hang that shows up
                // only under the full suite's load.
                let metrics = self.get("/metrics").await.text().await.unwrap();
                let pool: Vec<&str> = metrics
                    .lines()
                    .filter(|l| l.starts_with("scoot_render") || l.contains("queue"))
                    .collect();
                panic!(
                    "photo {id} still pending; render pool:\n{}",
                    pool.join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Renders counted with `outcome` so far (`scoot_renders_total`).
    pub async fn renders(&self, outcome: &str) -> u64 {
        self.counted(&format!("scoot_renders_total{{outcome=\"{outcome}\"}}"))
            .await
    }

    /// The value of one counter `series` on /metrics, 0 before it counts.
    pub async fn counted(&self, series: &str) -> u64 {
        let metrics = self.get("/metrics").await.text().await.unwrap();
        let series = format!("{series} ");
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(series.as_str()))
            .map_or(0, |n| n.parse().unwrap())
    }

    /// Waits (30 s at most) until `n` renders have been put off to retry.
    pub async fn wait_for_retries(&self, n: u64) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.renders("retry").await < n {
            assert!(Instant::now() < deadline, "fewer than {n} retries");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn bytes(&self, path: &str) -> Vec<u8> {
        let resp = self.get(path).await;
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        resp.bytes().await.unwrap().to_vec()
    }

    /// What the object store holds (originals, variants, and on local disk
    /// anything else in its folder), as keys such as `originals/ab/….jpg`,
    /// for "nothing was stored" checks.
    pub async fn stored_files(&self) -> Vec<String> {
        let url = self.config.store_url();
        if url.starts_with("s3://") {
            let store = scoot::store::Store::open(&url).unwrap();
            return store.list_keys(None).await.unwrap();
        }
        let media = self.data_dir().join("media");
        walk(&media)
            .into_iter()
            .map(|p| {
                p.strip_prefix(&media)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect()
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// An EXIF text field of the primary image.
pub fn exif_ascii(tag: exif::Tag, s: &str) -> exif::Field {
    exif::Field {
        tag,
        ifd_num: exif::In::PRIMARY,
        value: exif::Value::Ascii(vec![s.as_bytes().to_vec()]),
    }
}

/// An EXIF field of rationals (`num/denom` pairs).
pub fn exif_rational(tag: exif::Tag, v: &[(u32, u32)]) -> exif::Field {
    exif::Field {
        tag,
        ifd_num: exif::In::PRIMARY,
        value: exif::Value::Rational(
            v.iter()
                .map(|&(num, denom)| exif::Rational { num, denom })
                .collect(),
        ),
    }
}

/// A small JPEG carrying EXIF camera make, model and date.
pub fn jpeg_with_exif(make: &str, model: &str, date: &str) -> Vec<u8> {
    use exif::Tag;
    jpeg_with_exif_fields(&[
        exif_ascii(Tag::Make, make),
        exif_ascii(Tag::Model, model),
        exif_ascii(Tag::DateTimeOriginal, date),
    ])
}

/// A small JPEG carrying the given EXIF fields.
pub fn jpeg_with_exif_fields(fields: &[exif::Field]) -> Vec<u8> {
    let mut writer = exif::experimental::Writer::new();
    for f in fields {
        writer.push_field(f);
    }
    let mut tiff = std::io::Cursor::new(Vec::new());
    writer.write(&mut tiff, false).unwrap();
    let tiff = tiff.into_inner();

    let img = image::RgbImage::from_fn(64, 48, |x, y| {
        image::Rgb([(x * 4) as u8, (y * 5) as u8, 90])
    });
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90)
        .encode_image(&img)
        .unwrap();
    let mut out = jpeg[..2].to_vec(); // SOI
    out.extend([0xFF, 0xE1]);
    out.extend(u16::try_from(tiff.len() + 8).unwrap().to_be_bytes());
    out.extend(b"Exif\0\0");
    out.extend(&tiff);
    out.extend(&jpeg[2..]);
    out
}

/// The real binary, for tests that need a process (kill -9, the CLI).
const BIN: &str = env!("CARGO_BIN_EXE_scoot");

pub fn scoot(data: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.arg("--data-dir")
        .arg(data)
        .env("SCOOT_LOG_FORMAT", "json")
        .env("SCOOT_RENDER__THREADS", "1")
        // A killed node's renders come back to the next one soon.
        .env("SCOOT_RENDER__LEASE_SECONDS", "5")
        .env_remove("SCOOT_CONFIG")
        .env_remove("SCOOT_LISTEN")
        .env_remove("SCOOT_DATABASE_URL")
        .env_remove("SCOOT_STORE_URL");
    let (database_url, store_url) = backends(data);
    if let Some(url) = database_url {
        cmd.arg("--database-url").arg(url);
    }
    if let Some(url) = store_url {
        cmd.arg("--store-url").arg(url);
    }
    cmd
}

/// Runs a CLI command to completion and returns its stdout, trimmed; it
/// must succeed. It is waited for off this runtime's thread: the app under
/// test finishes its renders' transactions on this runtime, and a command
/// waiting for a row one of them locked would otherwise wait for ever (a
/// CI run hung so).
pub async fn cli(data: &Path, args: &[&str], stdin: &str) -> String {
    succeeded(cli_output(data, args, stdin).await, args)
}

/// [`cli`] for a command that may fail: its whole output, whatever its
/// status.
pub async fn cli_output(data: &Path, args: &[&str], stdin: &str) -> Output {
    let (cmd, stdin) = (cli_command(data, args), stdin.to_owned());
    tokio::task::spawn_blocking(move || output_of(cmd, &stdin))
        .await
        .unwrap()
}

/// [`cli`], blocking the thread it runs on: only where no app runs on
/// this thread's runtime.
pub fn cli_blocking(data: &Path, args: &[&str], stdin: &str) -> String {
    succeeded(output_of(cli_command(data, args), stdin), args)
}

fn cli_command(data: &Path, args: &[&str]) -> Command {
    let mut cmd = scoot(data);
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

fn output_of(mut cmd: Command, stdin: &str) -> Output {
    let mut child = cmd.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    std::io::Write::write_all(&mut input, stdin.as_bytes()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

/// The stdout of a command that must have succeeded, trimmed.
fn succeeded(out: Output, args: &[&str]) -> String {
    assert!(
        out.status.success(),
        "scoot {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Starts `scoot serve` on a free port; returns the child and its address.
pub fn serve(data: &Path) -> (Child, String) {
    let mut cmd = scoot(data);
    cmd.args(["serve", "--listen", "127.0.0.1:0"]);
    serve_command(cmd)
}

/// Runs a `scoot serve` command; returns the child and its address.
pub fn serve_command(mut cmd: Command) -> (Child, String) {
    let mut child = cmd
        .stderr(Stdio::piped())
        .spawn()
        .expect("scoot binary runs");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line)
                && v["fields"]["message"] == "listening"
            {
                let _ = tx.send(v["fields"]["addr"].as_str().unwrap().to_owned());
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("scoot logs its address");
    (child, format!("http://{addr}"))
}
