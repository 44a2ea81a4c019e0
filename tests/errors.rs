//! Bad input gives a clear error, never a panic, and a failed statement changes nothing.
//! Rendered errors are snapshot-tested (origin "test.sql"; temp paths shown as "<tmp>").

use std::collections::BTreeMap;
use std::path::Path;

use ebb::error::Stage;
use ebb::repr::Datum;
use ebb::{Output, Session, SessionOptions};

const SETUP: &str = "
CREATE SOURCE r (k BIGINT, v BIGINT, ts BIGINT) TIME ts;
CREATE SOURCE t (id BIGINT, note TEXT, ts BIGINT) TIME ts KEEP NONE;
CREATE VIEW w AS SELECT * FROM r RETAIN LATEST 2 PER k DELAY 1;
CREATE VIEW everything AS SELECT * FROM r;
";

fn session_in(base_dir: &Path) -> Session {
    let mut s = Session::new(SessionOptions {
        workers: 1,
        base_dir: base_dir.to_path_buf(),
        ..SessionOptions::default()
    })
    .unwrap();
    s.execute(SETUP).unwrap();
    s
}

fn session() -> Session {
    session_in(Path::new("."))
}

/// Run `sql`, which must fail; return the error rendered against `sql` as "test.sql".
fn fail(s: &mut Session, sql: &str) -> (ebb::Error, String) {
    match s.execute(sql) {
        Ok(outputs) => panic!("expected an error from {sql:?}, got {outputs:?}"),
        Err(e) => {
            let rendered = e.render(sql, "test.sql");
            (e, rendered)
        }
    }
}

fn rows(s: &mut Session, sql: &str) -> Vec<Vec<Datum>> {
    match s.execute(sql).unwrap().pop() {
        Some(Output::Rows { rows, .. }) => rows,
        other => panic!("expected rows, got {other:?}"),
    }
}

/// `SHOW STATS` records per (object, arrangement).
fn stats(s: &mut Session) -> BTreeMap<(String, String), i64> {
    rows(s, "SHOW STATS;")
        .into_iter()
        .map(|row| match &row[..3] {
            [Datum::Text(o), Datum::Text(a), Datum::Int(n)] => ((o.clone(), a.clone()), *n),
            other => panic!("unexpected stats row {other:?}"),
        })
        .collect()
}

fn held(s: &mut Session, object: &str, arrangement: &str) -> i64 {
    stats(s).get(&(object.to_string(), arrangement.to_string())).copied().unwrap_or(0)
}

/// The `frontier` column of `SHOW SOURCES` for `source`.
fn frontier(s: &mut Session, source: &str) -> Datum {
    let Some(Output::Rows { columns, rows }) = s.execute("SHOW SOURCES;").unwrap().pop() else {
        panic!("SHOW SOURCES returns rows")
    };
    let at = columns.iter().position(|c| c == "frontier").expect("a frontier column");
    rows.into_iter().find(|r| r[0] == Datum::Text(source.into())).expect("the source is listed")[at].clone()
}

#[test]
fn syntax_error_points_at_the_token() {
    let mut s = session();
    let (e, rendered) = fail(&mut s, "CREATE SORCE q (k BIGINT, ts BIGINT) TIME ts;");
    assert_eq!(e.stage(), Stage::Parse);
    insta::assert_snapshot!(rendered);
}

#[test]
fn syntax_error_in_retain_clause() {
    let mut s = session();
    let (e, rendered) = fail(&mut s, "CREATE VIEW x AS SELECT * FROM r\n  RETAIN LATEST PER k;");
    assert_eq!(e.stage(), Stage::Parse);
    insta::assert_snapshot!(rendered);
}

#[test]
fn a_script_that_does_not_parse_runs_nothing() {
    let mut s = session();
    let sql = "CREATE SOURCE q (k BIGINT, ts BIGINT) TIME ts;\nINSERT INTO r VALUES (1, 1, 1);\n\
               CREATE VIEW x AS SELECT * FROM r RETAIN LATEST PER k;";
    let (e, rendered) = fail(&mut s, sql);
    assert_eq!(e.stage(), Stage::Parse);
    insta::assert_snapshot!(rendered);
    // Neither the source nor the row exists: the first statement may be run again.
    s.execute("CREATE SOURCE q (k BIGINT, ts BIGINT) TIME ts;").unwrap();
    assert_eq!(held(&mut s, "everything", "output"), 0);
}

