//! One job across several processes, through the real binary: `--processes N` gives the
//! same bytes, errors and exit codes as one process; a bad hosts file, a process that never
//! connects and a process killed mid-job each end the job with an error naming the process
//! and its address. Every process is on loopback, and every run has a deadline: no test
//! can hang.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// What a finished run printed, and how it ended.
struct Ran {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

/// A running `ebb` whose output goes to files in `dir`.
struct Running {
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
}

fn start(args: &[&str], dir: &Path, name: &str) -> Running {
    let stdout = dir.join(format!("{name}.out"));
    let stderr = dir.join(format!("{name}.err"));
    let child = Command::new(env!("CARGO_BIN_EXE_ebb"))
        .args(args)
        .current_dir(manifest_dir())
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout).expect("a stdout file"))
        .stderr(std::fs::File::create(&stderr).expect("a stderr file"))
        .spawn()
        .expect("ebb starts");
    Running { child, stdout, stderr }
}

impl Running {
    /// Wait for the end, at most `limit`: past it, kill the process and fail the test.
    fn finish(mut self, limit: Duration) -> Ran {
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("ebb can be waited on") {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "ebb did not finish within {limit:?}; stderr: {}",
                    std::fs::read_to_string(&self.stderr).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        Ran {
            status,
            stdout: std::fs::read_to_string(&self.stdout).expect("stdout"),
            stderr: std::fs::read_to_string(&self.stderr).expect("stderr"),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run(args: &[&str]) -> Ran {
    let dir = tempfile::tempdir().expect("a temp folder");
    start(args, dir.path(), "ebb").finish(Duration::from_secs(120))
}

/// A hosts file of `processes` free loopback ports (held until chosen, so all differ).
fn hosts_file(dir: &Path, processes: usize) -> (String, Vec<String>) {
    let listeners: Vec<_> =
        (0..processes).map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("a free port")).collect();
    let addresses: Vec<String> =
        listeners.iter().map(|l| l.local_addr().expect("an address").to_string()).collect();
    let path = dir.join("hosts");
    std::fs::write(&path, addresses.join("\n") + "\n").expect("a hosts file");
    (path.display().to_string(), addresses)
}

#[test]
fn every_query_gives_the_same_csv_on_two_processes() {
    let mut queries: Vec<PathBuf> = std::fs::read_dir(manifest_dir().join("queries"))
        .expect("queries/")
        .map(|entry| entry.expect("an entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "sql"))
        .collect();
    queries.sort();
    assert!(queries.len() >= 5, "{queries:?}");
    for query in queries {
        let query = query.display().to_string();
        let one = run(&["run", &query, "--format", "csv"]);
        let two = run(&["run", &query, "--format", "csv", "--processes", "2"]);
        assert!(one.status.success(), "{query}: {}", one.stderr);
        assert_eq!(two.status.code(), one.status.code(), "{query}: {}", two.stderr);
        assert_eq!(two.stdout, one.stdout, "{query}");
        assert_eq!(two.stderr, one.stderr, "{query}");
    }
}

#[test]
fn two_processes_of_two_workers_agree_with_one_worker() {
    let query = "queries/auction.sql";
    let one = run(&["run", query, "--format", "csv"]);
    let four = run(&["run", query, "--format", "csv", "--processes", "2", "--workers", "2"]);
    assert!(four.status.success(), "{}", four.stderr);
    assert_eq!(four.stdout, one.stdout);
}

#[test]
fn an_error_is_the_same_on_two_processes() {
    let dir = tempfile::tempdir().expect("a temp folder");
    let script = dir.path().join("late.sql");
    std::fs::write(
        &script,
        "CREATE SOURCE s (k BIGINT, ts BIGINT) TIME ts;\n\
         CREATE VIEW v AS SELECT k, ts FROM s RETAIN LATEST 1 PER k;\n\
         INSERT INTO s VALUES (1, 10), (2, 20);\n\
         SELECT * FROM v ORDER BY k;\n\
         INSERT INTO s VALUES (3, 30), (1, 5);\n\
         SELECT * FROM v ORDER BY k;\n",
    )
    .expect("a script");
    let script = script.display().to_string();
    let one = run(&["run", &script, "--format", "csv"]);
    let two = run(&["run", &script, "--format", "csv", "--processes", "2"]);
    assert_eq!(one.status.code(), Some(1), "{}", one.stderr);
    assert_eq!(two.status.code(), one.status.code());
    assert_eq!(two.stdout, one.stdout);
    assert_eq!(two.stderr, one.stderr);
    assert!(two.stderr.contains("is late"), "{}", two.stderr);
}

#[test]
fn a_bad_hosts_file_names_the_file_and_line() {
    let dir = tempfile::tempdir().expect("a temp folder");
    let hosts = dir.path().join("hosts");
    std::fs::write(&hosts, "127.0.0.1:4000\nlocalhost\n").expect("a hosts file");
    let hosts = hosts.display().to_string();
    for args in [
        vec!["run", "queries/latest.sql", "--processes", "2", "--hosts", &hosts],
        vec!["worker", "--processes", "2", "--process", "1", "--hosts", &hosts],
    ] {
        let ran = run(&args);
        assert_eq!(ran.status.code(), Some(1), "{args:?}");
        assert!(
            ran.stderr.contains(&format!("hosts file \"{hosts}\" line 2: \"localhost\" is not host:port")),
            "{}",
            ran.stderr
        );
    }
    std::fs::write(dir.path().join("hosts"), "127.0.0.1:4000\n").expect("a hosts file");
    let ran = run(&["run", "queries/latest.sql", "--processes", "2", "--hosts", &hosts]);
    assert_eq!(ran.status.code(), Some(1));
    assert!(ran.stderr.contains("1 addresses for 2 processes"), "{}", ran.stderr);
    assert!(ran.stderr.contains(&hosts), "{}", ran.stderr);
}

#[test]
fn a_process_that_never_connects_is_named() {
    let dir = tempfile::tempdir().expect("a temp folder");
    let (hosts, addresses) = hosts_file(dir.path(), 2);
    let args = ["run", "queries/latest.sql", "--processes", "2", "--hosts", &hosts, "--connect-timeout", "1"];
    let ran = start(&args, dir.path(), "p0").finish(Duration::from_secs(10));
    assert_eq!(ran.status.code(), Some(1));
    assert!(
        ran.stderr.contains(&format!("process 1 ({}) did not connect within 1 s", addresses[1])),
        "{}",
        ran.stderr
    );
    let args = ["worker", "--processes", "2", "--process", "1", "--hosts", &hosts, "--connect-timeout", "1"];
    let ran = start(&args, dir.path(), "p1").finish(Duration::from_secs(10));
    assert_eq!(ran.status.code(), Some(1));
    assert!(
        ran.stderr.contains(&format!("cannot connect to process 0 ({})", addresses[0])),
        "{}",
        ran.stderr
    );
}

/// A script that runs for 30 s unless stopped: a live generator, subscribed to.
fn endless_script(dir: &Path) -> String {
    let script = dir.join("live.sql");
    std::fs::write(
        &script,
        "CREATE SOURCE readings FROM GENERATOR sensors (keys = 10, rate = 1000);\n\
         CREATE VIEW latest AS SELECT sensor, ts FROM readings RETAIN LATEST 1 PER sensor DELAY 1;\n\
         SUBSCRIBE latest FOR 30 SECONDS;\n",
    )
    .expect("a script");
    script.display().to_string()
}

/// Wait until `path` has some output: the job is under way.
fn wait_for_output(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::fs::metadata(path).map_or(0, |m| m.len()) == 0 {
        assert!(Instant::now() < deadline, "the job printed nothing");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_killed_worker_process_stops_the_job_with_its_name() {
    let dir = tempfile::tempdir().expect("a temp folder");
    let (hosts, addresses) = hosts_file(dir.path(), 2);
    let script = endless_script(dir.path());
    let mut worker =
        start(&["worker", "--processes", "2", "--process", "1", "--hosts", &hosts], dir.path(), "p1");
    let session = start(&["run", &script, "--processes", "2", "--hosts", &hosts], dir.path(), "p0");
    wait_for_output(&session.stdout);
    worker.child.kill().expect("the worker process is killed");
    let killed = Instant::now();
    let ran = session.finish(Duration::from_secs(10));
    assert!(killed.elapsed() < Duration::from_secs(10));
    assert_eq!(ran.status.code(), Some(1), "{}", ran.stderr);
    assert!(
        ran.stderr.contains(&format!("the job has stopped: process 1 ({}) stopped", addresses[1])),
        "{}",
        ran.stderr
    );
    assert!(!ran.stderr.contains("panicked"), "{}", ran.stderr);
}

#[test]
fn a_killed_session_process_stops_the_workers() {
    let dir = tempfile::tempdir().expect("a temp folder");
    let (hosts, addresses) = hosts_file(dir.path(), 3);
    let script = endless_script(dir.path());
    let workers: Vec<Running> = (1..3)
        .map(|i| {
            let i = i.to_string();
            start(
                &["worker", "--processes", "3", "--process", &i, "--hosts", &hosts],
                dir.path(),
                &format!("p{i}"),
            )
        })
        .collect();
    let mut session = start(&["run", &script, "--processes", "3", "--hosts", &hosts], dir.path(), "p0");
    wait_for_output(&session.stdout);
    session.child.kill().expect("the session process is killed");
    for (i, worker) in workers.into_iter().enumerate() {
        let ran = worker.finish(Duration::from_secs(10));
        assert_eq!(ran.status.code(), Some(1), "{}", ran.stderr);
        assert!(ran.stderr.contains(&format!("process {} ({})", i + 1, addresses[i + 1])), "{}", ran.stderr);
        assert!(ran.stderr.contains("the job has stopped: process "), "{}", ran.stderr);
        assert!(!ran.stderr.contains("panicked"), "{}", ran.stderr);
    }
}

#[test]
fn stats_per_process_add_up_to_the_totals() {
    let dir = tempfile::tempdir().expect("a temp folder");
    let script = dir.path().join("stats.sql");
    let values: Vec<String> = (0..200).map(|i| format!("({}, {i})", i % 17)).collect();
    std::fs::write(
        &script,
        format!(
            "CREATE SOURCE s (k BIGINT, ts BIGINT) TIME ts;\n\
             CREATE VIEW v AS SELECT k, ts FROM s RETAIN LATEST 2 PER k;\n\
             INSERT INTO s VALUES {};\n\
             SHOW STATS FULL;\n\
             SHOW STATS PER PROCESS;\n",
            values.join(", ")
        ),
    )
    .expect("a script");
    let script = script.display().to_string();
    let ran = run(&["run", &script, "--format", "csv", "--processes", "2"]);
    assert!(ran.status.success(), "{}", ran.stderr);
    let mut sets = ran.stdout.split("\r\n\r\n");
    let totals: Vec<Vec<String>> = csv_rows(sets.next().expect("SHOW STATS FULL"));
    let per_process: Vec<Vec<String>> = csv_rows(sets.next().expect("SHOW STATS PER PROCESS"));
    assert_eq!(per_process[0][0], "process");
    assert_eq!(per_process[0][1..], totals[0][..]);
    let processes: std::collections::BTreeSet<&str> =
        per_process[1..].iter().map(|r| r[0].as_str()).collect();
    assert_eq!(processes, ["0", "1"].into_iter().collect());
    for total in &totals[1..] {
        let summed: i64 = per_process[1..]
            .iter()
            .filter(|r| r[1..3] == total[0..2])
            .map(|r| r[3].parse::<i64>().expect("records"))
            .sum();
        assert_eq!(summed.to_string(), total[2], "{total:?}");
    }
    // The history holds every row: 200, spread over both processes.
    let history = totals.iter().find(|r| r[0] == "s" && r[1] == "history").expect("history");
    assert_eq!(history[2], "200");
}

fn csv_rows(text: &str) -> Vec<Vec<String>> {
    text.lines().filter(|l| !l.is_empty()).map(|l| l.split(',').map(str::to_string).collect()).collect()
}

/// The REPL on a job of processes: `args` after `ebb`, in a terminal.
fn repl(
    args: &[&str],
    dir: &Path,
) -> expectrl::session::Session<expectrl::process::unix::UnixProcess, expectrl::process::unix::PtyStream> {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ebb"));
    command.args(args).arg("--history").arg(dir.join("history"));
    command.current_dir(manifest_dir()).env("TERM", "xterm").env("NO_COLOR", "1");
    use expectrl::Expect;
    let mut pty = expectrl::session::Session::spawn(command).expect("ebb starts in a terminal");
    pty.set_expect_timeout(Some(Duration::from_secs(20)));
    pty.expect("ebb> ").expect("a prompt");
    pty
}

#[test]
fn the_repl_runs_on_two_processes_and_stops_them() {
    use expectrl::Expect;
    let dir = tempfile::tempdir().expect("a temp folder");
    let mut pty = repl(&["--processes", "2"], dir.path());
    pty.send_line(
        "CREATE SOURCE s (k BIGINT, ts BIGINT) TIME ts; INSERT INTO s VALUES (1, 1), (2, 2), (3, 3);",
    )
    .expect("typing works");
    pty.expect("INSERT 3").expect("the insert ran");
    pty.expect("ebb> ").expect("a prompt");
    pty.send_line("SELECT count(*) AS n FROM s;").expect("typing works");
    pty.expect("(1 row)").expect("the read ran");
    pty.expect("ebb> ").expect("a prompt");
    pty.send_line("\\q").expect("typing works");
    let status = pty.get_process().wait().expect("ebb ends");
    assert!(format!("{status:?}").ends_with(", 0)"), "ebb exited with {status:?}");
}

#[test]
fn an_idle_repl_stops_when_a_process_is_killed() {
    use expectrl::Expect;
    let dir = tempfile::tempdir().expect("a temp folder");
    let (hosts, addresses) = hosts_file(dir.path(), 2);
    let mut worker =
        start(&["worker", "--processes", "2", "--process", "1", "--hosts", &hosts], dir.path(), "p1");
    let mut pty = repl(&["--processes", "2", "--hosts", &hosts], dir.path());
    worker.child.kill().expect("the worker process is killed");
    let killed = Instant::now();
    let needle = format!("the job has stopped: process 1 ({}) stopped", addresses[1]);
    pty.expect(needle.as_str()).expect("the REPL reports the lost process");
    assert!(killed.elapsed() < Duration::from_secs(10));
    let status = pty.get_process().wait().expect("ebb ends");
    assert!(!format!("{status:?}").ends_with(", 0)"), "ebb exited with {status:?}");
}

#[test]
fn a_process_of_another_job_shape_is_refused() {
    let dir = tempfile::tempdir().expect("a temp folder");
    let (hosts, addresses) = hosts_file(dir.path(), 2);
    let worker = start(
        &[
            "worker",
            "--processes",
            "2",
            "--process",
            "1",
            "--hosts",
            &hosts,
            "--workers",
            "2",
            "--connect-timeout",
            "2",
        ],
        dir.path(),
        "p1",
    );
    let session = start(
        &["run", "queries/latest.sql", "--processes", "2", "--hosts", &hosts, "--connect-timeout", "2"],
        dir.path(),
        "p0",
    );
    let ran = session.finish(Duration::from_secs(10));
    assert_eq!(ran.status.code(), Some(1));
    assert!(
        ran.stderr.contains("is not part of this job: it runs 2 processes of 2 workers, this one 2 of 1"),
        "{}",
        ran.stderr
    );
    let ran = worker.finish(Duration::from_secs(10));
    assert_eq!(ran.status.code(), Some(1), "{}", ran.stderr);
    assert!(ran.stderr.contains(&format!("process 0 ({})", addresses[0])), "{}", ran.stderr);
}

#[test]
fn a_memory_budget_applies_to_each_process_and_changes_no_result() {
    let dir = tempfile::tempdir().expect("a temp folder");
    let script = dir.path().join("spill.sql");
    let values: Vec<String> = (0..3000).map(|i| format!("({}, {i}, 'n{i}')", i % 97)).collect();
    std::fs::write(
        &script,
        format!(
            "CREATE SOURCE s (k BIGINT, ts BIGINT, note TEXT) TIME ts;\n\
             CREATE VIEW v AS SELECT k, ts, note FROM s RETAIN LATEST 3 PER k;\n\
             INSERT INTO s VALUES {};\n\
             SELECT k, count(*) AS n, max(ts) AS newest FROM v GROUP BY k ORDER BY k;\n\
             SELECT count(*) AS rows FROM s;\n",
            values.join(", ")
        ),
    )
    .expect("a script");
    let script = script.display().to_string();
    let one = run(&["run", &script, "--format", "csv"]);
    let spill_dir = dir.path().join("spill");
    std::fs::create_dir(&spill_dir).expect("a spill folder");
    let spill_dir = spill_dir.display().to_string();
    let two = run(&[
        "run",
        &script,
        "--format",
        "csv",
        "--processes",
        "2",
        "--memory-budget",
        "0",
        "--spill-dir",
        &spill_dir,
    ]);
    assert!(one.status.success(), "{}", one.stderr);
    assert!(two.status.success(), "{}", two.stderr);
    assert_eq!(two.stdout, one.stdout);
}

/// `COPY` on two processes: the workers read the file (every process sees it here), and a
/// bad value, a late row or a malformed line fails the statement whole, with the same error
/// as on one process.
#[test]
fn copy_on_two_processes_is_atomic_and_errs_alike() {
    let dir = tempfile::tempdir().expect("a temp folder");
    let good: String = (0..500).map(|i| format!("{},{},{i}\n", i % 13, i * 2)).collect();
    std::fs::write(dir.path().join("good.csv"), format!("k,v,ts\n{good}")).expect("a file");
    let mut bad_value = good.clone();
    bad_value.insert_str(bad_value.find("7,14,7").expect("row 7"), "7,seven,7\n");
    std::fs::write(dir.path().join("bad_value.csv"), format!("k,v,ts\n{bad_value}")).expect("a file");
    let late: String = good.replace("1,600,300\n", "1,600,3\n");
    std::fs::write(dir.path().join("late.csv"), format!("k,v,ts\n{late}")).expect("a file");
    let ragged = good.replace("2,4,2\n", "2,\"4,2\n");
    std::fs::write(dir.path().join("ragged.csv"), format!("k,v,ts\n{ragged}")).expect("a file");
    for file in ["bad_value.csv", "late.csv", "ragged.csv"] {
        let script = dir.path().join("copy.sql");
        std::fs::write(
            &script,
            format!(
                "CREATE SOURCE s (k BIGINT, v BIGINT, ts BIGINT) TIME ts;\n\
                 CREATE VIEW top AS SELECT k, v, ts FROM s RETAIN TOP 2 PER k BY v DESC;\n\
                 COPY s FROM 'good.csv' WITH (HEADER true);\n\
                 INSERT INTO s VALUES (1, 5, 500);\n\
                 COPY s FROM '{file}' WITH (HEADER true);\n\
                 SELECT count(*) AS n, max(ts) AS newest FROM s;\n\
                 SELECT * FROM top ORDER BY k, v;\n"
            ),
        )
        .expect("a script");
        let script = script.display().to_string();
        let args = ["run", &script, "--format", "csv", "--continue-on-error"];
        let one = run(&args);
        let two = run(&[&args[..], &["--processes", "2"]].concat());
        assert_eq!(one.status.code(), Some(1), "{file}: {}", one.stderr);
        assert_eq!(two.status.code(), one.status.code(), "{file}");
        assert_eq!(two.stderr, one.stderr, "{file}");
        assert_eq!(two.stdout, one.stdout, "{file}");
        // Nothing of the failed COPY was applied: 500 rows and the INSERT's.
        assert!(two.stdout.starts_with("n,newest\r\n501,500\r\n"), "{file}: {}", two.stdout);
    }
}

#[test]
fn dropping_and_recreating_views_on_two_processes_agrees() {
    let dir = tempfile::tempdir().expect("a temp folder");
    let script = dir.path().join("drop.sql");
    std::fs::write(
        &script,
        "CREATE SOURCE s (k BIGINT, ts BIGINT) TIME ts;\n\
         CREATE VIEW v AS SELECT k, ts FROM s RETAIN LATEST 1 PER k;\n\
         CREATE VIEW w AS SELECT k, count(*) AS n FROM s GROUP BY k;\n\
         INSERT INTO s VALUES (1, 1), (2, 2), (3, 3), (1, 4), (2, 5);\n\
         SELECT * FROM v ORDER BY k;\n\
         DROP VIEW v;\n\
         INSERT INTO s VALUES (1, 6), (2, 7);\n\
         SELECT * FROM w ORDER BY k;\n\
         CREATE VIEW v AS SELECT k, ts FROM s RETAIN LATEST 1 PER k;\n\
         SELECT * FROM v ORDER BY k;\n\
         DROP VIEW w;\n\
         DROP VIEW v;\n\
         DROP SOURCE s;\n\
         SHOW STATS;\n",
    )
    .expect("a script");
    let script = script.display().to_string();
    let one = run(&["run", &script, "--format", "csv"]);
    let four = run(&["run", &script, "--format", "csv", "--processes", "2", "--workers", "2"]);
    assert!(one.status.success(), "{}", one.stderr);
    assert!(four.status.success(), "{}", four.stderr);
    assert_eq!(four.stdout, one.stdout);
}
