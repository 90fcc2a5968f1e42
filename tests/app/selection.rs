//! Many photos at once through the API: who sees them, the trash, an
//! album (existing or new). One photo the asker may not change refuses
//! the whole request, and nothing changes.

use reqwest::{Method, StatusCode};
use scoot::domain::Visibility;
use scoot::web::albums_api::AlbumJson;
use scoot::web::api::PhotoJson;
use serde_json::{Value, json};

use crate::helpers::{TestApp, create_user, file_form, png, spawn_app};

async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Value,
) -> reqwest::Response {
    app.client
        .request(method, app.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn upload(app: &TestApp, token: &str, shade: u8) -> PhotoJson {
    let resp = app
        .upload_form(file_form("p.png", png(12, 8, [shade, 3, 4])), Some(token))
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    resp.json().await.unwrap()
}

#[tokio::test]
async fn a_selection_changes_together_or_not_at_all() {
    let app = spawn_app().await;
    let bob = create_user(&app.config, "bob", false).await;
    let mut mine = Vec::new();
    for shade in 0..4 {
        mine.push(upload(&app, &app.token, shade).await.id);
    }
    let bobs = upload(&app, &bob, 99).await.id;

    // Who sees them: all at once.
    let resp = send(
        &app,
        Method::PATCH,
        "/api/photos",
        &app.token,
        json!({"ids": mine, "visibility": "unlisted"}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    let changed: Vec<PhotoJson> = serde_json::from_value(body["photos"].clone()).unwrap();
    assert_eq!(changed.len(), 4);
    assert!(
        changed
            .iter()
            .all(|p| p.visibility == Visibility::Unlisted && p.share_url.is_some())
    );

    // One of Bob's among them: refused, and none of alice's changes.
    let mixed = json!({"ids": [mine[0], bobs], "visibility": "private"});
    let resp = send(&app, Method::PATCH, "/api/photos", &app.token, mixed).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        app.photo(&mine[0]).await.unwrap().visibility,
        Visibility::Unlisted
    );
    // Bad bodies are 400s that change nothing.
    for bad in [
        json!({"ids": [], "visibility": "private"}),
        json!({"ids": ["nope"], "visibility": "private"}),
        json!({"ids": [mine[0]], "visibility": "everyone"}),
        json!({"ids": [mine[0]]}),
    ] {
        let resp = send(&app, Method::PATCH, "/api/photos", &app.token, bad.clone()).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    let too_many: Vec<String> = (0..1001).map(|_| mine[0].clone()).collect();
    let resp = send(
        &app,
        Method::PATCH,
        "/api/photos",
        &app.token,
        json!({"ids": too_many, "visibility": "private"}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);

    // A new album of three, in the order given, then one more added.
    let resp = send(
        &app,
        Method::POST,
        "/api/albums",
        &app.token,
        json!({"title": "Picked", "visibility": "unlisted", "photos": [mine[2], mine[0], mine[1]]}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let album: AlbumJson = resp.json().await.unwrap();
    assert!(album.mine && album.share_url.is_some());
    let path = format!("/api/albums/{}/photos", album.id);
    let resp = send(
        &app,
        Method::POST,
        &path,
        &app.token,
        json!({"ids": [mine[0], mine[3]]}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.json::<Value>().await.unwrap()["added"], 1);
    let full: AlbumJson = app
        .get_as(&format!("/api/albums/{}", album.id), &app.token)
        .await
        .json()
        .await
        .unwrap();
    let ids: Vec<String> = full.photos.unwrap().into_iter().map(|p| p.id).collect();
    assert_eq!(ids, [mine[2].as_str(), &mine[0], &mine[1], &mine[3]]);
    // Bob's photo goes in no album of alice's, nor into a new one.
    let resp = send(
        &app,
        Method::POST,
        &path,
        &app.token,
        json!({"ids": [bobs]}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let resp = send(
        &app,
        Method::POST,
        "/api/albums",
        &app.token,
        json!({"title": "X", "photos": [mine[0], bobs]}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let albums: Value = app
        .get_as("/api/albums", &app.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        albums["albums"].as_array().unwrap().len(),
        1,
        "no album was made"
    );
    // Nor into Bob's album.
    let resp = send(
        &app,
        Method::POST,
        "/api/albums",
        &bob,
        json!({"title": "Bob's", "visibility": "public"}),
    )
    .await;
    let bobs_album: AlbumJson = resp.json().await.unwrap();
    assert!(bobs_album.mine);
    let resp = send(
        &app,
        Method::POST,
        &format!("/api/albums/{}/photos", bobs_album.id),
        &app.token,
        json!({"ids": [mine[0]]}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);

    // To the trash, together.
    let resp = send(
        &app,
        Method::POST,
        "/api/trash",
        &app.token,
        json!({"ids": [mine[1], mine[3]]}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.json::<Value>().await.unwrap()["trashed"], 2);
    assert!(app.photo(&mine[1]).await.is_none() && app.photo(&mine[3]).await.is_none());
    let resp = send(
        &app,
        Method::POST,
        "/api/trash",
        &bob,
        json!({"ids": [mine[0]]}),
    )
    .await;
    assert_eq!(
        resp.status(),
        StatusCode::NOT_FOUND,
        "unlisted: not bob's to see by id"
    );
    let resp = app
        .client
        .post(app.url("/api/trash"))
        .json(&json!({"ids": [mine[0]]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(app.photo(&mine[0]).await.is_some());
    app.shutdown().await;
}

#[tokio::test]
async fn uploads_go_straight_into_an_album_of_the_uploaders() {
    let app = spawn_app().await;
    let bob = create_user(&app.config, "bob", false).await;
    let new_album = |token: String, title: &'static str| {
        let app = &app;
        async move {
            let resp = send(
                app,
                Method::POST,
                "/api/albums",
                &token,
                json!({"title": title}),
            )
            .await;
            resp.json::<AlbumJson>().await.unwrap()
        }
    };
    let mine = new_album(app.token.clone(), "Mine").await;
    let bobs = new_album(bob.clone(), "Bob's").await;

    let form = file_form("a.png", png(10, 10, [1, 1, 1])).text("album", mine.id.clone());
    let resp = app.upload_form(form, Some(&app.token)).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let photo: PhotoJson = resp.json().await.unwrap();
    let album: AlbumJson = app
        .get_as(&format!("/api/albums/{}", mine.id), &app.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(album.photos.unwrap()[0].id, photo.id);

    // Into someone else's album: refused before anything is kept.
    let form = file_form("b.png", png(11, 10, [2, 2, 2])).text("album", bobs.id.clone());
    let resp = app.upload_form(form, Some(&app.token)).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let list: scoot::web::api::PhotoList = app
        .get_as("/api/photos", &app.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list.photos.len(), 1, "nothing was kept");
    let form = file_form("c.png", png(12, 10, [3, 3, 3])).text("album", "not-an-album");
    assert_eq!(
        app.upload_form(form, Some(&app.token)).await.status(),
        StatusCode::BAD_REQUEST
    );

    // The page says where the photos go, and a page form lands in the album.
    let page = app
        .get_as(&format!("/upload?album={}", mine.id), &app.token)
        .await;
    assert_eq!(page.status(), StatusCode::OK);
    let page = page.text().await.unwrap();
    assert!(page.contains("Upload photos to “Mine”"), "{page}");
    assert!(page.contains(&format!(r#"name="album" value="{}""#, mine.id)));
    let other = app
        .get_as(&format!("/upload?album={}", bobs.id), &app.token)
        .await;
    assert_eq!(other.status(), StatusCode::FORBIDDEN);
    app.shutdown().await;
}
