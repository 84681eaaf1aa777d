DROP TABLE punches;
