-- Albums: an owner's named sets of their own photos. An album has its own
-- visibility and share link, like a photo; its photos keep theirs, so a
-- private photo stays private inside a shared album. cover_id is the
-- owner's chosen cover (else the first photo added is shown).
CREATE TABLE albums (
    id          TEXT PRIMARY KEY,
    owner_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title       TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    visibility  TEXT NOT NULL DEFAULT 'public',
    share_token TEXT,
    cover_id    TEXT REFERENCES photos (id) ON DELETE SET NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE UNIQUE INDEX albums_share_token ON albums (share_token);
CREATE INDEX albums_newest ON albums (created_at, id);

CREATE TABLE album_photos (
    album_id TEXT NOT NULL REFERENCES albums (id) ON DELETE CASCADE,
    photo_id TEXT NOT NULL REFERENCES photos (id) ON DELETE CASCADE,
    -- The order photos were added in (1, 2, …): timestamps tie.
    position BIGINT NOT NULL,
    added_at BIGINT NOT NULL,
    PRIMARY KEY (album_id, photo_id)
);
CREATE INDEX album_photos_photo ON album_photos (photo_id);
