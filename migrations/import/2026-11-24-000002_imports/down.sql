DROP TABLE punches; DROP TABLE import_rows; DROP TABLE imports;
