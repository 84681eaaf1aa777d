-- Runs with search_path set to this service's schema.

-- Messages written in the same transaction as the change that caused them; a relay publishes
-- them with publisher confirms and sets sent_at only once the broker confirmed.
CREATE TABLE outbox (
    id           BIGSERIAL PRIMARY KEY,
    message_id   UUID        NOT NULL UNIQUE,
    message_type TEXT        NOT NULL,
    routing_key  TEXT        NOT NULL,
    payload      JSONB       NOT NULL,
    traceparent  TEXT,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    attempts     INTEGER     NOT NULL DEFAULT 0,
    last_error   TEXT,
    sent_at      TIMESTAMPTZ
);
CREATE INDEX outbox_unsent ON outbox (id) WHERE sent_at IS NULL;

-- Message ids already handled by this service's consumers: redelivery is harmless.
CREATE TABLE processed_messages (
    message_id   UUID        PRIMARY KEY,
    message_type TEXT        NOT NULL,
    processed_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
