//! Several processes, one job: the hosts file, the connections between processes, and
//! noticing when one goes away.
//!
//! In: [`ClusterOptions`] (how many processes, which one this is, every process's address).
//! Out: connected sockets handed to timely's own networking layer
//! (`initialize_networking_from_sockets`), so every byte between processes is timely's; and a
//! [`Health`] that says which process was lost, if one was.
//!
//! Why connect here rather than through timely's `Config::Cluster`: timely retries a refused
//! connection forever and prints its progress on standard output (which carries query
//! results). Here connecting has a deadline, a refusal or a silent peer is an error naming the
//! process and its address, and nothing is printed. The handshake is timely's (the connecting
//! process writes its index as a big-endian `u64`), preceded by a short greeting that checks
//! both ends run the same job shape.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// How to join a job of several processes.
#[derive(Clone, Debug)]
pub struct ClusterOptions {
    /// How many processes take part.
    pub processes: usize,
    /// This process's index, `0..processes`. Process 0 holds the session.
    pub process: usize,
    /// Every process's `host:port`, in process order.
    pub addresses: Vec<String>,
    /// How long to wait for every other process to connect.
    pub connect_timeout: Duration,
}

/// The default for [`ClusterOptions::connect_timeout`].
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

impl ClusterOptions {
    /// Options for process `process` of `processes`, reading the addresses from a hosts file:
    /// one `host:port` a line, one line per process, in process order (blank lines and lines
    /// starting with `#` are skipped). Every error names the file, and the line if one is wrong.
    pub fn from_hosts_file(path: &Path, processes: usize, process: usize) -> Result<ClusterOptions> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::io(format!("cannot read hosts file \"{}\": {e}", path.display())))?;
        let addresses = parse_hosts(&text).map_err(|(line, message)| {
            Error::bind(format!("hosts file \"{}\" line {line}: {message}", path.display()))
                .with_hint("write one host:port a line, one line per process, process 0 first")
        })?;
        ClusterOptions::new(addresses, processes, process)
            .map_err(|e| e.with_note(format!("in hosts file \"{}\"", path.display())))
    }

    /// Options for process `process` of `processes` at `addresses`.
    pub fn new(addresses: Vec<String>, processes: usize, process: usize) -> Result<ClusterOptions> {
        if processes == 0 {
            return Err(Error::bind("the number of processes must be at least 1"));
        }
        if process >= processes {
            return Err(Error::bind(format!(
                "process {process} does not exist: processes are numbered 0 to {}",
                processes - 1
            )));
        }
        if addresses.len() != processes {
            return Err(Error::bind(format!(
                "{} addresses for {processes} processes: every process needs exactly one",
                addresses.len()
            )));
        }
        Ok(ClusterOptions { processes, process, addresses, connect_timeout: CONNECT_TIMEOUT })
    }

    /// `process i (host:port)`, for messages.
    pub fn describe(&self, process: usize) -> String {
        describe(&self.addresses, process)
    }
}

fn describe(addresses: &[String], process: usize) -> String {
    match addresses.get(process) {
        Some(address) => format!("process {process} ({address})"),
        None => format!("process {process}"),
    }
}

/// The addresses of a hosts file, or the first bad line (1-based) and what is wrong with it.
fn parse_hosts(text: &str) -> std::result::Result<Vec<String>, (usize, String)> {
    let mut addresses = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((host, port)) = line.rsplit_once(':') else {
            return Err((i + 1, format!("\"{line}\" is not host:port (no port)")));
        };
        if host.is_empty() || host.contains(char::is_whitespace) {
            return Err((i + 1, format!("\"{line}\" is not host:port (bad host \"{host}\")")));
        }
        if port.parse::<u16>().is_err() {
            return Err((i + 1, format!("\"{line}\" is not host:port (bad port \"{port}\")")));
        }
        addresses.push(line.to_string());
    }
    Ok(addresses)
}

/// Whether every other process is still there, as seen by this one's connections.
#[derive(Default)]
pub struct Health {
    /// The first process lost, described, with why.
    lost: Mutex<Option<String>>,
    /// Set once this process is stopping on purpose: connections closing then are expected.
    closing: AtomicBool,
    /// Bytes written to other processes.
    sent: AtomicU64,
    /// Bytes read from other processes.
    received: AtomicU64,
}

