//! The HTML side: first-run setup, login, upload form, gallery and photo
//! pages, and the operational endpoints.

use reqwest::StatusCode;
use reqwest::header::{LOCATION, SET_COOKIE};
use reqwest::multipart::{Form, Part};

use crate::helpers::{png, read_fixture, spawn_app, spawn_app_with, test_config};

fn session_cookie(resp: &reqwest::Response) -> String {
    let set = resp.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    assert!(set.contains("HttpOnly"), "{set}");
    assert!(set.contains("SameSite=Lax"), "{set}");
    set.split(';').next().unwrap().to_owned()
}

#[tokio::test]
async fn first_run_setup_creates_the_admin_once() {
    let dir = tempfile::tempdir().unwrap();
    let app = scoot::start(test_config(dir.path())).await.unwrap();
    let base = format!("http://{}", app.local_addr());
    let setup = app
        .setup_url()
        .expect("a setup link with no users")
        .to_owned();
    let token = setup.split("token=").nth(1).unwrap().to_owned();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    // Before setup, the home page says how to set up, not to log in.
    let home = text(client.get(&base)).await;
    assert!(home.contains("Scoot is not set up yet"), "{home}");
    assert!(!home.contains("to upload photos"), "{home}");

    let page = client.get(&setup).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let page = page.text().await.unwrap();
    assert!(page.contains("Create account"));
    assert!(
        page.contains("no spaces"),
        "the name rules are stated: {page}"
    );
    let wrong = client
        .get(format!("{base}/setup?token=nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);

    let short = client
        .post(format!("{base}/setup"))
        .form(&[
            ("token", token.as_str()),
            ("name", "root"),
            ("password", "short"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(short.status(), StatusCode::BAD_REQUEST);

    let done = client
        .post(format!("{base}/setup"))
        .form(&[
            ("token", token.as_str()),
            ("name", "root"),
            ("password", "a long password"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    let cookie = session_cookie(&done);
    let home = client
        .get(&base)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    let html = home.text().await.unwrap();
    assert!(html.contains("root") && html.contains("Upload"), "{html}");

    let again = client.get(&setup).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::GONE);
    let again = again.text().await.unwrap();
    assert!(
        again.contains("already set up") && again.contains("Log in instead"),
        "{again}"
    );
    let home = text(client.get(&base)).await;
    assert!(home.contains("to upload photos"), "{home}");
    app.shutdown().await;
}

/// The body of the answer to `request`.
async fn text(request: reqwest::RequestBuilder) -> String {
    request.send().await.unwrap().text().await.unwrap()
}

/// Behind a balancer the setup link one node logs reaches whichever node the
/// balancer picks, and a node restarted before setup keeps the old link
/// working: the links live in the database, not in a node's memory.
#[tokio::test]
async fn a_setup_link_works_on_every_node_of_the_site() {
    let dir = tempfile::tempdir().unwrap();
    let first = scoot::start(test_config(dir.path())).await.unwrap();
    let second = scoot::start(test_config(dir.path())).await.unwrap();
    let link = first.setup_url().unwrap().to_owned();
    let other_link = second.setup_url().unwrap().to_owned();
    let token = link.split("token=").nth(1).unwrap().to_owned();
    let on_second = format!("http://{}", second.local_addr());
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    let page = client
        .get(format!("{on_second}/setup?token={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let done = client
        .post(format!("{on_second}/setup"))
        .form(&[
            ("token", token.as_str()),
            ("name", "root"),
            ("password", "a long password"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), StatusCode::SEE_OTHER);

    // Set up once: every link of every node is spent.
    for spent in [&link, &other_link] {
        let again = client.get(spent).send().await.unwrap();
        assert_eq!(again.status(), StatusCode::GONE, "{spent}");
    }
    second.shutdown().await;
    first.shutdown().await;
    let restarted = scoot::start(test_config(dir.path())).await.unwrap();
    assert_eq!(restarted.setup_url(), None);
    restarted.shutdown().await;
}

#[tokio::test]
async fn login_upload_form_and_logout() {
    let app = spawn_app().await;
    // Logged out, the upload page sends you to log in.
    let resp = app.get("/upload").await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(resp.headers()[LOCATION], "/login?next=/upload");

    let bad = app
        .client
        .post(app.url("/login"))
        .form(&[("name", "alice"), ("password", "wrong password")])
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);
    assert!(bad.text().await.unwrap().contains("Wrong name or password"));

    let ok = app
        .client
        .post(app.url("/login"))
        .form(&[
            ("name", "alice"),
            ("password", "password-alice"),
            ("next", "/upload"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
    assert_eq!(ok.headers()[LOCATION], "/upload");
    let cookie = session_cookie(&ok);

    let page = app
        .client
        .get(app.url("/upload"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("multipart/form-data"));

    // The form takes several files; a bad one is reported by name.
    let token = app.form_token(&cookie).await;
    let form = Form::new()
        .text("form_token", token.clone())
        .part(
            "file",
            Part::bytes(read_fixture("orientation/Landscape_2.jpg")).file_name("one.jpg"),
        )
        .part(
            "file",
            Part::bytes(png(20, 10, [5, 5, 5])).file_name("two.png"),
        )
        .part(
            "file",
            Part::bytes(b"not an image".to_vec()).file_name("three.txt"),
        )
        .text("title", "Batch");
    let resp = app
        .client
        .post(app.url("/upload"))
        .header("cookie", &cookie)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let html = resp.text().await.unwrap();
    assert!(html.contains("three.txt: not an image"), "{html}");
    assert!(html.contains("one.jpg: uploaded"));

    // The session works for the API too, and the gallery shows both photos.
    let list: scoot::web::api::PhotoList = app.get("/api/photos").await.json().await.unwrap();
    assert_eq!(list.photos.len(), 2);
    assert!(list.photos.iter().all(|p| p.title == "Batch"));

    let out = app
        .client
        .post(app.url("/logout"))
        .header("cookie", &cookie)
        .form(&[("form_token", &token)])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    let page = app
        .client
        .get(app.url("/upload"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::SEE_OTHER, "session ended");
}

#[tokio::test]
async fn photo_page_shows_the_display_variant_and_facts() {
    let app = spawn_app().await;
    let form = crate::helpers::file_form("p.jpg", read_fixture("orientation/Portrait_5.jpg"))
        .text("title", "Tall <one>")
        .text("caption", "A caption & more");
    let accepted: scoot::web::api::PhotoJson = app
        .upload_form(form, Some(&app.token))
        .await
        .json()
        .await
        .unwrap();

    // While pending, the page shows a placeholder that the script swaps.
    let pending = app
        .get(&format!("/photos/{}", accepted.id))
        .await
        .text()
        .await
        .unwrap();
    let photo = app.settled(&accepted.id).await;
    assert!(pending.contains("data-pending") || pending.contains(&photo.variants[1].url));

    // The API reads the row, which is ready the moment the render commits;
    // pages follow once the node has announced the change (one more round
    // trip to the database), so wait a moment for them.
    let display = photo.variants.iter().find(|v| v.name == "display").unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let html = loop {
        let html = text(app.client.get(app.url(&format!("/photos/{}", photo.id)))).await;
        if html.contains(&display.url) || std::time::Instant::now() > deadline {
            break html;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert!(html.contains(&display.url), "{html}");
    assert!(html.contains(&format!(
        "width=\"{}\" height=\"{}\"",
        display.width, display.height
    )));
    assert!(
        html.contains("Tall &#60;one&#62;") || html.contains("Tall &lt;one&gt;"),
        "escaped title"
    );
    assert!(!html.contains("Tall <one>"));
    assert!(html.contains(&photo.original_url));
    assert!(html.contains(&format!("{} × {}", photo.width, photo.height)));

    let gallery = app.get("/").await.text().await.unwrap();
    let thumb = photo.variants.iter().find(|v| v.name == "thumb").unwrap();
    assert!(gallery.contains(&thumb.url));

    let missing = app.get("/photos/0123456789abcdef").await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert!(missing.text().await.unwrap().contains("not found"));
    assert_eq!(
        app.get("/photos/..%2Fetc").await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn exif_camera_and_date_are_shown() {
    // Landscape_1 carries no camera tags; build a JPEG that does.
    let app = spawn_app().await;
    let jpeg = crate::helpers::jpeg_with_exif("Scoot Optics", "Model T", "2021:07:04 18:30:00");
    let resp = app.upload_bytes("exif.jpg", jpeg).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let photo: scoot::web::api::PhotoJson = resp.json().await.unwrap();
    assert_eq!(photo.camera.as_deref(), Some("Scoot Optics Model T"));
    assert_eq!(photo.taken_at.as_deref(), Some("2021-07-04 18:30:00"));
    let html = app
        .get(&format!("/photos/{}", photo.id))
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("Scoot Optics Model T") && html.contains("2021-07-04 18:30:00"));
    // Variants carry none of it.
    let photo = app.settled(&photo.id).await;
    for v in &photo.variants {
        let bytes = app.bytes(&v.url).await;
        assert!(
            !bytes.windows(12).any(|w| w == b"Scoot Optics"),
            "{} leaks EXIF",
            v.name
        );
    }
}

#[tokio::test]
async fn shot_facts_are_read_and_the_location_is_for_the_owner_only() {
    use crate::helpers::{create_user, exif_ascii, exif_rational, jpeg_with_exif_fields};
    use exif::Tag;
    let app = spawn_app().await;
    let jpeg = jpeg_with_exif_fields(&[
        exif_ascii(Tag::Make, "Scoot Optics"),
        exif_ascii(Tag::Model, "Model T"),
        exif_ascii(Tag::LensModel, "Scoot 50mm F1.8"),
        exif_rational(Tag::ExposureTime, &[(1, 250)]),
        exif_rational(Tag::FNumber, &[(18, 10)]),
        exif::Field {
            tag: Tag::PhotographicSensitivity,
            ifd_num: exif::In::PRIMARY,
            value: exif::Value::Short(vec![800]),
        },
        exif_rational(Tag::FocalLength, &[(50, 1)]),
        exif_ascii(Tag::GPSLatitudeRef, "N"),
        exif_rational(Tag::GPSLatitude, &[(48, 1), (51, 1), (2400, 100)]),
        exif_ascii(Tag::GPSLongitudeRef, "E"),
        exif_rational(Tag::GPSLongitude, &[(2, 1), (21, 1), (0, 1)]),
    ]);
    let resp = app.upload_bytes("shot.jpg", jpeg).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let photo: scoot::web::api::PhotoJson = resp.json().await.unwrap();
    assert_eq!(photo.lens.as_deref(), Some("Scoot 50mm F1.8"));
    assert_eq!(photo.exposure_time, Some(0.004));
    assert_eq!(
        (photo.f_number, photo.iso, photo.focal_length_mm),
        (Some(1.8), Some(800), Some(50.0))
    );
    let gps = photo.gps.expect("the uploader sees where it was taken");
    assert!(
        (gps.lat - 48.85666).abs() < 1e-4 && (gps.lon - 2.35).abs() < 1e-9,
        "{gps:?}"
    );
    let photo = app.settled(&photo.id).await;

    // Anyone else, logged out or not, gets everything but the location.
    let bob = create_user(&app.config, "bob", false).await;
    let api = format!("/api/photos/{}", photo.id);
    let as_bob: scoot::web::api::PhotoJson = app.get_as(&api, &bob).await.json().await.unwrap();
    let anonymous = app.get(&api).await.text().await.unwrap();
    assert!(as_bob.gps.is_none() && as_bob.lens.is_some());
    assert!(
        !anonymous.contains("gps") && !anonymous.contains("48.85"),
        "{anonymous}"
    );
    let listed = app.get("/api/photos").await.text().await.unwrap();
    assert!(!listed.contains("gps"), "{listed}");

    // The page: an EXIF panel for everyone, the location for the owner.
    let page = format!("/photos/{}", photo.id);
    let public = app.get(&page).await.text().await.unwrap();
    for shown in ["Scoot 50mm F1.8", "1/250 s", "ƒ/1.8", "800", "50 mm"] {
        assert!(public.contains(shown), "{shown} missing");
    }
    assert!(!public.contains("48.85"));
    let own = app.get_as(&page, &app.token).await.text().await.unwrap();
    assert!(
        own.contains("48.85667° N, 2.35000° E"),
        "owner sees the location"
    );

    // No variant carries EXIF, so none can leak the location.
    for v in &photo.variants {
        let bytes = app.bytes(&v.url).await;
        assert!(
            !bytes.windows(4).any(|w| w == b"Exif"),
            "{} {} has EXIF",
            v.name,
            v.format
        );
    }
}

#[tokio::test]
async fn rendered_photos_carry_a_thumbhash_placeholder() {
    let app = spawn_app().await;
    let photo = app.upload_fixture("orientation/Landscape_1.jpg").await;
    let photo = app.settled(&photo.id).await;
    let encoded = photo.thumbhash.as_deref().expect("a thumbhash once ready");
    let hash = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, encoded).unwrap();
    let ratio = thumbhash::thumb_hash_to_approximate_aspect_ratio(&hash).unwrap();
    let want = photo.width as f32 / photo.height as f32;
    assert!((ratio - want).abs() < 0.2, "{ratio} vs {want}");
    // Carried on the image in the gallery and on the photo page, for
    // app.js to draw under it (the browser suite checks the drawing).
    let carried = format!(r#"<picture data-preview="{encoded}">"#);
    for page in ["/".to_owned(), format!("/photos/{}", photo.id)] {
        let html = app.get(&page).await.text().await.unwrap();
        assert!(html.contains(&carried), "{page}");
    }
}

#[tokio::test]
async fn health_ready_metrics_and_json_errors() {
    let app = spawn_app().await;
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), StatusCode::OK);
    app.get("/").await;
    app.get("/nope").await;
    let metrics = app.get("/metrics").await.text().await.unwrap();
    for name in [
        "scoot_http_requests_total{route=\"/\",status=\"200\"}",
        "scoot_http_requests_total{route=\"other\",status=\"404\"}",
        "scoot_render_queue_depth",
        "scoot_cache_lookups_total",
    ] {
        assert!(metrics.contains(name), "{name} missing from\n{metrics}");
    }
    let resp = app.get("/api/nothing-here").await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert!(body["error"].is_string());
    let resp = app.client.put(app.url("/api/photos")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    let page = app.get("/nope").await;
    assert_eq!(page.status(), StatusCode::NOT_FOUND);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    app.shutdown().await;
}

#[tokio::test]
async fn readyz_turns_503_while_draining() {
    let app = crate::helpers::spawn_app_with(|c| c.drain_seconds = 2).await;
    let client = app.client.clone();
    let url = app.url("/readyz");
    assert_eq!(
        client.get(&url).send().await.unwrap().status(),
        StatusCode::OK
    );
    let stopping = tokio::spawn(app.shutdown());
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let resp = client.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(resp.text().await.unwrap().contains("draining"));
    stopping.await.unwrap();
    assert!(
        client.get(&url).send().await.is_err(),
        "listener closed after the drain"
    );
}

#[tokio::test]
async fn pages_answer_conditional_requests() {
    use reqwest::header::{ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED};
    let app = spawn_app().await;
    let photo = app.upload_fixture("orientation/Landscape_1.jpg").await;
    let photo = app.settled(&photo.id).await;
    for page in ["/".to_owned(), format!("/photos/{}", photo.id)] {
        let first = app.get(&page).await;
        assert_eq!(first.status(), StatusCode::OK);
        let etag = first.headers()[ETAG].clone();
        let modified = first.headers()[LAST_MODIFIED].clone();
        assert_eq!(first.headers()["vary"], "Cookie, Accept-Encoding");
        assert_eq!(first.headers()["cache-control"], "private, no-cache");
        let again = |name, value| {
            let req = app.client.get(app.url(&page)).header(name, value);
            async move { req.send().await.unwrap() }
        };
        let by_etag = again(IF_NONE_MATCH, etag.clone()).await;
        assert_eq!(by_etag.status(), StatusCode::NOT_MODIFIED, "{page}");
        assert!(by_etag.bytes().await.unwrap().is_empty());
        let by_date = again(IF_MODIFIED_SINCE, modified.clone()).await;
        assert_eq!(by_date.status(), StatusCode::NOT_MODIFIED, "{page}");
        // Logged in, the page differs (the header names the user): no 304.
        let other = app
            .client
            .get(app.url(&page))
            .bearer_auth(&app.token)
            .header(IF_NONE_MATCH, etag)
            .send()
            .await
            .unwrap();
        assert_eq!(other.status(), StatusCode::OK, "{page}");
    }

    // A change (here: a second photo) moves both validators on.
    let before = app.get("/").await;
    let (etag, modified) = (
        before.headers()[ETAG].clone(),
        before.headers()[LAST_MODIFIED].clone(),
    );
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    app.upload_fixture("orientation/Portrait_1.jpg").await;
    let after = app
        .client
        .get(app.url("/"))
        .header(IF_NONE_MATCH, etag)
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), StatusCode::OK);
    let after = app
        .client
        .get(app.url("/"))
        .header(IF_MODIFIED_SINCE, modified)
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), StatusCode::OK);
}

#[tokio::test]
async fn pages_have_a_strict_csp_and_no_inline_code() {
    let app = spawn_app().await;
    let photo = app.upload_fixture("orientation/Landscape_1.jpg").await;
    let photo = app.settled(&photo.id).await;
    for page in [
        "/".to_owned(),
        format!("/photos/{}", photo.id),
        "/login".into(),
    ] {
        let resp = app.get(&page).await;
        let h = resp.headers().clone();
        let csp = h["content-security-policy"].to_str().unwrap().to_owned();
        for part in [
            "default-src 'none'",
            "style-src 'self';",
            "script-src 'self';",
            "frame-ancestors 'none'",
            "base-uri 'none'",
        ] {
            assert!(csp.contains(part), "{page}: {part} not in {csp}");
        }
        assert!(!csp.contains("unsafe"), "{page}: {csp}");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["referrer-policy"], "same-origin");
        let html = resp.text().await.unwrap();
        assert!(!html.contains(" style="), "{page} has an inline style");
        assert!(!html.contains("<style"), "{page} has a style element");
        assert!(!html.contains("<script>"), "{page} has an inline script");
        let handler = html.match_indices(" on").any(|(i, _)| {
            let name = &html[i + 3..];
            let len = name.bytes().take_while(u8::is_ascii_lowercase).count();
            len > 0 && name[len..].starts_with('=')
        });
        assert!(!handler, "{page} has an event handler attribute");
    }
}

#[tokio::test]
async fn long_pages_are_compressed_for_browsers_that_accept_it() {
    use std::io::Read;
    let app = spawn_app().await;
    for name in ["Landscape_1.jpg", "Landscape_2.jpg", "Portrait_1.jpg"] {
        let p = app.upload_fixture(&format!("orientation/{name}")).await;
        app.settled(&p.id).await;
    }
    let plain = app.get("/").await;
    assert!(plain.headers().get("content-encoding").is_none());
    let plain = plain.text().await.unwrap();
    assert!(plain.len() > 1024, "gallery is {} bytes", plain.len());

    for (coding, accept) in [("br", "gzip, deflate, br"), ("gzip", "gzip")] {
        let resp = app
            .client
            .get(app.url("/"))
            .header("accept-encoding", accept)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.headers()["content-encoding"], coding);
        let etag = resp.headers()["etag"].to_str().unwrap().to_owned();
        assert!(etag.ends_with(&format!("-{coding}\"")), "{etag}");
        let body = resp.bytes().await.unwrap();
        assert!(
            body.len() * 2 < plain.len(),
            "{coding}: {} bytes",
            body.len()
        );
        let mut html = String::new();
        if coding == "br" {
            brotli::Decompressor::new(&body[..], 4096)
                .read_to_string(&mut html)
                .unwrap();
        } else {
            flate2::read::GzDecoder::new(&body[..])
                .read_to_string(&mut html)
                .unwrap();
        }
        assert_eq!(html, plain);
        let again = app
            .client
            .get(app.url("/"))
            .header("accept-encoding", accept)
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    }
}

#[tokio::test]
async fn pages_point_media_and_assets_at_a_cdn_when_told() {
    let app = spawn_app_with(|c| {
        c.web.media_base_url = "https://img.example.net/media".into();
        c.web.asset_base_url = "https://static.example.net/assets/".into();
    })
    .await;
    let photo = app.upload_fixture("orientation/Landscape_1.jpg").await;
    let photo = app.settled(&photo.id).await;
    let resp = app.get(&format!("/photos/{}", photo.id)).await;
    let csp = resp.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains(
            "img-src 'self' data: blob: https://img.example.net https://static.example.net;"
        ),
        "{csp}"
    );
    assert!(
        csp.contains("script-src 'self' https://static.example.net;"),
        "{csp}"
    );
    let html = resp.text().await.unwrap();
    assert!(
        html.contains("src=\"https://img.example.net/media/variants/"),
        "{html}"
    );
    assert!(html.contains("href=\"https://static.example.net/assets/style."));
    assert!(html.contains("src=\"https://static.example.net/assets/app."));
    // The API hands out the same URLs; Scoot still serves the paths itself.
    let variant = &photo.variants[0];
    assert!(
        variant
            .url
            .starts_with("https://img.example.net/media/variants/")
    );
    let path = variant.url.trim_start_matches("https://img.example.net");
    assert_eq!(app.get(path).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn pages_are_rendered_once_per_change() {
    let app = spawn_app().await;
    let photo = app.upload_fixture("orientation/Landscape_1.jpg").await;
    app.settled(&photo.id).await;
    let page = format!("/photos/{}", photo.id);
    // Found by key in the page cache, or by URL in the front.
    let hits = |metrics: &str| -> u64 {
        let hits = |cache: &str| {
            let series = format!("scoot_cache_lookups_total{{cache=\"{cache}\",result=\"hit\"}}");
            metrics
                .lines()
                .find(|l| l.starts_with(&series))
                .and_then(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
                .unwrap_or(0)
        };
        hits("html") + hits("front")
    };
    let first = app.get(&page).await.text().await.unwrap();
    let before = hits(&app.get("/metrics").await.text().await.unwrap());
    let second = app.get(&page).await.text().await.unwrap();
    assert_eq!(first, second);
    let after = hits(&app.get("/metrics").await.text().await.unwrap());
    assert_eq!(after, before + 1, "the second request is a cache hit");

    // A change shows at once, on the photo page and in the gallery.
    app.edit_photo(&photo.id, serde_json::json!({"title": "Renamed just now"}))
        .await;
    assert!(
        app.get(&page)
            .await
            .text()
            .await
            .unwrap()
            .contains("Renamed just now")
    );
    assert!(
        app.get("/")
            .await
            .text()
            .await
            .unwrap()
            .contains("Renamed just now")
    );
}

/// A wrong engine URL, an unreachable database, a missing bucket or
/// refused credentials stop `scoot serve` at start: non-zero, with one
/// line naming the setting, never a panic. The bucket cases run when the
/// suite has an S3 server (`SCOOT_TEST_STORE_URL` and the `AWS_*`
/// variables).
#[test]
fn bad_engine_settings_stop_scoot_with_one_line_naming_the_setting() {
    /// The setting the error must name, the flag, and extra environment.
    type Case = (&'static str, String, Vec<(&'static str, &'static str)>);
    let mut cases: Vec<Case> = vec![
        (
            "database_url",
            "--database-url=mysql://127.0.0.1/scoot".into(),
            vec![],
        ),
        (
            "database_url",
            "--database-url=postgres://scoot@127.0.0.1:1/scoot".into(),
            vec![],
        ),
        (
            "store_url",
            "--store-url=ftp://127.0.0.1/photos".into(),
            vec![],
        ),
    ];
    if let Ok(store) = std::env::var("SCOOT_TEST_STORE_URL") {
        let bucket = store.trim_start_matches("s3://").split('/').next().unwrap();
        cases.push((
            "store_url",
            format!("--store-url=s3://{bucket}-that-does-not-exist"),
            vec![],
        ));
        cases.push((
            "store_url",
            format!("--store-url={store}"),
            vec![("AWS_SECRET_ACCESS_KEY", "not-the-secret")],
        ));
    }
    for (setting, flag, env) in cases {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_scoot"));
        for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("SCOOT_")) {
            cmd.env_remove(key);
        }
        let out = cmd
            .arg("--data-dir")
            .arg(dir.path())
            .arg(&flag)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("RUST_LOG", "error")
            .envs(env)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{flag}: started anyway");
        assert!(!stderr.contains("panicked"), "{flag}: {stderr}");
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{flag}: one line: {stderr}");
        assert!(
            lines[0].starts_with(&format!("scoot: {setting}")),
            "{flag}: names {setting}: {stderr}"
        );
    }
}
