-- Runs with search_path set to this service's schema.

-- Every message RabbitMQ dead-lettered (any service's queue), kept until an operator replays it.
-- sync-service drains the dead-letter queue into this table: ids stay stable, lists page, counts
-- are one query, and a replay is marked in the same transaction that publishes it.
CREATE TABLE dead_letters (
    id               BIGSERIAL   PRIMARY KEY,
    -- The queue it died in, without the namespace, and the routing key it was published with.
    queue            TEXT        NOT NULL,
    routing_key      TEXT        NOT NULL,
    reason           TEXT        NOT NULL,
    company_id       BIGINT,
    message_id       TEXT,
    message_type     TEXT,
    traceparent      TEXT,
    payload          BYTEA       NOT NULL,
    dead_lettered_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    replayed_at      TIMESTAMPTZ,
    replayed_by      TEXT
);

-- A dead letter redelivered from the queue (stored, then not acknowledged) is stored once.
CREATE UNIQUE INDEX dead_letters_waiting_once
    ON dead_letters (queue, (coalesce(message_id, md5(payload))))
    WHERE replayed_at IS NULL;
CREATE INDEX dead_letters_company ON dead_letters (company_id, id);
