//! A full disk, made with a file-size limit (`RLIMIT_FSIZE`, with `SIGXFSZ` ignored so that
//! a write past it fails with `EFBIG` instead of killing the process): the statement that
//! spilled fails naming the spill file, no row is lost, and the session goes on.
//!
//! Alone in its test binary: the limit applies to the whole process.

use ebb::repr::Datum;
use ebb::{Output, Session, SessionOptions};

fn view_rows(s: &mut Session) -> Vec<Vec<Datum>> {
    let outputs = s.execute("SELECT * FROM latest;").expect("read");
    let Some(Output::Rows { mut rows, .. }) = outputs.into_iter().next() else { panic!("no rows") };
    rows.sort_by_key(|r| format!("{r:?}"));
    rows
}

#[test]
fn a_full_disk_is_an_error_naming_the_file_and_loses_nothing() {
    let temp = tempfile::tempdir().expect("tempdir");
    let setup = "CREATE SOURCE r (k BIGINT, v BIGINT, ts BIGINT) TIME ts KEEP NONE;
                 CREATE VIEW latest AS SELECT k, v, ts FROM r RETAIN LATEST 3 PER k;";
    let options =
        |budget, dir| SessionOptions { memory_budget: budget, spill_dir: dir, ..SessionOptions::default() };
    let mut full = Session::new(options(Some(0), Some(temp.path().to_path_buf()))).expect("session");
    let mut reference = Session::new(options(None, None)).expect("session");
    full.execute(setup).expect("setup");
    reference.execute(setup).expect("setup");

    // 64 KiB per file: the first segment fills up after a few chunks.
    // SAFETY: plain libc calls with valid arguments; this test is alone in its process.
    let old = unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        let mut old = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        assert_eq!(libc::getrlimit(libc::RLIMIT_FSIZE, &mut old), 0);
        let limit = libc::rlimit { rlim_cur: 64 * 1024, rlim_max: old.rlim_max };
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &limit), 0);
        old
    };
    let mut error = None;
    for batch in 0..8i64 {
        let values: Vec<String> =
            (0..3_000i64).map(|i| format!("({}, {i}, {})", (i * 7919) % 1_000, batch * 10_000 + i)).collect();
        let sql = format!("INSERT INTO r VALUES {};", values.join(", "));
        reference.execute(&sql).expect("insert");
        if let Err(e) = full.execute(&format!("{sql} SHOW STATS;")) {
            error.get_or_insert(e);
        }
    }
    let same = view_rows(&mut full) == view_rows(&mut reference);
    // SAFETY: as above.
    unsafe {
        libc::setrlimit(libc::RLIMIT_FSIZE, &old);
    }
    let e = error.expect("a write past the file-size limit fails");
    assert!(e.message().contains(&temp.path().display().to_string()), "names the file: {}", e.message());
    assert!(e.message().contains(".ebbspill"), "{}", e.message());
    assert!(e.detail().notes.iter().any(|n| n.contains("no rows were lost")), "{:?}", e.detail().notes);
    assert!(same, "the view is what it would be without spilling");
}
