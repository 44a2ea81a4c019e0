//! What the benchmark drivers share: numbers on the command line, a hash to spread keys, the
//! peak RSS, and running one case as a child process that prints a `RESULT` line.

use std::collections::BTreeMap;
use std::io::Read;
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};

/// The allocator the `ebb` binary uses, so benchmarks measure what users run.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A number, with `_` or `,` allowed as separators.
pub fn parse_num(s: &str) -> u64 {
    s.replace(['_', ','], "").parse().unwrap_or_else(|_| panic!("not a number: {s}"))
}

/// splitmix64: spreads `i` without a pattern the engine could exploit.
pub fn hash(i: u64) -> u64 {
    let mut z = i.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Peak resident set size of this process, in KiB (`VmHWM`).
pub fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// A case's `RESULT name=value ...` line, by name.
pub type Fields = BTreeMap<String, String>;

/// Run this executable with `args` as one case, killing it after `limit_secs`; its `RESULT`
/// line's fields.
pub fn run_case_child(args: &[String], limit_secs: u64) -> Result<Fields, String> {
    let exe = std::env::current_exe().map_err(|e| format!("no executable: {e}"))?;
    let mut child = Command::new(exe)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("spawn case: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(limit_secs);
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| format!("wait: {e}"))? {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("skipped: exceeded {limit_secs} s"));
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut out = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        stdout.read_to_string(&mut out).map_err(|e| format!("read stdout: {e}"))?;
    }
    if !status.success() {
        return Err(format!("failed: {status}"));
    }
    let line = out.lines().find(|l| l.starts_with("RESULT ")).ok_or("no RESULT line")?;
    line["RESULT ".len()..]
        .split_whitespace()
        .map(|field| {
            let (name, value) = field.split_once('=').ok_or("bad RESULT line")?;
            Ok((name.to_string(), value.to_string()))
        })
        .collect()
}

/// The field `name` of a `RESULT` line; 0 when the case did not report it.
pub fn field<T: FromStr + Default>(fields: &Fields, name: &str) -> Result<T, String> {
    fields.get(name).map_or(Ok(T::default()), |v| v.parse().map_err(|_| format!("bad {name}: {v}")))
}

/// The table cells of one finished case: seconds, items per second, share of time spent
/// generating input, records held, peak RSS in MB, and that RSS against the first case of the
/// series (`base_kib`, set by the first call).
pub fn result_cells(
    items: u64,
    secs: f64,
    gen_secs: f64,
    records: u64,
    hwm_kib: u64,
    base_kib: &mut Option<u64>,
) -> String {
    let ratio = match *base_kib {
        None => {
            *base_kib = Some(hwm_kib);
            String::new()
        }
        Some(base) => format!("{:.2}", hwm_kib as f64 / base.max(1) as f64),
    };
    format!(
        "{secs:.2} | {:.0} | {:.0} | {records} | {:.0} | {ratio} |",
        items as f64 / secs,
        100.0 * gen_secs / secs,
        hwm_kib as f64 / 1024.0
    )
}

/// The other processes of a case run on `processes` processes: processes 1.. as `ebb worker`
/// children on free loopback ports, each of `workers` workers; process 0 is this one, whose
/// session takes the options returned. The children end with the session.
pub struct Job {
    /// For the session's `SessionOptions::cluster` (`None` for one process).
    pub cluster: Option<ebb::engine::ClusterOptions>,
    children: Vec<std::process::Child>,
    _hosts: Option<tempfile::TempDir>,
}

impl Job {
    /// Start processes 1..`processes` (none for one).
    pub fn start(processes: usize, workers: usize) -> Job {
        if processes <= 1 {
            return Job { cluster: None, children: Vec::new(), _hosts: None };
        }
        let listeners: Vec<_> = (0..processes)
            .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("a free port"))
            .collect();
        let addresses: Vec<String> =
            listeners.iter().map(|l| l.local_addr().expect("an address").to_string()).collect();
        drop(listeners);
        let dir = tempfile::tempdir().expect("a temp folder");
        let hosts = dir.path().join("hosts");
        std::fs::write(&hosts, addresses.join("\n") + "\n").expect("a hosts file");
        let children = (1..processes)
            .map(|process| {
                Command::new(env!("CARGO_BIN_EXE_ebb"))
                    .args([
                        "worker",
                        "--processes",
                        &processes.to_string(),
                        "--process",
                        &process.to_string(),
                    ])
                    .arg("--hosts")
                    .arg(&hosts)
                    .args(["--workers", &workers.to_string()])
                    .stdout(Stdio::null())
                    .spawn()
                    .expect("ebb worker starts")
            })
            .collect();
        let cluster = ebb::engine::ClusterOptions::new(addresses, processes, 0).expect("cluster options");
        Job { cluster: Some(cluster), children, _hosts: Some(dir) }
    }

    /// Wait for the children, once the session has ended; the CPU seconds they used (read
    /// from `/proc` once each has exited, before it is reaped).
    pub fn finish(self) -> f64 {
        let mut cpu = 0.0;
        for mut child in self.children {
            let stat_path = format!("/proc/{}/stat", child.id());
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let stat = std::fs::read_to_string(&stat_path).unwrap_or_default();
                // Fields after the command name: state is the 1st, utime the 12th, stime the 13th.
                let fields: Vec<&str> =
                    stat.rsplit_once(')').map_or(Vec::new(), |(_, rest)| rest.split_whitespace().collect());
                let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
                if fields.first() == Some(&"Z") || fields.is_empty() || Instant::now() > deadline {
                    cpu += (ticks(11) + ticks(12)) / 100.0;
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            let _ = child.wait();
        }
        cpu
    }
}
