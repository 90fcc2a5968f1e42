//! `scoot migrate-db` and `scoot migrate-store`: a one-box install (SQLite
//! and the local disk, whatever the suite runs on) copied into the
//! production engines the environment names — or, in a hermetic run, into
//! another SQLite file and folder — then served from there: the same
//! users, tokens, photos, albums, share links and media URLs, and nothing
//! rendered again. The copies are interrupted and resumed, and a target
//! that holds other data is refused.

use std::path::Path;
use std::process::Command;

use reqwest::StatusCode;
use scoot::db::copy::TABLES;
use scoot::migrate::{MigrateError, migrate_db, migrate_store};
use serde_json::{Value, json};

use crate::helpers::{backends, create_user, spawn_app_with, test_config};

/// The production engines for data dir `dir`, or a second SQLite file and
/// folder when the environment names none.
fn targets(dir: &Path) -> (String, String) {
    let (database, store) = backends(dir);
    (
        database.unwrap_or_else(|| format!("sqlite://{}", dir.join("copy.db").display())),
        store.unwrap_or_else(|| format!("file://{}", dir.join("copy-media").display())),
    )
}

async fn json_as(app: &crate::helpers::TestApp, path: &str, token: &str) -> Value {
    let resp = app.get_as(path, token).await;
    assert_eq!(resp.status(), StatusCode::OK, "{path}");
    resp.json().await.unwrap()
}

