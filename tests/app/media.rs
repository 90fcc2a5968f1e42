//! HTTP caching semantics of media URLs.

use reqwest::StatusCode;
use reqwest::header::{
    ACCEPT_RANGES, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, ETAG, IF_NONE_MATCH,
    IF_RANGE, LAST_MODIFIED, RANGE,
};

use crate::helpers::{TestApp, read_fixture, spawn_app, spawn_app_with};

async fn check_media(app: &TestApp, url: &str, expected: &[u8], mime: &str) {
    let full = app.get(url).await;
    assert_eq!(full.status(), StatusCode::OK);
    let h = full.headers().clone();
    assert_eq!(h[CACHE_CONTROL], "public, max-age=31536000, immutable");
    assert_eq!(h[CONTENT_TYPE], mime);
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h[ACCEPT_RANGES], "bytes");
    assert!(h.contains_key(LAST_MODIFIED));
    let etag = h[ETAG].to_str().unwrap().to_owned();
    assert!(
        etag.starts_with('"') && !etag.starts_with("W/"),
        "strong etag {etag}"
    );
    assert_eq!(&full.bytes().await.unwrap()[..], expected);

    // Conditional GET.
    let resp = app
        .client
        .get(app.url(url))
        .header(IF_NONE_MATCH, &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(resp.headers()[ETAG], etag.as_str());
    assert!(resp.bytes().await.unwrap().is_empty());
    let resp = app
        .client
        .get(app.url(url))
        .header(IF_NONE_MATCH, "\"other\"")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);

    // Ranges.
    let resp = app
        .client
        .get(app.url(url))
        .header(RANGE, "bytes=10-19")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::PARTIAL_CONTENT);
    let total = expected.len();
    assert_eq!(
        resp.headers()[CONTENT_RANGE],
        format!("bytes 10-19/{total}").as_str()
    );
    assert_eq!(&resp.bytes().await.unwrap()[..], &expected[10..20]);
    let resp = app
        .client
        .get(app.url(url))
        .header(RANGE, "bytes=-5")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(&resp.bytes().await.unwrap()[..], &expected[total - 5..]);
    let resp = app
        .client
        .get(app.url(url))
        .header(RANGE, format!("bytes={total}-"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(
        resp.headers()[CONTENT_RANGE],
        format!("bytes */{total}").as_str()
    );
    // If-Range with a stale validator: the whole body.
    let resp = app
        .client
        .get(app.url(url))
        .header(RANGE, "bytes=0-0")
        .header(IF_RANGE, "\"stale\"")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.bytes().await.unwrap().len(), total);

    // HEAD: same headers, no body.
    let resp = app.client.head(app.url(url)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()[ETAG], etag.as_str());
    assert_eq!(resp.headers()[CONTENT_LENGTH], total.to_string().as_str());
    assert!(resp.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn variants_and_originals_have_cdn_semantics() {
    // A small cached-object limit so originals take the streaming path.
    let app = spawn_app_with(|c| c.cache.media_max_object = 64 * 1024).await;
    let original = read_fixture("orientation/Portrait_3.jpg");
    let photo = app.upload_fixture("orientation/Portrait_3.jpg").await;
    let photo = app.settled(&photo.id).await;
    check_media(&app, &photo.original_url, &original, "image/jpeg").await;
    // The uploader's bytes are downloaded, never rendered in our origin;
    // variants (our own encodes) are shown inline.
    let disposition = app.get(&photo.original_url).await.headers()["content-disposition"].clone();
    let name = photo.original_url.rsplit('/').next().unwrap();
    assert_eq!(
        disposition,
        format!("attachment; filename=\"{name}\"").as_str()
    );
    for v in &photo.variants {
        let bytes = app.bytes(&v.url).await;
        assert!(
            !app.get(&v.url)
                .await
                .headers()
                .contains_key("content-disposition")
        );
        check_media(&app, &v.url, &bytes, &format!("image/{}", v.format)).await;
        // A second read comes from the byte cache and is identical.
        assert_eq!(app.bytes(&v.url).await, bytes);
    }
}

#[tokio::test]
async fn unknown_and_malicious_media_paths_are_404() {
    let app = spawn_app().await;
    let h = "a".repeat(64);
    for path in [
        "/media/scoot.db".to_owned(),
        "/media/../scoot.db".to_owned(),
        format!("/media/originals/aa/{h}.jpg"),
        format!("/media/originals/aa/{h}.exe"),
        "/media/".to_owned(),
    ] {
        let resp = app.get(&path).await;
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{path}");
    }
}

#[tokio::test]
async fn assets_are_fingerprinted_and_immutable() {
    let app = spawn_app().await;
    let html = app.get("/login").await.text().await.unwrap();
    let css = html
        .split('"')
        .find(|s| s.starts_with("/assets/style.") && s.ends_with(".css"))
        .expect("fingerprinted stylesheet link")
        .to_owned();
    let resp = app.get(&css).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.headers()[CACHE_CONTROL],
        "public, max-age=31536000, immutable"
    );
    assert!(
        resp.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    let etag = resp.headers()[ETAG].clone();
    let resp = app
        .client
        .get(app.url(&css))
        .header(IF_NONE_MATCH, etag)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(
        app.get("/assets/style.css").await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_size_without_a_format_is_negotiated_by_accept() {
    let app = spawn_app().await;
    let photo = app.upload_fixture("orientation/Landscape_1.jpg").await;
    let photo = app.settled(&photo.id).await;
    let url = format!("/photos/{}/display", photo.id);
    let fetch = |accept: &'static str| {
        let req = app.client.get(app.url(&url)).header("accept", accept);
        async move { req.send().await.unwrap() }
    };
    for (accept, mime) in [
        (
            "image/avif,image/webp,image/apng,image/*,*/*;q=0.8",
            "image/webp",
        ),
        ("image/png,image/*;q=0.8,*/*;q=0.5", "image/jpeg"),
        ("image/webp;q=0, */*", "image/jpeg"),
        ("*/*", "image/jpeg"),
    ] {
        let resp = fetch(accept).await;
        assert_eq!(resp.status(), StatusCode::OK, "{accept}");
        assert_eq!(resp.headers()[CONTENT_TYPE], mime, "{accept}");
        assert_eq!(resp.headers()["vary"], "Accept");
        let want = photo
            .variants
            .iter()
            .find(|v| v.name == "display" && format!("image/{}", v.format) == mime)
            .unwrap();
        assert_eq!(resp.bytes().await.unwrap(), app.bytes(&want.url).await);
    }
    let missing = app.get(&format!("/photos/{}/poster", photo.id)).await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);

    // Pages offer the WebP sizes in a <picture>, with the JPEG as the
    // <img>, each with every size in its srcset.
    let entry = |name: &str, format: &str| {
        let v = photo
            .variants
            .iter()
            .find(|v| v.name == name && v.format == format)
            .unwrap();
        format!("{} {}w", v.url, v.width)
    };
    let gallery = app.get("/").await.text().await.unwrap();
    let srcset = |format: &str| {
        ["small", "thumb", "medium", "display"]
            .map(|size| entry(size, format))
            .join(", ")
    };
    let webp = format!(
        r#"<source type="image/webp" srcset="{}" sizes="#,
        srcset("webp")
    );
    assert!(gallery.contains(&webp), "{gallery}");
    let jpeg = format!(r#"srcset="{}" sizes="#, srcset("jpeg"));
    assert!(gallery.contains(&jpeg), "{gallery}");
    let thumb = photo
        .variants
        .iter()
        .find(|v| v.name == "thumb" && v.format == "jpeg")
        .unwrap();
    assert!(gallery.contains(&format!(
        r#"width="{}" height="{}""#,
        thumb.width, thumb.height
    )));
}

#[tokio::test]
async fn assets_are_sent_precompressed_by_accept_encoding() {
    use std::io::Read;
    let app = spawn_app().await;
    let html = app.get("/login").await.text().await.unwrap();
    let css = html
        .split('"')
        .find(|s| s.starts_with("/assets/style.") && s.ends_with(".css"))
        .unwrap()
        .to_owned();
    let plain = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/style.css")).unwrap();
    let get = |encoding: &'static str| {
        let req = app
            .client
            .get(app.url(&css))
            .header("accept-encoding", encoding);
        async move { req.send().await.unwrap() }
    };

    let identity = get("identity").await;
    assert!(!identity.headers().contains_key("content-encoding"));
    assert_eq!(identity.headers()["vary"], "Accept-Encoding");
    let identity_etag = identity.headers()[ETAG].clone();
    assert_eq!(identity.bytes().await.unwrap(), plain);

    let gzip = get("gzip, deflate").await;
    assert_eq!(gzip.headers()["content-encoding"], "gzip");
    assert_eq!(gzip.headers()["vary"], "Accept-Encoding");
    let gzip_etag = gzip.headers()[ETAG].clone();
    let body = gzip.bytes().await.unwrap();
    let mut unzipped = Vec::new();
    flate2::read::GzDecoder::new(&body[..])
        .read_to_end(&mut unzipped)
        .unwrap();
    assert_eq!(unzipped, plain);
    assert!(
        body.len() < plain.len() / 2,
        "{} of {}",
        body.len(),
        plain.len()
    );

    let br = get("gzip, deflate, br, zstd").await;
    assert_eq!(br.headers()["content-encoding"], "br");
    let br_etag = br.headers()[ETAG].clone();
    let br_len = br.bytes().await.unwrap().len();
    assert!(
        br_len > 0 && br_len < body.len(),
        "brotli {br_len} vs gzip {}",
        body.len()
    );

    // Each encoding is its own representation with its own validator.
    assert!(identity_etag != gzip_etag && gzip_etag != br_etag);
    let revalidated = app
        .client
        .get(app.url(&css))
        .header("accept-encoding", "br")
        .header(IF_NONE_MATCH, br_etag)
        .send()
        .await
        .unwrap();
    assert_eq!(revalidated.status(), StatusCode::NOT_MODIFIED);
}

/// Positions as clients write them: small, near the body's end, at or past
/// `u64::MAX`, or missing.
fn position(total: u64) -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    prop_oneof![
        (0u64..64).prop_map(|n| n.to_string()),
        (total.saturating_sub(3)..total + 3).prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        (0u64..2).prop_map(|d| (u64::MAX - d).to_string()),
        "[0-9]{20,30}",
        Just(String::new()),
    ]
}

fn range_header(total: u64) -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    let one = (position(total), position(total)).prop_map(|(a, b)| format!("{a}-{b}"));
    proptest::collection::vec(one, 1..3).prop_map(|r| format!("bytes={}", r.join(",")))
}

