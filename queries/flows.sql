-- Pair each send with its receive and drop both: the join holds only the packets still in
-- flight, while the view keeps every pair that ever matched.
CREATE SOURCE sends (flow BIGINT, seq BIGINT, ts BIGINT) TIME ts KEEP NONE;
CREATE SOURCE recvs (flow BIGINT, seq BIGINT, ts BIGINT) TIME ts KEEP NONE;

CREATE VIEW flow_latency AS
  SELECT s.flow, s.seq, r.ts - s.ts AS latency
  FROM sends s JOIN recvs r ON r.flow = s.flow AND r.seq = s.seq
  RETAIN UNMATCHED;

-- Latency per flow: the pairs are append-only, so this holds one record per flow.
CREATE VIEW flow_stats AS
  SELECT flow, count(*) AS pairs, max(latency) AS worst, avg(latency) AS mean
  FROM flow_latency GROUP BY flow;

COPY sends FROM 'data/sends.csv' WITH (HEADER true);
COPY recvs FROM 'data/recvs.csv' WITH (HEADER true);

SELECT * FROM flow_stats ORDER BY flow;
EXPLAIN VIEW flow_stats;
SHOW STATS;
