//! EXPLAIN snapshots for every view of every program in `queries/`. New `.sql` files there are
//! picked up automatically; their snapshots are named `{file}__{view}`.

use std::path::{Path, PathBuf};

use ebb::{Output, Session, SessionOptions};

fn queries_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("queries")
}

/// Every `queries/*.sql` file name, sorted.
fn query_files() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(queries_dir())
        .expect("queries/ exists")
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".sql"))
        .collect();
    files.sort();
    files
}

/// Run `file` with `base_dir = queries/`, then EXPLAIN each view it created, in creation order.
fn explain_views(file: &str) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(queries_dir().join(file)).unwrap();
    let mut s =
        Session::new(SessionOptions { workers: 1, base_dir: queries_dir(), ..SessionOptions::default() })
            .unwrap();
    if let Err(e) = s.execute(&text) {
        panic!("{}", e.render(&text, &format!("queries/{file}")));
    }
    let views: Vec<String> = s.catalog().views().map(|v| v.name.clone()).collect();
    views
        .into_iter()
        .map(|view| {
            let text = match s.execute(&format!("EXPLAIN VIEW {view};")).unwrap().pop() {
                Some(Output::Text(text)) => text,
                other => panic!("EXPLAIN VIEW {view} gave {other:?}"),
            };
            (view, text)
        })
        .collect()
}

#[test]
fn explain_every_view_in_queries() {
    let files = query_files();
    assert!(files.iter().any(|f| f == "latest.sql"), "queries/latest.sql is missing: {files:?}");
    for file in files {
        let views = explain_views(&file);
        assert!(!views.is_empty(), "queries/{file} creates no view");
        let stem = file.trim_end_matches(".sql");
        for (view, text) in views {
            insta::assert_snapshot!(format!("{stem}__{view}"), text);
        }
    }
}

/// EXPLAIN is deterministic: the same program explains the same way twice.
#[test]
fn explain_is_deterministic() {
    for file in query_files() {
        assert_eq!(explain_views(&file), explain_views(&file), "queries/{file}");
    }
}

/// The arrangements `SHOW STATS` reports for a view are exactly those its EXPLAIN names (the
/// source histories it shares are the source's, and reported under the source).
#[test]
fn show_stats_reports_the_arrangements_explain_names() {
    for file in query_files() {
        let text = std::fs::read_to_string(queries_dir().join(&file)).unwrap();
        let mut s =
            Session::new(SessionOptions { workers: 1, base_dir: queries_dir(), ..SessionOptions::default() })
                .unwrap();
        s.execute(&text).unwrap();
        let Some(Output::Rows { rows, .. }) = s.execute("SHOW STATS;").unwrap().pop() else {
            panic!("SHOW STATS returns rows")
        };
        let views: Vec<String> = s.catalog().views().map(|v| v.name.clone()).collect();
        for view in views {
            let mut reported: Vec<String> = rows
                .iter()
                .filter(|row| row[0] == ebb::repr::Datum::Text(view.clone()))
                .map(|row| match &row[1] {
                    ebb::repr::Datum::Text(name) => name.clone(),
                    other => panic!("arrangement {other:?}"),
                })
                .collect();
            let Some(Output::Text(explain)) = s.execute(&format!("EXPLAIN VIEW {view};")).unwrap().pop()
            else {
                panic!("EXPLAIN gives text")
            };
            let mut named: Vec<String> = explain
                .lines()
                .filter(|line| !line.contains("(of the source, shared)"))
                .filter_map(|line| line.split_once("arrangement \"").map(|(_, rest)| rest))
                .filter_map(|rest| rest.split_once('"').map(|(name, _)| name.to_string()))
                .collect();
            reported.sort();
            named.sort();
            named.dedup();
            reported.dedup();
            assert_eq!(reported, named, "queries/{file}, view {view}:\n{explain}");
        }
    }
}
