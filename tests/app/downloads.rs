//! ZIP downloads: an album's or a selection's originals as the viewer may
//! see them, with names that say what each photo is, streamed in bounded
//! memory however large the archive.

use std::io::{Cursor, Read};

use reqwest::{StatusCode, header};
use scoot::web::albums_api::AlbumJson;
use scoot::web::api::PhotoJson;
use serde_json::json;

use crate::helpers::{TestApp, cli_blocking, create_user, file_form, png, spawn_app};

/// The archive's entries: name and bytes, in order.
fn unzip(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).expect("a valid ZIP");
    (0..archive.len())
        .map(|i| {
            let mut file = archive.by_index(i).unwrap();
            let mut data = Vec::new();
            file.read_to_end(&mut data).unwrap();
            (file.name().to_owned(), data)
        })
        .collect()
}

async fn upload(app: &TestApp, form: reqwest::multipart::Form) -> PhotoJson {
    let resp = app.upload_form(form, Some(&app.token)).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    resp.json().await.unwrap()
}

#[tokio::test]
async fn an_album_downloads_as_its_originals_named_by_title_or_file() {
    let app = spawn_app().await;
    let bob = create_user(&app.config, "bob", false).await;
    let (a, b, c, d) = (
        png(20, 10, [1, 2, 3]),
        png(21, 10, [4, 5, 6]),
        png(22, 10, [7, 8, 9]),
        png(23, 10, [10, 11, 12]),
    );
    let titled = upload(
        &app,
        file_form("IMG_1.png", a.clone()).text("title", "Sea: at dusk"),
    )
    .await;
    let named = upload(&app, file_form("IMG_2.PNG", b.clone())).await;
    // The same file name twice: the second becomes "IMG_2 (2)".
    let again = upload(&app, file_form("IMG_2.png", c.clone())).await;
    let private = upload(
        &app,
        file_form("secret.png", d.clone()).text("visibility", "private"),
    )
    .await;
    let album: AlbumJson = app
        .client
        .post(app.url("/api/albums"))
        .bearer_auth(&app.token)
        .json(&json!({"title": "Été 2024", "visibility": "unlisted"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for p in [&titled, &named, &again, &private] {
        let resp = app
            .client
            .put(app.url(&format!("/api/albums/{}/photos/{}", album.id, p.id)))
            .bearer_auth(&app.token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::CREATED);
    }

    let resp = app
        .get_as(&format!("/albums/{}/download", album.id), &app.token)
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/zip");
    let disposition = resp.headers()[header::CONTENT_DISPOSITION]
        .to_str()
        .unwrap();
    assert!(
        disposition.starts_with("attachment; filename=\"_t_ 2024.zip\""),
        "{disposition}"
    );
    assert!(
        disposition.contains("filename*=UTF-8''%C3%89t%C3%A9%202024%2Ezip"),
        "{disposition}"
    );
    let entries = unzip(&resp.bytes().await.unwrap());
    assert_eq!(
        entries,
        [
            ("Sea_ at dusk.png".to_owned(), a.clone()),
            ("IMG_2.png".to_owned(), b.clone()),
            ("IMG_2 (2).png".to_owned(), c.clone()),
            ("secret.png".to_owned(), d),
        ]
    );

    // Through the share link, logged out: all but the private photo.
    let link = album.share_url.clone().unwrap();
    let resp = app.get(&format!("{link}/download")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let names: Vec<String> = unzip(&resp.bytes().await.unwrap())
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    assert_eq!(names, ["Sea_ at dusk.png", "IMG_2.png", "IMG_2 (2).png"]);
    // By id the unlisted album is no one else's to find.
    let resp = app
        .get_as(&format!("/albums/{}/download", album.id), &bob)
        .await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let resp = app.get("/a/0000000000000000000000/download").await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    app.shutdown().await;
}

#[tokio::test]
async fn a_selection_downloads_what_the_viewer_may_open() {
    let app = spawn_app().await;
    let bob = create_user(&app.config, "bob", false).await;
    let one = upload(&app, file_form("one.png", png(8, 8, [1, 1, 1]))).await;
    let two = upload(&app, file_form("two.png", png(9, 8, [2, 2, 2]))).await;
    let hidden = upload(
        &app,
        file_form("hidden.png", png(10, 8, [3, 3, 3])).text("visibility", "private"),
    )
    .await;
    let path = |ids: &[&str]| format!("/api/photos/download?ids={}", ids.join(","));

    let resp = app
        .get_as(&path(&[&two.id, &one.id, &two.id]), &app.token)
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let names: Vec<String> = unzip(&resp.bytes().await.unwrap())
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    assert_eq!(
        names,
        ["two.png", "one.png"],
        "in the order given, once each"
    );

    // Someone else's private photo is not found, and nothing is sent.
    let resp = app.get_as(&path(&[&one.id, &hidden.id]), &bob).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let resp = app.get_as(&path(&["not-an-id"]), &app.token).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let resp = app.get_as(&path(&[]), &app.token).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    // Photos in the trash are not downloadable.
    let gone = app
        .client
        .delete(app.url(&format!("/api/photos/{}", one.id)))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), StatusCode::NO_CONTENT);
    let resp = app.get_as(&path(&[&one.id]), &app.token).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    app.shutdown().await;
}

/// An original lost from the store part-way through an archive: once the
/// answer has begun (200), the body must end in an error, never in a
/// clean end that would pass a short archive off as whole.
#[tokio::test]
async fn a_download_that_fails_part_way_ends_in_an_error() {
    let app = spawn_app().await;
    let kept = upload(&app, file_form("kept.png", png(30, 20, [1, 2, 3]))).await;
    let lost = upload(&app, file_form("lost.png", png(31, 20, [4, 5, 6]))).await;
    let db = scoot::db::open(&app.config.database_url()).await.unwrap();
    let row = db.photo(&lost.id.parse().unwrap()).await.unwrap().unwrap();
    let store = scoot::store::Store::open(&app.config.store_url()).unwrap();
    store
        .delete(&scoot::keys::BlobKey::original(&row.hash, row.format))
        .await
        .unwrap();

    let path = format!("/api/photos/download?ids={},{}", kept.id, lost.id);
    // When the loss is met before the head has left (the kept photo is a
    // few bytes), the connection closes with nothing sent: an error too.
    let broken = match app
        .client
        .get(app.url(&path))
        .bearer_auth(&app.token)
        .send()
        .await
    {
        Err(e) => {
            assert!(!e.is_connect() && !e.is_timeout(), "{e}");
            true
        }
        Ok(resp) => {
            assert_eq!(resp.status(), StatusCode::OK);
            resp.bytes().await.is_err()
        }
    };
    assert!(broken, "the transfer is broken, not short");
    app.shutdown().await;
}

/// An incompressible PNG of about `width × height × 3` bytes.
fn noise_png(width: u32, height: u32, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let pixels: Vec<u8> = (0..width * height * 3)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let img = image::RgbImage::from_raw(width, height, pixels).unwrap();
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// A process's resident memory, in kB: now (`VmRSS`) or at its peak
/// since the peak was last reset (`VmHWM`).
fn memory_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/{pid}/status"))
}

/// A server that stops with the test, passed or failed.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// An album eight times the media cache, downloaded from the real binary:
/// its peak memory while sending grows by a small fraction of the archive.
#[tokio::test]
async fn a_large_album_streams_in_bounded_memory() {
    const PHOTOS: u64 = 24;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    cli_blocking(data, &["user", "add", "dora"], "a good password\n");
    let token = cli_blocking(data, &["token", "create", "dora"], "");
    let mut cmd = crate::helpers::scoot(data);
    cmd.args(["serve", "--listen", "127.0.0.1:0"])
        .env("SCOOT_CACHE__MEDIA_BYTES", (8u64 << 20).to_string());
    let (child, base) = crate::helpers::serve_command(cmd);
    let child = KillOnDrop(child);
    let client = reqwest::Client::new();
    let album: AlbumJson = client
        .post(format!("{base}/api/albums"))
        .bearer_auth(&token)
        .json(&json!({"title": "Big", "visibility": "private"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut total = 0u64;
    for n in 0..PHOTOS {
        let bytes = noise_png(1000, 1000, n + 1);
        total += bytes.len() as u64;
        let resp = client
            .post(format!("{base}/api/photos"))
            .bearer_auth(&token)
            .multipart(file_form(&format!("n{n}.png"), bytes))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::CREATED);
        let photo: PhotoJson = resp.json().await.unwrap();
        let resp = client
            .put(format!(
                "{base}/api/albums/{}/photos/{}",
                album.id, photo.id
            ))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::CREATED);
    }
    assert!(total > 8 * (8 << 20), "the album outgrows the media cache");
    // Renders finish first, so that only the download is measured.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(180);
    loop {
        let list: scoot::web::api::PhotoList = client
            .get(format!("{base}/api/photos?limit=100"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if list.photos.iter().all(|p| p.status != "pending") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "renders did not finish"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let pid = child.0.id();
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").unwrap();
    let before = memory_kb(pid, "VmRSS:");

    let mut resp = client
        .get(format!("{base}/albums/{}/download", album.id))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let mut received = Vec::with_capacity(total as usize + (1 << 20));
    while let Some(chunk) = resp.chunk().await.unwrap() {
        received.extend_from_slice(&chunk);
    }
    let peak = memory_kb(pid, "VmHWM:");
    drop(child);

    let entries = unzip(&received);
    assert_eq!(entries.len() as u64, PHOTOS);
    assert_eq!(
        entries.iter().map(|(_, d)| d.len() as u64).sum::<u64>(),
        total
    );
    let grown_mb = peak.saturating_sub(before) / 1024;
    eprintln!(
        "a {} MB archive: peak memory {} MB over the {} MB before it",
        received.len() >> 20,
        grown_mb,
        before / 1024
    );
    assert!(
        grown_mb < 24,
        "sending a {} MB archive grew the server by {grown_mb} MB",
        received.len() >> 20
    );
}
