ALTER TABLE punches ADD CONSTRAINT punches_import_id_fkey
    FOREIGN KEY (import_id) REFERENCES imports (id) ON DELETE CASCADE;
ALTER TABLE import_rows ADD CONSTRAINT import_rows_import_id_fkey
    FOREIGN KEY (import_id) REFERENCES imports (id) ON DELETE CASCADE;
ALTER TABLE punches ALTER COLUMN emp_id TYPE TEXT COLLATE "default";
