//! Accepting and refusing uploads.

use futures_util::{StreamExt, stream};
use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};

use crate::helpers::{file_form, png, read_fixture, spawn_app, spawn_app_with};

#[tokio::test]
async fn duplicate_upload_returns_the_same_photo_and_stores_once() {
    let app = spawn_app().await;
    let bytes = read_fixture("orientation/Landscape_3.jpg");
    let first = app.upload_bytes("a.jpg", bytes.clone()).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: scoot::web::api::PhotoJson = first.json().await.unwrap();
    let second = app.upload_bytes("b.jpg", bytes).await;
    assert_eq!(second.status(), StatusCode::OK);
    let second: scoot::web::api::PhotoJson = second.json().await.unwrap();
    assert_eq!(first.id, second.id);
    app.settled(&first.id).await;
    let originals = app
        .stored_files()
        .await
        .into_iter()
        .filter(|key| key.starts_with("originals/"))
        .count();
    assert_eq!(originals, 1);
    let list: serde_json::Value = app.get("/api/photos").await.json().await.unwrap();
    assert_eq!(list["photos"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn upload_without_credentials_is_refused_and_stores_nothing() {
    let app = spawn_app().await;
    let form = file_form("x.png", png(8, 8, [1, 2, 3]));
    let resp = app.upload_form(form, None).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("log in"));

    let form = file_form("x.png", png(8, 8, [1, 2, 3]));
    let resp = app.upload_form(form, Some("not-a-token")).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(app.stored_files().await.is_empty());
}

#[tokio::test]
async fn oversize_upload_is_413_with_or_without_content_length() {
    let app = spawn_app_with(|c| c.upload.max_bytes = 64 * 1024).await;
    let big = read_fixture("orientation/Landscape_1.jpg");
    assert!(big.len() > 64 * 1024 + 1024 * 1024 || big.len() > 64 * 1024);

    // Declared length over the limit (+ form overhead): refused up front.
    let mut huge = big.clone();
    while huge.len() < 2 * 1024 * 1024 {
        huge.extend_from_slice(&big);
    }
    let resp = app.upload_bytes("huge.jpg", huge).await;
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);

    // Within the declared overhead: refused while streaming.
    let resp = app.upload_bytes("big.jpg", big.clone()).await;
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("limit"));

    // Chunked, no Content-Length at all.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        big.chunks(16 * 1024).map(|c| Ok(c.to_vec())).collect();
    let part = Part::stream(reqwest::Body::wrap_stream(stream::iter(chunks))).file_name("c.jpg");
    let resp = app
        .upload_form(Form::new().part("file", part), Some(&app.token))
        .await;
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);

    assert!(app.stored_files().await.is_empty());
    let list: serde_json::Value = app.get("/api/photos").await.json().await.unwrap();
    assert!(list["photos"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn non_images_and_over_limit_images_are_415() {
    let app = spawn_app_with(|c| {
        c.upload.max_pixels = 10_000;
        c.upload.max_side = 200;
    })
    .await;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("text.jpg", b"hello, this is not an image".to_vec()),
        ("empty.png", Vec::new()),
        ("bitmap.bmp", b"BM\x3a\0\0\0\0\0\0\0\x36\0\0\0".to_vec()),
        ("truncated.png", png(50, 50, [9, 9, 9])[..40].to_vec()),
        ("wide.png", png(201, 10, [1, 1, 1])),
        ("many-pixels.png", png(150, 150, [1, 1, 1])),
    ];
    for (name, bytes) in cases {
        let resp = app.upload_bytes(name, bytes).await;
        assert_eq!(resp.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "{name}");
        let body: serde_json::Value = resp.json().await.unwrap();
        assert!(!body["error"].as_str().unwrap().is_empty(), "{name}");
    }
    assert!(app.stored_files().await.is_empty());
    let list: serde_json::Value = app.get("/api/photos").await.json().await.unwrap();
    assert!(list["photos"].as_array().unwrap().is_empty());
}

/// Files whose headers are fine but whose data is not — cut short, or
/// promising far more pixels than they hold — are refused with 415 and
/// leave nothing behind, instead of being accepted and then failing.
#[tokio::test]
async fn damaged_images_are_415_and_leave_nothing() {
    let app = spawn_app().await;
    let jpeg = read_fixture("orientation/Landscape_1.jpg");
    let mut promising = jpeg.clone();
    let sof = promising
        .windows(2)
        .position(|w| w == [0xFF, 0xC0] || w == [0xFF, 0xC2])
        .expect("a frame header");
    // 7000×7000 over the scan data of a small photo.
    promising[sof + 5..sof + 9].copy_from_slice(&[0x1B, 0x58, 0x1B, 0x58]);
    let small_png = png(300, 200, [40, 90, 160]);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("cut.jpg", jpeg[..jpeg.len() / 2].to_vec()),
        ("promising.jpg", promising),
        ("cut.png", small_png[..small_png.len() - 40].to_vec()),
    ];
    for (name, bytes) in cases {
        let resp = app.upload_bytes(name, bytes).await;
        assert_eq!(resp.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "{name}");
        let body: serde_json::Value = resp.json().await.unwrap();
        let reason = body["error"].as_str().unwrap();
        assert!(reason.contains("damaged image"), "{name}: {reason}");
    }
    assert!(app.stored_files().await.is_empty(), "no original kept");
    let list: serde_json::Value = app.get("/api/photos").await.json().await.unwrap();
    assert!(list["photos"].as_array().unwrap().is_empty());
    // Whole files of the same kinds go in.
    assert_eq!(
        app.upload_bytes("whole.jpg", jpeg).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(
        app.upload_bytes("whole.png", small_png).await.status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn form_fields_are_kept_and_checked() {
    let app = spawn_app().await;
    let form = file_form("t.png", png(30, 20, [200, 10, 10]))
        .text("title", "Sunset <over> the bay")
        .text("caption", "Taken from the pier");
    let resp = app.upload_form(form, Some(&app.token)).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let photo: scoot::web::api::PhotoJson = resp.json().await.unwrap();
    assert_eq!(photo.title, "Sunset <over> the bay");
    assert_eq!(photo.caption, "Taken from the pier");
    assert_eq!((photo.width, photo.height), (30, 20));

    let form = file_form("t2.png", png(30, 20, [10, 200, 10])).text("title", "x".repeat(201));
    let resp = app.upload_form(form, Some(&app.token)).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);

    let form = Form::new().text("title", "no file");
    let resp = app.upload_form(form, Some(&app.token)).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let list: serde_json::Value = app.get("/api/photos").await.json().await.unwrap();
    assert_eq!(list["photos"].as_array().unwrap().len(), 1);
}

/// An upload keeps the name of its file (without the folders some
/// browsers send), and an untitled photo is called by it: in the JSON,
/// the page's title and heading, and the gallery's alt text.
#[tokio::test]
async fn an_untitled_photo_is_called_by_its_file_name() {
    let app = spawn_app().await;
    let form = file_form(
        r"C:\fakepath\Harbour at dusk.png",
        png(30, 20, [20, 60, 160]),
    );
    let resp = app.upload_form(form, Some(&app.token)).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let photo: scoot::web::api::PhotoJson = resp.json().await.unwrap();
    assert_eq!(photo.filename, "Harbour at dusk.png");
    assert_eq!(photo.title, "");
    app.settled(&photo.id).await;

    let page = app.get(&photo.page_url).await.text().await.unwrap();
    assert!(
        page.contains("<title>Harbour at dusk.png · Scoot</title>"),
        "{page}"
    );
    assert!(
        page.contains(r#"<h1 class="untitled">Harbour at dusk.png</h1>"#),
        "{page}"
    );
    let gallery = app.get("/").await.text().await.unwrap();
    assert!(
        gallery.contains(r#"alt="Harbour at dusk.png""#),
        "{gallery}"
    );

    // A title wins over the name, which stays in the JSON.
    let form = file_form("IMG_0042.png", png(30, 20, [160, 60, 20])).text("title", "Quay");
    let photo: scoot::web::api::PhotoJson = app
        .upload_form(form, Some(&app.token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (photo.title.as_str(), photo.filename.as_str()),
        ("Quay", "IMG_0042.png")
    );
    let page = app.get(&photo.page_url).await.text().await.unwrap();
    assert!(page.contains("<h1>Quay</h1>"), "{page}");
}

/// Each malformed fixture gets a clean 4xx (and nothing stored) or is
/// accepted and renders: whatever is accepted decodes (`render::verify`),
/// so no accepted file fails. The server stays healthy and keeps
/// rendering.
pub async fn check_malformed(files: Vec<std::path::PathBuf>) {
    assert!(!files.is_empty());
    let app = spawn_app().await;
    let mut accepted = Vec::new();
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let resp = app.upload_bytes(&name, std::fs::read(path).unwrap()).await;
        let status = resp.status();
        let body: serde_json::Value = resp.json().await.unwrap();
        match status {
            StatusCode::CREATED | StatusCode::OK => {
                accepted.push((name, body["id"].as_str().unwrap().to_owned()))
            }
            s if s.is_client_error() => {
                assert!(
                    body["error"].as_str().is_some_and(|e| !e.is_empty()),
                    "{name}: {body}"
                )
            }
            s => panic!("{name}: {s} {body}"),
        }
    }
    for (name, id) in &accepted {
        let p = app.settled(id).await;
        match p.status.as_str() {
            "ready" => assert!(!p.variants.is_empty(), "{name}"),
            other => panic!("{name} was accepted, then {other}: {:?}", p.error),
        }
    }
    // Refused uploads left nothing behind: one original per accepted photo.
    let originals = app
        .stored_files()
        .await
        .into_iter()
        .filter(|key| key.starts_with("originals/"))
        .count();
    assert_eq!(originals, accepted.len());
    // Still alive and still rendering.
    assert_eq!(app.get("/readyz").await.status(), StatusCode::OK);
    let good = app.upload_fixture("orientation/Landscape_1.jpg").await;
    assert_eq!(app.settled(&good.id).await.status, "ready");
}

#[tokio::test]
async fn malformed_fixtures_never_5xx_or_wedge() {
    let dir = crate::helpers::fixture("malformed");
    let files = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    check_malformed(files).await;
}

/// The whole shared corpus, when `SCOOT_TEST_CORPUS` names it (CI does).
#[tokio::test]
async fn malformed_corpus_when_named() {
    let Ok(corpus) = std::env::var("SCOOT_TEST_CORPUS") else {
        eprintln!("SCOOT_TEST_CORPUS not set; the full malformed corpus is not checked");
        return;
    };
    let root = std::path::Path::new(&corpus).join("malformed");
    let mut files = Vec::new();
    for kind in ["jpg", "png", "gif"] {
        let dir = root.join(kind);
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| {
            panic!(
                "SCOOT_TEST_CORPUS is set but {} is unreadable: {e}",
                dir.display()
            )
        });
        files.extend(entries.map(|e| e.unwrap().path()));
    }
    check_malformed(files).await;
}

/// The total size of the files in `dir`.
fn bytes_in(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// A file part sent chunked, 64 KiB at a time with a pause between.
fn slow_part(size: usize, fill: u8) -> Part {
    let chunks = (0..size.div_ceil(65_536))
        .map(move |i| Ok::<_, std::io::Error>(vec![fill; 65_536.min(size - i * 65_536)]));
    let body = stream::iter(chunks).then(|chunk| async move {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        chunk
    });
    Part::stream(reqwest::Body::wrap_stream(body)).file_name("part.jpg")
}

#[tokio::test]
async fn the_limit_is_per_request_and_staging_never_holds_more() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    let limit = 1024 * 1024;
    let app = spawn_app_with(|c| c.upload.max_bytes = limit).await;
    let staging = app.data_dir().join("tmp");
    let (peak, watching) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicBool::new(true)));
    let watcher = {
        let (peak, watching, staging) = (peak.clone(), watching.clone(), staging.clone());
        tokio::spawn(async move {
            while watching.load(Ordering::Relaxed) {
                peak.fetch_max(bytes_in(&staging), Ordering::Relaxed);
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            }
        })
    };

    // 30 parts of 1 MB each, every one under the limit, chunked (no
    // Content-Length): to the API and to the page.
    for (path, auth) in [("/api/photos", true), ("/upload", true)] {
        let mut form = Form::new();
        for i in 0..30 {
            form = form.part("file", slow_part(1_000_000, i));
        }
        let mut req = app.client.post(app.url(path)).multipart(form);
        if auth {
            req = req.bearer_auth(&app.token);
        }
        match req.send().await {
            Ok(resp) => {
                let status = resp.status();
                // The API refuses the second file part; the page, the
                // second megabyte.
                assert!(
                    status == StatusCode::PAYLOAD_TOO_LARGE || status == StatusCode::BAD_REQUEST,
                    "{path}: {status}"
                );
            }
            // Refused while the client was still sending.
            Err(e) => assert!(e.is_request() || e.is_body(), "{path}: {e}"),
        }
    }
    // A text field that never ends is refused too, not read forever.
    let form = Form::new()
        .part("file", slow_part(1000, 7))
        .part("caption", slow_part(4 * 1024 * 1024, b'x'));
    let resp = app.upload_form(form, Some(&app.token)).await;
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);

    watching.store(false, Ordering::Relaxed);
    watcher.await.unwrap();
    let peak = peak.load(Ordering::Relaxed);
    assert!(peak <= limit, "{peak} bytes staged at once, limit {limit}");
    assert_eq!(bytes_in(&staging), 0, "staging is cleared");
    assert!(app.stored_files().await.is_empty());

    // Exactly one file part on the API: two small ones are a 400.
    let form = file_form("a.png", png(8, 8, [1, 2, 3]))
        .part("file", Part::bytes(png(8, 8, [3, 2, 1])).file_name("b.png"));
    let resp = app.upload_form(form, Some(&app.token)).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("exactly one"));
    assert!(app.stored_files().await.is_empty());
}
