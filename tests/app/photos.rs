//! Listing, pagination, deletion and cache invalidation.

use std::collections::HashSet;

use reqwest::StatusCode;
use scoot::web::api::{PhotoJson, PhotoList};

use crate::helpers::{create_user, png, spawn_app};

#[tokio::test]
async fn api_list_pages_newest_first_without_gaps() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for i in 0..7u8 {
        let resp = app.upload_bytes("p.png", png(10, 10, [i, 0, 0])).await;
        assert_eq!(resp.status(), StatusCode::CREATED);
        ids.push(resp.json::<PhotoJson>().await.unwrap().id);
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = cursor
            .as_ref()
            .map(|c| format!("&cursor={c}"))
            .unwrap_or_default();
        let page: PhotoList = app
            .get(&format!("/api/photos?limit=3{q}"))
            .await
            .json()
            .await
            .unwrap();
        assert!(page.photos.len() <= 3);
        seen.extend(page.photos.into_iter().map(|p| p.id));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    ids.reverse();
    assert_eq!(seen, ids, "newest first, every photo once");
    let resp = app.get("/api/photos?cursor=garbage").await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn gallery_html_paginates_with_keyset_cursor() {
    let app = spawn_app().await;
    let page_size = scoot::web::gallery::PAGE_SIZE as usize;
    for i in 0..(page_size + 2) {
        let resp = app
            .upload_bytes("p.png", png(12, 8, [(i % 256) as u8, (i / 256) as u8, 7]))
            .await;
        assert_eq!(resp.status(), StatusCode::CREATED);
    }
    let first = app.get("/").await.text().await.unwrap();
    let tiles = |html: &str| -> HashSet<String> {
        html.split("href=\"/photos/")
            .skip(1)
            .map(|s| s[..16].to_owned())
            .collect()
    };
    let first_ids = tiles(&first);
    assert_eq!(first_ids.len(), page_size);
    let next = first
        .split("href=\"/?after=")
        .nth(1)
        .expect("an Older link")
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let second = app
        .get(&format!("/?after={next}"))
        .await
        .text()
        .await
        .unwrap();
    let second_ids = tiles(&second);
    assert_eq!(second_ids.len(), 2);
    assert!(first_ids.is_disjoint(&second_ids));
    assert!(
        !second.contains("?after="),
        "no Older link on the last page"
    );
    assert_eq!(
        app.get("/?after=nonsense").await.status(),
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn delete_removes_row_variants_and_cached_copies() {
    let app = spawn_app().await;
    let photo = app.upload_fixture("orientation/Landscape_5.jpg").await;
    let photo = app.settled(&photo.id).await;
    // Warm every cache: row, page, media bytes.
    assert!(app.photo(&photo.id).await.is_some());
    let list: PhotoList = app.get("/api/photos").await.json().await.unwrap();
    assert_eq!(list.photos.len(), 1);
    assert!(app.get("/").await.text().await.unwrap().contains(&photo.id));
    let thumb = photo.variants[0].url.clone();
    app.bytes(&thumb).await;
    app.bytes(&photo.original_url).await;
    assert_eq!(
        app.get(&format!("/photos/{}", photo.id)).await.status(),
        StatusCode::OK
    );

    // Only the owner or an admin may delete.
    let bob = create_user(&app.config, "bob", false).await;
    let url = app.url(&format!("/api/photos/{}", photo.id));
    let resp = app.client.delete(&url).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let resp = app
        .client
        .delete(&url)
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);

    let resp = app
        .client
        .delete(&url)
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);

    assert!(app.photo(&photo.id).await.is_none());
    let list: PhotoList = app.get("/api/photos").await.json().await.unwrap();
    assert!(list.photos.is_empty());
    assert!(!app.get("/").await.text().await.unwrap().contains(&photo.id));
    assert_eq!(
        app.get(&format!("/photos/{}", photo.id)).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.get(&thumb).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        app.get(&photo.original_url).await.status(),
        StatusCode::NOT_FOUND
    );
    assert!(app.stored_files().is_empty(), "{:?}", app.stored_files());
    let resp = app
        .client
        .delete(&url)
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn shared_bytes_survive_one_owners_delete() {
    let app = spawn_app().await;
    let bob = create_user(&app.config, "bob", false).await;
    let bytes = png(40, 30, [1, 2, 3]);
    let mine: PhotoJson = app
        .upload_bytes("a.png", bytes.clone())
        .await
        .json()
        .await
        .unwrap();
    let form = crate::helpers::file_form("b.png", bytes);
    let resp = app.upload_form(form, Some(&bob)).await;
    assert_eq!(
        resp.status(),
        StatusCode::CREATED,
        "another owner gets their own photo"
    );
    let bobs: PhotoJson = resp.json().await.unwrap();
    assert_ne!(mine.id, bobs.id);
    let bobs = app.settled(&bobs.id).await;
    app.settled(&mine.id).await;
    let url = app.url(&format!("/api/photos/{}", mine.id));
    let resp = app
        .client
        .delete(&url)
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.get(&bobs.original_url).await.status(), StatusCode::OK);
    for v in &bobs.variants {
        assert_eq!(app.get(&v.url).await.status(), StatusCode::OK);
    }
}
