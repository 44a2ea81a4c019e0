//! `SUBSCRIBE`: a snapshot with diffs, then changes, for a bounded time.

use ebb::repr::Datum;
use ebb::{Output, Session, SessionOptions};

fn session() -> Session {
    let mut s = Session::new(SessionOptions::default()).expect("session starts");
    s.execute(
        "CREATE SOURCE r (k BIGINT, ts BIGINT) TIME ts;
         CREATE VIEW v AS SELECT k, ts FROM r RETAIN LATEST 1 PER k;
         INSERT INTO r VALUES (1, 1), (2, 3), (1, 4);",
    )
    .expect("script runs");
    s
}

#[test]
fn subscribe_starts_with_the_current_rows_as_insertions() {
    let mut s = session();
    let outputs = s.execute("SUBSCRIBE v FOR 250 MILLISECONDS;").expect("subscribe runs");
    let Some(Output::Rows { columns, rows }) = outputs.first() else { panic!("no rows: {outputs:?}") };
    assert_eq!(columns, &["time", "diff", "k", "ts"]);
    let int = |i: i64| Datum::Int(i);
    assert_eq!(rows, &vec![vec![int(4), int(1), int(1), int(4)], vec![int(4), int(1), int(2), int(3)]]);
    // Nothing changed while it ran, so nothing but the snapshot was printed.
    assert_eq!(outputs.len(), 1);
}

#[test]
fn subscribe_stops_when_interrupted() {
    let mut s = session();
    let interrupt = s.interrupt_flag();
    let stopper = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(200));
        interrupt.store(true, std::sync::atomic::Ordering::SeqCst);
    });
    let outputs = s.execute("SUBSCRIBE v;").expect("subscribe ends cleanly");
    stopper.join().expect("stopper thread");
    assert_eq!(outputs.len(), 1);
    // The session goes on.
    assert!(s.execute("SELECT * FROM v;").is_ok());
}

#[test]
fn subscribe_to_a_source_or_a_missing_view_is_refused() {
    let mut s = session();
    let error = s.execute("SUBSCRIBE r;").expect_err("a source is not a view");
    assert!(error.message().contains("is a source"), "{error}");
    let error = s.execute("SUBSCRIBE nothing;").expect_err("no such view");
    assert!(error.message().contains("not found"), "{error}");
}
