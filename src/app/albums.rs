//! Albums: an owner's named sets of their own photos.
//!
//! Who sees what: an album is public, unlisted or private like a photo
//! ([`Album::visible_to`]). Inside an album a visitor sees its public and
//! unlisted photos; a private photo stays its owner's alone, whatever the
//! album's setting. Only the owner changes an album, and only with their
//! own photos; an admin may delete any.

use std::collections::HashSet;
use std::sync::Arc;

use super::photos::Photos;
use super::{AppError, AppResult, MAX_CAPTION, MAX_TITLE};
use crate::changes::Changes;
use crate::db::Repo;
use crate::domain::{AlbumId, PhotoId, Visibility, is_share_token, now_millis};
use crate::model::{Album, AlbumCard, AlbumEdit, NewAlbum, Photo, User, sort_photos};
use crate::timeline::PhotoOrder;

/// An album as a link on a photo's page: its id and title.
pub type AlbumLink = (AlbumId, String);

#[derive(Clone)]
pub struct Albums {
    db: Arc<dyn Repo>,
    photos: Photos,
    changes: Changes,
}

fn check_text(title: Option<&str>, description: Option<&str>) -> AppResult<()> {
    if title.is_some_and(|t| t.trim().is_empty()) {
        return Err(AppError::invalid("an album needs a title"));
    }
    let too_long = |s: Option<&str>, max| s.is_some_and(|s| s.chars().count() > max);
    if too_long(title, MAX_TITLE) || too_long(description, MAX_CAPTION) {
        return Err(AppError::invalid(format!(
            "an album title is at most {MAX_TITLE} characters, a description {MAX_CAPTION}"
        )));
    }
    Ok(())
}

impl Albums {
    pub(super) fn new(db: Arc<dyn Repo>, photos: Photos, changes: Changes) -> Self {
        Self {
            db,
            photos,
            changes,
        }
    }

    pub async fn create(
        &self,
        user: &User,
        title: &str,
        description: &str,
        visibility: Visibility,
    ) -> AppResult<Album> {
        let (title, description) = (title.trim(), description.trim());
        check_text(Some(title), Some(description))?;
        let album = NewAlbum {
            id: AlbumId::generate(),
            owner: user.id.clone(),
            title: title.to_owned(),
            description: description.to_owned(),
            visibility,
        };
        let album = self.db.create_album(album, now_millis()).await?;
        self.changes.album(&album.id).await;
        tracing::info!(album = %album.id, user = %user.name, "album created");
        Ok(album)
    }

    /// An album by id as `viewer` may see it (not through its share link);
    /// hidden albums are "not found".
    pub async fn get(&self, id: &AlbumId, viewer: Option<&User>) -> AppResult<Album> {
        self.db
            .album(id)
            .await?
            .filter(|a| a.visible_to(viewer, false))
            .ok_or(AppError::NotFound("album"))
    }

    /// The album a share link names; any other case is the same "not found".
    pub async fn by_link(&self, token: &str, viewer: Option<&User>) -> AppResult<Album> {
        if !is_share_token(token) {
            return Err(AppError::NotFound("shared album"));
        }
        self.db
            .album_by_share_token(token)
            .await?
            .filter(|a| a.visible_to(viewer, true))
            .ok_or(AppError::NotFound("shared album"))
    }

    /// An album that `user` owns: "not found" if they cannot see it, "not
    /// allowed" if they can but it is someone else's.
    pub async fn owned(&self, user: &User, id: &AlbumId) -> AppResult<Album> {
        let album = self.get(id, Some(user)).await?;
        if album.owner != user.id {
            return Err(AppError::Forbidden);
        }
        Ok(album)
    }

    /// `photo` as `viewer` sees it in `album`, with the photos just before
    /// and after it on the album's page (newest first); "not found" unless
    /// the viewer sees it in the album.
    pub async fn step(
        &self,
        album: &Album,
        photo: &PhotoId,
        viewer: Option<&User>,
    ) -> AppResult<(Photo, Option<PhotoId>, Option<PhotoId>)> {
        let mut photos = self.timeline(album, viewer, PhotoOrder::Newest).await?;
        let at = photos
            .iter()
            .position(|p| &p.id == photo)
            .ok_or(AppError::NotFound("photo in this album"))?;
        let before = at.checked_sub(1).map(|i| photos[i].id.clone());
        let after = photos.get(at + 1).map(|p| p.id.clone());
        Ok((photos.swap_remove(at), before, after))
    }

    /// The photos `viewer` sees in `album`, in the order they were added.
    pub async fn photos(&self, album: &Album, viewer: Option<&User>) -> AppResult<Vec<Photo>> {
        let is_owner = viewer.is_some_and(|u| u.id == album.owner);
        Ok(self.db.album_photos(&album.id, is_owner).await?)
    }

