//! Shared originals: a photo's bytes may be another photo's too, so a
//! delete must never take bytes that a photo, or an upload about to commit
//! one, still needs — and must leave nothing behind when it takes the last.
//!
//! The replays drive the two sides step by step through the library; the
//! stress test races them over HTTP.

use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use scoot::Core;
use scoot::app::uploads::{Describe, Staged};
use scoot::auth::Hasher;
use scoot::blobs;
use scoot::db::Reserve;
use scoot::domain::{ContentHash, ImageFormat, PhotoId, PhotoStatus, now_millis};
use scoot::keys::BlobKey;
use scoot::model::{Inserted, NewPhoto, Photo, User};
use scoot::web::api::PhotoJson;

use crate::helpers::{create_user, file_form, png, read_fixture, spawn_app, test_config};

async fn user(core: &Core, name: &str) -> User {
    scoot::auth::create_user(
        core.db.as_ref(),
        &Hasher::new(1),
        name,
        Some("a long password"),
        false,
        false,
    )
    .await
    .unwrap()
    .unwrap()
}

async fn upload(core: &Core, file: &Path, owner: &User) -> Inserted {
    let staged = Staged::existing(file.to_path_buf()).await.unwrap();
    core.app
        .uploads
        .accept(&staged, owner, Describe::default())
        .await
        .unwrap()
}

