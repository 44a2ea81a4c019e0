//! The engine: timely workers that run every view's dataflow.
//!
//! In: [`Command`]s from the session. Out: [`Reply`]s (rows, stats, acknowledgements).
//! Every worker receives every command, in the same order, and builds the same dataflows;
//! only rows are split between workers. A command is applied by all workers or by none: the
//! session validates everything before it sends. Reads wait until every worker's dataflow
//! has caught up with the read's time, then gather each worker's share.

mod sources;
mod worker;

use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::Thread;

use crate::error::{Error, Result};
use crate::plan::arrangements::ArrangementName;
use crate::plan::{ObjectId, Plan, SourceKind};
use crate::repr::{EncodedRow, Time};
use crate::storage::spill::{Failure, Spill, SpillCounts};

/// What a worker is told to do.
#[derive(Clone, Debug)]
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
        rows: Vec<EncodedRow>,
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
    /// Spill columnar chunks past this many bytes per worker (`None`: stop spilling new ones).
    SetMemoryBudget {
        /// This worker's share of the budget (see `storage::spill`).
        per_worker: Option<usize>,
    },
}

/// The state one worker holds in one arrangement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArrangementStats {
    /// The view or source that holds it.
    pub object: ObjectId,
    /// Which arrangement it is (see `plan::arrangements`).
    pub arrangement: ArrangementName,
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
#[derive(Debug)]
pub enum Reply {
    /// A command was applied.
    Done,
    /// A worker's share of a peek: rows with their multiplicities.
    Rows(Vec<(EncodedRow, i64)>),
    /// A worker's state.
    Stats(Vec<ArrangementStats>),
    /// The read time asked for is older than what this worker has compacted; ask again later.
    TooOld,
    /// The engine has stopped: a spilled chunk could not be read back, or a worker panicked.
    Failed(Failure),
}

/// The client side of the workers.
pub struct Engine {
    senders: Vec<Sender<Command>>,
    replies: Receiver<Reply>,
    threads: Vec<Thread>,
    guards: Option<timely::communication::initialize::WorkerGuards<()>>,
    spill: Arc<Spill>,
}

impl Engine {
    /// Start `workers` timely worker threads, spilling through `spill`.
    pub fn start(workers: usize, spill: Arc<Spill>) -> Result<Engine> {
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
        // Arrangements keep merging while input is idle, so state converges without input.
        differential_dataflow::configure(
            &mut config.worker,
            &differential_dataflow::Config::default().idle_merge_effort(Some(1_000)),
        );
        let worker_spill = spill.clone();
        let guards = timely::execute(config, move |worker| {
            let commands = receivers.lock().ok().and_then(|mut r| r[worker.index()].take());
            if let Some(commands) = commands {
                worker::run(worker, commands, reply_tx.clone(), worker_spill.clone());
            }
        })
        .map_err(|e| Error::engine(format!("could not start workers: {e}")))?;
        let threads = guards.guards().iter().map(|g| g.thread().clone()).collect();
        Ok(Engine { senders, replies, threads, guards: Some(guards), spill })
    }

    /// The number of workers.
    pub fn workers(&self) -> usize {
        self.senders.len()
    }

    /// Send `command` to every worker and wait for each to answer.
    pub fn broadcast(&self, command: Command) -> Result<Vec<Reply>> {
        self.send_each(self.senders.iter().map(|_| command.clone()).collect())
    }

    /// Send one command to each worker (the i-th to worker i) and wait for every answer.
    pub fn send_each(&self, commands: Vec<Command>) -> Result<Vec<Reply>> {
        for ((sender, thread), command) in self.senders.iter().zip(&self.threads).zip(commands) {
            sender.send(command).map_err(|_| Error::engine("a worker has stopped"))?;
            thread.unpark();
        }
        let replies: Vec<Reply> = (0..self.senders.len())
            .map(|_| self.replies.recv().map_err(|_| Error::engine("a worker has stopped")))
            .collect::<Result<_>>()?;
        if let Some(Reply::Failed(failure)) = replies.iter().find(|r| matches!(r, Reply::Failed(_))) {
            return Err(stopped(failure));
        }
        Ok(replies)
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
/// the error, without its location. Installing it more than once is harmless.
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
            } else {
                previous(info);
            }
        }));
    });
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.senders.clear();
        for thread in &self.threads {
            thread.unpark();
        }
        if let Some(guards) = self.guards.take() {
            if self.spill.has_failed() {
                // A worker that could not read a spilled chunk back never finishes (its
                // dataflows would read the damaged chunks as they are dropped): do not wait.
                std::mem::forget(guards);
            } else {
                // A worker that panicked has already reported it; nothing more to do here.
                let _ = guards.join();
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
        let engine = Engine::start(2, spill.clone()).expect("workers start");
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