/// An unknown statement keyword after an earlier statement must point at the keyword.
#[test]
fn unknown_statement_keyword_after_a_statement() {
    let mut s = session();
    let sql = "SELECT * FROM w;\nSELEC * FROM r;";
    let (e, rendered) = fail(&mut s, sql);
    assert_eq!(e.stage(), Stage::Parse);
    assert!(rendered.contains("found \"SELEC\""), "{rendered}");
    assert!(rendered.contains("--> test.sql:2:1\n"), "{rendered}");
}

#[test]
fn unknown_source_in_insert() {
    let mut s = session();
    let (e, rendered) = fail(&mut s, "INSERT INTO nope VALUES (1, 2, 3);");
    assert_eq!(e.stage(), Stage::Bind);
    insta::assert_snapshot!(rendered);
}

#[test]
fn unknown_view_in_select() {
    let mut s = session();
    let (e, rendered) = fail(&mut s, "SELECT *\nFROM nope;");
    assert_eq!(e.stage(), Stage::Bind);
    insta::assert_snapshot!(rendered);
}

#[test]
fn unknown_column_in_view() {
    let mut s = session();
    let (e, rendered) = fail(&mut s, "CREATE VIEW x AS SELECT k, nope FROM r;");
    assert_eq!(e.stage(), Stage::Bind);
    insta::assert_snapshot!(rendered);
    // The failed view does not exist; the name is still free.
    s.execute("CREATE VIEW x AS SELECT k FROM r;").unwrap();
}

#[test]
fn unknown_column_in_retain_key() {
    let mut s = session();
    let (e, rendered) = fail(&mut s, "CREATE VIEW x AS SELECT * FROM r RETAIN LATEST 1 PER sensor;");
    assert_eq!(e.stage(), Stage::Bind);
    insta::assert_snapshot!(rendered);
}

#[test]
fn unknown_view_in_explain() {
    let mut s = session();
    let (_, rendered) = fail(&mut s, "EXPLAIN VIEW nope;");
    insta::assert_snapshot!(rendered);
}

#[test]
fn text_into_bigint() {
    let mut s = session();
    let (e, rendered) = fail(&mut s, "INSERT INTO r VALUES (1, 2, 3), ('x', 2, 4);");
    assert!(matches!(e.stage(), Stage::Bind | Stage::Data), "{e:?}");
    insta::assert_snapshot!(rendered);
    assert_eq!(held(&mut s, "everything", "output"), 0, "nothing of the statement was applied");
}

#[test]
fn wrong_number_of_values() {
    let mut s = session();
    let (_, rendered) = fail(&mut s, "INSERT INTO r VALUES (1, 2);");
    insta::assert_snapshot!(rendered);
}

#[test]
fn where_on_a_non_boolean() {
    let mut s = session();
    let (e, rendered) = fail(&mut s, "CREATE VIEW x AS SELECT * FROM r WHERE v + 1;");
    assert_eq!(e.stage(), Stage::Bind);
    insta::assert_snapshot!(rendered);
}

#[test]
fn comparing_text_with_a_number() {
    let mut s = session();
    let (e, rendered) = fail(&mut s, "CREATE VIEW x AS SELECT * FROM t WHERE note = 1;");
    assert_eq!(e.stage(), Stage::Bind);
    insta::assert_snapshot!(rendered);
}

#[test]
fn reading_a_keep_none_source() {
    let mut s = session();
    let (e, rendered) = fail(&mut s, "SELECT * FROM t;");
    assert_eq!(e.stage(), Stage::Bind);
    insta::assert_snapshot!(rendered);
}

/// The batch contract puts line, column and a caret under every error; this one has no span.
#[test]
fn reading_a_keep_none_source_points_at_the_name() {
    let mut s = session();
    let (e, rendered) = fail(&mut s, "SELECT *\nFROM t;");
    assert!(e.span().is_some(), "{rendered}");
    assert!(rendered.contains("--> test.sql:2:6"), "{rendered}");
}

#[test]
fn retain_over_a_retaining_view_is_refused() {
    let mut s = session();
    let (e, rendered) = fail(&mut s, "CREATE VIEW x AS SELECT * FROM w RETAIN TOP 1 PER k BY v;");
    assert_eq!(e.stage(), Stage::Bind);
    insta::assert_snapshot!(rendered);
}

