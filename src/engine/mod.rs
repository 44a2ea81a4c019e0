//! The engine: timely workers that run every view's dataflow.
//!
//! In: [`Command`]s from the session. Out: [`Reply`]s (rows, stats, acknowledgements).
//! Every worker receives every command, in the same order, and builds the same dataflows;
//! only rows are split between workers, and the engine deals them ([`Engine::insert`]), by the
//! key a view spreads them by where the session registered one ([`KeyRoute`]): the session does
//! not know how many workers there are. A command is applied by all workers or
//! by none: the session validates everything before it sends. Reads wait until every
//! worker's dataflow has caught up with the read's time, then gather each worker's share.
//!
//! The workers run in one process (channels carry commands and replies), or in several
//! ([`ClusterOptions`]): then process 0 holds the session, and commands and replies travel
//! through timely dataflows (see `feed.rs`); the other processes only serve
//! ([`serve_cluster`]).

pub mod cluster;
mod feed;
mod sources;
mod worker;

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::Thread;
use std::time::Duration;

use differential_dataflow::trace::ExertionLogic;

pub use cluster::{ClusterOptions, Health};

use crate::error::{Error, Result};
use crate::plan::arrangements::ArrangementName;
use crate::plan::{ObjectId, Plan, SourceKind};
use crate::render::KeyRoute;
use crate::repr::{ByteRows, Datum, EncodedRow, Time, row};
use crate::storage::spill::{Failure, Spill, SpillCounts};

/// What a worker is told to do.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub enum Command {
    /// Start accepting rows for a source.
    CreateSource {
        /// The source.
        id: ObjectId,
        /// Where its rows come from.
        kind: SourceKind,
        /// The dataflow frontier it starts at.
        frontier: Time,
    },
    /// Build a view's dataflow.
    CreateView {
        /// The view.
        id: ObjectId,
        /// Its plan.
        plan: Arc<Plan>,
    },
    /// Insert rows (this worker's share) into a source at `time`, then move the source's
    /// frontier to `advance_to`.
    Insert {
        /// The source.
        source: ObjectId,
        /// Rows, encoded.
        rows: ByteRows,
        /// The dataflow time they enter at.
        time: Time,
        /// The source's frontier afterwards.
        advance_to: Time,
    },
    /// Move sources' frontiers.
    Advance {
        /// (source, new frontier) pairs.
        frontiers: Vec<(ObjectId, Time)>,
    },
    /// Reply with the rows of a view or source as of `time` (every frontier is at `time`).
    Peek {
        /// The view or source.
        id: ObjectId,
        /// The read time.
        time: Time,
    },
    /// Reply once every dataflow has caught up with the frontiers of the sources it reads.
    Sync,
    /// Reply with the state held, once every dataflow has caught up with the frontiers of the
    /// sources it reads and arrangements have merged what they can.
    Stats,
    /// Reply with the state held right now, without waiting for anything.
    StatsNow,
    /// Tear down a view or a source.
    Drop {
        /// The object.
        id: ObjectId,
    },
    /// Read this worker's share of a `COPY` file every process can see, and hold it until
    /// [`Command::InsertStaged`] or [`Command::DiscardStaged`].
    StageCopy(CopyShare),
    /// Insert the rows staged by [`Command::StageCopy`], as [`Command::Insert`] does.
    InsertStaged {
        /// The source.
        source: ObjectId,
        /// The dataflow time they enter at.
        time: Time,
        /// The source's frontier afterwards.
        advance_to: Time,
    },
    /// Drop the rows staged by [`Command::StageCopy`].
    DiscardStaged,
    /// Spill columnar chunks past this many bytes per process (`None`: stop spilling new ones).
    SetMemoryBudget {
        /// Each process's budget; its workers share it (see `storage::spill`).
        bytes: Option<u64>,
    },
}

/// A `COPY` whose file every process can read: each worker reads the whole file and types its
/// share of the records (record `i` is worker `i % workers`'s).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct CopyShare {
    /// The source the rows go to.
    pub source: crate::plan::SourceDesc,
    /// The file, as an absolute path.
    pub path: std::path::PathBuf,
    /// Whether its first line names the columns.
    pub header: bool,
    /// The field delimiter.
    pub delimiter: u8,
}

