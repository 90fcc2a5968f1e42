//! A store that fails on purpose: a full disk, a slow one, a large upload
//! cut off part-way. Uploads fail clean (`507`, nothing stored, nothing
//! recorded, the same upload works once there is room) and renders wait
//! the fault out and finish, however many attempts that takes.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures_util::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, UploadPart,
};
use reqwest::StatusCode;
use scoot::store::Store;

use crate::helpers::{TestApp, png, spawn_app_on};

/// What the store does to writes whose key starts with `prefix`.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Fault {
    None,
    /// `ENOSPC`, before anything is written.
    Full,
    /// Every write and read waits this long first.
    Slow(Duration),
    /// A multipart upload takes every part, then the disk is full.
    Partial,
}

#[derive(Debug, Clone)]
struct Switch {
    fault: Arc<Mutex<(Fault, &'static str)>>,
    /// Multipart uploads aborted so far: a bucket keeps the parts of one
    /// that is neither completed nor aborted, unseen, until it expires.
    aborts: Arc<AtomicUsize>,
    /// Calls that met a fault (a slow one included) so far.
    faulted: Arc<AtomicUsize>,
}

impl Switch {
    fn new() -> Self {
        Self {
            fault: Arc::new(Mutex::new((Fault::None, ""))),
            aborts: Arc::default(),
            faulted: Arc::default(),
        }
    }

    /// Waits until some call has met the fault.
    async fn wait_for_fault(&self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while self.faulted.load(Ordering::SeqCst) == 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "no call met the fault"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    fn aborts(&self) -> usize {
        self.aborts.load(Ordering::SeqCst)
    }

    fn set(&self, fault: Fault, prefix: &'static str) {
        *self.fault.lock().unwrap() = (fault, prefix);
    }

    fn fault(&self, location: &Path) -> Fault {
        let (fault, prefix) = *self.fault.lock().unwrap();
        match location.as_ref().starts_with(prefix) && fault != Fault::None {
            true => {
                self.faulted.fetch_add(1, Ordering::SeqCst);
                fault
            }
            false => Fault::None,
        }
    }
}

fn disk_full() -> object_store::Error {
    object_store::Error::Generic {
        store: "faulty",
        source: Box::new(std::io::Error::from(std::io::ErrorKind::StorageFull)),
    }
}

#[derive(Debug)]
struct Faulty {
    inner: Arc<dyn ObjectStore>,
    switch: Switch,
}

impl fmt::Display for Faulty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Faulty({})", self.inner)
    }
}

impl Faulty {
    async fn before(&self, location: &Path) -> object_store::Result<()> {
        match self.switch.fault(location) {
            Fault::Full => Err(disk_full()),
            Fault::Slow(pause) => {
                tokio::time::sleep(pause).await;
                Ok(())
            }
            Fault::None | Fault::Partial => Ok(()),
        }
    }
}

/// A multipart upload whose parts all go up, and whose completion finds
/// the disk full: the parts are on the disk, the object is not.
#[derive(Debug)]
struct CutOff {
    inner: Box<dyn MultipartUpload>,
    aborts: Arc<AtomicUsize>,
}

#[async_trait]
impl MultipartUpload for CutOff {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        self.inner.put_part(data)
    }

    async fn complete(&mut self) -> object_store::Result<PutResult> {
        Err(disk_full())
    }

    async fn abort(&mut self) -> object_store::Result<()> {
        self.aborts.fetch_add(1, Ordering::SeqCst);
        self.inner.abort().await
    }
}

#[async_trait]
impl ObjectStore for Faulty {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.before(location).await?;
        if self.switch.fault(location) == Fault::Partial {
            return Err(disk_full());
        }
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.before(location).await?;
        let upload = self.inner.put_multipart_opts(location, opts).await?;
        Ok(match self.switch.fault(location) {
            Fault::Partial => Box::new(CutOff {
                inner: upload,
                aborts: self.switch.aborts.clone(),
            }),
            _ => upload,
        })
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        if let Fault::Slow(pause) = self.switch.fault(location) {
            tokio::time::sleep(pause).await;
        }
        self.inner.get_opts(location, options).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.before(to).await?;
        self.inner.copy_opts(from, to, options).await
    }
}

/// An app whose store obeys the returned switch.
async fn app_with_faults(adjust: impl FnOnce(&mut scoot::config::Config)) -> (TestApp, Switch) {
    let switch = Switch::new();
    let faults = switch.clone();
    let app = spawn_app_on(adjust, move |store| {
        Store::from_backend(Arc::new(Faulty {
            inner: store.backend(),
            switch: faults,
        }))
    })
    .await;
    (app, switch)
}

