-- The trash: a deleted photo keeps its row (and so its blobs) until it is
-- purged, by its owner or once `trash.days` have passed. NULL while the
-- photo is not in the trash. Every list and lookup that shows photos to
-- anyone reads `trashed_at IS NULL`.
ALTER TABLE photos ADD COLUMN trashed_at BIGINT;

-- An owner's trash, newest first, and the sweep's oldest-first walk.
CREATE INDEX photos_trashed ON photos (trashed_at, id) WHERE trashed_at IS NOT NULL;
