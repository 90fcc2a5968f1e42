//! Who uses an original's blobs, on SQLite: the [`BlobRepo`] methods and
//! the synchronous steps they take inside write transactions.
//!
//! Every transaction that adds or removes a user of a blob (a photo row, an
//! upload's reservation) starts with [`lock`], which writes the blob's row.
//! SQLite runs one write transaction at a time, so "is anything still using
//! it?" and "use it" can never interleave. The same statements keep that
//! promise on PostgreSQL: `INSERT … ON CONFLICT … DO UPDATE` takes the row's
//! lock (or creates the row) and holds it until commit, so a second
//! transaction on the same hash waits there, and under READ COMMITTED the
//! statements it runs after the wait see everything the first committed.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, Transaction, params};

use super::SqliteRepo;
use super::rows::corrupt;
use crate::db::{BlobRepo, DbError, DbResult, Release, Released, Reservation, Reserve};
use crate::domain::{ContentHash, ImageFormat, Millis, PhotoId, UploadId};

/// The blob row's state after [`lock`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum State {
    Live,
    Deleting,
}

/// Writes the row of `hash` (creating it `live` if missing) and returns its
/// state and the original's format. Call this before anything else that
/// reads or changes who uses the blob.
pub(super) fn lock(
    tx: &Transaction<'_>,
    hash: &ContentHash,
    format: ImageFormat,
    now: Millis,
) -> DbResult<(State, ImageFormat)> {
    let (state, format): (String, String) = tx
        .prepare_cached(
            "INSERT INTO blobs (hash, format, state, claimed_at, changed_at)
             VALUES (?1, ?2, 'live', NULL, ?3)
             ON CONFLICT (hash) DO UPDATE SET changed_at = excluded.changed_at
             RETURNING state, format",
        )?
        .query_row(params![hash.as_str(), format.as_str(), now], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    let state = match state.as_str() {
        "live" => State::Live,
        "deleting" => State::Deleting,
        other => return Err(corrupt("blob state")(other)),
    };
    Ok((state, format.parse().map_err(corrupt("blob format"))?))
}

/// Locks the blob row of photo `id`'s original, as [`lock`] does, and
/// returns its hash; `None` if the photo is gone.
pub(super) fn lock_for_photo(
    tx: &Transaction<'_>,
    id: &PhotoId,
    now: Millis,
) -> DbResult<Option<ContentHash>> {
    let original: Option<(String, String)> = tx
        .prepare_cached("SELECT original_hash, original_format FROM photos WHERE id = ?1")?
        .query_row([id.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((hash, format)) = original else {
        return Ok(None);
    };
    let hash: ContentHash = hash.parse().map_err(corrupt("photo hash"))?;
    lock(
        tx,
        &hash,
        format.parse().map_err(corrupt("photo format"))?,
        now,
    )?;
    Ok(Some(hash))
}

/// A reservation for an upload of `hash`, unless its blobs are being deleted.
pub(super) fn reserve(
    tx: &Transaction<'_>,
    hash: &ContentHash,
    format: ImageFormat,
    now: Millis,
) -> DbResult<Reserve> {
    if lock(tx, hash, format, now)?.0 == State::Deleting {
        return Ok(Reserve::Deleting);
    }
    let stored: bool = tx
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM photos WHERE original_hash = ?1 AND status <> 'failed')",
        )?
        .query_row([hash.as_str()], |r| r.get(0))?;
    let id = UploadId::generate();
    tx.prepare_cached("INSERT INTO blob_uploads (id, hash, started_at) VALUES (?1, ?2, ?3)")?
        .execute(params![id.as_str(), hash.as_str(), now])?;
    Ok(Reserve::Reserved(Reservation { id, stored }))
}

/// Ends reservation `id` (after [`lock`] on its hash); `false` if it had
/// expired already.
pub(super) fn end_reservation(tx: &Transaction<'_>, id: &UploadId) -> DbResult<bool> {
    Ok(tx
        .prepare_cached("DELETE FROM blob_uploads WHERE id = ?1")?
        .execute([id.as_str()])?
        > 0)
}

/// The hash reservation `id` holds, if it is still there.
pub(super) fn reserved_hash(tx: &Transaction<'_>, id: &UploadId) -> DbResult<Option<ContentHash>> {
    let hash: Option<String> = tx
        .prepare_cached("SELECT hash FROM blob_uploads WHERE id = ?1")?
        .query_row([id.as_str()], |r| r.get(0))
        .optional()?;
    hash.map(|h| h.parse().map_err(corrupt("blob hash")))
        .transpose()
}

/// Claims the blobs of `hash` for deletion if no photo and no upload uses
/// them. The row must be locked by this transaction already.
pub(super) fn release_if_unused(
    tx: &Transaction<'_>,
    hash: &ContentHash,
    format: ImageFormat,
    now: Millis,
) -> DbResult<Option<Released>> {
    let used: bool = tx
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM photos WHERE original_hash = ?1)
                 OR EXISTS (SELECT 1 FROM blob_uploads WHERE hash = ?1)",
        )?
        .query_row([hash.as_str()], |r| r.get(0))?;
    if used {
        return Ok(None);
    }
    let claimed = tx
        .prepare_cached(
            "UPDATE blobs SET state = 'deleting', claimed_at = ?2, changed_at = ?2
             WHERE hash = ?1 AND state = 'live'",
        )?
        .execute(params![hash.as_str(), now])?;
    Ok((claimed > 0).then(|| Released {
        hash: hash.clone(),
        format,
        claimed_at: now,
    }))
}

