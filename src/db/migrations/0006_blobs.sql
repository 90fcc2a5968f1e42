-- Who uses the blobs of an original, decided by the database.
--
-- One row per original (by its SHA-256) that photos use, are about to use,
-- or whose blobs are being deleted. The row covers the original and every
-- variant rendered from it (they all live under keys named by the hash).
-- Its users are the photos with that original_hash plus the uploads in
-- blob_uploads. Every transaction that adds or removes a user writes this
-- row first, which serialises them: SQLite runs one write transaction at a
-- time, and in PostgreSQL the write takes the row's lock until commit.
--
-- state 'live': in use, or about to be. 'deleting': a transaction found no
-- users and claimed the blobs for deletion at claimed_at; nothing may use
-- them until the row is gone (the deleter removes it after the store).
CREATE TABLE blobs (
    hash       TEXT PRIMARY KEY,
    format     TEXT NOT NULL,
    state      TEXT NOT NULL,
    claimed_at BIGINT,
    changed_at BIGINT NOT NULL
);
CREATE INDEX blobs_claimed ON blobs (state, claimed_at);

-- An upload between reserving its original's blob and committing its
-- photo. While one exists, the blob is not deleted, so the bytes the
-- upload stored (or found) are still there when its photo commits.
CREATE TABLE blob_uploads (
    id         TEXT PRIMARY KEY,
    hash       TEXT NOT NULL REFERENCES blobs (hash),
    started_at BIGINT NOT NULL
);
CREATE INDEX blob_uploads_hash ON blob_uploads (hash);
CREATE INDEX blob_uploads_started ON blob_uploads (started_at);

-- Every original in use today.
INSERT INTO blobs (hash, format, state, claimed_at, changed_at)
SELECT original_hash, MIN(original_format), 'live', NULL, MAX(updated_at)
FROM photos GROUP BY original_hash;
