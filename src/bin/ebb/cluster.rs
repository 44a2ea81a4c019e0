//! `--processes`, `--process`, `--hosts` and `ebb worker`: running one job across processes.
//!
//! With `--hosts`, this process is one of the job's, as the hosts file says (process 0 runs the
//! session, the others run `ebb worker`). Without it, `--processes N` runs the job on this
//! machine: the N−1 other processes are started here, on free loopback ports, and stopped at
//! the end (see [`Job`]).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ebb::engine::ClusterOptions;
use ebb::storage::spill::{SEGMENT_BYTES, Spill, SpillStore};
use ebb::{Error, Result};

/// Which processes the job runs on.
#[derive(clap::Args, Clone)]
pub struct ClusterArgs {
    /// Run the job across this many processes (timely's cluster mode). Without --hosts, the
    /// other processes are started on this machine and stopped at the end.
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = parse_processes)]
    pub processes: usize,
    /// This process's index in the job (0 runs the session) [default: 0].
    #[arg(long, value_name = "I", requires = "hosts")]
    pub process: Option<usize>,
    /// A file of host:port lines, one per process in order, as timely's -h takes them.
    #[arg(long, value_name = "FILE")]
    pub hosts: Option<PathBuf>,
    /// Seconds to wait for every process of the job to connect.
    #[arg(long, value_name = "SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub connect_timeout: u64,
}

fn parse_processes(text: &str) -> std::result::Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("a job needs at least 1 process".to_string()),
        Ok(processes) => Ok(processes),
        Err(_) => Err(format!("not a number of processes: {text}")),
    }
}

/// The other processes of a job this one started, stopped when it ends.
pub struct Job {
    children: Arc<Mutex<Vec<(usize, Child)>>>,
    /// Set until the session is up: a process that fails before then is reported at once
    /// (the session would otherwise wait out the connect timeout for it). After, a lost process
    /// is the session's to report.
    starting: Arc<AtomicBool>,
    _hosts_dir: Option<tempfile::TempDir>,
}

impl Job {
    /// The session is up: from now on the session reports a lost process.
    pub fn started(&self) {
        self.starting.store(false, Ordering::SeqCst);
    }

