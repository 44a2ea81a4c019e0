-- Winning bids (NEXMark q9): per auction, the best bid placed before it closes. Once an
-- auction closes, its losing bids are retracted from the bids input, so the state left per
-- closed auction is its winner.
CREATE SOURCE auctions (id BIGINT, seller TEXT, expires BIGINT, ts BIGINT) TIME ts KEEP NONE;
CREATE SOURCE bids (auction BIGINT, bidder TEXT, price DOUBLE, ts BIGINT) TIME ts KEEP NONE;

CREATE VIEW winners AS
  SELECT a.id AS auction, a.seller, b.bidder, b.price
  FROM auctions a JOIN bids b ON b.auction = a.id
  WHERE b.ts < a.expires
  RETAIN WINNER PER a.id BY b.price CLOSE AT a.expires
  DELAY 10;

-- The same winners, forgotten 500 time units after their auction closes: the auction and
-- its winning bid are retracted too, so even the auctions' state stays bounded.
CREATE VIEW recent_winners AS
  SELECT a.id AS auction, b.price
  FROM auctions a JOIN bids b ON b.auction = a.id
  WHERE b.ts < a.expires
  RETAIN WINNER PER a.id BY b.price CLOSE AT a.expires FORGET AFTER 500;

-- Revenue per seller, over the winners (one row per auction, so bounded by auctions).
CREATE VIEW revenue AS
  SELECT seller, count(*) AS sold, sum(price) AS total, max(price) AS best
  FROM winners GROUP BY seller;

COPY auctions FROM 'data/auctions.csv' WITH (HEADER true);
COPY bids FROM 'data/auction_bids.csv' WITH (HEADER true);

SELECT * FROM winners ORDER BY auction LIMIT 10;
SELECT * FROM revenue ORDER BY seller;
SELECT count(*) AS recent FROM recent_winners;
EXPLAIN VIEW winners;
SHOW STATS;
