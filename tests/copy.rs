//! Data in: `COPY` checks a header and maps its names to columns, skips a byte-order mark,
//! names the right line, says when a quote is never closed, and refuses a line without end;
//! scripts may start with a byte-order mark; the smallest BIGINT is a BIGINT.

use ebb::error::Stage;
use ebb::repr::Datum;
use ebb::{Output, Session, SessionOptions};

const SOURCE: &str = "CREATE SOURCE readings (sensor BIGINT, value DOUBLE, ts BIGINT) TIME ts;";

fn session_with(csv: &str) -> (tempfile::TempDir, Session) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("data.csv"), csv).unwrap();
    let mut s =
        Session::new(SessionOptions { base_dir: dir.path().to_path_buf(), ..SessionOptions::default() })
            .unwrap();
    s.execute(SOURCE).unwrap();
    (dir, s)
}

fn rows(s: &mut Session, sql: &str) -> Vec<Vec<Datum>> {
    match s.execute(sql).unwrap().pop() {
        Some(Output::Rows { rows, .. }) => rows,
        other => panic!("expected rows, got {other:?}"),
    }
}

/// COPY `csv`, which must fail and load nothing; the error rendered, temp paths as "<tmp>".
fn copy_fails(csv: &str, options: &str) -> String {
    let (dir, mut s) = session_with(csv);
    let sql = format!("COPY readings FROM 'data.csv'{options};");
    let e = s.execute(&sql).expect_err("the COPY fails");
    assert_eq!(e.stage(), Stage::Data);
    assert_eq!(rows(&mut s, "SELECT count(*) FROM readings;"), vec![vec![Datum::Int(0)]]);
    e.render(&sql, "test.sql").replace(&dir.path().display().to_string(), "<tmp>")
}

fn row(sensor: i64, value: f64, ts: i64) -> Vec<Datum> {
    vec![Datum::Int(sensor), Datum::Double(value), Datum::Int(ts)]
}

#[test]
fn header_names_are_mapped_to_columns_in_any_order() {
    let (_dir, mut s) = session_with("ts,value,sensor\n100,20.5,1\n105,19.0,2\n");
    s.execute("COPY readings FROM 'data.csv' WITH (HEADER true);").unwrap();
    assert_eq!(
        rows(&mut s, "SELECT * FROM readings ORDER BY sensor;"),
        vec![row(1, 20.5, 100), row(2, 19.0, 105)]
    );
}

#[test]
fn header_with_an_unknown_name() {
    insta::assert_snapshot!(copy_fails("sensor,value,time\n1,2.0,3\n", " WITH (HEADER true)"));
}

#[test]
fn header_missing_a_column() {
    insta::assert_snapshot!(copy_fails("sensor,ts\n1,3\n", " WITH (HEADER true)"));
}

#[test]
fn header_naming_a_column_twice() {
    insta::assert_snapshot!(copy_fails("sensor,ts,sensor\n1,3,1\n", " WITH (HEADER true)"));
}

#[test]
fn a_header_read_as_data_gets_a_hint() {
    insta::assert_snapshot!(copy_fails("sensor,value,ts\n1,2.0,3\n", ""));
}

#[test]
fn a_bad_first_data_row_names_its_line() {
    let with_header = copy_fails("sensor,value,ts\n1,oops,3\n", " WITH (HEADER true)");
    assert!(with_header.contains("data.csv:2:3: cannot read \"oops\""), "{with_header}");
    let without = copy_fails("1,oops,3\n", "");
    assert!(without.contains("data.csv:1:3: cannot read \"oops\""), "{without}");
}

#[test]
fn an_unterminated_quote_says_so() {
    insta::assert_snapshot!(copy_fails("1,2.0,3\n4,\"5.0,6\n7,8.0,9\n", ""));
}

#[test]
fn a_byte_order_mark_is_skipped() {
    let (_dir, mut s) = session_with("\u{feff}sensor,value,ts\n1,20.5,100\n");
    s.execute("COPY readings FROM 'data.csv' WITH (HEADER true);").unwrap();
    let (_dir, mut without_header) = session_with("\u{feff}1,20.5,100\n");
    without_header.execute("COPY readings FROM 'data.csv';").unwrap();
    for s in [&mut s, &mut without_header] {
        assert_eq!(rows(s, "SELECT * FROM readings;"), vec![row(1, 20.5, 100)]);
    }
}

#[test]
fn a_script_may_start_with_a_byte_order_mark() {
    let mut s = Session::new(SessionOptions::default()).unwrap();
    s.execute(&format!("\u{feff}{SOURCE} INSERT INTO readings VALUES (1, 2.0, 3);")).unwrap();
    assert_eq!(rows(&mut s, "SELECT * FROM readings;"), vec![row(1, 2.0, 3)]);
    // Columns still count the text as given.
    let sql = "\u{feff}SELECT nope FROM readings;";
    let rendered = s.execute(sql).expect_err("unknown column").render(sql, "test.sql");
    assert!(rendered.contains("test.sql:1:9"), "{rendered}");
}

/// A file that never ends a line is refused once the line passes the limit, not read into
/// memory until the process dies.
#[test]
fn a_line_without_end_is_refused() {
    let (_dir, mut s) = session_with("");
    let e = s.execute("COPY readings FROM '/dev/zero';").expect_err("no line ends");
    assert!(e.message().contains("line 1 is longer than 64 MiB"), "{}", e.message());
    assert_eq!(rows(&mut s, "SELECT count(*) FROM readings;"), vec![vec![Datum::Int(0)]]);
}

#[test]
fn the_smallest_bigint_is_a_bigint() {
    let mut s = Session::new(SessionOptions::default()).unwrap();
    s.execute(
        "CREATE SOURCE r (k BIGINT, ts BIGINT) TIME ts; INSERT INTO r VALUES (-9223372036854775808, 1);",
    )
    .unwrap();
    assert_eq!(
        rows(&mut s, "SELECT k, k = -9223372036854775808 FROM r;"),
        vec![vec![Datum::Int(i64::MIN), Datum::Bool(true)]]
    );
}

#[test]
fn header_names_match_ignoring_case_and_spaces() {
    let (_dir, mut s) = session_with("Sensor, VALUE ,ts\n1,20.5,100\n");
    s.execute("COPY readings FROM 'data.csv' WITH (HEADER true);").unwrap();
    assert_eq!(rows(&mut s, "SELECT * FROM readings;"), vec![row(1, 20.5, 100)]);
}

/// Lines are counted as a text editor counts them, whatever the line endings and blank lines.
#[test]
fn a_bad_row_names_its_line_after_crlf_and_blank_lines() {
    let crlf = copy_fails("1,1.0,1\r\n2,2.0,2\r\nx,3.0,3\r\n", "");
    assert!(crlf.contains("data.csv:3:1: cannot read \"x\""), "{crlf}");
    let blank = copy_fails("sensor,value,ts\n1,1.0,1\n\n\nx,2.0,2\n", " WITH (HEADER true)");
    assert!(blank.contains("data.csv:5:1: cannot read \"x\""), "{blank}");
    let quoted = copy_fails("1,1.0,1\n\"2\n\",2.0,2\n3,oops,3\n", "");
    assert!(quoted.contains("data.csv:4:3: cannot read \"oops\""), "{quoted}");
}
