//! In-process caches (the memcached of the classic stack), built on moka.
//!
//! - photo records by id,
//! - gallery pages (a page of photo records) by cursor,
//! - media bytes by storage key, bounded by total bytes.
//!
//! Only [`crate::changes::Changes`] invalidates: a photo change calls
//! [`Caches::invalidate_photo`], which drops its record and every gallery
//! page (pages are cheap to rebuild, and a precise index of which page
//! holds which photo is not worth its bugs); then every change adopts the
//! data version the database moved to ([`Caches::adopt_version`]).
//! Gallery pages and rendered HTML (`web::conditional::PageCache`) are
//! keyed by that version as well, so one read before a change and stored
//! after it is never found, and every node behind a load balancer keys and
//! dates its pages the same way. A photo
//! record read on a miss is stored through the [`PhotoFill`] taken before
//! the read, which drops it again if any photo changed meanwhile: a record
//! read just before a render finished must not stay `pending` in the cache.
//! Media bytes live under immutable keys and only need dropping when a blob
//! is deleted (or, after missed notices, may have been).
//! Hits and misses are counted for `/metrics`.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use bytes::Bytes;
use moka::future::Cache;
use prometheus::IntCounterVec;

use crate::config::CacheConfig;
use crate::domain::{Millis, PhotoId};
use crate::metrics::HitsAndMisses;
use crate::model::Photo;

/// Bytes of a stored blob with the facts needed for HTTP validators.
#[derive(Clone)]
pub struct CachedBlob {
    pub bytes: Bytes,
    pub last_modified: Millis,
}

/// Each cache's lookups, counted.
#[derive(Clone)]
struct Lookups {
    photo: HitsAndMisses,
    page: HitsAndMisses,
    media: HitsAndMisses,
}

/// All of Scoot's caches; cheap to clone.
#[derive(Clone)]
pub struct Caches {
    photos: Cache<PhotoId, Arc<Photo>>,
    pages: Cache<String, Arc<Vec<Photo>>>,
    media: Cache<String, CachedBlob>,
    media_max_object: u64,
    lookups: Lookups,
    /// The data version (when anything last changed, as the database
    /// counts it): the `Last-Modified` floor for pages.
    changed_at: Arc<AtomicI64>,
    /// How many photo changes have begun; see [`PhotoFill`].
    photo_changes: Arc<AtomicU64>,
    /// How many blobs have been dropped as deleted; see
    /// [`media_generation`](Self::media_generation).
    media_deletions: Arc<AtomicU64>,
}

/// Taken before a photo record is read from the database on a cache miss,
/// and handed back with the record to [`Caches::put_photo`].
///
/// A change counts itself before it drops the cached record. So if the
/// count still matches once the record is stored, any change the read
/// missed has yet to drop it; if it does not match, the store is undone.
#[must_use]
pub struct PhotoFill(u64);

impl Caches {
    /// `lookups` is a counter vec labelled `(cache, result)`.
    pub fn new(cfg: &CacheConfig, lookups: &IntCounterVec) -> Self {
        let media = Cache::builder()
            .max_capacity(cfg.media_bytes)
            .weigher(|_key: &String, blob: &CachedBlob| {
                u32::try_from(blob.bytes.len()).unwrap_or(u32::MAX)
            })
            .build();
        Self {
            photos: Cache::new(cfg.entries),
            pages: Cache::new(cfg.entries / 10 + 1),
            media,
            media_max_object: cfg.media_max_object,
            lookups: Lookups {
                photo: HitsAndMisses::new(lookups, "photo"),
                page: HitsAndMisses::new(lookups, "page"),
                media: HitsAndMisses::new(lookups, "media"),
            },
            changed_at: Arc::new(AtomicI64::new(0)),
            photo_changes: Arc::new(AtomicU64::new(0)),
            media_deletions: Arc::new(AtomicU64::new(0)),
        }
    }

    pub async fn photo(&self, id: &PhotoId) -> Option<Arc<Photo>> {
        let found = self.photos.get(id).await;
        self.lookups.photo.count(found.is_some());
        found
    }

    /// Call before reading a missed photo from the database.
    pub fn photo_fill(&self) -> PhotoFill {
        PhotoFill(self.photo_changes.load(Ordering::SeqCst))
    }

    /// Caches a record read after `fill` was taken, unless a change may
    /// have raced the read.
    pub async fn put_photo(&self, fill: PhotoFill, photo: Arc<Photo>) {
        let id = photo.id.clone();
        self.photos.insert(id.clone(), photo).await;
        if self.photo_changes.load(Ordering::SeqCst) != fill.0 {
            self.photos.invalidate(&id).await;
        }
    }