/// What one GET and one HEAD with `range` must agree on, whatever it says.
async fn check_range(app: &TestApp, url: &str, full: &[u8], range: &str) -> Result<(), String> {
    let total = full.len();
    let get = app
        .client
        .get(app.url(url))
        .header(RANGE, range)
        .send()
        .await;
    let get = get.map_err(|e| format!("{range}: GET failed: {e}"))?;
    let status = get.status();
    let headers = get.headers().clone();
    let body = get
        .bytes()
        .await
        .map_err(|e| format!("{range}: body: {e}"))?;
    let length = headers
        .get(CONTENT_LENGTH)
        .map(|v| v.to_str().unwrap().to_owned());
    match status {
        StatusCode::OK => {
            if body[..] != full[..] {
                return Err(format!("{range}: 200 without the whole body"));
            }
        }
        StatusCode::PARTIAL_CONTENT => {
            let content_range = headers[CONTENT_RANGE].to_str().unwrap();
            let (span, of) = content_range
                .strip_prefix("bytes ")
                .and_then(|r| r.split_once('/'))
                .ok_or(format!("{range}: Content-Range {content_range}"))?;
            let (a, b) = span.split_once('-').unwrap();
            let (a, b): (usize, usize) = (a.parse().unwrap(), b.parse().unwrap());
            if of != total.to_string() || a > b || b >= total || body[..] != full[a..=b] {
                return Err(format!(
                    "{range}: 206 {content_range} of {total} with {} bytes",
                    body.len()
                ));
            }
        }
        StatusCode::RANGE_NOT_SATISFIABLE => {
            if headers[CONTENT_RANGE] != format!("bytes */{total}").as_str() {
                return Err(format!("{range}: 416 without Content-Range */{total}"));
            }
        }
        other => return Err(format!("{range}: {other}")),
    }
    if length.as_deref() != Some(body.len().to_string().as_str()) {
        return Err(format!(
            "{range}: Content-Length {length:?} for {} bytes",
            body.len()
        ));
    }
    let head = app
        .client
        .head(app.url(url))
        .header(RANGE, range)
        .send()
        .await;
    let head = head.map_err(|e| format!("{range}: HEAD failed: {e}"))?;
    let head_length = head
        .headers()
        .get(CONTENT_LENGTH)
        .map(|v| v.to_str().unwrap().to_owned());
    if head.status() != status || head_length != length {
        return Err(format!(
            "{range}: HEAD {} {head_length:?}, GET {status} {length:?}",
            head.status()
        ));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_range_header_gets_a_consistent_answer() {
    use proptest::strategy::{Strategy, ValueTree};
    use proptest::test_runner::{Config, TestRunner};
    // Originals stream from the store, variants come from the byte cache,
    // and `/photos/{id}/{size}` negotiates: three ways to answer a range.
    let app = spawn_app_with(|c| c.cache.media_max_object = 64 * 1024).await;
    let original = read_fixture("orientation/Portrait_3.jpg");
    let photo = app.upload_fixture("orientation/Portrait_3.jpg").await;
    let photo = app.settled(&photo.id).await;
    let display = photo
        .variants
        .iter()
        .find(|v| v.name == "display" && v.format == "jpeg");
    let display = display.unwrap();
    let display_bytes = app.bytes(&display.url).await;
    let negotiated = format!("/photos/{}/display", photo.id);
    for (url, full) in [
        (photo.original_url.as_str(), &original),
        (display.url.as_str(), &display_bytes),
        (negotiated.as_str(), &display_bytes),
    ] {
        let mut runner = TestRunner::new(Config::with_cases(150));
        let strategy = range_header(full.len() as u64);
        for _ in 0..150 {
            let range = strategy.new_tree(&mut runner).unwrap().current();
            if let Err(e) = check_range(&app, url, full, &range).await {
                panic!("{url}: {e}");
            }
        }
        // The values the attack used.
        for range in [
            "bytes=5-18446744073709551615",
            "bytes=0-18446744073709551615",
        ] {
            check_range(&app, url, full, range).await.unwrap();
            let resp = app
                .client
                .get(app.url(url))
                .header(RANGE, range)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), StatusCode::PARTIAL_CONTENT, "{url} {range}");
        }
    }
}