/// Photos the API lists for the uploader.
async fn photo_count(app: &TestApp) -> usize {
    let list: serde_json::Value = app
        .get_as("/api/photos", &app.token)
        .await
        .json()
        .await
        .unwrap();
    list["photos"].as_array().unwrap().len()
}

/// A PNG of noise, which does not compress: `side`² × 3 bytes and more.
fn noisy_png(side: u32) -> Vec<u8> {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let img = image::RgbImage::from_fn(side, side, |_, _| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        image::Rgb([seed as u8, (seed >> 8) as u8, (seed >> 16) as u8])
    });
    let mut out = Vec::new();
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

#[tokio::test]
async fn uploads_to_a_full_store_are_507_and_leave_nothing() {
    let (app, switch) = app_with_faults(|_| {}).await;
    let small = png(64, 48, [200, 40, 40]);
    let large = noisy_png(1800); // ~9.7 MB: goes up in parts
    assert!(large.len() > 8 * 1024 * 1024, "{}", large.len());

    for (fault, bytes, name) in [
        (Fault::Full, &small, "full.png"),
        (Fault::Full, &large, "full-large.png"),
        (Fault::Partial, &large, "cut-off.png"),
    ] {
        switch.set(fault, "originals/");
        let resp = app.upload_bytes(name, bytes.clone()).await;
        assert_eq!(resp.status(), StatusCode::INSUFFICIENT_STORAGE, "{name}");
        let body: serde_json::Value = resp.json().await.unwrap();
        let error = body["error"].as_str().unwrap_or_default();
        assert!(error.contains("storage is full"), "{name}: {error}");
        assert_eq!(photo_count(&app).await, 0, "{name}: nothing recorded");
        assert_eq!(app.stored_files().await, Vec::<String>::new(), "{name}");
        let staged = std::fs::read_dir(app.data_dir().join("tmp"))
            .unwrap()
            .count();
        assert_eq!(staged, 0, "{name}: nothing staged");
    }
    assert_eq!(switch.aborts(), 1, "the cut-off upload's parts are let go");

    // Room again: the same bytes are a new upload that renders, as if the
    // failures had never been.
    switch.set(Fault::None, "");
    for (bytes, name) in [(&small, "small.png"), (&large, "large.png")] {
        let resp = app.upload_bytes(name, bytes.clone()).await;
        assert_eq!(resp.status(), StatusCode::CREATED, "{name}");
        let id = resp.json::<scoot::web::api::PhotoJson>().await.unwrap().id;
        assert_eq!(app.settled(&id).await.status, "ready", "{name}");
    }
    app.shutdown().await;
}

#[tokio::test]
async fn a_slow_store_is_waited_for() {
    let (app, switch) = app_with_faults(|_| {}).await;
    switch.set(Fault::Slow(Duration::from_millis(300)), "");
    let resp = app
        .upload_bytes("slow.png", png(64, 48, [40, 200, 40]))
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let id = resp.json::<scoot::web::api::PhotoJson>().await.unwrap().id;
    assert_eq!(app.settled(&id).await.status, "ready");
    app.shutdown().await;
}

/// Renders retried: `max_attempts = 1` would fail the photo at its second
/// claim if waiting on the storage counted.
#[tokio::test]
async fn renders_wait_out_a_full_store_and_finish_when_there_is_room() {
    let (app, switch) = app_with_faults(|c| {
        c.render.max_attempts = 1;
        c.render.retry_seconds = 1;
    })
    .await;
    switch.set(Fault::Full, "variants/");
    let resp = app
        .upload_bytes("later.png", png(64, 48, [40, 40, 200]))
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let id = resp.json::<scoot::web::api::PhotoJson>().await.unwrap().id;

    app.wait_for_retries(3).await;
    let photo = app.photo(&id).await.unwrap();
    assert_eq!(photo.status, "pending", "waiting, not failed: {photo:?}");

    switch.set(Fault::None, "");
    assert_eq!(app.settled(&id).await.status, "ready");
    app.shutdown().await;
}

