//! Many photos at once: what a selection in the gallery or an album does —
//! change who sees them, move them to the trash, put them in an album
//! (an existing one, or a new one made from them).
//!
//! Every id is checked before anything changes: one photo that is not the
//! asker's to change refuses the whole request, and nothing is changed.
//! Each photo is then changed as one would be on its own, through the same
//! services, so the rules and the change announcements are theirs.

use std::collections::HashSet;
use std::sync::Arc;

use super::albums::Albums;
use super::photos::Photos;
use super::{AppError, AppResult};
use crate::domain::{AlbumId, PhotoId, Visibility};
use crate::model::{Album, Photo, PhotoEdit, User};

/// The most photos one request changes or downloads.
pub const MAX_SELECTION: usize = 1000;

/// A selection's ids once each, in the order given: at least one, at most
/// [`MAX_SELECTION`].
pub(super) fn distinct(ids: &[PhotoId]) -> AppResult<Vec<&PhotoId>> {
    if ids.is_empty() {
        return Err(AppError::invalid("select at least one photo"));
    }
    if ids.len() > MAX_SELECTION {
        return Err(AppError::invalid(format!(
            "a selection is at most {MAX_SELECTION} photos"
        )));
    }
    let mut seen = HashSet::new();
    Ok(ids.iter().filter(|id| seen.insert(*id)).collect())
}

#[derive(Clone)]
pub struct Selection {
    photos: Photos,
    albums: Albums,
}

/// Who may act on a photo in a selection.
#[derive(Clone, Copy, PartialEq, Eq)]
enum May {
    /// Its owner only (changing it, filing it in their albums).
    Own,
    /// Its owner or an admin (moving it to the trash).
    OwnOrAdmin,
}

impl Selection {
    pub(super) fn new(photos: Photos, albums: Albums) -> Self {
        Self { photos, albums }
    }

    /// Sets who may see each photo; the photos as they are now.
    pub async fn set_visibility(
        &self,
        user: &User,
        ids: &[PhotoId],
        visibility: Visibility,
    ) -> AppResult<Vec<Arc<Photo>>> {
        let photos = self.checked(user, ids, May::Own).await?;
        let mut changed = Vec::with_capacity(photos.len());
        for photo in photos {
            let edit = PhotoEdit {
                visibility: Some(visibility),
                ..PhotoEdit::default()
            };
            changed.push(self.photos.edit(user, &photo.id, edit).await?);
        }
        Ok(changed)
    }

    /// Moves each photo to the trash (or deletes it, with no trash); how
    /// many.
    pub async fn trash(&self, user: &User, ids: &[PhotoId]) -> AppResult<usize> {
        let photos = self.checked(user, ids, May::OwnOrAdmin).await?;
        for photo in &photos {
            self.photos.delete(user, &photo.id).await?;
        }
        Ok(photos.len())
    }

    /// Puts each photo in one of `user`'s albums, after those already in
    /// it; how many were not there before.
    pub async fn add_to_album(
        &self,
        user: &User,
        album: &AlbumId,
        ids: &[PhotoId],
    ) -> AppResult<usize> {
        let photos = self.checked(user, ids, May::Own).await?;
        let mut added = 0;
        for photo in &photos {
            added += usize::from(self.albums.add_photo(user, album, &photo.id).await?);
        }
        Ok(added)
    }

    /// A new album of `user`'s holding these photos, in the order given.
    pub async fn new_album(
        &self,
        user: &User,
        title: &str,
        description: &str,
        visibility: Visibility,
        ids: &[PhotoId],
    ) -> AppResult<Album> {
        let photos = self.checked(user, ids, May::Own).await?;
        let album = self
            .albums
            .create(user, title, description, visibility)
            .await?;
        for photo in &photos {
            self.albums.add_photo(user, &album.id, &photo.id).await?;
        }
        Ok(album)
    }

    /// The photos named, once each in the order given, if `user` may act
    /// on every one; else the first refusal, before anything changes.
    async fn checked(&self, user: &User, ids: &[PhotoId], may: May) -> AppResult<Vec<Arc<Photo>>> {
        let ids = distinct(ids)?;
        let mut photos = Vec::with_capacity(ids.len());
        for id in ids {
            let photo = self.photos.get(id, Some(user)).await?;
            let allowed = photo.owner == user.id || (may == May::OwnOrAdmin && user.is_admin);
            if !allowed {
                return Err(AppError::Forbidden);
            }
            photos.push(photo);
        }
        Ok(photos)
    }
}
