DROP TABLE biotime_days;
DROP TABLE biotime_cursors;
DROP TABLE biotime_servers;
