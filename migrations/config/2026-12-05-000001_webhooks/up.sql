-- Runs with search_path set to the config schema.

-- Where the bridge sends its events (docs/architecture.md#webhooks). A URL is allowed by
-- WEBHOOK_ALLOWED_URLS as a Bayzat URL is by BAYZAT_ALLOWED_API_URLS.
CREATE TABLE webhook_endpoints (
    id              BIGSERIAL   PRIMARY KEY,
    url             TEXT        NOT NULL,
    description     TEXT        NOT NULL DEFAULT '',
    -- The event types it is sent; never empty.
    event_types     TEXT[]      NOT NULL CHECK (cardinality(event_types) > 0),
    -- NULL: every company's events and the events of no company; else these companies' only.
    company_ids     BIGINT[],
    -- Who registered it (the token's sub), and the address told when it is disabled.
    owner           TEXT        NOT NULL,
    owner_email     TEXT,
    enabled         BOOLEAN     NOT NULL DEFAULT true,
    disabled_reason TEXT,
    -- Since when every attempt to it failed; NULL once one succeeds.
    failing_since   TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Signing secrets, encrypted under the master keys and bound to their endpoint. Every secret
-- not expired signs; a rotation keeps the old one for a day so receivers can move over.
CREATE TABLE webhook_secrets (
    id          BIGSERIAL   PRIMARY KEY,
    endpoint_id BIGINT      NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    secret      TEXT        NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at  TIMESTAMPTZ
);
CREATE INDEX webhook_secrets_endpoint ON webhook_secrets (endpoint_id);

-- One event for one endpoint: the outbox of webhooks. Sent in order per endpoint and company;
-- `next_attempt_at` is also the lease of an attempt under way.
CREATE TABLE webhook_messages (
    id               BIGSERIAL   PRIMARY KEY,
    endpoint_id      BIGINT      NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id         UUID        NOT NULL,
    event_type       TEXT        NOT NULL,
    company_id       BIGINT,
    -- The body, as signed and sent on every attempt.
    payload          TEXT        NOT NULL,
    state            TEXT        NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts         INT         NOT NULL DEFAULT 0,
    next_attempt_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_status      INT,
    last_error       TEXT,
    delivered_at     TIMESTAMPTZ,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- Sent again on an operator's request; its next attempt is logged as a replay.
    replay_pending   BOOLEAN     NOT NULL DEFAULT false,
    UNIQUE (endpoint_id, event_id)
);
CREATE INDEX webhook_messages_pending ON webhook_messages (endpoint_id, company_id, id) WHERE state = 'pending';
CREATE INDEX webhook_messages_log ON webhook_messages (endpoint_id, id DESC);

-- Every attempt: the delivery log.
CREATE TABLE webhook_attempts (
    id           BIGSERIAL   PRIMARY KEY,
    message_id   BIGINT      NOT NULL REFERENCES webhook_messages (id) ON DELETE CASCADE,
    attempted_at TIMESTAMPTZ NOT NULL,
    -- The receiver's status; NULL when none came (timeout, refused connection).
    status       INT,
    latency_ms   INT         NOT NULL,
    error        TEXT,
    replay       BOOLEAN     NOT NULL DEFAULT false
);
CREATE INDEX webhook_attempts_message ON webhook_attempts (message_id, id);
