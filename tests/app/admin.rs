//! The admin page: admins only, charts of the last hour, failures with reasons.

use reqwest::StatusCode;

use crate::helpers::{create_user, png, spawn_app};

#[tokio::test]
async fn admins_see_the_charts_and_why_renders_failed() {
    let app = spawn_app().await;
    let bob = create_user(&app.config, "bob", false).await;
    let anon = app.get("/admin").await;
    assert_eq!(anon.status(), StatusCode::SEE_OTHER);
    assert_eq!(anon.headers()["location"], "/login?next=/admin");
    assert_eq!(
        app.get_as("/admin", &bob).await.status(),
        StatusCode::FORBIDDEN
    );

    // One photo that renders and one whose pixel data is cut short: its
    // header passes the upload checks, its render fails.
    let good = app
        .upload_bytes("good.png", png(64, 48, [200, 30, 30]))
        .await;
    let good: scoot::web::api::PhotoJson = good.json().await.unwrap();
    let mut broken = png(300, 200, [10, 200, 10]);
    broken.truncate(broken.len() * 2 / 3);
    let bad = app.upload_bytes("broken.png", broken).await;
    assert_eq!(bad.status(), StatusCode::CREATED);
    let bad: scoot::web::api::PhotoJson = bad.json().await.unwrap();
    assert_eq!(app.settled(&good.id).await.status, "ready");
    let failed = app.settled(&bad.id).await;
    assert_eq!(failed.status, "failed");
    let reason = failed.error.expect("a failure has a reason");

    let resp = app.get_as("/admin", &app.token).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let html = resp.text().await.unwrap();
    for title in [
        "Render queue",
        "Renders",
        "Render failures",
        "Cache hit ratio",
        "Storage used",
    ] {
        assert!(html.contains(&format!("<h2>{title}</h2>")), "{title}");
    }
    assert_eq!(html.matches("<svg viewBox=\"0 0 240 48\"").count(), 5);
    assert!(
        html.contains(&format!("href=\"/photos/{}\"", bad.id)),
        "the failure is listed"
    );
    let escaped = reason
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&#34;")
        .replace('\'', "&#39;");
    assert!(html.contains(&escaped), "with its reason: {reason}");
    // Storage counts the stored original and variants: not zero, not "no data".
    let storage = html.split("<h2>Storage used</h2>").nth(1).unwrap();
    let now = storage.split("<p class=\"now\">").nth(1).unwrap();
    assert!(
        !now.starts_with("0 bytes") && !now.starts_with("no data"),
        "{now}"
    );
}
