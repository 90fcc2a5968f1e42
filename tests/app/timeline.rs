//! The timeline: the gallery and album pages by date taken (upload date
//! when there is none), under month headings, newest or oldest first, in
//! justified rows whose tiles know their shape and load a size near their
//! width.

use reqwest::StatusCode;
use scoot::web::albums_api::AlbumJson;
use scoot::web::api::{PhotoJson, PhotoList};
use serde_json::json;

use crate::helpers::{TestApp, jpeg_with_exif, png, spawn_app};

async fn upload(app: &TestApp, name: &str, bytes: Vec<u8>) -> PhotoJson {
    let resp = app.upload_bytes(name, bytes).await;
    assert_eq!(resp.status(), StatusCode::CREATED, "{name}");
    let photo: PhotoJson = resp.json().await.unwrap();
    app.settled(&photo.id).await
}

/// The HTML of `path`, logged out.
async fn page(app: &TestApp, path: &str) -> String {
    let resp = app.get(path).await;
    assert_eq!(resp.status(), StatusCode::OK, "{path}");
    resp.text().await.unwrap()
}

/// The month headings of a page, in order.
fn headings(html: &str) -> Vec<&str> {
    html.split("<h2 class=\"month\">")
        .skip(1)
        .map(|s| s.split('<').next().unwrap())
        .collect()
}

/// The ids of a page's tiles, in order.
fn tile_ids(html: &str) -> Vec<&str> {
    html.split(" data-id=\"")
        .skip(1)
        .map(|s| s.split('"').next().unwrap())
        .collect()
}

/// The month heading of now, as the gallery writes an upload's.
fn this_month() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!("{} {}", now.month(), now.year())
}

#[tokio::test]
async fn photos_are_grouped_by_the_month_taken_and_sorted_both_ways() {
    let app = spawn_app().await;
    // Uploaded in an order unlike the one they were taken in; the PNG has
    // no date and is dated by its upload.
    let july = upload(
        &app,
        "july.jpg",
        jpeg_with_exif("Canon", "EOS", "2021:07:04 18:30:00"),
    )
    .await;
    let undated = upload(&app, "now.png", png(30, 20, [1, 2, 3])).await;
    let march = upload(
        &app,
        "march.jpg",
        jpeg_with_exif("Canon", "EOS", "2019:03:10 09:00:00"),
    )
    .await;
    let july_later = upload(
        &app,
        "july2.jpg",
        jpeg_with_exif("Canon", "EOS", "2021:07:20 07:00:00"),
    )
    .await;

    let (cookie, _) = app.session("alice").await;
    let newest = app
        .get_with_cookie("/", &cookie)
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(
        headings(&newest),
        [this_month().as_str(), "July 2021", "March 2019"]
    );
    assert_eq!(
        tile_ids(&newest),
        [&undated.id, &july_later.id, &july.id, &march.id]
    );
    assert!(newest.contains("aria-current=\"page\">Newest first"));

    let oldest = app
        .get_with_cookie("/?sort=oldest", &cookie)
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(
        headings(&oldest),
        ["March 2019", "July 2021", this_month().as_str()]
    );
    assert_eq!(
        tile_ids(&oldest),
        [&march.id, &july.id, &july_later.id, &undated.id]
    );
    assert!(oldest.contains("aria-current=\"page\">Oldest first"));

    // The photo page steps by date too: July's later photo sits between
    // the undated one and the first of July.
    let page = app
        .get_with_cookie(&format!("/photos/{}", july_later.id), &cookie)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(&format!("href=\"/photos/{}\" rel=\"prev\"", undated.id)),
        "the newer photo"
    );
    assert!(
        page.contains(&format!("href=\"/photos/{}\" rel=\"next\"", july.id)),
        "the older photo"
    );

    // The API lists by upload unless asked for a date order.
    let app = &app;
    let list = |q: &'static str| async move {
        let resp = app.get_as(&format!("/api/photos{q}"), &app.token).await;
        assert_eq!(resp.status(), StatusCode::OK, "{q}");
        let list: PhotoList = resp.json().await.unwrap();
        list.photos.into_iter().map(|p| p.id).collect::<Vec<_>>()
    };
    assert_eq!(
        list("").await,
        [&july_later.id, &march.id, &undated.id, &july.id].map(String::clone)
    );
    assert_eq!(
        list("?sort=oldest").await,
        [&march.id, &july.id, &july_later.id, &undated.id].map(String::clone)
    );

    // An order Scoot does not know is refused, on pages and in the API.
    for path in ["/?sort=random", "/api/photos?sort=random"] {
        assert_eq!(
            app.get(path).await.status(),
            StatusCode::BAD_REQUEST,
            "{path}"
        );
    }
}

