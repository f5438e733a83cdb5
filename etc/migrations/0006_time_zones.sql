-- The zone names PostgreSQL knows (pg_timezone_names), kept as a table.
-- Every planning statement checks its recipients' zones against them, and
-- pg_timezone_names reads the whole tz database each time it is queried
-- (~40 ms): as a table the check is a hash of 1,200 short rows.  rapportd
-- refreshes it whenever it connects and `rapportctl migrate` on each run,
-- so a tzdata update is picked up by a restart.
CREATE TABLE rapport.time_zones (
    name text PRIMARY KEY
);
INSERT INTO rapport.time_zones (name) SELECT DISTINCT name FROM pg_timezone_names;
