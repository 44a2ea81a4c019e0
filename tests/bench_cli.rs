//! `ebb bench`, through the real binary: the table it prints, the files it writes, the
//! arguments it refuses. Structure only, never timings.

use std::path::Path;
use std::process::{Command, Output};

fn ebb(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ebb"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the ebb binary runs")
}

/// The data lines of a CSV (after its header), each split into fields.
fn csv_rows(path: &Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("second,max_latency_ms,records,rss_mb"), "{}", path.display());
    lines.map(|line| line.split(',').map(String::from).collect()).collect()
}

#[test]
fn compare_prints_a_row_per_second_and_writes_csvs_and_plots() {
    let out = tempfile::tempdir().expect("temp dir");
    let out_path = out.path().to_str().expect("utf-8 temp path");
    let run = ebb(&[
        "bench",
        "queries/live_sensors.sql",
        "--duration",
        "2",
        "--rate",
        "2000",
        "--compare",
        "--out",
        out_path,
    ]);
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "exit {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}", run.status);

    // The effective scenario goes to stderr, with the overridden rate.
    assert!(stderr.contains("FROM GENERATOR sensors (keys = 1, rate = 2000)"), "{stderr}");

    let mut lines = stdout.lines();
    let header: Vec<&str> = lines.next().expect("a header").split_whitespace().collect();
    assert_eq!(header, ["mode", "second", "max_latency_ms", "records", "rss_mb"]);
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split_whitespace().collect()).collect();
    for mode in ["retain", "baseline"] {
        let mine: Vec<_> = rows.iter().filter(|r| r.first() == Some(&mode)).collect();
        assert!(!mine.is_empty(), "no {mode} rows:\n{stdout}");
        for row in mine {
            assert_eq!(row.len(), 5, "{row:?}");
            assert!(row[1].parse::<u64>().is_ok(), "second {row:?}");
            assert!(row[2].parse::<i64>().is_ok(), "latency {row:?}");
            assert!(row[3].parse::<i64>().is_ok(), "records {row:?}");
            assert!(row[4].parse::<f64>().is_ok(), "rss {row:?}");
        }
    }

    for mode in ["retain", "baseline"] {
        let rows = csv_rows(&out.path().join(format!("{mode}.csv")));
        assert!(!rows.is_empty(), "{mode}.csv has no rows");
        for row in rows {
            assert_eq!(row.len(), 4, "{row:?}");
            assert!(row.iter().all(|field| field.parse::<f64>().is_ok()), "{mode}.csv: {row:?}");
        }
    }
    for plot in ["latency.svg", "records.svg"] {
        let svg = std::fs::read_to_string(out.path().join(plot)).expect("plot written");
        assert!(svg.starts_with("<svg"), "{plot}: {}", &svg[..svg.len().min(80)]);
    }
    let latency = std::fs::read_to_string(out.path().join("latency.svg")).expect("plot written");
    assert!(latency.contains("retain") && latency.contains("baseline"), "no legend in latency.svg");
}

#[test]
fn a_missing_scenario_is_an_error() {
    let out = tempfile::tempdir().expect("temp dir");
    let run = ebb(&["bench", "queries/no_such_file.sql", "--out", out.path().to_str().expect("utf-8")]);
    assert!(!run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("no_such_file.sql"), "{stderr}");
    assert!(run.stdout.is_empty(), "{}", String::from_utf8_lossy(&run.stdout));
}

#[test]
fn a_zero_duration_is_refused() {
    let run = ebb(&["bench", "queries/live_sensors.sql", "--duration", "0"]);
    assert!(!run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("--duration"), "{stderr}");
}

#[test]
fn a_scenario_that_does_not_parse_is_rendered_with_its_place() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("bad.sql");
    std::fs::write(&file, "CREATE SOURCE readings FROM GENERATOR sensors (keys = 1);\nCREATE VIEW;\n")
        .expect("written");
    let out = dir.path().join("out");
    let run = ebb(&[
        "bench",
        file.to_str().expect("utf-8"),
        "--duration",
        "1",
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    assert!(!run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("bad.sql:2:"), "{stderr}");
}
