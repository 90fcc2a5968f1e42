//! What `scoot check` reads and mends in the database: the rows that name
//! blobs in the store, one shard of hashes at a time, and the render
//! queue's loose ends.

use async_trait::async_trait;

use super::DbResult;
use crate::domain::{ContentHash, ImageFormat, JobId, Millis, PhotoId, PhotoStatus};

/// A photo, the original it names and the variant keys its rows name.
#[derive(Debug, Clone)]
pub struct PhotoBlobs {
    pub id: PhotoId,
    pub hash: ContentHash,
    pub format: ImageFormat,
    pub status: PhotoStatus,
    /// `(storage key, byte size)` of each variant row.
    pub variants: Vec<(String, u64)>,
}

/// A `blobs` row: who holds an original's blobs besides its photos.
#[derive(Debug, Clone)]
pub struct BlobHold {
    pub hash: ContentHash,
    /// An upload has reserved the blobs and not yet committed its photo.
    pub reserved: bool,
    /// A deletion claimed the blobs at this time and has not finished.
    pub deleting_since: Option<Millis>,
}

/// Everything the database says about the hashes of one shard.
#[derive(Debug, Clone, Default)]
pub struct ShardRows {
    pub photos: Vec<PhotoBlobs>,
    pub holds: Vec<BlobHold>,
}

/// The render queue's loose ends.
#[derive(Debug, Clone, Default)]
pub struct QueueHealth {
    /// Renders claimed by a process whose lease ran out.
    pub expired: Vec<JobId>,
    /// Pending photos that no render job will ever finish.
    pub unqueued: Vec<PhotoId>,
}

/// The first and last hash of a shard named by its two-hex-digit prefix,
/// for a range scan on the hash indexes (hex digits sort before `g`).
pub fn shard_range(prefix: &str) -> (String, String) {
    (prefix.to_owned(), format!("{prefix}g"))
}

#[async_trait]
pub trait CheckRepo: Send + Sync {
    /// The photos (with their variant rows) and blob rows whose hash
    /// starts with `prefix`, two hex digits.
    async fn shard_rows(&self, prefix: &str) -> DbResult<ShardRows>;
    /// Renders whose lease ran out before `expired_before`, and pending
    /// photos without a render job.
    async fn queue_health(&self, expired_before: Millis) -> DbResult<QueueHealth>;
    /// Puts the renders whose lease ran out before `expired_before` back
    /// in the queue; returns how many.
    async fn requeue_expired(&self, expired_before: Millis) -> DbResult<u64>;
    /// Queues a render of photo `id` unless it has one queued or running,
    /// or is failed or gone; `true` if it queued one.
    async fn queue_render(&self, id: &PhotoId, now: Millis) -> DbResult<bool>;
    /// Marks photo `id` failed with `reason` and drops its render job,
    /// unless it is failed or gone already; `true` if it marked it.
    async fn fail_photo(&self, id: &PhotoId, reason: &str, now: Millis) -> DbResult<bool>;
    /// What the engine finds wrong in its own files (SQLite's
    /// `integrity_check` and `foreign_key_check`); empty when nothing is,
    /// or when the engine (PostgreSQL) guards its files itself.
    async fn integrity_problems(&self) -> DbResult<Vec<String>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shard_covers_exactly_its_prefix() {
        let (lo, hi) = shard_range("ab");
        let hash = ContentHash::of(b"x");
        let h = hash.as_str();
        let inside = format!("ab{}", &h[2..]);
        assert!(lo.as_str() <= inside.as_str() && inside.as_str() < hi.as_str());
        let max = format!("ab{}", "f".repeat(62));
        assert!(max.as_str() < hi.as_str());
        let next = format!("ac{}", "0".repeat(62));
        assert!(next.as_str() >= hi.as_str());
        assert!(format!("aa{}", "f".repeat(62)).as_str() < lo.as_str());
    }
}
