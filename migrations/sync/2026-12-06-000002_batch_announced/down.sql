ALTER TABLE sync_batches DROP COLUMN received_count, DROP COLUMN announced_count;
