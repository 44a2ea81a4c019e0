//! The batch contract, through the real binary: `ebb run FILE.sql [--format ...] [--workers N]`.

use std::path::Path;
use std::process::{Command, Output};

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn ebb(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ebb")).args(args).current_dir(manifest_dir()).output().expect("ebb runs")
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
/// (header first). Fails if anything is not CSV or a set is empty.
fn result_sets(text: &str) -> Vec<Vec<Vec<String>>> {
    assert!(text.is_empty() || text.ends_with('\n'), "output ends mid-line: {text:?}");
    assert!(!text.contains("\n\n\n") && !text.contains("\r\n\r\n"), "more than one empty line: {text:?}");
    let body = text.replace("\r\n", "\n");
    if body.is_empty() {
        return Vec::new();
    }
    body.split("\n\n")
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
                "resident_bytes".into(),
                "spilled_chunks".into(),
                "raw_bytes".into(),
                "compressed_bytes".into(),
                "compression_ratio".into(),
                "fetches".into(),
                "disk_bytes".into()
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
    std::fs::write(&script, "CREATE SOURCE r (k BIGINT, ts BIGINT) TIME ts;\nSHOW SOURCES;\nSHOW FROBS NOW;\n")
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
            for object in array {
                let object = object.as_object().expect("each row is an object");
                let mut keys: Vec<&String> = object.keys().collect();
                let mut header: Vec<&String> = set[0].iter().collect();
                keys.sort();
                header.sort();
                assert_eq!(keys, header, "{file}");
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
/// (its spill columns are what differs).
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
                    let stats = set[0].len() > 6 && set[0][..3] == ["view", "arrangement", "records"];
                    set.into_iter().map(|row| if stats { row[..4].to_vec() } else { row }).collect()
                })
                .collect()
        };
        assert_eq!(comparable(&spilled), comparable(&plain), "{file}");
    }
}
