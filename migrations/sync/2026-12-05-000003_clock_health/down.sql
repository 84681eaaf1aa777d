DROP TABLE clock_health;
