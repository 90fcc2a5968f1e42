//! Live render status over Server-Sent Events (`/api/events`).

use std::time::Duration;

use futures_util::StreamExt;
use reqwest::StatusCode;

use scoot::db::Reserve;
use scoot::domain::{ContentHash, ImageFormat, PhotoId, ShotFacts, Visibility, now_millis};
use scoot::model::NewPhoto;

use crate::helpers::{spawn_app, spawn_app_with};

/// Reads an event stream to its end (or until `limit`), as text.
async fn read_stream(resp: reqwest::Response, limit: Duration) -> String {
    let mut body = resp.bytes_stream();
    let mut text = String::new();
    let _ = tokio::time::timeout(limit, async {
        while let Some(Ok(chunk)) = body.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await;
    text
}

#[tokio::test]
async fn a_stream_tells_when_each_photo_settles_then_ends() {
    // One render thread and two photos: the second is still pending when
    // the stream opens, the first may already be done; both must come.
    let app = spawn_app_with(|c| c.render.threads = 1).await;
    let a = app.upload_fixture("orientation/Landscape_1.jpg").await;
    let b = app.upload_fixture("orientation/Portrait_6.jpg").await;
    let resp = app
        .get(&format!("/api/events?photos={},{}", a.id, b.id))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let opened = std::time::Instant::now();
    let text = read_stream(resp, Duration::from_secs(60)).await;
    // The stream rechecks the database every 15 s; ending well before that
    // means the render pool's broadcast delivered (b renders in well under
    // a second, after a, so it is still pending when the stream opens).
    assert!(
        opened.elapsed() < Duration::from_secs(10),
        "the stream waited for a recheck: {:?}",
        opened.elapsed()
    );
    let events: Vec<serde_json::Value> = text
        .split("\n\n")
        .filter(|e| e.contains("event:photo"))
        .map(|e| {
            let data = e.lines().find_map(|l| l.strip_prefix("data:")).unwrap();
            serde_json::from_str(data).unwrap()
        })
        .collect();
    assert_eq!(events.len(), 2, "{text}");
    for id in [&a.id, &b.id] {
        let e = events
            .iter()
            .find(|e| e["id"] == **id)
            .expect("an event per photo");
        assert_eq!(e["status"], "ready");
        assert!(!e["variants"].as_array().unwrap().is_empty());
    }
}

#[tokio::test]
async fn deleted_photos_are_gone_and_bad_requests_are_refused() {
    let app = spawn_app().await;
    let p = app.upload_fixture("orientation/Landscape_1.jpg").await;
    app.settled(&p.id).await;
    let deleted = app
        .client
        .delete(app.url(&format!("/api/photos/{}", p.id)))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let resp = app.get(&format!("/api/events?photos={}", p.id)).await;
    let text = read_stream(resp, Duration::from_secs(10)).await;
    assert!(text.contains("event:gone"), "{text}");
    assert!(text.contains(&format!("data:{}", p.id)), "{text}");

    for bad in [
        "/api/events",
        "/api/events?photos=",
        "/api/events?photos=../x",
    ] {
        let resp = app.get(bad).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{bad}");
        let json: serde_json::Value = resp.json().await.unwrap();
        assert!(json["error"].is_string());
    }
}

#[tokio::test]
async fn open_streams_end_when_scoot_shuts_down() {
    // A photo whose render job is not due for an hour stays pending, so
    // the stream watching it can only end by the shutdown.
    let app = spawn_app().await;
    let db = scoot::db::open(&app.config.database_url()).await.unwrap();
    let (alice, _) = db.user_by_name("alice").await.unwrap().unwrap();
    let id = PhotoId::generate();
    let later = now_millis() + 3_600_000;
    let hash = ContentHash::of(b"never rendered");
    let Reserve::Reserved(reservation) = db
        .reserve_blob(&hash, ImageFormat::Jpeg, later)
        .await
        .unwrap()
    else {
        panic!("nothing deletes these bytes");
    };
    db.insert_photo(
        NewPhoto {
            id: id.clone(),
            owner: alice.id,
            hash,
            format: ImageFormat::Jpeg,
            byte_size: 14,
            width: 40,
            height: 30,
            title: String::new(),
            caption: String::new(),
            filename: String::new(),
            visibility: Visibility::Public,
            shot: ShotFacts::default(),
        },
        &reservation.id,
        later,
    )
    .await
    .unwrap();
    let resp = app.get(&format!("/api/events?photos={id}")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let reading = tokio::spawn(read_stream(resp, Duration::from_secs(30)));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !reading.is_finished(),
        "the stream stays open while pending"
    );
    let started = std::time::Instant::now();
    app.shutdown().await;
    let text = reading.await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "shutdown waited for the stream"
    );
    assert!(!text.contains("event:photo"), "{text}");
}
