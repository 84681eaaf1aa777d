DROP TABLE import_spans;
