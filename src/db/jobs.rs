//! Render jobs: the durable queue.

use async_trait::async_trait;

use super::DbResult;
use crate::domain::{ContentHash, ImageFormat, JobId, Millis, PhotoId};
use crate::model::Variant;

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
    /// Claims up to `limit` due jobs (queued and due, or running with an
    /// expired lease) for node `holder`, leasing them until `now +
    /// lease_ms`. Nodes claiming at once never get the same job.
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
    /// Puts every running job back in the queue: after a restart of the
    /// only node (an engine that is not [`shared`](super::SiteRepo::shared)),
    /// nothing can still be running.
    async fn requeue_running(&self) -> DbResult<u64>;
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
