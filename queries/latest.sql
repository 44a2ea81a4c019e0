-- Latest three readings per sensor, self-compacting.
CREATE SOURCE readings (sensor BIGINT, value DOUBLE, note TEXT, ts BIGINT) TIME ts;

CREATE VIEW latest3 AS
  SELECT sensor, value, ts FROM readings
  RETAIN LATEST 3 PER sensor
  DELAY 50;

COPY readings FROM 'data/readings.csv' WITH (HEADER true);
INSERT INTO readings VALUES (1, 20.5, 'ok', 1000), (2, 19.0, 'ok', 1005);

SELECT * FROM latest3 WHERE sensor = 1 ORDER BY ts DESC LIMIT 10;
SELECT sensor, count(*) AS kept, max(value) AS hottest FROM latest3 GROUP BY sensor ORDER BY sensor;
SHOW STATS;
