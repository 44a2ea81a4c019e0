-- The open-loop scenario of `ebb bench` (docs/open_loop.md): one sensor at 10k rows/s, its
-- latest reading kept, retired rows retracted 1 ms after they stop being needed.
CREATE SOURCE readings FROM GENERATOR sensors (keys = 1, rate = 10000);
CREATE VIEW latest AS SELECT sensor, value, ts FROM readings RETAIN LATEST 1 PER sensor DELAY 1;