/// `web.media_redirect = "presigned"`: `/media/…` answers `307` to a
/// short-lived URL on the bucket, which serves the same bytes (an original
/// as an attachment). Runs on an S3 store (the production pass); on any
/// other store the setting is refused at start.
#[tokio::test]
async fn media_can_be_served_by_a_presigned_redirect_to_the_bucket() {
    if std::env::var("SCOOT_TEST_STORE_URL").is_err() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = crate::helpers::test_config(dir.path());
        config.store_url.clear();
        config.web.media_redirect = "presigned".into();
        let refused = scoot::start(config).await.err().expect("refused at start");
        assert!(
            refused.to_string().contains("web.media_redirect"),
            "{refused}"
        );
        return;
    }
    let endpoint = std::env::var("AWS_ENDPOINT").unwrap_or_default();
    let app = spawn_app_with(|c| c.web.media_redirect = "presigned".into()).await;
    let bytes = read_fixture("orientation/Landscape_3.jpg");
    let uploaded = app.upload_bytes("harbour.jpg", bytes.clone()).await;
    let id = uploaded
        .json::<scoot::web::api::PhotoJson>()
        .await
        .unwrap()
        .id;
    let photo = app.settled(&id).await;
    let variant = photo.variants[0].url.clone();
    for (url, original) in [(photo.original_url.clone(), true), (variant, false)] {
        let resp = app.get(&url).await;
        assert_eq!(resp.status(), StatusCode::TEMPORARY_REDIRECT, "{url}");
        assert_eq!(resp.headers()["cache-control"], "public, max-age=3000");
        let location = resp.headers()["location"].to_str().unwrap().to_owned();
        assert!(location.starts_with(&endpoint), "{location}");
        assert!(location.contains("X-Amz-Signature="), "{location}");
        let fetched = reqwest::get(&location).await.unwrap();
        assert_eq!(fetched.status(), StatusCode::OK, "{location}");
        let disposition = fetched
            .headers()
            .get("content-disposition")
            .map(|v| v.to_str().unwrap().to_owned());
        let body = fetched.bytes().await.unwrap();
        if original {
            assert_eq!(&body[..], &bytes[..]);
            assert!(disposition.unwrap_or_default().starts_with("attachment"));
        } else {
            assert!(image::load_from_memory(&body).is_ok(), "a variant's bytes");
        }
    }
    app.shutdown().await;
}
