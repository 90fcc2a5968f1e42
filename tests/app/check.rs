//! `scoot check [--repair]`: each kind of damage is found, nothing changes
//! without `--repair`, and `--repair` mends what is safe while the render
//! pool runs beside it — on whatever engines the environment names.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use scoot::Core;
use scoot::app::uploads::{Describe, Staged};
use scoot::auth::Hasher;
use scoot::check::{Kind, MISSING_ORIGINAL, Options, Report, check};
use scoot::config::Config;
use scoot::domain::{ContentHash, ImageFormat, PhotoId, PhotoStatus, VariantSpec, now_millis};
use scoot::keys::BlobKey;
use scoot::model::{Inserted, Photo, User};

use crate::helpers::{png, scoot, test_config};

async fn owner(db: &dyn scoot::db::Repo) -> User {
    scoot::auth::create_user(
        db,
        &Hasher::new(1),
        "alice",
        Some("a long password"),
        true,
        false,
    )
    .await
    .unwrap()
    .unwrap()
}

async fn upload(core: &Core, dir: &Path, owner: &User, colour: u8) -> PhotoId {
    let file = dir.join(format!("upload-{colour}.png"));
    std::fs::write(&file, png(40, 30, [colour, 90, 160])).unwrap();
    let staged = Staged::existing(file).await.unwrap();
    match core
        .app
        .uploads
        .accept(&staged, owner, Describe::default())
        .await
        .unwrap()
    {
        Inserted::New(photo) => photo.id,
        Inserted::Duplicate(photo) => photo.id,
    }
}

