//! What caches are told (issue 14, found by REDbot): every answer says
//! how it may be cached, private and session answers are never stored, and
//! media honour `If-Modified-Since` as well as `If-None-Match`; and bytes
//! kept here go when their blob is deleted, wherever it was deleted.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, ETAG, IF_MODIFIED_SINCE, LAST_MODIFIED};
use scoot::domain::PhotoId;

use crate::helpers::{png, spawn_app, spawn_app_with};

fn cache_control(resp: &reqwest::Response) -> &str {
    resp.headers()
        .get(CACHE_CONTROL)
        .map(|v| v.to_str().unwrap())
        .unwrap_or("(none)")
}

#[tokio::test]
async fn every_answer_says_how_it_may_be_cached() {
    let app = spawn_app().await;
    let photo = app.upload_bytes("p.png", png(20, 10, [5, 6, 7])).await;
    let photo: scoot::web::api::PhotoJson = photo.json().await.unwrap();
    let photo = app.settled(&photo.id).await;

    for path in [
        "/login",
        "/api/photos",
        "/healthz",
        "/readyz",
        "/api/albums",
        "/no/such/page",
    ] {
        let resp = app.get(path).await;
        assert_eq!(cache_control(&resp), "no-store", "{path}");
    }
    let login = app.log_in("alice").await;
    assert_eq!(login.status(), StatusCode::SEE_OTHER);
    assert_eq!(cache_control(&login), "no-store");
    let api = app.get_as("/api/photos", &app.token).await;
    assert_eq!(cache_control(&api), "no-store");
    // Pages revalidate; content-addressed bytes never change.
    assert_eq!(cache_control(&app.get("/").await), "private, no-cache");
    let original = app.get(&photo.original_url).await;
    assert!(cache_control(&original).contains("immutable"));

    // If-Modified-Since, alone, on media: 304 when nothing changed since.
    assert!(original.headers().contains_key(ETAG));
    for url in [&photo.original_url, &photo.variants[0].url] {
        // Each its own: the variant was written after the original, and
        // may be a second later.
        let last_modified = app.get(url).await.headers()[LAST_MODIFIED].clone();
        let again = app
            .client
            .get(app.url(url))
            .header(IF_MODIFIED_SINCE, last_modified.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{url}");
        assert!(again.bytes().await.unwrap().is_empty());
        let older = app
            .client
            .get(app.url(url))
            .header(IF_MODIFIED_SINCE, "Sat, 01 Jan 2000 00:00:00 GMT")
            .send()
            .await
            .unwrap();
        assert_eq!(older.status(), StatusCode::OK, "{url}");
        let nonsense = app
            .client
            .get(app.url(url))
            .header(IF_MODIFIED_SINCE, "yesterday")
            .send()
            .await
            .unwrap();
        assert_eq!(nonsense.status(), StatusCode::OK, "{url}");
    }
}

/// `metrics.token`: `/metrics` only with the bearer token; open without it.
#[tokio::test]
async fn metrics_can_require_a_bearer_token() {
    let open = spawn_app().await;
    assert_eq!(open.get("/metrics").await.status(), StatusCode::OK);
    let guarded =
        crate::helpers::spawn_app_with(|c| c.metrics.token = "scrape-secret".into()).await;
    assert_eq!(
        guarded.get("/metrics").await.status(),
        StatusCode::UNAUTHORIZED
    );
    for wrong in ["scrape-secre", "scrape-secret2", ""] {
        let resp = guarded.get_as("/metrics", wrong).await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{wrong:?}");
    }
    // A user's API token is not the scrape token either.
    let resp = guarded.get_as("/metrics", &guarded.token).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let resp = guarded.get_as("/metrics", "scrape-secret").await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("scoot_http_requests_total")
    );
}

/// Media URLs need no session, so a node must stop serving a blob's bytes
/// once it is deleted, even when another process deleted it: on SQLite
/// this node hears only that the file changed (a resync), on PostgreSQL
/// the change itself, and a resync is also what a node does after it lost
/// its notices. Either way the bytes it cached must go.
#[tokio::test]
async fn bytes_another_process_deleted_stop_being_served() {
    let app = spawn_app_with(|c| c.trash.days = 0).await;
    let photo = app.upload_bytes("p.png", png(20, 10, [9, 8, 7])).await;
    let photo: scoot::web::api::PhotoJson = photo.json().await.unwrap();
    let photo = app.settled(&photo.id).await;
    let urls = [&photo.original_url, &photo.variants[0].url];
    // Twice each: into the byte cache, then kept whole by the front.
    for url in urls {
        for _ in 0..2 {
            assert_eq!(app.get(url).await.status(), StatusCode::OK, "{url}");
        }
    }

    // Another process on the same database and store deletes it for good.
    let other = scoot::start_core(&app.config).await.unwrap();
    let (alice, _) = other.db.user_by_name("alice").await.unwrap().unwrap();
    let id: PhotoId = photo.id.parse().unwrap();
    other.app.photos.delete(&alice, &id).await.unwrap();
    other.render.shutdown(Duration::from_secs(10)).await;

    let deadline = Instant::now() + Duration::from_secs(10);
    for url in urls {
        loop {
            let status = app.get(url).await.status();
            if status == StatusCode::NOT_FOUND {
                break;
            }
            assert_eq!(status, StatusCode::OK, "{url}");
            assert!(
                Instant::now() < deadline,
                "{url} still served after its blob was deleted elsewhere"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
