-- Runs with search_path set to the config schema.

-- Who hears about a company's events by mail (services/config-service/README.md, Mail), in which
-- language, and about which event types (domain::BridgeEvent::TYPES).
CREATE TABLE notification_contacts (
    id             BIGSERIAL   PRIMARY KEY,
    company_id     BIGINT      NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    email          TEXT        NOT NULL,
    language       TEXT        NOT NULL CHECK (language IN ('en', 'ar')),
    -- The event types mailed to it; never empty.
    event_types    TEXT[]      NOT NULL CHECK (cardinality(event_types) > 0),
    -- When it was last mailed: the next mail waits until NOTIFY_DIGEST_MINUTES after it.
    last_mailed_at TIMESTAMPTZ,
    -- The last failure to mail it, and until when the mailer leaves it alone after one that may
    -- pass (the SMTP server away, a full mailbox); both cleared by a mail that goes out.
    last_error     TEXT,
    failures       INT         NOT NULL DEFAULT 0,
    retry_at       TIMESTAMPTZ,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX notification_contacts_email ON notification_contacts (company_id, lower(email));

-- The mail queue: one row per contact per event, so an event published or delivered again is one
-- line of one mail. The mailer sends a contact's undone rows together, in one mail.
CREATE TABLE notification_mails (
    id          BIGSERIAL   PRIMARY KEY,
    contact_id  BIGINT      NOT NULL REFERENCES notification_contacts (id) ON DELETE CASCADE,
    event_id    UUID        NOT NULL,
    event_type  TEXT        NOT NULL,
    occurred_at TIMESTAMPTZ NOT NULL,
    -- The bridge.event.v1 message as received (never a key: events carry none).
    event       JSONB       NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- When the mail that carried it went out, or when it was given up (`error` says why).
    done_at     TIMESTAMPTZ,
    error       TEXT,
    UNIQUE (contact_id, event_id)
);
CREATE INDEX notification_mails_undone ON notification_mails (contact_id, occurred_at, id) WHERE done_at IS NULL;
CREATE INDEX notification_mails_age ON notification_mails (created_at);

-- One-off mails to an address (the owner of a webhook endpoint that was disabled), in English,
-- sent by the same mailer.
CREATE TABLE direct_mails (
    id              BIGSERIAL   PRIMARY KEY,
    email           TEXT        NOT NULL,
    -- What the mail says: `webhook_disabled` (details: endpoint_url, reason).
    kind            TEXT        NOT NULL CHECK (kind IN ('webhook_disabled')),
    details         JSONB       NOT NULL,
    attempts        INT         NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_error      TEXT,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- When it went out, or was given up (`last_error` says why).
    done_at         TIMESTAMPTZ
);
CREATE INDEX direct_mails_due ON direct_mails (next_attempt_at, id) WHERE done_at IS NULL;
CREATE INDEX direct_mails_age ON direct_mails (created_at);
