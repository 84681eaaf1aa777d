-- Runs with search_path set to this service's schema.

-- A batch's punches come in several ready messages, and a company's first few may be delivered
-- before the rest are stored. `announced_count` is how many punches a message said the batch has
-- in all (the largest said; unknown for messages that do not say), `received_count` how many its
-- messages have brought so far. The batch is not settled while it has received fewer than
-- announced, so it is reported settled once, with all its punches.
ALTER TABLE sync_batches
    ADD COLUMN announced_count INTEGER,
    ADD COLUMN received_count INTEGER NOT NULL DEFAULT 0;
