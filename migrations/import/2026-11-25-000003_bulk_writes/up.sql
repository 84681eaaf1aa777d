-- Runs with search_path set to the import schema.

-- Employee ids are opaque codes, compared byte by byte: the unique key (company_id, emp_id,
-- punch_time) is then much cheaper to maintain and search than under a language collation, and
-- its order is the one import-service sorts new punches in before copying them in. Equality,
-- the only thing the key is asked, is the same under both.
ALTER TABLE punches ALTER COLUMN emp_id TYPE TEXT COLLATE "C";

-- Rows and punches are only ever written in their import's own transaction, after the import,
-- and imports are never deleted: a foreign key would check every one of an import's rows and
-- punches (millions, for a large report) against a row that is known to be there.
ALTER TABLE import_rows DROP CONSTRAINT import_rows_import_id_fkey;
ALTER TABLE punches DROP CONSTRAINT punches_import_id_fkey;