#[test]
fn negative_time_is_refused() {
    let mut s = session();
    let (e, rendered) = fail(&mut s, "INSERT INTO r VALUES (1, 1, -5);");
    assert_eq!(e.stage(), Stage::Data);
    insta::assert_snapshot!(rendered);
}

#[test]
fn drop_source_with_dependents_is_refused() {
    let mut s = session();
    let (_, rendered) = fail(&mut s, "DROP SOURCE r;");
    insta::assert_snapshot!(rendered);
}

/// A late row in a multi-row INSERT: the error names the row, its time and the frontier; no
/// row of the statement is applied and the frontier stays where it was.
#[test]
fn late_row_fails_the_whole_statement() {
    let mut s = session();
    s.execute("INSERT INTO r VALUES (1, 10, 100), (2, 20, 105);").unwrap();
    assert_eq!(held(&mut s, "everything", "output"), 2);
    let before = frontier(&mut s, "r");
    assert_eq!(before, Datum::Int(106));

    let sql = "INSERT INTO r VALUES\n  (1, 11, 200),\n  (3, 30, 50),\n  (1, 12, 201);";
    let (e, rendered) = fail(&mut s, sql);
    assert_eq!(e.stage(), Stage::Data);
    assert!(e.message().contains("50") && e.message().contains("106"), "{}", e.message());
    insta::assert_snapshot!(rendered);

    assert_eq!(held(&mut s, "everything", "output"), 2, "no row of the failed statement was applied");
    assert_eq!(frontier(&mut s, "r"), before, "the frontier did not move");
    // A row between the old frontier and the failed statement's newest time is still on time.
    s.execute("INSERT INTO r VALUES (1, 13, 150);").unwrap();
    assert_eq!(held(&mut s, "everything", "output"), 3);
}

/// The same as above, through reads of the views.
#[test]
fn late_row_leaves_views_unchanged() {
    let mut s = session();
    s.execute("INSERT INTO r VALUES (1, 10, 100), (1, 11, 101), (2, 20, 105);").unwrap();
    let view = rows(&mut s, "SELECT * FROM w ORDER BY k, ts;");
    assert_eq!(view.len(), 3);
    fail(&mut s, "INSERT INTO r VALUES (1, 12, 200), (3, 30, 50);");
    assert_eq!(rows(&mut s, "SELECT * FROM w ORDER BY k, ts;"), view);
    s.execute("INSERT INTO r VALUES (1, 13, 150);").unwrap();
    let after = rows(&mut s, "SELECT k, v, ts FROM w ORDER BY k, ts;");
    let int = |v: i64| Datum::Int(v);
    assert_eq!(
        after,
        vec![
            vec![int(1), int(11), int(101)],
            vec![int(1), int(13), int(150)],
            vec![int(2), int(20), int(105)]
        ]
    );
}

#[test]
fn late_row_with_lateness() {
    let mut s = session();
    s.execute("CREATE SOURCE l (k BIGINT, ts BIGINT) TIME ts LATENESS 10; INSERT INTO l VALUES (1, 100);")
        .unwrap();
    // 95 is within LATENESS 10 of 100; 80 is not.
    s.execute("INSERT INTO l VALUES (1, 95);").unwrap();
    let (e, rendered) = fail(&mut s, "INSERT INTO l VALUES (1, 80);");
    assert_eq!(e.stage(), Stage::Data);
    insta::assert_snapshot!(rendered);
}

/// COPY `csv` into `r` after `prelude` ran; the COPY must fail and apply nothing.
fn copy_error(prelude: &str, csv: &str, header: bool) -> String {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("data.csv"), csv).unwrap();
    let mut s = session_in(dir.path());
    s.execute(prelude).unwrap();
    let before = held(&mut s, "everything", "output");
    let with = if header { " WITH (HEADER true)" } else { "" };
    let (e, rendered) = fail(&mut s, &format!("COPY r FROM 'data.csv'{with};"));
    assert_eq!(e.stage(), Stage::Data);
    assert_eq!(held(&mut s, "everything", "output"), before, "nothing of the COPY was applied");
    rendered.replace(&dir.path().display().to_string(), "<tmp>")
}

