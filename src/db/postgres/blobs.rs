//! Who uses an original's blobs, on PostgreSQL: the same steps as the
//! SQLite engine's. [`lock`] writes the blob's row with `INSERT … ON
//! CONFLICT DO UPDATE`, which takes the row's lock (or creates it) until
//! the transaction ends: a second transaction on the same hash waits there,
//! and under READ COMMITTED every statement it runs after the wait sees
//! what the first committed. So "is anything still using it?" and "use it"
//! never interleave.

use async_trait::async_trait;
use deadpool_postgres::GenericClient;

use super::PostgresRepo;
use super::rows::{corrupt, get, parsed};
use crate::db::{BlobRepo, DbError, DbResult, Release, Released, Reservation, Reserve};
use crate::domain::{ContentHash, ImageFormat, Millis, PhotoId, UploadId};

/// The blob row's state after [`lock`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum State {
    Live,
    Deleting,
}

/// Writes (and so locks) the row of `hash`, creating it `live` if missing;
/// returns its state and the original's format.
pub(super) async fn lock(
    c: &impl GenericClient,
    hash: &ContentHash,
    format: ImageFormat,
    now: Millis,
) -> DbResult<(State, ImageFormat)> {
    let stmt = c
        .prepare_cached(
            "INSERT INTO blobs (hash, format, state, claimed_at, changed_at)
             VALUES ($1, $2, 'live', NULL, $3)
             ON CONFLICT (hash) DO UPDATE SET changed_at = excluded.changed_at
             RETURNING state, format",
        )
        .await?;
    let row = c
        .query_one(&stmt, &[&hash.as_str(), &format.as_str(), &now])
        .await?;
    let state = match get::<&str>(&row, 0)? {
        "live" => State::Live,
        "deleting" => State::Deleting,
        other => return Err(corrupt("blob state")(other)),
    };
    Ok((state, parsed(&row, 1, "blob format")?))
}

/// Locks the blob row of photo `id`'s original, as [`lock`] does, and
/// returns its hash; `None` if the photo is gone.
pub(super) async fn lock_for_photo(
    c: &impl GenericClient,
    id: &PhotoId,
    now: Millis,
) -> DbResult<Option<ContentHash>> {
    let stmt = c
        .prepare_cached("SELECT original_hash, original_format FROM photos WHERE id = $1")
        .await?;
    let Some(row) = c.query_opt(&stmt, &[&id.as_str()]).await? else {
        return Ok(None);
    };
    let hash: ContentHash = parsed(&row, 0, "photo hash")?;
    lock(c, &hash, parsed(&row, 1, "photo format")?, now).await?;
    Ok(Some(hash))
}

/// Recounts the bytes the rows account for under `hash` (its original once,
/// each distinct variant key once) and adds the change to the storage
/// total. Call it after changing a photo or its variants, with the blob's
/// row locked by this transaction.
pub(super) async fn recount(c: &impl GenericClient, hash: &ContentHash) -> DbResult<()> {
    let stmt = c
        .prepare_cached(
            "SELECT bytes, CAST(
                 COALESCE((SELECT MAX(original_size) FROM photos WHERE original_hash = $1), 0)
               + COALESCE((SELECT SUM(d.byte_size) FROM
                     (SELECT DISTINCT v.storage_key, v.byte_size
                      FROM variants v JOIN photos p ON p.id = v.photo_id
                      WHERE p.original_hash = $1) d), 0) AS BIGINT)
             FROM blobs WHERE hash = $1",
        )
        .await?;
    let Some(row) = c.query_opt(&stmt, &[&hash.as_str()]).await? else {
        return Err(DbError::Corrupt(format!("no blob row for {hash}")));
    };
    let (counted, now) = (get::<i64>(&row, 0)?, get::<i64>(&row, 1)?);
    if now != counted {
        let stmt = c
            .prepare_cached("UPDATE blobs SET bytes = $2 WHERE hash = $1")
            .await?;
        c.execute(&stmt, &[&hash.as_str(), &now]).await?;
        add_storage(c, hash, now - counted).await?;
    }
    Ok(())
}

/// Adds `bytes` (negative to subtract) to the storage total, in the shard
/// of `hash`.
async fn add_storage(c: &impl GenericClient, hash: &ContentHash, bytes: i64) -> DbResult<()> {
    let stmt = c
        .prepare_cached(
            "INSERT INTO storage_use (shard, bytes) VALUES (substr($1, 1, 1), $2)
             ON CONFLICT (shard) DO UPDATE SET bytes = storage_use.bytes + excluded.bytes",
        )
        .await?;
    c.execute(&stmt, &[&hash.as_str(), &bytes]).await?;
    Ok(())
}

/// Ends reservation `id`; `false` if it had expired already.
pub(super) async fn end_reservation(c: &impl GenericClient, id: &UploadId) -> DbResult<bool> {
    let stmt = c
        .prepare_cached("DELETE FROM blob_uploads WHERE id = $1")
        .await?;
    Ok(c.execute(&stmt, &[&id.as_str()]).await? > 0)
}

