//! Arbitrary input to every hand-written parser a request reaches (issue
//! 14): cursors and limits, ids in paths, `Accept`, `Accept-Encoding` and
//! the headers of a multipart upload. Whatever comes, the answer is a
//! success or a 4xx — never a 5xx, never a dropped connection (a panic) —
//! and the server keeps answering.
//!
//! Inputs are drawn with proptest; a failure names the input that caused
//! it.

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use reqwest::header::{ACCEPT, ACCEPT_ENCODING, CONTENT_TYPE, HeaderValue};
use reqwest::{Response, StatusCode};

use crate::helpers::{TestApp, png, spawn_app};

const CASES: usize = 150;

/// `n` values drawn from `strategy`.
fn draw<S: Strategy>(strategy: S, n: usize) -> Vec<S::Value> {
    let mut runner = TestRunner::new(Config::with_cases(n as u32));
    (0..n)
        .map(|_| strategy.new_tree(&mut runner).unwrap().current())
        .collect()
}

/// Printable text and the odd byte past ASCII, as a header value may hold.
fn header_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop_oneof![8 => 0x20u8..0x7f, 1 => 0x80u8..=0xff], 0..120)
}

/// Text shaped like a list of media types or codings with weights, with
/// odd pieces mixed in.
fn weighted_list(names: &'static [&'static str]) -> impl Strategy<Value = String> {
    let name = prop_oneof![
        prop::sample::select(names).prop_map(str::to_owned),
        "[a-z*/+.-]{0,12}",
    ];
    let weight = prop_oneof![
        Just(String::new()),
        "(;q=[0-9.]{0,6})",
        "(; ?[a-zA-Z]{0,3}=?[^,;]{0,8})",
    ];
    prop::collection::vec((name, weight), 0..6).prop_map(|items| {
        items
            .into_iter()
            .map(|(n, w)| format!("{n}{w}"))
            .collect::<Vec<_>>()
            .join(", ")
    })
}

async fn expect_no_server_error(what: &str, sent: Result<Response, reqwest::Error>) -> StatusCode {
    let resp = sent.unwrap_or_else(|e| panic!("{what}: no answer: {e}"));
    let status = resp.status();
    assert!(
        status.is_success() || status.is_client_error() || status == StatusCode::NOT_MODIFIED,
        "{what}: {status}"
    );
    resp.bytes()
        .await
        .unwrap_or_else(|e| panic!("{what}: body cut off: {e}"));
    status
}

async fn uploaded(app: &TestApp) -> String {
    let photo = app.upload_bytes("p.png", png(24, 16, [9, 99, 199])).await;
    let photo: serde_json::Value = photo.json().await.unwrap();
    let id = photo["id"].as_str().unwrap().to_owned();
    app.settled(&id).await;
    id
}

#[tokio::test]
async fn arbitrary_cursors_limits_and_ids_get_a_4xx_at_worst() {
    let app = spawn_app().await;
    uploaded(&app).await;
    let cursor = prop_oneof![
        "\\PC{0,40}",
        "-?[0-9]{0,25}-[0-9a-f]{0,20}",
        "[0-9]{13}-[0-9a-f]{16}",
    ];
    for (cursor, limit) in draw((cursor, "\\PC{0,6}|-?[0-9]{1,12}"), CASES) {
        let mut url = reqwest::Url::parse(&app.url("/api/photos")).unwrap();
        url.query_pairs_mut()
            .append_pair("cursor", &cursor)
            .append_pair("limit", &limit);
        let sent = app.client.get(url).send().await;
        expect_no_server_error(&format!("cursor {cursor:?}, limit {limit:?}"), sent).await;
    }
    // (Not "." or "..": a client resolves those before sending.)
    let id = prop_oneof!["\\PC{1,40}", "[0-9a-f]{15,17}", "[0-9A-F]{16}"]
        .prop_filter("a dot segment", |s| s != "." && s != "..");
    let templates = [
        "/api/photos/{}",
        "/photos/{}",
        "/photos/{}/display",
        "/albums/{}",
        "/api/albums/{}",
        "/s/{}",
        "/a/{}",
    ];
    for id in draw(id, CASES) {
        for template in templates {
            let mut url = reqwest::Url::parse(&app.base).unwrap();
            {
                let mut segments = url.path_segments_mut().unwrap();
                for part in template.trim_start_matches('/').split('/') {
                    segments.push(if part == "{}" { &id } else { part });
                }
            }
            let sent = app.client.get(url).bearer_auth(&app.token).send().await;
            let status = expect_no_server_error(&format!("{template} with {id:?}"), sent).await;
            assert!(!status.is_success(), "{template} with {id:?}: {status}");
        }
    }
}