async fn ready(core: &Core, id: &PhotoId) -> Photo {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let photo = core.db.photo(id).await.unwrap().expect("photo exists");
        match photo.status {
            PhotoStatus::Ready => return photo,
            PhotoStatus::Failed => panic!("render failed: {:?}", photo.error),
            PhotoStatus::Pending => {}
        }
        assert!(Instant::now() < deadline, "render did not finish");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every blob of `photo`'s original that is in the store.
async fn blobs_of(core: &Core, photo: &Photo) -> Vec<BlobKey> {
    let mut keys = core.store.variants_of(&photo.hash).await.unwrap();
    let original = BlobKey::original(&photo.hash, photo.format);
    if core.store.head(&original).await.unwrap().is_some() {
        keys.push(original);
    }
    keys
}

#[tokio::test]
async fn an_upload_waits_out_a_deletion_of_the_same_bytes_then_stores_them_again() {
    let dir = tempfile::tempdir().unwrap();
    let core = scoot::start_core(&test_config(dir.path())).await.unwrap();
    let (alice, bob) = (user(&core, "alice").await, user(&core, "bob").await);
    let bytes = png(64, 48, [10, 20, 30]);
    let file = dir.path().join("same.png");
    std::fs::write(&file, &bytes).unwrap();
    let Inserted::New(a) = upload(&core, &file, &alice).await else {
        panic!("a new photo");
    };
    let a = ready(&core, &a.id).await;

    // Alice's delete commits: the last user is gone and the blobs are
    // claimed, but its store deletes have not run yet (the moment the old
    // code's race lived in: the bytes are still there to be found).
    let deleted = core.db.delete_photo(&a.id, now_millis()).await.unwrap();
    let released = deleted.unwrap().released.expect("alice's was the last use");
    assert_eq!(blobs_of(&core, &a).await.len(), 1 + a.variants.len());

    // Bob uploads the same bytes meanwhile: he must not take them as stored.
    let bob_upload = tokio::spawn({
        let (uploads, file, bob) = (core.app.uploads.clone(), file.clone(), bob.clone());
        async move {
            let staged = Staged::existing(file).await.unwrap();
            uploads.accept(&staged, &bob, Describe::default()).await
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !bob_upload.is_finished(),
        "an upload committed against blobs being deleted"
    );

    // Alice's deletion goes on and takes every blob.
    blobs::delete(core.db.as_ref(), &core.store, &core.changes, &released)
        .await
        .unwrap();

    // Then Bob's upload stores the original again and commits.
    let Inserted::New(b) = bob_upload.await.unwrap().unwrap() else {
        panic!("bob's photo is new");
    };
    let (stored, _) = core
        .store
        .get(&BlobKey::original(&b.hash, b.format))
        .await
        .unwrap();
    assert_eq!(&stored[..], &bytes[..], "bob's original is in the store");
    let b = ready(&core, &b.id).await;
    assert_eq!(blobs_of(&core, &b).await.len(), 1 + b.variants.len());
    core.render.shutdown(Duration::from_secs(10)).await;
}

#[tokio::test]
async fn a_reservation_holds_back_the_deletion_of_the_last_photo() {
    let dir = tempfile::tempdir().unwrap();
    let core = scoot::start_core(&test_config(dir.path())).await.unwrap();
    let (alice, bob) = (user(&core, "alice").await, user(&core, "bob").await);
    let file = dir.path().join("same.png");
    std::fs::write(&file, png(64, 48, [40, 50, 60])).unwrap();
    let Inserted::New(a) = upload(&core, &file, &alice).await else {
        panic!("a new photo");
    };
    let a = ready(&core, &a.id).await;

    // Bob's upload reserves the blobs and finds the original stored...
    let Reserve::Reserved(reservation) = core
        .db
        .reserve_blob(&a.hash, a.format, now_millis())
        .await
        .unwrap()
    else {
        panic!("nothing is deleting these bytes");
    };
    assert!(reservation.stored, "alice's ready photo proves the bytes");

    // ...so Alice's delete, though it removes the last photo, keeps them.
    let deleted = core.db.delete_photo(&a.id, now_millis()).await.unwrap();
    assert_eq!(deleted.unwrap().released, None);
    assert_eq!(blobs_of(&core, &a).await.len(), 1 + a.variants.len());

    // Bob's photo commits without storing anything, and its original is there.
    let photo = NewPhoto {
        id: PhotoId::generate(),
        owner: bob.id.clone(),
        hash: a.hash.clone(),
        format: a.format,
        byte_size: a.byte_size,
        width: a.width,
        height: a.height,
        title: String::new(),
        caption: String::new(),
        filename: String::new(),
        visibility: a.visibility,
        shot: a.shot.clone(),
    };
    let inserted = core
        .db
        .insert_photo(photo, &reservation.id, now_millis())
        .await
        .unwrap();
    let Some(Inserted::New(b)) = inserted else {
        panic!("bob's photo commits");
    };
    let b = ready(&core, &b.id).await;

    // When Bob deletes it, nothing uses the bytes: every blob goes.
    let deleted = core.db.delete_photo(&b.id, now_millis()).await.unwrap();
    let released = deleted.unwrap().released.expect("bob's was the last use");
    blobs::delete(core.db.as_ref(), &core.store, &core.changes, &released)
        .await
        .unwrap();
    assert_eq!(blobs_of(&core, &b).await, Vec::<BlobKey>::new());
    core.render.shutdown(Duration::from_secs(10)).await;
}

/// A render stores its variants while the deletion of the same blobs has
/// listed what to delete but not finished: when the render then finds its
/// photo gone, it must wait for that deletion and delete what it stored.
#[tokio::test]
async fn variants_stored_behind_a_deletion_are_deleted_too() {
    let dir = tempfile::tempdir().unwrap();
    let core = scoot::start_core(&test_config(dir.path())).await.unwrap();
    let alice = user(&core, "alice").await;
    let file = dir.path().join("rendered-late.png");
    std::fs::write(&file, png(64, 48, [70, 80, 90])).unwrap();
    let Inserted::New(a) = upload(&core, &file, &alice).await else {
        panic!("a new photo");
    };
    let a = ready(&core, &a.id).await;

    // The photo is deleted; its deleter lists the blobs to delete...
    let deleted = core.db.delete_photo(&a.id, now_millis()).await.unwrap();
    let released = deleted.unwrap().released.expect("the last use");
    let listed = blobs_of(&core, &a).await;
    // ...then a render that was still running stores a variant of its own.
    let late = BlobKey::original(&a.hash, a.format)
        .as_str()
        .replace("originals/", "variants/")
        .replace(".png", "/late-r9.png");
    let late = BlobKey::parse(&late).expect("a variant key");
    core.store
        .put(&late, bytes::Bytes::from_static(b"late"))
        .await
        .unwrap();
    // The render finds its photo gone and releases what it stored, while
    // the deletion is still going on.
    let render_release = tokio::spawn({
        let (db, store, changes, hash) = (
            core.db.clone(),
            core.store.clone(),
            core.changes.clone(),
            a.hash.clone(),
        );
        async move { blobs::release(db.as_ref(), &store, &changes, &hash, a.format).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The deleter deletes what it listed, and is done.
    for key in &listed {
        core.store.delete(key).await.unwrap();
    }
    core.db.forget_blob(&released).await.unwrap();

    render_release.await.unwrap().unwrap();
    assert_eq!(blobs_of(&core, &a).await, Vec::<BlobKey>::new());
    core.render.shutdown(Duration::from_secs(10)).await;
}

#[tokio::test]
async fn the_sweep_ends_dead_uploads_and_finishes_dead_deletions() {
    let dir = tempfile::tempdir().unwrap();
    let core = scoot::start_core(&test_config(dir.path())).await.unwrap();
    let db = core.db.as_ref();
    let hash = ContentHash::of(b"an upload that died before its commit");
    let Reserve::Reserved(dead) = db
        .reserve_blob(&hash, ImageFormat::Png, now_millis())
        .await
        .unwrap()
    else {
        panic!("new bytes");
    };
    assert!(!dead.stored);

    // Reservations older than the lease end, and the bytes they held are
    // released for deletion; a claim older than its lease is taken over.
    let now = now_millis();
    let stale = db.stale_blobs(now + 1, 0, now).await.unwrap();
    assert_eq!(stale.len(), 1);
    assert_eq!(stale[0].hash, hash);
    let later = now + blobs::DELETION_LEASE_MS + 1;
    let retaken = db.stale_blobs(0, later, later).await.unwrap();
    assert_eq!(retaken.len(), 1);
    assert_eq!(retaken[0].claimed_at, later);
    // The first deleter's claim is spent: forgetting under it does nothing.
    db.forget_blob(&stale[0]).await.unwrap();
    assert!(matches!(
        db.reserve_blob(&hash, ImageFormat::Png, now_millis())
            .await
            .unwrap(),
        Reserve::Deleting
    ));
    db.forget_blob(&retaken[0]).await.unwrap();

    // The dead upload, had it woken, finds its reservation gone and writes nothing.
    let photo = NewPhoto {
        id: PhotoId::generate(),
        owner: user(&core, "carol").await.id,
        hash: hash.clone(),
        format: ImageFormat::Png,
        byte_size: 1,
        width: 1,
        height: 1,
        title: String::new(),
        caption: String::new(),
        filename: String::new(),
        visibility: Default::default(),
        shot: Default::default(),
    };
    assert!(
        db.insert_photo(photo.clone(), &dead.id, now_millis())
            .await
            .unwrap()
            .is_none()
    );
    assert!(db.photo(&photo.id).await.unwrap().is_none());
    core.render.shutdown(Duration::from_secs(10)).await;
}

#[tokio::test]
async fn deletes_racing_uploads_of_the_same_bytes_never_lose_an_original() {
    let app = spawn_app().await;
    let bob = create_user(&app.config, "bob", false).await;
    let mut kept = Vec::new();
    for round in 0..40u8 {
        let bytes = png(48, 32, [round, 255 - round, 7]);
        let resp = app.upload_bytes("same.png", bytes.clone()).await;
        assert_eq!(resp.status(), StatusCode::CREATED);
        let alices: PhotoJson = resp.json().await.unwrap();
        if round % 4 < 2 {
            // Half the rounds race a rendered photo, half a pending one.
            app.settled(&alices.id).await;
        }
        let delete = app.delete_for_good(&alices.id, &app.token);
        let upload = app.upload_form(file_form("same.png", bytes.clone()), Some(&bob));
        // Both orders: whichever future is polled first sends first.
        let (deleted, uploaded) = if round % 2 == 0 {
            tokio::join!(delete, upload)
        } else {
            let (u, d) = tokio::join!(upload, delete);
            (d, u)
        };
        assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
        assert_eq!(uploaded.status(), StatusCode::CREATED);
        let bobs: PhotoJson = uploaded.json().await.unwrap();
        kept.push((bobs.id, bytes));
    }

    let mut broken = Vec::new();
    for (id, bytes) in &kept {
        let photo = app.settled(id).await;
        let original = app.get(&photo.original_url).await;
        let intact = photo.status == "ready"
            && original.status() == StatusCode::OK
            && original.bytes().await.unwrap()[..] == bytes[..];
        let mut variants_ok = true;
        for v in &photo.variants {
            variants_ok &= app.get(&v.url).await.status() == StatusCode::OK;
        }
        if !intact || !variants_ok {
            broken.push(format!("{id}: {} {:?}", photo.status, photo.error));
        }
    }
    assert_eq!(broken, Vec::<String>::new(), "broken photos");

    // Bob deletes them all for good: no blob is left behind.
    for (id, _) in &kept {
        let resp = app.delete_for_good(id, &bob).await;
        assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    }
    assert_eq!(app.stored_files().await, Vec::<String>::new());
    app.shutdown().await;
}

#[tokio::test]
async fn deleting_photos_while_they_render_leaves_no_blobs() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for n in 1..=8 {
        let bytes = read_fixture(&format!("orientation/Landscape_{n}.jpg"));
        let resp = app.upload_bytes("p.jpg", bytes).await;
        assert_eq!(resp.status(), StatusCode::CREATED);
        ids.push(resp.json::<PhotoJson>().await.unwrap().id);
    }
    for id in &ids {
        let resp = app.delete_for_good(id, &app.token).await;
        assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    }
    // Renders that were running store their variants, find the photo gone,
    // and delete what they stored.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let stored = app.stored_files().await;
        if stored.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "blobs left behind: {stored:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    app.shutdown().await;
}