    /// The photos `viewer` sees in `album` as its page shows them: by
    /// date, newest or oldest first, like the gallery.
    pub async fn timeline(
        &self,
        album: &Album,
        viewer: Option<&User>,
        order: PhotoOrder,
    ) -> AppResult<Vec<Photo>> {
        let mut photos = self.photos(album, viewer).await?;
        sort_photos(&mut photos, order);
        Ok(photos)
    }

    /// The cover of an album as a viewer sees it, given `photos`, what
    /// they see in it in the order they were added: the chosen cover if it
    /// is among them, else the first added (as the album list shows it).
    /// A cover the viewer may not see is never named to them.
    pub fn cover_among<'a>(album: &Album, photos: &'a [Photo]) -> Option<&'a Photo> {
        album
            .cover
            .as_ref()
            .and_then(|c| photos.iter().find(|p| &p.id == c))
            .or_else(|| photos.first())
    }

    /// The albums `viewer` may list, newest first, with their cards.
    pub async fn list(&self, viewer: Option<&User>) -> AppResult<Vec<AlbumCard>> {
        Ok(self.db.list_albums(viewer.map(|u| &u.id)).await?)
    }

    /// An album card's cover photo.
    pub async fn cover(&self, card: &AlbumCard) -> AppResult<Option<Arc<Photo>>> {
        match &card.cover {
            Some(id) => self.photos.load(id).await,
            None => Ok(None),
        }
    }

    pub async fn edit(&self, user: &User, id: &AlbumId, mut edit: AlbumEdit) -> AppResult<Album> {
        self.owned(user, id).await?;
        edit.title = edit.title.map(|t| t.trim().to_owned());
        edit.description = edit.description.map(|d| d.trim().to_owned());
        check_text(edit.title.as_deref(), edit.description.as_deref())?;
        if let Some(cover) = &edit.cover
            && !self.db.albums_with_photo(cover).await?.contains(id)
        {
            return Err(AppError::invalid("the cover must be a photo in the album"));
        }
        let album = self
            .db
            .edit_album(id, edit, now_millis())
            .await?
            .ok_or(AppError::NotFound("album"))?;
        self.changes.album(id).await;
        Ok(album)
    }

    /// Deletes an album (its owner, or an admin); its photos stay.
    pub async fn delete(&self, user: &User, id: &AlbumId) -> AppResult<()> {
        let album = self
            .db
            .album(id)
            .await?
            .filter(|a| a.visible_to(Some(user), false) || user.is_admin)
            .ok_or(AppError::NotFound("album"))?;
        if album.owner != user.id && !user.is_admin {
            return Err(AppError::Forbidden);
        }
        self.db.delete_album(id).await?;
        self.changes.album(id).await;
        tracing::info!(album = %id, user = %user.name, "album deleted");
        Ok(())
    }

    /// Puts one of `user`'s photos in one of their albums; `false` if it
    /// was there already.
    pub async fn add_photo(
        &self,
        user: &User,
        album: &AlbumId,
        photo: &PhotoId,
    ) -> AppResult<bool> {
        self.owned(user, album).await?;
        let photo = self.photos.get(photo, Some(user)).await?;
        if photo.owner != user.id {
            return Err(AppError::invalid("only your own photos go in your albums"));
        }
        let added = self.db.add_to_album(album, &photo.id, now_millis()).await?;
        if added {
            self.changes.album(album).await;
        }
        Ok(added)
    }

    /// Takes a photo out of one of `user`'s albums; "not found" if it was
    /// not in it.
    pub async fn remove_photo(
        &self,
        user: &User,
        album: &AlbumId,
        photo: &PhotoId,
    ) -> AppResult<()> {
        self.owned(user, album).await?;
        if !self
            .db
            .remove_from_album(album, photo, now_millis())
            .await?
        {
            return Err(AppError::NotFound("photo in this album"));
        }
        self.changes.album(album).await;
        Ok(())
    }

    /// The albums holding `photo` that `viewer` may list, and for its owner,
    /// their albums it is not in yet: the photo page's album links and its
    /// "add to album" choices.
    pub async fn of_photo(
        &self,
        photo: &Photo,
        viewer: Option<&User>,
    ) -> AppResult<(Vec<AlbumLink>, Vec<AlbumLink>)> {
        let is_owner = viewer.is_some_and(|u| u.id == photo.owner);
        let holding: HashSet<AlbumId> = self
            .db
            .albums_with_photo(&photo.id)
            .await?
            .into_iter()
            .collect();
        if holding.is_empty() && !is_owner {
            return Ok((Vec::new(), Vec::new()));
        }
        let (mut shown, mut add_to) = (Vec::new(), Vec::new());
        for card in self.list(viewer).await? {
            let a = card.album;
            if holding.contains(&a.id) {
                shown.push((a.id, a.title));
            } else if is_owner && a.owner == photo.owner {
                add_to.push((a.id, a.title));
            }
        }
        Ok((shown, add_to))
    }
}
