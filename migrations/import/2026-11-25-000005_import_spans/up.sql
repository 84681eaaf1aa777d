-- Runs with search_path set to the import schema.

-- Per import and company, the time its punches span (first and last punch time). A batch of a
-- new report looks up stored punches only for the employees whose rows fall within the span of
-- another import, or of what the report itself wrote so far: a report of days not imported
-- before, the usual case, looks nothing up.
CREATE TABLE import_spans (
    import_id  BIGINT    NOT NULL,
    company_id BIGINT    NOT NULL,
    first_time TIMESTAMP NOT NULL,
    last_time  TIMESTAMP NOT NULL,
    PRIMARY KEY (import_id, company_id)
);
CREATE INDEX import_spans_company ON import_spans (company_id, last_time);

-- Imports stored before.
INSERT INTO import_spans (import_id, company_id, first_time, last_time)
SELECT import_id, company_id, min(punch_time), max(punch_time)
FROM punches GROUP BY import_id, company_id;
