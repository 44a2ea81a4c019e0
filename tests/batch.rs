//! The batch contract, through the real binary: `ebb run FILE.sql [--format ...] [--workers N]`,
//! and the other ways in (`ebb FILE.sql`, `ebb run -`, `ebb < FILE.sql`, `ebb -c SQL`).

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn ebb(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ebb")).args(args).current_dir(manifest_dir()).output().expect("ebb runs")
}

/// Run `ebb` with `input` on stdin (a pipe).
fn ebb_with_stdin(args: &[&str], input: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ebb"))
        .args(args)
        .current_dir(manifest_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ebb runs");
    child.stdin.take().expect("a stdin pipe").write_all(input.as_bytes()).expect("ebb reads its stdin");
    child.wait_with_output().expect("ebb ends")
}

/// A script in a fresh temporary folder; the folder goes when the guard does.
fn script(text: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("a temp folder");
    let path = dir.path().join("job.sql");
    std::fs::write(&path, text).expect("a script");
    (dir, path.display().to_string())
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("stdout is UTF-8")
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).expect("stderr is UTF-8")
}

/// Every `queries/*.sql`, as paths relative to the crate, sorted.
fn query_files() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(manifest_dir().join("queries"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".sql"))
        .map(|n| format!("queries/{n}"))
        .collect();
    files.sort();
    files
}

/// Split CSV output into result sets (separated by one empty line), each parsed as records
/// (header first). Fails if anything is not CSV, a line does not end with CRLF (none of the
/// example data holds a line break), or a set is empty.
fn result_sets(text: &str) -> Vec<Vec<Vec<String>>> {
    assert!(text.is_empty() || text.ends_with("\r\n"), "output ends mid-line: {text:?}");
    assert!(!text.replace("\r\n", "").contains(['\r', '\n']), "a line ends without CRLF: {text:?}");
    assert!(!text.contains("\r\n\r\n\r\n"), "more than one empty line: {text:?}");
    if text.is_empty() {
        return Vec::new();
    }
    text.split("\r\n\r\n")
        .map(|set| {
            let mut reader = csv::ReaderBuilder::new().has_headers(false).from_reader(set.as_bytes());
            let records: Vec<Vec<String>> = reader
                .records()
                .map(|r| {
                    r.unwrap_or_else(|e| panic!("not CSV: {e}: {set:?}")).iter().map(String::from).collect()
                })
                .collect();
            assert!(!records.is_empty(), "an empty result set in {text:?}");
            let width = records[0].len();
            assert!(records.iter().all(|r| r.len() == width), "ragged result set: {set:?}");
            records
        })
        .collect()
}

#[test]
fn latest_sql_prints_only_csv_result_sets() {
    let out = ebb(&["run", "queries/latest.sql", "--format", "csv"]);
    assert!(out.status.success(), "exit {:?}; stderr:\n{}", out.status, stderr(&out));
    let sets = result_sets(&stdout(&out));
    let headers: Vec<&Vec<String>> = sets.iter().map(|s| &s[0]).collect();
    assert_eq!(
        headers,
        [
            &vec!["sensor".to_string(), "value".into(), "ts".into()],
            &vec!["sensor".to_string(), "kept".into(), "hottest".into()],
            &vec![
                "view".to_string(),
                "arrangement".into(),
                "records".into(),
                "dropped".into(),
                "latency_ms".into(),
                "max_latency_ms".into(),
            ],
        ]
    );
    // SHOW STATS: records are integers, and the history holds every row (300 + 2).
    let stats = &sets[2][1..];
    assert!(stats.iter().all(|r| r[2].parse::<i64>().is_ok()), "{stats:?}");
    assert!(stats.iter().any(|r| r[..3] == ["readings", "history", "302"]), "{stats:?}");
    // The rule has dropped every row it does not keep: 302 in, 15 kept.
    assert!(stats.iter().any(|r| r[..4] == ["latest3", "retain input", "15", "287"]), "{stats:?}");
}

