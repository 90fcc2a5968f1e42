-- Deleting a user keeps their row, and their photos in the trash, for
-- `trash.days`: an administrator can restore both until then, after which
-- the sweep purges the photos and then the row. NULL while the user is
-- active. A deleted user holds no tokens and cannot log in; their name
-- stays taken until the row is purged. Photos the deletion put in the
-- trash carry its exact time in trashed_at, so restoring the user brings
-- back those and not the ones they had thrown away themselves.
ALTER TABLE users ADD COLUMN deleted_at BIGINT;

-- When the user last logged in, for the list of people (token use is in
-- auth_tokens.last_used_at).
ALTER TABLE users ADD COLUMN last_login_at BIGINT;
