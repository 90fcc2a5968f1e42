//! Listing, pagination, deletion and cache invalidation.

use std::collections::HashSet;

use reqwest::StatusCode;
use scoot::web::api::{PhotoJson, PhotoList};

use scoot::domain::Visibility;

use crate::helpers::{create_user, file_form, png, read_fixture, spawn_app};

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
    // In the trash it keeps its bytes; deleted for good, they go.
    assert_eq!(app.get(&thumb).await.status(), StatusCode::OK);
    let resp = app
        .client
        .delete(app.url(&format!("/api/trash/{}", photo.id)))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.get(&thumb).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        app.get(&photo.original_url).await.status(),
        StatusCode::NOT_FOUND
    );
    let stored = app.stored_files().await;
    assert!(stored.is_empty(), "{stored:?}");
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
    let resp = app.delete_for_good(&mine.id, &app.token).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.get(&bobs.original_url).await.status(), StatusCode::OK);
    for v in &bobs.variants {
        assert_eq!(app.get(&v.url).await.status(), StatusCode::OK);
    }
}

#[tokio::test]
async fn visibility_decides_who_sees_a_photo_and_share_links_can_be_revoked() {
    let app = spawn_app().await;
    let bob = create_user(&app.config, "bob", false).await;
    let upload = |name: &'static str, visibility: &'static str| {
        let form = file_form(name, read_fixture(&format!("orientation/{name}")))
            .text("visibility", visibility);
        app.upload_form(form, Some(&app.token))
    };
    let public: PhotoJson = upload("Landscape_1.jpg", "public")
        .await
        .json()
        .await
        .unwrap();
    let unlisted: PhotoJson = upload("Landscape_2.jpg", "unlisted")
        .await
        .json()
        .await
        .unwrap();
    let private: PhotoJson = upload("Landscape_3.jpg", "private")
        .await
        .json()
        .await
        .unwrap();
    for p in [&public, &unlisted, &private] {
        app.settled(&p.id).await;
    }
    assert_eq!(private.visibility, Visibility::Private);
    assert!(public.share_url.is_none() && private.share_url.is_none());
    let link = unlisted
        .share_url
        .clone()
        .expect("the owner sees the share link");
    assert!(link.starts_with("/s/") && link.len() == 3 + 32, "{link}");

    // Logged out (and as another user): only the public photo is listed or found.
    for token in [None, Some(bob.as_str())] {
        let app = &app;
        let get = |path: String| async move {
            match token {
                Some(t) => app.get_as(&path, t).await,
                None => app.get(&path).await,
            }
        };
        let list: serde_json::Value = get("/api/photos".into()).await.json().await.unwrap();
        let ids: Vec<&str> = list["photos"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, [public.id.as_str()], "{token:?}");
        let gallery = get("/".into()).await.text().await.unwrap();
        assert!(gallery.contains(&public.id) && !gallery.contains(&unlisted.id));
        assert!(!gallery.contains(&private.id));
        for hidden in [&unlisted, &private] {
            for path in [
                format!("/api/photos/{}", hidden.id),
                format!("/photos/{}", hidden.id),
                format!("/photos/{}/display", hidden.id),
            ] {
                assert_eq!(
                    get(path.clone()).await.status(),
                    StatusCode::NOT_FOUND,
                    "{path}"
                );
            }
        }
        let shared = get(link.clone()).await;
        assert_eq!(shared.status(), StatusCode::OK);
        let html = shared.text().await.unwrap();
        assert!(
            html.contains("/media/variants/"),
            "the shared page shows the photo"
        );
        assert!(
            !html.contains("data-share"),
            "only the owner sees the link box"
        );
    }
    // The owner sees all three, newest first.
    let mine: serde_json::Value = app
        .get_as("/api/photos", &app.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine["photos"].as_array().unwrap().len(), 3);
    // Their gallery marks the two that not everyone sees.
    let gallery = app.get_as("/", &app.token).await.text().await.unwrap();
    let badges: Vec<&str> = gallery
        .split(r#"<span class="badge visibility">"#)
        .skip(1)
        .filter_map(|rest| rest.split('<').next())
        .collect();
    assert_eq!(badges, ["Private", "Unlisted"], "newest first");

    // Bob may not change Alice's photo.
    let patch = |token: &str, id: &str, body: serde_json::Value| {
        app.client
            .patch(app.url(&format!("/api/photos/{id}")))
            .bearer_auth(token)
            .json(&body)
            .send()
    };
    let refused = patch(&bob, &public.id, serde_json::json!({"title": "mine"}))
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let bad = patch(
        &app.token,
        &public.id,
        serde_json::json!({"visibility": "secret"}),
    )
    .await
    .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);

    // A new link revokes the old one; making it private revokes any link.
    let renewed: PhotoJson = patch(
        &app.token,
        &unlisted.id,
        serde_json::json!({"new_link": true}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let new_link = renewed.share_url.unwrap();
    assert_ne!(new_link, link);
    assert_eq!(app.get(&link).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.get(&new_link).await.status(), StatusCode::OK);
    let hidden: PhotoJson = patch(
        &app.token,
        &unlisted.id,
        serde_json::json!({"visibility": "private"}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert!(hidden.share_url.is_none());
    assert_eq!(app.get(&new_link).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        app.get("/s/not-a-token").await.status(),
        StatusCode::NOT_FOUND
    );

    // Making the private one public lists it for everyone.
    patch(
        &app.token,
        &private.id,
        serde_json::json!({"visibility": "public"}),
    )
    .await
    .unwrap();
    let gallery = app.get("/").await.text().await.unwrap();
    assert!(gallery.contains(&private.id));
}

#[tokio::test]
async fn the_owner_edits_a_photo_and_pages_link_newer_and_older() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for name in ["Landscape_1.jpg", "Landscape_2.jpg", "Landscape_3.jpg"] {
        ids.push(app.upload_fixture(&format!("orientation/{name}")).await.id);
    }
    // Newest first: ids[2], ids[1], ids[0].
    let middle = app
        .get(&format!("/photos/{}", ids[1]))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        middle.contains(&format!(r#"<a href="/photos/{}" rel="prev""#, ids[2])),
        "{middle}"
    );
    assert!(middle.contains(&format!(r#"<a href="/photos/{}" rel="next""#, ids[0])));
    let newest = app
        .get(&format!("/photos/{}", ids[2]))
        .await
        .text()
        .await
        .unwrap();
    assert!(!newest.contains(r#"rel="prev""#));
    assert!(!newest.contains("/edit"), "no edit form for visitors");

    let form = [
        ("title", " Harbour at dusk "),
        ("caption", "Taken from the <pier>"),
        ("visibility", "unlisted"),
    ];
    let resp = app
        .client
        .post(app.url(&format!("/photos/{}/edit", ids[1])))
        .bearer_auth(&app.token)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let by_id = app.get(&format!("/api/photos/{}", ids[1])).await;
    assert_eq!(
        by_id.status(),
        StatusCode::NOT_FOUND,
        "unlisted: not found by id when logged out"
    );
    let photo = app.photo(&ids[1]).await.unwrap();
    assert_eq!(photo.title, "Harbour at dusk");
    assert_eq!(photo.visibility, Visibility::Unlisted);
    let owner_view = app
        .get_as(&format!("/photos/{}", ids[1]), &app.token)
        .await
        .text()
        .await
        .unwrap();
    assert!(owner_view.contains("<h1>Harbour at dusk</h1>"));
    assert!(
        owner_view.contains("Taken from the &#60;pier&#62;")
            || owner_view.contains("Taken from the &lt;pier&gt;")
    );
    assert!(owner_view.contains("data-share"));
    // Logged out, the gallery order skips the now-unlisted photo.
    let newest = app
        .get(&format!("/photos/{}", ids[2]))
        .await
        .text()
        .await
        .unwrap();
    assert!(newest.contains(&format!(r#"<a href="/photos/{}" rel="next""#, ids[0])));

    let anonymous = app
        .client
        .post(app.url(&format!("/photos/{}/edit", ids[0])))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}
