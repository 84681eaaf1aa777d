-- Until when a company's sender waits because Bayzat answered 429, and why (shown in sync health).
ALTER TABLE company_sync_state
    ADD COLUMN rate_limited_until TIMESTAMPTZ,
    ADD COLUMN rate_limit_reason  TEXT;