#[test]
fn csv_bad_value_names_line_and_column() {
    insta::assert_snapshot!(copy_error("", "k,v,ts\n1,2,3\n4,five,6\n", true));
}

#[test]
fn csv_wrong_field_count() {
    insta::assert_snapshot!(copy_error("", "1,2,3\n4,5\n", false));
}

#[test]
fn csv_late_row_names_file_line() {
    insta::assert_snapshot!(copy_error("INSERT INTO r VALUES (1, 1, 20);", "1,2,30\n4,5,10\n", false));
}

#[test]
fn missing_file_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = session_in(dir.path());
    let (e, rendered) = fail(&mut s, "COPY r FROM 'no/such.csv';");
    assert_eq!(e.stage(), Stage::Io);
    assert!(e.message().contains("such.csv"), "{}", e.message());
    insta::assert_snapshot!(rendered.replace(&dir.path().display().to_string(), "<tmp>"));
}

/// Sources for the rule errors below: two joinable pairs and a third input.
const RULE_SOURCES: &str = "
CREATE SOURCE sends (flow BIGINT, seq BIGINT, note TEXT, ts BIGINT) TIME ts;
CREATE SOURCE recvs (flow BIGINT, seq BIGINT, ts BIGINT) TIME ts;
CREATE SOURCE acks (flow BIGINT, seq BIGINT, ts BIGINT) TIME ts;
CREATE SOURCE auctions (id BIGINT, seller TEXT, expires BIGINT, ts BIGINT) TIME ts;
CREATE SOURCE bids (auction BIGINT, bidder BIGINT, price BIGINT, ts BIGINT) TIME ts;
";

/// Run `sql` after `RULE_SOURCES`; it must fail at bind time (never panic) and create nothing.
fn rule_error(sql: &str) -> String {
    let mut s = session();
    s.execute(RULE_SOURCES).unwrap();
    let (e, rendered) = fail(&mut s, sql);
    assert_eq!(e.stage(), Stage::Bind, "{rendered}");
    // The failed view does not exist: the name is still free.
    s.execute("CREATE VIEW x AS SELECT * FROM recvs;").unwrap();
    rendered
}

#[test]
fn unmatched_over_a_join_without_equality() {
    let rendered = rule_error(
        "CREATE VIEW x AS SELECT s.flow FROM sends s JOIN recvs r ON s.ts < r.ts RETAIN UNMATCHED;",
    );
    assert!(rendered.to_lowercase().contains("equal"), "{rendered}");
    insta::assert_snapshot!(rendered);
}

#[test]
fn unmatched_over_three_inputs() {
    let rendered = rule_error(
        "CREATE VIEW x AS SELECT s.flow FROM sends s JOIN recvs r ON r.flow = s.flow \
         JOIN acks a ON a.flow = s.flow RETAIN UNMATCHED;",
    );
    assert!(rendered.contains("two"), "{rendered}");
    insta::assert_snapshot!(rendered);
}

#[test]
fn unmatched_over_a_single_source() {
    let rendered = rule_error("CREATE VIEW x AS SELECT * FROM recvs RETAIN UNMATCHED;");
    assert!(rendered.to_lowercase().contains("join"), "{rendered}");
    insta::assert_snapshot!(rendered);
}

const WINNER_FROM: &str =
    "CREATE VIEW x AS SELECT a.id, b.price FROM auctions a JOIN bids b ON b.auction = a.id";

#[test]
fn winner_close_at_unknown_column() {
    let rendered = rule_error(&format!("{WINNER_FROM} RETAIN WINNER PER a.id BY b.price CLOSE AT a.closes;"));
    assert!(rendered.contains("closes"), "{rendered}");
    insta::assert_snapshot!(rendered);
}

#[test]
fn winner_close_at_text() {
    let rendered = rule_error(&format!("{WINNER_FROM} RETAIN WINNER PER a.id BY b.price CLOSE AT a.seller;"));
    assert!(rendered.contains("BIGINT"), "{rendered}");
    insta::assert_snapshot!(rendered);
}

#[test]
fn winner_close_at_both_sides() {
    let rendered =
        rule_error(&format!("{WINNER_FROM} RETAIN WINNER PER a.id BY b.price CLOSE AT a.expires + b.ts;"));
    assert!(rendered.contains("side"), "{rendered}");
    insta::assert_snapshot!(rendered);
}

