-- The date the gallery sorts and groups photos by: when the photo was
-- taken (taken_at, the camera's wall clock, read as UTC), else when it was
-- uploaded (created_at). Inserts set it; this fills it for older rows.
--
-- taken_at is either NULL or `YYYY-MM-DD HH:MM:SS` with digits in every
-- place (the EXIF reader normalises it); a value that is not a calendar
-- time keeps the upload date. The arithmetic is `days_from_civil` in
-- src/timeline.rs, in integers both engines divide the same way.
ALTER TABLE photos ADD COLUMN dated_at BIGINT NOT NULL DEFAULT 0;

UPDATE photos SET dated_at = created_at;

UPDATE photos SET dated_at = (
    SELECT ((365 * y + y / 4 - y / 100 + y / 400 + (153 * ((mo + 9) % 12) + 2) / 5 + d - 1 - 719468)
                * 86400 + (h * 60 + mi) * 60 + s) * 1000
    FROM (SELECT CAST(substr(photos.taken_at, 1, 4) AS BIGINT)
                   - CASE WHEN CAST(substr(photos.taken_at, 6, 2) AS BIGINT) <= 2 THEN 1 ELSE 0 END AS y,
                 CAST(substr(photos.taken_at, 6, 2) AS BIGINT) AS mo,
                 CAST(substr(photos.taken_at, 9, 2) AS BIGINT) AS d,
                 CAST(substr(photos.taken_at, 12, 2) AS BIGINT) AS h,
                 CAST(substr(photos.taken_at, 15, 2) AS BIGINT) AS mi,
                 CAST(substr(photos.taken_at, 18, 2) AS BIGINT) AS s) AS parts
)
WHERE length(taken_at) = 19
  AND CAST(substr(taken_at, 1, 4) AS BIGINT) >= 1
  AND CAST(substr(taken_at, 6, 2) AS BIGINT) BETWEEN 1 AND 12
  AND CAST(substr(taken_at, 9, 2) AS BIGINT) BETWEEN 1 AND 31
  AND CAST(substr(taken_at, 12, 2) AS BIGINT) <= 23
  AND CAST(substr(taken_at, 15, 2) AS BIGINT) <= 59
  AND CAST(substr(taken_at, 18, 2) AS BIGINT) <= 59;

-- The timeline, both ways; id breaks ties.
CREATE INDEX photos_dated ON photos (dated_at, id);
