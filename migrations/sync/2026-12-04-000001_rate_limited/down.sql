ALTER TABLE company_sync_state
    DROP COLUMN rate_limited_until,
    DROP COLUMN rate_limit_reason;
