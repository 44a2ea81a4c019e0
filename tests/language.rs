//! Language features end to end, through `Session::execute` and the binary: quoted
//! identifiers, `CREATE ... IF NOT EXISTS`, `CREATE OR REPLACE VIEW`, `SHOW setting`, the
//! scalar functions `docs/language.md` documents, and DOUBLE sums that do not depend on the
//! number of workers. (Refusals are snapshot-tested in `tests/errors.rs`.)

use std::path::Path;
use std::process::Command;

use ebb::repr::Datum;
use ebb::{Output, Session, SessionOptions};

fn session_with(workers: usize, base_dir: &Path) -> Session {
    Session::new(SessionOptions { workers, base_dir: base_dir.to_path_buf(), ..SessionOptions::default() })
        .expect("a session starts")
}

fn session() -> Session {
    session_with(1, Path::new("."))
}

fn run(s: &mut Session, sql: &str) -> Vec<Output> {
    s.execute(sql).unwrap_or_else(|e| panic!("{}", e.render(sql, "test.sql")))
}

fn status(s: &mut Session, sql: &str) -> String {
    match run(s, sql).pop() {
        Some(Output::Status(status)) => status,
        other => panic!("expected a status from {sql}, got {other:?}"),
    }
}

/// The column names and rows of the last output of `sql`.
fn table(s: &mut Session, sql: &str) -> (Vec<String>, Vec<Vec<Datum>>) {
    match run(s, sql).pop() {
        Some(Output::Rows { columns, rows }) => (columns, rows),
        other => panic!("expected rows from {sql}, got {other:?}"),
    }
}

fn rows(s: &mut Session, sql: &str) -> Vec<Vec<Datum>> {
    table(s, sql).1
}

fn text(s: &str) -> Datum {
    Datum::Text(s.to_string())
}

#[test]
fn every_documented_scalar_function_works_in_reads_and_views() {
    let mut s = session();
    run(
        &mut s,
        "CREATE SOURCE f (x DOUBLE, n BIGINT, s TEXT, ts BIGINT) TIME ts;
         CREATE VIEW fv AS SELECT trim(s) AS t, floor(x) AS down, ceil(x) AS up, floor(n) AS whole FROM f;
         INSERT INTO f VALUES (-2.4, -3, '  Hi there  ', 1);",
    );
    let (columns, got) = table(
        &mut s,
        "SELECT abs(x), round(x), floor(x), ceil(x), ceiling(x), sqrt(4.0), lower(s), upper(s), length(s),
                char_length(s), trim(s), coalesce(NULL, n), nullif(n, -3), greatest(n, 1), least(n, 1),
                floor(n) + ceil(n) AS ints
         FROM f;",
    );
    assert_eq!(columns[2..5], ["floor", "ceil", "ceiling"]);
    assert_eq!(
        got,
        [vec![
            Datum::Double(2.4),
            Datum::Double(-2.0),
            Datum::Double(-3.0),
            Datum::Double(-2.0),
            Datum::Double(-2.0),
            Datum::Double(2.0),
            text("  hi there  "),
            text("  HI THERE  "),
            Datum::Int(12),
            Datum::Int(12),
            text("Hi there"),
            Datum::Int(-3),
            Datum::Null,
            Datum::Int(1),
            Datum::Int(-3),
            Datum::Int(-6),
        ]]
    );
    assert_eq!(
        rows(&mut s, "SELECT * FROM fv;"),
        [vec![text("Hi there"), Datum::Double(-3.0), Datum::Double(-2.0), Datum::Int(-3)]]
    );
    // Inside an aggregate's result, too.
    assert_eq!(rows(&mut s, "SELECT floor(sum(x)) FROM f;"), [vec![Datum::Double(-3.0)]]);
}