    /// While the job starts, exit with an error as soon as one of its processes fails.
    fn watch(&self, addresses: Vec<String>) {
        let (children, starting) = (self.children.clone(), self.starting.clone());
        std::thread::spawn(move || {
            while starting.load(Ordering::SeqCst) {
                let failed = children.lock().ok().and_then(|mut children| {
                    children.iter_mut().find_map(|(process, child)| match child.try_wait() {
                        Ok(Some(status)) if !status.success() => Some((*process, status)),
                        _ => None,
                    })
                });
                if let Some((process, status)) = failed
                    && starting.load(Ordering::SeqCst)
                {
                    let address = addresses.get(process).map_or(String::new(), |a| format!(" ({a})"));
                    let message =
                        format!("process {process}{address} stopped before the job started ({status})");
                    eprint!("{}", Error::engine(message).render("", ""));
                    std::process::exit(1);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        self.started();
        // They end on their own once the session has ended; a job that failed may leave one
        // waiting on a lost peer.
        let deadline = Instant::now() + Duration::from_secs(2);
        let Ok(mut children) = self.children.lock() else { return };
        for (_, child) in children.iter_mut() {
            while Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(10));
            }
            if matches!(child.try_wait(), Ok(None)) {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
    }
}

impl ClusterArgs {
    /// The cluster the session (process 0) runs on, starting the other processes first if
    /// no hosts file says where they are; `None` for one process. `workers` and `spill_dir`
    /// are passed on to processes started here.
    pub fn session_cluster(
        &self,
        workers: usize,
        spill_dir: Option<&Path>,
    ) -> Result<(Option<ClusterOptions>, Option<Job>)> {
        if let Some(hosts) = &self.hosts {
            let process = self.process.unwrap_or(0);
            if process != 0 {
                return Err(Error::bind(format!(
                    "process {process} only serves workers; the session runs on process 0"
                ))
                .with_hint(format!(
                    "run `ebb worker --processes {} --process {process} --hosts {}`",
                    self.processes,
                    hosts.display()
                )));
            }
            return Ok((Some(self.options(hosts, 0)?), None));
        }
        if self.processes == 1 {
            return Ok((None, None));
        }
        let (mut options, job) = start_local_job(self.processes, workers, self.connect_timeout, spill_dir)?;
        options.connect_timeout = Duration::from_secs(self.connect_timeout);
        Ok((Some(options), Some(job)))
    }

    /// The options of process `process`, as the hosts file says.
    fn options(&self, hosts: &Path, process: usize) -> Result<ClusterOptions> {
        let mut options = ClusterOptions::from_hosts_file(hosts, self.processes, process)?;
        options.connect_timeout = Duration::from_secs(self.connect_timeout);
        Ok(options)
    }
}

/// Start processes 1..processes of a job on this machine, on free loopback ports.
fn start_local_job(
    processes: usize,
    workers: usize,
    connect_timeout: u64,
    spill_dir: Option<&Path>,
) -> Result<(ClusterOptions, Job)> {
    // Every port is held until all are chosen, so no two are the same.
    let listeners = (0..processes)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(|e| Error::io(format!("cannot find free loopback ports: {e}")))?;
    let addresses = listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.to_string()))
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(|e| Error::io(format!("cannot find free loopback ports: {e}")))?;
    drop(listeners);
    let dir = tempfile::tempdir().map_err(|e| Error::io(format!("cannot make a hosts file: {e}")))?;
    let hosts = dir.path().join("hosts");
    std::fs::write(&hosts, addresses.join("\n") + "\n")
        .map_err(|e| Error::io(format!("cannot write \"{}\": {e}", hosts.display())))?;
    let exe = std::env::current_exe().map_err(|e| Error::io(format!("cannot find the ebb binary: {e}")))?;
    let mut children = Vec::new();
    for process in 1..processes {
        let mut command = Command::new(&exe);
        command
            .arg("worker")
            .args(["--processes", &processes.to_string(), "--process", &process.to_string()])
            .arg("--hosts")
            .arg(&hosts)
            .args(["--workers", &workers.to_string()])
            .args(["--connect-timeout", &connect_timeout.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        if let Some(dir) = spill_dir {
            command.arg("--spill-dir").arg(dir);
        }
        let child = command
            .spawn()
            .map_err(|e| Error::io(format!("cannot start process {process} ({}): {e}", exe.display())))?;
        children.push((process, child));
    }
    let job = Job {
        children: Arc::new(Mutex::new(children)),
        starting: Arc::new(AtomicBool::new(true)),
        _hosts_dir: Some(dir),
    };
    job.watch(addresses.clone());
    let options = ClusterOptions::new(addresses, processes, 0)?;
    Ok((options, job))
}

/// `ebb worker`: serve this process's workers until the session on process 0 ends the job.
pub fn serve(cluster: &ClusterArgs, workers: usize, spill_dir: Option<PathBuf>) -> ExitCode {
    let served = (|| {
        let Some(hosts) = &cluster.hosts else {
            return Err(Error::bind("ebb worker needs --hosts: the addresses of every process of the job"));
        };
        let options = cluster.options(hosts, cluster.process.unwrap_or(0))?;
        let spill = std::sync::Arc::new(Spill::new(SpillStore::Files, spill_dir, SEGMENT_BYTES));
        ebb::session::serve_cluster(&options, workers, spill)
    })();
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprint!("{}", e.render("", ""));
            ExitCode::FAILURE
        }
    }
}

/// For a session that waits on its user (the REPL): once a process of the job is lost and the
/// session has not reported it within a second, report it and exit, so no process waits on a
/// job that cannot go on.
pub fn watch(health: std::sync::Arc<ebb::engine::Health>) {
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(Duration::from_millis(100));
            if let Some(lost) = health.lost() {
                std::thread::sleep(Duration::from_secs(1));
                eprint!("{}", Error::engine(format!("the job has stopped: {lost}")).render("", ""));
                std::process::exit(1);
            }
        }
    });
}
