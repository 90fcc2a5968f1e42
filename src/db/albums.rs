//! Albums and the photos in them.

use async_trait::async_trait;

use super::DbResult;
use crate::domain::{AlbumId, Millis, PhotoId, UserId};
use crate::model::{Album, AlbumCard, AlbumEdit, NewAlbum, Photo};

#[async_trait]
pub trait AlbumRepo: Send + Sync {
    async fn create_album(&self, album: NewAlbum, now: Millis) -> DbResult<Album>;
    async fn album(&self, id: &AlbumId) -> DbResult<Option<Album>>;
    async fn album_by_share_token(&self, token: &str) -> DbResult<Option<Album>>;
    /// The albums `viewer` may list (public ones and all of their own),
    /// newest first, with what their cards show to that viewer.
    async fn list_albums(&self, viewer: Option<&UserId>) -> DbResult<Vec<AlbumCard>>;
    async fn edit_album(
        &self,
        id: &AlbumId,
        edit: AlbumEdit,
        now: Millis,
    ) -> DbResult<Option<Album>>;
    /// Removes an album (never its photos); `false` if there was none.
    async fn delete_album(&self, id: &AlbumId) -> DbResult<bool>;
    /// Puts a photo in an album; `false` if it was there already.
    async fn add_to_album(&self, album: &AlbumId, photo: &PhotoId, now: Millis) -> DbResult<bool>;
    /// Takes a photo out of an album (clearing it as cover); `false` if it
    /// was not there.
    async fn remove_from_album(
        &self,
        album: &AlbumId,
        photo: &PhotoId,
        now: Millis,
    ) -> DbResult<bool>;
    /// An album's photos in the order they were added; private ones only
    /// when `with_private` (for the owner).
    async fn album_photos(&self, album: &AlbumId, with_private: bool) -> DbResult<Vec<Photo>>;
    /// The albums a photo is in.
    async fn albums_with_photo(&self, photo: &PhotoId) -> DbResult<Vec<AlbumId>>;
}
