-- Runs with search_path set to this service's schema.

-- The sync-service replicas running: each writes its row every scheduler tick. Replicas share
-- the companies among those seen lately (crates/delivery's preferred_replica), so that each
-- company's queue is actively consumed, and its punches sent, by its preferred replica.
CREATE TABLE replicas (
    replica_id TEXT        PRIMARY KEY,
    seen_at    TIMESTAMPTZ NOT NULL
);
