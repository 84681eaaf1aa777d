DROP TABLE directory_version;
DROP TABLE audit_log;
DROP TABLE bayzat_configs;
DROP TABLE employees;
DROP TABLE report_names;
DROP TABLE companies;
