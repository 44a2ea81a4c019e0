//! Spilling under a memory budget: the same scripts give the same results with no budget, a
//! budget of zero (every chunk goes to disk) and a small budget, for every rule; spill files
//! are given back; faults (an unwritable directory, a corrupt chunk) are errors that name the
//! path and never wrong rows.

use std::path::{Path, PathBuf};

use ebb::repr::Datum;
use ebb::{Output, Session, SessionOptions};
use proptest::prelude::*;

/// A row of `r (k BIGINT, v BIGINT, ts BIGINT)`.
type Row = (i64, i64, i64);

/// splitmix64, so one proptest seed gives one data set.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) % n
    }
}

/// `statements` batches; batch `j` has times in `[j*1000, j*1000+999]`, in no order.
fn generate(seed: u64, keys: u64, statements: usize, rows: usize) -> Vec<Vec<Row>> {
    let mut rng = Rng(seed);
    (0..statements)
        .map(|j| {
            (0..rows)
                .map(|_| {
                    (
                        rng.below(keys) as i64,
                        rng.below(41) as i64 - 20,
                        (j * 1000) as i64 + rng.below(1000) as i64,
                    )
                })
                .collect()
        })
        .collect()
}

const RULES: [&str; 3] =
    ["LATEST 2 PER k DELAY 1", "TOP 3 PER k BY v DESC DELAY 500", "TOP 1 PER k BY v ASC DELAY 2000"];

fn session(budget: Option<u64>, spill_dir: Option<PathBuf>, workers: usize) -> Session {
    Session::new(SessionOptions { workers, memory_budget: budget, spill_dir, ..SessionOptions::default() })
        .expect("session starts")
}

fn setup(s: &mut Session) {
    let mut sql = "CREATE SOURCE r (k BIGINT, v BIGINT, ts BIGINT) TIME ts KEEP NONE;".to_string();
    for (i, rule) in RULES.iter().enumerate() {
        sql.push_str(&format!("CREATE VIEW v{i} AS SELECT k, v, ts FROM r RETAIN {rule};"));
    }
    s.execute(&sql).expect("setup");
}

fn insert_sql(rows: &[Row]) -> String {
    let values: Vec<String> = rows.iter().map(|(k, v, ts)| format!("({k}, {v}, {ts})")).collect();
    format!("INSERT INTO r VALUES {};", values.join(", "))
}

fn read(s: &mut Session, view: &str) -> Vec<Vec<Datum>> {
    let outputs = s.execute(&format!("SELECT * FROM {view};")).expect("read");
    let Some(Output::Rows { mut rows, .. }) = outputs.into_iter().next() else { panic!("no rows") };
    rows.sort_by_key(|r| format!("{r:?}"));
    rows
}

/// SHOW STATS FULL: (view, arrangement, records) and the spill columns.
fn stats(s: &mut Session) -> Vec<Vec<Datum>> {
    let outputs = s.execute("SHOW STATS FULL;").expect("stats");
    let Some(Output::Rows { columns, rows }) = outputs.into_iter().next() else { panic!("no stats") };
    assert_eq!(columns.len(), 13, "{columns:?}");
    rows
}

fn int(d: &Datum) -> i64 {
    match d {
        Datum::Int(n) => *n,
        other => panic!("not an integer: {other:?}"),
    }
}

/// The spill files in `dir`.
fn spill_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "ebbspill"));
    files.sort();
    files
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    /// Every rule, after every statement: no budget = budget 0 = a small budget.
    #[test]
    fn spilling_never_changes_a_result(seed in any::<u64>(), keys in 1u64..40, workers in 1usize..3) {
        let batches = generate(seed, keys, 4, 150);
        let mut sessions = [session(None, None, workers), session(Some(0), None, workers), session(Some(6_000), None, workers)];
        for s in &mut sessions {
            setup(s);
        }
        for batch in &batches {
            let sql = insert_sql(batch);
            for s in &mut sessions {
                s.execute(&sql).expect("insert");
            }
            for view in ["v0", "v1", "v2"] {
                let reference = read(&mut sessions[0], view);
                prop_assert_eq!(&read(&mut sessions[1], view), &reference, "budget 0, {}", view);
                prop_assert_eq!(&read(&mut sessions[2], view), &reference, "small budget, {}", view);
            }
        }
        let records = |rows: Vec<Vec<Datum>>| rows.into_iter().map(|r| r[..3].to_vec()).collect::<Vec<_>>();
        let reference = records(stats(&mut sessions[0]));
        let all_spilled = stats(&mut sessions[1]);
        let spilled_chunks: i64 =
            all_spilled.iter().filter(|r| r[7] != Datum::Null).map(|r| int(&r[7])).sum();
        prop_assert!(spilled_chunks > 0, "budget 0 spills: {:?}", all_spilled);
        prop_assert_eq!(records(all_spilled), reference.clone());
        prop_assert_eq!(records(stats(&mut sessions[2])), reference);
    }
}

