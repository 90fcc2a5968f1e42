-- When each session or API token was last used (at most once an hour is
-- recorded), so that an owner can tell a forgotten token from a live one.
ALTER TABLE auth_tokens ADD COLUMN last_used_at BIGINT;
