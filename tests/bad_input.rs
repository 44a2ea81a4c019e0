//! Bad input never kills the process, through the real binary (`ebb run`, and the REPL fed
//! through a pipe): huge numbers, long operator chains and damaged spill files are errors,
//! the session goes on where it can, and no Rust panic or stack overflow reaches the terminal.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ebb::repr::Datum;
use ebb::{Output as Rows, Session, SessionOptions};

fn ebb() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ebb"))
}

/// `ebb run` over `sql`, written to a file in `dir`.
fn run(dir: &Path, sql: &str) -> Output {
    let file = dir.join("job.sql");
    std::fs::write(&file, sql).expect("write the script");
    ebb().arg("run").arg(&file).output().expect("ebb runs")
}

/// The REPL, fed `sql` through a pipe.
fn repl(sql: &str) -> Output {
    let mut child =
        ebb().stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("ebb");
    child.stdin.take().expect("stdin").write_all(sql.as_bytes()).expect("write");
    child.wait_with_output().expect("ebb ends")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// No panic message, backtrace hint or stack overflow report on the terminal.
fn assert_no_crash(stderr: &str) {
    for crash in ["panicked", "RUST_BACKTRACE", "overflowed its stack", "fatal runtime error"] {
        assert!(!stderr.contains(crash), "{crash:?} on stderr:\n{stderr}");
    }
}

fn chain(terms: usize, term: &str, op: &str) -> String {
    vec![term; terms].join(&format!(" {op} "))
}

#[test]
fn long_operator_chains_are_errors_in_batch_and_in_the_repl() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (term, op) in [("TRUE", "AND"), ("k", "+"), ("k = 1", "OR"), ("note", "||")] {
        for terms in [300, 10_000] {
            let sql = format!(
                "CREATE SOURCE r (k BIGINT, note TEXT, ts BIGINT) TIME ts;\nSELECT k FROM r WHERE {};\n",
                chain(terms, term, op)
            );
            let out = run(dir.path(), &sql);
            let stderr = text(&out.stderr);
            assert_no_crash(&stderr);
            assert_eq!(out.status.code(), Some(1), "{stderr}");
            assert!(
                stderr.contains("nests more than 256 levels deep") && stderr.contains("job.sql:2:"),
                "{stderr}"
            );

            let out = repl(&format!("{sql}CREATE VIEW still_here AS SELECT k FROM r;\nSHOW VIEWS;\n"));
            let stderr = text(&out.stderr);
            assert_no_crash(&stderr);
            assert!(stderr.contains("nests more than 256 levels deep"), "{stderr}");
            assert!(text(&out.stdout).contains("still_here"), "the REPL goes on: {}", text(&out.stdout));
        }
    }
}

#[test]
fn a_huge_retain_count_is_refused_and_the_session_goes_on() {
    let sql = "CREATE SOURCE r (k BIGINT, v BIGINT, ts BIGINT) TIME ts;\n\
               CREATE VIEW t AS SELECT * FROM r RETAIN TOP 18446744073709551615 PER k BY v;\n\
               CREATE VIEW l AS SELECT * FROM r RETAIN LATEST 9223372036854775808 PER k;\n\
               ADVANCE TO 9223372036854775808;\n\
               CREATE VIEW t AS SELECT * FROM r RETAIN TOP 1000000 PER k BY v;\n\
               INSERT INTO r VALUES (1, 10, 5), (1, 20, 6);\n\
               SELECT k, v FROM t ORDER BY v;\n";
    let out = repl(sql);
    let stderr = text(&out.stderr);
    assert_no_crash(&stderr);
    assert!(stderr.contains("RETAIN TOP 18446744073709551615 is too large (at most 1000000)"), "{stderr}");
    assert!(stderr.contains("RETAIN LATEST 9223372036854775808 is too large"), "{stderr}");
    assert!(stderr.contains("ADVANCE TO 9223372036854775808 is too large"), "{stderr}");
    assert!(!stderr.contains("engine"), "{stderr}");
    let stdout = text(&out.stdout);
    assert!(stdout.contains("10") && stdout.contains("20"), "the view at the limit works: {stdout}");
}

