-- Runs with search_path set to this service's schema.

-- Signed-in users. The cookie holds a random token; only its SHA-256 is stored, so a copy of this
-- table opens no session. Every replica of the console reads the same rows, and a restart keeps
-- everyone signed in.
CREATE TABLE sessions (
    token_sha256     BYTEA       PRIMARY KEY,
    sub              TEXT        NOT NULL,
    role             TEXT        NOT NULL,
    -- Company slugs the user may see; NULL means every company (the login token had no claim).
    companies        JSONB,
    team             TEXT,
    csrf_token       TEXT        NOT NULL,
    -- The sign-in token that opened the session: each one opens one session only.
    login_sha256     BYTEA       NOT NULL UNIQUE,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_seen_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX sessions_expires ON sessions (expires_at);
CREATE INDEX sessions_last_seen ON sessions (last_seen_at);

-- What each user chose in the console (by the token's sub), kept across sessions.
CREATE TABLE preferences (
    sub        TEXT        PRIMARY KEY,
    lang       TEXT        NOT NULL CHECK (lang IN ('en', 'ar')),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
