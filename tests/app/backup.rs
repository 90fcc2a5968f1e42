//! `scoot backup` and `scoot restore`, through the real binary: a library
//! backed up while it serves (and while uploads and deletes go on) comes
//! back byte for byte — photos, albums, users, tokens, blobs — into empty
//! engines; a restore refuses a target with data and a backup that is not
//! what its manifest says, and then writes nothing.

use std::path::Path;

use reqwest::StatusCode;
use scoot::db::copy::{TABLES, key_of};
use scoot::store::Store;

use crate::helpers::{TestApp, cli, cli_output, create_user, png, serve, spawn_app, test_config};

/// The number before `word` in `text`, e.g. `12` in "12 blobs".
fn number_before(text: &str, word: &str) -> u64 {
    let at = text
        .find(word)
        .unwrap_or_else(|| panic!("{word} in {text}"));
    text[..at]
        .split_whitespace()
        .last()
        .unwrap()
        .parse()
        .unwrap()
}

async fn upload(app: &TestApp, colour: u8) -> String {
    let resp = app
        .upload_bytes(&format!("{colour}.png"), png(48, 32, [colour, 40, 200]))
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let photo: scoot::web::api::PhotoJson = resp.json().await.unwrap();
    app.settled(&photo.id).await;
    photo.id
}

/// Every row of every table Scoot copies, in key order.
async fn rows(data: &Path) -> Vec<(&'static str, Vec<scoot::db::copy::Row>)> {
    let db = scoot::db::open(&test_config(data).database_url())
        .await
        .unwrap();
    let mut all = Vec::new();
    for (table, key) in TABLES {
        let columns = db.columns(table).await.unwrap();
        let (mut rows, mut after) = (Vec::new(), None);
        loop {
            let page = db
                .read_rows(table, &columns, key, after.as_deref(), 500)
                .await
                .unwrap();
            let Some(last) = page.last() else { break };
            after = Some(key_of(&columns, key, last));
            rows.extend(page);
        }
        all.push((*table, rows));
    }
    all
}

/// Every blob in the store, with its bytes.
async fn blobs(data: &Path) -> Vec<(String, Vec<u8>)> {
    let store = Store::open(&test_config(data).store_url()).unwrap();
    let mut all = Vec::new();
    for prefix in ["originals", "variants"] {
        for key in store.list_keys(Some(prefix)).await.unwrap() {
            let key = scoot::keys::BlobKey::parse(&key).unwrap();
            let (bytes, _) = store.get(&key).await.unwrap();
            all.push((key.as_str().to_owned(), bytes.to_vec()));
        }
    }
    all.sort();
    all
}

