//! The REPL (`ebb` with no subcommand), driven through a pseudo-terminal as a person would:
//! multi-line statements, meta commands, errors with carets, Ctrl-C, and history kept across
//! runs. Every run uses its own temporary history file.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use expectrl::process::unix::{PtyStream, UnixProcess};
use expectrl::session::Session;
use expectrl::{ControlCode, Expect};

type Pty = Session<UnixProcess, PtyStream>;

/// Start `ebb` in a terminal; `history_flag` passes the history file with `--history`, else
/// with `EBB_HISTORY`.
fn start(history: &Path, history_flag: bool) -> Pty {
    start_with(history, history_flag, &[])
}

/// [`start`], with more environment variables.
fn start_with(history: &Path, history_flag: bool, env: &[(&str, &str)]) -> Pty {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ebb"));
    command.envs(env.iter().copied());
    if history_flag {
        command.arg("--history").arg(history);
        command.env_remove("EBB_HISTORY");
    } else {
        command.env("EBB_HISTORY", history);
    }
    command.env("TERM", "xterm").env("NO_COLOR", "1");
    let mut pty = Session::spawn(command).expect("ebb starts in a terminal");
    pty.set_expect_timeout(Some(Duration::from_secs(10)));
    expect(&mut pty, "\\? for help");
    expect(&mut pty, "ebb> ");
    pty
}

/// Wait for `needle`; return what came before it.
fn expect(pty: &mut Pty, needle: &str) -> String {
    match pty.expect(needle) {
        Ok(found) => String::from_utf8_lossy(found.before()).into_owned(),
        Err(e) => panic!("expected {needle:?} from the REPL: {e}"),
    }
}

/// Type a line and press Enter.
fn send(pty: &mut Pty, line: &str) {
    pty.send(line).expect("typing works");
    pty.send("\r").expect("typing works");
}

/// Type a line, wait for `needle` in what it prints, then for the next prompt; return the
/// text before the needle.
fn run(pty: &mut Pty, line: &str, needle: &str) -> String {
    send(pty, line);
    let before = expect(pty, needle);
    expect(pty, "ebb> ");
    before
}

/// Wait for `needle` in what the last line printed, then for the next prompt.
fn finish(pty: &mut Pty, needle: &str) {
    expect(pty, needle);
    expect(pty, "ebb> ");
}

/// Quit with `\q` and check the process ended well.
fn quit(mut pty: Pty) {
    send(&mut pty, "\\q");
    let status = pty.get_process().wait().expect("ebb ends");
    assert!(format!("{status:?}").ends_with(", 0)"), "ebb exited with {status:?}");
}

#[test]
fn multi_line_statement_rows_and_an_error_with_its_caret() {
    let dir = tempfile::tempdir().expect("a temp folder");
    let mut pty = start(&dir.path().join("history"), true);
    send(&mut pty, "CREATE SOURCE readings (");
    expect(&mut pty, "  -> ");
    send(&mut pty, "  sensor BIGINT, value DOUBLE,");
    expect(&mut pty, "  -> ");
    send(&mut pty, "  ts BIGINT) TIME ts;");
    expect(&mut pty, "CREATE SOURCE\r\n");
    expect(&mut pty, "ebb> ");
    run(&mut pty, "INSERT INTO readings VALUES (1, 20.5, 100), (2, 19.25, 105);", "INSERT 2");
    send(&mut pty, "SELECT sensor, value FROM readings ORDER BY sensor;");
    expect(&mut pty, "sensor");
    expect(&mut pty, "20.5");
    expect(&mut pty, "19.25");
    finish(&mut pty, "(2 rows)");
    // An error points at its token with carets; the session goes on.
    send(&mut pty, "SELECT * FROM nowhere;");
    expect(&mut pty, "source or view \"nowhere\" not found");
    expect(&mut pty, "--> <stdin>:1:15");
    expect(&mut pty, "^^^^^^^");
    expect(&mut pty, "ebb> ");
    run(&mut pty, "SELECT count(*) AS n FROM readings;", "(1 row)");
    quit(pty);
}

