//! Malformed requests get a 400, 413 or 415 that says what is wrong (with a
//! JSON reason on the API), never a 405 borrowed from another route.

use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, StatusCode};

use crate::helpers::{png, spawn_app};

/// Malformed requests get the status that says what is wrong, with a JSON
/// reason on the API, never a 405 from a route that was not meant.
#[tokio::test]
async fn malformed_requests_say_what_is_wrong() {
    let app = spawn_app().await;
    let photo = app.upload_bytes("p.png", png(8, 8, [4, 4, 4])).await;
    let id = photo.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let api = |method: Method, path: &str| {
        app.client
            .request(method, app.url(path))
            .bearer_auth(&app.token)
    };
    let cases = [
        (
            "negative limit",
            api(Method::GET, "/api/photos?limit=-1"),
            StatusCode::BAD_REQUEST,
        ),
        (
            "a PATCH body over 64 KiB",
            api(Method::PATCH, &format!("/api/photos/{id}"))
                .header(CONTENT_TYPE, "application/json")
                .body(format!(r#"{{"title":"{}"}}"#, "x".repeat(70_000))),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            "a urlencoded upload",
            api(Method::POST, "/api/photos").form(&[("file", "not a file")]),
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (what, req, status) in cases {
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), status, "{what}");
        let body = resp.json::<serde_json::Value>().await.unwrap();
        assert!(body["error"].is_string(), "{what}: {body}");
    }
    let login = |fields: Vec<(&'static str, String)>| {
        app.client.post(app.url("/login")).form(&fields).send()
    };
    let missing = login(vec![("name", "alice".into())]).await.unwrap();
    assert_eq!(missing.status(), StatusCode::BAD_REQUEST, "a missing field");
    let huge = login(vec![
        ("name", "alice".into()),
        ("password", "p".repeat(20_000)),
    ])
    .await
    .unwrap();
    assert_eq!(huge.status(), StatusCode::PAYLOAD_TOO_LARGE, "a 20 KB form");
    // A wrong method on a known path is still 405.
    let wrong = api(Method::PUT, "/api/photos").send().await.unwrap();
    assert_eq!(wrong.status(), StatusCode::METHOD_NOT_ALLOWED);
    app.shutdown().await;
}

/// An error page knows who is looking: logged in, its header names them
/// and offers "Log out", not "Log in"; logged out, it offers "Log in".
#[tokio::test]
async fn error_pages_show_who_is_logged_in() {
    let app = spawn_app().await;
    let (cookie, _) = app.session("alice").await;
    for path in ["/no-such-page", "/photos/0123456789abcdef"] {
        let page = app.get_with_cookie(path, &cookie).await;
        assert_eq!(page.status(), StatusCode::NOT_FOUND, "{path}");
        let page = page.text().await.unwrap();
        assert!(
            page.contains(r#"<span class="who">alice</span>"#),
            "{path}: {page}"
        );
        assert!(page.contains("Log out"), "{path}: {page}");
        assert!(!page.contains(r#"href="/login""#), "{path}: {page}");
    }
    let page = app.get("/no-such-page").await.text().await.unwrap();
    assert!(page.contains(r#"href="/login""#), "{page}");
    assert!(!page.contains("alice"), "{page}");
}