/// A worker's share of a [`CopyShare`], read.
pub enum ShareRead {
    /// Its rows, encoded, with their earliest and latest times, and the file's fingerprint.
    Rows {
        /// The rows.
        rows: Vec<EncodedRow>,
        /// Their earliest and latest event times (none for no rows).
        times: Option<(Time, Time)>,
        /// The file's size and CRC-32, so the session can check every process read the same.
        fingerprint: (u64, u32),
    },
    /// The file cannot be read from this process.
    Unreadable,
    /// The file is malformed, or a record of this share has a bad value.
    Invalid,
}

/// How a worker reads its share of a [`CopyShare`]: given by the session, which knows CSV
/// (`share`, `shares`: this worker's index and the number of workers).
pub type ShareReader = fn(&CopyShare, usize, usize) -> ShareRead;

/// What a worker answers to [`Command::StageCopy`].
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Staged {
    /// Its share is staged.
    Rows {
        /// How many rows.
        rows: usize,
        /// Their earliest and latest event times (none for no rows).
        times: Option<(Time, Time)>,
        /// The file's size and CRC-32 as this worker read it.
        fingerprint: (u64, u32),
    },
    /// The file cannot be read from this worker's process.
    Unreadable,
    /// The file is malformed or its share has a bad value (the session finds which).
    Invalid,
}

/// The state one worker holds in one arrangement.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ArrangementStats {
    /// The view or source that holds it.
    pub object: ObjectId,
    /// Which arrangement it is (see `plan::arrangements`).
    pub arrangement: ArrangementName,
    /// The process of the worker that holds it (0 in a job of one process).
    pub process: usize,
    /// Updates physically held.
    pub records: usize,
    /// Rows the retention rule has dropped so far, thinned or retracted (on its input
    /// arrangement).
    pub dropped: Option<i64>,
    /// Wall time minus the view's output frontier, now and at worst (views over generators).
    pub latency_ms: Option<(u64, u64)>,
    /// What it holds through the spill hook (columnar arrangements only).
    pub spill: Option<SpillCounts>,
}

/// What a worker answers.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub enum Reply {
    /// A command was applied.
    Done,
    /// A worker's share of a peek: rows with their multiplicities.
    Rows(Vec<(EncodedRow, i64)>),
    /// A worker's state.
    Stats(Vec<ArrangementStats>),
    /// A worker's share of a `COPY`, staged (or why not).
    Staged(Staged),
    /// The read time asked for is older than what this worker has compacted; ask again later.
    TooOld,
    /// The engine has stopped: a spilled chunk could not be read back, or a worker panicked.
    Failed(Failure),
}

/// The client side of the workers.
pub struct Engine {
    link: Link,
    replies: Receiver<Reply>,
    /// Process 0's worker threads, woken when a command is sent.
    threads: Vec<Thread>,
    guards: Option<timely::communication::initialize::WorkerGuards<()>>,
    spill: Arc<Spill>,
    /// Whether the other processes are still there (one process: always).
    health: Arc<Health>,
    /// The worker the next inserted row goes to, when its source has no route.
    next_worker: std::cell::Cell<usize>,
    /// Per view that spreads a source's rows by a key, how: rows inserted into the source are
    /// dealt by the oldest such view's route.
    routes: RefCell<BTreeMap<ObjectId, Vec<KeyRoute>>>,
}

/// How commands reach the workers.
enum Link {
    /// One process: a channel to each worker thread.
    Local(Vec<Sender<Command>>),
    /// Several: each batch (one command per worker) to worker 0, which sequences it through a
    /// dataflow to every worker of every process.
    Sequenced { batches: Sender<Vec<Command>>, workers: usize },
}

impl Engine {
    /// Start `workers` timely worker threads, spilling through `spill`, reading `COPY` shares
    /// with `read_share`.
    pub fn start(workers: usize, spill: Arc<Spill>, read_share: ShareReader) -> Result<Engine> {
        let workers = workers.max(1);
        let (reply_tx, replies) = mpsc::channel();
        let mut senders = Vec::new();
        let mut receivers = Vec::new();
        for _ in 0..workers {
            let (tx, rx) = mpsc::channel();
            senders.push(tx);
            receivers.push(Some(rx));
        }
        let receivers = Arc::new(std::sync::Mutex::new(receivers));
        let mut config = timely::Config::process(workers);
        configure(&mut config.worker);
        let worker_spill = spill.clone();
        let guards = timely::execute(config, move |worker| {
            let commands = receivers.lock().ok().and_then(|mut r| r[worker.index()].take());
            if let Some(commands) = commands {
                let feed = feed::Local { commands, replies: reply_tx.clone() };
                worker::run(worker, feed, worker_spill.clone(), workers, read_share);
            }
        })
        .map_err(|e| Error::engine(format!("could not start workers: {e}")))?;
        let threads = guards.guards().iter().map(|g| g.thread().clone()).collect();
        Ok(Engine {
            link: Link::Local(senders),
            replies,
            threads,
            guards: Some(guards),
            spill,
            health: Arc::new(Health::default()),
            next_worker: std::cell::Cell::new(0),
            routes: RefCell::default(),
        })
    }

