CREATE INDEX punches_import ON punches (import_id, company_id);
DROP TABLE import_punch_ids;
