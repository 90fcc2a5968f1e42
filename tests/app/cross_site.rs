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
    let page = app.get_with_cookie("/upload", &cookie).await;
    assert_eq!(page.status(), StatusCode::OK);

    // The site's own forms, with its own origin, work.
    let token = app.form_token(&cookie).await;
    let own = app
        .client
        .post(app.url("/albums"))
        .header("cookie", &cookie)
        .header("origin", app.url(""))
        .header("sec-fetch-site", "same-origin")
        .form(&[
            ("form_token", token.as_str()),
            ("title", "mine"),
            ("visibility", "private"),
        ])
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

/// Every form of a session carries that session's token, and a post
/// without it, or with another session's, changes nothing, even when it
/// claims the site's own origin: what a same-site attacker (a sibling
/// subdomain, a browser that sends no `Origin`) cannot read, they cannot
/// send.
#[tokio::test]
async fn a_sessions_forms_need_the_sessions_token() {
    let app = spawn_app().await;
    let photo = app.upload_bytes("mine.png", png(16, 16, [9, 9, 9])).await;
    let id = photo.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let album = app
        .client
        .post(app.url("/api/albums"))
        .bearer_auth(&app.token)
        .json(&serde_json::json!({"title": "trip"}))
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let put = app
        .client
        .put(app.url(&format!("/api/albums/{album}/photos/{id}")))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert!(put.status().is_success());

    let (cookie, token) = app.session("alice").await;
    let (other_cookie, other_token) = app.session("alice").await;
    assert_ne!(token, other_token, "one token per session");

    // Every form of every page carries the token of the session it is
    // shown to (pages are cached per session, not per user).
    for (cookie, token) in [(&cookie, &token), (&other_cookie, &other_token)] {
        for path in [
            "/".to_owned(),
            format!("/photos/{id}"),
            "/albums".to_owned(),
            format!("/albums/{album}"),
            "/upload".to_owned(),
            "/admin".to_owned(),
        ] {
            let page = app.get_with_cookie(&path, cookie).await;
            let page = page.text().await.unwrap();
            let forms = page.matches(r#"<form method="post""#).count();
            let tokens: Vec<&str> = page
                .split(r#"name="form_token" value=""#)
                .skip(1)
                .map(|rest| rest.split('"').next().unwrap())
                .collect();
            assert!(forms > 0, "{path}");
            assert_eq!(tokens.len(), forms, "{path}: a token in every form");
            assert!(tokens.iter().all(|t| t == token), "{path}: {tokens:?}");
        }
    }

    let post = |path: &str| {
        app.client
            .post(app.url(path))
            .header("cookie", &cookie)
            .header("origin", app.url(""))
            .header("sec-fetch-site", "same-origin")
    };
    let file = || Part::bytes(png(8, 8, [1, 2, 3])).file_name("x.png");
    for wrong in [None, Some(""), Some(other_token.as_str())] {
        let with = |fields: &[(&'static str, &'static str)]| {
            let mut all: Vec<(&str, &str)> = fields.to_vec();
            match wrong {
                Some(t) => all.push(("form_token", t)),
                // Never an empty body, which is refused for its lack of a
                // Content-Length before the token is looked at.
                None => all.push(("note", "no token")),
            }
            all
        };
        let multipart = || match wrong {
            Some(t) => Form::new()
                .text("form_token", t.to_owned())
                .part("file", file()),
            None => Form::new().part("file", file()),
        };
        let attempts = [
            post(&format!("/photos/{id}/edit")).form(&with(&[
                ("title", "pwned"),
                ("caption", ""),
                ("visibility", "public"),
            ])),
            post(&format!("/photos/{id}/delete")).form(&with(&[])),
            post("/albums").form(&with(&[("title", "evil"), ("visibility", "public")])),
            post(&format!("/albums/{album}/delete")).form(&with(&[])),
            post("/upload").multipart(multipart()),
            post("/api/photos").multipart(multipart()),
            post("/admin/tokens").form(&with(&[("label", "evil"), ("expires_in_days", "0")])),
            post("/logout").form(&with(&[])),
        ];
        for attempt in attempts {
            let resp = attempt.send().await.unwrap();
            let url = resp.url().to_string();
            assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{url} with {wrong:?}");
        }
    }
    // The token must come before the file: a file ahead of it is refused
    // before a byte of it is kept.
    let late = post("/api/photos")
        .multipart(
            Form::new()
                .part("file", file())
                .text("form_token", token.clone()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(late.status(), StatusCode::FORBIDDEN);

    let kept = app.photo(&id).await.expect("the photo is still there");
    assert_ne!(kept.title, "pwned");
    let count = |path: &'static str, key: &'static str| {
        let app = &app;
        async move {
            app.get_as(path, &app.token)
                .await
                .json::<serde_json::Value>()
                .await
                .unwrap()[key]
                .as_array()
                .unwrap()
                .len()
        }
    };
    assert_eq!(count("/api/photos", "photos").await, 1);
    assert_eq!(count("/api/albums", "albums").await, 1);
    let admin = app.get_as("/admin", &app.token).await.text().await.unwrap();
    assert!(!admin.contains("evil"), "no token was made");

    // With the session's own token the same forms work.
    let edited = post(&format!("/photos/{id}/edit"))
        .form(&[
            ("form_token", token.as_str()),
            ("title", "mine"),
            ("caption", ""),
            ("visibility", "public"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(edited.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.photo(&id).await.unwrap().title, "mine");
    let uploaded = post("/api/photos")
        .multipart(
            Form::new()
                .text("form_token", token.clone())
                .part("file", file()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(uploaded.status(), StatusCode::CREATED);
    let out = post("/logout")
        .form(&[("form_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    let after = app.get_with_cookie("/upload", &cookie).await;
    assert_eq!(after.status(), StatusCode::SEE_OTHER, "logged out");
    app.shutdown().await;
}