    /// Start process 0 of a job of several processes, `workers` worker threads in each, once
    /// every other process has connected (see [`serve_cluster`] for theirs).
    pub fn start_cluster(
        cluster: &ClusterOptions,
        workers: usize,
        spill: Arc<Spill>,
        read_share: ShareReader,
    ) -> Result<Engine> {
        if cluster.process != 0 {
            return Err(Error::engine(format!(
                "process {} serves workers only; the session runs on process 0",
                cluster.process
            )));
        }
        let workers = workers.max(1);
        let (reply_tx, replies) = mpsc::channel();
        let (batches, batch_rx) = mpsc::channel();
        let session = Arc::new(std::sync::Mutex::new(Some((batch_rx, reply_tx))));
        let health = Arc::new(Health::default());
        let worker_spill = spill.clone();
        let guards = start_timely(cluster, workers, &health, move |worker| {
            let session =
                if worker.index() == 0 { session.lock().ok().and_then(|mut s| s.take()) } else { None };
            let feed = feed::Sequenced::new(worker, session);
            worker::run(worker, feed, worker_spill.clone(), workers, read_share);
        })?;
        let threads = guards.guards().iter().map(|g| g.thread().clone()).collect();
        Ok(Engine {
            link: Link::Sequenced { batches, workers: workers * cluster.processes },
            replies,
            threads,
            guards: Some(guards),
            spill,
            health,
            next_worker: std::cell::Cell::new(0),
            routes: RefCell::default(),
        })
    }

    /// Whether the workers run in more than one process.
    pub fn spans_processes(&self) -> bool {
        matches!(self.link, Link::Sequenced { .. })
    }

    /// Whether the other processes are still there.
    pub fn health(&self) -> Arc<Health> {
        self.health.clone()
    }

    /// The number of workers, in every process.
    fn workers(&self) -> usize {
        match &self.link {
            Link::Local(senders) => senders.len(),
            Link::Sequenced { workers, .. } => *workers,
        }
    }

    /// Send `command` to every worker and wait for each to answer.
    pub fn broadcast(&self, command: Command) -> Result<Vec<Reply>> {
        self.send_each((0..self.workers()).map(|_| command.clone()).collect())
    }

    /// Deal rows inserted into each route's source by it from now on, for `view` (unless an
    /// older view's route deals them already).
    pub fn route(&self, view: ObjectId, routes: Vec<KeyRoute>) {
        if !routes.is_empty() {
            self.routes.borrow_mut().insert(view, routes);
        }
    }

    /// `view` is gone: its route, if it had one, no longer deals rows.
    pub fn forget_route(&self, view: ObjectId) {
        self.routes.borrow_mut().remove(&view);
    }

    /// Stop dealing rows by every route `no_longer_holds` picks.
    pub fn forget_routes(&self, no_longer_holds: impl Fn(&KeyRoute) -> bool) {
        let mut routes = self.routes.borrow_mut();
        for view_routes in routes.values_mut() {
            view_routes.retain(|route| !no_longer_holds(route));
        }
        routes.retain(|_, view_routes| !view_routes.is_empty());
    }

