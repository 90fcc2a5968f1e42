//! What `scoot check` reads and mends, on SQLite.

use std::collections::HashMap;

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::SqliteRepo;
use super::rows::{corrupt, insert_job};
use crate::db::DbResult;
use crate::db::check::{BlobHold, CheckRepo, PhotoBlobs, QueueHealth, ShardRows, shard_range};
use crate::db::jobs::crash_backoff_sql;
use crate::domain::{Millis, PhotoId, PhotoStatus};

#[async_trait]
impl CheckRepo for SqliteRepo {
    async fn shard_rows(&self, prefix: &str) -> DbResult<ShardRows> {
        let (lo, hi) = shard_range(prefix);
        self.read(move |c| {
            let mut rows = ShardRows::default();
            let mut at = HashMap::new();
            let mut photos = c.prepare_cached(
                "SELECT id, original_hash, original_format, status FROM photos
                 WHERE original_hash >= ?1 AND original_hash < ?2",
            )?;
            let mut found = photos.query(params![lo, hi])?;
            while let Some(r) = found.next()? {
                let id: PhotoId = r
                    .get::<_, String>(0)?
                    .parse()
                    .map_err(corrupt("photo id"))?;
                at.insert(id.clone(), rows.photos.len());
                rows.photos.push(PhotoBlobs {
                    id,
                    hash: r.get::<_, String>(1)?.parse().map_err(corrupt("hash"))?,
                    format: r.get::<_, String>(2)?.parse().map_err(corrupt("format"))?,
                    status: r.get::<_, String>(3)?.parse().map_err(corrupt("status"))?,
                    variants: Vec::new(),
                });
            }
            let mut variants = c.prepare_cached(
                "SELECT v.photo_id, v.storage_key, v.byte_size
                 FROM variants v JOIN photos p ON p.id = v.photo_id
                 WHERE p.original_hash >= ?1 AND p.original_hash < ?2",
            )?;
            let mut found = variants.query(params![lo, hi])?;
            while let Some(r) = found.next()? {
                let id: PhotoId = r
                    .get::<_, String>(0)?
                    .parse()
                    .map_err(corrupt("photo id"))?;
                let size = u64::try_from(r.get::<_, i64>(2)?).map_err(corrupt("size"))?;
                if let Some(&i) = at.get(&id) {
                    rows.photos[i].variants.push((r.get(1)?, size));
                }
            }
            let mut holds = c.prepare_cached(
                "SELECT b.hash, EXISTS (SELECT 1 FROM blob_uploads u WHERE u.hash = b.hash),
                        CASE WHEN b.state = 'deleting' THEN b.claimed_at END
                 FROM blobs b WHERE b.hash >= ?1 AND b.hash < ?2",
            )?;
            let mut found = holds.query(params![lo, hi])?;
            while let Some(r) = found.next()? {
                rows.holds.push(BlobHold {
                    hash: r.get::<_, String>(0)?.parse().map_err(corrupt("hash"))?,
                    reserved: r.get(1)?,
                    deleting_since: r.get(2)?,
                });
            }
            Ok(rows)
        })
        .await
    }

    async fn queue_health(&self, expired_before: Millis) -> DbResult<QueueHealth> {
        self.read(move |c| {
            let expired = c
                .prepare_cached(concat!(
                    "SELECT id FROM render_jobs
                         WHERE state = 'running' AND lease_until + ",
                    crash_backoff_sql!("attempts"),
                    " < ?1"
                ))?
                .query_map([expired_before], |r| r.get::<_, String>(0))?
                .map(|id| id?.parse().map_err(corrupt("job id")))
                .collect::<DbResult<_>>()?;
            let unqueued = c
                .prepare_cached(
                    "SELECT id FROM photos p WHERE status = 'pending'
                     AND NOT EXISTS (SELECT 1 FROM render_jobs j WHERE j.photo_id = p.id)",
                )?
                .query_map([], |r| r.get::<_, String>(0))?
                .map(|id| id?.parse().map_err(corrupt("photo id")))
                .collect::<DbResult<_>>()?;
            Ok(QueueHealth { expired, unqueued })
        })
        .await
    }

    async fn requeue_expired(&self, expired_before: Millis) -> DbResult<u64> {
        self.write_relaxed(move |tx| {
            let n = tx.execute(
                concat!(
                    "UPDATE render_jobs SET state = 'queued', lease_until = NULL,
                         lease_holder = NULL
                     WHERE state = 'running' AND lease_until + ",
                    crash_backoff_sql!("attempts"),
                    " < ?1"
                ),
                [expired_before],
            )?;
            Ok(n as u64)
        })
        .await
    }

    async fn queue_render(&self, id: &PhotoId, now: Millis) -> DbResult<bool> {
        let id = id.clone();
        self.write(move |tx| {
            let status: Option<String> = tx
                .query_row(
                    "SELECT status FROM photos p WHERE id = ?1
                     AND NOT EXISTS (SELECT 1 FROM render_jobs j WHERE j.photo_id = p.id)",
                    [id.as_str()],
                    |r| r.get(0),
                )
                .optional()?;
            match status.as_deref() {
                Some(s) if s != PhotoStatus::Failed.as_str() => {
                    insert_job(tx, &id, now)?;
                    Ok(true)
                }
                _ => Ok(false),
            }
        })
        .await
    }

    async fn fail_photo(&self, id: &PhotoId, reason: &str, now: Millis) -> DbResult<bool> {
        let (id, reason) = (id.clone(), reason.to_owned());
        self.write(move |tx| {
            let marked = tx.execute(
                "UPDATE photos SET status = ?2, error = ?3, updated_at = ?4
                 WHERE id = ?1 AND status <> ?2",
                params![id.as_str(), PhotoStatus::Failed.as_str(), reason, now],
            )?;
            if marked > 0 {
                tx.execute("DELETE FROM render_jobs WHERE photo_id = ?1", [id.as_str()])?;
            }
            Ok(marked > 0)
        })
        .await
    }

    async fn integrity_problems(&self) -> DbResult<Vec<String>> {
        self.read(|c| {
            let mut problems: Vec<String> = c
                .prepare("PRAGMA integrity_check")?
                .query_map([], |r| r.get::<_, String>(0))?
                .collect::<Result<_, _>>()?;
            if problems == ["ok"] {
                problems.clear();
            }
            let mut keys = c.prepare("PRAGMA foreign_key_check")?;
            let mut found = keys.query([])?;
            while let Some(r) = found.next()? {
                let (table, parent): (String, String) = (r.get(0)?, r.get(2)?);
                problems.push(format!("a row of {table} names a missing row of {parent}"));
            }
            Ok(problems)
        })
        .await
    }
}
