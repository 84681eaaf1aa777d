-- Runs with search_path set to this service's schema.

-- The clocks' health as import-service last published it (`clock.health.v1`), the newest per
-- clock: a company's sync health lists the clocks whose companies include it. Silence is judged
-- when it is read, from quiet_since and silent_after_seconds.
CREATE TABLE clock_health (
    clock_id             BIGINT      PRIMARY KEY,
    serial_number        TEXT        NOT NULL,
    state                TEXT        NOT NULL,
    company_ids          BIGINT[]    NOT NULL,
    last_seen_at         TIMESTAMPTZ,
    last_punch_at        TIMESTAMPTZ,
    punches_today        BIGINT      NOT NULL,
    quiet_since          TIMESTAMPTZ NOT NULL,
    silent_after_seconds BIGINT      NOT NULL,
    observed_at          TIMESTAMPTZ NOT NULL
);

CREATE INDEX clock_health_company_ids ON clock_health USING GIN (company_ids);
