-- First-run setup links, while there are no users: each node starting on
-- an empty database adds the hash of the link it logs, and any node
-- accepts any of them, so the link works whichever node the balancer
-- picks. Setup clears them.
CREATE TABLE setup_tokens (
    token_hash TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL
);