#[tokio::test]
async fn a_one_box_install_moves_to_production_without_a_url_changing() {
    // The one box: SQLite and the local disk.
    let app = spawn_app_with(|c| {
        c.database_url.clear();
        c.store_url.clear();
    })
    .await;
    let bob = create_user(&app.config, "bob", false).await;
    let mut ids = Vec::new();
    for n in [1, 6, 8] {
        ids.push(
            app.upload_fixture(&format!("orientation/Landscape_{n}.jpg"))
                .await
                .id,
        );
    }
    for id in &ids {
        app.settled(id).await;
    }
    let send = |method: reqwest::Method, path: String, body: Value| {
        app.client
            .request(method, app.url(&path))
            .bearer_auth(&app.token)
            .json(&body)
            .send()
    };
    let resp = send(
        reqwest::Method::PATCH,
        format!("/api/photos/{}", ids[1]),
        json!({"visibility": "unlisted", "title": "By link"}),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let album: Value = send(
        reqwest::Method::POST,
        "/api/albums".into(),
        json!({"title": "Harbour", "visibility": "unlisted"}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let album_id = album["id"].as_str().unwrap().to_owned();
    for id in [&ids[2], &ids[0]] {
        let path = format!("/api/albums/{album_id}/photos/{id}");
        let resp = send(reqwest::Method::PUT, path, Value::Null).await.unwrap();
        assert_eq!(resp.status(), StatusCode::CREATED);
    }
    let before_list = json_as(&app, "/api/photos", &app.token).await;
    let before_album = json_as(&app, &format!("/api/albums/{album_id}"), &app.token).await;
    let share_url = before_list["photos"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|p| p["share_url"].as_str())
        .expect("the unlisted photo's link")
        .to_owned();
    let mut originals = Vec::new();
    for p in before_list["photos"].as_array().unwrap() {
        let url = p["original_url"].as_str().unwrap().to_owned();
        let bytes = app.bytes(&url).await;
        originals.push((url, bytes));
    }
    let source = app.config.clone();
    let alice = app.token.clone();
    let _one_box = app.stop_keeping_data().await;

    let dir = tempfile::tempdir().unwrap();
    let (database, store) = targets(dir.path());

    // An interrupted copy: the mark and the first table are in the target.
    let target = scoot::db::open(&database).await.unwrap();
    let from = scoot::db::open(&source.database_url()).await.unwrap();
    target
        .set_copy_marker(Some(&scoot::db::redacted(&source.database_url())))
        .await
        .unwrap();
    let (users, key) = TABLES[0];
    let columns = from.columns(users).await.unwrap();
    let rows = from
        .read_rows(users, &columns, key, None, 100)
        .await
        .unwrap();
    assert_eq!(target.write_rows(users, &columns, &rows).await.unwrap(), 2);
    drop((target, from));
    let copied = migrate_db(&source, &database).await.unwrap();
    assert!(copied.resumed);
    let count = |table: &str| copied.tables.iter().find(|t| t.0 == table).unwrap();
    assert_eq!(count("users"), &("users", 0, 2), "{}", copied.report());
    assert_eq!(count("photos"), &("photos", 3, 3), "{}", copied.report());
    assert_eq!(count("album_photos").2, 2);
    assert_eq!(count("render_jobs").2, 0, "nothing left to render");

    // The store: one blob already there, as an interrupted copy leaves it.
    let source_store = scoot::store::Store::open(&source.store_url()).unwrap();
    let target_store = scoot::store::Store::open(&store).unwrap();
    let first =
        scoot::keys::BlobKey::parse(&source_store.list_keys(Some("originals")).await.unwrap()[0])
            .unwrap();
    let (bytes, _) = source_store.get(&first).await.unwrap();
    target_store.put_original(&first, bytes).await.unwrap();
    target_store
        .set_note("scoot-copy-in-progress", Some(source.store_url().into()))
        .await
        .unwrap();
    let blobs = migrate_store(&source, &store).await.unwrap();
    assert!(blobs.resumed, "{}", blobs.report());
    assert_eq!(blobs.present, 1, "{}", blobs.report());
    assert_eq!(
        blobs.copied + blobs.present,
        3 * 9,
        "3 originals, 8 variants each"
    );

    // Both targets now hold data: another copy into them is refused, and
    // the command says so in one line and fails.
    assert!(matches!(
        migrate_db(&source, &database).await,
        Err(MigrateError::Refused(_))
    ));
    assert!(matches!(
        migrate_store(&source, &store).await,
        Err(MigrateError::Refused(_))
    ));
    let out = Command::new(env!("CARGO_BIN_EXE_scoot"))
        .arg("--data-dir")
        .arg(&source.data_dir)
        .args(["migrate-db", "--to", &database])
        .env_remove("SCOOT_DATABASE_URL")
        .env_remove("SCOOT_STORE_URL")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("already holds data"), "{stderr}");

    // Production serves what the one box served, at the same URLs, with the
    // same tokens, and renders nothing again.
    let mut production = test_config(dir.path());
    production.database_url = database;
    production.store_url = store;
    let served = scoot::start(production).await.unwrap();
    let base = format!("http://{}", served.local_addr());
    let client = reqwest::Client::new();
    let get = async |path: &str, token: Option<&str>| {
        let mut req = client.get(format!("{base}{path}"));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        req.send().await.unwrap()
    };
    let json = async |path: &str, token: &str| -> Value {
        let resp = get(path, Some(token)).await;
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        resp.json().await.unwrap()
    };
    assert_eq!(json("/api/photos", &alice).await, before_list);
    assert_eq!(
        json(&format!("/api/albums/{album_id}"), &alice).await,
        before_album
    );
    let seen = json(&format!("/api/photos/{}", ids[0]), &bob).await;
    assert_eq!(seen["id"], ids[0].as_str(), "bob's token still works");
    for (url, bytes) in &originals {
        let resp = get(url, None).await;
        assert_eq!(resp.status(), StatusCode::OK, "{url}");
        assert_eq!(&resp.bytes().await.unwrap()[..], &bytes[..], "{url}");
    }
    assert_eq!(get(&share_url, None).await.status(), StatusCode::OK);
    let metrics = get("/metrics", None).await.text().await.unwrap();
    assert!(metrics.contains("scoot_render_queue_depth 0"), "{metrics}");
    assert!(
        !metrics.contains("scoot_renders_total"),
        "nothing rendered again"
    );
    served.shutdown().await;
}
