DROP TRIGGER deliveries_updated_count ON deliveries;
DROP TRIGGER deliveries_inserted_count ON deliveries;
DROP FUNCTION count_batch_deliveries();
DROP FUNCTION move_batch_counts(UUID[], TEXT[], INTEGER[], TEXT[], INTEGER[]);
ALTER TABLE sync_batches DROP COLUMN started_count;
