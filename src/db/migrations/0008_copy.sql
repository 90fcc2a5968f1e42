-- Set while `scoot migrate-db` fills this database from another (named by
-- source). A copy that was interrupted is resumed by running it again;
-- any other database that already holds data is refused as a target.
CREATE TABLE copy_progress (
    source     TEXT PRIMARY KEY,
    started_at BIGINT NOT NULL
);
