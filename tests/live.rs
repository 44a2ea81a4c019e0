//! Live generators: a generator-backed view, run for a bounded time, keeps its state bound.

use std::collections::BTreeMap;
use std::time::Duration;

use ebb::repr::Datum;
use ebb::{Output, Session, SessionOptions};

const KEYS: i64 = 20;
const RATE: i64 = 2_000;
const DELAY_MS: i64 = 5;

fn stats(s: &mut Session) -> BTreeMap<(String, String), Vec<Datum>> {
    let outputs = s.execute("SHOW STATS;").expect("stats");
    let Some(Output::Rows { rows, .. }) = outputs.into_iter().next() else { panic!("no stats") };
    rows.into_iter()
        .map(|row| {
            let key = (row[0].to_string(), row[1].to_string());
            (key, row)
        })
        .collect()
}

fn int(d: &Datum) -> i64 {
    d.as_int().unwrap_or_else(|| panic!("{d} is not an integer"))
}

#[test]
fn a_generated_view_keeps_its_state_bound() {
    let mut s = Session::new(SessionOptions::default()).expect("session");
    s.execute(&format!(
        "CREATE SOURCE readings FROM GENERATOR sensors (keys = {KEYS}, rate = {RATE});
         CREATE VIEW latest AS SELECT sensor, value, ts FROM readings RETAIN LATEST 2 PER sensor DELAY {DELAY_MS};
         CREATE VIEW everything AS SELECT sensor, ts FROM readings;"
    ))
    .expect("script runs");
    std::thread::sleep(Duration::from_millis(1500));
    let stats = stats(&mut s);
    let everything = int(&stats[&("everything".into(), "output".into())][2]);
    assert!(everything >= RATE / 2, "the generator produced only {everything} rows in 1.5 s");
    // Kept rows, plus the rows retired within DELAY and the compaction lag behind the wall
    // clock, each as an insertion and a retraction, with room for batches not yet merged
    // (a live view never pauses to merge); still far below what the plain view holds.
    let bound = KEYS * 2 + 8 * RATE * (DELAY_MS + 50) / 1000;
    assert!(everything >= 2 * bound, "the plain view holds only {everything}, too few to tell");
    let input = &stats[&("latest".into(), "retain input".into())];
    assert!(int(&input[2]) <= bound, "retain input holds {}, more than {bound}; {stats:?}", int(&input[2]));
    assert!(int(&input[3]) > 0, "nothing was dropped: {stats:?}");
    let output = &stats[&("latest".into(), "output".into())];
    assert!(!output[4].is_null() && !output[5].is_null(), "no latency for a live view: {stats:?}");
    // The view itself: two rows per sensor, all sensors seen by now.
    let rows = s.execute("SELECT count(*) FROM latest;").expect("read");
    assert_eq!(
        rows,
        vec![Output::Rows { columns: vec!["count".into()], rows: vec![vec![Datum::Int(KEYS * 2)]] }]
    );
}

#[test]
fn a_generated_source_takes_no_other_rows() {
    let mut s = Session::new(SessionOptions::default()).expect("session");
    s.execute("CREATE SOURCE sends FROM GENERATOR sends;").expect("created");
    let error = s.execute("INSERT INTO sends VALUES (1, 1, 1);").expect_err("refused");
    assert!(error.message().contains("live generator"), "{error}");
    let error = s.execute("CREATE SOURCE x FROM GENERATOR tweets;").expect_err("no such generator");
    assert!(error.message().contains("not found"), "{error}");
}
