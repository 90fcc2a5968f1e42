//! What a viewer may not see does not exist for them (issue 14): deleting
//! or changing another user's private photo answers exactly as a missing
//! id does, and a public album never names a cover the viewer may not see.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, create_user, file_form, png, spawn_app};

/// Uploads a photo; its id and the content hash its media URLs carry.
async fn upload(app: &TestApp, shade: u8, visibility: &str) -> (String, String) {
    let form =
        file_form("p.png", png(16, 12, [shade, 40, 90])).text("visibility", visibility.to_owned());
    let resp = app.upload_form(form, Some(&app.token)).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let photo = resp.json::<Value>().await.unwrap();
    let original = photo["original_url"].as_str().unwrap();
    let hash = original
        .rsplit('/')
        .next()
        .unwrap()
        .split('.')
        .next()
        .unwrap();
    (photo["id"].as_str().unwrap().to_owned(), hash.to_owned())
}

async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, String) {
    let mut req = app.client.request(method, app.url(path));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await.unwrap();
    (resp.status(), resp.text().await.unwrap())
}

#[tokio::test]
async fn another_users_private_photo_answers_as_a_missing_one() {
    let app = spawn_app().await;
    let bob = create_user(&app.config, "bob", false).await;
    let (private, _) = upload(&app, 10, "private").await;
    let missing = "0123456789abcdef";
    for (method, body) in [
        (Method::DELETE, None),
        (Method::PATCH, Some(json!({"title": "mine now"}))),
        (Method::GET, None),
    ] {
        let hidden = send(
            &app,
            method.clone(),
            &format!("/api/photos/{private}"),
            Some(&bob),
            body.clone(),
        )
        .await;
        let absent = send(
            &app,
            method.clone(),
            &format!("/api/photos/{missing}"),
            Some(&bob),
            body,
        )
        .await;
        assert_eq!(
            hidden.0,
            StatusCode::NOT_FOUND,
            "{method} of a hidden photo"
        );
        assert_eq!(hidden, absent, "{method}: hidden and missing differ");
    }
    // Still there for its owner.
    assert!(app.photo(&private).await.is_some());
}

#[tokio::test]
async fn a_public_album_never_names_a_cover_the_viewer_may_not_see() {
    let app = spawn_app().await;
    let bob = create_user(&app.config, "bob", false).await;
    let (hidden, hidden_bytes) = upload(&app, 20, "private").await;
    let (shown, shown_bytes) = upload(&app, 30, "public").await;
    app.settled(&hidden).await;
    app.settled(&shown).await;
    let (status, body) = send(
        &app,
        Method::POST,
        "/api/albums",
        Some(&app.token),
        Some(json!({"title": "Trip", "visibility": "public"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let album: Value = serde_json::from_str(&body).unwrap();
    let path = format!("/api/albums/{}", album["id"].as_str().unwrap());
    for photo in [&hidden, &shown] {
        let (status, _) = send(
            &app,
            Method::PUT,
            &format!("{path}/photos/{photo}"),
            Some(&app.token),
            None,
        )
        .await;
        assert!(status.is_success(), "{status}");
    }
    let (status, _) = send(
        &app,
        Method::PATCH,
        &path,
        Some(&app.token),
        Some(json!({"cover": hidden})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    // The owner sees the cover they chose.
    let (_, mine) = send(&app, Method::GET, &path, Some(&app.token), None).await;
    assert_eq!(
        serde_json::from_str::<Value>(&mine).unwrap()["cover"],
        json!(hidden)
    );

    // Anyone else: no chosen cover in the API, the first photo they may see
    // on pages; the private photo in no answer.
    for token in [None, Some(bob.as_str())] {
        let (_, one) = send(&app, Method::GET, &path, token, None).await;
        assert!(!one.contains(&hidden), "{one}");
        assert_eq!(
            serde_json::from_str::<Value>(&one).unwrap()["cover"],
            Value::Null
        );
        let (_, list) = send(&app, Method::GET, "/api/albums", token, None).await;
        assert!(!list.contains(&hidden), "{list}");
        let list: Value = serde_json::from_str(&list).unwrap();
        assert_eq!(list["albums"][0]["cover"], Value::Null);
        for page in [
            "/albums",
            &format!("/albums/{}", album["id"].as_str().unwrap()),
        ] {
            let (status, html) = send(&app, Method::GET, page, token, None).await;
            assert_eq!(status, StatusCode::OK);
            assert!(!html.contains(&hidden), "{page} names the private cover");
            assert!(
                !html.contains(&hidden_bytes),
                "{page} shows the private cover"
            );
            assert!(
                html.contains(&shown_bytes),
                "{page} shows the visible photo"
            );
        }
    }
}
