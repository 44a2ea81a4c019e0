//! One timely worker: applies commands in order and keeps stepping its dataflows.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use timely::dataflow::ProbeHandle;
use timely::worker::Worker;

use super::feed::{Feed, Next};
use super::sources::{History, SourceInput, SourceInputs};
use super::{ArrangementStats, Command, Reply, ShareRead, ShareReader, Staged};
use crate::plan::arrangements::ArrangementName;
use crate::plan::{ObjectId, Plan, Timeline};
use crate::render::arrangement::{RowsArrangement, StateHandle};
use crate::render::{self, Context};
use crate::repr::{EncodedRow, Time};
use crate::storage::spill::{self, Failure, Spill};

/// A readable collection on this worker: a view's output or a source's history.
struct Readable {
    /// The arrangement peeks read.
    trace: RowsArrangement,
    /// Its name in `SHOW STATS` (the view's output or the source's history).
    trace_name: ArrangementName,
    /// Passes a time once the arrangement is complete up to it.
    probe: ProbeHandle<Time>,
    /// The other arrangements the object holds, named.
    state: Vec<(ArrangementName, Box<dyn StateHandle>)>,
    /// The timely dataflow that maintains it.
    dataflow: usize,
    /// The sources it reads: it may compact up to the earliest of their frontiers.
    sources: Vec<ObjectId>,
    /// The read frontier it was last compacted to: reads must not ask for earlier times.
    compacted_to: Time,
    /// Rows dropped by its rules, by the arrangement that counts them.
    dropped: Vec<(ArrangementName, std::rc::Rc<std::cell::Cell<i64>>)>,
    /// For a view over a live generator: wall time minus its output frontier, now and at worst.
    latency_ms: Option<(u64, u64)>,
    /// When it was created (wall-clock ms): its output frontier cannot lag behind that.
    created_ms: u64,
    /// The view's plan (none for a source's history), to build it again under a new budget.
    plan: Option<Arc<Plan>>,
}

struct WorkerState {
    sources: SourceInputs,
    readable: BTreeMap<ObjectId, Readable>,
    /// The process's spill state: a worker that cannot read a chunk back marks it failed, and
    /// every other worker stops waiting for progress then.
    spill: Arc<Spill>,
    /// Whether the session has a memory budget: view outputs and source histories made now
    /// are spillable.
    spilling: bool,
    /// The workers of this process, which share its memory budget.
    local_workers: usize,
    /// Reads this worker's share of a `COPY` file.
    read_share: ShareReader,
    /// This worker's share of the `COPY` being run, until it is inserted or discarded.
    staged: Vec<EncodedRow>,
}

/// How far behind the wall clock views over live generators are compacted: reads of them are
/// at about the wall clock, and one whose time is older than that is asked again (TooOld).
const LIVE_COMPACTION_LAG_MS: u64 = 50;

pub(super) fn run(
    worker: &mut Worker,
    mut feed: impl Feed,
    spill: Arc<Spill>,
    local_workers: usize,
    read_share: ShareReader,
) {
    let in_flight = Cell::new(false);
    let mut state = WorkerState {
        sources: SourceInputs::new(),
        readable: BTreeMap::new(),
        spill: spill.clone(),
        spilling: false,
        local_workers,
        read_share,
        staged: Vec::new(),
    };
    super::ON_WORKER.with(|on| on.set(true));
    let served =
        std::panic::catch_unwind(AssertUnwindSafe(|| serve(worker, &mut state, &mut feed, &in_flight)));
    let Err(panic) = served else { return };
    let described = super::LAST_PANIC.with(|last| last.borrow_mut().take());
    // Dropping the traces would let them merge, reading the damaged chunks again, and a panic
    // while unwinding aborts the process: keep them, and never hand this worker back to timely
    // (which would drop its dataflows), below.
    std::mem::forget(state);
    // A worker panics when a spilled chunk cannot be read back (the policy has recorded why:
    // differential's `load` must return bytes), or on a bug. Either way its dataflows cannot
    // be trusted any more: answer every command with the failure, so the session stops
    // cleanly instead of waiting for this worker or returning wrong rows.
    let what = described.unwrap_or_else(|| panic_message(panic.as_ref()));
    let ours = Failure::WorkerPanicked(format!("worker {} panicked: {what}", worker.index()));
    // Several workers can fail at once: every one reports the failure recorded first, so every
    // statement names the same cause.
    spill.fail(ours.clone());
    let failure = spill.failure().unwrap_or(ours);
    feed.answer_forever(in_flight.get(), || Reply::Failed(failure.clone()));
    // Dropping the feed would close its timely inputs, which steps into the dataflows too.
    std::mem::forget(feed);
    // The engine does not join a failed worker (see `Engine::drop`); the thread ends with the
    // process.
    loop {
        std::thread::park();
    }
}

