//! The application layer: the rules of a photo site, once.
//!
//! Services for photos, albums, accounts, uploads, media bytes and
//! operations. They own the repository, the store and the caches; they
//! decide who may see, change or delete what and enforce the limits; every
//! change they make goes through [`Changes`]. They answer with records
//! (`crate::model`) or an [`AppError`] that keeps its cause. The web layer
//! and the CLI only translate: parse a request, call a service, show the
//! answer.
//!
//! - [`photos`]: finding, listing, editing and deleting photos.
//! - [`selection`]: many photos at once (visibility, trash, albums).
//! - [`trash`]: deleted photos, until restored or purged.
//! - [`albums`]: albums and what is in them.
//! - [`archive`]: ZIP downloads of albums and selections.
//! - [`accounts`]: logins, sessions, set-password links, API tokens and
//!   first-run setup, with guessing slowed by [`throttle`].
//! - [`people`]: managing users (admin rights, resets, deleting and
//!   restoring them).
//! - [`uploads`]: accepting uploaded bytes as photos.
//! - [`media`]: blob bytes through the byte cache.
//! - [`ops`]: readiness, metrics and the admin figures.
//! - [`error`]: what can go wrong.

pub mod accounts;
pub mod albums;
pub mod archive;
pub mod error;
pub mod media;
pub mod ops;
pub mod people;
pub mod photos;
pub mod selection;
pub mod throttle;
pub mod trash;
pub mod uploads;

use std::sync::Arc;

pub use error::{AppError, AppResult, StorageFault, with_causes};

use crate::auth::Hasher;
use crate::cache::Caches;
use crate::changes::Changes;
use crate::config::AuthConfig;
use crate::db::Repo;
use crate::domain::Millis;
use crate::history::History;
use crate::ingest::Ingest;
use crate::metrics::Metrics;
use crate::store::Store;

/// The longest photo or album title, in characters.
pub const MAX_TITLE: usize = 200;
/// The longest caption or album description, in characters.
pub const MAX_CAPTION: usize = 2000;

/// Runs `work` now and then every `period` until `stopping` turns true:
/// the housekeeping loops of `scoot serve` (expired tokens, the trash).
pub(crate) async fn every<F, Fut>(
    period: std::time::Duration,
    mut stopping: tokio::sync::watch::Receiver<bool>,
    mut work: F,
) where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stopping.changed() => return,
        }
        work().await;
    }
}

/// Every service, cheap to clone.
#[derive(Clone)]
pub struct App {
    pub photos: photos::Photos,
    pub trash: trash::Trash,
    pub selection: selection::Selection,
    pub albums: albums::Albums,
    pub downloads: archive::Downloads,
    pub accounts: accounts::Accounts,
    pub people: people::People,
    pub uploads: uploads::Uploads,
    pub media: media::Media,
    pub ops: ops::Ops,
    changes: Changes,
    caches: Caches,
}

/// What the services are built from.
pub struct Parts {
    pub db: Arc<dyn Repo>,
    pub store: Store,
    pub caches: Caches,
    pub changes: Changes,
    pub metrics: Metrics,
    pub ingest: Ingest,
    pub hasher: Hasher,
    pub auth: AuthConfig,
    pub history: History,
    /// Media requests are answered with presigned bucket URLs.
    pub media_redirect: bool,
    /// `metrics.token`: empty leaves `/metrics` open.
    pub metrics_token: String,
    /// `trash.days`.
    pub trash_days: u32,
}

impl App {
    pub fn new(p: Parts) -> Self {
        let photos = photos::Photos::new(
            p.db.clone(),
            p.store.clone(),
            p.caches.clone(),
            p.changes.clone(),
            p.trash_days,
        );
        let albums = albums::Albums::new(p.db.clone(), photos.clone(), p.changes.clone());
        Self {
            trash: trash::Trash::new(p.db.clone(), photos.clone(), p.changes.clone()),
            downloads: archive::Downloads::new(albums.clone(), photos.clone(), p.store.clone()),
            selection: selection::Selection::new(photos.clone(), albums.clone()),
            albums: albums.clone(),
            accounts: accounts::Accounts::new(p.db.clone(), p.hasher.clone(), p.auth),
            people: people::People::new(p.db.clone(), p.hasher, p.changes.clone(), p.trash_days),
            ops: ops::Ops::new(
                p.db,
                p.store.clone(),
                p.metrics.clone(),
                p.history,
                p.ingest.floor.clone(),
                &p.metrics_token,
            ),
            uploads: uploads::Uploads::new(p.ingest, p.metrics, albums),
            media: media::Media::new(p.store, p.caches.clone(), p.media_redirect),
            photos,
            changes: p.changes,
            caches: p.caches,
        }
    }

    /// The version of everything pages show: it grows with every change,
    /// and is read before the data a page is built from (see
    /// `web::conditional::PageCache`).
    pub fn version(&self) -> Millis {
        self.caches.changed_at()
    }

    /// Where changes are announced.
    pub fn changes(&self) -> &Changes {
        &self.changes
    }
}
