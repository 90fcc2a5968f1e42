//! Render jobs on PostgreSQL. Claims lock the rows they take with `FOR
//! UPDATE … SKIP LOCKED`: several nodes claiming at once each get other
//! jobs, and none waits for another's claim.

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::rows::{get, parsed, to_u32};
use super::{PostgresRepo, blobs};
use crate::db::jobs::crash_backoff_sql;
use crate::db::{ClaimedJob, DbResult, JobRepo};
use crate::domain::{JobId, Millis, PhotoId, PhotoStatus};
use crate::model::Variant;

/// Locks the photo's row before its job's: the order every transaction
/// that changes both takes (a delete locks the original's blob row, then
/// the photo, then cascades to the job; a completion takes the blob row
/// first too), so a render finishing while its photo is deleted waits
/// instead of deadlocking. `false` if the photo is gone.
async fn lock_photo(tx: &deadpool_postgres::Transaction<'_>, photo: &PhotoId) -> DbResult<bool> {
    let stmt = tx
        .prepare_cached("SELECT 1 FROM photos WHERE id = $1 FOR UPDATE")
        .await?;
    Ok(tx.query_opt(&stmt, &[&photo.as_str()]).await?.is_some())
}

fn to_i32(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

#[async_trait]
impl JobRepo for PostgresRepo {
    async fn claim_jobs(
        &self,
        limit: u32,
        now: Millis,
        lease_ms: i64,
        holder: &str,
    ) -> DbResult<Vec<ClaimedJob>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let stmt = tx
            .prepare_cached(concat!(
                "SELECT j.id, j.photo_id, j.attempts, p.original_hash, p.original_format,
                        p.width, p.height, p.original_size
                 FROM render_jobs j JOIN photos p ON p.id = j.photo_id
                 WHERE (j.state = 'queued' AND j.run_after <= $1)
                    OR (j.state = 'running' AND j.lease_until + ",
                crash_backoff_sql!("j.attempts"),
                " < $1)
                 ORDER BY j.run_after, j.created_at LIMIT $2
                 FOR UPDATE OF j SKIP LOCKED"
            ))
            .await?;
        let rows = tx.query(&stmt, &[&now, &i64::from(limit)]).await?;
        let mut jobs = Vec::with_capacity(rows.len());
        for r in &rows {
            jobs.push(ClaimedJob {
                id: parsed(r, 0, "job id")?,
                photo_id: parsed(r, 1, "photo id")?,
                attempts: to_u32(get::<i32>(r, 2)? + 1, "attempts")?,
                hash: parsed(r, 3, "hash")?,
                format: parsed(r, 4, "format")?,
                width: to_u32(get(r, 5)?, "width")?,
                height: to_u32(get(r, 6)?, "height")?,
                byte_size: u64::try_from(get::<i64>(r, 7)?)
                    .map_err(super::rows::corrupt("size"))?,
            });
        }
        let lease = tx
            .prepare_cached(
                "UPDATE render_jobs SET state = 'running', attempts = $2, lease_until = $3,
                     lease_holder = $4
                 WHERE id = $1",
            )
            .await?;
        for job in &jobs {
            tx.execute(
                &lease,
                &[
                    &job.id.as_str(),
                    &to_i32(job.attempts),
                    &(now + lease_ms),
                    &holder,
                ],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(jobs)
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
        let ids: Vec<&str> = jobs.iter().map(JobId::as_str).collect();
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "UPDATE render_jobs SET lease_until = $3
                 WHERE id = ANY($1) AND state = 'running' AND lease_holder = $2",
            )
            .await?;
        Ok(client
            .execute(&stmt, &[&ids, &holder, &(now + lease_ms)])
            .await?)
    }

    async fn requeue_running(&self, now: Millis) -> DbResult<u64> {
        let n = self
            .client()
            .await?
            .execute(
                concat!(
                    "UPDATE render_jobs SET state = 'queued', lease_until = NULL,
                         lease_holder = NULL, run_after = $1::BIGINT + ",
                    crash_backoff_sql!("attempts"),
                    "
                     WHERE state = 'running'"
                ),
                &[&now],
            )
            .await?;
        Ok(n)
    }

    async fn queue_depth(&self) -> DbResult<u64> {
        let row = self
            .client()
            .await?
            .query_one("SELECT COUNT(*) FROM render_jobs", &[])
            .await?;
        Ok(get::<i64>(&row, 0)?.unsigned_abs())
    }

    async fn complete_job(
        &self,
        job: &JobId,
        photo: &PhotoId,
        variants: &[Variant],
        thumbhash: Option<&[u8]>,
        now: Millis,
    ) -> DbResult<bool> {
        let thumbhash = thumbhash.map(|t| BASE64.encode(t));
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // The blob's row first, as a delete does, then the photo's.
        let Some(hash) = blobs::lock_for_photo(&tx, photo, now).await? else {
            return Ok(false);
        };
        if !lock_photo(&tx, photo).await? {
            return Ok(false);
        }
        let gone = tx
            .execute("DELETE FROM render_jobs WHERE id = $1", &[&job.as_str()])
            .await?
            == 0;
        if gone {
            return Ok(false);
        }
        tx.execute(
            "DELETE FROM variants WHERE photo_id = $1",
            &[&photo.as_str()],
        )
        .await?;
        let insert = tx
            .prepare_cached(
                "INSERT INTO variants (photo_id, name, format, width, height, byte_size, storage_key)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .await?;
        for v in variants {
            tx.execute(
                &insert,
                &[
                    &photo.as_str(),
                    &v.name,
                    &v.format.as_str(),
                    &to_i32(v.width),
                    &to_i32(v.height),
                    &i64::try_from(v.byte_size).unwrap_or(i64::MAX),
                    &v.key,
                ],
            )
            .await?;
        }
        tx.execute(
            "UPDATE photos SET status = $2, error = NULL, updated_at = $3, thumbhash = $4
             WHERE id = $1",
            &[
                &photo.as_str(),
                &PhotoStatus::Ready.as_str(),
                &now,
                &thumbhash,
            ],
        )
        .await?;
        blobs::recount(&tx, &hash).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn fail_job(
        &self,
        job: &JobId,
        photo: &PhotoId,
        reason: &str,
        now: Millis,
    ) -> DbResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        lock_photo(&tx, photo).await?;
        tx.execute("DELETE FROM render_jobs WHERE id = $1", &[&job.as_str()])
            .await?;
        tx.execute(
            "UPDATE photos SET status = $2, error = $3, updated_at = $4 WHERE id = $1",
            &[
                &photo.as_str(),
                &PhotoStatus::Failed.as_str(),
                &reason,
                &now,
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn retry_job(&self, job: &JobId, reason: &str, run_after: Millis) -> DbResult<()> {
        self.client()
            .await?
            .execute(
                "UPDATE render_jobs SET state = 'queued', lease_until = NULL, lease_holder = NULL,
                     run_after = $2, last_error = $3, attempts = GREATEST(attempts - 1, 0)
                 WHERE id = $1",
                &[&job.as_str(), &run_after, &reason],
            )
            .await?;
        Ok(())
    }
}
