//! `scoot import`: bulk import through the upload path, safe to re-run.

use std::path::Path;
use std::time::Duration;

use scoot::domain::{PhotoStatus, Visibility};
use scoot::import::ImportAs;
use scoot::timeline::PhotoOrder;

use crate::helpers::{cli_blocking, create_user, fixture, png, read_fixture, scoot, test_config};

/// A folder of photos: six good ones (one nested), a duplicate, a text file
/// dressed as a JPEG and a broken image.
fn library(dir: &Path) -> usize {
    std::fs::create_dir_all(dir.join("2024/summer")).unwrap();
    for n in 1..=5 {
        std::fs::copy(
            fixture(&format!("orientation/Portrait_{n}.jpg")),
            dir.join(format!("p{n}.jpg")),
        )
        .unwrap();
    }
    std::fs::write(
        dir.join("2024/summer/beach.PNG"),
        png(64, 48, [10, 120, 200]),
    )
    .unwrap();
    std::fs::copy(
        fixture("orientation/Portrait_1.jpg"),
        dir.join("2024/copy-of-p1.jpg"),
    )
    .unwrap();
    std::fs::write(dir.join("2024/notes.jpg"), b"this is not a photo").unwrap();
    let mut broken = read_fixture("orientation/Portrait_2.jpg");
    broken.truncate(300);
    std::fs::write(dir.join("2024/broken.jpg"), broken).unwrap();
    std::fs::write(dir.join("README.txt"), b"ignored: not an image extension").unwrap();
    6
}

#[tokio::test]
async fn import_walks_folders_dedups_and_reruns_skip_everything() {
    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("photos");
    let good = library(&photos);
    let config = test_config(&dir.path().join("data"));
    create_user(&config, "alice", true).await;

    let first = scoot::import::import(
        &config,
        std::slice::from_ref(&photos),
        &ImportAs::default(),
        std::future::pending(),
    )
    .await
    .unwrap();
    assert_eq!(first.imported, good, "{}", first.report());
    assert_eq!(first.duplicates, 1, "the copy of p1");
    assert!(!first.interrupted);
    let failed: Vec<_> = first
        .failed
        .iter()
        .map(|(p, reason)| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                reason.clone(),
            )
        })
        .collect();
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert!(
        failed
            .iter()
            .any(|(f, r)| f == "notes.jpg" && r.contains("not an image"))
    );
    assert!(
        failed
            .iter()
            .any(|(f, r)| f == "broken.jpg" && !r.is_empty())
    );

    // Every imported photo is rendered by the time import returns.
    let db = scoot::db::open(&config.database_url()).await.unwrap();
    let all = db
        .list_photos(100, None, None, PhotoOrder::Newest)
        .await
        .unwrap();
    let ready = all
        .iter()
        .filter(|p| p.status == PhotoStatus::Ready)
        .count();
    assert_eq!(ready, good);
    assert!(all.iter().all(|p| p.status != PhotoStatus::Pending));

    // Running it again skips everything already imported.
    let again = scoot::import::import(
        &config,
        std::slice::from_ref(&photos),
        &ImportAs::default(),
        std::future::pending(),
    )
    .await
    .unwrap();
    assert_eq!(again.imported, 0, "{}", again.report());
    assert_eq!(again.duplicates, good + 1);
    assert_eq!(
        db.list_photos(100, None, None, PhotoOrder::Newest)
            .await
            .unwrap()
            .len(),
        all.len()
    );
}

#[tokio::test]
async fn an_interrupted_import_finishes_on_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("many");
    std::fs::create_dir_all(&photos).unwrap();
    let total = 40;
    for i in 0..total {
        // Big enough that forty take well over the 40 ms before the interrupt.
        std::fs::write(
            photos.join(format!("{i:03}.png")),
            png(1200, 800, [i as u8, 3, 200]),
        )
        .unwrap();
    }
    let config = test_config(&dir.path().join("data"));
    create_user(&config, "alice", true).await;

    let alice = ImportAs {
        user: Some("alice".into()),
        ..ImportAs::default()
    };
    let stop = tokio::time::sleep(Duration::from_millis(40));
    let first = scoot::import::import(&config, std::slice::from_ref(&photos), &alice, stop)
        .await
        .unwrap();
    assert!(
        first.interrupted && first.imported < total,
        "{}",
        first.report()
    );
    let second = scoot::import::import(
        &config,
        std::slice::from_ref(&photos),
        &alice,
        std::future::pending(),
    )
    .await
    .unwrap();
    assert!(second.failed.is_empty(), "{}", second.report());
    assert_eq!(
        first.imported + second.imported,
        total,
        "{}\n{}",
        first.report(),
        second.report()
    );
    assert_eq!(second.duplicates, first.imported);
    let db = scoot::db::open(&config.database_url()).await.unwrap();
    let all = db
        .list_photos(1000, None, None, PhotoOrder::Newest)
        .await
        .unwrap();
    assert_eq!(all.len(), total);
    assert!(all.iter().all(|p| p.status == PhotoStatus::Ready));
}

#[test]
fn the_cli_prints_a_summary_and_fails_on_refused_files() {
    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("photos");
    let good = library(&photos);
    let data = dir.path().join("data");
    cli_blocking(
        &data,
        &["user", "add", "dave", "--admin"],
        "a good password\n",
    );
    let out = scoot(&data)
        .args(["import", "--threads", "1", "--visibility", "private"])
        .arg(&photos)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "two files cannot be imported");
    assert!(
        stdout.starts_with(&format!("imported {good}, duplicates 1, failed 2 ")),
        "{stdout}"
    );
    assert!(stdout.contains("notes.jpg: not an image"), "{stdout}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("2 file(s) could not be imported"),
        "{stderr}"
    );

    // --visibility private: only the owner sees what was imported.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let db = scoot::db::open(&test_config(&data).database_url())
            .await
            .unwrap();
        let dave = db.user_by_name("dave").await.unwrap().unwrap().0;
        let own = db
            .list_photos(100, None, Some(&dave.id), PhotoOrder::Newest)
            .await
            .unwrap();
        assert_eq!(own.len(), good);
        assert!(own.iter().all(|p| p.visibility == Visibility::Private));
        assert!(
            db.list_photos(100, None, None, PhotoOrder::Newest)
                .await
                .unwrap()
                .is_empty()
        );
    });
    let bad = scoot(&data)
        .args(["import", "--visibility", "secret"])
        .arg(&photos)
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("secret"));
}

#[tokio::test]
async fn an_import_beside_a_running_server_finishes_when_the_server_renders() {
    // `scoot serve` on the same data claims some of the import's jobs; the
    // import must notice those renders too, though their changes are the
    // other process's.
    let app = crate::helpers::spawn_app().await;
    let photos = app.data_dir().join("incoming");
    std::fs::create_dir_all(&photos).unwrap();
    for i in 0..24u8 {
        std::fs::write(
            photos.join(format!("{i:02}.png")),
            png(2400, 1600, [i, 90, 30]),
        )
        .unwrap();
    }
    // One render thread here, so that the server's pool gets its share.
    let mut config = app.config.clone();
    config.render.threads = 1;
    let summary = tokio::time::timeout(
        Duration::from_secs(90),
        scoot::import::import(
            &config,
            std::slice::from_ref(&photos),
            &ImportAs::default(),
            std::future::pending(),
        ),
    )
    .await
    .expect("the import finishes")
    .unwrap();
    assert_eq!(summary.imported, 24, "{}", summary.report());
    app.shutdown().await;
}
