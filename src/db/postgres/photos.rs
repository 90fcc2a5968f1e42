//! Photos and their variants on PostgreSQL. A list's variants come in one
//! query for the whole page (`photo_id = ANY($1)`), so a gallery page is
//! two round trips however many photos it shows.

use std::collections::HashMap;

use async_trait::async_trait;
use deadpool_postgres::GenericClient;

use super::rows::{
    PHOTO_COLUMNS, corrupt, get, parsed, photo_from_row, variant_from_row, visible_to,
};
use super::{PostgresRepo, blobs};
use crate::db::{DbError, DbResult, Deleted, PhotoRepo};
use crate::domain::{ContentHash, JobId, Millis, PhotoId, UploadId, UserId};
use crate::model::{Cursor, Inserted, NewPhoto, Photo, PhotoEdit};
use crate::timeline::{self, PhotoOrder};

/// Fills in the variants of `photos`, in one query.
pub(super) async fn with_variants(
    c: &impl GenericClient,
    mut photos: Vec<Photo>,
) -> DbResult<Vec<Photo>> {
    if photos.is_empty() {
        return Ok(photos);
    }
    let ids: Vec<&str> = photos.iter().map(|p| p.id.as_str()).collect();
    let stmt = c
        .prepare_cached(
            "SELECT photo_id, name, format, width, height, byte_size, storage_key
             FROM variants WHERE photo_id = ANY($1) ORDER BY width, name, format",
        )
        .await?;
    let mut by_photo: HashMap<PhotoId, Vec<_>> = HashMap::new();
    for row in c.query(&stmt, &[&ids]).await? {
        let (photo, variant) = variant_from_row(&row)?;
        by_photo.entry(photo).or_default().push(variant);
    }
    for p in &mut photos {
        p.variants = by_photo.remove(&p.id).unwrap_or_default();
    }
    Ok(photos)
}