    /// Insert `rows` into `source` at `time`, then move its frontier to `advance_to`: the rows
    /// are dealt to the workers, by the source's route if it has one (see [`KeyRoute`]) and
    /// round-robin if not, each encoded into its worker's share, and every worker moves the
    /// frontier.
    pub fn insert(&self, source: ObjectId, rows: &[Vec<Datum>], time: Time, advance_to: Time) -> Result<()> {
        let workers = self.workers();
        // At most 1 MiB reserved per share: a guess from one long row must not reserve memory
        // the other rows never use.
        const MOST_RESERVED: usize = 1 << 20;
        let per_worker = rows.len() / workers + 1;
        let bytes_per_row: usize = rows.first().map_or(0, |row| row.iter().map(row::encoded_len).sum());
        let bytes = per_worker.saturating_mul(bytes_per_row).min(MOST_RESERVED);
        // Built one by one: a cloned vector would not keep the capacity reserved.
        let mut shares: Vec<ByteRows> =
            (0..workers).map(|_| ByteRows::with_capacity(per_worker, bytes)).collect();
        let routes = self.routes.borrow();
        let route = routes.values().flatten().find(|route| route.source == source).filter(|_| workers > 1);
        let mut next = self.next_worker.get();
        let mut key = Vec::new();
        for row in rows {
            let worker = route.and_then(|route| route.worker(row, workers, &mut key)).unwrap_or_else(|| {
                let worker = next;
                next = (next + 1) % workers;
                worker
            });
            shares[worker].push_row(row);
        }
        self.next_worker.set(next);
        let commands =
            shares.into_iter().map(|rows| Command::Insert { source, rows, time, advance_to }).collect();
        self.send_each(commands).map(|_| ())
    }

    /// Send one command to each worker (the i-th to worker i) and wait for every answer.
    fn send_each(&self, commands: Vec<Command>) -> Result<Vec<Reply>> {
        if let Some(error) = self.stopped() {
            return Err(error);
        }
        let count = commands.len();
        let gone = || self.stopped().unwrap_or_else(|| Error::engine("a worker has stopped"));
        match &self.link {
            Link::Local(senders) => {
                for ((sender, thread), command) in senders.iter().zip(&self.threads).zip(commands) {
                    sender.send(command).map_err(|_| gone())?;
                    thread.unpark();
                }
            }
            Link::Sequenced { batches, .. } => {
                batches.send(commands).map_err(|_| gone())?;
                if let Some(thread) = self.threads.first() {
                    thread.unpark();
                }
            }
        }
        let mut replies = Vec::with_capacity(count);
        while replies.len() < count {
            match self.replies.recv_timeout(Duration::from_millis(50)) {
                Ok(reply) => replies.push(reply),
                Err(RecvTimeoutError::Timeout) => {
                    // A lost process or a failed worker may never answer: stop waiting then.
                    if let Some(error) = self.stopped() {
                        return Err(error);
                    }
                }
                Err(RecvTimeoutError::Disconnected) => return Err(gone()),
            }
        }
        if let Some(Reply::Failed(failure)) = replies.iter().find(|r| matches!(r, Reply::Failed(_))) {
            return Err(stopped(failure));
        }
        Ok(replies)
    }

    /// Why the engine cannot go on, if it cannot: a process was lost (named first: the workers
    /// of this process may fail because of it), or a worker failed.
    pub fn stopped(&self) -> Option<Error> {
        if let Some(lost) = self.health.lost() {
            return Some(
                Error::engine(format!("the job has stopped: {lost}"))
                    .with_note("the statement was not completed; no result was returned after the loss, so none can be wrong")
                    .with_hint("start the job again, with every process"),
            );
        }
        self.spill.failure().map(|failure| stopped(&failure))
    }
}

/// Differential's settings for every worker: arrangements merge their batches as updates
/// come in (differential's amortized merging) and, while the worker is idle (see
/// [`merging_while_idle`]), keep merging until each holds one batch (differential's idle
/// merging), so state converges once input stops without taking time from work in hand.
fn configure(worker: &mut timely::WorkerConfig) {
    const EXERT_LOGIC: &str = "differential/default_exert_logic";
    differential_dataflow::configure(
        worker,
        &differential_dataflow::Config::default().idle_merge_effort(Some(1_000)),
    );
    let Some(idle_merging) = worker.get::<ExertionLogic>(EXERT_LOGIC).cloned() else { return };
    let only_while_idle: ExertionLogic =
        Arc::new(move |batches| if IDLE.with(Cell::get) { idle_merging(batches) } else { None });
    worker.set(EXERT_LOGIC.to_string(), only_while_idle);
}

thread_local! {
    /// Whether this worker thread has nothing else to do, so its arrangements may merge.
    static IDLE: Cell<bool> = const { Cell::new(false) };
}

