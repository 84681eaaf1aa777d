DROP TABLE preferences;
DROP TABLE sessions;
