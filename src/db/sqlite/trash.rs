//! The trash on SQLite.

use async_trait::async_trait;
use rusqlite::params;

use super::SqliteRepo;
use super::rows::{PHOTO_COLUMNS, collect_photos, corrupt, load_photo, variants_of};
use crate::db::{DbResult, TrashRepo};
use crate::domain::{Millis, PhotoId, UserId};
use crate::model::{Cursor, Photo};

#[async_trait]
impl TrashRepo for SqliteRepo {
    async fn trash_photo(&self, id: &PhotoId, now: Millis) -> DbResult<Option<Photo>> {
        let id = id.clone();
        self.write(move |tx| {
            tx.execute(
                "UPDATE photos SET trashed_at = ?2, updated_at = ?2
                 WHERE id = ?1 AND trashed_at IS NULL",
                params![id.as_str(), now],
            )?;
            load_photo(tx, &id)
        })
        .await
    }

    async fn restore_photo(&self, id: &PhotoId, now: Millis) -> DbResult<Option<Photo>> {
        let id = id.clone();
        self.write(move |tx| {
            tx.execute(
                "UPDATE photos SET trashed_at = NULL, updated_at = ?2
                 WHERE id = ?1 AND trashed_at IS NOT NULL",
                params![id.as_str(), now],
            )?;
            load_photo(tx, &id)
        })
        .await
    }

    async fn list_trash(
        &self,
        owner: &UserId,
        limit: u32,
        cursor: Option<&Cursor>,
    ) -> DbResult<Vec<Photo>> {
        let owner = owner.as_str().to_owned();
        // No cursor is a cursor past the end: one statement either way.
        let (at, after) = match cursor {
            Some(c) => (c.at, c.id.as_str().to_owned()),
            None => (Millis::MAX, String::new()),
        };
        self.read(move |c| {
            let sql = format!(
                "SELECT {PHOTO_COLUMNS} FROM photos
                 WHERE owner_id = ?1 AND trashed_at IS NOT NULL AND (trashed_at, id) < (?2, ?3)
                 ORDER BY trashed_at DESC, id DESC LIMIT ?4"
            );
            let mut photos = collect_photos(
                c.prepare_cached(&sql)?
                    .query(params![owner, at, after, limit])?,
            )?;
            for p in &mut photos {
                p.variants = variants_of(c, &p.id)?;
            }
            Ok(photos)
        })
        .await
    }

    async fn trash_due(&self, cutoff: Millis, limit: u32) -> DbResult<Vec<PhotoId>> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT id FROM photos WHERE trashed_at IS NOT NULL AND trashed_at <= ?1
                 ORDER BY trashed_at, id LIMIT ?2",
            )?;
            stmt.query_map(params![cutoff, limit], |r| r.get::<_, String>(0))?
                .map(|id| id?.parse().map_err(corrupt("photo id")))
                .collect()
        })
        .await
    }
}
