-- Runs with search_path set to this service's schema.

-- Login tokens that opened a session, kept until they could no longer verify: a token opens one
-- session, once, whatever becomes of that session (sign-out, expiry). Only the SHA-256 of each
-- token is kept.
CREATE TABLE used_login_tokens (
    token_sha256 BYTEA       PRIMARY KEY,
    usable_until TIMESTAMPTZ NOT NULL
);
CREATE INDEX used_login_tokens_usable_until ON used_login_tokens (usable_until);