async fn settled(core: &Core, id: &PhotoId) -> Photo {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let photo = core.db.photo(id).await.unwrap().expect("photo exists");
        if photo.status != PhotoStatus::Pending {
            return photo;
        }
        assert!(Instant::now() < deadline, "render did not finish");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn run(config: &Config, repair: bool) -> Report {
    check(config, Options { repair }).await.unwrap()
}

fn found(report: &Report, kind: Kind) -> u64 {
    report.tally(kind).found
}

/// Makes a local file look `hours` old.
fn age(path: &Path, hours: u64) {
    let file = std::fs::File::options().write(true).open(path).unwrap();
    file.set_modified(SystemTime::now() - Duration::from_secs(hours * 3600))
        .unwrap();
}

#[tokio::test]
async fn check_finds_the_damage_and_repair_mends_it_while_renders_run() {
    let dir = tempfile::tempdir().unwrap();
    let config = test_config(dir.path());
    let local = config.store_url().starts_with("file://");
    let core = scoot::start_core(&config).await.unwrap();
    let alice = owner(core.db.as_ref()).await;
    let mut photos = Vec::new();
    for colour in [10, 20, 30, 40] {
        let id = upload(&core, dir.path(), &alice, colour).await;
        photos.push(settled(&core, &id).await);
    }
    let clean = run(&config, false).await;
    assert!(clean.is_clean(), "{}", clean.summary());
    assert_eq!(clean.photos[&PhotoStatus::Ready], 4);
    assert_eq!(clean.hashed, 4);

    // The damage: a lost original, a lost variant, a corrupt original,
    // blobs nothing uses, an old variant, and what killed processes leave.
    let [lost, thin, corrupt, kept] = &photos[..] else {
        unreachable!()
    };
    let store = &core.store;
    store
        .delete(&BlobKey::original(&lost.hash, lost.format))
        .await
        .unwrap();
    let lost_variant = BlobKey::parse(&thin.variants[0].key).unwrap();
    store.delete(&lost_variant).await.unwrap();
    let corrupt_key = BlobKey::original(&corrupt.hash, corrupt.format);
    store
        .put(&corrupt_key, Bytes::from_static(b"not the uploaded bytes"))
        .await
        .unwrap();
    let stray = ContentHash::of(b"bytes nobody uploaded");
    let stray_keys = [
        BlobKey::original(&stray, ImageFormat::Png),
        BlobKey::variant(
            &stray,
            &VariantSpec::new("thumb", 400),
            "q82p",
            ImageFormat::Jpeg,
        ),
    ];
    for key in &stray_keys {
        store.put(key, Bytes::from_static(b"stray")).await.unwrap();
    }
    let old_variant = BlobKey::variant(
        &kept.hash,
        &VariantSpec::new("thumb", 400),
        "q10",
        ImageFormat::Jpeg,
    );
    store
        .put(&old_variant, Bytes::from_static(b"old"))
        .await
        .unwrap();
    let media = dir.path().join("media");
    let staging = [
        media.join(format!("{}#7", corrupt_key.as_str())),
        dir.path().join("tmp/upload-killed"),
    ];
    if local {
        age(&media.join(old_variant.as_str()), 48);
        for file in &staging {
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(file, b"half an upload").unwrap();
            age(file, 2);
        }
        // A write in progress is not a leftover.
        std::fs::write(dir.path().join("tmp/upload-now"), b"in flight").unwrap();
    }

    let report = run(&config, false).await;
    let summary = report.summary();
    assert_eq!(found(&report, Kind::MissingOriginal), 1, "{summary}");
    assert_eq!(found(&report, Kind::MissingVariant), 1, "{summary}");
    assert_eq!(found(&report, Kind::CorruptOriginal), 1, "{summary}");
    assert_eq!(found(&report, Kind::Orphan), 1, "{summary}");
    assert_eq!(report.tally(Kind::Orphan).bytes, 10, "{summary}");
    let local_only = u64::from(local);
    assert_eq!(found(&report, Kind::Leftover), 2 * local_only, "{summary}");
    assert_eq!(found(&report, Kind::StaleVariant), local_only, "{summary}");
    assert_eq!(report.problems_left(), 4 + 2 * local_only, "{summary}");
    assert!(summary.contains(lost.id.as_str()), "{summary}");
    // Without --repair, nothing changed.
    assert_eq!(
        core.db.photo(&lost.id).await.unwrap().unwrap().status,
        PhotoStatus::Ready
    );
    assert!(store.head(&stray_keys[0]).await.unwrap().is_some());
    assert!(!local || staging.iter().all(|f| f.exists()));

    let repaired = run(&config, true).await;
    let summary = repaired.summary();
    assert_eq!(
        repaired.problems_left(),
        1,
        "only the corrupt original: {summary}"
    );
    let lost_now = core.db.photo(&lost.id).await.unwrap().unwrap();
    assert_eq!(lost_now.status, PhotoStatus::Failed);
    assert_eq!(lost_now.error.as_deref(), Some(MISSING_ORIGINAL));
    for key in &stray_keys {
        assert!(store.head(key).await.unwrap().is_none(), "{key:?}");
    }
    if local {
        assert!(staging.iter().all(|f| !f.exists()));
        assert!(dir.path().join("tmp/upload-now").exists());
        assert!(store.head(&old_variant).await.unwrap().is_none());
    }
    // The running pool renders the thin photo again.
    let deadline = Instant::now() + Duration::from_secs(60);
    while store.head(&lost_variant).await.unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "the variant was not rendered again"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(settled(&core, &thin.id).await.status, PhotoStatus::Ready);

    // Deleting the corrupt photo is the person's remedy; then all is well.
    core.app.photos.delete(&alice, &corrupt.id).await.unwrap();
    core.app.trash.purge(&alice, &corrupt.id).await.unwrap();
    let after = run(&config, false).await;
    assert!(after.is_clean(), "{}", after.summary());
    assert_eq!(after.photos[&PhotoStatus::Failed], 1);
}

#[tokio::test]
async fn abandoned_renders_are_queued_again_and_the_cli_exits_1_until_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let config = test_config(dir.path());
    let Core {
        app, db, render, ..
    } = scoot::start_core(&config).await.unwrap();
    // Nothing renders here: a dead node claimed the render and vanished.
    render.shutdown(Duration::from_secs(5)).await;
    let staged_dir = tempfile::tempdir().unwrap();
    let file = staged_dir.path().join("a.png");
    std::fs::write(&file, png(30, 20, [1, 2, 3])).unwrap();
    let alice = owner(db.as_ref()).await;
    let staged = Staged::existing(file).await.unwrap();
    let Inserted::New(photo) = app
        .uploads
        .accept(&staged, &alice, Describe::default())
        .await
        .unwrap()
    else {
        panic!("a new photo")
    };
    // A lease that ran out an hour ago.
    let claimed = db
        .claim_jobs(10, now_millis(), -3_600_000, "dead")
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);

    let out = scoot(dir.path()).arg("check").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("abandoned renders"), "{stdout}");
    assert!(stdout.contains("--repair` mends 1 of them"), "{stdout}");

    let out = scoot(dir.path())
        .args(["check", "--repair"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("1 queued again"), "{stdout}");
    let health = db.queue_health(now_millis()).await.unwrap();
    assert!(health.expired.is_empty() && health.unqueued.is_empty());
    assert_eq!(
        db.queue_depth().await.unwrap(),
        1,
        "the render waits to run"
    );

    let out = scoot(dir.path()).arg("check").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(
        db.photo(&photo.id).await.unwrap().unwrap().status,
        PhotoStatus::Pending
    );

    // A pending photo whose job row is gone (no code path does this: the
    // row was lost some other way) would never render.
    let Some(file) = config
        .database_url()
        .strip_prefix("sqlite://")
        .map(String::from)
    else {
        return;
    };
    rusqlite::Connection::open(file)
        .unwrap()
        .execute("DELETE FROM render_jobs", [])
        .unwrap();
    let report = run(&config, false).await;
    assert_eq!(found(&report, Kind::Unqueued), 1, "{}", report.summary());
    let report = run(&config, true).await;
    assert!(report.is_clean(), "{}", report.summary());
    assert_eq!(db.queue_depth().await.unwrap(), 1);
}

