//! Time: each source has a clock of its own. A read seals only the sources it reads, a new
//! source starts with no frontier, equal times are on time, and live generators live on a
//! timeline of their own that no scripted source shares.

use std::path::Path;

use ebb::error::Stage;
use ebb::repr::Datum;
use ebb::{Output, Session, SessionOptions};

fn session_in(base_dir: &Path) -> Session {
    Session::new(SessionOptions { base_dir: base_dir.to_path_buf(), ..SessionOptions::default() }).unwrap()
}

fn session() -> Session {
    session_in(Path::new("."))
}

fn rows(s: &mut Session, sql: &str) -> Vec<Vec<Datum>> {
    match s.execute(sql).unwrap().pop() {
        Some(Output::Rows { rows, .. }) => rows,
        other => panic!("expected rows, got {other:?}"),
    }
}

fn fail(s: &mut Session, sql: &str) -> (ebb::Error, String) {
    match s.execute(sql) {
        Ok(outputs) => panic!("expected an error from {sql:?}, got {outputs:?}"),
        Err(e) => {
            let rendered = e.render(sql, "test.sql");
            (e, rendered)
        }
    }
}

/// `SHOW SOURCES`' `frontier` of `source`.
fn frontier(s: &mut Session, source: &str) -> i64 {
    let Some(Output::Rows { columns, rows }) = s.execute("SHOW SOURCES;").unwrap().pop() else {
        panic!("SHOW SOURCES returns rows")
    };
    let at = columns.iter().position(|c| c == "frontier").expect("a frontier column");
    match rows.iter().find(|r| r[0] == Datum::Text(source.into())).map(|r| &r[at]) {
        Some(Datum::Int(frontier)) => *frontier,
        other => panic!("no frontier for {source}: {other:?}"),
    }
}

/// The script: a read of a scripted source no longer takes the wall clock of a live
/// generator's view, so later rows of the scripted source are on time.
#[test]
fn a_generator_does_not_poison_scripted_clocks() {
    let mut s = session();
    s.execute(
        "CREATE SOURCE a (k BIGINT, ts BIGINT) TIME ts;
         INSERT INTO a VALUES (1, 1);
         CREATE SOURCE g FROM GENERATOR sensors (keys = 10, rate = 100);
         CREATE VIEW gv AS SELECT sensor, ts FROM g RETAIN LATEST 1 PER sensor;
         SELECT count(*) FROM a;
         INSERT INTO a VALUES (2, 2);",
    )
    .unwrap();
    assert_eq!(rows(&mut s, "SELECT count(*) FROM a;"), vec![vec![Datum::Int(2)]]);
    // A source created after the generator's view was read starts with no frontier.
    s.execute("SELECT count(*) FROM gv; CREATE SOURCE b (k BIGINT, ts BIGINT) TIME ts; INSERT INTO b VALUES (1, 0);")
        .unwrap();
    assert_eq!(frontier(&mut s, "b"), 0, "equal times stay on time; SHOW SOURCES reads nothing");
    // The generator's frontier is its own: the wall clock, in milliseconds.
    assert!(frontier(&mut s, "g") > 1_700_000_000_000);
}

/// The shipped examples run one after another in one session, as `\i` runs them (those
/// that do not create the same names).
#[test]
fn the_examples_run_in_one_session() {
    for files in [["latest.sql", "top_prices.sql", "flows.sql"], ["flows.sql", "auction.sql", "latest.sql"]] {
        let mut s = session_in(Path::new("queries"));
        for file in files {
            let text = std::fs::read_to_string(Path::new("queries").join(file)).unwrap();
            if let Err(e) = s.execute(&text) {
                panic!("{file} after {files:?}:\n{}", e.render(&text, file));
            }
        }
    }
}

/// A row whose time equals the newest its source has seen is on time, in a later statement
/// too; once a read has sealed that time, it is late.
#[test]
fn equal_times_are_on_time_until_a_read_seals_them() {
    let mut s = session();
    s.execute("CREATE SOURCE r (k BIGINT, ts BIGINT) TIME ts; INSERT INTO r VALUES (1, 5);").unwrap();
    s.execute("INSERT INTO r VALUES (2, 5);").unwrap();
    s.execute("INSERT INTO r VALUES (3, 5), (4, 6);").unwrap();
    assert_eq!(rows(&mut s, "SELECT count(*) FROM r;"), vec![vec![Datum::Int(4)]]);
    let (e, rendered) = fail(&mut s, "INSERT INTO r VALUES (5, 6);");
    assert_eq!(e.stage(), Stage::Data);
    insta::assert_snapshot!(rendered);
}

