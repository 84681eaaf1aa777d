-- Runs with search_path set to this service's schema.

-- A batch's counts follow its deliveries statement by statement, instead of being recounted from
-- every delivery of the batch after each Bayzat request: the recount read the whole batch each
-- time (a company's weekly report of 28,000 punches is 1,400 requests, 39 million rows read). The
-- batch's status is still derived by `batches::refresh`, now from these counts alone.
--
-- `started_count` counts deliveries that were tried or are past waiting (what makes a batch
-- `processing` rather than `pending`). Deleting deliveries (retention) leaves the counts as they
-- were: they tell what the batch did.
ALTER TABLE sync_batches ADD COLUMN started_count INTEGER NOT NULL DEFAULT 0;

UPDATE sync_batches b SET
    total_count = c.total, delivered_count = c.delivered, failed_count = c.failed,
    rejected_count = c.rejected, cancelled_count = c.cancelled, started_count = c.started,
    error_message = c.error
FROM (SELECT batch_id, count(*)::int AS total,
        count(*) FILTER (WHERE state = 'delivered')::int AS delivered,
        count(*) FILTER (WHERE state = 'failed')::int AS failed,
        count(*) FILTER (WHERE state = 'rejected')::int AS rejected,
        count(*) FILTER (WHERE state = 'cancelled')::int AS cancelled,
        count(*) FILTER (WHERE state NOT IN ('pending', 'scheduled', 'held', 'paused')
                           OR attempts > 0)::int AS started,
        max(last_error) FILTER (WHERE state IN ('failed', 'rejected')) AS error
      FROM deliveries GROUP BY batch_id) c
WHERE b.id = c.batch_id;

-- Moves the counts of the batches of `moves` (a delivery's batch, state, attempts and error, and
-- +1 for a row as it is now or -1 for it as it was). One simple UPDATE a batch, in batch id order,
-- so two statements moving the same batches wait for each other instead of deadlocking (and a
-- single query joining the moves to the batches cost several times as much per statement).
-- `error_message` is the greatest error of the batch's failed and rejected deliveries: raised by
-- new ones, read again from the batch's deliveries only when one left (an operator's retry).
-- Names are qualified rather than the functions given a search_path: setting one on every call
-- doubled the cost of a 20-row UPDATE of deliveries.
CREATE FUNCTION move_batch_counts(
    moved_batches UUID[], moved_states TEXT[], moved_attempts INTEGER[], moved_errors TEXT[],
    signs INTEGER[]
) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    moved RECORD;
BEGIN
    FOR moved IN
        SELECT batch_id,
            sum(n)::int AS total,
            coalesce(sum(n) FILTER (WHERE state = 'delivered'), 0)::int AS delivered,
            coalesce(sum(n) FILTER (WHERE state = 'failed'), 0)::int AS failed,
            coalesce(sum(n) FILTER (WHERE state = 'rejected'), 0)::int AS rejected,
            coalesce(sum(n) FILTER (WHERE state = 'cancelled'), 0)::int AS cancelled,
            coalesce(sum(n) FILTER (WHERE state NOT IN ('pending', 'scheduled', 'held', 'paused')
                OR m.attempts > 0), 0)::int AS started,
            max(last_error) FILTER (WHERE n > 0 AND state IN ('failed', 'rejected')) AS error,
            coalesce(bool_or(n < 0 AND state IN ('failed', 'rejected')), false) AS failure_left
        FROM UNNEST(moved_batches, moved_states, moved_attempts, moved_errors, signs)
            AS m(batch_id, state, attempts, last_error, n)
        GROUP BY batch_id ORDER BY batch_id
    LOOP
        CONTINUE WHEN moved.total = 0 AND moved.delivered = 0 AND moved.failed = 0
            AND moved.rejected = 0 AND moved.cancelled = 0 AND moved.started = 0
            AND moved.error IS NULL AND NOT moved.failure_left;
        UPDATE sync.sync_batches b SET
            total_count = b.total_count + moved.total,
            delivered_count = b.delivered_count + moved.delivered,
            failed_count = b.failed_count + moved.failed,
            rejected_count = b.rejected_count + moved.rejected,
            cancelled_count = b.cancelled_count + moved.cancelled,
            started_count = b.started_count + moved.started,
            error_message = CASE WHEN moved.failure_left THEN
                    (SELECT max(d.last_error) FROM sync.deliveries d
                     WHERE d.batch_id = b.id AND d.state IN ('failed', 'rejected'))
                ELSE greatest(b.error_message, moved.error) END
        WHERE b.id = moved.batch_id;
    END LOOP;
END
$$;

-- The statement's rows as moves: an INSERT has only new rows, an UPDATE old ones too.
CREATE FUNCTION count_batch_deliveries() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM sync.move_batch_counts(array_agg(batch_id), array_agg(state), array_agg(attempts),
            array_agg(last_error), array_agg(1))
        FROM new_rows;
    ELSE
        PERFORM sync.move_batch_counts(array_agg(batch_id), array_agg(state), array_agg(attempts),
            array_agg(last_error), array_agg(n))
        FROM (SELECT batch_id, state, attempts, last_error, 1 AS n FROM new_rows
              UNION ALL
              SELECT batch_id, state, attempts, last_error, -1 FROM old_rows) moves;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER deliveries_inserted_count AFTER INSERT ON deliveries
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION count_batch_deliveries();
CREATE TRIGGER deliveries_updated_count AFTER UPDATE ON deliveries
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION count_batch_deliveries();