/// A panic's message, from its payload.
pub(super) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "unknown panic".into())
}

/// The longest a worker waiting for its dataflows to catch up parks at a time. A worker with
/// nothing to do while its peers finish their share parks rather than spinning, which burnt a
/// core for nothing (two workers, 1,000,000 keys: about a tenth of the user CPU). Timely wakes
/// a parked worker when a message from another worker or process or an activation arrives
/// (live generators activate every millisecond). What it never signals is another worker's
/// failure (`Spill::has_failed`): the bound is how late a waiting worker notices one.
const WAITING_PARK: Duration = Duration::from_millis(5);

fn serve(worker: &mut Worker, state: &mut WorkerState, feed: &mut impl Feed, in_flight: &Cell<bool>) {
    let mut followed = std::time::Instant::now();
    loop {
        if followed.elapsed() >= Duration::from_millis(5) {
            state.follow_the_wall_clock();
            followed = std::time::Instant::now();
        }
        match feed.next(worker) {
            Next::Command(command) => {
                super::merging_while_idle(false, worker, Vec::new);
                in_flight.set(true);
                let reply = state.apply(worker, command);
                in_flight.set(false);
                if !feed.reply(reply) {
                    return;
                }
            }
            Next::Idle => {
                super::merging_while_idle(true, worker, || state.operators());
                worker.step_or_park(Some(Duration::from_millis(100)));
            }
            Next::Closed => {
                // Live generators never finish on their own, and timely steps a worker until
                // its dataflows finish: drop them all (but the command and reply dataflows,
                // which finish once every worker has closed its inputs).
                for readable in std::mem::take(&mut state.readable).into_values() {
                    worker.drop_dataflow(readable.dataflow);
                }
                return;
            }
        }
    }
}

