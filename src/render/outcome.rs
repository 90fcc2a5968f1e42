//! What became of one attempt at a render, and writing that down: the
//! job's row, the photo's status, the listeners told.
//!
//! A failure of the storage or the database (a full disk, a store that is
//! away) is not the photo's fault: such an attempt is [`Outcome::Wait`],
//! retried later without counting against the photo's attempts, so an
//! outage however long ends with the photo rendered, not failed. And a
//! write of the outcome that fails is tried again at once and then every
//! few seconds while the job is still held (its lease renewed), rather
//! than left for the lease to run out minutes later; when space returns,
//! the next try goes through.

use std::future::Future;
use std::time::{Duration, Instant};

use super::worker::RenderDeps;
use crate::blobs;
use crate::db::{ClaimedJob, DbResult};
use crate::domain::{PhotoStatus, now_millis};

/// The first pause before writing an outcome again; it doubles up to
/// [`RECORD_PAUSE_MAX`].
const RECORD_PAUSE: Duration = Duration::from_millis(250);
const RECORD_PAUSE_MAX: Duration = Duration::from_secs(5);

/// What became of one attempt.
pub(super) enum Outcome {
    Ready,
    /// Permanent: the photo is marked failed with this reason.
    Failed(String),
    /// The storage or the database failed, not the photo: try again later,
    /// without counting the attempt.
    Wait(String),
    /// The photo was deleted while it rendered.
    Gone,
}

/// Runs `write` until it succeeds, trying again after a pause that
/// doubles, for as long as `patience` allows; then its last error.
pub(super) async fn persist<T, F, Fut>(
    patience: Duration,
    job: &ClaimedJob,
    what: &str,
    mut write: F,
) -> DbResult<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = DbResult<T>>,
{
    let deadline = Instant::now() + patience;
    let mut pause = RECORD_PAUSE;
    loop {
        match write().await {
            Ok(done) => return Ok(done),
            Err(e) if Instant::now() + pause < deadline => {
                tracing::warn!(photo = %job.photo_id, error = %e, retry_ms = pause.as_millis() as u64, "cannot record {what}; trying again");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(RECORD_PAUSE_MAX);
            }
            Err(e) => return Err(e),
        }
    }
}

/// Counts the outcome, records it in the database and tells listeners. A
/// job to wait is due again `retry_after` from now. A recording that keeps
/// failing for `patience` is left to the lease: when it runs out, the job
/// is claimed again.
pub(super) async fn record(
    deps: &RenderDeps,
    job: &ClaimedJob,
    outcome: Outcome,
    started: Instant,
    patience: Duration,
    retry_after: Duration,
) {
    let retry_ms = i64::try_from(retry_after.as_millis()).unwrap_or(i64::MAX);
    let label = match &outcome {
        Outcome::Ready => "ready",
        Outcome::Failed(_) => "failed",
        Outcome::Wait(_) => "retry",
        Outcome::Gone => "gone",
    };
    let m = &deps.metrics;
    m.renders.with_label_values(&[label]).inc();
    m.render_duration
        .with_label_values(&[label])
        .observe(started.elapsed().as_secs_f64());
    let db = &deps.db;
    let final_status = match &outcome {
        Outcome::Ready => Some(PhotoStatus::Ready),
        Outcome::Failed(_) => Some(PhotoStatus::Failed),
        Outcome::Wait(_) | Outcome::Gone => None,
    };
    let recorded = match outcome {
        Outcome::Ready => {
            tracing::info!(photo = %job.photo_id, ms = started.elapsed().as_millis() as u64, "rendered");
            Ok(())
        }
        Outcome::Gone => {
            // The variants just stored may be the last use of these
            // bytes: delete them unless another photo uses them.
            if let Err(e) = blobs::release(
                db.as_ref(),
                &deps.store,
                &deps.changes,
                &job.hash,
                job.format,
            )
            .await
            {
                tracing::warn!(photo = %job.photo_id, error = %e, "cannot release the blobs of a deleted photo");
            }
            Ok(())
        }
        Outcome::Failed(reason) => {
            tracing::warn!(photo = %job.photo_id, %reason, "render failed");
            persist(patience, job, "a failed render", || {
                db.fail_job(&job.id, &job.photo_id, &reason, now_millis())
            })
            .await
        }
        Outcome::Wait(reason) => {
            tracing::warn!(photo = %job.photo_id, %reason, retry_ms, "render will retry");
            persist(patience, job, "a render's retry", || {
                db.retry_job(&job.id, &reason, now_millis() + retry_ms)
            })
            .await
        }
    };
    let changes = &deps.changes;
    match (recorded, final_status) {
        // The lease expires and the job is claimed again.
        (Err(e), _) => {
            tracing::error!(photo = %job.photo_id, error = %e, "cannot record render outcome");
            changes.photo(&job.photo_id).await;
        }
        (Ok(()), Some(status)) => changes.photo_settled(&job.photo_id, status).await,
        (Ok(()), None) => changes.photo(&job.photo_id).await,
    }
}