#[test]
fn quoted_identifiers_keep_their_case_and_unquoted_ones_fold() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("m.csv"), "5,50\n").unwrap();
    let mut s = session_with(1, dir.path());
    run(
        &mut s,
        "CREATE SOURCE Plain (K BIGINT, ts BIGINT) TIME ts;
         INSERT INTO \"plain\" VALUES (1, 10);
         CREATE SOURCE \"Mixed\" (\"Val\" BIGINT, ts BIGINT) TIME ts;
         INSERT INTO \"Mixed\" (\"Val\", ts) VALUES (2, 20);
         COPY \"Mixed\" FROM 'm.csv';",
    );
    // Unquoted names fold to lower case, so `"plain"` and `PLAIN` both name `Plain`.
    assert_eq!(rows(&mut s, "SELECT k FROM \"plain\";"), [vec![Datum::Int(1)]]);
    assert_eq!(rows(&mut s, "SELECT \"k\" FROM PLAIN p WHERE P.K = 1;"), [vec![Datum::Int(1)]]);
    // A quoted name keeps its case: `"Plain"` is another name, and so are `mixed`, `"mixed"`.
    for missing in ["SELECT * FROM \"Plain\";", "SELECT * FROM mixed;", "SELECT * FROM \"mixed\";"] {
        let e = s.execute(missing).expect_err(missing);
        assert!(e.message().contains("not found"), "{missing}: {e}");
    }
    let e = s.execute("SELECT val FROM \"Mixed\";").expect_err("val is not Val");
    assert!(e.message().contains("column \"val\" not found"), "{e}");
    let (columns, got) =
        table(&mut s, "SELECT \"Val\", m.\"Val\" + 1 AS \"Next\" FROM \"Mixed\" m ORDER BY \"Val\";");
    assert_eq!(columns, ["Val", "Next"]);
    assert_eq!(got, [vec![Datum::Int(2), Datum::Int(3)], vec![Datum::Int(5), Datum::Int(6)]]);

    // Views, EXPLAIN VIEW, SUBSCRIBE and DROP find quoted names the same way.
    run(&mut s, "CREATE VIEW \"Big\" AS SELECT \"Val\" AS \"Out\", ts FROM \"Mixed\" WHERE \"Val\" > 2;");
    assert_eq!(table(&mut s, "SELECT * FROM \"Big\";").0, ["Out", "ts"]);
    assert!(matches!(run(&mut s, "EXPLAIN VIEW \"Big\";").pop(), Some(Output::Text(_))));
    assert!(s.execute("EXPLAIN VIEW big;").is_err());
    let streamed = run(&mut s, "SUBSCRIBE \"Big\" FOR 1 MILLISECONDS;");
    assert!(matches!(&streamed[0], Output::Rows { rows, .. } if rows.len() == 1), "{streamed:?}");
    assert!(s.execute("DROP VIEW big;").is_err());
    status(&mut s, "DROP VIEW \"Big\";");
    status(&mut s, "DROP SOURCE \"Mixed\";");
    status(&mut s, "DROP SOURCE plain;");
    assert!(rows(&mut s, "SHOW SOURCES;").is_empty());
}

#[test]
fn create_if_not_exists_skips_an_existing_name() {
    let mut s = session();
    run(
        &mut s,
        "CREATE SOURCE r (k BIGINT, ts BIGINT) TIME ts;
         CREATE VIEW v AS SELECT k FROM r;
         INSERT INTO r VALUES (1, 1);",
    );
    assert_eq!(
        status(&mut s, "CREATE SOURCE IF NOT EXISTS r (other TEXT, ts BIGINT) TIME ts;"),
        "CREATE SOURCE (skipped: source \"r\" already exists)"
    );
    assert_eq!(
        status(&mut s, "CREATE SOURCE IF NOT EXISTS v FROM GENERATOR sensors;"),
        "CREATE SOURCE (skipped: view \"v\" already exists)"
    );
    assert_eq!(
        status(&mut s, "CREATE VIEW IF NOT EXISTS v AS SELECT ts FROM r;"),
        "CREATE VIEW (skipped: view \"v\" already exists)"
    );
    // Nothing changed.
    assert_eq!(table(&mut s, "SELECT * FROM v;"), (vec!["k".to_string()], vec![vec![Datum::Int(1)]]));
    assert_eq!(rows(&mut s, "SHOW SOURCES;")[0][1], text("k BIGINT, ts BIGINT"));
    // Without the name taken, it creates.
    assert_eq!(status(&mut s, "CREATE VIEW IF NOT EXISTS w AS SELECT ts FROM r;"), "CREATE VIEW");
    assert_eq!(status(&mut s, "CREATE SOURCE IF NOT EXISTS q (ts BIGINT) TIME ts;"), "CREATE SOURCE");
    assert_eq!(rows(&mut s, "SELECT * FROM w;"), [vec![Datum::Int(1)]]);
}

