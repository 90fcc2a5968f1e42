-- The admin page's last hour, from every node: each node records what it
-- counted in each interval (renders ready and failed, cache hits and
-- lookups) and the gauges it read (render queue, storage used); the page
-- adds the nodes up, so it shows the same figures whichever node serves
-- it. Rows older than the hour are deleted as new ones come.
CREATE TABLE node_samples (
    node           TEXT NOT NULL,
    taken_at       BIGINT NOT NULL,
    renders_ready  BIGINT NOT NULL,
    renders_failed BIGINT NOT NULL,
    cache_hits     BIGINT NOT NULL,
    cache_lookups  BIGINT NOT NULL,
    queue_depth    BIGINT NOT NULL,
    storage_bytes  BIGINT NOT NULL,
    PRIMARY KEY (node, taken_at)
);
CREATE INDEX node_samples_taken ON node_samples (taken_at);
