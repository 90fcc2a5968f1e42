//! Render jobs: the durable queue.

use async_trait::async_trait;

use super::DbResult;
use crate::domain::{ContentHash, ImageFormat, JobId, Millis, PhotoId};
use crate::model::Variant;

/// How long a render whose process died while it ran waits before it is
/// claimed again: not at all the first time (a restart takes it up at
/// once), then this long, doubling with each claim. A render that kills
/// the process every time uses up its attempts over minutes instead of in
/// a hot crash loop, and a crash loop that has nothing to do with it
/// (an operator's kill, an OOM kill of another cause) rarely claims it
/// often enough to fail it.
pub const CRASH_BACKOFF_MS: i64 = 30_000;

/// [`CRASH_BACKOFF_MS`] for a job whose `attempts` column (a claim counts
/// one) is `$attempts`, as SQL both engines run. A macro, so that the
/// statements that use it (a render claim, polled all the time) stay
/// string constants rather than text built on every call.
macro_rules! crash_backoff_sql {
    ($attempts:literal) => {
        concat!(
            "((CASE WHEN ",
            $attempts,
            " <= 1 THEN 0 WHEN ",
            $attempts,
            " >= 9 THEN 128 ELSE (1 << (",
            $attempts,
            " - 2)) END) * 30000)"
        )
    };
}
pub(crate) use crash_backoff_sql;

/// A render job handed to a worker.
#[derive(Debug, Clone)]
pub struct ClaimedJob {
    pub id: JobId,
    pub photo_id: PhotoId,
    pub hash: ContentHash,
    pub format: ImageFormat,
    /// As displayed; what the render will decode.
    pub width: u32,
    pub height: u32,
    pub byte_size: u64,
    /// Attempts including this one.
    pub attempts: u32,
}

#[async_trait]
pub trait JobRepo: Send + Sync {
    /// Claims up to `limit` due jobs (queued and due, or running with a
    /// lease that expired [`CRASH_BACKOFF_MS`]-wise long enough ago) for
    /// node `holder`, leasing them until `now + lease_ms`. Nodes claiming
    /// at once never get the same job.
    async fn claim_jobs(
        &self,
        limit: u32,
        now: Millis,
        lease_ms: i64,
        holder: &str,
    ) -> DbResult<Vec<ClaimedJob>>;
    /// Extends to `now + lease_ms` the leases that `holder` still holds on
    /// `jobs` (a job another node claimed since is left alone). Returns
    /// how many were renewed.
    async fn renew_leases(
        &self,
        jobs: &[JobId],
        holder: &str,
        now: Millis,
        lease_ms: i64,
    ) -> DbResult<u64>;
    /// Puts every running job back in the queue, due after its
    /// [crash backoff](CRASH_BACKOFF_MS) from `now`: after a restart of the
    /// only node (an engine that is not [`shared`](super::SiteRepo::shared)),
    /// nothing can still be running.
    async fn requeue_running(&self, now: Millis) -> DbResult<u64>;
    /// Jobs not yet finished (queued or running).
    async fn queue_depth(&self) -> DbResult<u64>;
    /// Stores the variants, marks the photo ready and removes the job, in one
    /// transaction. `false` if the job no longer exists (photo deleted).
    async fn complete_job(
        &self,
        job: &JobId,
        photo: &PhotoId,
        variants: &[Variant],
        thumbhash: Option<&[u8]>,
        now: Millis,
    ) -> DbResult<bool>;
    /// Marks the photo failed with `reason` and removes the job.
    async fn fail_job(
        &self,
        job: &JobId,
        photo: &PhotoId,
        reason: &str,
        now: Millis,
    ) -> DbResult<()>;
    /// Puts the job back in the queue, due at `run_after`, and gives the
    /// attempt back: a retry is for a failure of the storage or the
    /// database, not the photo's, so an outage however long never uses up
    /// a photo's attempts.
    async fn retry_job(&self, job: &JobId, reason: &str, run_after: Millis) -> DbResult<()>;
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_backoff_sql_multiplies_by_the_constant() {
        let sql = crash_backoff_sql!("attempts");
        assert!(
            sql.ends_with(&format!(" * {})", super::CRASH_BACKOFF_MS)),
            "{sql}"
        );
    }
}
