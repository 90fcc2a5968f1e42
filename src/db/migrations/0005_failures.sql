-- The admin page lists the most recent render failures.
CREATE INDEX photos_status_changed ON photos (status, updated_at);