/// The reads in latest.sql see the COPY and the INSERT before them.
#[test]
fn latest_sql_reads_see_the_data() {
    let out = ebb(&["run", "queries/latest.sql", "--format", "csv"]);
    let sets = result_sets(&stdout(&out));
    assert_eq!(sets[0].get(1), Some(&vec!["1".to_string(), "20.5".into(), "1000".into()]), "{sets:?}");
    assert!(sets[0].len() <= 4, "at most 3 rows per sensor: {sets:?}");
    assert!(sets[1].len() > 1, "per-sensor counts: {sets:?}");
    assert!(sets[1][1..].iter().all(|r| r[1] == "3"), "3 kept per sensor: {sets:?}");
}

#[test]
fn error_on_line_3_stops_with_caret_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("job.sql");
    std::fs::write(
        &script,
        "CREATE SOURCE r (k BIGINT, v TEXT, ts BIGINT) TIME ts;\n\
         INSERT INTO r VALUES (1, 'a,b', 5), (2, NULL, 6); SELECT * FROM r ORDER BY k;\n\
         SELECT k, nope FROM r;\n\
         SELECT * FROM r;\n",
    )
    .unwrap();
    let path = script.display().to_string();
    let out = ebb(&["run", &path, "--format", "csv"]);
    assert!(!out.status.success(), "a failing script must exit non-zero");
    // Only the output before the error, with RFC 4180 quoting and NULL as an empty field.
    assert_eq!(stdout(&out), "k,v,ts\r\n1,\"a,b\",5\r\n2,,6\r\n");
    let err = stderr(&out).replace(&path, "job.sql");
    assert_eq!(
        err,
        "error: column \"nope\" not found\n  --> job.sql:3:11\n  |\n3 | SELECT k, nope FROM r;\n  |           ^^^^\n  \
         = note: available columns: k, v, ts\n"
    );
}

#[test]
fn a_script_that_does_not_parse_prints_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("job.sql");
    std::fs::write(
        &script,
        "CREATE SOURCE r (k BIGINT, ts BIGINT) TIME ts;\nSHOW SOURCES;\nSHOW FROBS NOW;\n",
    )
    .unwrap();
    let out = ebb(&["run", &script.display().to_string(), "--format", "csv"]);
    assert!(!out.status.success());
    assert_eq!(stdout(&out), "");
    assert!(stderr(&out).contains(":3:"), "{}", stderr(&out));
}

