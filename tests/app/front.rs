//! The front (`web::front`, issue 17): a logged-out visitor's page is
//! answered by its URL before the route table, with exactly the table's
//! answer, never to someone logged in, and never after a change; a plain
//! media request, with the answer the last one got, until a blob is
//! deleted.

use reqwest::StatusCode;
use reqwest::header::{ETAG, HeaderMap};

use crate::helpers::{TestApp, spawn_app};

const FRONT_HITS: &str = "scoot_cache_lookups_total{cache=\"front\",result=\"hit\"}";

/// `GET path` with `headers`; its status, headers but `Date`, and body.
async fn answer(
    app: &TestApp,
    path: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, HeaderMap, Vec<u8>) {
    let mut req = app.client.get(app.url(path));
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let mut kept = resp.headers().clone();
    kept.remove(reqwest::header::DATE);
    (status, kept, resp.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn the_front_answers_as_the_table_does() {
    let app = spawn_app().await;
    let photo = app.upload_fixture("orientation/Landscape_1.jpg").await;
    app.settled(&photo.id).await;
    let photo_page = format!("/photos/{}", photo.id);
    for path in ["/", "/?sort=oldest", photo_page.as_str(), "/albums"] {
        // The first logged-out request goes through the table and leaves
        // the page with the front.
        let first = answer(&app, path, &[]).await;
        assert_eq!(first.0, StatusCode::OK, "{path}");
        let etag = first.1[ETAG].to_str().unwrap().to_owned();
        for asked in [
            vec![],
            vec![("accept-encoding", "gzip, br")],
            vec![("if-none-match", etag.as_str())],
        ] {
            let hits = app.counted(FRONT_HITS).await;
            let front = answer(&app, path, &asked).await;
            assert_eq!(app.counted(FRONT_HITS).await, hits + 1, "{path} {asked:?}");
            // A cookie that is not a session's sends the same request
            // through the table, still logged out.
            let mut through_table = asked.clone();
            through_table.push(("cookie", "theme=dark"));
            let table = answer(&app, path, &through_table).await;
            assert_eq!(app.counted(FRONT_HITS).await, hits + 1, "{path} {asked:?}");
            assert_eq!(front, table, "{path} {asked:?}");
        }
    }
}

#[tokio::test]
async fn a_change_is_shown_at_once() {
    let app = spawn_app().await;
    let photo = app.upload_fixture("orientation/Landscape_1.jpg").await;
    app.settled(&photo.id).await;
    let page = format!("/photos/{}", photo.id);
    app.get(&page).await;
    let hits = app.counted(FRONT_HITS).await;
    app.get(&page).await;
    assert_eq!(app.counted(FRONT_HITS).await, hits + 1, "kept");

    app.edit_photo(&photo.id, serde_json::json!({"title": "Renamed just now"}))
        .await;
    let shown = app.get(&page).await.text().await.unwrap();
    assert!(shown.contains("Renamed just now"), "{shown}");
    assert_eq!(
        app.counted(FRONT_HITS).await,
        hits + 1,
        "not from the front"
    );

    // Made private, it is gone for the logged-out at once.
    app.edit_photo(&photo.id, serde_json::json!({"visibility": "private"}))
        .await;
    assert_eq!(app.get(&page).await.status(), StatusCode::NOT_FOUND);
    assert!(
        !app.get("/")
            .await
            .text()
            .await
            .unwrap()
            .contains(&*photo.id)
    );
}

/// Query parameters a page ignores make endless URLs of one page: the
/// front keeps it under one of them, the shortest, so that a flood of such
/// URLs cannot crowd the pages visitors ask for out of it.
#[tokio::test]
async fn a_page_is_kept_under_one_url_however_its_query_is_padded() {
    let app = spawn_app().await;
    let photo = app.upload_fixture("orientation/Landscape_1.jpg").await;
    app.settled(&photo.id).await;
    let from_front = async |path: &str| {
        let hits = app.counted(FRONT_HITS).await;
        let resp = app.get(path).await;
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        let body = resp.bytes().await.unwrap();
        (app.counted(FRONT_HITS).await > hits, body)
    };

    // Asked first with a padded query, the page is kept under that URL...
    assert!(!from_front("/?utm_source=mail").await.0);
    let (kept, padded) = from_front("/?utm_source=mail").await;
    assert!(kept, "kept under the only URL it was asked by");
    // ...until a shorter URL asks for it: then under that one alone.
    assert!(!from_front("/").await.0);
    let (kept, plain) = from_front("/").await;
    assert!(kept, "kept under the shortest URL");
    assert_eq!(plain, padded, "the same page");
    assert!(!from_front("/?utm_source=mail").await.0, "no longer kept");
    for n in 0..20 {
        let junk = format!("/?junk={n}");
        from_front(&junk).await;
        let (kept, body) = from_front(&junk).await;
        assert!(!kept, "{junk}: answered by the table");
        assert_eq!(body, plain, "{junk}");
    }
    assert!(from_front("/").await.0, "still kept");
}

#[tokio::test]
async fn the_logged_in_never_get_the_logged_out_page() {
    let app = spawn_app().await;
    let photo = app.upload_fixture("orientation/Landscape_1.jpg").await;
    app.settled(&photo.id).await;
    for _ in 0..2 {
        let page = app.get("/").await.text().await.unwrap();
        assert!(page.contains("Log in") && !page.contains("Log out"));
    }
    let (cookie, _) = app.session("alice").await;
    let page = app
        .get_with_cookie("/", &cookie)
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Log out"), "{page}");
    let page = app.get_as("/", &app.token).await.text().await.unwrap();
    assert!(!page.contains("href=\"/login\""), "{page}");
    let hits = app.counted(FRONT_HITS).await;
    app.get_with_cookie("/", &cookie).await;
    app.get_as("/", &app.token).await;
    assert_eq!(app.counted(FRONT_HITS).await, hits);
}

#[tokio::test]
async fn media_from_the_front_is_wrapped_as_the_table_wraps_it() {
    let app = spawn_app().await;
    let photo = app.upload_fixture("orientation/Landscape_1.jpg").await;
    let photo = app.settled(&photo.id).await;
    let url = &photo.variants[0].url;
    let served = |status: &str| {
        format!("scoot_http_requests_total{{route=\"/media/variants\",status=\"{status}\"}}")
    };
    let before = app.counted(&served("200")).await;
    let resp = app.get(url).await;
    assert_eq!(resp.status(), StatusCode::OK);
    for (name, value) in [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("cache-control", "public, max-age=31536000, immutable"),
    ] {
        assert_eq!(resp.headers()[name], value, "{name}");
    }
    assert!(resp.headers().contains_key("content-security-policy"));
    assert_eq!(app.counted(&served("200")).await, before + 1);
    let head = app.client.head(app.url(url)).send().await.unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(head.headers()[ETAG], resp.headers()[ETAG]);

    // A malformed key is the route's JSON 404; another method, the table's 405.
    let missing = app.get("/media/variants/zz/not-a-key.jpg").await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(missing.headers()["content-type"], "application/json");
    assert_eq!(app.counted(&served("404")).await, 1);
    let post = app.client.post(app.url(url)).send().await.unwrap();
    assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn plain_media_is_answered_whole_from_the_front_until_deleted() {
    const READY_HITS: &str = "scoot_cache_lookups_total{cache=\"front_media\",result=\"hit\"}";
    let app = spawn_app().await;
    let photo = app.upload_fixture("orientation/Landscape_1.jpg").await;
    let photo = app.settled(&photo.id).await;
    let variant = photo.variants[0].url.clone();
    for url in [variant.as_str(), photo.original_url.as_str()] {
        // The first plain GET goes through the handler and leaves its
        // answer with the front; the next is that answer, exactly.
        let first = answer(&app, url, &[]).await;
        assert_eq!(first.0, StatusCode::OK, "{url}");
        let hits = app.counted(READY_HITS).await;
        assert_eq!(answer(&app, url, &[]).await, first, "{url}");
        assert_eq!(app.counted(READY_HITS).await, hits + 1, "{url}");
        let head = app.client.head(app.url(url)).send().await.unwrap();
        assert_eq!(app.counted(READY_HITS).await, hits + 2, "{url}");
        let mut head_headers = head.headers().clone();
        head_headers.remove(reqwest::header::DATE);
        assert_eq!((head.status(), head_headers), (first.0, first.1.clone()));
        assert!(head.bytes().await.unwrap().is_empty());

        // Validators and ranges are the handler's to judge.
        let etag = first.1[ETAG].to_str().unwrap().to_owned();
        let revalidated = answer(&app, url, &[("if-none-match", etag.as_str())]).await;
        assert_eq!(revalidated.0, StatusCode::NOT_MODIFIED, "{url}");
        let part = answer(&app, url, &[("range", "bytes=0-9")]).await;
        assert_eq!(part.0, StatusCode::PARTIAL_CONTENT, "{url}");
        assert_eq!(part.2, first.2[..10], "{url}");
        assert_eq!(app.counted(READY_HITS).await, hits + 2, "{url}");
    }

    // Deleted for good, the blobs are gone at once, kept answers or not.
    let resp = app.delete_for_good(&photo.id, &app.token).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    for url in [variant.as_str(), photo.original_url.as_str()] {
        assert_eq!(
            answer(&app, url, &[]).await.0,
            StatusCode::NOT_FOUND,
            "{url}"
        );
    }
}

/// One answer read off a raw connection: its head's lines but the date,
/// and its body (none for `HEAD`).
async fn read_answer(
    stream: &mut tokio::net::TcpStream,
    pending: &mut Vec<u8>,
    head_only: bool,
) -> (Vec<String>, Vec<u8>) {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 16384];
    let end = loop {
        if let Some(at) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed mid-answer");
        pending.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8(pending.drain(..end).collect()).unwrap();
    let lines: Vec<String> = head
        .split("\r\n")
        .filter(|l| !l.is_empty() && !l.starts_with("date: "))
        .map(str::to_owned)
        .collect();
    let length = lines
        .iter()
        .find_map(|l| l.strip_prefix("content-length: "))
        .map_or(0, |n| n.parse::<usize>().unwrap());
    let length = if head_only { 0 } else { length };
    while pending.len() < length {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed mid-body");
        pending.extend_from_slice(&buf[..n]);
    }
    (lines, pending.drain(..length).collect())
}

/// `request` alone on a new connection, and its answer.
async fn asked_alone(app: &TestApp, request: &str) -> (Vec<String>, Vec<u8>) {
    use tokio::io::AsyncWriteExt;
    let addr = app.url("").trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    read_answer(&mut stream, &mut Vec::new(), request.starts_with("HEAD")).await
}

/// The express lane (`web::express`) answers what the front keeps on the
/// connection, without hyper: its answers are hyper's, byte for byte but
/// the date, and a request it does not take gets hyper's answer, in turn.
#[tokio::test]
async fn the_express_lane_answers_as_hyper_does() {
    const PAGE_HITS: &str = FRONT_HITS;
    const MEDIA_HITS: &str = "scoot_cache_lookups_total{cache=\"front_media\",result=\"hit\"}";
    const LANE: &str = "scoot_express_answers_total";
    let app = spawn_app().await;
    let photo = app.upload_fixture("orientation/Landscape_1.jpg").await;
    let photo = app.settled(&photo.id).await;
    let variant = photo.variants[0].url.clone();
    let etag = answer(&app, "/", &[]).await.1[ETAG]
        .to_str()
        .unwrap()
        .to_owned();
    answer(&app, &variant, &[]).await;
    let asks = [
        ("GET", "/", "", PAGE_HITS),
        ("GET", "/", "Accept-Encoding: gzip, br\r\n", PAGE_HITS),
        ("GET", "/", &format!("If-None-Match: {etag}\r\n"), PAGE_HITS),
        ("GET", &variant, "", MEDIA_HITS),
        ("HEAD", &variant, "Connection: keep-alive\r\n", MEDIA_HITS),
    ];
    for (method, path, extra, hits) in asks {
        let ask = format!("{method} {path} HTTP/1.1\r\nHost: x\r\n{extra}");
        // A body's length, even 0, is hyper's to read: the same request,
        // through hyper and the front's service.
        let before = app.counted(hits).await;
        let lane_before = app.counted(LANE).await;
        let by_hyper = asked_alone(&app, &format!("{ask}Content-Length: 0\r\n\r\n")).await;
        assert_eq!(app.counted(LANE).await, lane_before, "hyper's: {ask}");
        let by_lane = asked_alone(&app, &format!("{ask}\r\n")).await;
        assert_eq!(
            app.counted(LANE).await,
            lane_before + 1,
            "the lane's: {ask}"
        );
        assert_eq!(app.counted(hits).await, before + 2, "{ask}");
        assert_eq!(by_lane, by_hyper, "{ask}");
        let status = &by_lane.0[0];
        assert!(status == "HTTP/1.1 200 OK" || status == "HTTP/1.1 304 Not Modified");
    }

    // Pipelined: two kept answers, then one only hyper gives, then a kept
    // one again, now through hyper; each in turn.
    use tokio::io::AsyncWriteExt;
    let addr = app.url("").trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let lane_before = app.counted(LANE).await;
    let paths = ["/", variant.as_str(), "/healthz", "/"];
    let asked: String = paths
        .iter()
        .map(|p| format!("GET {p} HTTP/1.1\r\nHost: x\r\n\r\n"))
        .collect();
    stream.write_all(asked.as_bytes()).await.unwrap();
    let mut pending = Vec::new();
    let mut bodies = Vec::new();
    for path in paths {
        let (lines, body) = read_answer(&mut stream, &mut pending, false).await;
        assert_eq!(lines[0], "HTTP/1.1 200 OK", "{path}");
        bodies.push(body);
    }
    assert_eq!(bodies[0], bodies[3]);
    assert_eq!(bodies[2], b"ok\n");
    assert!(bodies[1].starts_with(&[0xFF, 0xD8]), "a JPEG");
    // The lane answered the first two; hyper the rest, kept or not.
    assert_eq!(app.counted(LANE).await, lane_before + 2);
}