#[test]
fn create_or_replace_view_replaces_atomically() {
    let mut s = session();
    run(
        &mut s,
        "CREATE SOURCE r (k BIGINT, v BIGINT, ts BIGINT) TIME ts;
         INSERT INTO r VALUES (1, 10, 1), (1, 11, 2), (2, 20, 3);",
    );
    // Without a view of that name, it creates one.
    assert_eq!(status(&mut s, "CREATE OR REPLACE VIEW latest AS SELECT k, v FROM r;"), "CREATE VIEW");
    assert_eq!(rows(&mut s, "SELECT count(*) FROM latest;"), [vec![Datum::Int(3)]]);

    // A new definition that does not bind leaves the old view as it was.
    assert!(s.execute("CREATE OR REPLACE VIEW latest AS SELECT nope FROM r;").is_err());
    assert!(s.execute("CREATE OR REPLACE VIEW latest AS SELECT * FROM latest;").is_err());
    assert_eq!(rows(&mut s, "SELECT count(*) FROM latest;"), [vec![Datum::Int(3)]]);

    // Replaced: new columns, a rule, the rows so far, and the old dataflow gone.
    assert_eq!(
        status(&mut s, "CREATE OR REPLACE VIEW latest AS SELECT k, ts FROM r RETAIN LATEST 1 PER k;"),
        "CREATE VIEW (replaced)"
    );
    run(&mut s, "INSERT INTO r VALUES (2, 21, 4);");
    let (columns, got) = table(&mut s, "SELECT * FROM latest ORDER BY k;");
    assert_eq!(columns, ["k", "ts"]);
    assert_eq!(got, [vec![Datum::Int(1), Datum::Int(2)], vec![Datum::Int(2), Datum::Int(4)]]);
    let views = rows(&mut s, "SHOW VIEWS;");
    assert_eq!(views.len(), 1);
    assert!(matches!(&views[0][3], Datum::Text(sql) if sql.contains("RETAIN LATEST 1")), "{views:?}");
    let stats = rows(&mut s, "SHOW STATS;");
    assert!(stats.iter().any(|row| row[1] == text("retain input")), "{stats:?}");
    assert!(stats.iter().all(|row| row[0] == text("latest") || row[0] == text("r")), "{stats:?}");
}

#[test]
fn show_returns_the_current_value_of_every_setting() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = session_with(2, dir.path());
    let value = |s: &mut Session, sql: &str| rows(s, sql).remove(0).remove(0);
    assert_eq!(
        table(&mut s, "SHOW memory_budget;"),
        (vec!["memory_budget".into()], vec![vec![text("unlimited")]])
    );
    for (set, shown) in [
        ("SET memory_budget = '64MB';", "64MB"),
        ("SET memory_budget TO 1536;", "1536B"),
        ("SET memory_budget = '1536kB';", "1536kB"),
        ("SET memory_budget = 0;", "0"),
        ("SET memory_budget = '2GiB';", "2GB"),
        ("SET memory_budget = 'unlimited';", "unlimited"),
    ] {
        run(&mut s, set);
        assert_eq!(value(&mut s, "SHOW MEMORY_BUDGET;"), text(shown), "{set}");
    }
    run(&mut s, "SET spill_dir = 'spilled';");
    let spill_dir = dir.path().join("spilled").display().to_string();
    assert_eq!(value(&mut s, "SHOW spill_dir;"), text(&spill_dir));
    let (columns, all) = table(&mut s, "SHOW ALL;");
    assert_eq!(columns, ["name", "setting", "description"]);
    let settings: Vec<_> = all.iter().map(|row| (row[0].clone(), row[1].clone())).collect();
    assert_eq!(settings, [(text("memory_budget"), text("unlimited")), (text("spill_dir"), text(&spill_dir))]);
}