/// Let this worker's arrangements merge until each holds one batch (`idle`), or only as
/// updates come in. Merging to one batch while work is in hand merged the whole state again
/// after every batch (a third of the instructions of latest-N at 1 M keys, see
/// `docs/benchmarks.md`). An arrangement only merges when its operator runs, so becoming idle
/// wakes those `operators`.
pub(super) fn merging_while_idle(
    idle: bool,
    worker: &mut timely::worker::Worker,
    operators: impl FnOnce() -> Vec<Rc<[usize]>>,
) {
    let was_idle = IDLE.with(|flag| flag.replace(idle));
    if idle && !was_idle {
        let activations = worker.activations();
        let mut activations = activations.borrow_mut();
        for operator in operators() {
            activations.activate(&operator);
        }
    }
}

/// Connect to the other processes and start this one's `workers` timely workers over those
/// connections, each running `serve`.
fn start_timely(
    cluster: &ClusterOptions,
    workers: usize,
    health: &Arc<Health>,
    serve: impl Fn(&mut timely::worker::Worker) + Send + Sync + 'static,
) -> Result<timely::communication::initialize::WorkerGuards<()>> {
    use timely::communication::allocator::zero_copy::initialize::initialize_networking_from_sockets;
    use timely::communication::allocator::{AllocatorBuilder, ProcessBuilder};
    let sockets = cluster::connect(cluster, workers, health)?;
    let hooks = timely::communication::Hooks::default();
    let local = ProcessBuilder::new_typed_vector(workers, hooks.refill.clone(), hooks.spill.clone());
    let (builders, comms) =
        initialize_networking_from_sockets(local, sockets, cluster.process, workers, hooks)
            .map_err(|e| Error::io(format!("could not start networking: {e}")))?;
    let builders = builders.into_iter().map(AllocatorBuilder::Tcp).collect();
    let mut config = timely::WorkerConfig::default();
    configure(&mut config);
    timely::execute::execute_from(builders, Box::new(comms), config, serve)
        .map_err(|e| Error::engine(format!("could not start workers: {e}")))
}

/// Run process `cluster.process` (not 0) of a job: connect, serve the workers the session on
/// process 0 commands, and return once it ends the job (`Ok`), or with an error naming the
/// process lost or the worker failure, as soon as either happens.
pub fn serve_cluster(
    cluster: &ClusterOptions,
    workers: usize,
    spill: Arc<Spill>,
    read_share: ShareReader,
) -> Result<()> {
    if cluster.process == 0 {
        return Err(Error::engine("process 0 runs the session; start it with a script or the REPL"));
    }
    let workers = workers.max(1);
    let health = Arc::new(Health::default());
    let worker_spill = spill.clone();
    let guards = start_timely(cluster, workers, &health, move |worker| {
        let feed = feed::Sequenced::new(worker, None);
        worker::run(worker, feed, worker_spill.clone(), workers, read_share);
    })?;
    loop {
        if guards.guards().iter().all(|g| g.is_finished()) {
            health.close();
            let _ = guards.join();
            return Ok(());
        }
        let failure = health.lost().map(|lost| format!("the job has stopped: {lost}"));
        let failure = failure.or_else(|| spill.failure().map(|f| format!("the engine has stopped: {f}")));
        if let Some(failure) = failure {
            // A session that ended normally closes its connections as its last act: let the
            // workers finish if that is all this was.
            let grace = std::time::Instant::now() + Duration::from_secs(2);
            while std::time::Instant::now() < grace {
                if guards.guards().iter().all(|g| g.is_finished()) {
                    let _ = guards.join();
                    return Ok(());
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            // The workers wait on a process that is gone: never join them.
            std::mem::forget(guards);
            return Err(Error::engine(format!("{}: {failure}", cluster.describe(cluster.process))));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The error of every statement once the engine has stopped: what stopped it, once.
pub fn stopped(failure: &Failure) -> Error {
    match failure {
        Failure::ChunkUnreadable(message) => Error::engine(format!("the engine has stopped: {message}"))
            .with_note("no result was returned after the failure, so none can be wrong")
            .with_hint("start a new session; the spill file named was damaged or removed"),
        Failure::WorkerPanicked(message) => {
            Error::engine(format!("the engine has stopped after an internal error: {message}"))
                .with_note("this is a bug in Ebb, not in the statements; no result was returned after it, so none can be wrong")
                .with_hint("start a new session, and please report the statements that led here")
        }
    }
}

thread_local! {
    /// Set on Ebb's worker threads: their panics are reported as the engine's error.
    static ON_WORKER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// The last panic on this worker thread, with where it happened, taken by the worker
    /// when it stops.
    static LAST_PANIC: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Keep worker panics off the terminal: install a process panic hook that, on Ebb's worker
/// threads, only records the panic's message and location (the worker stops and every later
/// statement fails with [`stopped`], naming them), and on any other thread defers to the hook
/// installed before. For programs (the `ebb` binary) that show the library's errors
/// themselves; without it, a worker panic is printed by the default hook and also returned as
/// the error, without its location. Panics of timely's network threads over a lost connection
/// are not shown either: the engine reports the lost process. Installing it more than once
/// is harmless.
pub fn quiet_worker_panics() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if ON_WORKER.with(|on| on.get()) {
                let message = worker::panic_message(info.payload());
                let described = match info.location() {
                    Some(at) => format!("{message} (at {}:{})", at.file(), at.line()),
                    None => message,
                };
                LAST_PANIC.with(|last| *last.borrow_mut() = Some(described));
            } else if is_lost_connection(info) {
                // Timely's network threads panic when a peer goes away; the connection has
                // told the engine's `Health` already, which names the process.
            } else {
                previous(info);
            }
        }));
    });
}