#[test]
fn meta_commands() {
    let dir = tempfile::tempdir().expect("a temp folder");
    let scripts = dir.path().join("scripts");
    std::fs::create_dir_all(scripts.join("data")).expect("a folder");
    std::fs::write(scripts.join("data/bids.csv"), "auction,price,ts\n1,10.5,1\n1,12.0,2\n2,7.0,3\n")
        .expect("a csv file");
    let script = scripts.join("load.sql");
    std::fs::write(
        &script,
        "CREATE SOURCE bids (auction BIGINT, price DOUBLE, ts BIGINT) TIME ts;\n\
         COPY bids FROM 'data/bids.csv' WITH (HEADER true);\n\
         CREATE VIEW best AS SELECT auction, price, ts FROM bids RETAIN TOP 1 PER auction BY price;\n",
    )
    .expect("a script");
    let mut pty = start(&dir.path().join("history"), true);

    // \i runs the script; its COPY path is relative to the script's folder.
    run(&mut pty, &format!("\\i {}", script.display()), "COPY 3");
    // \d lists sources and views with their columns.
    send(&mut pty, "\\d");
    expect(&mut pty, "bids");
    expect(&mut pty, "auction, price, ts");
    expect(&mut pty, "best");
    finish(&mut pty, "(2 rows)");
    // \d NAME: columns and types, and a view's definition.
    send(&mut pty, "\\d best");
    expect(&mut pty, "DOUBLE");
    expect(&mut pty, "View definition:");
    finish(&mut pty, "RETAIN TOP 1 PER auction BY price;");
    run(&mut pty, "\\d bids", "TIME");
    run(&mut pty, "\\d nothing", "no source or view named \"nothing\"");
    // \timing prints how long each statement took.
    run(&mut pty, "\\timing", "Timing is on.");
    send(&mut pty, "SELECT auction, price FROM best ORDER BY auction;");
    expect(&mut pty, "(2 rows)");
    finish(&mut pty, " ms");
    run(&mut pty, "\\timing", "Timing is off.");
    // \format csv prints result sets as CSV.
    run(&mut pty, "\\format csv", "Output format is csv.");
    send(&mut pty, "SELECT auction, price FROM best ORDER BY auction;");
    expect(&mut pty, "auction,price");
    expect(&mut pty, "1,12");
    finish(&mut pty, "2,7");
    run(&mut pty, "\\format table", "Output format is table.");
    // \? lists every meta command.
    send(&mut pty, "\\?");
    for command in ["\\d NAME", "\\i FILE", "\\timing", "\\format", "\\watch SECONDS", "\\q"] {
        expect(&mut pty, command);
    }
    expect(&mut pty, "ebb> ");
    run(&mut pty, "\\bogus", "unknown command \"\\bogus\"");
    // \q quits.
    quit(pty);
}

#[test]
fn ctrl_c_stops_a_watch_and_clears_the_line_and_ctrl_d_leaves() {
    let dir = tempfile::tempdir().expect("a temp folder");
    let mut pty = start(&dir.path().join("history"), true);
    run(&mut pty, "CREATE SOURCE s (k BIGINT, ts BIGINT) TIME ts;", "CREATE SOURCE");
    run(&mut pty, "INSERT INTO s VALUES (1, 1), (2, 2), (3, 3);", "INSERT 3");
    send(&mut pty, "\\watch 0.2 SELECT count(*) AS n FROM s;");
    expect(&mut pty, "run 1");
    expect(&mut pty, "run 2");
    expect(&mut pty, "(1 row)");
    pty.send(ControlCode::EndOfText).expect("Ctrl-C");
    expect(&mut pty, "Watch stopped.");
    expect(&mut pty, "ebb> ");
    // The session goes on, and the Ctrl-C does not cancel the next statement.
    send(&mut pty, "SELECT k FROM s WHERE k = 3;");
    expect(&mut pty, "(1 row)");
    expect(&mut pty, "ebb> ");
    // Ctrl-C at the prompt drops what was typed, even over several lines.
    send(&mut pty, "SELECT k");
    expect(&mut pty, "  -> ");
    pty.send("FROM nowhere").expect("typing works");
    pty.send(ControlCode::EndOfText).expect("Ctrl-C");
    expect(&mut pty, "ebb> ");
    run(&mut pty, "SELECT count(*) AS total FROM s;", "(1 row)");
    // Ctrl-D leaves.
    pty.send(ControlCode::EndOfTransmission).expect("Ctrl-D");
    let status = pty.get_process().wait().expect("ebb ends");
    assert!(format!("{status:?}").ends_with(", 0)"), "ebb exited with {status:?}");
}

#[test]
fn history_is_kept_across_runs() {
    let dir = tempfile::tempdir().expect("a temp folder");
    let history = dir.path().join("history");
    let mut pty = start(&history, true);
    send(&mut pty, "CREATE SOURCE first_run (");
    expect(&mut pty, "  -> ");
    send(&mut pty, "ts BIGINT) TIME ts;");
    expect(&mut pty, "CREATE SOURCE");
    expect(&mut pty, "ebb> ");
    run(&mut pty, "CREATE SOURCE probe (k BIGINT, ts BIGINT) TIME ts;", "CREATE SOURCE");
    quit(pty);
    let saved = std::fs::read_to_string(&history).expect("the history file was written");
    assert!(saved.contains("CREATE SOURCE probe (k BIGINT, ts BIGINT) TIME ts;"), "{saved}");
    assert!(saved.contains("CREATE SOURCE first_run ("), "{saved}");

    // The second run (history file from EBB_HISTORY this time) recalls the first run's
    // statements: Up, Up gives the statement before `\q`.
    let mut pty = start(&history, false);
    pty.send("\x1b[A").expect("Up");
    pty.send("\x1b[A").expect("Up");
    expect(&mut pty, "probe (k BIGINT");
    pty.send("\r").expect("Enter");
    expect(&mut pty, "CREATE SOURCE\r\n");
    expect(&mut pty, "ebb> ");
    send(&mut pty, "\\d");
    expect(&mut pty, "probe");
    expect(&mut pty, "k, ts");
    expect(&mut pty, "ebb> ");
    quit(pty);
    let saved = std::fs::read_to_string(&history).expect("the history file is still there");
    assert_eq!(saved.matches("CREATE SOURCE probe").count(), 2, "{saved}");
}

