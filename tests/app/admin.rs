//! The admin page: admins only, charts of the last hour, failures with reasons.

use reqwest::StatusCode;

use crate::helpers::{create_user, png, spawn_app_with};

/// `bytes` accepted for `user` by a node's services, the way an upload is,
/// without going through HTTP.
async fn accept_on(app: &scoot::app::App, user: &str, bytes: Vec<u8>) -> scoot::model::Photo {
    use scoot::app::uploads::{Describe, Staged};
    let owner = app.accounts.named(user).await.unwrap().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("upload");
    std::fs::write(&file, bytes).unwrap();
    let staged = Staged::existing(file).await.unwrap();
    let accepted = app
        .uploads
        .accept(&staged, &owner, Describe::default())
        .await
        .unwrap();
    accepted.photo().clone()
}

#[tokio::test]
async fn admins_see_the_charts_and_why_renders_failed() {
    // A photo whose original is damaged in the store after it was
    // accepted (bit rot, an operator's slip): uploads are checked, so that
    // is what still makes a render fail. Accepted by a node that renders
    // nothing, damaged, then rendered by the app under test.
    let shared = tempfile::tempdir().unwrap();
    let site = crate::helpers::test_config(shared.path());
    let (database_url, store_url) = (site.database_url(), site.store_url());
    create_user(&site, "ann", false).await;
    let core = scoot::start_core(&site).await.unwrap();
    core.render
        .shutdown(std::time::Duration::from_secs(10))
        .await;
    let victim = accept_on(&core.app, "ann", png(300, 200, [10, 200, 10])).await;
    let key = scoot::keys::BlobKey::original(&victim.hash, victim.format);
    core.store
        .put(&key, bytes::Bytes::from_static(b"\x89PNG\r\n\x1a\n rotted"))
        .await
        .unwrap();

    let app = spawn_app_with(|c| {
        c.database_url = database_url;
        c.store_url = store_url;
    })
    .await;
    let bob = create_user(&app.config, "bob", false).await;
    let anon = app.get("/admin").await;
    assert_eq!(anon.status(), StatusCode::SEE_OTHER);
    assert_eq!(anon.headers()["location"], "/login?next=/admin");
    assert_eq!(
        app.get_as("/admin", &bob).await.status(),
        StatusCode::FORBIDDEN
    );

    let good = app
        .upload_bytes("good.png", png(64, 48, [200, 30, 30]))
        .await;
    let good: scoot::web::api::PhotoJson = good.json().await.unwrap();
    assert_eq!(app.settled(&good.id).await.status, "ready");
    let bad_id = victim.id.to_string();
    let failed = app.settled(&bad_id).await;
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
        html.contains(&format!("href=\"/photos/{bad_id}\"")),
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

/// Two nodes on one database and store: what one node counted shows on
/// the other's admin page (before, each node charted only its own).
#[tokio::test]
async fn the_admin_figures_add_up_every_node() {
    let shared = tempfile::tempdir().unwrap();
    let site = crate::helpers::test_config(shared.path());
    let (database_url, store_url) = (site.database_url(), site.store_url());

    // Node A renders a photo and records its interval.
    let a_dir = tempfile::tempdir().unwrap();
    let mut a_config = crate::helpers::test_config(a_dir.path());
    a_config.database_url = database_url.clone();
    a_config.store_url = store_url.clone();
    create_user(&a_config, "ann", true).await;
    let a = scoot::start_core(&a_config).await.unwrap();
    let id = accept_on(&a.app, "ann", png(64, 48, [1, 2, 3])).await.id;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while a.db.photo(&id).await.unwrap().unwrap().status != scoot::domain::PhotoStatus::Ready {
        assert!(
            std::time::Instant::now() < deadline,
            "render did not finish"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    a.history.record(a.db.as_ref(), &a.metrics).await.unwrap();
    a.render.shutdown(std::time::Duration::from_secs(10)).await;

    // Node B, which rendered nothing, shows it.
    let b = spawn_app_with(|c| {
        c.database_url = database_url;
        c.store_url = store_url;
    })
    .await;
    let samples = b.services().ops.samples().await.unwrap();
    let last = samples.last().unwrap();
    assert_eq!(last.renders_ready, 1, "{samples:?}");
    assert!(last.storage_bytes > 0);
    let page = b.get_as("/admin", &b.token).await;
    assert_eq!(page.status(), StatusCode::OK);
    b.shutdown().await;
}