/// Whether `info` is a panic of one of timely's network threads over a lost connection.
fn is_lost_connection(info: &std::panic::PanicHookInfo<'_>) -> bool {
    let thread = std::thread::current();
    let network = thread
        .name()
        .is_some_and(|name| name.starts_with("timely:recv-") || name.starts_with("timely:send-"));
    network && worker::panic_message(info.payload()).starts_with("timely communication error")
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.health.close();
        let several_processes = matches!(self.link, Link::Sequenced { .. });
        // Closing the channels tells the workers the session has ended.
        self.link = Link::Local(Vec::new());
        for thread in &self.threads {
            thread.unpark();
        }
        if let Some(guards) = self.guards.take() {
            if self.spill.has_failed() || self.health.lost().is_some() {
                // A worker that could not read a spilled chunk back never finishes (its
                // dataflows would read the damaged chunks as they are dropped): do not wait.
                std::mem::forget(guards);
            } else if !several_processes {
                // A worker that panicked has already reported it; nothing more to do here.
                let _ = guards.join();
            } else {
                // The workers finish once every process has seen the end of the session; a
                // process lost meanwhile must not hang this one.
                let deadline = std::time::Instant::now() + cluster::CONNECT_TIMEOUT;
                while std::time::Instant::now() < deadline && !guards.guards().iter().all(|g| g.is_finished())
                {
                    std::thread::sleep(Duration::from_millis(5));
                }
                if guards.guards().iter().all(|g| g.is_finished()) {
                    let _ = guards.join();
                } else {
                    std::mem::forget(guards);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::PlanNode;

    /// A plan over a source no worker knows makes every worker panic while rendering it: a
    /// bug in Ebb (the session never sends one), reported as such, not as a spill failure.
    #[test]
    fn a_worker_panic_stops_the_engine_as_an_internal_error() {
        quiet_worker_panics();
        let spill = Arc::new(Spill::new(
            crate::storage::spill::SpillStore::Files,
            None,
            crate::storage::spill::SEGMENT_BYTES,
        ));
        let engine = Engine::start(2, spill.clone(), |_, _, _| ShareRead::Unreadable).expect("workers start");
        let plan =
            Plan { node: PlanNode::Source { id: ObjectId(999), name: "ghost".into() }, columns: Vec::new() };
        let e = engine
            .broadcast(Command::CreateView { id: ObjectId(1000), plan: Arc::new(plan) })
            .expect_err("panics");
        assert!(
            e.message().starts_with("the engine has stopped after an internal error: worker ")
                && e.message().contains("panicked: ")
                && e.message().contains("src/render/source.rs:"),
            "{}",
            e.message()
        );
        let blame = format!("{:?} {:?}", e.detail().notes, e.detail().hint);
        assert!(!blame.contains("spill"), "a panic is not blamed on spilling: {blame}");
        assert!(matches!(spill.failure(), Some(Failure::WorkerPanicked(_))));
        // Every later command fails the same way, at once.
        let again = engine.broadcast(Command::StatsNow).expect_err("stopped");
        assert_eq!(again.message(), e.message());
    }
}