#[test]
fn missing_script_exits_non_zero() {
    let out = ebb(&["run", "queries/no_such_file.sql"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("no_such_file.sql"), "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
}

#[test]
fn two_workers_print_the_same_csv() {
    for file in query_files() {
        let one = ebb(&["run", &file, "--format", "csv", "--workers", "1"]);
        let two = ebb(&["run", &file, "--format", "csv", "--workers", "2"]);
        assert!(one.status.success() && two.status.success(), "{file}: {}{}", stderr(&one), stderr(&two));
        assert_eq!(stdout(&one), stdout(&two), "{file}");
    }
}

/// A JSON object's members in the order they were written (serde_json's own map sorts them).
struct Members(Vec<String>);

impl<'de> serde::Deserialize<'de> for Members {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Members;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Members, A::Error> {
                let mut keys = Vec::new();
                while let Some((key, _)) = map.next_entry::<String, serde::de::IgnoredAny>()? {
                    keys.push(key);
                }
                Ok(Members(keys))
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

#[test]
fn json_prints_one_valid_array_per_result_set() {
    for file in query_files() {
        let csv = ebb(&["run", &file, "--format", "csv"]);
        let json = ebb(&["run", &file, "--format", "json"]);
        assert!(json.status.success(), "{file}: {}", stderr(&json));
        let sets = result_sets(&stdout(&csv));
        let text = stdout(&json);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), sets.len(), "{file}: one JSON line per result set:\n{text}");
        for (line, set) in lines.iter().zip(&sets) {
            let value: serde_json::Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{file}: invalid JSON ({e}): {line}"));
            let array = value.as_array().unwrap_or_else(|| panic!("{file}: not an array: {line}"));
            assert_eq!(array.len(), set.len() - 1, "{file}: rows in {line}");
            for (object, row) in array.iter().zip(&set[1..]) {
                let object = object.as_object().expect("each row is an object");
                for (column, field) in set[0].iter().zip(row) {
                    let text = match &object[column] {
                        serde_json::Value::Null => String::new(),
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    // Doubles print alike (20.0 in CSV is 20.0 in JSON).
                    let same = text == *field
                        || text
                            .parse::<f64>()
                            .ok()
                            .zip(field.parse::<f64>().ok())
                            .is_some_and(|(a, b)| a == b);
                    assert!(same, "{file}: {column} is {text} in JSON, {field} in CSV");
                }
            }
            // Keys come in column order.
            let ordered: Vec<Members> = serde_json::from_str(line).expect("valid JSON");
            for members in ordered {
                assert_eq!(members.0, set[0], "{file}");
            }
        }
    }
}

/// One data statement, then reads: the same CSV with 1 and 2 workers.
#[test]
fn two_workers_print_the_same_csv_for_one_insert() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("job.sql");
    let values: Vec<String> =
        (0..500).map(|i| format!("({}, {}, {})", i % 37, (i * 7919) % 101, 1000 - i)).collect();
    std::fs::write(
        &script,
        format!(
            "CREATE SOURCE r (k BIGINT, v BIGINT, ts BIGINT) TIME ts;\n\
             CREATE VIEW top AS SELECT * FROM r RETAIN TOP 2 PER k BY v DESC;\n\
             CREATE VIEW latest AS SELECT k, ts FROM r RETAIN LATEST 1 PER k DELAY 10;\n\
             INSERT INTO r VALUES {};\n\
             SELECT * FROM top ORDER BY k, v, ts;\n\
             SELECT * FROM latest ORDER BY k;\n\
             SELECT k, count(*) AS n FROM r GROUP BY k ORDER BY k;\n\
             SHOW STATS;\n",
            values.join(", ")
        ),
    )
    .unwrap();
    let path = script.display().to_string();
    let one = ebb(&["run", &path, "--format", "csv", "--workers", "1"]);
    let two = ebb(&["run", &path, "--format", "csv", "--workers", "2"]);
    assert!(one.status.success() && two.status.success(), "{}{}", stderr(&one), stderr(&two));
    let sets = result_sets(&stdout(&one));
    assert_eq!(sets.len(), 4);
    assert_eq!(sets[0].len(), 1 + 37 * 2);
    assert_eq!(sets[1].len(), 1 + 37);
    assert_eq!(stdout(&one), stdout(&two));
}

/// Every example gives the same result sets whether nothing spills or everything does
/// (`--memory-budget 0`), for every rule the examples use; SHOW STATS agrees on what is held
/// (under the budget it adds spill columns).
#[test]
fn every_query_file_gives_the_same_results_when_everything_spills() {
    for file in query_files() {
        let plain = ebb(&["run", &file, "--format", "csv"]);
        let spilled = ebb(&["run", &file, "--format", "csv", "--memory-budget", "0"]);
        assert!(plain.status.success() && spilled.status.success(), "{file}: {}", stderr(&spilled));
        let comparable = |out: &Output| -> Vec<Vec<Vec<String>>> {
            result_sets(&stdout(out))
                .into_iter()
                .map(|set| {
                    let stats = set[0].len() >= 6 && set[0][..3] == ["view", "arrangement", "records"];
                    set.into_iter().map(|row| if stats { row[..4].to_vec() } else { row }).collect()
                })
                .collect()
        };
        assert_eq!(comparable(&spilled), comparable(&plain), "{file}");
    }
}

#[test]
fn csv_tells_null_from_the_empty_string_with_crlf_throughout() {
    let (_dir, path) = script(
        "CREATE SOURCE r (k BIGINT, v TEXT, ts BIGINT) TIME ts;\n\
         INSERT INTO r VALUES (1, '', 5), (2, NULL, 6), (3, 'two\nlines', 7);\n\
         SELECT k, v FROM r ORDER BY k;\n\
         SELECT v FROM r WHERE k = 2;\n",
    );
    let out = ebb(&["run", &path, "--format", "csv"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "k,v\r\n1,\"\"\r\n2,\r\n3,\"two\nlines\"\r\n\r\nv\r\n\"\"\r\n");
}

/// The same failing script, four ways in: each stops at the error on line 4 (counted across
/// the whole input), exits 1, and prints only what came before.
#[test]
fn stdin_run_dash_and_file_shorthand_behave_like_run() {
    let text = "CREATE SOURCE r (k BIGINT, ts BIGINT) TIME ts;\n\
                INSERT INTO r VALUES (1, 5);\n\
                SELECT k FROM r;\n\
                SELECT nope FROM r;\n\
                SELECT k + 1 AS next FROM r;\n";
    let (_dir, path) = script(text);
    let expected_err = "error: column \"nope\" not found\n  --> ORIGIN:4:8\n  |\n4 | SELECT nope FROM r;\n  |        ^^^^\n  \
                        = note: available columns: k, ts\n";
    let runs = [
        ("<stdin>", ebb_with_stdin(&["--format", "csv"], text)),
        ("<stdin>", ebb_with_stdin(&["run", "-", "--format", "csv"], text)),
        (path.as_str(), ebb(&[&path, "--format", "csv"])),
        (path.as_str(), ebb(&["run", &path, "--format", "csv"])),
    ];
    for (origin, out) in runs {
        assert_eq!(out.status.code(), Some(1), "{origin}: {}", stderr(&out));
        assert_eq!(stdout(&out), "k\r\n1\r\n", "{origin}");
        assert_eq!(stderr(&out), expected_err.replace("ORIGIN", origin));
    }
}

#[test]
fn a_last_statement_without_a_semicolon_runs() {
    let text =
        "CREATE SOURCE r (k BIGINT, ts BIGINT) TIME ts;\nINSERT INTO r VALUES (7, 1);\nSELECT k FROM r";
    let (_dir, path) = script(text);
    for out in [ebb_with_stdin(&["--format", "csv"], text), ebb(&["run", &path, "--format", "csv"])] {
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(stdout(&out), "k\r\n7\r\n");
    }
}

#[test]
fn continue_on_error_reports_every_error_and_runs_the_rest() {
    let text = "CREATE SOURCE r (k BIGINT, ts BIGINT) TIME ts;\n\
                INSERT INTO r VALUES (1, 5);\n\
                SELECT nope FROM r;\n\
                SHOW FROBS;\n\
                INSERT INTO r VALUES (2, 6);\n\
                SELECT k FROM r ORDER BY k\n";
    for out in [
        ebb_with_stdin(&["--format", "csv", "--continue-on-error"], text),
        ebb_with_stdin(&["run", "-", "--format", "csv", "--continue-on-error"], text),
    ] {
        assert_eq!(out.status.code(), Some(1), "a failed statement still fails the run");
        assert_eq!(stdout(&out), "k\r\n1\r\n2\r\n");
        let err = stderr(&out);
        assert!(err.contains("column \"nope\" not found\n  --> <stdin>:3:8"), "{err}");
        assert!(err.contains("--> <stdin>:4:6"), "the syntax error on line 4: {err}");
    }
    // Without errors, the run succeeds.
    let out = ebb_with_stdin(&["--continue-on-error"], "CREATE SOURCE r (ts BIGINT) TIME ts;");
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn dash_c_runs_each_command_in_one_session() {
    let out = ebb(&[
        "--format",
        "csv",
        "-c",
        "CREATE SOURCE r (k BIGINT, ts BIGINT) TIME ts; INSERT INTO r VALUES (3, 1)",
        "-c",
        "SELECT k FROM r",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "k\r\n3\r\n");
    // An error names the command it is in; the ones after it do not run.
    let out = ebb(&["-c", "SELECT * FROM nowhere", "-c", "CREATE SOURCE r (ts BIGINT) TIME ts"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("--> <-c 1>:1:15"), "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
}

#[test]
fn version_and_bad_workers() {
    let out = ebb(&["--version"]);
    assert!(out.status.success());
    assert_eq!(stdout(&out), format!("ebb {}\n", env!("CARGO_PKG_VERSION")));
    for args in
        [vec!["--workers", "0", "-c", "SHOW VIEWS"], vec!["run", "queries/latest.sql", "--workers", "0"]]
    {
        let out = ebb(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(stderr(&out).contains("ebb needs at least 1 worker thread"), "{}", stderr(&out));
        assert_eq!(stdout(&out), "");
    }
}

#[test]
fn a_script_refuses_an_endless_subscribe() {
    let text = "CREATE SOURCE r (k BIGINT, ts BIGINT) TIME ts;\n\
                CREATE VIEW v AS SELECT k, ts FROM r RETAIN LATEST 1 PER k;\n\
                INSERT INTO r VALUES (1, 1);\n\
                SUBSCRIBE v FOR 50 MILLISECONDS;\n\
                SUBSCRIBE v;\n";
    let out = ebb_with_stdin(&["--format", "csv"], text);
    assert_eq!(out.status.code(), Some(1));
    // The bounded one printed its snapshot.
    assert_eq!(stdout(&out), "time,diff,k,ts\r\n1,1,1,1\r\n");
    let err = stderr(&out);
    assert!(err.contains("SUBSCRIBE without FOR never ends") && err.contains("--> <stdin>:5:1"), "{err}");
    assert!(err.contains("hint: give it a duration: SUBSCRIBE v FOR 10 SECONDS"), "{err}");
}

#[test]
fn show_stats_fits_a_terminal_and_full_shows_every_column() {
    let text = "CREATE SOURCE r (k BIGINT, ts BIGINT) TIME ts;\n\
                CREATE VIEW v AS SELECT k, ts FROM r RETAIN LATEST 1 PER k;\n\
                INSERT INTO r VALUES (1, 1), (1, 2), (2, 3);\n\
                SHOW STATS;\nSHOW STATS FULL;\n";
    let headers = |out: &Output| -> Vec<Vec<String>> {
        assert!(out.status.success(), "{}", stderr(out));
        result_sets(&stdout(out)).into_iter().map(|set| set[0].clone()).collect()
    };
    let brief = ["view", "arrangement", "records", "dropped", "latency_ms", "max_latency_ms"];
    let full = headers(&ebb_with_stdin(&["--format", "csv"], text));
    assert_eq!(full[0], brief);
    assert_eq!(full[1].len(), 13);
    // Under a memory budget, the brief table adds the spill columns read first.
    let spilled = headers(&ebb_with_stdin(&["--format", "csv", "--memory-budget", "0"], text));
    let mut with_spill = brief.to_vec();
    with_spill.extend(["resident_bytes", "spilled_chunks", "disk_bytes"]);
    assert_eq!(spilled[0], with_spill);
    // The table is at most 80 columns wide for this script.
    let out = ebb_with_stdin(&[], &text.replace("SHOW STATS FULL;\n", ""));
    let table = stdout(&out);
    assert!(table.lines().all(|line| line.chars().count() <= 80), "{table}");
}

/// `COPY` from a FIFO reads what its writer sends and ends: it does not open the path a second
/// time (which would wait for a writer that has gone).
#[test]
fn copy_from_a_fifo_ends() {
    let dir = tempfile::tempdir().expect("a temp folder");
    let fifo = dir.path().join("feed.csv");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo runs");
    assert!(made.success(), "mkfifo failed");
    let sql = "CREATE SOURCE r (k BIGINT, ts BIGINT) TIME ts;\n\
               COPY r FROM 'feed.csv' WITH (HEADER true);\n\
               SELECT count(*) AS n FROM r;\n";
    let mut child = Command::new(env!("CARGO_BIN_EXE_ebb"))
        .args(["--format", "csv", "-c", sql])
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ebb runs");
    // Opening a FIFO for writing waits for its reader: the COPY.
    std::fs::write(&fifo, "k,ts\n1,1\n2,2\n").expect("the COPY opens the FIFO");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while child.try_wait().expect("ebb can be waited for").is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().expect("ebb can be killed");
            panic!("COPY from a FIFO never ended");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("ebb ends");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "n\r\n2\r\n");
}

/// A stray `@` before a `;` is reported where it stands, not on the next statement (the
/// tokenizer would glue the `;` onto it and join the two statements).
#[test]
fn a_stray_at_sign_does_not_join_two_statements() {
    let text = "CREATE SOURCE r (k BIGINT, ts BIGINT) TIME ts;\n\
                SELECT k FROM r WHERE k = @;\n\
                SELECT k FROM r;\n";
    let out = ebb_with_stdin(&["--continue-on-error"], text);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("unexpected character \"@\"") && err.contains("--> <stdin>:2:27"), "{err}");
}
