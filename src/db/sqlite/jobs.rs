//! Render jobs on SQLite: claims under a lease, retries, completion.

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use rusqlite::params;

use super::rows::{corrupt, to_u32};
use super::{SqliteRepo, blobs};
use crate::db::jobs::crash_backoff_sql;
use crate::db::{ClaimedJob, DbResult, JobRepo};
use crate::domain::{JobId, Millis, PhotoId, PhotoStatus};
use crate::model::Variant;

#[async_trait]
impl JobRepo for SqliteRepo {
    async fn claim_jobs(
        &self,
        limit: u32,
        now: Millis,
        lease_ms: i64,
        holder: &str,
    ) -> DbResult<Vec<ClaimedJob>> {
        let holder = holder.to_owned();
        self.write_relaxed(move |tx| {
            let mut stmt = tx.prepare_cached(concat!(
                "SELECT j.id, j.photo_id, j.attempts, p.original_hash, p.original_format,
                        p.width, p.height, p.original_size
                 FROM render_jobs j JOIN photos p ON p.id = j.photo_id
                 WHERE (j.state = 'queued' AND j.run_after <= ?1)
                    OR (j.state = 'running' AND j.lease_until + ",
                crash_backoff_sql!("j.attempts"),
                " < ?1)
                 ORDER BY j.run_after, j.created_at LIMIT ?2"
            ))?;
            let mut rows = stmt.query(params![now, limit])?;
            let mut jobs = Vec::new();
            while let Some(r) = rows.next()? {
                jobs.push(ClaimedJob {
                    id: r.get::<_, String>(0)?.parse().map_err(corrupt("job id"))?,
                    photo_id: r
                        .get::<_, String>(1)?
                        .parse()
                        .map_err(corrupt("photo id"))?,
                    attempts: to_u32(r.get::<_, i64>(2)? + 1, "attempts")?,
                    hash: r.get::<_, String>(3)?.parse().map_err(corrupt("hash"))?,
                    format: r.get::<_, String>(4)?.parse().map_err(corrupt("format"))?,
                    width: to_u32(r.get(5)?, "width")?,
                    height: to_u32(r.get(6)?, "height")?,
                    byte_size: u64::try_from(r.get::<_, i64>(7)?).map_err(corrupt("size"))?,
                });
            }
            for job in &jobs {
                tx.execute(
                    "UPDATE render_jobs SET state = 'running', attempts = ?2, lease_until = ?3,
                         lease_holder = ?4
                     WHERE id = ?1",
                    params![job.id.as_str(), job.attempts, now + lease_ms, holder],
                )?;
            }
            Ok(jobs)
        })
        .await
    }

    async fn renew_leases(
        &self,
        jobs: &[JobId],
        holder: &str,
        now: Millis,
        lease_ms: i64,
    ) -> DbResult<u64> {
        if jobs.is_empty() {
            return Ok(0);
        }
        let (jobs, holder) = (jobs.to_vec(), holder.to_owned());
        self.write_relaxed(move |tx| {
            let mut renew = tx.prepare_cached(
                "UPDATE render_jobs SET lease_until = ?3
                 WHERE id = ?1 AND state = 'running' AND lease_holder = ?2",
            )?;
            let mut renewed = 0;
            for job in &jobs {
                renewed += renew.execute(params![job.as_str(), holder, now + lease_ms])? as u64;
            }
            Ok(renewed)
        })
        .await
    }

    async fn requeue_running(&self, now: Millis) -> DbResult<u64> {
        self.write_relaxed(move |tx| {
            let n = tx.execute(
                concat!(
                    "UPDATE render_jobs SET state = 'queued', lease_until = NULL,
                         lease_holder = NULL, run_after = ?1 + ",
                    crash_backoff_sql!("attempts"),
                    "
                     WHERE state = 'running'"
                ),
                [now],
            )?;
            Ok(n as u64)
        })
        .await
    }

    async fn queue_depth(&self) -> DbResult<u64> {
        self.read(|c| {
            let n: i64 = c.query_row("SELECT COUNT(*) FROM render_jobs", [], |r| r.get(0))?;
            Ok(n.unsigned_abs())
        })
        .await
    }

    async fn complete_job(
        &self,
        job: &JobId,
        photo: &PhotoId,
        variants: &[Variant],
        thumbhash: Option<&[u8]>,
        now: Millis,
    ) -> DbResult<bool> {
        let (job, photo, variants) = (job.clone(), photo.clone(), variants.to_vec());
        let thumbhash = thumbhash.map(|t| BASE64.encode(t));
        self.write_relaxed(move |tx| {
            let Some(hash) = blobs::lock_for_photo(tx, &photo, now)? else {
                return Ok(false);
            };
            let gone = tx.execute("DELETE FROM render_jobs WHERE id = ?1", [job.as_str()])? == 0;
            if gone {
                return Ok(false);
            }
            tx.execute("DELETE FROM variants WHERE photo_id = ?1", [photo.as_str()])?;
            for v in &variants {
                tx.execute(
                    "INSERT INTO variants (photo_id, name, format, width, height, byte_size, storage_key)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![
                        photo.as_str(),
                        v.name,
                        v.format.as_str(),
                        v.width,
                        v.height,
                        i64::try_from(v.byte_size).unwrap_or(i64::MAX),
                        v.key
                    ],
                )?;
            }
            tx.execute(
                "UPDATE photos SET status = ?2, error = NULL, updated_at = ?3, thumbhash = ?4
                 WHERE id = ?1",
                params![photo.as_str(), PhotoStatus::Ready.as_str(), now, thumbhash],
            )?;
            blobs::recount(tx, &hash)?;
            Ok(true)
        })
        .await
    }

    async fn fail_job(
        &self,
        job: &JobId,
        photo: &PhotoId,
        reason: &str,
        now: Millis,
    ) -> DbResult<()> {
        let (job, photo, reason) = (job.clone(), photo.clone(), reason.to_owned());
        self.write_relaxed(move |tx| {
            tx.execute("DELETE FROM render_jobs WHERE id = ?1", [job.as_str()])?;
            tx.execute(
                "UPDATE photos SET status = ?2, error = ?3, updated_at = ?4 WHERE id = ?1",
                params![photo.as_str(), PhotoStatus::Failed.as_str(), reason, now],
            )?;
            Ok(())
        })
        .await
    }

    async fn retry_job(&self, job: &JobId, reason: &str, run_after: Millis) -> DbResult<()> {
        let (job, reason) = (job.clone(), reason.to_owned());
        self.write_relaxed(move |tx| {
            tx.execute(
                "UPDATE render_jobs SET state = 'queued', lease_until = NULL, lease_holder = NULL,
                     run_after = ?2, last_error = ?3, attempts = MAX(attempts - 1, 0)
                 WHERE id = ?1",
                params![job.as_str(), run_after, reason],
            )?;
            Ok(())
        })
        .await
    }
}
