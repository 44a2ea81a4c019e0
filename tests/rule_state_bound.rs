//! State stays bounded under `RETAIN WINNER` and `RETAIN UNMATCHED`: once auctions close, the
//! rule's input holds one bid per closed auction (plus the open auctions' bids),
//! and a pairing rule holds its unmatched rows only — while the same join without the
//! rule, or the same plan with its feedback turned off, holds every row. If the feedback broke,
//! the rule's arrangements would grow like the plain join's.

use std::collections::BTreeMap;

use ebb::repr::Datum;
use ebb::{Output, Session, SessionOptions};

/// `SHOW STATS` as `(object, arrangement) -> records`.
fn stats(s: &mut Session) -> BTreeMap<(String, String), i64> {
    let outputs = s.execute("SHOW STATS;").expect("SHOW STATS");
    let Some(Output::Rows { columns, rows }) = outputs.into_iter().next() else { panic!("no rows") };
    assert_eq!(&columns[..3], ["view", "arrangement", "records"]);
    rows.into_iter()
        .map(|row| match &row[..3] {
            [Datum::Text(view), Datum::Text(arrangement), Datum::Int(records)] => {
                ((view.clone(), arrangement.clone()), *records)
            }
            other => panic!("unexpected stats row {other:?}"),
        })
        .collect()
}

fn records(stats: &BTreeMap<(String, String), i64>, object: &str, arrangement: &str) -> i64 {
    *stats
        .get(&(object.to_string(), arrangement.to_string()))
        .unwrap_or_else(|| panic!("no arrangement \"{arrangement}\" of \"{object}\" in {stats:#?}"))
}

fn session(workers: usize, retain_feedback: bool) -> Session {
    Session::new(SessionOptions {
        workers,
        base_dir: ".".into(),
        retain_feedback,
        ..SessionOptions::default()
    })
    .expect("session starts")
}

/// Sorted rows of a read.
fn read(s: &mut Session, sql: &str) -> Vec<Vec<Datum>> {
    let Some(Output::Rows { mut rows, .. }) = s.execute(sql).unwrap().into_iter().next() else {
        panic!("no rows from {sql}")
    };
    rows.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
    rows
}