impl WorkerState {
    fn apply(&mut self, worker: &mut Worker, command: Command) -> Reply {
        match command {
            Command::CreateSource { id, kind, frontier } => {
                let (source, history) = SourceInput::open(worker, &kind, frontier, self.spilling);
                if let Some(History { trace, probe, dataflow }) = history {
                    let readable = Readable {
                        trace,
                        trace_name: ArrangementName::History,
                        probe,
                        state: Vec::new(),
                        dataflow,
                        sources: vec![id],
                        compacted_to: 0,
                        dropped: Vec::new(),
                        latency_ms: None,
                        created_ms: 0,
                        plan: None,
                    };
                    self.readable.insert(id, readable);
                }
                self.sources.insert(id, source);
                Reply::Done
            }
            Command::CreateView { id, plan } => {
                self.create_view(worker, id, plan);
                Reply::Done
            }
            Command::Insert { source, rows, time, advance_to } => {
                self.insert(source, rows.iter().map(<[u8]>::to_vec), time, advance_to);
                Reply::Done
            }
            Command::StageCopy(share) => {
                let (staged, read) = match (self.read_share)(&share, worker.index(), worker.peers()) {
                    ShareRead::Rows { rows, times, fingerprint } => {
                        let count = rows.len();
                        (rows, Staged::Rows { rows: count, times, fingerprint })
                    }
                    ShareRead::Unreadable => (Vec::new(), Staged::Unreadable),
                    ShareRead::Invalid => (Vec::new(), Staged::Invalid),
                };
                self.staged = staged;
                Reply::Staged(read)
            }
            Command::InsertStaged { source, time, advance_to } => {
                let rows = std::mem::take(&mut self.staged);
                self.insert(source, rows.into_iter(), time, advance_to);
                Reply::Done
            }
            Command::DiscardStaged => {
                self.staged = Vec::new();
                Reply::Done
            }
            Command::Advance { frontiers } => {
                self.advance(&frontiers);
                Reply::Done
            }
            Command::Peek { id, time } => {
                let Some(readable) = self.readable.get_mut(&id) else { return Reply::Rows(Vec::new()) };
                if readable.compacted_to > time {
                    return Reply::TooOld;
                }
                while readable.probe.less_than(&time) {
                    if self.spill.has_failed()
                        && let Some(failure) = self.spill.failure()
                    {
                        return Reply::Failed(failure);
                    }
                    worker.step_or_park(Some(WAITING_PARK));
                }
                Reply::Rows(readable.trace.read(time))
            }
            Command::Sync => {
                self.catch_up(worker);
                self.failed().unwrap_or(Reply::Done)
            }
            Command::StatsNow => Reply::Stats(self.stats(worker, Count::Held)),
            Command::Stats => {
                self.catch_up(worker);
                let stats = self.settled_stats(worker);
                self.failed().unwrap_or(Reply::Stats(stats))
            }
            Command::SetMemoryBudget { bytes } => {
                let per_worker = bytes.map(|b| self.spill.set_budget(b, self.local_workers));
                let was_spilling = self.spilling;
                self.spilling = per_worker.is_some();
                spill::tiered::set_worker_budget(&self.spill, worker.index(), per_worker);
                if self.spilling && !was_spilling {
                    self.rebuild_empty_views(worker);
                }
                Reply::Done
            }
            Command::Drop { id } => {
                self.drop_view(worker, id);
                self.sources.remove(&id);
                Reply::Done
            }
        }
    }

    /// Insert `rows` into `source` at `time`, then move its frontier to `advance_to`. The last
    /// of the source's input sessions takes the rows; each other one takes them again from a
    /// clone of the iterator. The rows are made on this worker, which frees them.
    fn insert(
        &mut self,
        source: ObjectId,
        rows: impl Iterator<Item = EncodedRow> + Clone,
        time: Time,
        advance_to: Time,
    ) {
        if let Some(input) = self.sources.get_mut(&source) {
            input.received = true;
            let mut sessions = input.sessions_mut();
            if let Some((last, others)) = sessions.split_last_mut() {
                for session in others {
                    for row in rows.clone() {
                        session.update_at(row, time, 1);
                    }
                }
                for row in rows {
                    last.update_at(row, time, 1);
                }
            }
        }
        self.advance(&[(source, advance_to)]);
    }

    /// Build a view's dataflow; its state is spillable if the session has a budget now.
    fn create_view(&mut self, worker: &mut Worker, id: ObjectId, plan: Arc<Plan>) {
        let probe = ProbeHandle::new();
        let dataflow = worker.next_dataflow_index();
        let mut read_directly = Vec::new();
        plan.sources(&mut read_directly);
        let mut sources = read_directly.clone();
        let mut views = Vec::new();
        plan.views(&mut views);
        let imports = views
            .iter()
            .filter_map(|view| self.readable.get(view).map(|readable| (*view, readable.trace.clone())))
            .collect();
        // A view over views compacts with, and is as live as, the sources under them.
        for view in &views {
            if let Some(readable) = self.readable.get(view) {
                sources.extend(readable.sources.iter().copied());
            }
        }
        sources.sort();
        sources.dedup();
        let spillable = self.spilling;
        let inputs = &mut self.sources;
        let (trace, state, dropped) = worker.dataflow(|scope| {
            // Each source this view reads, built here as a collection of the view's scope.
            let sources = read_directly
                .iter()
                .filter_map(|source| Some((*source, inputs.get_mut(source)?.collection(scope, id))))
                .collect();
            let mut ctx = Context {
                sources,
                views: imports,
                state: Vec::new(),
                dropped: Vec::new(),
                spilling: spillable,
            };
            (render::render_readable(scope, &plan, &mut ctx, &probe), ctx.state, ctx.dropped)
        });
        let live =
            sources.iter().any(|s| self.sources.get(s).is_some_and(|s| s.timeline == Timeline::WallClock));
        let latency_ms = live.then_some((0, 0));
        let created_ms = crate::generator::now_ms();
        let readable = Readable {
            trace,
            trace_name: ArrangementName::Output,
            probe,
            state,
            dataflow,
            sources,
            compacted_to: 0,
            dropped,
            latency_ms,
            created_ms,
            plan: Some(plan),
        };
        self.readable.insert(id, readable);
        self.compact();
    }

