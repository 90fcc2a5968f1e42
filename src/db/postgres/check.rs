//! What `scoot check` reads and mends, on PostgreSQL.

use std::collections::HashMap;

use async_trait::async_trait;

use super::rows::{get, parsed};
use super::{PostgresRepo, blobs, photos::insert_job};
use crate::db::DbResult;
use crate::db::check::{BlobHold, CheckRepo, PhotoBlobs, QueueHealth, ShardRows, shard_range};
use crate::db::jobs::crash_backoff_sql;
use crate::domain::{Millis, PhotoId, PhotoStatus};

#[async_trait]
impl CheckRepo for PostgresRepo {
    async fn shard_rows(&self, prefix: &str) -> DbResult<ShardRows> {
        let (lo, hi) = shard_range(prefix);
        let client = self.client().await?;
        let mut rows = ShardRows::default();
        let mut at = HashMap::new();
        let found = client
            .query(
                "SELECT id, original_hash, original_format, status FROM photos
                 WHERE original_hash >= $1 AND original_hash < $2",
                &[&lo, &hi],
            )
            .await?;
        for r in &found {
            let id: PhotoId = parsed(r, 0, "photo id")?;
            at.insert(id.clone(), rows.photos.len());
            rows.photos.push(PhotoBlobs {
                id,
                hash: parsed(r, 1, "hash")?,
                format: parsed(r, 2, "format")?,
                status: parsed(r, 3, "status")?,
                variants: Vec::new(),
            });
        }
        let found = client
            .query(
                "SELECT v.photo_id, v.storage_key, v.byte_size
                 FROM variants v JOIN photos p ON p.id = v.photo_id
                 WHERE p.original_hash >= $1 AND p.original_hash < $2",
                &[&lo, &hi],
            )
            .await?;
        for r in &found {
            let id: PhotoId = parsed(r, 0, "photo id")?;
            let size = u64::try_from(get::<i64>(r, 2)?).unwrap_or(0);
            if let Some(&i) = at.get(&id) {
                rows.photos[i].variants.push((get::<String>(r, 1)?, size));
            }
        }
        let found = client
            .query(
                "SELECT b.hash, EXISTS (SELECT 1 FROM blob_uploads u WHERE u.hash = b.hash),
                        CASE WHEN b.state = 'deleting' THEN b.claimed_at END
                 FROM blobs b WHERE b.hash >= $1 AND b.hash < $2",
                &[&lo, &hi],
            )
            .await?;
        for r in &found {
            rows.holds.push(BlobHold {
                hash: parsed(r, 0, "hash")?,
                reserved: get(r, 1)?,
                deleting_since: get(r, 2)?,
            });
        }
        Ok(rows)
    }

    async fn queue_health(&self, expired_before: Millis) -> DbResult<QueueHealth> {
        let client = self.client().await?;
        let expired = client
            .query(
                concat!(
                    "SELECT id FROM render_jobs
                         WHERE state = 'running' AND lease_until + ",
                    crash_backoff_sql!("attempts"),
                    " < $1"
                ),
                &[&expired_before],
            )
            .await?
            .iter()
            .map(|r| parsed(r, 0, "job id"))
            .collect::<DbResult<_>>()?;
        let unqueued = client
            .query(
                "SELECT id FROM photos p WHERE status = 'pending'
                 AND NOT EXISTS (SELECT 1 FROM render_jobs j WHERE j.photo_id = p.id)",
                &[],
            )
            .await?
            .iter()
            .map(|r| parsed(r, 0, "photo id"))
            .collect::<DbResult<_>>()?;
        Ok(QueueHealth { expired, unqueued })
    }

    async fn requeue_expired(&self, expired_before: Millis) -> DbResult<u64> {
        let client = self.client().await?;
        Ok(client
            .execute(
                concat!(
                    "UPDATE render_jobs SET state = 'queued', lease_until = NULL,
                         lease_holder = NULL
                     WHERE state = 'running' AND lease_until + ",
                    crash_backoff_sql!("attempts"),
                    " < $1"
                ),
                &[&expired_before],
            )
            .await?)
    }

    async fn queue_render(&self, id: &PhotoId, now: Millis) -> DbResult<bool> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // The blob row, then the photo: the order a delete locks them in.
        if blobs::lock_for_photo(&tx, id, now).await?.is_none() {
            return Ok(false);
        }
        let row = tx
            .query_opt(
                "SELECT status FROM photos p WHERE id = $1
                 AND NOT EXISTS (SELECT 1 FROM render_jobs j WHERE j.photo_id = p.id)
                 FOR UPDATE",
                &[&id.as_str()],
            )
            .await?;
        let queued = match row {
            Some(r) if get::<&str>(&r, 0)? != PhotoStatus::Failed.as_str() => {
                insert_job(&tx, id, now).await?;
                true
            }
            _ => false,
        };
        tx.commit().await?;
        Ok(queued)
    }

    async fn fail_photo(&self, id: &PhotoId, reason: &str, now: Millis) -> DbResult<bool> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        if blobs::lock_for_photo(&tx, id, now).await?.is_none() {
            return Ok(false);
        }
        let failed = PhotoStatus::Failed.as_str();
        let marked = tx
            .execute(
                "UPDATE photos SET status = $2, error = $3, updated_at = $4
                 WHERE id = $1 AND status <> $2",
                &[&id.as_str(), &failed, &reason, &now],
            )
            .await?;
        if marked > 0 {
            tx.execute(
                "DELETE FROM render_jobs WHERE photo_id = $1",
                &[&id.as_str()],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(marked > 0)
    }

    async fn integrity_problems(&self) -> DbResult<Vec<String>> {
        // PostgreSQL checksums and WAL guard its files; a broken page
        // shows as an error on the query that reads it.
        self.client().await?.simple_query("SELECT 1").await?;
        Ok(Vec::new())
    }
}