impl Health {
    /// Why the job cannot go on, if a process was lost.
    pub fn lost(&self) -> Option<String> {
        self.lost.lock().ok().and_then(|lost| lost.clone())
    }

    /// Bytes this process has sent to the others so far.
    pub fn bytes_sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Bytes this process has received from the others so far.
    pub fn bytes_received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }

    /// Note that this process is stopping: connections closing from now on are expected.
    pub(crate) fn close(&self) {
        self.closing.store(true, Ordering::SeqCst);
    }

    fn lose(&self, who: &str, why: &str) {
        if self.closing.load(Ordering::SeqCst) {
            return;
        }
        if let Ok(mut lost) = self.lost.lock()
            && lost.is_none()
        {
            *lost = Some(format!("{who} stopped: {why}"));
        }
    }
}

/// A connection to another process, as timely's send and receive threads use it: reports its
/// end to [`Health`] (timely's threads only panic) and counts the bytes through it.
pub struct Watched {
    stream: TcpStream,
    who: Arc<str>,
    health: Arc<Health>,
}

impl Read for Watched {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.stream.read(buf) {
            Ok(0) if !buf.is_empty() => {
                self.health.lose(&self.who, "the connection was closed");
                Ok(0)
            }
            Err(e) => {
                self.health.lose(&self.who, &format!("the connection failed: {e}"));
                Err(e)
            }
            Ok(n) => {
                self.health.received.fetch_add(n as u64, Ordering::Relaxed);
                Ok(n)
            }
        }
    }
}

