//! Photos and their variants on SQLite.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::rows::{
    PHOTO_COLUMNS, collect_photos, corrupt, find_photo, insert_job, load_photo, variants_of,
    visible_to,
};
use super::{SqliteRepo, blobs};
use crate::db::{DbError, DbResult, Deleted, PhotoRepo};
use crate::domain::{ContentHash, Millis, PhotoId, UploadId, UserId};
use crate::model::{Cursor, Inserted, NewPhoto, Photo, PhotoEdit};
use crate::timeline::{self, PhotoOrder};

#[async_trait]
impl PhotoRepo for SqliteRepo {
    async fn insert_photo(
        &self,
        p: NewPhoto,
        upload: &UploadId,
        now: Millis,
    ) -> DbResult<Option<Inserted>> {
        let upload = upload.clone();
        self.write(move |tx| {
            blobs::lock(tx, &p.hash, p.format, now)?;
            if !blobs::end_reservation(tx, &upload)? {
                return Ok(None);
            }
            let existing: Option<String> = tx
                .query_row(
                    "SELECT id FROM photos WHERE owner_id = ?1 AND original_hash = ?2",
                    params![p.owner.as_str(), p.hash.as_str()],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(id) = existing {
                let id: PhotoId = id.parse().map_err(corrupt("photo id"))?;
                let requeued = tx.execute(
                    "UPDATE photos SET status = 'pending', error = NULL, updated_at = ?2
                     WHERE id = ?1 AND status = 'failed'",
                    params![id.as_str(), now],
                )?;
                if requeued > 0 {
                    insert_job(tx, &id, now)?;
                }
                // Uploading a photo again takes it out of the trash.
                tx.execute(
                    "UPDATE photos SET trashed_at = NULL, updated_at = ?2
                     WHERE id = ?1 AND trashed_at IS NOT NULL",
                    params![id.as_str(), now],
                )?;
                let photo = load_photo(tx, &id)?
                    .ok_or_else(|| DbError::Corrupt("photo vanished".into()))?;
                return Ok(Some(Inserted::Duplicate(photo)));
            }
            tx.execute(
                "INSERT INTO photos (id, owner_id, original_hash, original_format, original_size,
                     width, height, status, error, title, caption, taken_at, camera,
                     created_at, updated_at,
                     lens, exposure_s, f_number, iso, focal_mm, gps_lat, gps_lon,
                     visibility, share_token, filename, dated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending', NULL, ?8, ?9, ?10, ?11, ?12, ?12,
                     ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23)",
                params![
                    p.id.as_str(),
                    p.owner.as_str(),
                    p.hash.as_str(),
                    p.format.as_str(),
                    i64::try_from(p.byte_size).unwrap_or(i64::MAX),
                    p.width,
                    p.height,
                    p.title,
                    p.caption,
                    p.shot.taken_at,
                    p.shot.camera,
                    now,
                    p.shot.lens,
                    p.shot.exposure_s,
                    p.shot.f_number,
                    p.shot.iso,
                    p.shot.focal_mm,
                    p.shot.gps.map(|g| g.lat),
                    p.shot.gps.map(|g| g.lon),
                    p.visibility.as_str(),
                    p.visibility.share_token_after(None, false),
                    p.filename,
                    timeline::dated_at(p.shot.taken_at.as_deref(), now),
                ],
            )?;
            insert_job(tx, &p.id, now)?;
            blobs::recount(tx, &p.hash)?;
            let photo =
                load_photo(tx, &p.id)?.ok_or_else(|| DbError::Corrupt("photo vanished".into()))?;
            Ok(Some(Inserted::New(photo)))
        })
        .await
    }

    async fn photo(&self, id: &PhotoId) -> DbResult<Option<Photo>> {
        let id = id.clone();
        self.read(move |c| load_photo(c, &id)).await
    }

    async fn photo_by_hash(&self, owner: &UserId, hash: &ContentHash) -> DbResult<Option<Photo>> {
        let (owner, hash) = (owner.clone(), hash.clone());
        self.read(move |c| {
            find_photo(
                c,
                "owner_id = ?1 AND original_hash = ?2",
                params![owner.as_str(), hash.as_str()],
            )
        })
        .await
    }

