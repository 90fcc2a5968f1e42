-- The name of the file a photo was uploaded as ('' when none was given,
-- and for photos uploaded before this migration): what an untitled photo
-- is called, and the name its original has in a download.
ALTER TABLE photos ADD COLUMN filename TEXT NOT NULL DEFAULT '';
