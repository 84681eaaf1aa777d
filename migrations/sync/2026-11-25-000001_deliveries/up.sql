-- Runs with search_path set to this service's schema.

-- One per punches.ready.v1 batch of a company's import, and one per operator retry or sync-now
-- run. Counts are kept from the deliveries so listing batches never scans them.
CREATE TABLE sync_batches (
    id              UUID        PRIMARY KEY,
    company_id      BIGINT      NOT NULL,
    import_id       BIGINT,
    kind            TEXT        NOT NULL DEFAULT 'import',
    total_count     INTEGER     NOT NULL DEFAULT 0,
    delivered_count INTEGER     NOT NULL DEFAULT 0,
    failed_count    INTEGER     NOT NULL DEFAULT 0,
    rejected_count  INTEGER     NOT NULL DEFAULT 0,
    cancelled_count INTEGER     NOT NULL DEFAULT 0,
    status          TEXT        NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'processing', 'completed', 'failed')),
    error_message   TEXT,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    started_at      TIMESTAMPTZ,
    completed_at    TIMESTAMPTZ,
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX sync_batches_company ON sync_batches (company_id, created_at DESC);
CREATE INDEX sync_batches_import ON sync_batches (import_id);

-- One per punch: the punch id is the idempotency key of punches.ready.v1.
CREATE TABLE deliveries (
    punch_id          BIGINT      PRIMARY KEY,
    batch_id          UUID        NOT NULL REFERENCES sync_batches (id),
    company_id        BIGINT      NOT NULL,
    import_id         BIGINT      NOT NULL,
    emp_id            TEXT        NOT NULL,
    punch_type        TEXT        NOT NULL CHECK (punch_type IN ('checkIn', 'checkOut')),
    local_time        TIMESTAMP   NOT NULL,
    state             TEXT        NOT NULL CHECK (state IN ('pending', 'scheduled', 'held',
                      'paused', 'sending', 'delivered', 'retry_wait', 'failed', 'rejected',
                      'cancelled')),
    attempts          INTEGER     NOT NULL DEFAULT 0,
    next_attempt_at   TIMESTAMPTZ,
    last_error        TEXT,
    bayzat_request_id BIGINT,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    delivered_at      TIMESTAMPTZ
);
-- The sender's and the scheduler's question: what of this company is due, in time order.
CREATE INDEX deliveries_due ON deliveries (company_id, state, next_attempt_at, local_time)
    WHERE state IN ('pending', 'scheduled', 'retry_wait', 'sending');
CREATE INDEX deliveries_batch ON deliveries (batch_id);
CREATE INDEX deliveries_import ON deliveries (import_id);
CREATE INDEX deliveries_company_time ON deliveries (company_id, local_time);

-- Every HTTP call to Bayzat: the audit trail of what was sent.
CREATE TABLE bayzat_requests (
    id           BIGSERIAL   PRIMARY KEY,
    company_id   BIGINT      NOT NULL,
    holder       TEXT        NOT NULL,
    records      INTEGER     NOT NULL,
    punch_ids    BIGINT[]    NOT NULL,
    status_code  INTEGER,
    outcome      TEXT        NOT NULL,
    latency_ms   INTEGER     NOT NULL,
    error        TEXT,
    started_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX bayzat_requests_company ON bayzat_requests (company_id, started_at DESC);

-- Whether this service may call Bayzat for a company. config_version moves on with every
-- config.company.changed.v1, so each replica's caches (key, unknown empIds) notice it.
CREATE TABLE company_sync_state (
    company_id     BIGINT      PRIMARY KEY,
    state          TEXT        NOT NULL DEFAULT 'active'
                   CHECK (state IN ('active', 'paused_auth', 'disabled')),
    reason         TEXT,
    since          TIMESTAMPTZ NOT NULL DEFAULT now(),
    config_version BIGINT      NOT NULL DEFAULT 0,
    -- When the scheduler last published sync.due.v1 for the company, so replicas do not repeat it.
    due_published_at TIMESTAMPTZ
);

-- Which replica may call Bayzat for a company now, and when the last request started.
CREATE TABLE sender_leases (
    company_id              BIGINT      PRIMARY KEY,
    holder                  TEXT        NOT NULL,
    epoch                   BIGINT      NOT NULL DEFAULT 1,
    expires_at              TIMESTAMPTZ NOT NULL,
    last_request_started_at TIMESTAMPTZ
);
