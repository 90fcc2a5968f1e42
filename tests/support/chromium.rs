//! The browser suite's tools: ChromeDriver and Chromium sessions, axe-core,
//! screenshots, and waiting for and acting on what a page shows.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

pub type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

/// How long anything the page does may take (renders included).
pub const PATIENCE: Duration = Duration::from_secs(60);

/// ChromeDriver, killed when dropped.
pub struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

pub async fn start_driver(binary: &str) -> Driver {
    let port = free_port();
    let child = Command::new(binary)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("SCOOT_TEST_CHROMEDRIVER={binary} does not start: {e}"));
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "chromedriver never listened");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    driver
}

/// The colour scheme a browser asks pages for.
#[derive(Clone, Copy, PartialEq)]
pub enum Scheme {
    Light,
    Dark,
}

/// A new browser session: a fresh profile, so no cookies.
pub async fn browser(driver: &Driver) -> Client {
    browser_in(driver, Scheme::Light).await
}

/// A new browser session whose pages see `prefers-color-scheme: scheme`.
pub async fn browser_in(driver: &Driver, scheme: Scheme) -> Client {
    let mut args = vec![
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,900",
    ];
    if scheme == Scheme::Dark {
        args.push("--force-dark-mode");
    }
    let chromium =
        std::env::var("SCOOT_TEST_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let caps = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": chromium,
            "args": args,
        },
    });
    let serde_json::Value::Object(caps) = caps else {
        unreachable!()
    };
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a Chromium session")
}

pub fn screenshots() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join("browser-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}

/// What axe-core (vendored in `tests/fixtures/axe/`, MPL-2.0) finds wrong
/// with the page open in `c`, of any impact: `rule (impact): where`.
pub async fn accessibility_problems(c: &Client) -> Result<Vec<String>> {
    static AXE: &str = include_str!("../fixtures/axe/axe.min.js");
    c.execute(&format!("{AXE}; return true"), vec![]).await?;
    let found = c
        .execute(
            "return axe.run().then((r) => r.violations.map((v) => \
             `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`))",
            vec![],
        )
        .await?;
    Ok(serde_json::from_value(found)?)
}

pub async fn snap(c: &Client, name: &str) -> Result {
    let png = c.screenshot().await?;
    std::fs::write(screenshots().join(format!("{name}.png")), png)?;
    Ok(())
}

/// Waits until `script` (a function body returning a value) returns
/// something truthy, and returns that.
pub async fn until(c: &Client, what: &str, script: &str) -> Result<serde_json::Value> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let v = c.execute(script, vec![]).await?;
        let truthy = !matches!(v, serde_json::Value::Null | serde_json::Value::Bool(false))
            && v != json!(0)
            && v != json!("");
        if truthy {
            return Ok(v);
        }
        if Instant::now() > deadline {
            let body = c.execute("return document.body.innerText", vec![]).await?;
            return Err(format!("timed out waiting for {what}; page says: {body}").into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn fill(c: &Client, css: &str, text: &str) -> Result {
    let field = c.find(Locator::Css(css)).await?;
    field.clear().await?;
    field.send_keys(text).await?;
    Ok(())
}

pub async fn click(c: &Client, css: &str) -> Result {
    c.find(Locator::Css(css)).await?.click().await?;
    Ok(())
}

/// Fills in the login form on the page shown and waits for the header to
/// name `name`.
pub async fn log_in(c: &Client, name: &str, password: &str) -> Result {
    fill(c, "input[name=name]", name).await?;
    fill(c, "input[name=password]", password).await?;
    click(c, "form[action='/login'] button[type=submit]").await?;
    let logged_in = format!("return document.querySelector('.who')?.textContent === {name:?}");
    until(c, &format!("{name} logged in"), &logged_in).await?;
    Ok(())
}

pub async fn path(c: &Client) -> Result<String> {
    Ok(c.current_url().await?.path().to_owned())
}

/// Drops `files` (name, bytes) on the upload page's drop zone, as a drag
/// from the desktop would: a real `drop` event carrying a DataTransfer.
pub async fn drop_files(c: &Client, files: &[(&str, Vec<u8>)]) -> Result {
    let payload: Vec<serde_json::Value> = files
        .iter()
        .map(|(name, bytes)| json!({"name": name, "data": BASE64.encode(bytes)}))
        .collect();
    c.execute(
        r#"
        const zone = document.querySelector(".dropzone");
        const transfer = new DataTransfer();
        for (const f of arguments[0]) {
          const bytes = Uint8Array.from(atob(f.data), (ch) => ch.charCodeAt(0));
          transfer.items.add(new File([bytes], f.name, { type: "image/jpeg" }));
        }
        for (const type of ["dragenter", "dragover", "drop"]) {
          zone.dispatchEvent(new DragEvent(type, { bubbles: true, cancelable: true, dataTransfer: transfer }));
        }
        "#,
        vec![json!(payload)],
    )
    .await?;
    Ok(())
}

pub fn fixture(name: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/orientation")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}