#[tokio::test]
async fn a_backup_taken_while_serving_restores_byte_for_byte() {
    let app = spawn_app().await;
    let bob = create_user(&app.config, "bob", false).await;
    let mut photos = Vec::new();
    for colour in [10, 20, 30] {
        photos.push(upload(&app, colour).await);
    }
    let album = app
        .client
        .post(app.url("/api/albums"))
        .bearer_auth(&app.token)
        .json(&serde_json::json!({"title": "Harbour", "visibility": "unlisted"}))
        .send()
        .await
        .unwrap();
    assert_eq!(album.status(), StatusCode::CREATED);
    let album: serde_json::Value = album.json().await.unwrap();
    let album = album["id"].as_str().unwrap().to_owned();
    for photo in &photos[..2] {
        let resp = app
            .client
            .put(app.url(&format!("/api/albums/{album}/photos/{photo}")))
            .bearer_auth(&app.token)
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success());
    }

    let dest = tempfile::tempdir().unwrap();
    let dest_arg = dest.path().to_str().unwrap();
    let first = cli(app.data_dir(), &["backup", dest_arg], "").await;
    assert!(first.contains("backed up 3 photos"), "{first}");
    let blob_count = number_before(&first, "blobs (");

    // Again, while uploads and a delete go on: only new blobs are
    // fetched, and the backup is a consistent whole.
    let busy = async {
        let mut more = Vec::new();
        for colour in [40, 50, 60] {
            more.push(upload(&app, colour).await);
        }
        let resp = app.delete_for_good(&more[2], &app.token).await;
        assert!(resp.status().is_success());
    };
    let backup = ["backup", dest_arg];
    let (during, ()) = tokio::join!(cli(app.data_dir(), &backup, ""), busy);
    assert!(
        number_before(&during, "already in the backup") >= blob_count,
        "{during}"
    );
    let after_busy = cli(app.data_dir(), &["backup", dest_arg], "").await;
    assert!(after_busy.contains("backed up 5 photos"), "{after_busy}");
    let last = cli(app.data_dir(), &["backup", dest_arg], "").await;
    assert_eq!(
        number_before(&last, "blobs fetched"),
        0,
        "nothing new since the backup before: {last}"
    );
    assert_eq!(
        number_before(&last, "already in the backup"),
        number_before(&last, "blobs (")
    );

    // Into empty engines: the same rows and the same bytes.
    let restored = tempfile::tempdir().unwrap();
    let out = cli(restored.path(), &["restore", dest_arg], "").await;
    assert!(out.contains("restored 5 photos"), "{out}");
    let (before, after) = (rows(app.data_dir()).await, rows(restored.path()).await);
    for ((table, a), (_, b)) in before.iter().zip(&after) {
        assert_eq!(a, b, "{table}");
    }
    assert_eq!(blobs(app.data_dir()).await, blobs(restored.path()).await);
    let check = cli(restored.path(), &["check"], "").await;
    assert!(check.contains("no problems left"), "{check}");

    // The restored site serves the same library to the same tokens.
    let (mut server, base) = serve(restored.path());
    let client = reqwest::Client::new();
    let list = |token: String| {
        let (client, base) = (client.clone(), base.clone());
        async move {
            let resp = client
                .get(format!("{base}/api/photos"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), StatusCode::OK);
            resp.text().await.unwrap()
        }
    };
    let original = app
        .get_as("/api/photos", &app.token)
        .await
        .text()
        .await
        .unwrap();
    let restored_list = list(app.token.clone()).await;
    let ids = |text: &str| -> Vec<String> {
        let v: serde_json::Value = serde_json::from_str(text).unwrap();
        v["photos"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids(&original), ids(&restored_list));
    assert!(!list(bob).await.is_empty(), "bob's token works too");
    let media = ids(&restored_list)
        .first()
        .map(|id| format!("{base}/api/photos/{id}"))
        .unwrap();
    let photo: serde_json::Value = client
        .get(media)
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(photo["status"], "ready");
    let _ = server.kill();
    let _ = server.wait();

    // A target with data is refused.
    let again = cli_output(restored.path(), &["restore", dest_arg], "").await;
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already holds data"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
}

#[tokio::test]
async fn a_damaged_backup_is_refused_before_anything_is_written() {
    let app = spawn_app().await;
    upload(&app, 70).await;
    let dest = tempfile::tempdir().unwrap();
    let dest_arg = dest.path().to_str().unwrap();
    cli(app.data_dir(), &["backup", dest_arg], "").await;
    let manifest = std::fs::read_to_string(dest.path().join("manifest")).unwrap();
    let variant = manifest
        .lines()
        .find_map(|l| l.strip_prefix("blob variants/"))
        .and_then(|l| l.split(' ').next())
        .unwrap();
    let file = dest.path().join("blobs/variants").join(variant);
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[100] ^= 0xff;
    std::fs::write(&file, bytes).unwrap();

    let target = tempfile::tempdir().unwrap();
    let out = cli_output(target.path(), &["restore", dest_arg], "").await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("not what the manifest says"), "{stderr}");
    assert!(blobs(target.path()).await.is_empty(), "no blob written");
    assert!(
        rows(target.path()).await.iter().all(|(_, r)| r.is_empty()),
        "no row written"
    );

    // A folder that is not a backup is neither restored nor written into.
    let other = tempfile::tempdir().unwrap();
    std::fs::write(other.path().join("notes.txt"), b"mine").unwrap();
    let out = cli_output(
        app.data_dir(),
        &["backup", other.path().to_str().unwrap()],
        "",
    )
    .await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("holds files but no backup"));
    let out = cli_output(
        target.path(),
        &["restore", other.path().to_str().unwrap()],
        "",
    )
    .await;
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a backup"));
}
