//! The one change path: whatever changes a photo, an album or a blob says
//! so here, after its transaction commits. This drops what the caches
//! derived from the old state, moves the data version on in the database,
//! tells the other nodes sharing it, and tells this node's listeners (pages
//! watching renders, `scoot import`), all in one place.
//!
//! Nothing else invalidates a cache entry; a new kind of change is a new
//! [`Change`] variant.
//!
//! Across nodes: [`SiteRepo::announce`](crate::db::SiteRepo::announce)
//! moves the version and, on a shared database, sends the change to every
//! node. [`Changes::follow`] applies what other nodes announced exactly as
//! if it had happened here (their renders settle pages watched here), and
//! when the notice connection was lost, drops every cached record and page,
//! since what it missed is unknown, and the cached bytes of every blob the
//! database no longer counts as live (media URLs need no session, so a
//! deletion missed would leave its bytes served from here).

use std::collections::HashSet;
use std::sync::Arc;

use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;

use crate::cache::Caches;
use crate::db::{Notice, Repo};
use crate::domain::{AlbumId, ContentHash, PhotoId, PhotoStatus, now_millis, random_hex};
use crate::keys::BlobKey;

/// What [`Changes::load_version`] announces when it gives a database its
/// first version: nothing changed but the version.
const STARTED: &str = "started";

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
    /// Blobs were deleted from the store (their keys).
    Blobs(Vec<String>),
    /// A user was deleted or restored, and with them all their photos and
    /// albums: every record cached may be stale.
    Accounts,
}

impl Change {
    /// The photo whose render this change says reached its end, and the
    /// status it ended in.
    pub fn settled(&self) -> Option<(&PhotoId, PhotoStatus)> {
        match self {
            Self::Photo {
                id,
                settled: Some(status),
            } => Some((id, *status)),
            _ => None,
        }
    }

    /// How the change travels between nodes: one line of words.
    fn encode(&self) -> String {
        match self {
            Self::Photo { id, settled } => {
                let settled = settled.map_or("-", PhotoStatus::as_str);
                format!("photo {id} {settled}")
            }
            Self::Album(id) => format!("album {id}"),
            Self::Blobs(keys) => format!("blobs {}", keys.join(" ")),
            Self::Accounts => "accounts".to_owned(),
        }
    }

    fn decode(text: &str) -> Option<Self> {
        let mut words = text.split(' ');
        match words.next()? {
            "photo" => Some(Self::Photo {
                id: words.next()?.parse().ok()?,
                settled: match words.next()? {
                    "-" => None,
                    status => Some(status.parse().ok()?),
                },
            }),
            "album" => Some(Self::Album(words.next()?.parse().ok()?)),
            "blobs" => Some(Self::Blobs(words.map(str::to_owned).collect())),
            "accounts" => Some(Self::Accounts),
            _ => None,
        }
    }
}

/// Cheap to clone; every clone feeds the same listeners.
#[derive(Clone)]
pub struct Changes {
    caches: Caches,
    db: Arc<dyn Repo>,
    events: broadcast::Sender<Change>,
    /// This process among the nodes: its own announcements come back to
    /// it from the database and are skipped.
    node: Arc<str>,
}

impl Changes {
    /// `node` names this process among the nodes sharing `db`.
    pub fn new(caches: Caches, db: Arc<dyn Repo>, node: &str) -> Self {
        Self {
            caches,
            db,
            events: broadcast::channel(1024).0,
            node: node.into(),
        }
    }

    /// A name for this process among the nodes: random, so a restarted
    /// node is a new one (what its previous process held, it no longer
    /// renews).
    pub fn new_node_name() -> String {
        random_hex(6)
    }

