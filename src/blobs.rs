//! The blobs of an original (the uploaded bytes and every variant rendered
//! from them): when an upload may rely on them, when they may be deleted,
//! and deleting them.
//!
//! Several photos can share one original (two people upload the same
//! bytes), so deleting a photo must not delete bytes that another photo, or
//! an upload about to commit one, still needs. The database decides who
//! uses a blob, in the same transactions that add and remove its users
//! (the `blobs` and `blob_uploads` tables, see [`Repo::reserve_blob`]);
//! this module does the store's side:
//!
//! 1. An upload **reserves** the blobs, stores the original unless a photo
//!    already proves the store holds it, then commits its photo, which ends
//!    the reservation. While a reservation or a photo exists, nothing
//!    deletes the blobs, so the bytes the upload stored or found are there
//!    when its photo commits.
//! 2. The transaction that removes the last user **claims** the blobs for
//!    deletion ([`Released`]). The holder of the claim deletes the original
//!    and every variant stored under its hash, then drops the record. While
//!    the claim lasts, nothing can reserve the blobs: an upload of the same
//!    bytes waits, then stores them again.
//! 3. A process that dies mid-way leaves a reservation or a claim behind.
//!    The [sweep](spawn_sweeper) ends reservations older than
//!    [`UPLOAD_LEASE_MS`] (an upload that outlives its reservation notices
//!    at commit and starts over) and re-claims deletions older than
//!    [`DELETION_LEASE_MS`].
//!
//! Only deletions can lose data, so they are fenced by time: a deleter
//! deletes nothing once half its lease has passed since its claim, and
//! only then may the sweep hand the claim to another deleter. Stores have
//! no conditional delete; a clock is the fence that works on all of them.

use std::sync::Arc;
use std::time::Duration;

use crate::changes::Changes;
use crate::db::{DbError, Release, Released, Repo, Reservation, Reserve};
use crate::domain::{ContentHash, ImageFormat, now_millis};
use crate::store::{BlobKey, Store, StoreError};

/// How long an upload may take from reserving its blobs to committing its
/// photo before the sweep takes the reservation back.
pub const UPLOAD_LEASE_MS: i64 = 60 * 60 * 1000;
/// How long a claim to delete blobs lasts before the sweep may hand it to
/// another deleter. A deleter stops deleting after half of it.
pub const DELETION_LEASE_MS: i64 = 10 * 60 * 1000;
/// How long an upload waits for a deletion of the same bytes to finish.
const RESERVE_WAIT: Duration = Duration::from_secs(10);
/// How long a render whose photo was deleted waits for a deletion of the
/// same blobs to finish before it releases what it stored.
const RELEASE_WAIT: Duration = Duration::from_secs(60);
/// How often the sweep looks for what dead processes left.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// A deletion of the same bytes did not finish in time.
    #[error("these bytes are being deleted; try again in a moment")]
    Busy,
    /// A deleter ran past half its lease and stopped; the sweep finishes.
    #[error("deleting the blobs of {0} took too long; the sweep will finish it")]
    LeaseSpent(ContentHash),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Reserves the blobs of `hash` for an upload, waiting (a little) for a
