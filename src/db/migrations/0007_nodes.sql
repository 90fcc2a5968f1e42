-- Several Scoot nodes on one database.
--
-- lease_holder names the node (a random id per process) that holds a
-- running job's lease; the holder renews it while the render lasts, so a
-- short lease still covers a long render, and a node that dies loses only
-- its leases, which any node then claims again.
ALTER TABLE render_jobs ADD COLUMN lease_holder TEXT;

-- The version of the site's data that rendered pages are cached and
-- validated under (Last-Modified). Every change moves it on, and every node
-- adopts it, so all nodes agree on it. One row.
CREATE TABLE site_version (
    id      INTEGER PRIMARY KEY,
    version BIGINT NOT NULL
);
INSERT INTO site_version (id, version) VALUES (1, 0);