    /// A listener from now on. One that falls more than 1024 changes
    /// behind is told it lagged and should look afresh.
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.events.subscribe()
    }

    /// A photo changed (and with it every list that shows it).
    pub async fn photo(&self, id: &PhotoId) {
        self.caches.invalidate_photo(id).await;
        self.announce(Change::Photo {
            id: id.clone(),
            settled: None,
        })
        .await;
    }

    /// A photo's render reached its end.
    pub async fn photo_settled(&self, id: &PhotoId, status: PhotoStatus) {
        self.caches.invalidate_photo(id).await;
        self.announce(Change::Photo {
            id: id.clone(),
            settled: Some(status),
        })
        .await;
    }

    /// An album changed: its pages and the lists that show it. Album pages
    /// are rendered from rows that are not cached, so the new version is
    /// all it takes.
    pub async fn album(&self, id: &AlbumId) {
        self.announce(Change::Album(id.clone())).await;
    }

    /// A user was deleted or restored: rare, and touching any number of
    /// photos, so every cached record goes.
    pub async fn accounts(&self) {
        self.caches.invalidate_records();
        self.announce(Change::Accounts).await;
    }

    /// Blobs are gone from the store: their bytes must not be served again.
    pub async fn blobs_deleted(&self, keys: Vec<String>) {
        for key in &keys {
            self.caches.invalidate_media(key).await;
        }
        self.announce(Change::Blobs(keys)).await;
    }

    /// Moves the data version on in the database (telling other nodes),
    /// adopts it here, and tells this node's listeners. If the database
    /// cannot be told, the version moves on here only: this node still
    /// shows the change at once, and other nodes see it when theirs move.
    async fn announce(&self, change: Change) {
        let text = format!("{} {}", self.node, change.encode());
        match self.db.announce(&text, now_millis()).await {
            Ok(version) => self.caches.adopt_version(version),
            Err(e) => {
                tracing::warn!(error = %e, "cannot announce a change to the other nodes");
                self.caches.adopt_version(now_millis());
            }
        }
        self.send(change);
    }

    fn send(&self, change: Change) {
        // Nobody listening is fine.
        let _ = self.events.send(change);
    }

    /// Adopts the database's data version; at start, before any page is
    /// cached. A database that never had one (new, or from before
    /// versions) gets one now, so that pages never claim to be older than
    /// what they show.
    pub async fn load_version(&self) -> Result<(), crate::db::DbError> {
        let mut version = self.db.data_version().await?;
        if version == 0 {
            let text = format!("{} {STARTED}", self.node);
            version = self.db.announce(&text, now_millis()).await?;
        }
        self.caches.adopt_version(version);
        Ok(())
    }

    /// Applies what other nodes announce, for as long as `stopping` is
    /// false. On SQLite the "other nodes" are other processes on the same
    /// file (`scoot user`, `scoot import`), heard of as resyncs.
    pub fn follow(
        &self,
        mut stopping: tokio::sync::watch::Receiver<bool>,
    ) -> Option<tokio::task::JoinHandle<()>> {
        let mut notices = self.db.listen()?;
        let this = self.clone();
        Some(tokio::spawn(async move {
            loop {
                let notice = tokio::select! {
                    n = notices.recv() => n,
                    _ = stopping.wait_for(|s| *s) => return,
                };
                match notice {
                    Ok(Notice::Change { version, change }) => this.apply(version, &change).await,
                    Ok(Notice::Jobs) => {}
                    Ok(Notice::Resync) | Err(RecvError::Lagged(_)) => this.resync().await,
                    Err(RecvError::Closed) => return,
                }
            }
        }))
    }

    /// A change announced by a node, maybe this one.
    async fn apply(&self, version: i64, text: &str) {
        let Some((node, change)) = text.split_once(' ') else {
            return;
        };
        if node == &*self.node {
            return;
        }
        if change == STARTED {
            return self.caches.adopt_version(version);
        }
        let Some(change) = Change::decode(change) else {
            tracing::warn!(
                change = text,
                "a change from another node that this one cannot read"
            );
            return self.resync().await;
        };
        match &change {
            Change::Photo { id, .. } => self.caches.invalidate_photo(id).await,
            Change::Album(_) => {}
            Change::Accounts => self.caches.invalidate_records(),
            Change::Blobs(keys) => {
                for key in keys {
                    self.caches.invalidate_media(key).await;
                }
            }
        }
        self.caches.adopt_version(version);
        self.send(change);
    }

    /// Notices were missed: forget every record and page cached here, and
    /// the bytes of blobs deleted meanwhile.
    async fn resync(&self) {
        self.caches.invalidate_records();
        self.drop_deleted_media().await;
        match self.db.data_version().await {
            Ok(version) => self.caches.adopt_version(version),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the data version");
                self.caches.adopt_version(now_millis());
            }
        }
    }

    /// Drops the cached bytes of every blob that is not live: deleted, or
    /// being deleted, by a change whose notice never came. All of them
    /// when the database cannot say which.
    async fn drop_deleted_media(&self) {
        let keys = self.caches.media_keys();
        if keys.is_empty() {
            return;
        }
        let hashes: HashSet<ContentHash> = keys
            .iter()
            .filter_map(|key| BlobKey::parse(key)?.hash())
            .collect();
        let hashes: Vec<ContentHash> = hashes.into_iter().collect();
        let live: HashSet<ContentHash> = match self.db.live_blobs(&hashes).await {
            Ok(live) => live.into_iter().collect(),
            Err(e) => {
                tracing::warn!(error = %e, "cannot tell which blobs are live; dropping every cached one");
                HashSet::new()
            }
        };
        for key in keys {
            let hash = BlobKey::parse(&key).and_then(|k| k.hash());
            if !hash.is_some_and(|h| live.contains(&h)) {
                self.caches.invalidate_media(&key).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_travel_as_text_and_back() {
        let photo = PhotoId::generate();
        for change in [
            Change::Photo {
                id: photo.clone(),
                settled: None,
            },
            Change::Photo {
                id: photo,
                settled: Some(PhotoStatus::Failed),
            },
            Change::Album(AlbumId::generate()),
            Change::Accounts,
            Change::Blobs(vec![
                "variants/ab/abc.jpg".into(),
                "originals/ab/abc.jpg".into(),
            ]),
        ] {
            assert_eq!(Change::decode(&change.encode()), Some(change));
        }
        assert_eq!(Change::decode("photo not-an-id -"), None);
        assert_eq!(Change::decode("unheard-of 1"), None);
    }
}
