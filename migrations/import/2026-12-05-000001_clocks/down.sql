DROP TABLE clock_days;
DROP TABLE clocks;
