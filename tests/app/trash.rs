//! The trash: a deleted photo is hidden from everyone at once, comes back
//! whole when restored, and leaves the store only when it is deleted for
//! good — by its owner, by emptying the trash, or by the sweep once
//! `trash.days` have passed.

use reqwest::{Method, StatusCode};
use scoot::domain::now_millis;
use scoot::web::albums_api::AlbumJson;
use scoot::web::api::PhotoJson;
use scoot::web::json::TrashList;
use serde_json::json;

use crate::helpers::{TestApp, create_user, file_form, png, spawn_app, spawn_app_with};

async fn send(app: &TestApp, method: Method, path: &str, token: &str) -> reqwest::Response {
    app.client
        .request(method, app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn trash_of(app: &TestApp, token: &str) -> TrashList {
    let resp = send(app, Method::GET, "/api/trash", token).await;
    assert_eq!(resp.status(), StatusCode::OK);
    resp.json().await.unwrap()
}

async fn upload(app: &TestApp, name: &str, shade: u8, visibility: &str) -> PhotoJson {
    let form =
        file_form(name, png(24, 16, [shade, 90, 40])).text("visibility", visibility.to_owned());
    let resp = app.upload_form(form, Some(&app.token)).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let photo: PhotoJson = resp.json().await.unwrap();
    app.settled(&photo.id).await
}

#[tokio::test]
async fn a_deleted_photo_is_hidden_at_once_and_restored_whole() {
    let app = spawn_app().await;
    let bob = create_user(&app.config, "bob", false).await;
    let photo = upload(&app, "beach.png", 10, "unlisted").await;
    let link = photo.share_url.clone().expect("the owner sees the link");
    let album: AlbumJson = app
        .client
        .post(app.url("/api/albums"))
        .bearer_auth(&app.token)
        .json(&json!({"title": "Trip", "visibility": "unlisted"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let put = format!("/api/albums/{}/photos/{}", album.id, photo.id);
    assert_eq!(
        send(&app, Method::PUT, &put, &app.token).await.status(),
        StatusCode::CREATED
    );
    let album_link = album.share_url.clone().unwrap();
    let tile_href = format!("{album_link}/{}", photo.id);
    assert!(
        app.get(&album_link)
            .await
            .text()
            .await
            .unwrap()
            .contains(&tile_href)
    );

    let resp = send(
        &app,
        Method::DELETE,
        &format!("/api/photos/{}", photo.id),
        &app.token,
    )
    .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);

    // Gone for everyone, its owner included, everywhere it was shown.
    assert!(app.photo(&photo.id).await.is_none());
    assert_eq!(app.get(&link).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        app.get(&format!("/photos/{}", photo.id)).await.status(),
        StatusCode::NOT_FOUND
    );
    assert!(
        !app.get(&album_link)
            .await
            .text()
            .await
            .unwrap()
            .contains(&tile_href)
    );
    let shown = app.get_as("/", &app.token).await.text().await.unwrap();
    assert!(!shown.contains(&photo.id));
    let in_album: AlbumJson = app
        .get_as(&format!("/api/albums/{}", album.id), &app.token)
        .await
        .json()
        .await
        .unwrap();
    assert!(in_album.photos.unwrap().is_empty());
    // Deleting it again finds nothing.
    let again = send(
        &app,
        Method::DELETE,
        &format!("/api/photos/{}", photo.id),
        &app.token,
    )
    .await;
    assert_eq!(again.status(), StatusCode::NOT_FOUND);

    // Its owner's trash lists it, with when it goes for good.
    let trash = trash_of(&app, &app.token).await;
    assert_eq!(trash.photos.len(), 1);
    let listed = &trash.photos[0];
    assert_eq!(listed.photo.id, photo.id);
    assert_eq!(listed.photo.filename, "beach.png");
    assert_eq!(listed.purge_at - listed.trashed_at, 30 * 86_400_000);
    assert!((now_millis() - listed.trashed_at).abs() < 60_000);
    // Its bytes are kept while it can be restored.
    assert_eq!(app.get(&photo.original_url).await.status(), StatusCode::OK);

    // Nobody else sees, restores or purges it.
    assert!(trash_of(&app, &bob).await.photos.is_empty());
    let restore = format!("/api/trash/{}/restore", photo.id);
    let purge = format!("/api/trash/{}", photo.id);
    assert_eq!(
        send(&app, Method::POST, &restore, &bob).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        send(&app, Method::DELETE, &purge, &bob).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.client
            .post(app.url(&restore))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );

    // Restored: back in its album, with the same share link.
    let resp = send(&app, Method::POST, &restore, &app.token).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let back: PhotoJson = resp.json().await.unwrap();
    assert_eq!(back.share_url.as_deref(), Some(link.as_str()));
    assert_eq!(app.get(&link).await.status(), StatusCode::OK);
    assert!(
        app.get(&album_link)
            .await
            .text()
            .await
            .unwrap()
            .contains(&tile_href)
    );
    assert!(trash_of(&app, &app.token).await.photos.is_empty());
    // Restoring what is not in the trash finds nothing.
    assert_eq!(
        send(&app, Method::POST, &restore, &app.token)
            .await
            .status(),
        StatusCode::NOT_FOUND
    );

    // Deleted for good: the bytes go too.
    let resp = app.delete_for_good(&photo.id, &app.token).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert!(trash_of(&app, &app.token).await.photos.is_empty());
    assert_eq!(
        app.get(&photo.original_url).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.stored_files().await, Vec::<String>::new());
    app.shutdown().await;
}

#[tokio::test]
async fn bytes_shared_with_a_photo_in_the_trash_stay_until_the_last_purge() {
    let app = spawn_app().await;
    let bob = create_user(&app.config, "bob", false).await;
    let bytes = png(30, 20, [3, 4, 5]);
    let mine: PhotoJson = app
        .upload_bytes("a.png", bytes.clone())
        .await
        .json()
        .await
        .unwrap();
    let resp = app.upload_form(file_form("b.png", bytes), Some(&bob)).await;
    let bobs: PhotoJson = resp.json().await.unwrap();
    let mine = app.settled(&mine.id).await;
    app.settled(&bobs.id).await;

    // Bob deletes his for good; mine, only to the trash.
    assert_eq!(
        app.delete_for_good(&bobs.id, &bob).await.status(),
        StatusCode::NO_CONTENT
    );
    let resp = send(
        &app,
        Method::DELETE,
        &format!("/api/photos/{}", mine.id),
        &app.token,
    )
    .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    // A photo in the trash still uses the bytes.
    assert_eq!(app.get(&mine.original_url).await.status(), StatusCode::OK);
    for v in &mine.variants {
        assert_eq!(app.get(&v.url).await.status(), StatusCode::OK);
    }
    // Emptying the trash is the last purge.
    let resp = send(&app, Method::DELETE, "/api/trash", &app.token).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["purged"], 1);
    assert_eq!(app.stored_files().await, Vec::<String>::new());
    app.shutdown().await;
}

#[tokio::test]
async fn the_sweep_purges_what_stayed_past_trash_days() {
    let app = spawn_app().await;
    let old = upload(&app, "old.png", 1, "public").await;
    let recent = upload(&app, "recent.png", 2, "public").await;
    let db = scoot::db::open(&app.config.database_url()).await.unwrap();
    let days = |n: i64| n * 86_400_000;
    // One was deleted 31 days ago, the other 29.
    db.trash_photo(&old.id.parse().unwrap(), now_millis() - days(31))
        .await
        .unwrap();
    db.trash_photo(&recent.id.parse().unwrap(), now_millis() - days(29))
        .await
        .unwrap();
    let purged = app.services().trash.purge_due().await.unwrap();
    assert_eq!(purged, 1);
    let left = trash_of(&app, &app.token).await;
    let ids: Vec<&str> = left.photos.iter().map(|t| t.photo.id.as_str()).collect();
    assert_eq!(ids, [recent.id.as_str()]);
    assert_eq!(
        app.get(&old.original_url).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.get(&recent.original_url).await.status(), StatusCode::OK);
    app.shutdown().await;
}

#[tokio::test]
async fn uploading_a_photo_in_the_trash_again_takes_it_out() {
    let app = spawn_app().await;
    let bytes = png(20, 20, [9, 9, 9]);
    let first: PhotoJson = app
        .upload_bytes("x.png", bytes.clone())
        .await
        .json()
        .await
        .unwrap();
    app.settled(&first.id).await;
    let resp = send(
        &app,
        Method::DELETE,
        &format!("/api/photos/{}", first.id),
        &app.token,
    )
    .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let again = app.upload_bytes("x.png", bytes).await;
    assert_eq!(again.status(), StatusCode::OK, "the photo it already was");
    let again: PhotoJson = again.json().await.unwrap();
    assert_eq!(again.id, first.id);
    assert!(app.photo(&first.id).await.is_some());
    assert!(trash_of(&app, &app.token).await.photos.is_empty());
    app.shutdown().await;
}

#[tokio::test]
async fn the_trash_pages_restore_and_ask_before_deleting_for_good() {
    let app = spawn_app().await;
    let photo = upload(&app, "dune.png", 5, "public").await;
    let form = |path: String| {
        app.client
            .post(app.url(&path))
            .bearer_auth(&app.token)
            .form(&[] as &[(&str, &str)])
            .send()
    };
    let location = |r: &reqwest::Response| {
        r.headers()[reqwest::header::LOCATION]
            .to_str()
            .unwrap()
            .to_owned()
    };
    // The photo page says what deleting does.
    let page = app
        .get_as(&format!("/photos/{}", photo.id), &app.token)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Move to trash") && page.contains("for 30 days"),
        "{page}"
    );

    let resp = form(format!("/photos/{}/delete", photo.id)).await.unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&resp), "/trash");
    let trash = app.get_as("/trash", &app.token).await;
    assert_eq!(trash.status(), StatusCode::OK);
    assert!(
        trash.headers()[reqwest::header::CACHE_CONTROL]
            .to_str()
            .unwrap()
            .contains("no-store")
    );
    let trash = trash.text().await.unwrap();
    assert!(
        trash.contains("dune.png") && trash.contains("in 29 days"),
        "{trash}"
    );
    assert!(trash.contains(&format!("/trash/{}/restore", photo.id)));

    let resp = form(format!("/trash/{}/restore", photo.id)).await.unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert!(app.photo(&photo.id).await.is_some());
    assert!(
        app.get_as("/trash", &app.token)
            .await
            .text()
            .await
            .unwrap()
            .contains("The trash is empty")
    );

    // Deleting for good asks first.
    form(format!("/photos/{}/delete", photo.id)).await.unwrap();
    let ask = app
        .get_as(&format!("/trash/{}/delete", photo.id), &app.token)
        .await;
    assert_eq!(ask.status(), StatusCode::OK);
    let ask = ask.text().await.unwrap();
    assert!(
        ask.contains("Delete “dune.png” for good?") && ask.contains("cannot be restored"),
        "{ask}"
    );
    let ask_all = app
        .get_as("/trash/empty", &app.token)
        .await
        .text()
        .await
        .unwrap();
    assert!(ask_all.contains("Empty the trash?"));
    let resp = form(format!("/trash/{}/delete", photo.id)).await.unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.stored_files().await, Vec::<String>::new());
    // Logged out, the trash is a login away.
    let resp = app.client.get(app.url("/trash")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    app.shutdown().await;
}

#[tokio::test]
async fn with_no_trash_deleting_is_for_good_after_asking() {
    let app = spawn_app_with(|c| c.trash.days = 0).await;
    let photo = upload(&app, "gone.png", 7, "public").await;
    let page = app
        .get_as(&format!("/photos/{}", photo.id), &app.token)
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Delete for good…"), "{page}");
    assert!(page.contains("cannot be restored afterwards"), "{page}");
    let resp = send(
        &app,
        Method::DELETE,
        &format!("/api/photos/{}", photo.id),
        &app.token,
    )
    .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert!(trash_of(&app, &app.token).await.photos.is_empty());
    assert_eq!(app.stored_files().await, Vec::<String>::new());
    app.shutdown().await;
}