/// Claims the blobs of `hash` for deletion if no photo and no upload uses
/// them. The row must be locked by this transaction already.
pub(super) async fn release_if_unused(
    c: &impl GenericClient,
    hash: &ContentHash,
    format: ImageFormat,
    now: Millis,
) -> DbResult<Option<Released>> {
    let stmt = c
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM photos WHERE original_hash = $1)
                 OR EXISTS (SELECT 1 FROM blob_uploads WHERE hash = $1)",
        )
        .await?;
    if get::<bool>(&c.query_one(&stmt, &[&hash.as_str()]).await?, 0)? {
        return Ok(None);
    }
    let claimed = c
        .execute(
            "UPDATE blobs SET state = 'deleting', claimed_at = $2, changed_at = $2
             WHERE hash = $1 AND state = 'live'",
            &[&hash.as_str(), &now],
        )
        .await?;
    Ok((claimed > 0).then(|| Released {
        hash: hash.clone(),
        format,
        claimed_at: now,
    }))
}

async fn release(
    c: &impl GenericClient,
    hash: &ContentHash,
    format: ImageFormat,
    now: Millis,
) -> DbResult<Release> {
    Ok(match lock(c, hash, format, now).await? {
        (State::Live, format) => match release_if_unused(c, hash, format, now).await? {
            Some(released) => Release::Claimed(released),
            None => Release::InUse,
        },
        (State::Deleting, _) => Release::Deleting,
    })
}

async fn abandon(c: &impl GenericClient, id: &UploadId, now: Millis) -> DbResult<Option<Released>> {
    let Some(row) = c
        .query_opt(
            "SELECT hash FROM blob_uploads WHERE id = $1",
            &[&id.as_str()],
        )
        .await?
    else {
        return Ok(None);
    };
    let hash: ContentHash = parsed(&row, 0, "blob hash")?;
    // The format is the row's: `lock` only uses this one for a new row.
    let (_, format) = lock(c, &hash, ImageFormat::Jpeg, now).await?;
    end_reservation(c, id).await?;
    release_if_unused(c, &hash, format, now).await
}

#[async_trait]
impl BlobRepo for PostgresRepo {
    async fn reserve_blob(
        &self,
        hash: &ContentHash,
        format: ImageFormat,
        now: Millis,
    ) -> DbResult<Reserve> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        if lock(&tx, hash, format, now).await?.0 == State::Deleting {
            return Ok(Reserve::Deleting);
        }
        let row = tx
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM photos WHERE original_hash = $1 AND status <> 'failed')",
                &[&hash.as_str()],
            )
            .await?;
        let stored = get::<bool>(&row, 0)?;
        let id = UploadId::generate();
        tx.execute(
            "INSERT INTO blob_uploads (id, hash, started_at) VALUES ($1, $2, $3)",
            &[&id.as_str(), &hash.as_str(), &now],
        )
        .await?;
        tx.commit().await?;
        Ok(Reserve::Reserved(Reservation { id, stored }))
    }

    async fn abandon_upload(&self, upload: &UploadId, now: Millis) -> DbResult<Option<Released>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let released = abandon(&tx, upload, now).await?;
        tx.commit().await?;
        Ok(released)
    }

    async fn release_blob(
        &self,
        hash: &ContentHash,
        format: ImageFormat,
        now: Millis,
    ) -> DbResult<Release> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let released = release(&tx, hash, format, now).await?;
        tx.commit().await?;
        Ok(released)
    }

    async fn forget_blob(&self, released: &Released) -> DbResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let left = tx
            .query_opt(
                "DELETE FROM blobs WHERE hash = $1 AND state = 'deleting' AND claimed_at = $2
                 RETURNING bytes",
                &[&released.hash.as_str(), &released.claimed_at],
            )
            .await?;
        // Nothing uses claimed blobs, so their count is zero already; were
        // it not, the total must not keep bytes no row accounts for.
        if let Some(row) = left {
            let bytes = get::<i64>(&row, 0)?;
            if bytes != 0 {
                add_storage(&tx, &released.hash, -bytes).await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn live_blobs(&self, hashes: &[ContentHash]) -> DbResult<Vec<ContentHash>> {
        let hashes: Vec<&str> = hashes.iter().map(ContentHash::as_str).collect();
        let rows = self
            .client()
            .await?
            .query(
                "SELECT hash FROM blobs WHERE hash = ANY($1) AND state = 'live'",
                &[&hashes],
            )
            .await?;
        rows.iter().map(|row| parsed(row, 0, "blob hash")).collect()
    }

    async fn stale_blobs(
        &self,
        uploads_before: Millis,
        deletions_before: Millis,
        now: Millis,
    ) -> DbResult<Vec<Released>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let expired = tx
            .query(
                "SELECT id FROM blob_uploads WHERE started_at < $1",
                &[&uploads_before],
            )
            .await?;
        let mut released = Vec::new();
        for row in expired {
            let id: UploadId = parsed(&row, 0, "upload id")?;
            tracing::warn!(upload = %id, "an upload's reservation expired; releasing it");
            released.extend(abandon(&tx, &id, now).await?);
        }
        // SKIP LOCKED: a deletion another node is re-claiming right now is
        // that node's.
        let stuck = tx
            .query(
                "SELECT hash, format FROM blobs WHERE state = 'deleting' AND claimed_at < $1
                 FOR UPDATE SKIP LOCKED",
                &[&deletions_before],
            )
            .await?;
        for row in stuck {
            let hash: ContentHash = parsed(&row, 0, "blob hash")?;
            tx.execute(
                "UPDATE blobs SET claimed_at = $2, changed_at = $2 WHERE hash = $1",
                &[&hash.as_str(), &now],
            )
            .await?;
            released.push(Released {
                hash,
                format: parsed(&row, 1, "blob format")?,
                claimed_at: now,
            });
        }
        tx.commit().await?;
        Ok(released)
    }
}
