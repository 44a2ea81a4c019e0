//! EXPLAIN snapshots for every view of every program in `queries/`. New `.sql` files there are
//! picked up automatically; their snapshots are named `{file}__{view}`.

use std::path::{Path, PathBuf};

use ebb::plan::arrangements::{self, ArrangementFact};
use ebb::repr::Datum;
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

/// The arrangements `SHOW STATS` reports for each view and source are exactly those
/// `plan::arrangements` lists for it, with the same facts: dropped rows counted where it says
/// so, spill counts (under a memory budget) where it says the arrangement spills. EXPLAIN
/// names the same list (a source's history is printed under the source, shared). With the
/// rules' feedback and without it (the baseline), whose arrangements differ.
#[test]
fn show_stats_reports_the_arrangements_the_plan_lists() {
    for (file, retain_feedback) in query_files().into_iter().flat_map(|f| [(f.clone(), true), (f, false)]) {
        let text = std::fs::read_to_string(queries_dir().join(&file)).unwrap();
        let options = SessionOptions {
            workers: 1,
            base_dir: queries_dir(),
            memory_budget: Some(256 << 20),
            retain_feedback,
            ..SessionOptions::default()
        };
        let mut s = Session::new(options).unwrap();
        s.execute(&text).unwrap();
        let Some(Output::Rows { columns, rows }) = s.execute("SHOW STATS FULL;").unwrap().pop() else {
            panic!("SHOW STATS returns rows")
        };
        let column = |name: &str| columns.iter().position(|c| c == name).expect(name);
        let (dropped, resident) = (column("dropped"), column("resident_bytes"));
        // Per object: (arrangement, counts dropped rows, reports spill counts), as reported.
        let reported = |object: &str| {
            let mut named: Vec<(String, bool, bool)> = rows
                .iter()
                .filter(|row| row[0] == Datum::Text(object.to_string()))
                .map(|row| match &row[1] {
                    Datum::Text(name) => {
                        (name.clone(), row[dropped] != Datum::Null, row[resident] != Datum::Null)
                    }
                    other => panic!("arrangement {other:?}"),
                })
                .collect();
            named.sort();
            named
        };
        let listed = |facts: Vec<ArrangementFact>| {
            let mut named: Vec<(String, bool, bool)> =
                facts.into_iter().map(|f| (f.name.to_string(), f.counts_dropped, f.spills)).collect();
            named.sort();
            named
        };
        for source in s.catalog().sources() {
            assert_eq!(
                reported(&source.name),
                listed(arrangements::source_arrangements(source)),
                "queries/{file}, source {}",
                source.name
            );
        }
        let views: Vec<ebb::plan::ViewDesc> = s.catalog().views().cloned().collect();
        for view in views {
            let facts = arrangements::arrangements(&view.plan, s.catalog());
            let Some(Output::Text(explain)) =
                s.execute(&format!("EXPLAIN VIEW {};", view.name)).unwrap().pop()
            else {
                panic!("EXPLAIN gives text")
            };
            let mut explained: Vec<String> = explain
                .lines()
                .filter(|line| !line.contains("(of the source, shared"))
                .filter_map(|line| line.split_once("arrangement \"").map(|(_, rest)| rest))
                .filter_map(|rest| rest.split_once('"').map(|(name, _)| name.to_string()))
                .collect();
            explained.sort();
            let mut names: Vec<String> = facts.iter().map(|f| f.name.to_string()).collect();
            names.sort();
            assert_eq!(
                explained, names,
                "queries/{file} (feedback {retain_feedback}), view {}:\n{explain}",
                view.name
            );
            // SHOW STATS adds up arrangements of one name; the examples name each once, so
            // every one of them is reported on its own.
            names.dedup();
            assert_eq!(names.len(), facts.len(), "queries/{file}, view {}: a name twice", view.name);
            assert_eq!(
                reported(&view.name),
                listed(facts),
                "queries/{file} (feedback {retain_feedback}), view {}:\n{explain}",
                view.name
            );
        }
    }
}
