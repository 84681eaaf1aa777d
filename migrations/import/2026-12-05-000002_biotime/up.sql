-- Runs with search_path set to the import schema.

-- BioTime / ZKBio Time servers whose transactions are pulled over their REST API. A pull claims
-- its server's row (FOR NO KEY UPDATE SKIP LOCKED) for as long as it runs, so one replica pulls a
-- server at a time, and a replica that dies mid-pull lets go with its connection.
CREATE TABLE biotime_servers (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    -- Base URL, http or https, without credentials.
    url TEXT NOT NULL,
    username TEXT NOT NULL,
    -- Sealed with import-service's master keys (IMPORT_MASTER_KEYS), bound to this row's id.
    password_sealed TEXT NOT NULL,
    -- {"by": "department"|"area", "companies": {"<department or area>": [company id, …]}}: a
    -- transaction's employee is looked up in those companies' directories, in order.
    mapping JSONB NOT NULL,
    -- IANA name: the local day a pull's rows are stored under.
    time_zone TEXT NOT NULL DEFAULT 'UTC',
    interval_seconds INTEGER NOT NULL DEFAULT 300 CHECK (interval_seconds > 0),
    state TEXT NOT NULL DEFAULT 'enabled' CHECK (state IN ('enabled', 'disabled')),
    next_pull_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_attempt_at TIMESTAMPTZ NULL,
    last_success_at TIMESTAMPTZ NULL,
    -- The first failed attempt of the current run of failures; NULL once a pull succeeds.
    failing_since TIMESTAMPTZ NULL,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    -- What went wrong last (never a credential).
    last_error TEXT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX biotime_servers_due ON biotime_servers (next_pull_at) WHERE state = 'enabled';

-- How far a server's transactions have been taken, advanced in the same transaction as the rows
-- they became (a table of its own: the pull holds the server's row meanwhile). The transaction
-- list is read under a fixed start time (`since`), in id order, so it only grows at its end:
-- `last_id` is the newest transaction stored and `position` how many of the list come up to it
-- (where the next page starts; checked against `last_id`, so transactions the server deleted
-- make the pull step back, never skip).
CREATE TABLE biotime_cursors (
    server_id BIGINT PRIMARY KEY REFERENCES biotime_servers (id),
    -- Local `YYYY-MM-DD HH:MM:SS`; NULL: everything the server holds.
    since TEXT NULL,
    last_id BIGINT NOT NULL DEFAULT 0,
    position BIGINT NOT NULL DEFAULT 0,
    -- The latest punch time among the transactions taken, as the server gave it.
    last_punch_time TIMESTAMP NULL,
    transactions BIGINT NOT NULL DEFAULT 0,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- The import each server's pulls of a local day are appended to.
CREATE TABLE biotime_days (
    server_id BIGINT NOT NULL REFERENCES biotime_servers (id),
    day DATE NOT NULL,
    import_id BIGINT NOT NULL REFERENCES imports (id),
    PRIMARY KEY (server_id, day)
);
CREATE INDEX biotime_days_import ON biotime_days (import_id);
