//! Cross-site requests with the visitor's cookie change nothing (CSRF):
//! every form and API route, refused by `Origin` or `Sec-Fetch-Site`,
//! while the site's own requests and bearer-token clients go through.

use reqwest::header::{CONTENT_TYPE, SET_COOKIE};
use reqwest::multipart::{Form, Part};
use reqwest::{Method, StatusCode};

use crate::helpers::{TestApp, png, spawn_app};

async fn log_in(app: &TestApp) -> String {
    let resp = app.log_in("alice").await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let set = resp.headers()[SET_COOKIE].to_str().unwrap();
    set.split(';').next().unwrap().to_owned()
}

fn upload_form() -> Form {
    Form::new().part("file", Part::bytes(png(8, 8, [1, 2, 3])).file_name("x.png"))
}

#[tokio::test]
async fn cross_site_posts_with_the_cookie_change_nothing() {
    let app = spawn_app().await;
    let photo = app.upload_bytes("mine.png", png(16, 16, [9, 9, 9])).await;
    assert_eq!(photo.status(), StatusCode::CREATED);
    let id = photo.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let cookie = log_in(&app).await;
    let albums_before = app
        .get_as("/api/albums", &app.token)
        .await
        .text()
        .await
        .unwrap();

    // Each attack twice: as an old browser (Origin only) and a new one.
    let attackers: [&[(&str, &str)]; 2] = [
        &[("origin", "http://evil.example")],
        &[
            ("origin", "http://evil.example"),
            ("sec-fetch-site", "cross-site"),
        ],
    ];
    for headers in attackers {
        let send = |method: Method, path: &str| {
            let mut req = app
                .client
                .request(method, app.url(path))
                .header("cookie", &cookie);
            for (name, value) in headers {
                req = req.header(*name, *value);
            }
            req
        };
        let attempts = [
            send(Method::POST, &format!("/photos/{id}/edit")).form(&[
                ("title", "pwned"),
                ("caption", ""),
                ("visibility", "public"),
            ]),
            send(Method::POST, &format!("/photos/{id}/delete")),
            send(Method::POST, "/albums")
                .form(&[("title", "evil album"), ("visibility", "public")]),
            send(Method::POST, "/upload").multipart(upload_form()),
            send(Method::POST, "/api/photos").multipart(upload_form()),
            send(Method::POST, "/api/albums")
                .header(CONTENT_TYPE, "text/plain")
                .body(r#"{"title":"evil album"}"#),
            send(Method::DELETE, &format!("/api/photos/{id}")),
            send(Method::POST, "/logout"),
        ];
        for attempt in attempts {
            let resp = attempt.send().await.unwrap();
            let url = resp.url().to_string();
            assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{url}");
        }
    }
    let kept = app.photo(&id).await.expect("the photo is still there");
    assert_ne!(kept.title, "pwned");
    assert_eq!(
        app.get_as("/api/albums", &app.token)
            .await
            .text()
            .await
            .unwrap(),
        albums_before
    );
    let photos = app
        .get_as("/api/photos", &app.token)
        .await
        .json::<serde_json::Value>()
        .await
        .unwrap();
    assert_eq!(photos["photos"].as_array().unwrap().len(), 1, "{photos}");
    // The session survived the cross-site logout.
    let page = app
        .client
        .get(app.url("/upload"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);

    // The site's own forms, with its own origin, work.
    let own = app
        .client
        .post(app.url("/albums"))
        .header("cookie", &cookie)
        .header("origin", app.url(""))
        .header("sec-fetch-site", "same-origin")
        .form(&[("title", "mine"), ("visibility", "private")])
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), StatusCode::SEE_OTHER);
    app.shutdown().await;
}

#[tokio::test]
async fn json_bodies_must_say_they_are_json() {
    let app = spawn_app().await;
    let plain = app
        .client
        .post(app.url("/api/albums"))
        .bearer_auth(&app.token)
        .header(CONTENT_TYPE, "text/plain")
        .body(r#"{"title":"sneaky"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let reason = plain.json::<serde_json::Value>().await.unwrap();
    assert!(
        reason["error"]
            .as_str()
            .unwrap()
            .contains("application/json")
    );
    let albums = app
        .get_as("/api/albums", &app.token)
        .await
        .json::<serde_json::Value>()
        .await
        .unwrap();
    assert!(!albums.to_string().contains("sneaky"), "{albums}");

    // A bearer-token client from anywhere is not a CSRF victim.
    let json = app
        .client
        .post(app.url("/api/albums"))
        .bearer_auth(&app.token)
        .header("origin", "http://elsewhere.example")
        .json(&serde_json::json!({"title": "fine"}))
        .send()
        .await
        .unwrap();
    assert_eq!(json.status(), StatusCode::CREATED);
    app.shutdown().await;
}