/// deletion of the same bytes to finish first.
pub async fn reserve(
    db: &dyn Repo,
    hash: &ContentHash,
    format: ImageFormat,
) -> Result<Reservation, BlobError> {
    let deadline = tokio::time::Instant::now() + RESERVE_WAIT;
    loop {
        match db.reserve_blob(hash, format, now_millis()).await? {
            Reserve::Reserved(r) => return Ok(r),
            Reserve::Deleting if tokio::time::Instant::now() >= deadline => {
                return Err(BlobError::Busy);
            }
            Reserve::Deleting => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

/// Ends a reservation whose upload failed, deleting the blobs if that was
/// their last use. Errors are logged: the sweep cleans up after them.
pub async fn abandon(
    db: &Arc<dyn Repo>,
    store: &Store,
    changes: &Changes,
    reservation: &Reservation,
) {
    let released = match db.abandon_upload(&reservation.id, now_millis()).await {
        Ok(released) => released,
        Err(e) => {
            tracing::warn!(upload = %reservation.id, error = %e, "cannot end an upload's reservation");
            return;
        }
    };
    if let Some(released) = released {
        delete_logged(db, store, changes, &released).await;
    }
}

/// Claims the blobs of `hash` if nothing uses them and deletes them: for a
/// render that stored variants of a photo deleted meanwhile.
///
/// If another claim is deleting them already, it may have listed the
/// variants before this render stored its own: this waits (a little) for
/// that deletion to end, then releases again, so that what the render
/// stored is listed and deleted too.
pub async fn release(
    db: &dyn Repo,
    store: &Store,
    changes: &Changes,
    hash: &ContentHash,
    format: ImageFormat,
) -> Result<(), BlobError> {
    let deadline = tokio::time::Instant::now() + RELEASE_WAIT;
    loop {
        match db.release_blob(hash, format, now_millis()).await? {
            Release::Claimed(released) => return delete(db, store, changes, &released).await,
            Release::InUse => return Ok(()),
            Release::Deleting if tokio::time::Instant::now() >= deadline => {
                return Err(BlobError::Busy);
            }
            Release::Deleting => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// Deletes released blobs from the store (variants first, the original
/// last), then drops their record.
pub async fn delete(
    db: &dyn Repo,
    store: &Store,
    changes: &Changes,
    released: &Released,
) -> Result<(), BlobError> {
    let mut keys = store.variants_of(&released.hash).await?;
    keys.push(BlobKey::original(&released.hash, released.format));
    let mut deleted = Vec::with_capacity(keys.len());
    let outcome = async {
        for key in &keys {
            if now_millis() - released.claimed_at > DELETION_LEASE_MS / 2 {
                return Err(BlobError::LeaseSpent(released.hash.clone()));
            }
            store.delete(key).await?;
            deleted.push(key.as_str().to_owned());
        }
        Ok(())
    }
    .await;
    if !deleted.is_empty() {
        changes.blobs_deleted(deleted).await;
    }
    outcome?;
    db.forget_blob(released).await?;
    tracing::debug!(hash = %released.hash, blobs = keys.len(), "deleted unused blobs");
    Ok(())
}

/// [`delete`], with a failure logged rather than returned. The claim
/// stays, and this process tries again in the background (the store may
/// be away for a moment: uploads of the same bytes wait for the claim to
/// end) until the deletion succeeds or half the claim's lease has passed;
/// after that the sweep takes over.
pub async fn delete_logged(
    db: &Arc<dyn Repo>,
    store: &Store,
    changes: &Changes,
    released: &Released,
) {
    let Err(e) = delete(db.as_ref(), store, changes, released).await else {
        return;
    };
    tracing::warn!(hash = %released.hash, error = %e, "could not delete unused blobs yet");
    if matches!(e, BlobError::LeaseSpent(_)) {
        return;
    }
    let (db, store, changes, released) =
        (db.clone(), store.clone(), changes.clone(), released.clone());
    tokio::spawn(async move {
        let mut wait = Duration::from_millis(500);
        loop {
            tokio::time::sleep(wait).await;
            match delete(db.as_ref(), &store, &changes, &released).await {
                Ok(()) => {
                    tracing::info!(hash = %released.hash, "deleted unused blobs after a retry");
                    return;
                }
                Err(BlobError::LeaseSpent(_)) => return,
                Err(e) => {
                    tracing::debug!(hash = %released.hash, error = %e, "deletion retry failed")
                }
            }
            wait = (wait * 2).min(Duration::from_secs(30));
        }
    });
}

/// Finishes what processes that died mid-way left: expired reservations
/// and unfinished deletions. Returns how many blobs' deletions it ran.
pub async fn sweep(
    db: &Arc<dyn Repo>,
    store: &Store,
    changes: &Changes,
) -> Result<usize, BlobError> {
    let now = now_millis();
    let stale = db
        .stale_blobs(now - UPLOAD_LEASE_MS, now - DELETION_LEASE_MS, now)
        .await?;
    for released in &stale {
        delete_logged(db, store, changes, released).await;
    }
    Ok(stale.len())
}

/// Runs [`sweep`] at start and then every minute until `stopping` turns true.
pub fn spawn_sweeper(
    db: Arc<dyn Repo>,
    store: Store,
    changes: Changes,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match sweep(&db, &store, &changes).await {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(blobs = n, "finished deletions that a stopped process left")
                }
                Err(e) => tracing::warn!(error = %e, "blob sweep failed"),
            }
            tokio::select! {
                _ = tokio::time::sleep(SWEEP_EVERY) => {}
                _ = stopping.wait_for(|s| *s) => return,
            }
        }
    })
}
