//! Who uses the blobs of an original (docs/architecture.md, "Shared blobs").

use async_trait::async_trait;

use super::DbResult;
use crate::domain::{ContentHash, ImageFormat, Millis, UploadId};

/// An upload's hold on its original's blobs, from [`BlobRepo::reserve_blob`]
/// until [`PhotoRepo::insert_photo`](super::PhotoRepo::insert_photo) commits the photo (or
/// [`BlobRepo::abandon_upload`] lets go): while it lasts, the blobs are not
/// deleted.
#[derive(Debug, Clone)]
pub struct Reservation {
    pub id: UploadId,
    /// A photo that is not failed uses these bytes, so the store holds the
    /// original and the upload need not store it again.
    pub stored: bool,
}

/// What [`BlobRepo::reserve_blob`] found.
#[derive(Debug, Clone)]
pub enum Reserve {
    Reserved(Reservation),
    /// The blobs were found unused and are being deleted: nothing may use
    /// them until that ends, and then the original must be stored again.
    Deleting,
}

/// Blobs of an original that a transaction found unused and claimed for
/// deletion at `claimed_at`. The caller deletes the original and every
/// variant of `hash` from the store, then calls [`BlobRepo::forget_blob`].
/// Nothing can reserve or use them meanwhile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Released {
    pub hash: ContentHash,
    pub format: ImageFormat,
    pub claimed_at: Millis,
}

/// What [`BlobRepo::release_blob`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Release {
    /// Nothing used the blobs: they are claimed for deletion.
    Claimed(Released),
    /// A photo or an upload uses them.
    InUse,
    /// Another claim is deleting them. Blobs written since that deleter
    /// listed what to delete may be missed by it: release again once it
    /// is done.
    Deleting,
}

#[async_trait]
pub trait BlobRepo: Send + Sync {
    /// Holds the blobs of original `hash` for an upload, so they are not
    /// deleted before its photo commits (creating their record if new).
    async fn reserve_blob(
        &self,
        hash: &ContentHash,
        format: ImageFormat,
        now: Millis,
    ) -> DbResult<Reserve>;
    /// Ends a reservation without a photo; the blobs are released if that
    /// leaves them unused.
    async fn abandon_upload(&self, upload: &UploadId, now: Millis) -> DbResult<Option<Released>>;
    /// Claims the blobs of `hash` for deletion if nothing uses them (a
    /// render whose photo was deleted may have stored variants of bytes
    /// nobody holds any more).
    async fn release_blob(
        &self,
        hash: &ContentHash,
        format: ImageFormat,
        now: Millis,
    ) -> DbResult<Release>;
    /// After the store deleted released blobs: drops their record, unless
    /// another claim has taken them over since.
    async fn forget_blob(&self, released: &Released) -> DbResult<()>;
    /// Which of `hashes` have live blobs: in use, or about to be. The
    /// blobs of the others are deleted or being deleted, so bytes kept of
    /// them anywhere must go (a node that missed the news asks this).
    async fn live_blobs(&self, hashes: &[ContentHash]) -> DbResult<Vec<ContentHash>>;
    /// Recovers from processes that died mid-way: ends reservations started
    /// before `uploads_before` (releasing blobs they leave unused), and
    /// claims afresh the blobs whose deletion was claimed before
    /// `deletions_before` and never finished. Returns what to delete.
    async fn stale_blobs(
        &self,
        uploads_before: Millis,
        deletions_before: Millis,
        now: Millis,
    ) -> DbResult<Vec<Released>>;
}
