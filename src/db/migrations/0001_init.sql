-- Scoot's first schema. Written in the SQL subset that both SQLite and
-- PostgreSQL run unchanged: TEXT ids made by the application, BIGINT
-- millisecond timestamps, INTEGER 0/1 flags. Never edit a released migration;
-- add the next numbered file instead.

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    password_hash TEXT,
    is_admin      INTEGER NOT NULL DEFAULT 0,
    created_at    BIGINT NOT NULL
);

-- Browser sessions ('session', with an expiry) and API bearer tokens ('api').
-- Only the SHA-256 of a token is stored, never the token itself.
CREATE TABLE auth_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind       TEXT NOT NULL,
    label      TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    expires_at BIGINT
);
CREATE INDEX auth_tokens_user ON auth_tokens (user_id);

-- One row per accepted upload. width/height are as displayed (after EXIF
-- orientation). The original lives in the object store under original_hash.
CREATE TABLE photos (
    id              TEXT PRIMARY KEY,
    owner_id        TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    original_hash   TEXT NOT NULL,
    original_format TEXT NOT NULL,
    original_size   BIGINT NOT NULL,
    width           INTEGER NOT NULL,
    height          INTEGER NOT NULL,
    status          TEXT NOT NULL,
    error           TEXT,
    title           TEXT NOT NULL DEFAULT '',
    caption         TEXT NOT NULL DEFAULT '',
    taken_at        TEXT,
    camera          TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE UNIQUE INDEX photos_owner_hash ON photos (owner_id, original_hash);
CREATE INDEX photos_newest ON photos (created_at, id);
CREATE INDEX photos_hash ON photos (original_hash);

-- Rendered sizes of a photo; storage_key is content-derived and immutable.
CREATE TABLE variants (
    photo_id    TEXT NOT NULL REFERENCES photos (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    format      TEXT NOT NULL,
    width       INTEGER NOT NULL,
    height      INTEGER NOT NULL,
    byte_size   BIGINT NOT NULL,
    storage_key TEXT NOT NULL,
    PRIMARY KEY (photo_id, name, format)
);

-- Outstanding render work (the Celery queue). A row exists from the upload's
-- transaction until the transaction that marks the photo ready or failed.
CREATE TABLE render_jobs (
    id          TEXT PRIMARY KEY,
    photo_id    TEXT NOT NULL REFERENCES photos (id) ON DELETE CASCADE,
    state       TEXT NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    run_after   BIGINT NOT NULL,
    lease_until BIGINT,
    last_error  TEXT,
    created_at  BIGINT NOT NULL
);
CREATE INDEX render_jobs_due ON render_jobs (state, run_after);
CREATE INDEX render_jobs_photo ON render_jobs (photo_id);