#[test]
fn show_memory_budget_through_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("show.sql");
    std::fs::write(&script, "SHOW memory_budget;\nSET memory_budget = '8MB';\nSHOW memory_budget;\n")
        .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_ebb"))
        .args(["run", &script.display().to_string(), "--format", "csv", "--memory-budget", "256MB"])
        .output()
        .expect("ebb runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(stdout.replace("\r\n", "\n"), "memory_budget\n256MB\n\nmemory_budget\n8MB\n");
}

/// Values whose float sum depends on the order they are added in.
const AWKWARD: [f64; 8] = [0.1, 1e16, 3.3, -1e16, 0.2, 1.0, 0.3, -7.7e-3];

/// Aggregates over the same rows, read three ways (a view folding per group, a view over a
/// rule recomputing per group, and a read), with `workers` workers.
fn sums(workers: usize) -> Vec<Output> {
    let mut s = session_with(workers, Path::new("."));
    let values: Vec<String> = (0..400)
        .map(|i| format!("({}, {:e}, {i})", i % 3, AWKWARD[i % AWKWARD.len()] * (1 + i / 8) as f64))
        .collect();
    run(
        &mut s,
        &format!(
            "CREATE SOURCE r (k BIGINT, x DOUBLE, ts BIGINT) TIME ts;
             CREATE VIEW folded AS SELECT k, sum(x) AS total, avg(x) AS mean FROM r GROUP BY k;
             CREATE VIEW kept AS SELECT * FROM r RETAIN LATEST 100 PER k;
             CREATE VIEW recomputed AS SELECT k, sum(x) AS total, avg(x) AS mean FROM kept GROUP BY k;
             INSERT INTO r VALUES {};",
            values.join(", ")
        ),
    );
    run(
        &mut s,
        "SELECT * FROM folded ORDER BY k;
         SELECT * FROM recomputed ORDER BY k;
         SELECT k, sum(x), avg(x) FROM r GROUP BY k ORDER BY k;",
    )
}

#[test]
fn double_sums_are_exact_and_the_same_with_any_number_of_workers() {
    let one = sums(1);
    let two = sums(2);
    assert_eq!(format!("{one:?}"), format!("{two:?}"));
    assert_eq!(one.len(), 3);

    let mut s = session_with(2, Path::new("."));
    run(
        &mut s,
        "CREATE SOURCE r (k BIGINT, x DOUBLE, ts BIGINT) TIME ts;
         CREATE VIEW totals AS SELECT k, sum(x) AS total FROM r GROUP BY k;
         INSERT INTO r VALUES (1, 1e16, 1), (1, 1.0, 2), (1, -1e16, 3), (2, 0.1, 4), (2, 0.2, 5), (2, 0.3, 6);",
    );
    // Exact sums rounded once: added up as floats in any order, 1e16 swallows the 1.0, and
    // 0.1 + 0.2 + 0.3 is 0.6000000000000001.
    let expected = [vec![Datum::Int(1), Datum::Double(1.0)], vec![Datum::Int(2), Datum::Double(0.6)]];
    assert_eq!(rows(&mut s, "SELECT * FROM totals ORDER BY k;"), expected);
    assert_eq!(rows(&mut s, "SELECT k, sum(x) FROM r GROUP BY k ORDER BY k;"), expected);
}

#[test]
fn drop_hints_at_a_name_that_differs_only_in_case() {
    let mut s = session();
    run(&mut s, "CREATE SOURCE \"Readings\" (ts BIGINT) TIME ts;");
    let e = s.execute("DROP SOURCE readings;").expect_err("readings is not \"Readings\"");
    assert!(e.message().contains("source \"readings\" not found"), "{e}");
    assert!(e.render("DROP SOURCE readings;", "test.sql").contains("there is \"Readings\""), "{e}");
    assert_eq!(status(&mut s, "DROP SOURCE IF EXISTS readings;"), "DROP SOURCE (did not exist)");
    assert_eq!(status(&mut s, "DROP SOURCE \"Readings\";"), "DROP SOURCE");
}
