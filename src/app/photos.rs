//! Photos: who may see one, the newest-first list, edits and deletes
//! (into the trash, or for good).
//!
//! Visibility is decided here and nowhere else: a photo that a viewer may
//! not see is "not found", exactly like one that does not exist, so ids
//! reveal nothing. Reads go through the photo-record and list caches.

use std::sync::Arc;

use super::{AppError, AppResult, MAX_CAPTION, MAX_TITLE};
use crate::blobs;
use crate::cache::Caches;
use crate::changes::Changes;
use crate::db::Repo;
use crate::domain::{PhotoId, is_share_token, now_millis};
use crate::model::{Cursor, Photo, PhotoEdit, User};
use crate::store::Store;
use crate::timeline::PhotoOrder;

/// The most photos one list request returns.
pub const MAX_PAGE: u32 = 200;

#[derive(Clone)]
pub struct Photos {
    db: Arc<dyn Repo>,
    store: Store,
    caches: Caches,
    changes: Changes,
    /// `trash.days`: how long a deleted photo can be restored; 0 deletes
    /// at once.
    trash_days: u32,
}

impl Photos {
    pub(super) fn new(
        db: Arc<dyn Repo>,
        store: Store,
        caches: Caches,
        changes: Changes,
        trash_days: u32,
    ) -> Self {
        Self {
            db,
            store,
            caches,
            changes,
            trash_days,
        }
    }

    /// A photo by id through the cache, whoever may see it: for callers
    /// that check visibility themselves (an album's cover, a render watch).
    pub async fn load(&self, id: &PhotoId) -> AppResult<Option<Arc<Photo>>> {
        match self.caches.photo(id).await {
            Some(p) => Ok(Some(p)),
            None => self.reload(id).await,
        }
    }

    /// A photo by id read from the database now, bypassing (and then
    /// refreshing) the cache: for watching a render that another process
    /// may finish, whose change this process's cache never hears of.
    pub async fn reload(&self, id: &PhotoId) -> AppResult<Option<Arc<Photo>>> {
        let fill = self.caches.photo_fill();
        match self.db.photo(id).await? {
            Some(p) => {
                let p = Arc::new(p);
                self.caches.put_photo(fill, p.clone()).await;
                Ok(Some(p))
            }
            None => Ok(None),
        }
    }

    /// A photo by id as `viewer` may see it (not through a share link).
    pub async fn get(&self, id: &PhotoId, viewer: Option<&User>) -> AppResult<Arc<Photo>> {
        self.load(id)
            .await?
            .filter(|p| p.visible_to(viewer, false))
            .ok_or(AppError::NotFound("photo"))
    }

    /// The photo a share link names, if the link is well-formed, current
    /// and lets `viewer` see it; every other case is the same "not found".
    pub async fn by_link(&self, token: &str, viewer: Option<&User>) -> AppResult<Photo> {
        if !is_share_token(token) {
            return Err(AppError::NotFound("shared photo"));
        }
        self.db
            .photo_by_share_token(token)
            .await?
            .filter(|p| p.visible_to(viewer, true))
            .ok_or(AppError::NotFound("shared photo"))
    }

    /// One page of the list as `viewer` sees it in `order` (at most
    /// [`MAX_PAGE`] photos), through the cache, and the cursor of the page
    /// after it when there may be one.
    pub async fn page(
        &self,
        limit: u32,
        cursor: Option<&Cursor>,
        viewer: Option<&User>,
        order: PhotoOrder,
    ) -> AppResult<(Arc<Vec<Photo>>, Option<Cursor>)> {
        let limit = limit.clamp(1, MAX_PAGE);
        // Everyone logged out shares one entry per page; each user has
        // their own. The data version leads the key, read before the
        // database is: a list read just before a change and stored just
        // after it is never found.
        let viewer = viewer.map(|u| &u.id);
        let key = format!(
            "{} {}:{}:{limit}:{}",
            self.caches.changed_at(),
            viewer.map(|v| v.as_str()).unwrap_or(""),
            order.as_str(),
            cursor.map(Cursor::encode).unwrap_or_default()
        );
        let photos = match self.caches.page(&key).await {
            Some(p) => p,
            None => {
                let p = Arc::new(self.db.list_photos(limit, cursor, viewer, order).await?);
                self.caches.put_page(key, p.clone()).await;
                p
            }
        };
        let next = (photos.len() == limit as usize)
            .then(|| photos.last().map(|p| Cursor::after(p, order)))
            .flatten();
        Ok((photos, next))
    }

