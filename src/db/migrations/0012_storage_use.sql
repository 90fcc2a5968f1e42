-- Storage used, kept as it changes instead of counted on demand: counting
-- took a DISTINCT over every photo and variant, seconds at a million photos.
--
-- blobs.bytes: what the rows account for under this original's hash — the
-- original once (however many photos share it) plus each distinct variant
-- key once. Every transaction that adds or removes a photo or its variants
-- recounts its hash's row (a few rows, by index) after locking it.
--
-- storage_use: the sum of blobs.bytes, split by the hash's first hex digit
-- so that transactions on different originals rarely wait for one another
-- on PostgreSQL. The recount adds the change to its hash's shard; the total
-- is the sum of at most 16 rows.
ALTER TABLE blobs ADD COLUMN bytes BIGINT NOT NULL DEFAULT 0;

UPDATE blobs SET bytes =
    COALESCE((SELECT MAX(original_size) FROM photos WHERE original_hash = blobs.hash), 0)
  + COALESCE((SELECT SUM(d.byte_size) FROM
        (SELECT DISTINCT v.storage_key, v.byte_size
         FROM variants v JOIN photos p ON p.id = v.photo_id
         WHERE p.original_hash = blobs.hash) d), 0);

CREATE TABLE storage_use (
    shard TEXT PRIMARY KEY,
    bytes BIGINT NOT NULL
);
INSERT INTO storage_use (shard, bytes)
SELECT substr(hash, 1, 1), SUM(bytes) FROM blobs GROUP BY substr(hash, 1, 1);

-- The admin page's latest failures, without reading every photo.
CREATE INDEX photos_failed ON photos (updated_at, id) WHERE status = 'failed';