#[test]
fn winner_per_not_the_join_key() {
    let rendered =
        rule_error(&format!("{WINNER_FROM} RETAIN WINNER PER b.bidder BY b.price CLOSE AT a.expires;"));
    assert!(rendered.contains("key"), "{rendered}");
    insta::assert_snapshot!(rendered);
}

#[test]
fn winner_over_a_retracting_view() {
    let mut s = session();
    s.execute(RULE_SOURCES).unwrap();
    s.execute("CREATE VIEW latest_bids AS SELECT * FROM bids RETAIN LATEST 1 PER auction;").unwrap();
    let (e, rendered) = fail(
        &mut s,
        "CREATE VIEW x AS SELECT a.id, b.price FROM auctions a JOIN latest_bids b ON b.auction = a.id \
         RETAIN WINNER PER a.id BY b.price CLOSE AT a.expires;",
    );
    assert_eq!(e.stage(), Stage::Bind, "{rendered}");
    assert!(rendered.contains("append-only"), "{rendered}");
    insta::assert_snapshot!(rendered);
}

#[test]
fn retain_with_group_by() {
    let rendered = rule_error(
        "CREATE VIEW x AS SELECT flow, count(*) AS n FROM recvs GROUP BY flow RETAIN LATEST 1 PER flow;",
    );
    assert!(rendered.contains("GROUP BY"), "{rendered}");
    insta::assert_snapshot!(rendered);
}

/// The error names the input that retracts, not the join's other side.
#[test]
fn winner_over_a_retracting_view_names_it() {
    let mut s = session();
    s.execute(RULE_SOURCES).unwrap();
    s.execute("CREATE VIEW latest_bids AS SELECT * FROM bids RETAIN LATEST 1 PER auction;").unwrap();
    let (_, rendered) = fail(
        &mut s,
        "CREATE VIEW x AS SELECT a.id, b.price FROM auctions a JOIN latest_bids b ON b.auction = a.id \
         RETAIN WINNER PER a.id BY b.price CLOSE AT a.expires;",
    );
    assert!(rendered.contains("\"latest_bids\" can retract"), "{rendered}");
}

/// A failing `CREATE VIEW` leaves the catalog as it was.
fn views(s: &mut Session) -> Vec<Datum> {
    rows(s, "SHOW VIEWS;").into_iter().map(|row| row[0].clone()).collect()
}

#[test]
fn view_with_two_columns_of_the_same_name_from_a_join() {
    let mut s = session();
    let before = views(&mut s);
    let (e, rendered) =
        fail(&mut s, "CREATE VIEW j AS SELECT a.k, a.ts, b.ts FROM r a JOIN r b ON a.k = b.k;");
    assert_eq!(e.stage(), Stage::Bind);
    assert!(rendered.contains("two columns named \"ts\""), "{rendered}");
    insta::assert_snapshot!(rendered);
    assert_eq!(views(&mut s), before);
}

#[test]
fn view_with_two_columns_of_the_same_alias() {
    let mut s = session();
    let (_, rendered) = fail(&mut s, "CREATE VIEW d AS SELECT k AS a, v, ts AS a FROM r;");
    insta::assert_snapshot!(rendered);
}

#[test]
fn view_with_two_columns_of_the_same_name_from_a_star() {
    let mut s = session();
    let (_, rendered) = fail(&mut s, "CREATE VIEW s AS SELECT * FROM r a JOIN r b ON a.k = b.k;");
    insta::assert_snapshot!(rendered);
}

#[test]
fn replacing_a_view_that_others_read_is_refused() {
    let mut s = session();
    s.execute("CREATE VIEW over AS SELECT k FROM everything;").unwrap();
    let (_, rendered) = fail(&mut s, "CREATE OR REPLACE VIEW everything AS SELECT k FROM r;");
    insta::assert_snapshot!(rendered);
    assert_eq!(rows(&mut s, "SELECT * FROM everything;"), rows(&mut s, "SELECT * FROM r;"));
}

#[test]
fn replacing_a_source_with_a_view_is_refused() {
    let mut s = session();
    let (_, rendered) = fail(&mut s, "CREATE OR REPLACE VIEW r AS SELECT k FROM everything;");
    insta::assert_snapshot!(rendered);
}