/// A read moves only the sources it reads, directly or through views: another source's
/// clock stays where it was, even when it is far behind.
#[test]
fn a_read_seals_only_what_it_reads() {
    let mut s = session();
    s.execute(
        "CREATE SOURCE far (k BIGINT, ts BIGINT) TIME ts;
         CREATE SOURCE near (k BIGINT, ts BIGINT) TIME ts;
         CREATE VIEW near_latest AS SELECT k, ts FROM near RETAIN LATEST 1 PER k;
         CREATE VIEW over_view AS SELECT k FROM near_latest;
         INSERT INTO far VALUES (1, 1000000);
         INSERT INTO near VALUES (1, 10);",
    )
    .unwrap();
    assert_eq!(rows(&mut s, "SELECT * FROM over_view;"), vec![vec![Datum::Int(1)]]);
    assert_eq!(frontier(&mut s, "near"), 11, "the read sealed the source under the view");
    assert_eq!(frontier(&mut s, "far"), 1_000_000, "but not the source it does not read");
    s.execute("INSERT INTO near VALUES (1, 11);").unwrap();
    assert_eq!(rows(&mut s, "SELECT ts FROM near_latest;"), vec![vec![Datum::Int(11)]]);
}

/// `COPY auctions; COPY bids; SELECT … FROM winners` works whatever the two inputs' time
/// ranges: the read aligns the view's sources.
#[test]
fn a_read_of_a_join_sees_both_inputs_whatever_their_ranges() {
    let mut s = session();
    s.execute(
        "CREATE SOURCE auctions (id BIGINT, expires BIGINT, ts BIGINT) TIME ts;
         CREATE SOURCE bids (auction BIGINT, bidder BIGINT, price DOUBLE, ts BIGINT) TIME ts;
         CREATE VIEW winners AS
           SELECT a.id AS auction, b.bidder, b.price
           FROM auctions a JOIN bids b ON b.auction = a.id
           RETAIN WINNER PER a.id BY b.price CLOSE AT a.expires;
         INSERT INTO auctions VALUES (1, 5000, 4000), (2, 100000, 4001);
         INSERT INTO bids VALUES (1, 7, 10.0, 10), (1, 8, 12.0, 20), (2, 9, 3.0, 30);",
    )
    .unwrap();
    assert_eq!(
        rows(&mut s, "SELECT * FROM winners ORDER BY auction;"),
        vec![
            vec![Datum::Int(1), Datum::Int(8), Datum::Double(12.0)],
            vec![Datum::Int(2), Datum::Int(9), Datum::Double(3.0)]
        ]
    );
}

/// A view may not read both a live generator and a scripted source.
#[test]
fn a_view_over_a_generator_and_a_scripted_source_is_refused() {
    let mut s = session();
    s.execute(
        "CREATE SOURCE g FROM GENERATOR sensors (keys = 10, rate = 100);
         CREATE SOURCE names (sensor BIGINT, name TEXT, ts BIGINT) TIME ts;",
    )
    .unwrap();
    let (e, rendered) = fail(
        &mut s,
        "CREATE VIEW named AS\n  SELECT g.sensor, n.name FROM g JOIN names n ON n.sensor = g.sensor;",
    );
    assert_eq!(e.stage(), Stage::Bind);
    insta::assert_snapshot!(rendered);
    assert!(s.execute("SELECT * FROM named;").is_err(), "the view was not created");
}

/// `ADVANCE TO t` moves every scripted source to `t`, and no further.
#[test]
fn advance_to_moves_every_source() {
    let mut s = session();
    s.execute(
        "CREATE SOURCE a (k BIGINT, ts BIGINT) TIME ts;
         CREATE SOURCE b (k BIGINT, ts BIGINT) TIME ts;
         INSERT INTO a VALUES (1, 50);
         ADVANCE TO 20;",
    )
    .unwrap();
    assert_eq!((frontier(&mut s, "a"), frontier(&mut s, "b")), (50, 20));
    s.execute("INSERT INTO b VALUES (1, 20); INSERT INTO a VALUES (2, 50);").unwrap();
    let (e, _) = fail(&mut s, "INSERT INTO b VALUES (1, 19);");
    assert!(e.message().contains("older than the frontier 20"), "{}", e.message());
}

/// A read after a row at the largest BIGINT seals every time: `SHOW SOURCES` says NULL, not a
/// negative number, and the next row is late.
#[test]
fn a_frontier_past_the_largest_bigint_is_shown_as_null() {
    let mut s = session();
    s.execute(
        "CREATE SOURCE a (k BIGINT, ts BIGINT) TIME ts;
         INSERT INTO a VALUES (1, 9223372036854775807);
         SELECT count(*) FROM a;",
    )
    .unwrap();
    let Some(Output::Rows { columns, rows }) = s.execute("SHOW SOURCES;").unwrap().pop() else {
        panic!("SHOW SOURCES returns rows")
    };
    let at = columns.iter().position(|c| c == "frontier").expect("a frontier column");
    assert_eq!(rows[0][at], Datum::Null);
    let (e, _) = fail(&mut s, "INSERT INTO a VALUES (2, 9223372036854775807);");
    assert_eq!(e.stage(), Stage::Data);
}