/// With a budget of zero every chunk goes to disk; the files go when the view is dropped, and
/// the temporary directory when the session ends.
#[test]
fn spill_files_are_given_back() {
    let mut s = session(Some(0), None, 1);
    setup(&mut s);
    for batch in generate(7, 500, 5, 2_000) {
        s.execute(&insert_sql(&batch)).expect("insert");
    }
    for view in ["v0", "v1", "v2"] {
        assert!(!read(&mut s, view).is_empty(), "{view}");
    }
    let rows = stats(&mut s);
    let spilling: Vec<_> = rows.iter().filter(|r| r[7] != Datum::Null).collect();
    assert_eq!(spilling.len(), 9, "three views, each with an output and two rule arrangements: {rows:?}");
    for row in &spilling {
        let (resident, chunks, raw, disk) = (int(&row[6]), int(&row[7]), int(&row[8]), int(&row[12]));
        assert!(chunks > 0 && raw > 0, "{row:?}");
        // Budget 0: a chunk is on disk, or read by a cursor and held decoded by differential
        // (its bytes given back); SHOW STATS itself leaves nothing decoded.
        assert!(disk > 0 || resident == raw, "{row:?}");
        assert!(resident <= raw, "{row:?}");
        // raw_bytes >= compressed_bytes, and the ratio is theirs.
        assert!(int(&row[9]) <= raw, "{row:?}");
    }
    let output_resident: i64 =
        spilling.iter().filter(|r| r[1] == Datum::Text("output".into())).map(|r| int(&r[6])).sum();
    assert_eq!(
        output_resident, 0,
        "nothing reads the outputs through a cursor, not even SHOW STATS: {rows:?}"
    );
    let (totals, dir) = s.spill_totals();
    let dir = dir.expect("a spill directory was made");
    assert!(totals.written_bytes > 0 && totals.paged_bytes > 0, "{totals:?}");
    assert!(!spill_files(&dir).is_empty());
    s.execute("DROP VIEW v0; DROP VIEW v1; DROP VIEW v2;").expect("drop");
    assert_eq!(spill_files(&dir), Vec::<PathBuf>::new(), "every file went with its chunks");
    drop(s);
    assert!(!dir.exists(), "the temporary spill directory is removed at the end");
}

/// A spill directory that cannot be made: the statement that spilled fails naming the path,
/// no chunk is lost, and the session goes on with the same results as one that never spilled.
#[test]
fn an_unwritable_spill_directory_is_an_error_and_loses_nothing() {
    let temp = tempfile::tempdir().expect("tempdir");
    let blocker = temp.path().join("a-file");
    std::fs::write(&blocker, "not a directory").expect("write");
    let bad = blocker.join("spill");
    let mut s = session(Some(0), Some(bad.clone()), 1);
    let mut reference = session(None, None, 1);
    setup(&mut s);
    setup(&mut reference);
    let mut error = None;
    for batch in generate(11, 50, 3, 500) {
        let sql = insert_sql(&batch);
        reference.execute(&sql).expect("insert");
        // The statement is applied even when spilling fails, so it is not repeated.
        if let Err(e) = s.execute(&format!("{sql} SHOW STATS;")) {
            error.get_or_insert(e);
        }
    }
    let e = error.expect("spilling into a path under a file fails");
    assert!(e.message().contains(&bad.display().to_string()), "names the path: {}", e.message());
    assert!(e.detail().notes.iter().any(|n| n.contains("no rows were lost")), "{:?}", e.detail().notes);
    for view in ["v0", "v1", "v2"] {
        assert_eq!(read(&mut s, view), read(&mut reference, view), "{view}");
    }
}