/// The deepest expression accepted goes through every stage on a test thread's small stack:
/// binding, the dataflow's filter, a read's filter, EXPLAIN and SHOW VIEWS.
#[test]
fn the_deepest_expression_accepted_runs_everywhere() {
    let mut s = Session::new(SessionOptions::default()).expect("session");
    // `k <> n` is two levels under the chain; 254 terms nest 254 + 1 levels.
    let terms: Vec<String> = (0..254).map(|n| format!("k <> {}", n + 1000)).collect();
    let deep = terms.join(" AND ");
    s.execute(&format!(
        "CREATE SOURCE r (k BIGINT, ts BIGINT) TIME ts;\n\
         CREATE VIEW v AS SELECT k FROM r WHERE {deep};\n\
         INSERT INTO r VALUES (1, 1), (1000, 2);\n\
         EXPLAIN VIEW v; SHOW VIEWS;"
    ))
    .expect("accepted");
    let outputs = s.execute(&format!("SELECT k FROM v WHERE {deep};")).expect("read");
    assert_eq!(outputs, vec![Rows::Rows { columns: vec!["k".into()], rows: vec![vec![Datum::Int(1)]] }]);
    let e =
        s.execute(&format!("SELECT k FROM v WHERE {deep} AND k <> 1 AND k <> 2;")).expect_err("one too deep");
    assert!(e.message().contains("nests more than 256 levels deep"), "{e}");
}

/// Lines the child writes to stdout, as they come.
fn lines_of(child: &mut Child) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn wait_for(lines: &mpsc::Receiver<String>, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match lines.recv_timeout(left) {
            Ok(line) if line.contains(needle) => return,
            Ok(_) => continue,
            Err(e) => panic!("waiting for {needle:?}: {e}"),
        }
    }
    panic!("waiting for {needle:?}: timed out");
}

fn spill_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "ebbspill"));
    files
}

fn insert(batch: usize) -> String {
    let rows: Vec<String> = (0..2_000)
        .map(|i| format!("({}, {}, {})", (i * 7919) % 300, i % 41, batch * 1000 + i % 1000))
        .collect();
    format!("INSERT INTO r VALUES {};\n", rows.join(", "))
}

/// A spill file damaged under a running REPL: the engine stops with one clean error per
/// statement, naming the file, and no panic trace.
#[test]
fn a_damaged_spill_file_stops_the_repl_without_a_panic_trace() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = ebb()
        .args(["--memory-budget", "0", "--spill-dir"])
        .arg(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ebb");
    let lines = lines_of(&mut child);
    let mut stdin = child.stdin.take().expect("stdin");
    let mut setup = "CREATE SOURCE r (k BIGINT, v BIGINT, ts BIGINT) TIME ts KEEP NONE;\n\
                     CREATE VIEW v0 AS SELECT k, v, ts FROM r RETAIN LATEST 2 PER k;\n\
                     CREATE VIEW v1 AS SELECT k, v, ts FROM r RETAIN TOP 3 PER k BY v DELAY 500;\n"
        .to_string();
    for batch in 0..3 {
        setup.push_str(&insert(batch));
    }
    setup.push_str("SHOW STATS;\nSHOW SOURCES;\n");
    stdin.write_all(setup.as_bytes()).expect("write");
    stdin.flush().expect("flush");
    wait_for(&lines, "time_column");
    let files = spill_files(dir.path());
    assert!(!files.is_empty(), "something spilled");
    for file in &files {
        let mut bytes = std::fs::read(file).expect("read");
        for b in bytes.iter_mut().skip(16) {
            *b ^= 0x5a;
        }
        std::fs::write(file, bytes).expect("write");
    }
    let mut rest = String::new();
    for batch in 3..6 {
        rest.push_str(&insert(batch));
        rest.push_str("SELECT * FROM v0;\nSHOW STATS;\n");
    }
    rest.push_str("SELECT * FROM v1;\n");
    stdin.write_all(rest.as_bytes()).expect("write");
    drop(stdin);
    let out = child.wait_with_output().expect("ebb ends");
    let stderr = text(&out.stderr);
    assert_no_crash(&stderr);
    let stops = stderr.matches("engine error: the engine has stopped: ").count();
    assert!(stops >= 1, "{stderr}");
    // Once per failed statement, in its error: never again in a panic report.
    assert_eq!(stderr.matches("spilled chunk").count(), stops, "{stderr}");
    assert!(stderr.contains(&dir.path().display().to_string()), "names the file: {stderr}");
    assert!(!stderr.contains("internal error"), "{stderr}");
}
