-- Runs with search_path set to the config schema.

CREATE TABLE companies (
    id         BIGSERIAL   PRIMARY KEY,
    slug       TEXT        NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    name_en    TEXT        NOT NULL,
    name_ar    TEXT,
    timezone   TEXT        NOT NULL DEFAULT 'Asia/Dubai',
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Department names as fingerprint reports spell them. `normalized` (trimmed, runs of spaces folded,
-- lower-cased) is what a report's department is matched on, and it maps to one company only.
CREATE TABLE report_names (
    id         BIGSERIAL   PRIMARY KEY,
    company_id BIGINT      NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    name       TEXT        NOT NULL,
    normalized TEXT        NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX report_names_company ON report_names (company_id);

-- The employee directory: employee_id is the id on the clock; two companies may use the same one.
CREATE TABLE employees (
    company_id    BIGINT      NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    employee_id   TEXT        NOT NULL,
    name          TEXT        NOT NULL,
    bayzat_emp_id TEXT,
    active        BOOLEAN     NOT NULL DEFAULT true,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (company_id, employee_id)
);
CREATE INDEX employees_search ON employees (company_id, lower(name));

CREATE TABLE bayzat_configs (
    company_id     BIGINT      PRIMARY KEY REFERENCES companies (id) ON DELETE CASCADE,
    -- AES-256-GCM ciphertext prefixed with the master key id; never the plaintext.
    api_key        TEXT,
    api_key_mask   TEXT,
    key_updated_at TIMESTAMPTZ,
    api_url        TEXT        NOT NULL,
    is_enabled     BOOLEAN     NOT NULL DEFAULT true,
    sync_frequency TEXT        NOT NULL DEFAULT 'manual' CHECK (sync_frequency IN ('manual', 'hourly', 'daily')),
    daily_at       TIME,
    last_sync_at   TIMESTAMPTZ,
    settings       JSONB       NOT NULL DEFAULT '{}',
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- The system's one audit trail: config-service's own changes and the other services' events.
CREATE TABLE audit_log (
    id         BIGSERIAL   PRIMARY KEY,
    at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    service    TEXT        NOT NULL,
    actor      TEXT        NOT NULL,
    action     TEXT        NOT NULL,
    company_id BIGINT,
    target     TEXT,
    details    JSONB       NOT NULL DEFAULT '{}',
    -- The audit.recorded.v1 message it came from, so a redelivered event is stored once.
    message_id UUID        UNIQUE
);
CREATE INDEX audit_log_at ON audit_log (at DESC);
CREATE INDEX audit_log_company ON audit_log (company_id, at DESC);

-- One number that changes with every change the directory snapshot shows: its ETag.
CREATE TABLE directory_version (
    singleton BOOLEAN PRIMARY KEY DEFAULT true CHECK (singleton),
    version   BIGINT  NOT NULL
);
INSERT INTO directory_version (singleton, version) VALUES (true, 1);