/// A spilled chunk whose checksum fails: the statement fails naming the file, no rows come
/// back, and every later statement fails the same way (the session stops cleanly).
#[test]
fn a_corrupt_chunk_stops_the_session_naming_the_file() {
    let temp = tempfile::tempdir().expect("tempdir");
    let mut s = session(Some(0), Some(temp.path().to_path_buf()), 1);
    setup(&mut s);
    let batches = generate(5, 300, 6, 2_000);
    for batch in &batches[..3] {
        s.execute(&insert_sql(batch)).expect("insert");
    }
    s.sync().expect("sync");
    let files = spill_files(temp.path());
    assert!(!files.is_empty());
    // Damage every record of every file (the 16-byte file header is left alone).
    for file in &files {
        let mut bytes = std::fs::read(file).expect("read");
        for b in bytes.iter_mut().skip(16) {
            *b ^= 0x5a;
        }
        std::fs::write(file, bytes).expect("write");
    }
    let mut failed = None;
    for batch in &batches[3..] {
        match s.execute(&format!("{} SELECT * FROM v0; SHOW STATS;", insert_sql(batch))) {
            Ok(_) => continue,
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
    }
    let e = failed.expect("reading a corrupt chunk back fails");
    let dir = temp.path().display().to_string();
    assert!(e.message().contains(&dir), "names the file: {}", e.message());
    assert!(e.message().contains("spilled chunk"), "{}", e.message());
    let again = s.execute("SELECT * FROM v1;").expect_err("the session has stopped");
    assert!(again.message().contains("the engine has stopped"), "{}", again.message());
}

/// `SET memory_budget` and `SET spill_dir` take effect in a running session; bad values are
/// refused with the value's span.
#[test]
fn set_statements() {
    let temp = tempfile::tempdir().expect("tempdir");
    let mut s = session(None, None, 1);
    setup(&mut s);
    s.execute(&format!("SET spill_dir = '{}'; SET memory_budget = 0;", temp.path().display())).expect("set");
    for batch in generate(3, 100, 3, 1_000) {
        s.execute(&insert_sql(&batch)).expect("insert");
    }
    stats(&mut s);
    assert!(!spill_files(temp.path()).is_empty(), "spills into the directory set");
    s.execute("SET memory_budget = 'unlimited'; SET memory_budget TO '1GB';").expect("set");
    let e = s.execute("SET memory_budget = 'lots';").expect_err("not a size");
    assert!(e.message().contains("invalid memory budget 'lots'"), "{}", e.message());
    let e = s.execute("SET spill_dir = '/elsewhere';").expect_err("already in use");
    assert!(e.message().contains("already"), "{}", e.message());
    let e = s.execute("SET colour = 'blue';").expect_err("unknown");
    assert!(e.message().contains("unknown setting \"colour\""), "{}", e.message());
}

/// The memory chunk store is a backend like the files: every chunk past the memory tiers
/// goes to it, the results are the same, and nothing is written to the spill directory.
#[test]
fn the_memory_store_holds_what_would_go_to_disk() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut in_memory = Session::new(SessionOptions {
        memory_budget: Some(0),
        spill_dir: Some(dir.path().to_path_buf()),
        spill_store: ebb::storage::spill::SpillStore::Memory,
        ..SessionOptions::default()
    })
    .expect("session starts");
    let mut reference = session(None, None, 1);
    for s in [&mut in_memory, &mut reference] {
        setup(s);
        for batch in generate(7, 20, 3, 200) {
            s.execute(&insert_sql(&batch)).expect("insert");
        }
    }
    for view in ["v0", "v1", "v2"] {
        assert_eq!(read(&mut in_memory, view), read(&mut reference, view), "{view}");
    }
    let (totals, _) = in_memory.spill_totals();
    assert!(totals.written_bytes > 0, "chunks went to the store: {totals:?}");
    assert!(spill_files(dir.path()).is_empty(), "no spill file was written");
}
