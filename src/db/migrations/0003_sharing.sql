-- Who may see a photo: 'public' (listed), 'unlisted' (by share link) or
-- 'private' (owner only). share_token is the secret in an unlisted photo's
-- link; replacing or clearing it revokes the old link.
ALTER TABLE photos ADD COLUMN visibility TEXT NOT NULL DEFAULT 'public';
ALTER TABLE photos ADD COLUMN share_token TEXT;
CREATE UNIQUE INDEX photos_share_token ON photos (share_token);
CREATE INDEX photos_visible_newest ON photos (visibility, created_at, id);