    /// Build again, under the budget just set, every view that holds nothing yet: no source it
    /// reads has received rows or moved its frontier, and it neither reads nor is read by
    /// another view (whose dataflow holds its trace). So a budget set before the first rows
    /// bounds the views created before it too. Every worker decides alike: source frontiers
    /// and inserts are the same commands on every worker.
    fn rebuild_empty_views(&mut self, worker: &mut Worker) {
        let mut read_by_views = Vec::new();
        for readable in self.readable.values() {
            if let Some(plan) = &readable.plan {
                plan.views(&mut read_by_views);
            }
        }
        let empty: Vec<(ObjectId, Arc<Plan>)> = self
            .readable
            .iter()
            .filter_map(|(id, readable)| {
                let plan = readable.plan.as_ref()?;
                let mut views = Vec::new();
                plan.views(&mut views);
                let untouched = readable.sources.iter().all(|source| {
                    self.sources.get(source).is_some_and(|s| {
                        !s.received && s.frontier == 0 && s.timeline == Timeline::SessionClock
                    })
                });
                (untouched && views.is_empty() && !read_by_views.contains(id)).then(|| (*id, plan.clone()))
            })
            .collect();
        for (id, plan) in empty {
            self.drop_view(worker, id);
            self.create_view(worker, id, plan);
        }
    }

    /// Tear down a view's dataflow and the inputs that fed it.
    fn drop_view(&mut self, worker: &mut Worker, id: ObjectId) {
        if let Some(readable) = self.readable.remove(&id) {
            worker.drop_dataflow(readable.dataflow);
        }
        for source in self.sources.values_mut() {
            source.forget_view(id);
        }
    }

    fn advance(&mut self, frontiers: &[(ObjectId, Time)]) {
        for (id, frontier) in frontiers {
            if let Some(input) = self.sources.get_mut(id) {
                input.frontier = input.frontier.max(*frontier);
                let frontier = input.frontier;
                for session in input.sessions_mut() {
                    session.advance_to(frontier);
                    session.flush();
                }
            }
        }
        self.compact();
    }

    /// Step until every dataflow is complete up to the frontiers of the sources it reads (each
    /// source has a clock of its own), or a worker has failed.
    fn catch_up(&self, worker: &mut Worker) {
        for readable in self.readable.values() {
            let time = sources_frontier(&self.sources, &readable.sources);
            while readable.probe.less_than(&time) && !self.spill.has_failed() {
                worker.step_or_park(Some(WAITING_PARK));
            }
        }
    }

    /// The reply to give when some worker has failed (the dataflows cannot be trusted).
    fn failed(&self) -> Option<Reply> {
        self.spill.has_failed().then(|| self.spill.failure().map(Reply::Failed)).flatten()
    }

    /// Move live generators' sources along with the wall clock (they compact
    /// [`LIVE_COMPACTION_LAG_MS`] behind it) and measure the latency of the views over them.
    fn follow_the_wall_clock(&mut self) {
        let on_the_wall_clock = |s: &SourceInput| s.timeline == Timeline::WallClock;
        if !self.sources.values().any(on_the_wall_clock) {
            return;
        }
        let now = crate::generator::now_ms();
        for source in self.sources.values_mut().filter(|s| on_the_wall_clock(s)) {
            source.frontier = source.frontier.max(now.saturating_sub(LIVE_COMPACTION_LAG_MS));
        }
        for readable in self.readable.values_mut() {
            if let Some((current, worst)) = readable.latency_ms.as_mut() {
                let frontier = readable.probe.with_frontier(|f| f.first().copied().unwrap_or(Time::MAX));
                *current = now.saturating_sub(frontier.max(readable.created_ms));
                *worst = (*worst).max(*current);
            }
        }
        self.compact();
    }