    pub async fn page(&self, key: &str) -> Option<Arc<Vec<Photo>>> {
        let found = self.pages.get(key).await;
        self.lookups.page.count(found.is_some());
        found
    }

    pub async fn put_page(&self, key: String, photos: Arc<Vec<Photo>>) {
        self.pages.insert(key, photos).await;
    }

    /// Forget everything derived from this photo's row. Call
    /// [`adopt_version`](Self::adopt_version) after.
    pub async fn invalidate_photo(&self, id: &PhotoId) {
        self.photo_changes.fetch_add(1, Ordering::SeqCst);
        self.photos.invalidate(id).await;
        self.pages.invalidate_all();
    }

    /// Forget every record and gallery page (not media bytes: their keys
    /// never change meaning). Call [`adopt_version`](Self::adopt_version)
    /// after.
    pub fn invalidate_records(&self) {
        self.photo_changes.fetch_add(1, Ordering::SeqCst);
        self.photos.invalidate_all();
        self.pages.invalidate_all();
    }

    /// Moves the data version on to `version` (never back), after the
    /// caches were cleared of what the change made stale: pages are cached
    /// under the version, so whoever reads the new one finds the caches
    /// cleared already.
    pub fn adopt_version(&self, version: Millis) {
        self.changed_at.fetch_max(version, Ordering::SeqCst);
    }

    /// The data version: when anything last changed, as the database
    /// counts it. Nothing a page shows is older than this or its photos'
    /// own `updated_at`, deletions included, so it is also the
    /// `Last-Modified` floor of pages.
    pub fn changed_at(&self) -> Millis {
        self.changed_at.load(Ordering::SeqCst)
    }

    pub async fn media(&self, key: &str) -> Option<CachedBlob> {
        let found = self.media.get(key).await;
        self.lookups.media.count(found.is_some());
        found
    }

    /// Whether a blob of `size` bytes is worth caching.
    pub fn media_fits(&self, size: u64) -> bool {
        size <= self.media_max_object
    }

    pub async fn put_media(&self, key: String, blob: CachedBlob) {
        self.media.insert(key, blob).await;
    }

    /// The keys of every blob whose bytes are cached.
    pub fn media_keys(&self) -> Vec<String> {
        self.media.iter().map(|(key, _)| (*key).clone()).collect()
    }

    /// Drops a deleted blob's bytes, then moves the media generation on.
    pub async fn invalidate_media(&self, key: &str) {
        self.media.invalidate(key).await;
        self.media_deletions.fetch_add(1, Ordering::SeqCst);
    }

    /// Moves on whenever a deleted blob is dropped from the byte cache.
    /// Bytes kept elsewhere (the web front's) are good while the
    /// generation read before they were read from this cache or the store
    /// is current: a deletion after that read moves it on, and a read
    /// after it finds the blob gone.
    pub fn media_generation(&self) -> u64 {
        self.media_deletions.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ContentHash, ImageFormat, PhotoStatus, UserId, Visibility};

    fn caches() -> Caches {
        let lookups = IntCounterVec::new(
            prometheus::Opts::new("lookups", "cache lookups"),
            &["cache", "result"],
        )
        .unwrap();
        Caches::new(&CacheConfig::default(), &lookups)
    }

    fn photo(id: &PhotoId, status: PhotoStatus) -> Arc<Photo> {
        Arc::new(Photo {
            id: id.clone(),
            owner: UserId::generate(),
            hash: ContentHash::of(b"photo"),
            format: ImageFormat::Jpeg,
            byte_size: 5,
            width: 1,
            height: 1,
            status,
            error: None,
            title: String::new(),
            caption: String::new(),
            filename: String::new(),
            trashed_at: None,
            shot: Default::default(),
            thumbhash: None,
            visibility: Visibility::default(),
            share_token: None,
            created_at: 0,
            updated_at: 0,
            variants: Vec::new(),
        })
    }

    #[tokio::test]
    async fn a_record_read_before_a_change_is_not_kept() {
        let caches = caches();
        let id = PhotoId::generate();
        // A reader misses and reads `pending`; the render finishes and
        // invalidates before the reader gets to store what it read.
        let fill = caches.photo_fill();
        caches.invalidate_photo(&id).await;
        caches
            .put_photo(fill, photo(&id, PhotoStatus::Pending))
            .await;
        assert!(caches.photo(&id).await.is_none());

        // A read with no change since is kept.
        let fill = caches.photo_fill();
        caches.put_photo(fill, photo(&id, PhotoStatus::Ready)).await;
        assert_eq!(caches.photo(&id).await.unwrap().status, PhotoStatus::Ready);
    }
}