/// Below the free-space floor, `/readyz` is 503 and says why, uploads are
/// 507 before anything is staged, and pages still answer.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn below_the_free_space_floor_uploads_stop_and_readyz_says_why() {
    // A floor no disk meets: an exbibyte.
    let app = spawn_app_on(|c| c.storage.min_free_mb = 1 << 40, |store| store).await;
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let reason = ready.text().await.unwrap();
    assert!(reason.contains("below storage.min_free_mb"), "{reason}");

    let resp = app.upload_bytes("low.png", png(64, 48, [90, 90, 90])).await;
    assert_eq!(resp.status(), StatusCode::INSUFFICIENT_STORAGE);
    let body: serde_json::Value = resp.json().await.unwrap();
    let error = body["error"].as_str().unwrap_or_default();
    assert!(error.contains("low on disk space"), "{error}");
    assert_eq!(photo_count(&app).await, 0);
    assert_eq!(app.stored_files().await, Vec::<String>::new());
    assert_eq!(app.get("/").await.status(), StatusCode::OK);
    app.shutdown().await;
}

/// A data dir that cannot be written stops the start, naming the path
/// (before, SQLite said "unable to open database file" and nothing more).
#[tokio::test]
async fn a_data_dir_that_cannot_be_written_is_named_at_start() {
    let file = tempfile::NamedTempFile::new().unwrap();
    let data_dir = file.path().join("data");
    let config = crate::helpers::test_config(&data_dir);
    match scoot::start(config).await {
        Ok(_) => panic!("started on a data dir inside a file"),
        Err(e) => {
            let message = e.to_string();
            assert!(message.starts_with("cannot write to "), "{message}");
            assert!(
                message.contains(&data_dir.display().to_string()),
                "{message}"
            );
        }
    }
}

/// Fills the filesystem holding `dir` to the last byte and returns the
/// file that does it: removing it gives the space back.
fn fill_disk(dir: &std::path::Path) -> tempfile::NamedTempFile {
    use std::io::Write;
    let fs = rustix::fs::statvfs(dir).unwrap();
    let size = fs.f_blocks * fs.f_frsize;
    assert!(
        size < 1 << 30,
        "{} is on a filesystem of {size} bytes: name one of its own, under 1 GiB",
        dir.display()
    );
    let mut filler = tempfile::NamedTempFile::new_in(dir).unwrap();
    for chunk in [1 << 20, 4096, 1] {
        let block = vec![0u8; chunk];
        loop {
            match filler.write_all(&block).and_then(|()| filler.flush()) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::StorageFull => break,
                Err(e) => panic!("filling {}: {e}", dir.display()),
            }
        }
    }
    filler
}

/// A render whose outcome the database cannot write, because its disk is
/// full (really: a small filesystem this test fills), is ready within
/// seconds of space coming back, not when its lease runs out minutes later.
///
/// Runs when `SCOOT_TEST_FULL_DISK` names a directory on a small
/// filesystem of its own that the test may fill (`.ci/run` mounts a
/// tmpfs); the database goes there, the store stays on the test's disk.
#[tokio::test]
async fn an_outcome_the_full_database_refused_is_written_when_space_returns() {
    let Ok(disk) = std::env::var("SCOOT_TEST_FULL_DISK") else {
        return;
    };
    let db_dir = tempfile::tempdir_in(&disk).unwrap();
    let db_file = db_dir.path().join("scoot.db");
    let (app, switch) = app_with_faults(|c| {
        c.database_url = format!("sqlite://{}", db_file.display());
        c.storage.min_free_mb = 0;
    })
    .await;
    // The variants take a while to store: the disk fills meanwhile, after
    // the job was claimed and before its outcome is written.
    let store_for = Duration::from_secs(2);
    switch.set(Fault::Slow(store_for), "variants/");
    let resp = app
        .upload_bytes("full.png", png(64, 48, [200, 120, 40]))
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let id = resp.json::<scoot::web::api::PhotoJson>().await.unwrap().id;
    switch.wait_for_fault().await;
    let filler = fill_disk(db_dir.path());

    // The variants are stored; the outcome cannot be written.
    tokio::time::sleep(store_for + Duration::from_secs(2)).await;
    let photo = app.photo(&id).await.unwrap();
    assert_eq!(photo.status, "pending", "the full disk took the outcome");

    drop(filler);
    let space_back = std::time::Instant::now();
    let deadline = space_back + Duration::from_secs(20);
    while app.photo(&id).await.unwrap().status == "pending" {
        assert!(
            std::time::Instant::now() < deadline,
            "still pending {:?} after space came back (the lease is {} s)",
            space_back.elapsed(),
            app.config.render.lease_seconds
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(app.photo(&id).await.unwrap().status, "ready");
    app.shutdown().await;
}
