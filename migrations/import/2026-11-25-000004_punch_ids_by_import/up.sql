-- Runs with search_path set to the import schema.

-- The punch ids each import owns, as ranges. The transaction that writes an import's punches (or
-- a reprocess's) reserves their ids in blocks while holding the punches lock, so an import's
-- punches are found through the primary key, and no index on punches.import_id has to be kept up
-- for every punch copied in. Queries still check punches.import_id.
CREATE TABLE import_punch_ids (
    import_id BIGINT NOT NULL,
    first_id  BIGINT NOT NULL,
    last_id   BIGINT NOT NULL,
    PRIMARY KEY (import_id, first_id)
);

-- Imports stored before: the span of their ids.
INSERT INTO import_punch_ids (import_id, first_id, last_id)
SELECT import_id, min(id), max(id) FROM punches GROUP BY import_id;

DROP INDEX punches_import;