/// The one photo (with its variants) matching `condition`, a unique key.
pub(super) async fn find_photo(
    c: &impl GenericClient,
    condition: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> DbResult<Option<Photo>> {
    let stmt = c
        .prepare_cached(&format!(
            "SELECT {PHOTO_COLUMNS} FROM photos WHERE {condition}"
        ))
        .await?;
    let Some(row) = c.query_opt(&stmt, params).await? else {
        return Ok(None);
    };
    let photo = photo_from_row(&row)?;
    Ok(with_variants(c, vec![photo]).await?.pop())
}

pub(super) async fn load_photo(c: &impl GenericClient, id: &PhotoId) -> DbResult<Option<Photo>> {
    find_photo(c, "id = $1", &[&id.as_str()]).await
}

pub(super) async fn insert_job(
    c: &impl GenericClient,
    photo: &PhotoId,
    now: Millis,
) -> DbResult<()> {
    let stmt = c
        .prepare_cached(
            "INSERT INTO render_jobs (id, photo_id, state, attempts, run_after, created_at)
             VALUES ($1, $2, 'queued', 0, $3, $3)",
        )
        .await?;
    c.execute(&stmt, &[&JobId::generate().as_str(), &photo.as_str(), &now])
        .await?;
    // Delivered when the transaction commits: idle nodes claim at once
    // instead of at their next poll.
    c.execute(&format!("NOTIFY {}", super::listen::JOBS), &[])
        .await?;
    Ok(())
}

fn to_i32(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

#[async_trait]
impl PhotoRepo for PostgresRepo {
    async fn insert_photo(
        &self,
        p: NewPhoto,
        upload: &UploadId,
        now: Millis,
    ) -> DbResult<Option<Inserted>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        blobs::lock(&tx, &p.hash, p.format, now).await?;
        if !blobs::end_reservation(&tx, upload).await? {
            return Ok(None);
        }
        let existing = tx
            .query_opt(
                "SELECT id FROM photos WHERE owner_id = $1 AND original_hash = $2",
                &[&p.owner.as_str(), &p.hash.as_str()],
            )
            .await?;
        if let Some(row) = existing {
            let id: PhotoId = parsed(&row, 0, "photo id")?;
            let requeued = tx
                .execute(
                    "UPDATE photos SET status = 'pending', error = NULL, updated_at = $2
                     WHERE id = $1 AND status = 'failed'",
                    &[&id.as_str(), &now],
                )
                .await?;
            if requeued > 0 {
                insert_job(&tx, &id, now).await?;
            }
            // Uploading a photo again takes it out of the trash.
            tx.execute(
                "UPDATE photos SET trashed_at = NULL, updated_at = $2
                 WHERE id = $1 AND trashed_at IS NOT NULL",
                &[&id.as_str(), &now],
            )
            .await?;
            let photo = load_photo(&tx, &id)
                .await?
                .ok_or_else(|| DbError::Corrupt("photo vanished".into()))?;
            tx.commit().await?;
            return Ok(Some(Inserted::Duplicate(photo)));
        }
        tx.execute(
            "INSERT INTO photos (id, owner_id, original_hash, original_format, original_size,
                 width, height, status, error, title, caption, taken_at, camera,
                 created_at, updated_at,
                 lens, exposure_s, f_number, iso, focal_mm, gps_lat, gps_lon,
                 visibility, share_token, filename, dated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', NULL, $8, $9, $10, $11, $12, $12,
                 $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23)",
            &[
                &p.id.as_str(),
                &p.owner.as_str(),
                &p.hash.as_str(),
                &p.format.as_str(),
                &i64::try_from(p.byte_size).unwrap_or(i64::MAX),
                &to_i32(p.width),
                &to_i32(p.height),
                &p.title,
                &p.caption,
                &p.shot.taken_at,
                &p.shot.camera,
                &now,
                &p.shot.lens,
                &p.shot.exposure_s,
                &p.shot.f_number,
                &p.shot.iso.map(to_i32),
                &p.shot.focal_mm,
                &p.shot.gps.map(|g| g.lat),
                &p.shot.gps.map(|g| g.lon),
                &p.visibility.as_str(),
                &p.visibility.share_token_after(None, false),
                &p.filename,
                &timeline::dated_at(p.shot.taken_at.as_deref(), now),
            ],
        )
        .await?;
        insert_job(&tx, &p.id, now).await?;
        blobs::recount(&tx, &p.hash).await?;
        let photo = load_photo(&tx, &p.id)
            .await?
            .ok_or_else(|| DbError::Corrupt("photo vanished".into()))?;
        tx.commit().await?;
        Ok(Some(Inserted::New(photo)))
    }

    async fn photo(&self, id: &PhotoId) -> DbResult<Option<Photo>> {
        load_photo(&self.client().await?, id).await
    }

    async fn photo_by_hash(&self, owner: &UserId, hash: &ContentHash) -> DbResult<Option<Photo>> {
        let client = self.client().await?;
        find_photo(
            &client,
            "owner_id = $1 AND original_hash = $2",
            &[&owner.as_str(), &hash.as_str()],
        )
        .await
    }

    async fn list_photos(
        &self,
        limit: u32,
        cursor: Option<&Cursor>,
        viewer: Option<&UserId>,
        order: PhotoOrder,
    ) -> DbResult<Vec<Photo>> {
        let client = self.client().await?;
        let viewer = viewer.map(|v| v.as_str());
        let limit = i64::from(limit);
        let (key, dir) = (order.column(), order.direction());
        let rows = match cursor {
            None => {
                let sql = format!(
                    "SELECT {PHOTO_COLUMNS} FROM photos WHERE {}
                     ORDER BY {key} {dir}, id {dir} LIMIT $1",
                    visible_to(2)
                );
                let stmt = client.prepare_cached(&sql).await?;
                client.query(&stmt, &[&limit, &viewer]).await?
            }
            Some(after) => {
                // Row-value comparison: both engines walk the (key, id) index.
                let sql = format!(
                    "SELECT {PHOTO_COLUMNS} FROM photos
                     WHERE ({key}, id) {} ($1, $2) AND {}
                     ORDER BY {key} {dir}, id {dir} LIMIT $3",
                    order.after(),
                    visible_to(4)
                );
                let stmt = client.prepare_cached(&sql).await?;
                client
                    .query(&stmt, &[&after.at, &after.id.as_str(), &limit, &viewer])
                    .await?
            }
        };
        let photos = rows
            .iter()
            .map(photo_from_row)
            .collect::<DbResult<Vec<_>>>()?;
        with_variants(&client, photos).await
    }

    async fn neighbours(
        &self,
        id: &PhotoId,
        viewer: Option<&UserId>,
    ) -> DbResult<(Option<PhotoId>, Option<PhotoId>)> {
        let client = self.client().await?;
        let viewer = viewer.map(|v| v.as_str());
        let Some(row) = client
            .query_opt("SELECT dated_at FROM photos WHERE id = $1", &[&id.as_str()])
            .await?
        else {
            return Ok((None, None));
        };
        let dated: Millis = get(&row, 0)?;
        let step = async |cmp: &str, order: &str| -> DbResult<Option<PhotoId>> {
            let sql = format!(
                "SELECT id FROM photos WHERE (dated_at, id) {cmp} ($1, $2) AND {}
                 ORDER BY dated_at {order}, id {order} LIMIT 1",
                visible_to(3)
            );
            let stmt = client.prepare_cached(&sql).await?;
            let next = client
                .query_opt(&stmt, &[&dated, &id.as_str(), &viewer])
                .await?;
            next.map(|r| parsed(&r, 0, "photo id")).transpose()
        };
        let newer = step(">", "ASC").await?;
        let older = step("<", "DESC").await?;
        Ok((newer, older))
    }

    async fn edit_photo(
        &self,
        id: &PhotoId,
        edit: PhotoEdit,
        now: Millis,
    ) -> DbResult<Option<Photo>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let Some(photo) = find_photo(&tx, "id = $1 FOR UPDATE", &[&id.as_str()]).await? else {
            return Ok(None);
        };
        let visibility = edit.visibility.unwrap_or(photo.visibility);
        let token = visibility.share_token_after(photo.share_token, edit.new_link);
        tx.execute(
            "UPDATE photos SET title = $2, caption = $3, visibility = $4, share_token = $5,
                 updated_at = $6
             WHERE id = $1",
            &[
                &id.as_str(),
                &edit.title.unwrap_or(photo.title),
                &edit.caption.unwrap_or(photo.caption),
                &visibility.as_str(),
                &token,
                &now,
            ],
        )
        .await?;
        let edited = load_photo(&tx, id).await?;
        tx.commit().await?;
        Ok(edited)
    }

    async fn photo_by_share_token(&self, token: &str) -> DbResult<Option<Photo>> {
        find_photo(&self.client().await?, "share_token = $1", &[&token]).await
    }

    async fn delete_photo(&self, id: &PhotoId, now: Millis) -> DbResult<Option<Deleted>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let Some(photo) = load_photo(&tx, id).await? else {
            return Ok(None);
        };
        let (state, format) = blobs::lock(&tx, &photo.hash, photo.format, now).await?;
        tx.execute("DELETE FROM photos WHERE id = $1", &[&id.as_str()])
            .await?;
        blobs::recount(&tx, &photo.hash).await?;
        let released = match state {
            blobs::State::Live => blobs::release_if_unused(&tx, &photo.hash, format, now).await?,
            // A photo never uses blobs being deleted; nothing to add.
            blobs::State::Deleting => None,
        };
        tx.commit().await?;
        Ok(Some(Deleted { photo, released }))
    }

    async fn storage_used(&self) -> DbResult<u64> {
        let row = self
            .client()
            .await?
            .query_one(
                "SELECT CAST(COALESCE(SUM(bytes), 0) AS BIGINT) FROM storage_use",
                &[],
            )
            .await?;
        u64::try_from(get::<i64>(&row, 0)?).map_err(corrupt("storage total"))
    }

    async fn recent_failures(&self, limit: u32) -> DbResult<Vec<Photo>> {
        let sql = format!(
            "SELECT {PHOTO_COLUMNS} FROM photos WHERE status = 'failed'
             ORDER BY updated_at DESC, id DESC LIMIT $1"
        );
        let rows = self
            .client()
            .await?
            .query(&sql, &[&i64::from(limit)])
            .await?;
        rows.iter().map(photo_from_row).collect()
    }
}
