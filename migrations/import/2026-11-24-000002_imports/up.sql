-- Runs with search_path set to the import schema.

-- One uploaded report (the original design's attendance_imports).
CREATE TABLE imports (
    id                         BIGSERIAL   PRIMARY KEY,
    filename                   TEXT        NOT NULL,
    -- Where the uploaded bytes are kept; NULL once retention deleted them.
    file_path                  TEXT,
    sha256                     TEXT        NOT NULL,
    size_bytes                 BIGINT      NOT NULL,
    status                     TEXT        NOT NULL DEFAULT 'pending'
                               CHECK (status IN ('pending', 'processing', 'completed', 'failed')),
    -- strict, hold, date_order, force as uploaded.
    options                    JSONB       NOT NULL DEFAULT '{}',
    -- What reading decided about the file: encoding, delimiter, header line, kind, date order.
    facts                      JSONB,
    total_records              INTEGER     NOT NULL DEFAULT 0,
    processed_records          INTEGER     NOT NULL DEFAULT 0,
    successful_records         INTEGER     NOT NULL DEFAULT 0,
    failed_records             INTEGER     NOT NULL DEFAULT 0,
    skipped_records            INTEGER     NOT NULL DEFAULT 0,
    punches_new                INTEGER     NOT NULL DEFAULT 0,
    duplicate_punches_in_file  INTEGER     NOT NULL DEFAULT 0,
    duplicate_punches_known    INTEGER     NOT NULL DEFAULT 0,
    -- File-level problems, and the departments and employee ids that made rows invalid.
    validation_errors          JSONB       NOT NULL DEFAULT '[]',
    unmapped_departments       JSONB       NOT NULL DEFAULT '[]',
    unknown_employees          JSONB       NOT NULL DEFAULT '[]',
    -- Why valid rows are not queued yet: 'hold' (until released) or 'strict' (invalid rows).
    held_reason                TEXT        CHECK (held_reason IN ('hold', 'strict')),
    cancelled_at               TIMESTAMPTZ,
    uploaded_by                TEXT        NOT NULL,
    team                       TEXT,
    error                      TEXT,
    created_at                 TIMESTAMPTZ NOT NULL DEFAULT now(),
    started_at                 TIMESTAMPTZ,
    completed_at               TIMESTAMPTZ,
    updated_at                 TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX imports_sha256 ON imports (sha256);
CREATE INDEX imports_created ON imports (created_at DESC);

-- Every data row of an import, valid or not.
CREATE TABLE import_rows (
    import_id        BIGINT   NOT NULL REFERENCES imports (id) ON DELETE CASCADE,
    line             INTEGER  NOT NULL,
    -- The cells as read (names included): removed after IMPORT_ROW_RETENTION_DAYS.
    raw              JSONB,
    outcome          TEXT     NOT NULL CHECK (outcome IN ('valid', 'invalid', 'skipped')),
    errors           JSONB    NOT NULL DEFAULT '[]',
    warnings         JSONB    NOT NULL DEFAULT '[]',
    department       TEXT     NOT NULL DEFAULT '',
    company_id       BIGINT,
    employee_id      TEXT,
    bayzat_emp_id    TEXT,
    work_date        DATE,
    -- The punches the row gives, as [{"type": "checkIn", "time": "..."}].
    punches          JSONB    NOT NULL DEFAULT '[]',
    -- The punch rows this row stands for: new ones and in-file repeats.
    punch_ids        BIGINT[] NOT NULL DEFAULT '{}',
    -- Punches an earlier import already had: never sent again.
    known_punch_ids  BIGINT[] NOT NULL DEFAULT '{}',
    -- Whether its punches were queued for delivery (valid rows held by strict or hold are not).
    queued           BOOLEAN  NOT NULL DEFAULT false,
    PRIMARY KEY (import_id, line)
);
CREATE INDEX import_rows_company ON import_rows (import_id, company_id);

-- Each punch once per company, Bayzat employee id and time: a re-import finds it here and does not
-- send it again (Bayzat refuses the same empId + time whatever the type).
CREATE TABLE punches (
    id          BIGSERIAL   PRIMARY KEY,
    company_id  BIGINT      NOT NULL,
    emp_id      TEXT        NOT NULL,
    punch_time  TIMESTAMP   NOT NULL,
    punch_type  TEXT        NOT NULL CHECK (punch_type IN ('checkIn', 'checkOut')),
    -- The import and row that first gave it.
    import_id   BIGINT      NOT NULL REFERENCES imports (id) ON DELETE CASCADE,
    line        INTEGER     NOT NULL,
    -- Delivery: 'new' until queued, then the states sync-service reports.
    state       TEXT        NOT NULL DEFAULT 'new',
    error       TEXT,
    state_at    TIMESTAMPTZ,
    batch_id    UUID,
    UNIQUE (company_id, emp_id, punch_time)
);
CREATE INDEX punches_import ON punches (import_id, company_id);