#[tokio::test]
async fn arbitrary_accept_and_accept_encoding_are_answered() {
    let app = spawn_app().await;
    let id = uploaded(&app).await;
    let negotiated = format!("/photos/{id}/display");
    let accept = prop_oneof![
        weighted_list(&[
            "image/webp",
            "image/avif",
            "image/*",
            "*/*",
            "text/html",
            "application/json"
        ]),
        header_bytes().prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ];
    let encoding = prop_oneof![
        weighted_list(&["br", "gzip", "deflate", "identity", "*", "zstd"]),
        header_bytes().prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ];
    let raw = header_bytes();
    for ((accept, encoding), raw) in draw(((accept, encoding), raw), CASES) {
        let (Ok(accept), Ok(encoding)) = (
            HeaderValue::from_str(&accept),
            HeaderValue::from_str(&encoding),
        ) else {
            continue;
        };
        let raw = HeaderValue::from_bytes(&raw).unwrap();
        for path in ["/", negotiated.as_str(), "/api/photos", "/albums"] {
            for (accept, encoding) in [(&accept, &encoding), (&raw, &raw)] {
                let sent = app
                    .client
                    .get(app.url(path))
                    .header(ACCEPT, accept.clone())
                    .header(ACCEPT_ENCODING, encoding.clone())
                    .send()
                    .await;
                let what = format!("{path} with Accept {accept:?}, Accept-Encoding {encoding:?}");
                expect_no_server_error(&what, sent).await;
            }
        }
    }
}

#[tokio::test]
async fn arbitrary_multipart_headers_are_refused_cleanly() {
    let app = spawn_app().await;
    let image = png(8, 8, [1, 2, 3]);
    let boundary = "[ -~]{0,80}";
    let disposition = prop_oneof![
        "form-data; name=\"file\"; filename=\"[ -~]{0,30}\"",
        "form-data; name=[ -~]{0,20}",
        "[ -~]{0,60}",
    ];
    for ((boundary, disposition), content_type) in
        draw(((boundary, disposition), header_bytes()), CASES)
    {
        let Ok(part_disposition) = HeaderValue::from_str(&disposition) else {
            continue;
        };
        // A body with a well-formed frame and odd part headers …
        let mut body = format!(
            "--XyZ\r\nContent-Disposition: {}\r\nContent-Type: image/png\r\n\r\n",
            part_disposition.to_str().unwrap()
        )
        .into_bytes();
        body.extend_from_slice(&image);
        body.extend_from_slice(b"\r\n--XyZ--\r\n");
        let sent = app
            .client
            .post(app.url("/api/photos"))
            .bearer_auth(&app.token)
            .header(CONTENT_TYPE, "multipart/form-data; boundary=XyZ")
            .body(body.clone())
            .send()
            .await;
        expect_no_server_error(&format!("part headed {disposition:?}"), sent).await;
        // … and the same body under an odd boundary or content type.
        for content_type in [
            HeaderValue::from_str(&format!("multipart/form-data; boundary={boundary}")).ok(),
            HeaderValue::from_bytes(&content_type).ok(),
        ]
        .into_iter()
        .flatten()
        {
            let sent = app
                .client
                .post(app.url("/api/photos"))
                .bearer_auth(&app.token)
                .header(CONTENT_TYPE, content_type.clone())
                .body(body.clone())
                .send()
                .await;
            expect_no_server_error(&format!("Content-Type {content_type:?}"), sent).await;
        }
    }
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
}
