-- Runs with search_path set to the import schema.

-- Fingerprint terminals that push punches (ZKTeco ADMS). A terminal that handshakes unknown is
-- recorded pending; an admin approves it (its held punches are then queued) or disables it.
CREATE TABLE clocks (
    id BIGSERIAL PRIMARY KEY,
    serial_number TEXT NOT NULL UNIQUE,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'approved', 'disabled')),
    company_ids BIGINT[] NOT NULL DEFAULT '{}',
    -- IANA name; the local day of an upload, and the offset the terminal is told.
    time_zone TEXT NOT NULL DEFAULT 'UTC',
    -- CIDR the terminal must call from; NULL: anywhere.
    allowed_network TEXT NULL,
    -- The query of its last handshake (push version, options, firmware).
    handshake JSONB NULL,
    last_seen_at TIMESTAMPTZ NULL,
    last_punch_at TIMESTAMPTZ NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- The import each clock's uploads of a local day are appended to.
CREATE TABLE clock_days (
    clock_id BIGINT NOT NULL REFERENCES clocks (id),
    day DATE NOT NULL,
    import_id BIGINT NOT NULL REFERENCES imports (id),
    PRIMARY KEY (clock_id, day)
);
CREATE INDEX clock_days_import ON clock_days (import_id);
