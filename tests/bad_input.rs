//! Bad input never kills the process, through the real binary (`ebb run`, a script piped in,
//! and the REPL in a terminal): huge numbers, long operator chains and damaged spill files are errors,
//! the session goes on where it can, and no Rust panic or stack overflow reaches the terminal.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

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

/// `ebb < script` with `--continue-on-error`: every statement runs, as a person at the REPL
/// would go on after an error.
fn repl(sql: &str) -> Output {
    let mut child = ebb()
        .arg("--continue-on-error")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ebb");
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

type Pty =
    expectrl::session::Session<expectrl::process::unix::UnixProcess, expectrl::process::unix::PtyStream>;

/// Type `line` into the REPL, wait for what it prints to match `pattern` (the line's echo
/// shows the prompt too, so the prompt alone says nothing), then for the next prompt; return
/// the text up to the match, and the match.
fn type_line(pty: &mut Pty, line: &str, pattern: &str) -> String {
    use expectrl::Expect;
    pty.send(line).expect("typing works");
    pty.send("\r").expect("typing works");
    let printed = match pty.expect(expectrl::Regex(pattern)) {
        Ok(found) => {
            let matched = found.get(0).map(|m| String::from_utf8_lossy(m).into_owned()).unwrap_or_default();
            String::from_utf8_lossy(found.before()).into_owned() + &matched
        }
        Err(e) => panic!("nothing matching {pattern:?} after {line:?}: {e}"),
    };
    if let Err(e) = pty.expect("ebb> ") {
        panic!("no prompt after {line:?}: {e}");
    }
    printed
}

fn spill_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "ebbspill"));
    files
}

/// Batch `batch` of rows, as a CSV file in `dir`; returns its path.
fn batch_file(dir: &Path, batch: usize) -> PathBuf {
    let rows: Vec<String> =
        (0..2_000).map(|i| format!("{},{},{}", (i * 7919) % 300, i % 41, batch * 1000 + i % 1000)).collect();
    let path = dir.join(format!("batch{batch}.csv"));
    std::fs::write(&path, rows.join("\n")).expect("write a batch");
    path
}

/// A spill file damaged under a running REPL (in a terminal): the engine stops with one
/// clean error per statement, naming the file, and no panic trace.
#[test]
fn a_damaged_spill_file_stops_the_repl_without_a_panic_trace() {
    let (spill, data) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    let mut command = ebb();
    command.args(["--memory-budget", "0", "--spill-dir"]).arg(spill.path());
    command.env("EBB_HISTORY", data.path().join("history")).env("TERM", "xterm").env("NO_COLOR", "1");
    let mut pty = expectrl::session::Session::spawn(command).expect("ebb starts in a terminal");
    pty.set_expect_timeout(Some(Duration::from_secs(60)));
    let mut transcript = match expectrl::Expect::expect(&mut pty, "ebb> ") {
        Ok(found) => String::from_utf8_lossy(found.before()).into_owned(),
        Err(e) => panic!("no first prompt: {e}"),
    };
    for line in [
        "CREATE SOURCE r (k BIGINT, v BIGINT, ts BIGINT) TIME ts KEEP NONE;",
        "CREATE VIEW v0 AS SELECT k, v, ts FROM r RETAIN LATEST 2 PER k;",
        "CREATE VIEW v1 AS SELECT k, v, ts FROM r RETAIN TOP 3 PER k BY v DELAY 500;",
    ] {
        transcript.push_str(&type_line(&mut pty, line, "CREATE (SOURCE|VIEW)"));
    }
    for batch in 0..3 {
        let file = batch_file(data.path(), batch);
        transcript.push_str(&type_line(&mut pty, &format!("COPY r FROM '{}';", file.display()), "COPY 2000"));
    }
    transcript.push_str(&type_line(&mut pty, "SHOW STATS;", r"\(\d+ rows\)"));
    let files = spill_files(spill.path());
    assert!(!files.is_empty(), "something spilled");
    for file in &files {
        let mut bytes = std::fs::read(file).expect("read");
        for b in bytes.iter_mut().skip(16) {
            *b ^= 0x5a;
        }
        std::fs::write(file, bytes).expect("write");
    }
    let mut after = String::new();
    for batch in 3..6 {
        let file = batch_file(data.path(), batch);
        for line in
            [format!("COPY r FROM '{}';", file.display()), "SELECT * FROM v0;".into(), "SHOW STATS;".into()]
        {
            after.push_str(&type_line(&mut pty, &line, r"COPY 2000|\(\d+ rows?\)|error: .*"));
        }
    }
    after.push_str(&type_line(&mut pty, "SELECT * FROM v1;", r"\(\d+ rows?\)|error: .*"));
    assert_no_crash(&transcript);
    assert_no_crash(&after);
    let stops = after.matches("engine error: the engine has stopped: ").count();
    assert!(stops >= 1, "{after}");
    // Once per failed statement, in its error: never again in a panic report.
    assert_eq!(after.matches("spilled chunk").count(), stops, "{after}");
    assert!(after.contains(&spill.path().display().to_string()), "names the file: {after}");
    assert!(!after.contains("internal error"), "{after}");
}
