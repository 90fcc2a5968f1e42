//! The trash on PostgreSQL.

use async_trait::async_trait;

use super::PostgresRepo;
use super::photos::{load_photo, with_variants};
use super::rows::{PHOTO_COLUMNS, parsed, photo_from_row};
use crate::db::{DbResult, TrashRepo};
use crate::domain::{Millis, PhotoId, UserId};
use crate::model::{Cursor, Photo};

#[async_trait]
impl TrashRepo for PostgresRepo {
    async fn trash_photo(&self, id: &PhotoId, now: Millis) -> DbResult<Option<Photo>> {
        let client = self.client().await?;
        client
            .execute(
                "UPDATE photos SET trashed_at = $2, updated_at = $2
                 WHERE id = $1 AND trashed_at IS NULL",
                &[&id.as_str(), &now],
            )
            .await?;
        load_photo(&client, id).await
    }

    async fn restore_photo(&self, id: &PhotoId, now: Millis) -> DbResult<Option<Photo>> {
        let client = self.client().await?;
        client
            .execute(
                "UPDATE photos SET trashed_at = NULL, updated_at = $2
                 WHERE id = $1 AND trashed_at IS NOT NULL",
                &[&id.as_str(), &now],
            )
            .await?;
        load_photo(&client, id).await
    }

    async fn list_trash(
        &self,
        owner: &UserId,
        limit: u32,
        cursor: Option<&Cursor>,
    ) -> DbResult<Vec<Photo>> {
        // No cursor is a cursor past the end: one statement either way.
        let (at, after) = match cursor {
            Some(c) => (c.at, c.id.as_str()),
            None => (Millis::MAX, ""),
        };
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(&format!(
                "SELECT {PHOTO_COLUMNS} FROM photos
                 WHERE owner_id = $1 AND trashed_at IS NOT NULL AND (trashed_at, id) < ($2, $3)
                 ORDER BY trashed_at DESC, id DESC LIMIT $4"
            ))
            .await?;
        let rows = client
            .query(&stmt, &[&owner.as_str(), &at, &after, &i64::from(limit)])
            .await?;
        let photos = rows
            .iter()
            .map(photo_from_row)
            .collect::<DbResult<Vec<_>>>()?;
        with_variants(&client, photos).await
    }

    async fn trash_due(&self, cutoff: Millis, limit: u32) -> DbResult<Vec<PhotoId>> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT id FROM photos WHERE trashed_at IS NOT NULL AND trashed_at <= $1
                 ORDER BY trashed_at, id LIMIT $2",
            )
            .await?;
        client
            .query(&stmt, &[&cutoff, &i64::from(limit)])
            .await?
            .iter()
            .map(|r| parsed(r, 0, "photo id"))
            .collect()
    }
}