/// Locks `hash` and claims its blobs if nothing uses them.
pub(super) fn release(
    tx: &Transaction<'_>,
    hash: &ContentHash,
    format: ImageFormat,
    now: Millis,
) -> DbResult<Release> {
    Ok(match lock(tx, hash, format, now)? {
        (State::Live, format) => match release_if_unused(tx, hash, format, now)? {
            Some(released) => Release::Claimed(released),
            None => Release::InUse,
        },
        (State::Deleting, _) => Release::Deleting,
    })
}

/// Ends reservation `id` without a photo, releasing the blobs if unused.
pub(super) fn abandon(
    tx: &Transaction<'_>,
    id: &UploadId,
    now: Millis,
) -> DbResult<Option<Released>> {
    let Some(hash) = reserved_hash(tx, id)? else {
        return Ok(None);
    };
    // The format is the row's: `lock` only uses this one for a new row.
    let (_, format) = lock(tx, &hash, ImageFormat::Jpeg, now)?;
    end_reservation(tx, id)?;
    release_if_unused(tx, &hash, format, now)
}

/// Recounts the bytes the rows account for under `hash` (its original once,
/// each distinct variant key once) and adds the change to the storage
/// total. Call it after changing a photo or its variants, with the blob's
/// row locked by this transaction.
pub(super) fn recount(tx: &Transaction<'_>, hash: &ContentHash) -> DbResult<()> {
    let counts: Option<(i64, i64)> = tx
        .prepare_cached(
            "SELECT bytes,
                 COALESCE((SELECT MAX(original_size) FROM photos WHERE original_hash = ?1), 0)
               + COALESCE((SELECT SUM(d.byte_size) FROM
                     (SELECT DISTINCT v.storage_key, v.byte_size
                      FROM variants v JOIN photos p ON p.id = v.photo_id
                      WHERE p.original_hash = ?1) d), 0)
             FROM blobs WHERE hash = ?1",
        )?
        .query_row([hash.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((counted, now)) = counts else {
        return Err(DbError::Corrupt(format!("no blob row for {hash}")));
    };
    if now != counted {
        tx.prepare_cached("UPDATE blobs SET bytes = ?2 WHERE hash = ?1")?
            .execute(params![hash.as_str(), now])?;
        add_storage(tx, hash, now - counted)?;
    }
    Ok(())
}

/// Adds `bytes` (negative to subtract) to the storage total, in the shard
/// of `hash`.
fn add_storage(tx: &Transaction<'_>, hash: &ContentHash, bytes: i64) -> DbResult<()> {
    tx.prepare_cached(
        "INSERT INTO storage_use (shard, bytes) VALUES (substr(?1, 1, 1), ?2)
         ON CONFLICT (shard) DO UPDATE SET bytes = storage_use.bytes + excluded.bytes",
    )?
    .execute(params![hash.as_str(), bytes])?;
    Ok(())
}

/// Drops the record of deleted blobs, if the claim is still this one.
pub(super) fn forget(tx: &Transaction<'_>, released: &Released) -> DbResult<()> {
    let left: Option<i64> = tx
        .prepare_cached(
            "DELETE FROM blobs WHERE hash = ?1 AND state = 'deleting' AND claimed_at = ?2
             RETURNING bytes",
        )?
        .query_row(params![released.hash.as_str(), released.claimed_at], |r| {
            r.get(0)
        })
        .optional()?;
    // Nothing uses claimed blobs, so their count is zero already; were it
    // not, the total must not keep bytes no row accounts for.
    match left {
        Some(bytes) if bytes != 0 => add_storage(tx, &released.hash, -bytes),
        _ => Ok(()),
    }
}

/// Ends reservations older than `uploads_before` and re-claims deletions
/// claimed before `deletions_before`; returns every claim made.
pub(super) fn stale(
    tx: &Transaction<'_>,
    uploads_before: Millis,
    deletions_before: Millis,
    now: Millis,
) -> DbResult<Vec<Released>> {
    let expired: Vec<String> = tx
        .prepare_cached("SELECT id FROM blob_uploads WHERE started_at < ?1")?
        .query_map([uploads_before], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut released = Vec::new();
    for id in expired {
        let id: UploadId = id.parse().map_err(corrupt("upload id"))?;
        tracing::warn!(upload = %id, "an upload's reservation expired; releasing it");
        released.extend(abandon(tx, &id, now)?);
    }
    let stuck: Vec<(String, String)> = tx
        .prepare_cached(
            "SELECT hash, format FROM blobs WHERE state = 'deleting' AND claimed_at < ?1",
        )?
        .query_map([deletions_before], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    for (hash, format) in stuck {
        tx.prepare_cached("UPDATE blobs SET claimed_at = ?2, changed_at = ?2 WHERE hash = ?1")?
            .execute(params![hash, now])?;
        released.push(Released {
            hash: hash.parse().map_err(corrupt("blob hash"))?,
            format: format.parse().map_err(corrupt("blob format"))?,
            claimed_at: now,
        });
    }
    Ok(released)
}

#[async_trait]
impl BlobRepo for SqliteRepo {
    async fn reserve_blob(
        &self,
        hash: &ContentHash,
        format: ImageFormat,
        now: Millis,
    ) -> DbResult<Reserve> {
        let hash = hash.clone();
        self.write_relaxed(move |tx| reserve(tx, &hash, format, now))
            .await
    }

    async fn abandon_upload(&self, upload: &UploadId, now: Millis) -> DbResult<Option<Released>> {
        let upload = upload.clone();
        self.write(move |tx| abandon(tx, &upload, now)).await
    }

    async fn release_blob(
        &self,
        hash: &ContentHash,
        format: ImageFormat,
        now: Millis,
    ) -> DbResult<Release> {
        let hash = hash.clone();
        self.write(move |tx| release(tx, &hash, format, now)).await
    }

    async fn forget_blob(&self, released: &Released) -> DbResult<()> {
        let released = released.clone();
        self.write(move |tx| forget(tx, &released)).await
    }

    async fn live_blobs(&self, hashes: &[ContentHash]) -> DbResult<Vec<ContentHash>> {
        let hashes = hashes.to_vec();
        self.read(move |conn| {
            let mut live =
                conn.prepare_cached("SELECT 1 FROM blobs WHERE hash = ?1 AND state = 'live'")?;
            let mut kept = Vec::with_capacity(hashes.len());
            for hash in hashes {
                if live.exists([hash.as_str()])? {
                    kept.push(hash);
                }
            }
            Ok(kept)
        })
        .await
    }

    async fn stale_blobs(
        &self,
        uploads_before: Millis,
        deletions_before: Millis,
        now: Millis,
    ) -> DbResult<Vec<Released>> {
        self.write(move |tx| stale(tx, uploads_before, deletions_before, now))
            .await
    }
}
