//! Albums: who sees them and their photos, share links, covers, and the
//! owner's forms and API calls.

use reqwest::StatusCode;
use scoot::domain::Visibility;
use scoot::web::albums_api::AlbumJson;
use scoot::web::api::PhotoJson;
use serde_json::json;

use crate::helpers::{TestApp, create_user, file_form, png, spawn_app};

async fn upload(app: &TestApp, shade: u8, visibility: &str) -> PhotoJson {
    let form =
        file_form("p.png", png(16, 12, [shade, 40, 90])).text("visibility", visibility.to_owned());
    let resp = app.upload_form(form, Some(&app.token)).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    resp.json().await.unwrap()
}

async fn send(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<serde_json::Value>,
) -> reqwest::Response {
    let mut req = app.client.request(method, app.url(path)).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    req.send().await.unwrap()
}

/// `PATCH` as the album's owner (alice).
async fn patch(app: &TestApp, path: &str, body: serde_json::Value) -> reqwest::Response {
    send(app, reqwest::Method::PATCH, path, &app.token, Some(body)).await
}

async fn create(app: &TestApp, body: serde_json::Value) -> AlbumJson {
    let resp = send(
        app,
        reqwest::Method::POST,
        "/api/albums",
        &app.token,
        Some(body),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    resp.json().await.unwrap()
}

async fn add(app: &TestApp, album: &str, photo: &str) -> StatusCode {
    let path = format!("/api/albums/{album}/photos/{photo}");
    send(app, reqwest::Method::PUT, &path, &app.token, None)
        .await
        .status()
}

fn photo_ids(album: &AlbumJson) -> Vec<&str> {
    let photos = album
        .photos
        .as_ref()
        .expect("a single album lists its photos");
    photos.iter().map(|p| p.id.as_str()).collect()
}

#[tokio::test]
async fn a_shared_album_shows_its_photos_but_never_a_private_one() {
    let app = spawn_app().await;
    let public = upload(&app, 10, "public").await;
    let unlisted = upload(&app, 20, "unlisted").await;
    let private = upload(&app, 30, "private").await;
    let album = create(&app, json!({"title": "Trip", "visibility": "unlisted"})).await;
    assert_eq!(album.visibility, Visibility::Unlisted);
    let link = album.share_url.clone().expect("the owner sees the link");
    assert!(link.starts_with("/a/") && link.len() == 3 + 32, "{link}");
    for p in [&public, &unlisted, &private] {
        assert_eq!(add(&app, &album.id, &p.id).await, StatusCode::CREATED);
    }
    assert_eq!(
        add(&app, &album.id, &public.id).await,
        StatusCode::NO_CONTENT,
        "already in"
    );

    // The owner sees all three, in the order added.
    let own: AlbumJson = app
        .get_as(&format!("/api/albums/{}", album.id), &app.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(photo_ids(&own), [&public.id, &unlisted.id, &private.id]);

    // Logged out: the album is neither listed nor found by id…
    let listed: serde_json::Value = app.get("/api/albums").await.json().await.unwrap();
    assert_eq!(listed["albums"].as_array().unwrap().len(), 0);
    assert!(
        !app.get("/albums")
            .await
            .text()
            .await
            .unwrap()
            .contains("Trip")
    );
    for path in [
        format!("/api/albums/{}", album.id),
        format!("/albums/{}", album.id),
    ] {
        assert_eq!(
            app.get(&path).await.status(),
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    // …but its link shows the public and unlisted photos, not the private one.
    let shared = app.get(&link).await;
    assert_eq!(shared.status(), StatusCode::OK);
    let html = shared.text().await.unwrap();
    assert!(html.contains("Trip"));
    // Each leads to its page inside the shared album, which steps through
    // the album and leads back to it.
    for p in [&public, &unlisted] {
        assert!(html.contains(&format!("href=\"{link}/{}\"", p.id)));
    }
    let inside = app.get(&format!("{link}/{}", unlisted.id)).await;
    assert_eq!(inside.status(), StatusCode::OK);
    let inside = inside.text().await.unwrap();
    assert!(
        inside.contains(&format!("href=\"{link}\">↑ Back to “Trip”")),
        "{inside}"
    );
    // Newest first: the public photo, uploaded before, is the next one;
    // the private photo, uploaded after, is not a step.
    assert!(inside.contains(&format!("href=\"{link}/{}\" rel=\"next\"", public.id)));
    assert!(
        !inside.contains("rel=\"prev\""),
        "the private photo is not a step"
    );
    let hidden = app.get(&format!("{link}/{}", private.id)).await;
    assert_eq!(
        hidden.status(),
        StatusCode::NOT_FOUND,
        "a private photo stays private"
    );
    assert!(!html.contains(&private.id), "a private photo stays private");
    assert!(!html.contains("Edit album") && !html.contains("data-share"));

    // A new link revokes the old one; making it private drops links altogether.
    let renewed: AlbumJson = send(
        &app,
        reqwest::Method::PATCH,
        &format!("/api/albums/{}", album.id),
        &app.token,
        Some(json!({"new_link": true})),
    )
    .await
    .json()
    .await
    .unwrap();
    let new_link = renewed.share_url.clone().unwrap();
    assert_ne!(new_link, link);
    assert_eq!(app.get(&link).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.get(&new_link).await.status(), StatusCode::OK);
    let private_album: AlbumJson = send(
        &app,
        reqwest::Method::PATCH,
        &format!("/api/albums/{}", album.id),
        &app.token,
        Some(json!({"visibility": "private"})),
    )
    .await
    .json()
    .await
    .unwrap();
    assert!(private_album.share_url.is_none());
    assert_eq!(app.get(&new_link).await.status(), StatusCode::NOT_FOUND);

    // Public: listed for everyone, by id, still without the private photo.
    send(
        &app,
        reqwest::Method::PATCH,
        &format!("/api/albums/{}", album.id),
        &app.token,
        Some(json!({"visibility": "public"})),
    )
    .await;
    let anon: AlbumJson = app
        .get(&format!("/api/albums/{}", album.id))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(photo_ids(&anon), [&public.id, &unlisted.id]);
    assert!(anon.share_url.is_none());
    let list = app.get("/albums").await.text().await.unwrap();
    assert!(list.contains("Trip") && list.contains("2 photos"), "{list}");
}

#[tokio::test]
async fn covers_follow_the_owner_and_deleting_an_album_keeps_its_photos() {
    let app = spawn_app().await;
    let first = upload(&app, 50, "public").await;
    let second = upload(&app, 60, "public").await;
    let outsider = upload(&app, 70, "public").await;
    let album = create(&app, json!({"title": "Covers"})).await;
    assert_eq!(album.visibility, Visibility::Public, "public unless chosen");
    add(&app, &album.id, &first.id).await;
    add(&app, &album.id, &second.id).await;
    app.settled(&first.id).await;
    app.settled(&second.id).await;
    let path = format!("/api/albums/{}", album.id);

    // Without a chosen cover, the first photo added leads the album page.
    let cover_of = |html: String| {
        let head = html
            .split("class=\"album-head\"")
            .nth(1)
            .unwrap()
            .to_owned();
        head.split("</section>").next().unwrap().to_owned()
    };
    let first_display = app.photo(&first.id).await.unwrap();
    let key = |p: &PhotoJson| {
        p.variants
            .iter()
            .find(|v| v.name == "display")
            .map(|v| v.url.clone())
            .unwrap()
    };
    let page = app
        .get(&format!("/albums/{}", album.id))
        .await
        .text()
        .await
        .unwrap();
    assert!(cover_of(page).contains(&key(&first_display)));

    // A cover must be in the album.
    let bad = patch(&app, &path, json!({"cover": outsider.id})).await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let set = patch(&app, &path, json!({"cover": second.id})).await;
    assert_eq!(set.status(), StatusCode::OK);
    assert_eq!(
        set.json::<AlbumJson>().await.unwrap().cover.as_deref(),
        Some(second.id.as_str())
    );
    let second_display = app.photo(&second.id).await.unwrap();
    let page = app
        .get(&format!("/albums/{}", album.id))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        cover_of(page).contains(&key(&second_display)),
        "the page follows the change at once"
    );

    // Removing the cover photo clears the choice.
    let remove = format!("/api/albums/{}/photos/{}", album.id, second.id);
    assert_eq!(
        send(&app, reqwest::Method::DELETE, &remove, &app.token, None)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        send(&app, reqwest::Method::DELETE, &remove, &app.token, None)
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    let now: AlbumJson = app.get(&path).await.json().await.unwrap();
    assert_eq!(now.cover, None);
    assert_eq!(photo_ids(&now), [&first.id]);

    // Deleting a photo takes it out of its albums; deleting the album keeps photos.
    send(
        &app,
        reqwest::Method::DELETE,
        &format!("/api/photos/{}", first.id),
        &app.token,
        None,
    )
    .await;
    let now: AlbumJson = app.get(&path).await.json().await.unwrap();
    assert!(photo_ids(&now).is_empty());
    assert_eq!(
        send(&app, reqwest::Method::DELETE, &path, &app.token, None)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(app.get(&path).await.status(), StatusCode::NOT_FOUND);
    assert!(
        app.photo(&second.id).await.is_some(),
        "photos outlive their album"
    );
}

#[tokio::test]
async fn only_the_owner_changes_an_album_and_bad_input_changes_nothing() {
    let app = spawn_app().await;
    let bob = create_user(&app.config, "bob", false).await;
    let mine = upload(&app, 80, "public").await;
    let album = create(&app, json!({"title": "Alice's"})).await;
    let path = format!("/api/albums/{}", album.id);

    // Bob can see the public album but not change it, nor put alice's photo in his own.
    let rename = send(
        &app,
        reqwest::Method::PATCH,
        &path,
        &bob,
        Some(json!({"title": "Bob's now"})),
    )
    .await;
    assert_eq!(rename.status(), StatusCode::FORBIDDEN);
    let put = send(
        &app,
        reqwest::Method::PUT,
        &format!("{path}/photos/{}", mine.id),
        &bob,
        None,
    )
    .await;
    assert_eq!(put.status(), StatusCode::FORBIDDEN);
    let bobs: AlbumJson = send(
        &app,
        reqwest::Method::POST,
        "/api/albums",
        &bob,
        Some(json!({"title": "Bob's"})),
    )
    .await
    .json()
    .await
    .unwrap();
    let put = send(
        &app,
        reqwest::Method::PUT,
        &format!("/api/albums/{}/photos/{}", bobs.id, mine.id),
        &bob,
        None,
    )
    .await;
    assert_eq!(put.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        send(&app, reqwest::Method::DELETE, &path, &bob, None)
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    // Logged out: nothing at all.
    let anon = app
        .client
        .post(app.url("/api/albums"))
        .json(&json!({"title": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(anon.status(), StatusCode::UNAUTHORIZED);

    // Bad input is a 400 with a reason, and nothing changes.
    for body in [
        json!({"title": "   "}),
        json!({"title": "x".repeat(201)}),
        json!({"title": "ok", "visibility": "secret"}),
        json!({"title": "ok", "colour": "blue"}),
    ] {
        let resp = send(
            &app,
            reqwest::Method::POST,
            "/api/albums",
            &app.token,
            Some(body.clone()),
        )
        .await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{body}");
        let err: serde_json::Value = resp.json().await.unwrap();
        assert!(
            err["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{body}"
        );
        let resp = patch(&app, &path, body.clone()).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{body}");
    }
    let list: serde_json::Value = app
        .get_as("/api/albums", &app.token)
        .await
        .json()
        .await
        .unwrap();
    let titles: Vec<&str> = list["albums"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["title"].as_str().unwrap())
        .collect();
    assert_eq!(
        titles,
        ["Bob's", "Alice's"],
        "newest first, nothing renamed or added"
    );
    assert_eq!(
        app.get("/api/albums/zzzz").await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        add(&app, &album.id, "0000000000000000").await,
        StatusCode::NOT_FOUND,
        "a photo that does not exist"
    );
}

#[tokio::test]
async fn the_owners_forms_make_and_fill_an_album_without_javascript() {
    let app = spawn_app().await;
    let photo = upload(&app, 90, "public").await;
    let form = |path: &str, fields: &[(&str, &str)]| {
        app.client
            .post(app.url(path))
            .bearer_auth(&app.token)
            .form(fields)
            .send()
    };
    let created = form(
        "/albums",
        &[
            ("title", "Holiday"),
            ("description", "Sea"),
            ("visibility", "unlisted"),
        ],
    )
    .await
    .unwrap();
    assert_eq!(created.status(), StatusCode::SEE_OTHER);
    let location = created.headers()["location"].to_str().unwrap().to_owned();
    let album_id = location.strip_prefix("/albums/").unwrap().to_owned();

    // The photo page offers the album; adding it shows there and on the album page.
    let page = app
        .get_as(&format!("/photos/{}", photo.id), &app.token)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(&format!("<option value=\"{album_id}\">Holiday</option>")),
        "{page}"
    );
    let added = form(
        &format!("/photos/{}/albums", photo.id),
        &[("album", &album_id)],
    )
    .await
    .unwrap();
    assert_eq!(added.status(), StatusCode::SEE_OTHER);
    let page = app
        .get_as(&format!("/photos/{}", photo.id), &app.token)
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains(&format!("<a href=\"/albums/{album_id}\">Holiday</a>")));
    let album = app
        .get_as(&location, &app.token)
        .await
        .text()
        .await
        .unwrap();
    assert!(album.contains(&format!("href=\"{location}/{}\"", photo.id)) && album.contains("Sea"));
    assert!(
        album.contains("data-share"),
        "the owner sees the share link"
    );

    // Rename, and a bad form is a 400 page that changes nothing.
    let renamed = form(
        &format!("/albums/{album_id}/edit"),
        &[
            ("title", "Summer"),
            ("description", ""),
            ("visibility", "public"),
        ],
    )
    .await
    .unwrap();
    assert_eq!(renamed.status(), StatusCode::SEE_OTHER);
    let bad = form(
        &format!("/albums/{album_id}/edit"),
        &[("title", ""), ("description", ""), ("visibility", "public")],
    )
    .await
    .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert!(bad.text().await.unwrap().contains("needs a title"));
    let album = app.get(&location).await.text().await.unwrap();
    assert!(album.contains("Summer") && !album.contains("Holiday"));

    // Remove, then delete.
    let removed = form(
        &format!("/albums/{album_id}/remove"),
        &[("photo", &photo.id)],
    )
    .await
    .unwrap();
    assert_eq!(removed.status(), StatusCode::SEE_OTHER);
    assert!(
        !app.get(&location)
            .await
            .text()
            .await
            .unwrap()
            .contains(&format!("href=\"{location}/{}\"", photo.id))
    );
    let deleted = form(&format!("/albums/{album_id}/delete"), &[])
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.get(&location).await.status(), StatusCode::NOT_FOUND);
}
