//! The one change path: whatever changes a photo, an album or a blob says
//! so here, after its transaction commits. This drops what the caches
//! derived from the old state and tells listeners (pages watching renders,
//! `scoot import`, and later other nodes) in one place.
//!
//! Nothing else invalidates a cache entry; a new kind of change is a new
//! [`Change`] variant, and a cross-node channel subscribes to [`Changes`].

use tokio::sync::broadcast;

use crate::cache::Caches;
use crate::domain::{AlbumId, PhotoId, PhotoStatus};

/// Something that changed, as listeners hear of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A photo was added, edited, deleted, or its render moved on.
    Photo {
        id: PhotoId,
        /// Set when a render reached its end: `ready` or `failed`.
        settled: Option<PhotoStatus>,
    },
    /// An album or the photos in it changed.
    Album(AlbumId),
    /// A blob was deleted from the store (its key).
    Blob(String),
}

/// Cheap to clone; every clone feeds the same listeners.
#[derive(Clone)]
pub struct Changes {
    caches: Caches,
    events: broadcast::Sender<Change>,
}

impl Changes {
    pub fn new(caches: Caches) -> Self {
        Self {
            caches,
            events: broadcast::channel(1024).0,
        }
    }

    /// A listener from now on. One that falls more than 1024 changes
    /// behind is told it lagged and should look afresh.
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.events.subscribe()
    }

    /// A photo changed (and with it every list that shows it).
    pub async fn photo(&self, id: &PhotoId) {
        self.caches.invalidate_photo(id).await;
        self.send(Change::Photo {
            id: id.clone(),
            settled: None,
        });
    }

    /// A photo's render reached its end.
    pub async fn photo_settled(&self, id: &PhotoId, status: PhotoStatus) {
        self.caches.invalidate_photo(id).await;
        self.send(Change::Photo {
            id: id.clone(),
            settled: Some(status),
        });
    }

    /// An album changed: its pages and the lists that show it.
    pub fn album(&self, id: &AlbumId) {
        self.caches.album_changed();
        self.send(Change::Album(id.clone()));
    }

    /// A blob is gone from the store: its bytes must not be served again.
    pub async fn blob_deleted(&self, key: &str) {
        self.caches.invalidate_media(key).await;
        self.send(Change::Blob(key.to_owned()));
    }

    fn send(&self, change: Change) {
        // Nobody listening is fine.
        let _ = self.events.send(change);
    }
}