#[tokio::test]
async fn an_oldest_first_gallery_pages_forward_in_time() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for year in [2015, 2016, 2017] {
        let jpeg = jpeg_with_exif("Nikon", "D70", &format!("{year}:05:01 12:00:00"));
        ids.push(upload(&app, &format!("{year}.jpg"), jpeg).await.id);
    }
    let first = page(&app, "/?sort=oldest").await;
    assert_eq!(tile_ids(&first), ids);
    assert!(!first.contains("rel=\"next\""), "one page holds them all");

    // The cursor after the first photo, as the next link would carry it.
    let list: PhotoList = app
        .get("/api/photos?sort=oldest&limit=1")
        .await
        .json()
        .await
        .unwrap();
    let cursor = list.next_cursor.expect("more after the first");
    let rest = page(&app, &format!("/?sort=oldest&after={cursor}")).await;
    assert_eq!(tile_ids(&rest), ids[1..]);
    assert!(
        rest.contains("href=\"/?sort=oldest\">Oldest</a>"),
        "the pager leads back to the oldest"
    );
}

#[tokio::test]
async fn tiles_know_their_shape_and_every_size_is_twice_the_last() {
    let app = spawn_app().await;
    let wide = upload(&app, "wide.png", png(2400, 1600, [200, 30, 30])).await;
    let tall = upload(&app, "tall.png", png(1000, 3000, [30, 200, 30])).await;

    // Sizes 200, 400, 800 and 1600 px on the long edge, so a tile finds one
    // at most twice its width.
    for (photo, long_edges) in [
        (&wide, [200, 400, 800, 1600]),
        (&tall, [200, 400, 800, 1600]),
    ] {
        let mut edges: Vec<u32> = photo
            .variants
            .iter()
            .filter(|v| v.format == "jpeg")
            .map(|v| v.width.max(v.height))
            .collect();
        edges.sort_unstable();
        assert_eq!(edges, long_edges, "{}", photo.filename);
    }

    let html = page(&app, "/").await;
    let tile = |id: &str| {
        let at = html.find(&format!("data-id=\"{id}\"")).unwrap();
        let start = html[..at].rfind("<li").unwrap();
        let end = at + html[at..].find("</li>").unwrap();
        html[start..end].to_owned()
    };
    // 3:2 is 1.01^41 (within ½ %), 1:3 is 1.01^-110.
    let wide_tile = tile(&wide.id);
    assert!(
        wide_tile.starts_with("<li class=\"tile r41\""),
        "{wide_tile}"
    );
    assert!(
        wide_tile.contains("sizes=\"auto, (max-width: 600px) min(150px, 100vw)"),
        "{wide_tile}"
    );
    assert!(
        wide_tile.contains("width=\"400\" height=\"267\""),
        "{wide_tile}"
    );
    let tall_tile = tile(&tall.id);
    assert!(
        tall_tile.starts_with("<li class=\"tile r-110\""),
        "{tall_tile}"
    );
    // The stylesheet defines every class a tile may name.
    let css_path = html
        .split("rel=\"stylesheet\" href=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let css = page(&app, css_path).await;
    for class in [".r41{", ".r-110{", ".r140{", ".r-140{", ".rows .tile"] {
        assert!(css.contains(class), "{class}");
    }
}

#[tokio::test]
async fn an_album_is_grouped_by_month_and_steps_in_that_order() {
    let app = spawn_app().await;
    let later = upload(
        &app,
        "b.jpg",
        jpeg_with_exif("Sony", "A7", "2020:12:31 23:59:59"),
    )
    .await;
    let earlier = upload(
        &app,
        "a.jpg",
        jpeg_with_exif("Sony", "A7", "2020:11:02 10:00:00"),
    )
    .await;
    let resp = app
        .client
        .post(app.url("/api/albums"))
        .bearer_auth(&app.token)
        .json(&json!({
            "title": "Autumn",
            "visibility": "public",
            "photos": [earlier.id, later.id],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let album: AlbumJson = resp.json().await.unwrap();

    let newest = page(&app, &format!("/albums/{}", album.id)).await;
    assert_eq!(headings(&newest), ["December 2020", "November 2020"]);
    assert_eq!(tile_ids(&newest), [&later.id, &earlier.id]);
    let oldest = page(&app, &format!("/albums/{}?sort=oldest", album.id)).await;
    assert_eq!(tile_ids(&oldest), [&earlier.id, &later.id]);
    assert_eq!(
        app.get(&format!("/albums/{}?sort=sideways", album.id))
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );

    // Opened from the album, the newest photo leads on to the older one.
    let photo = page(&app, &format!("/albums/{}/{}", album.id, later.id)).await;
    assert!(
        photo.contains(&format!(
            "href=\"/albums/{}/{}\" rel=\"next\"",
            album.id, earlier.id
        )),
        "the next photo in the album"
    );
}