/// Results taller than the terminal go through `$EBB_PAGER` (here a command that saves what it
/// is given), unless `\pset pager off`; `\x` expands rows (`\x auto` the rows of tables wider
/// than the terminal); `\pset null` shows NULL as asked.
#[test]
fn pager_expanded_display_and_null_text() {
    let dir = tempfile::tempdir().expect("a temp folder");
    let paged = dir.path().join("paged.txt");
    let pager = format!("cat > '{}'", paged.display());
    let mut pty = start_with(&dir.path().join("history"), true, &[("EBB_PAGER", &pager)]);
    pty.get_process_mut().set_window_size(100, 12).expect("the terminal takes a size");
    run(&mut pty, "CREATE SOURCE s (k BIGINT, v TEXT, ts BIGINT) TIME ts;", "CREATE SOURCE");
    let values: Vec<String> = (1..=20).map(|k| format!("({k}, NULL, {k})")).collect();
    run(&mut pty, &format!("INSERT INTO s VALUES {};", values.join(", ")), "INSERT 20");
    // 20 rows do not fit 12 lines: the pager gets them, the terminal only the next prompt.
    send(&mut pty, "SELECT k FROM s ORDER BY k;");
    let shown = expect(&mut pty, "ebb> ");
    assert!(!shown.contains("(20 rows)"), "{shown}");
    let saved = std::fs::read_to_string(&paged).expect("the pager ran");
    assert!(saved.contains("│ 20 │") && saved.ends_with("(20 rows)\n"), "{saved}");
    // A short result is not paged.
    run(&mut pty, "SELECT k FROM s WHERE k = 3;", "(1 row)");
    run(&mut pty, "\\pset pager off", "Pager usage is off.");
    run(&mut pty, "SELECT k FROM s ORDER BY k;", "(20 rows)");
    run(&mut pty, "\\x", "Expanded display is on.");
    run(&mut pty, "\\pset null (unknown)", "Null display is \"(unknown)\".");
    send(&mut pty, "SELECT k, v FROM s WHERE k = 2;");
    expect(&mut pty, "-[ RECORD 1 ]");
    expect(&mut pty, "k | 2");
    expect(&mut pty, "v | (unknown)");
    finish(&mut pty, "(1 row)");
    // \x auto: tables that fit stay tables, wider ones (13 columns of SHOW STATS FULL) expand.
    run(&mut pty, "\\x auto", "Expanded display is used automatically.");
    run(&mut pty, "SELECT k FROM s WHERE k = 2;", "│ 2 │");
    send(&mut pty, "SHOW STATS FULL;");
    expect(&mut pty, "-[ RECORD 1 ]");
    expect(&mut pty, "disk_bytes        | (unknown)");
    finish(&mut pty, "(1 row)");
    quit(pty);
}

/// `SUBSCRIBE` prints each change on its own line as it comes, until Ctrl-C.
#[test]
fn subscribe_prints_changes_as_they_come() {
    let dir = tempfile::tempdir().expect("a temp folder");
    let mut pty = start(&dir.path().join("history"), true);
    run(&mut pty, "CREATE SOURCE g FROM GENERATOR sensors (keys = 1, rate = 50);", "CREATE SOURCE");
    run(&mut pty, "CREATE VIEW last AS SELECT sensor, ts FROM g RETAIN LATEST 1 PER sensor;", "CREATE VIEW");
    send(&mut pty, "SUBSCRIBE last;");
    expect(&mut pty, "SUBSCRIBE last: one line per change, until Ctrl-C.");
    // A newer reading replaces the last one: its row goes (-1) and the new one comes (+1).
    expect(&mut pty, "  -1  sensor=");
    expect(&mut pty, "  +1  sensor=");
    pty.send(ControlCode::EndOfText).expect("Ctrl-C");
    expect(&mut pty, "ebb> ");
    run(&mut pty, "SELECT count(*) AS n FROM last;", "(1 row)");
    quit(pty);
}
