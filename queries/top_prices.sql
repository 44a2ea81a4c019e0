-- The two best prices per auction, self-compacting.
CREATE SOURCE bids (auction BIGINT, bidder TEXT, price DOUBLE, ts BIGINT) TIME ts LATENESS 10;

CREATE VIEW top_prices AS
  SELECT auction, bidder, price FROM bids
  WHERE price > 0
  RETAIN TOP 2 PER auction BY price DESC;

COPY bids FROM 'data/bids.csv' WITH (HEADER true);

SELECT * FROM top_prices ORDER BY auction, price DESC;
SELECT auction, max(price) AS best, count(*) AS kept FROM top_prices GROUP BY auction ORDER BY auction;
SHOW STATS;