    /// The photos just newer and just older than `photo` in the list
    /// `viewer` sees.
    pub async fn neighbours(
        &self,
        photo: &Photo,
        viewer: Option<&User>,
    ) -> AppResult<(Option<PhotoId>, Option<PhotoId>)> {
        Ok(self.db.neighbours(&photo.id, viewer.map(|u| &u.id)).await?)
    }

    /// The photos whose render failed most recently, for operators.
    pub async fn recent_failures(&self, limit: u32) -> AppResult<Vec<Photo>> {
        Ok(self.db.recent_failures(limit).await?)
    }

    /// Applies an owner's edit.
    pub async fn edit(&self, user: &User, id: &PhotoId, edit: PhotoEdit) -> AppResult<Arc<Photo>> {
        let photo = self.get(id, Some(user)).await?;
        if photo.owner != user.id {
            return Err(AppError::Forbidden);
        }
        let too_long =
            |s: &Option<String>, max| s.as_ref().is_some_and(|s| s.chars().count() > max);
        if too_long(&edit.title, MAX_TITLE) || too_long(&edit.caption, MAX_CAPTION) {
            return Err(AppError::invalid(format!(
                "a title is at most {MAX_TITLE} characters, a caption {MAX_CAPTION}"
            )));
        }
        let edited = self
            .db
            .edit_photo(id, edit, now_millis())
            .await?
            .ok_or(AppError::NotFound("photo"))?;
        self.changes.photo(id).await;
        Ok(Arc::new(edited))
    }

    /// Deletes a photo as its owner (or an admin) asks: into the trash,
    /// where it is hidden from everyone at once, or for good when the trash
    /// is turned off (`trash.days = 0`).
    pub async fn delete(&self, user: &User, id: &PhotoId) -> AppResult<Removal> {
        // What the user may not see does not exist for them, here as
        // everywhere: a 404, not a 403 that would confirm the id.
        let photo = self
            .load(id)
            .await?
            .filter(|p| {
                p.visible_to(Some(user), false) || (user.is_admin && p.trashed_at.is_none())
            })
            .ok_or(AppError::NotFound("photo"))?;
        if photo.owner != user.id && !user.is_admin {
            return Err(AppError::Forbidden);
        }
        if self.trash_days == 0 {
            self.purge(id).await?;
            tracing::info!(photo = %id, user = %user.name, "photo deleted");
            return Ok(Removal::Purged);
        }
        self.db
            .trash_photo(id, now_millis())
            .await?
            .ok_or(AppError::NotFound("photo"))?;
        self.changes.photo(id).await;
        tracing::info!(photo = %id, user = %user.name, "photo moved to the trash");
        Ok(Removal::Trashed)
    }

    /// `trash.days`: how long a deleted photo stays restorable.
    pub fn trash_days(&self) -> u32 {
        self.trash_days
    }

    /// Removes a photo for good: its row, variants and job first, then — if
    /// no other photo or upload uses the same bytes — its blobs. Whoever
    /// calls has checked who asks.
    pub(super) async fn purge(&self, id: &PhotoId) -> AppResult<()> {
        let deleted = self
            .db
            .delete_photo(id, now_millis())
            .await?
            .ok_or(AppError::NotFound("photo"))?;
        self.changes.photo(id).await;
        if let Some(released) = &deleted.released {
            // The row is gone; if this fails, the claim stays and the
            // deletion is tried again in the background.
            blobs::delete_logged(&self.db, &self.store, &self.changes, released).await;
        }
        Ok(())
    }
}

/// What deleting a photo did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    /// It is in the trash, restorable for `trash.days`.
    Trashed,
    /// It is gone for good (the trash is off).
    Purged,
}