    /// Let every trace handle this worker holds compact up to the earliest time a future
    /// read of it can ask for: the earliest frontier among the sources it reads. A handle
    /// left behind would hold back consolidation of every arrangement it shares.
    fn compact(&mut self) {
        for readable in self.readable.values_mut() {
            let frontier = sources_frontier(&self.sources, &readable.sources);
            readable.compacted_to = readable.compacted_to.max(frontier);
            readable.trace.compact_to(frontier);
            for (_, handle) in &mut readable.state {
                handle.compact_to(frontier);
            }
        }
        for source in self.sources.values_mut() {
            source.compact();
        }
    }

    /// Step until every view's arrangements have merged into at most one batch (idle merging
    /// keeps going until then), so the counts show settled state rather than merges in
    /// flight. A source's history is left out: it only ever grows, so merging cannot change
    /// its count; so are views over live generators, whose input never pauses. Bounded, so a
    /// stats read cannot hang: past the bound it reports what it has.
    fn settled_stats(&mut self, worker: &mut Worker) -> Vec<ArrangementStats> {
        super::merging_while_idle(true, worker, || self.operators());
        for _ in 0..10_000 {
            let sources = &self.sources;
            let settled = self
                .readable
                .iter_mut()
                .filter(|(id, r)| !sources.contains_key(id) && r.latency_ms.is_none())
                .all(|(_, r)| {
                    r.trace.batches() <= 1 && r.state.iter_mut().all(|(_, handle)| handle.batches() <= 1)
                });
            if settled || self.spill.has_failed() {
                break;
            }
            worker.step();
        }
        super::merging_while_idle(false, worker, Vec::new);
        self.stats(worker, Count::Records)
    }

    /// The operators that maintain this worker's arrangements.
    fn operators(&self) -> Vec<std::rc::Rc<[usize]>> {
        let mut operators = Vec::new();
        for readable in self.readable.values() {
            operators.push(readable.trace.operator());
            operators.extend(readable.state.iter().map(|(_, handle)| handle.operator()));
        }
        operators
    }

    fn stats(&mut self, worker: &Worker, count: Count) -> Vec<ArrangementStats> {
        let process = worker.index() / self.local_workers;
        let mut out = Vec::new();
        for (id, readable) in &mut self.readable {
            out.push(ArrangementStats {
                object: *id,
                arrangement: readable.trace_name.clone(),
                process,
                records: count.of(&mut readable.trace),
                dropped: None,
                latency_ms: readable.latency_ms,
                spill: readable.trace.spill(),
            });
            for (name, handle) in &mut readable.state {
                let dropped = readable.dropped.iter().find(|(n, _)| n == name).map(|(_, count)| count.get());
                out.push(ArrangementStats {
                    object: *id,
                    arrangement: name.clone(),
                    process,
                    records: count.of(handle.as_mut()),
                    dropped,
                    latency_ms: None,
                    spill: handle.spill(),
                });
            }
        }
        out
    }
}

/// What a stats reply counts as an arrangement's records.
#[derive(Clone, Copy)]
enum Count {
    /// [`StateHandle::records`]: settled, comparable between runs, and read update by update.
    Records,
    /// [`StateHandle::updates_held`]: what it occupies, from its batch lengths; cheap enough to
    /// sample a live run often without slowing the worker it runs on.
    Held,
}

impl Count {
    fn of(self, handle: &mut dyn StateHandle) -> usize {
        match self {
            Count::Records => handle.records(),
            Count::Held => handle.updates_held(),
        }
    }
}

/// The earliest frontier among `ids`: a dataflow over them is complete, and may compact, up
/// to it.
fn sources_frontier(sources: &SourceInputs, ids: &[ObjectId]) -> Time {
    ids.iter().filter_map(|id| sources.get(id)).map(|s| s.frontier).min().unwrap_or(0)
}