    async fn list_photos(
        &self,
        limit: u32,
        cursor: Option<&Cursor>,
        viewer: Option<&UserId>,
        order: PhotoOrder,
    ) -> DbResult<Vec<Photo>> {
        let cursor = cursor.cloned();
        let viewer = viewer.map(|v| v.as_str().to_owned());
        let (key, dir) = (order.column(), order.direction());
        self.read(move |c| {
            let mut photos = match cursor {
                None => {
                    let sql = format!(
                        "SELECT {PHOTO_COLUMNS} FROM photos WHERE {}
                         ORDER BY {key} {dir}, id {dir} LIMIT ?1",
                        visible_to(2)
                    );
                    collect_photos(c.prepare_cached(&sql)?.query(params![limit, viewer])?)?
                }
                Some(after) => {
                    // Row-value comparison: both engines walk the (key, id) index.
                    let sql = format!(
                        "SELECT {PHOTO_COLUMNS} FROM photos
                         WHERE ({key}, id) {} (?1, ?2) AND {}
                         ORDER BY {key} {dir}, id {dir} LIMIT ?3",
                        order.after(),
                        visible_to(4)
                    );
                    let mut stmt = c.prepare_cached(&sql)?;
                    collect_photos(stmt.query(params![
                        after.at,
                        after.id.as_str(),
                        limit,
                        viewer
                    ])?)?
                }
            };
            for p in &mut photos {
                p.variants = variants_of(c, &p.id)?;
            }
            Ok(photos)
        })
        .await
    }

    async fn neighbours(
        &self,
        id: &PhotoId,
        viewer: Option<&UserId>,
    ) -> DbResult<(Option<PhotoId>, Option<PhotoId>)> {
        let id = id.clone();
        let viewer = viewer.map(|v| v.as_str().to_owned());
        self.read(move |c| {
            let dated: Option<i64> = c
                .query_row(
                    "SELECT dated_at FROM photos WHERE id = ?1",
                    [id.as_str()],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(dated) = dated else {
                return Ok((None, None));
            };
            let step = |cmp: &str, order: &str| -> DbResult<Option<PhotoId>> {
                let sql = format!(
                    "SELECT id FROM photos WHERE (dated_at, id) {cmp} (?1, ?2) AND {}
                     ORDER BY dated_at {order}, id {order} LIMIT 1",
                    visible_to(3)
                );
                let next: Option<String> = c
                    .prepare_cached(&sql)?
                    .query_row(params![dated, id.as_str(), viewer], |r| r.get(0))
                    .optional()?;
                next.map(|s| s.parse().map_err(corrupt("photo id")))
                    .transpose()
            };
            Ok((step(">", "ASC")?, step("<", "DESC")?))
        })
        .await
    }

    async fn edit_photo(
        &self,
        id: &PhotoId,
        edit: PhotoEdit,
        now: Millis,
    ) -> DbResult<Option<Photo>> {
        let id = id.clone();
        self.write(move |tx| {
            let Some(photo) = load_photo(tx, &id)? else {
                return Ok(None);
            };
            let visibility = edit.visibility.unwrap_or(photo.visibility);
            let token = visibility.share_token_after(photo.share_token, edit.new_link);
            tx.execute(
                "UPDATE photos SET title = ?2, caption = ?3, visibility = ?4, share_token = ?5,
                     updated_at = ?6
                 WHERE id = ?1",
                params![
                    id.as_str(),
                    edit.title.unwrap_or(photo.title),
                    edit.caption.unwrap_or(photo.caption),
                    visibility.as_str(),
                    token,
                    now
                ],
            )?;
            load_photo(tx, &id)
        })
        .await
    }

    async fn photo_by_share_token(&self, token: &str) -> DbResult<Option<Photo>> {
        let token = token.to_owned();
        self.read(move |c| find_photo(c, "share_token = ?1", [token.as_str()]))
            .await
    }

    async fn delete_photo(&self, id: &PhotoId, now: Millis) -> DbResult<Option<Deleted>> {
        let id = id.clone();
        self.write(move |tx| {
            let Some(photo) = load_photo(tx, &id)? else {
                return Ok(None);
            };
            let (state, format) = blobs::lock(tx, &photo.hash, photo.format, now)?;
            tx.execute("DELETE FROM photos WHERE id = ?1", [id.as_str()])?;
            blobs::recount(tx, &photo.hash)?;
            let released = match state {
                blobs::State::Live => blobs::release_if_unused(tx, &photo.hash, format, now)?,
                // A photo never uses blobs being deleted; nothing to add.
                blobs::State::Deleting => None,
            };
            Ok(Some(Deleted { photo, released }))
        })
        .await
    }

    async fn storage_used(&self) -> DbResult<u64> {
        self.read(|c| {
            let bytes: i64 = c
                .prepare_cached("SELECT COALESCE(SUM(bytes), 0) FROM storage_use")?
                .query_row([], |r| r.get(0))?;
            u64::try_from(bytes).map_err(corrupt("storage total"))
        })
        .await
    }

    async fn recent_failures(&self, limit: u32) -> DbResult<Vec<Photo>> {
        self.read(move |c| {
            let sql = format!(
                "SELECT {PHOTO_COLUMNS} FROM photos WHERE status = 'failed'
                 ORDER BY updated_at DESC, id DESC LIMIT ?1"
            );
            collect_photos(c.prepare_cached(&sql)?.query([limit])?)
        })
        .await
    }
}
