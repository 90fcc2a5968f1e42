//! Photos and their variants.

use async_trait::async_trait;

use super::DbResult;
use crate::domain::{ContentHash, Millis, PhotoId, UploadId, UserId};
use crate::model::{Cursor, Inserted, NewPhoto, Photo, PhotoEdit};
use crate::timeline::PhotoOrder;

use super::Released;

/// What a deleted photo leaves for the caller to clean up in the store.
#[derive(Debug, Clone)]
pub struct Deleted {
    pub photo: Photo,
    /// Set when this was the last user of the photo's original: its blobs
    /// are now claimed for deletion (see [`Released`]). `None` while
    /// another photo or an upload still uses them.
    pub released: Option<Released>,
}

#[async_trait]
pub trait PhotoRepo: Send + Sync {
    /// Records an upload: the photo row and its render job, in one
    /// transaction that also ends the upload's reservation. `None` (nothing
    /// written) if the reservation had expired: the upload must start over.
    async fn insert_photo(
        &self,
        photo: NewPhoto,
        upload: &UploadId,
        now: Millis,
    ) -> DbResult<Option<Inserted>>;
    async fn photo(&self, id: &PhotoId) -> DbResult<Option<Photo>>;
    /// The owner's photo of these bytes, if they uploaded them before.
    async fn photo_by_hash(&self, owner: &UserId, hash: &ContentHash) -> DbResult<Option<Photo>>;
    /// In `order`, strictly after `cursor`: public photos and, when
    /// `viewer` is someone, all of theirs.
    async fn list_photos(
        &self,
        limit: u32,
        cursor: Option<&Cursor>,
        viewer: Option<&UserId>,
        order: PhotoOrder,
    ) -> DbResult<Vec<Photo>>;
    /// The photos just newer and just older than `id` in that same list,
    /// by date (see [`PhotoOrder::Newest`]).
    async fn neighbours(
        &self,
        id: &PhotoId,
        viewer: Option<&UserId>,
    ) -> DbResult<(Option<PhotoId>, Option<PhotoId>)>;
    /// Applies an owner's edit; `None` if the photo does not exist.
    async fn edit_photo(
        &self,
        id: &PhotoId,
        edit: PhotoEdit,
        now: Millis,
    ) -> DbResult<Option<Photo>>;
    /// The photo whose share link carries `token`.
    async fn photo_by_share_token(&self, token: &str) -> DbResult<Option<Photo>>;
    /// Removes a photo, its variants and any job, and releases its
    /// original's blobs if it was their last user; `None` if it did not
    /// exist.
    async fn delete_photo(&self, id: &PhotoId, now: Millis) -> DbResult<Option<Deleted>>;
    /// Bytes in the object store that rows account for: each distinct
    /// original and variant once (duplicates share their blobs).
    async fn storage_used(&self) -> DbResult<u64>;
    /// The photos whose render failed most recently, newest first (without
    /// variants: they have none).
    async fn recent_failures(&self, limit: u32) -> DbResult<Vec<Photo>>;
}
