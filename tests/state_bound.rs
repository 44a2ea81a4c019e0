//! State stays bounded: a `RETAIN LATEST 3` view with `DELAY 1` holds about keys × 3 input
//! records however many rows arrive, while a plain view holds every row. If the feedback loop
//! broke, the retained view's "retain input" arrangement would grow like the plain view's.

use std::collections::BTreeMap;

use ebb::repr::Datum;
use ebb::{Output, Session, SessionOptions};

const ROWS: usize = 20_000;
const KEYS: usize = 100;
const STATEMENTS: usize = 5;

/// `STATEMENTS` INSERTs of `ROWS / STATEMENTS` distinct rows over `KEYS` keys; statement `j`
/// covers times `[j*per, (j+1)*per)`, written newest first so every statement is out of order.
fn inserts(source: &str) -> Vec<String> {
    let per = ROWS / STATEMENTS;
    (0..STATEMENTS)
        .map(|j| {
            let values: Vec<String> = (0..per)
                .rev()
                .map(|i| {
                    let ts = j * per + i;
                    format!("({}, {}, {ts})", ts % KEYS, (ts * 7919) % 1000)
                })
                .collect();
            format!("INSERT INTO {source} VALUES {};", values.join(", "))
        })
        .collect()
}

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

fn run(workers: usize, keep: &str) -> BTreeMap<(String, String), i64> {
    let mut s =
        Session::new(SessionOptions { workers, base_dir: ".".into(), ..SessionOptions::default() }).unwrap();
    s.execute(&format!(
        "CREATE SOURCE r (k BIGINT, v BIGINT, ts BIGINT) TIME ts {keep};
         CREATE VIEW latest3 AS SELECT * FROM r RETAIN LATEST 3 PER k DELAY 1;
         CREATE VIEW everything AS SELECT * FROM r;"
    ))
    .unwrap();
    for insert in inserts("r") {
        s.execute(&insert).unwrap();
    }
    stats(&mut s)
}

fn records(stats: &BTreeMap<(String, String), i64>, object: &str, arrangement: &str) -> i64 {
    *stats
        .get(&(object.to_string(), arrangement.to_string()))
        .unwrap_or_else(|| panic!("no arrangement \"{arrangement}\" of \"{object}\" in {stats:?}"))
}

fn check_bounded(stats: &BTreeMap<(String, String), i64>) {
    let bound = (KEYS * 3) as i64;
    // With DELAY 1 and every statement's internal tick more than one time unit before the
    // frontier of the next read, nothing is still "within DELAY": the bound is keys × 3.
    let input = records(stats, "latest3", "retain input");
    assert!(input <= bound, "retain input holds {input} records, more than keys × 3 = {bound}: {stats:?}");
    let output = records(stats, "latest3", "retain output");
    assert!(output <= bound, "retain output holds {output} records, more than {bound}: {stats:?}");
    let view = records(stats, "latest3", "output");
    assert!(view <= bound, "output holds {view} records, more than {bound}: {stats:?}");
    // The plain view holds every row: this is what the retained view would hold without
    // feedback.
    let everything = records(stats, "everything", "output");
    assert!(everything as f64 >= 0.9 * ROWS as f64, "plain view holds only {everything}: {stats:?}");
}

#[test]
fn latest3_state_is_bounded_one_worker() {
    let stats = run(1, "KEEP NONE");
    check_bounded(&stats);
    assert!(!stats.keys().any(|(_, a)| a == "history"), "KEEP NONE must hold no history: {stats:?}");
}

#[test]
fn latest3_state_is_bounded_two_workers() {
    let stats = run(2, "KEEP NONE");
    check_bounded(&stats);
    assert!(!stats.keys().any(|(_, a)| a == "history"), "KEEP NONE must hold no history: {stats:?}");
}

#[test]
fn keep_all_history_holds_every_row() {
    for workers in [1, 2] {
        let stats = run(workers, "KEEP ALL");
        check_bounded(&stats);
        assert_eq!(records(&stats, "r", "history"), ROWS as i64, "workers {workers}: {stats:?}");
    }
}

/// The same plan with its feedback turned off (the baseline of `ebb bench --no-retain`)
/// holds every row in the rule's input, while the view shows the same rows.
#[test]
fn without_feedback_the_rule_input_holds_every_row() {
    let options = SessionOptions { retain_feedback: false, ..SessionOptions::default() };
    let mut s = Session::new(options).unwrap();
    s.execute("CREATE SOURCE r (k BIGINT, v BIGINT, ts BIGINT) TIME ts KEEP NONE; CREATE VIEW latest3 AS SELECT * FROM r RETAIN LATEST 3 PER k DELAY 1;")
        .unwrap();
    for insert in inserts("r") {
        s.execute(&insert).unwrap();
    }
    let stats = stats(&mut s);
    let input = records(&stats, "latest3", "retain input");
    // Thinning still cuts each statement to its best 3 per key before the rule.
    let thinned = (STATEMENTS * KEYS * 3) as i64;
    assert_eq!(input, thinned, "{stats:?}");
    let rows = s.execute("SELECT count(*) FROM latest3;").unwrap();
    assert_eq!(
        rows[0],
        Output::Rows { columns: vec!["count".into()], rows: vec![vec![Datum::Int((KEYS * 3) as i64)]] }
    );
}

/// A row that arrives in the tick an identical row's retraction lands cancels with it in the
/// rule's input, so the rule never sees it arrive: it must still be retracted. Here `(1, 5)`
/// arrives at every time after the first, each never kept (`(1, 9)` is better) and each
/// landing with DELAY 1 just as the next copy arrives.
#[test]
fn a_row_arriving_as_its_twin_is_retracted_is_retracted_too() {
    for workers in [1, 2] {
        let mut s =
            Session::new(SessionOptions { workers, base_dir: ".".into(), ..SessionOptions::default() })
                .unwrap();
        s.execute(
            "CREATE SOURCE r (k BIGINT, v BIGINT, ts BIGINT) TIME ts KEEP NONE;
             CREATE VIEW best AS SELECT k, v FROM r RETAIN TOP 1 PER k BY v DELAY 1;",
        )
        .unwrap();
        s.execute("INSERT INTO r VALUES (1, 9, 0);").unwrap();
        for ts in 1..200 {
            s.execute(&format!("INSERT INTO r VALUES (1, 5, {ts});")).unwrap();
        }
        let stats = stats(&mut s);
        let input = records(&stats, "best", "retain input");
        assert!(input <= 2, "workers {workers}: retain input holds {input} records: {stats:?}");
        let rows = s.execute("SELECT * FROM best;").unwrap();
        assert_eq!(
            rows[0],
            Output::Rows {
                columns: vec!["k".into(), "v".into()],
                rows: vec![vec![Datum::Int(1), Datum::Int(9)]]
            }
        );
    }
}