fn count(s: &mut Session, view: &str) -> i64 {
    match read(s, &format!("SELECT count(*) FROM {view};")).as_slice() {
        [row] => match row.as_slice() {
            [Datum::Int(n)] => *n,
            other => panic!("count of {view}: {other:?}"),
        },
        other => panic!("count of {view}: {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// RETAIN WINNER
// ---------------------------------------------------------------------------------------------

const ROUNDS: i64 = 5;
const AUCTIONS_PER_ROUND: i64 = 40;
const BIDS_PER_AUCTION: i64 = 20;
const OPEN_AUCTIONS: i64 = 20;
const BIDS_PER_OPEN_AUCTION: i64 = 10;
/// Past every closing auction's close (+ FORGET AFTER), before every open one's.
const ADVANCE: i64 = 20_000;

struct AuctionData {
    statements: Vec<String>,
    closed: i64,
    open: i64,
    open_bids: i64,
    bids: i64,
    /// The bids that can win on one worker: those no better bid of their auction (and
    /// statement) placed no later beats (see `could_win`), of the open auctions and of all.
    open_bids_that_could_win: i64,
    bids_that_could_win: i64,
}

/// How many of one auction's bids `(bidder, price, ts)`, all of one statement, can win: the rule
/// drops a bid when a better one (higher price, then greater row) was placed no later, since
/// that one meets every close time the dropped one meets.
fn could_win(bids: &[(i64, i64, i64)]) -> i64 {
    let better = |a: &(i64, i64, i64), b: &(i64, i64, i64)| (a.1, a.0, a.2) > (b.1, b.0, b.2);
    bids.iter().filter(|b| !bids.iter().any(|other| better(other, b) && other.2 <= b.2)).count() as i64
}

/// Round `r` covers times `[r*1000, (r+1)*1000)`: 40 auctions closing within the round, each
/// with 20 bids spread over the round (some after the close); the last round adds 20 auctions
/// that close far in the future, with 10 bids each.
fn auction_data() -> AuctionData {
    let mut statements = Vec::new();
    let mut bids = 0;
    let (mut open_bids_that_could_win, mut bids_that_could_win) = (0, 0);
    for r in 0..ROUNDS {
        let base = r * 1000;
        let mut auctions = Vec::new();
        let mut bid_rows = Vec::new();
        for i in 0..AUCTIONS_PER_ROUND {
            let id = r * AUCTIONS_PER_ROUND + i;
            let expires = base + 500 + i * 10;
            auctions.push(format!("({id}, {expires}, {})", base + i));
            let mut auction_bids = Vec::new();
            for b in 0..BIDS_PER_AUCTION {
                // Deterministic spread over the round, newest first so the statement is out
                // of order.
                let ts = base + 999 - ((id * 37 + b * 53) % 1000);
                let price = (id * 7 + b * 13) % 100;
                bid_rows.push(format!("({id}, {b}, {price}, {ts})"));
                auction_bids.push((b, price, ts));
            }
            bids_that_could_win += could_win(&auction_bids);
        }
        if r == ROUNDS - 1 {
            for i in 0..OPEN_AUCTIONS {
                let id = 1_000_000 + i;
                auctions.push(format!("({id}, 1000000000, {})", base + i));
                let mut auction_bids = Vec::new();
                for b in 0..BIDS_PER_OPEN_AUCTION {
                    let (price, ts) = ((b * 31) % 50, base + 100 + b);
                    bid_rows.push(format!("({id}, {b}, {price}, {ts})"));
                    auction_bids.push((b, price, ts));
                }
                open_bids_that_could_win += could_win(&auction_bids);
                bids_that_could_win += could_win(&auction_bids);
            }
        }
        bids += bid_rows.len() as i64;
        statements.push(format!("INSERT INTO auctions VALUES {};", auctions.join(", ")));
        statements.push(format!("INSERT INTO bids VALUES {};", bid_rows.join(", ")));
    }
    AuctionData {
        statements,
        closed: ROUNDS * AUCTIONS_PER_ROUND,
        open: OPEN_AUCTIONS,
        open_bids: OPEN_AUCTIONS * BIDS_PER_OPEN_AUCTION,
        bids,
        open_bids_that_could_win,
        bids_that_could_win,
    }
}

const AUCTION_SOURCES: &str = "
CREATE SOURCE auctions (id BIGINT, expires BIGINT, ts BIGINT) TIME ts KEEP NONE;
CREATE SOURCE bids (auction BIGINT, bidder BIGINT, price BIGINT, ts BIGINT) TIME ts KEEP NONE;
CREATE VIEW winners AS SELECT a.id, b.bidder, b.price, b.ts
  FROM auctions a JOIN bids b ON b.auction = a.id WHERE b.ts < a.expires
  RETAIN WINNER PER a.id BY b.price CLOSE AT a.expires DELAY 1;
CREATE VIEW recent AS SELECT a.id, b.bidder, b.price, b.ts
  FROM auctions a JOIN bids b ON b.auction = a.id WHERE b.ts < a.expires
  RETAIN WINNER PER a.id BY b.price CLOSE AT a.expires FORGET AFTER 100 DELAY 1;
CREATE VIEW joined AS SELECT a.id, b.bidder, b.price, b.ts
  FROM auctions a JOIN bids b ON b.auction = a.id WHERE b.ts < a.expires;
";

fn run_auctions(workers: usize, retain_feedback: bool) -> (Session, BTreeMap<(String, String), i64>) {
    let mut s = session(workers, retain_feedback);
    s.execute(AUCTION_SOURCES).unwrap();
    for statement in auction_data().statements {
        s.execute(&statement).unwrap();
    }
    s.execute(&format!("ADVANCE TO {ADVANCE};")).unwrap();
    let stats = stats(&mut s);
    (s, stats)
}

fn check_winner_bounded(workers: usize) {
    let data = auction_data();
    let (mut s, stats) = run_auctions(workers, true);
    let what = format!("{workers} workers: {stats:#?}");

    // The plain join holds every bid and every auction: what the rule would hold without its
    // feedback.
    assert_eq!(records(&stats, "joined", "join right (bids)"), data.bids, "{what}");
    assert_eq!(records(&stats, "joined", "join left (auctions)"), data.closed + data.open, "{what}");

    // Per closed auction its row, its close mark and one bid are left; the open auctions keep
    // their row and the bids that can win. Everything retired has landed (the frontier is far
    // past every close + DELAY), so on one worker the count is exact; on more, each worker
    // drops the bids that a better bid on the same worker beats.
    let input = records(&stats, "winners", "winner input");
    let least = 3 * data.closed + data.open + data.open_bids_that_could_win;
    if workers == 1 {
        assert_eq!(input, least, "{what}");
    } else {
        assert!((least..=least - data.open_bids_that_could_win + data.open_bids).contains(&input), "{what}");
    }
    let output = records(&stats, "winners", "winner output");
    assert_eq!(output, data.closed + data.open, "winner output holds {output}; {what}");

    // With FORGET AFTER, the closed auctions, their marks and their winning bids are gone too.
    let input = records(&stats, "recent", "winner input");
    let least = data.open + data.open_bids_that_could_win;
    if workers == 1 {
        assert_eq!(input, least, "{what}");
    } else {
        assert!((least..=data.open + data.open_bids).contains(&input), "{what}");
    }
    let output = records(&stats, "recent", "winner output");
    assert_eq!(output, data.open, "{what}");

    // The views: one winner per auction (every auction has a bid before its close); the
    // forgotten ones left `recent`.
    assert_eq!(count(&mut s, "winners"), data.closed + data.open);
    assert_eq!(count(&mut s, "recent"), data.open);
}

#[test]
fn winner_state_is_bounded_one_worker() {
    check_winner_bounded(1);
}

#[test]
fn winner_state_is_bounded_two_workers() {
    check_winner_bounded(2);
}

/// The same plan without feedback holds every bid that can win, and shows the same winners.
#[test]
fn winner_without_feedback_holds_every_bid() {
    let data = auction_data();
    let (mut s, stats) = run_auctions(1, false);
    // Every auction, the close mark of each closed one, and every bid that can win: the rule
    // drops a bid that a better bid placed no later beats.
    let input = records(&stats, "winners", "winner input");
    assert_eq!(input, 2 * data.closed + data.open + data.bids_that_could_win, "{stats:#?}");
    let (mut with_feedback, _) = run_auctions(1, true);
    let sql = "SELECT * FROM winners;";
    assert_eq!(read(&mut s, sql), read(&mut with_feedback, sql));
}

// ---------------------------------------------------------------------------------------------
// RETAIN UNMATCHED
// ---------------------------------------------------------------------------------------------

const PACKETS: i64 = 4000;
const PACKET_ROUNDS: i64 = 5;

struct FlowData {
    statements: Vec<String>,
    sends: i64,
    recvs: i64,
    lost: i64,
    orphans: i64,
    pairs: i64,
}

/// Packet `i` is sent at time `i` (flow `i % 10`, seq `i`) and received 1..=50 later, except
/// every 10th, which is lost; every 25th receive has no send (seq `-i`). Rows are split into
/// `PACKET_ROUNDS` time windows: per window, one INSERT of its sends, then one of its receives,
/// each written newest first.
fn flow_data() -> FlowData {
    let mut sends: Vec<(i64, String)> = Vec::new();
    let mut recvs: Vec<(i64, String)> = Vec::new();
    let (mut lost, mut orphans) = (0, 0);
    for i in 0..PACKETS {
        let flow = i % 10;
        sends.push((i, format!("({flow}, {i}, {i})")));
        if i % 10 == 3 {
            lost += 1;
        } else {
            let ts = i + 1 + (i * 7919) % 50;
            recvs.push((ts, format!("({flow}, {i}, {ts})")));
        }
        if i % 25 == 0 {
            orphans += 1;
            recvs.push((i + 5, format!("({flow}, {}, {})", -i - 1, i + 5)));
        }
    }
    let window = (PACKETS + 100) / PACKET_ROUNDS + 1;
    let mut statements = Vec::new();
    for w in 0..PACKET_ROUNDS {
        for (source, rows) in [("sends", &sends), ("recvs", &recvs)] {
            let values: Vec<&str> =
                rows.iter().rev().filter(|(ts, _)| ts / window == w).map(|(_, v)| v.as_str()).collect();
            if !values.is_empty() {
                statements.push(format!("INSERT INTO {source} VALUES {};", values.join(", ")));
            }
        }
    }
    FlowData {
        statements,
        sends: sends.len() as i64,
        recvs: recvs.len() as i64,
        lost,
        orphans,
        pairs: PACKETS - lost,
    }
}

const FLOW_SOURCES: &str = "
CREATE SOURCE sends (flow BIGINT, seq BIGINT, ts BIGINT) TIME ts KEEP NONE;
CREATE SOURCE recvs (flow BIGINT, seq BIGINT, ts BIGINT) TIME ts KEEP NONE;
CREATE VIEW pairs AS SELECT s.flow, s.seq, s.ts AS sent, r.ts AS received
  FROM sends s JOIN recvs r ON r.flow = s.flow AND r.seq = s.seq RETAIN UNMATCHED DELAY 1;
CREATE VIEW joined AS SELECT s.flow, s.seq, s.ts AS sent, r.ts AS received
  FROM sends s JOIN recvs r ON r.flow = s.flow AND r.seq = s.seq;
";

fn run_flows(workers: usize, retain_feedback: bool) -> (Session, BTreeMap<(String, String), i64>) {
    let mut s = session(workers, retain_feedback);
    s.execute(FLOW_SOURCES).unwrap();
    for statement in flow_data().statements {
        s.execute(&statement).unwrap();
    }
    s.execute(&format!("ADVANCE TO {};", PACKETS * 10)).unwrap();
    let stats = stats(&mut s);
    (s, stats)
}

fn check_unmatched_bounded(workers: usize) {
    let data = flow_data();
    let (mut s, stats) = run_flows(workers, true);
    let what = format!("{workers} workers: {stats:#?}");
    assert_eq!(records(&stats, "joined", "join left (sends)"), data.sends, "{what}");
    assert_eq!(records(&stats, "joined", "join right (recvs)"), data.recvs, "{what}");
    // Only the unmatched rows are left: the lost sends and the receives without a send. Every
    // matched row's retraction has landed (the frontier is far past every match + DELAY), so
    // the count is exact, and the rule's output holds no pair any more.
    let input = records(&stats, "pairs", "unmatched input");
    assert_eq!(input, data.lost + data.orphans, "{what}");
    assert_eq!(records(&stats, "pairs", "unmatched output"), 0, "{what}");
    assert_eq!(count(&mut s, "pairs"), data.pairs);
    assert_eq!(count(&mut s, "joined"), data.pairs);
}

#[test]
fn unmatched_state_is_bounded_one_worker() {
    check_unmatched_bounded(1);
}

#[test]
fn unmatched_state_is_bounded_two_workers() {
    check_unmatched_bounded(2);
}

/// The same plan without feedback holds every row of both sides.
#[test]
fn unmatched_without_feedback_holds_every_row() {
    let data = flow_data();
    let (_, stats) = run_flows(1, false);
    assert_eq!(records(&stats, "pairs", "unmatched input"), data.sends + data.recvs, "{stats:#?}");
    assert_eq!(records(&stats, "pairs", "unmatched output"), data.pairs, "{stats:#?}");
}

/// The closing side may come second in the join: the winners are the same, and the bids side
/// is just as bounded (the rule finds a winner's bid at the front of the joined row then).
#[test]
fn winner_with_the_closing_side_second() {
    let mut s = session(1, true);
    s.execute(
        "CREATE SOURCE auctions (id BIGINT, expires BIGINT, ts BIGINT) TIME ts KEEP NONE;
         CREATE SOURCE bids (bidder TEXT, auction BIGINT, price BIGINT, ts BIGINT) TIME ts KEEP NONE;
         CREATE VIEW first AS SELECT a.id, b.bidder, b.price FROM auctions a JOIN bids b ON b.auction = a.id
           RETAIN WINNER PER a.id BY b.price CLOSE AT a.expires;
         CREATE VIEW second AS SELECT a.id, b.bidder, b.price FROM bids b JOIN auctions a ON a.id = b.auction
           RETAIN WINNER PER a.id BY b.price CLOSE AT a.expires;",
    )
    .expect("views");
    let auctions: Vec<String> = (0..50).map(|id| format!("({id}, {}, {id})", id + 100)).collect();
    // Bidder names of different lengths, first: the two sides' rows differ in length.
    let bids: Vec<String> = (0..1000)
        .map(|i| {
            format!("('bidder {}', {}, {}, {})", "x".repeat(i % 7), i % 50, (i * 7919) % 1000, 50 + i % 50)
        })
        .collect();
    s.execute(&format!("INSERT INTO auctions VALUES {};", auctions.join(", "))).expect("auctions");
    s.execute(&format!("INSERT INTO bids VALUES {};", bids.join(", "))).expect("bids");
    s.execute("ADVANCE TO 1000;").expect("advance");
    let first = read(&mut s, "SELECT * FROM first ORDER BY id");
    assert_eq!(first.len(), 50);
    assert_eq!(read(&mut s, "SELECT * FROM second ORDER BY id"), first);
    let stats = stats(&mut s);
    for view in ["first", "second"] {
        // Per closed auction: its row, its close mark and its winning bid.
        let held = records(&stats, view, "winner input");
        assert_eq!(held, 3 * 50, "{view}: not one bid per closed auction left: {stats:#?}");
    }
}