impl Write for Watched {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.stream.write(buf) {
            Ok(n) => {
                self.health.sent.fetch_add(n as u64, Ordering::Relaxed);
                Ok(n)
            }
            Err(e) => {
                self.health.lose(&self.who, &format!("the connection failed: {e}"));
                Err(e)
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

impl timely::communication::allocator::zero_copy::stream::Stream for Watched {
    fn try_clone(&self) -> io::Result<Self> {
        Ok(Watched { stream: self.stream.try_clone()?, who: self.who.clone(), health: self.health.clone() })
    }

    fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.stream.set_nonblocking(nonblocking)
    }

    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.stream.shutdown(how)
    }
}

/// What a connecting process sends first: a tag, then the job shape, then (timely's
/// handshake) its index.
const GREETING: &[u8; 8] = b"ebb-job1";

/// Connect to every other process: to each lower-numbered one (retrying until the deadline,
/// as it may not be listening yet), and accept each higher-numbered one. Returns one socket
/// per process, `None` at this process's own index, as timely's networking takes them.
pub(super) fn connect(
    options: &ClusterOptions,
    threads: usize,
    health: &Arc<Health>,
) -> Result<Vec<Option<Watched>>> {
    let deadline = Instant::now() + options.connect_timeout;
    let me = options.process;
    let mut sockets: Vec<Option<Watched>> = (0..options.processes).map(|_| None).collect();
    let wrap = |stream: TcpStream, process: usize| Watched {
        stream,
        who: Arc::from(options.describe(process)),
        health: health.clone(),
    };
    // Listen first, so that higher-numbered processes can connect while this one connects to
    // the lower ones.
    let listener = (me + 1 < options.processes)
        .then(|| {
            TcpListener::bind(&options.addresses[me]).map_err(|e| {
                Error::io(format!("{} cannot listen on {}: {e}", options.describe(me), options.addresses[me]))
            })
        })
        .transpose()?;
    for (process, address) in options.addresses.iter().enumerate().take(me) {
        let mut stream = connect_with_deadline(address, deadline).map_err(|e| {
            Error::io(format!("cannot connect to {}: {e}", options.describe(process))).with_hint(
                "start every process of the job within the connect timeout, with the same hosts file",
            )
        })?;
        let mut hello = GREETING.to_vec();
        hello.extend((options.processes as u64).to_be_bytes());
        hello.extend((threads as u64).to_be_bytes());
        hello.extend((me as u64).to_be_bytes());
        stream
            .write_all(&hello)
            .map_err(|e| Error::io(format!("cannot greet {}: {e}", options.describe(process))))?;
        sockets[process] = Some(wrap(stream, process));
    }
    if let Some(listener) = listener {
        listener.set_nonblocking(true).map_err(|e| Error::io(format!("cannot listen: {e}")))?;
        while sockets.iter().enumerate().any(|(i, s)| i > me && s.is_none()) {
            match listener.accept() {
                Ok((stream, from)) => {
                    let process = greeted(
                        stream.try_clone().map_err(|e| Error::io(e.to_string()))?,
                        options,
                        threads,
                        deadline,
                    )
                    .map_err(|e| {
                        Error::io(format!("a connection from {from} is not part of this job: {e}"))
                    })?;
                    stream.set_nodelay(true).map_err(|e| Error::io(e.to_string()))?;
                    sockets[process] = Some(wrap(stream, process));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if Instant::now() >= deadline {
                        let missing: Vec<String> = (me + 1..options.processes)
                            .filter(|i| sockets[*i].is_none())
                            .map(|i| options.describe(i))
                            .collect();
                        return Err(Error::io(format!(
                            "{} did not connect within {} s",
                            missing.join(", "),
                            options.connect_timeout.as_secs()
                        ))
                        .with_hint("start every process of the job with the same hosts file"));
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => return Err(Error::io(format!("cannot accept connections: {e}"))),
            }
        }
    }
    Ok(sockets)
}

fn connect_with_deadline(address: &str, deadline: Instant) -> io::Result<TcpStream> {
    loop {
        let attempt = address.to_socket_addrs().and_then(|mut addrs| {
            let addr = addrs
                .next()
                .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "the host has no address"))?;
            TcpStream::connect_timeout(&addr, Duration::from_secs(1))
        });
        match attempt {
            Ok(stream) => {
                stream.set_nodelay(true)?;
                return Ok(stream);
            }
            Err(e) if Instant::now() >= deadline => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// Read a connecting process's greeting; its index if it belongs to this job.
fn greeted(
    mut stream: TcpStream,
    options: &ClusterOptions,
    threads: usize,
    deadline: Instant,
) -> io::Result<usize> {
    stream.set_nonblocking(false)?;
    let wait = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(100));
    stream.set_read_timeout(Some(wait))?;
    let mut hello = [0u8; 32];
    stream.read_exact(&mut hello)?;
    stream.set_read_timeout(None)?;
    let word = |i: usize| {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&hello[8 * i..8 * i + 8]);
        u64::from_be_bytes(bytes) as usize
    };
    let bad = |what: String| io::Error::new(io::ErrorKind::InvalidData, what);
    if &hello[..8] != GREETING {
        return Err(bad("it does not speak Ebb's protocol".into()));
    }
    if word(1) != options.processes || word(2) != threads {
        return Err(bad(format!(
            "it runs {} processes of {} workers, this one {} of {threads}",
            word(1),
            word(2),
            options.processes
        )));
    }
    let process = word(3);
    if process <= options.process || process >= options.processes {
        return Err(bad(format!("it says it is process {process}")));
    }
    Ok(process)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hosts_file_is_one_address_a_line() {
        let text = "# the job\n127.0.0.1:4000\n\nlocalhost:4001\n";
        assert_eq!(parse_hosts(text).expect("parses"), vec!["127.0.0.1:4000", "localhost:4001"]);
    }

    #[test]
    fn a_bad_line_is_named() {
        assert_eq!(parse_hosts("127.0.0.1:4000\nlocalhost\n").expect_err("bad").0, 2);
        assert_eq!(parse_hosts("127.0.0.1:99999\n").expect_err("bad").0, 1);
        assert_eq!(parse_hosts(":4000\n").expect_err("bad").0, 1);
    }

    #[test]
    fn the_count_must_match() {
        let e = ClusterOptions::new(vec!["127.0.0.1:1".into()], 2, 0).expect_err("one short");
        assert!(e.message().contains("1 addresses for 2 processes"), "{}", e.message());
        let e = ClusterOptions::new(vec!["a:1".into(), "b:2".into()], 2, 2).expect_err("no process 2");
        assert!(e.message().contains("process 2 does not exist"), "{}", e.message());
    }
}
