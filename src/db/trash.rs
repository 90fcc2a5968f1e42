//! The trash: photos deleted by their owner, kept until purged.

use async_trait::async_trait;

use super::DbResult;
use crate::domain::{Millis, PhotoId, UserId};
use crate::model::{Cursor, Photo};

#[async_trait]
pub trait TrashRepo: Send + Sync {
    /// Moves a photo to the trash at `now`; one already there keeps the
    /// time it was trashed. `None` if the photo does not exist.
    async fn trash_photo(&self, id: &PhotoId, now: Millis) -> DbResult<Option<Photo>>;
    /// Takes a photo out of the trash; `None` if it does not exist.
    async fn restore_photo(&self, id: &PhotoId, now: Millis) -> DbResult<Option<Photo>>;
    /// `owner`'s photos in the trash, the most recently trashed first,
    /// strictly after `cursor` (whose `created_at` is a `trashed_at`).
    async fn list_trash(
        &self,
        owner: &UserId,
        limit: u32,
        cursor: Option<&Cursor>,
    ) -> DbResult<Vec<Photo>>;
    /// Photos trashed at or before `cutoff`, oldest first: what the sweep
    /// purges.
    async fn trash_due(&self, cutoff: Millis, limit: u32) -> DbResult<Vec<PhotoId>>;
}