#[test]
fn a_replacement_that_reads_the_view_it_replaces_is_refused() {
    let mut s = session();
    let (_, rendered) = fail(&mut s, "CREATE OR REPLACE VIEW everything AS SELECT k FROM everything;");
    insta::assert_snapshot!(rendered);
}

#[test]
fn show_an_unknown_setting() {
    let mut s = session();
    let (_, rendered) = fail(&mut s, "SHOW work_mem;");
    insta::assert_snapshot!(rendered);
}

#[test]
fn a_quoted_name_keeps_its_case() {
    let mut s = session();
    let (_, rendered) = fail(&mut s, "SELECT * FROM \"R\";");
    assert!(rendered.contains("there is \"r\""), "{rendered}");
    insta::assert_snapshot!(rendered);
}

#[test]
fn trim_of_other_characters_is_not_supported() {
    let mut s = session();
    let (_, rendered) = fail(&mut s, "SELECT trim(LEADING 'x' FROM 'xax') FROM r;");
    insta::assert_snapshot!(rendered);
}

#[test]
fn retain_count_past_the_limit() {
    let mut s = session();
    let (e, rendered) =
        fail(&mut s, "CREATE VIEW big AS SELECT * FROM r\n  RETAIN TOP 18446744073709551615 PER k BY v;");
    assert_eq!(e.stage(), Stage::Bind);
    insta::assert_snapshot!(rendered);
    // Nothing was made: the session reads on.
    s.execute("INSERT INTO r VALUES (1, 1, 1); SELECT * FROM w;").unwrap();
}

#[test]
fn advance_to_past_the_largest_time() {
    let mut s = session();
    s.execute("INSERT INTO r VALUES (1, 1, 10);").unwrap();
    let (e, rendered) = fail(&mut s, "ADVANCE TO 9223372036854775808;");
    assert_eq!(e.stage(), Stage::Bind);
    insta::assert_snapshot!(rendered);
    // The frontier did not move, so later rows are not late.
    assert_eq!(frontier(&mut s, "r"), Datum::Int(10));
    s.execute("INSERT INTO r VALUES (1, 2, 11);").unwrap();
}

#[test]
fn lateness_past_the_largest_time() {
    let mut s = session();
    let (e, rendered) =
        fail(&mut s, "CREATE SOURCE q (k BIGINT, ts BIGINT) TIME ts LATENESS 18446744073709551615;");
    assert_eq!(e.stage(), Stage::Bind);
    insta::assert_snapshot!(rendered);
}

#[test]
fn generator_option_given_twice() {
    let mut s = session();
    let (e, rendered) =
        fail(&mut s, "CREATE SOURCE g FROM GENERATOR sensors (rate = 10, keys = 5, rate = 20);");
    assert_eq!(e.stage(), Stage::Bind);
    insta::assert_snapshot!(rendered);
}

#[test]
fn generator_rate_past_the_limit() {
    let mut s = session();
    let (e, rendered) = fail(&mut s, "CREATE SOURCE g FROM GENERATOR sensors (keys = 1, rate = 1000000000);");
    assert_eq!(e.stage(), Stage::Bind);
    insta::assert_snapshot!(rendered);
}

#[test]
fn a_chain_nested_too_deeply() {
    let mut s = session();
    let sql = format!("SELECT k FROM r\nWHERE TRUE{}", "\n  AND TRUE".repeat(10_000));
    let (e, rendered) = fail(&mut s, &sql);
    assert_eq!(e.stage(), Stage::Parse);
    insta::assert_snapshot!(rendered);
}

/// `@` and `#` start no name; the tokenizer would glue the `;` after one onto it, and the
/// error would land on the next statement.
#[test]
fn a_stray_at_sign_is_refused_where_it_stands() {
    let mut s = session();
    let (e, rendered) = fail(&mut s, "SELECT k FROM r WHERE k = @;\nSELECT k FROM r;");
    assert_eq!(e.stage(), Stage::Parse);
    insta::assert_snapshot!(rendered);
}

#[test]
fn delay_zero_is_refused() {
    let mut s = session();
    let (e, rendered) = fail(&mut s, "CREATE VIEW z AS SELECT * FROM r RETAIN LATEST 1 PER k DELAY 0;");
    assert_eq!(e.stage(), Stage::Bind);
    insta::assert_snapshot!(rendered);
}