#[tokio::test]
async fn repair_renders_again_what_other_settings_rendered() {
    let dir = tempfile::tempdir().unwrap();
    let config = test_config(dir.path());
    let before = scoot::start_core(&config).await.unwrap();
    let alice = owner(before.db.as_ref()).await;
    let id = upload(&before, dir.path(), &alice, 50).await;
    let rendered = settled(&before, &id).await;
    assert_eq!(rendered.variants.len(), 8, "4 sizes in JPEG and WebP");
    before.render.shutdown(Duration::from_secs(5)).await;

    // New settings: one size gone and one added, WebP dropped, another
    // JPEG quality. The photo is shown as it was until it is rendered again.
    let mut changed = config.clone();
    changed.render.variants.retain(|spec| spec.name != "small");
    changed
        .render
        .variants
        .push(VariantSpec::new("poster", 1200));
    changed.render.formats = vec![scoot::domain::OutputFormat::Jpeg];
    changed.render.jpeg_quality = 70;
    let after = scoot::start_core(&changed).await.unwrap();
    assert_eq!(found(&run(&config, false).await, Kind::Outdated), 0);
    let report = run(&changed, false).await;
    let summary = report.summary();
    assert_eq!(found(&report, Kind::Outdated), 1, "{summary}");
    assert!(report.is_clean(), "not a problem: {summary}");
    assert!(
        summary.contains("renders of other settings")
            && summary.contains("`--repair`: render queued"),
        "{summary}"
    );
    assert_eq!(
        after.db.photo(&id).await.unwrap().unwrap().variants.len(),
        8,
        "a check without --repair changes nothing"
    );

    let repaired = run(&changed, true).await;
    assert_eq!(
        repaired.tally(Kind::Outdated).repaired,
        1,
        "{}",
        repaired.summary()
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let photo = loop {
        let photo = after.db.photo(&id).await.unwrap().unwrap();
        if photo.variants.iter().any(|v| v.name == "poster") {
            break photo;
        }
        assert!(
            Instant::now() < deadline,
            "the photo was not rendered again"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(photo.status, PhotoStatus::Ready);
    let mut names: Vec<_> = photo
        .variants
        .iter()
        .map(|v| (v.name.as_str(), v.format))
        .collect();
    names.sort_by_key(|(name, _)| *name);
    assert_eq!(
        names,
        ["display", "medium", "poster", "thumb"].map(|n| (n, ImageFormat::Jpeg))
    );
    for variant in &photo.variants {
        let key = BlobKey::parse(&variant.key).unwrap();
        assert!(after.store.head(&key).await.unwrap().is_some(), "{key:?}");
    }
    let again = run(&changed, false).await;
    assert_eq!(found(&again, Kind::Outdated), 0, "{}", again.summary());
    assert!(again.is_clean(), "{}", again.summary());
    // The old variants, written moments ago, are not taken back until
    // they are a day old (counted from their writing, not the re-render).
    assert_eq!(found(&again, Kind::StaleVariant), 0, "{}", again.summary());
}
