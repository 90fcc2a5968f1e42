//! The trash: where a deleted photo waits, hidden from everyone, until its
//! owner restores it, deletes it for good, or `trash.days` pass.
//!
//! A photo in the trash keeps its row, so its blobs stay in use
//! (invariant 9): bytes are removed only when the last photo that uses
//! them is purged. It keeps its albums too, and comes back to them when
//! restored.

use std::sync::Arc;
use std::time::Duration;

use super::photos::Photos;
use super::{AppError, AppResult};
use crate::changes::Changes;
use crate::db::Repo;
use crate::domain::{Millis, PhotoId, now_millis};
use crate::model::{Cursor, Photo, User};

/// The most photos one trash page lists.
pub const MAX_PAGE: u32 = 200;

/// How many photos the sweep purges between looks at the clock.
const SWEEP_BATCH: u32 = 100;

#[derive(Clone)]
pub struct Trash {
    db: Arc<dyn Repo>,
    photos: Photos,
    changes: Changes,
}

/// A photo in the trash and when it will be deleted for good.
#[derive(Debug, Clone)]
pub struct Trashed {
    pub photo: Photo,
    pub purge_at: Millis,
}

impl Trash {
    pub(super) fn new(db: Arc<dyn Repo>, photos: Photos, changes: Changes) -> Self {
        Self {
            db,
            photos,
            changes,
        }
    }

    /// How many days a deleted photo stays restorable.
    pub fn days(&self) -> u32 {
        self.photos.trash_days()
    }

    /// How long a deleted photo stays restorable.
    fn keep(&self) -> Millis {
        Millis::from(self.days()) * 86_400_000
    }

    /// One page of `user`'s trash, the most recently deleted first, and the
    /// cursor of the next page when there may be one.
    pub async fn list(
        &self,
        user: &User,
        limit: u32,
        cursor: Option<&Cursor>,
    ) -> AppResult<(Vec<Trashed>, Option<Cursor>)> {
        let limit = limit.clamp(1, MAX_PAGE);
        let photos = self.db.list_trash(&user.id, limit, cursor).await?;
        let next = (photos.len() == limit as usize)
            .then(|| {
                photos.last().and_then(|p| {
                    Some(Cursor {
                        at: p.trashed_at?,
                        id: p.id.clone(),
                    })
                })
            })
            .flatten();
        let keep = self.keep();
        let listed = photos
            .into_iter()
            .map(|photo| Trashed {
                purge_at: photo.trashed_at.unwrap_or_default() + keep,
                photo,
            })
            .collect();
        Ok((listed, next))
    }

    /// Takes a photo out of the trash: it is back where it was, albums and
    /// links included.
    pub async fn restore(&self, user: &User, id: &PhotoId) -> AppResult<Arc<Photo>> {
        self.find(user, id).await?;
        let photo = self
            .db
            .restore_photo(id, now_millis())
            .await?
            .ok_or(AppError::NotFound("photo in the trash"))?;
        self.changes.photo(id).await;
        tracing::info!(photo = %id, user = %user.name, "photo restored from the trash");
        Ok(Arc::new(photo))
    }

    /// Deletes a photo in the trash for good.
    pub async fn purge(&self, user: &User, id: &PhotoId) -> AppResult<()> {
        self.find(user, id).await?;
        self.photos.purge(id).await?;
        tracing::info!(photo = %id, user = %user.name, "photo deleted for good");
        Ok(())
    }

    /// Deletes everything in `user`'s trash for good; how many photos.
    pub async fn empty(&self, user: &User) -> AppResult<usize> {
        let mut purged = 0;
        loop {
            let batch = self.db.list_trash(&user.id, SWEEP_BATCH, None).await?;
            if batch.is_empty() {
                break;
            }
            for photo in &batch {
                match self.photos.purge(&photo.id).await {
                    Ok(()) => purged += 1,
                    // Purged meanwhile by the sweep or another request.
                    Err(AppError::NotFound(_)) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        tracing::info!(photos = purged, user = %user.name, "trash emptied");
        Ok(purged)
    }

    /// Purges every photo whose time in the trash is over, then the users
    /// deleted as long ago, whose photos those were; how many photos.
    pub async fn purge_due(&self) -> AppResult<usize> {
        let cutoff = now_millis() - self.keep();
        let mut purged = 0;
        loop {
            let due = self.db.trash_due(cutoff, SWEEP_BATCH).await?;
            if due.is_empty() {
                let (strays, users) = self.db.purge_retired_users(cutoff, now_millis()).await?;
                if strays > 0 {
                    self.changes.accounts().await;
                }
                if users > 0 {
                    tracing::info!(users, "users deleted trash.days ago removed for good");
                }
                return Ok(purged);
            }
            for id in &due {
                match self.photos.purge(id).await {
                    Ok(()) => purged += 1,
                    Err(AppError::NotFound(_)) => {}
                    Err(e) => return Err(e),
                }
            }
        }
    }

    /// Runs [`Trash::purge_due`] every `period` (and once at start) until
    /// Scoot stops.
    pub async fn purge_due_every(
        self,
        period: Duration,
        stopping: tokio::sync::watch::Receiver<bool>,
    ) {
        let this = &self;
        super::every(period, stopping, move || async move {
            match this.purge_due().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(photos = n, "photos kept past trash.days deleted for good"),
                Err(e) => tracing::warn!(error = %e, "cannot empty the trash of old photos"),
            }
        })
        .await
    }

    /// The photo `id` in the trash, if `user` may restore or purge it: its
    /// owner, or an admin. Anything else is "not found", and so is a photo
    /// of a deleted user: it comes back only with its owner
    /// (`People::restore`).
    pub async fn find(&self, user: &User, id: &PhotoId) -> AppResult<Arc<Photo>> {
        let photo = self
            .photos
            .reload(id)
            .await?
            .filter(|p| p.trashed_at.is_some() && (p.owner == user.id || user.is_admin))
            .ok_or(AppError::NotFound("photo in the trash"))?;
        if photo.owner != user.id {
            let owner = self.db.person(&photo.owner).await?;
            if owner.is_none_or(|o| o.deleted_at.is_some()) {
                return Err(AppError::NotFound("photo in the trash"));
            }
        }
        Ok(photo)
    }
}
