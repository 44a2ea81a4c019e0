//! One timely worker: applies commands in order and keeps stepping its dataflows.

use std::collections::BTreeMap;
use std::sync::mpsc::{Receiver, Sender, TryRecvError};
use std::time::Duration;

use differential_dataflow::input::InputSession;
use differential_dataflow::trace::TraceReader;
use differential_dataflow::trace::cursor::{Cursor, cursor_list};
use timely::dataflow::ProbeHandle;
use timely::dataflow::operators::Probe;
use timely::progress::frontier::AntichainRef;
use timely::worker::Worker;

use super::arrangement::StateHandle;
use super::{ArrangementStats, Command, Reply};
use crate::plan::ObjectId;
use crate::render::{self, Context, SourceInput, SourceInputs, Time};
use crate::repr::EncodedRow;

/// A readable collection on this worker: a view's output or a source's history.
struct Readable {
    /// The arrangement peeks read.
    trace: render::OutputTrace,
    /// Passes a time once the arrangement is complete up to it.
    probe: ProbeHandle<Time>,
    /// Every arrangement the object holds, named.
    state: Vec<(String, Box<dyn StateHandle>)>,
    /// The timely dataflow that maintains it.
    dataflow: usize,
    /// The sources it reads: it may compact up to the earliest of their frontiers.
    sources: Vec<ObjectId>,
}

struct WorkerState {
    sources: SourceInputs,
    readable: BTreeMap<ObjectId, Readable>,
}

pub(super) fn run(worker: &mut Worker, commands: Receiver<Command>, replies: Sender<Reply>) {
    let mut state = WorkerState { sources: SourceInputs::new(), readable: BTreeMap::new() };
    loop {
        match commands.try_recv() {
            Ok(command) => {
                let reply = state.apply(worker, command);
                if replies.send(reply).is_err() {
                    return;
                }
            }
            Err(TryRecvError::Empty) => {
                worker.step_or_park(Some(Duration::from_millis(100)));
            }
            Err(TryRecvError::Disconnected) => return,
        }
    }
}

impl WorkerState {
    fn apply(&mut self, worker: &mut Worker, command: Command) -> Reply {
        match command {
            Command::CreateSource { id, keep_history, frontier } => {
                let mut source = SourceInput {
                    history: None,
                    consumers: Vec::new(),
                    history_input: None,
                    frontier,
                    rendering: None,
                };
                if keep_history {
                    let mut input = InputSession::new();
                    input.advance_to(frontier);
                    let probe = ProbeHandle::new();
                    let dataflow = worker.next_dataflow_index();
                    let trace = worker.dataflow(|scope| {
                        let arranged = input.to_collection(scope).arrange_by_self_named("History");
                        arranged.stream.probe_with(&probe);
                        arranged.trace
                    });
                    source.history = Some(trace.clone());
                    source.history_input = Some(input);
                    let state: Vec<(String, Box<dyn StateHandle>)> =
                        vec![("history".to_string(), Box::new(trace.clone()))];
                    self.readable.insert(id, Readable { trace, probe, state, dataflow, sources: vec![id] });
                }
                self.sources.insert(id, source);
                Reply::Done
            }
            Command::CreateView { id, plan } => {
                let probe = ProbeHandle::new();
                let dataflow = worker.next_dataflow_index();
                let mut sources = Vec::new();
                plan.sources(&mut sources);
                for source in &sources {
                    if let Some(input) = self.sources.get_mut(source) {
                        input.rendering = Some(id);
                    }
                }
                let mut ctx = Context { sources: &mut self.sources, state: Vec::new() };
                let trace = worker.dataflow(|scope| {
                    let arranged = render::render(scope, &plan, &mut ctx).arrange_by_self_named("Output");
                    arranged.stream.probe_with(&probe);
                    arranged.trace
                });
                let mut state = ctx.state;
                state.push(("output".to_string(), Box::new(trace.clone())));
                self.readable.insert(id, Readable { trace, probe, state, dataflow, sources });
                self.compact();
                Reply::Done
            }
            Command::Insert { source, rows, time, advance_to } => {
                if let Some(input) = self.sources.get_mut(&source) {
                    let sessions = input
                        .history_input
                        .iter_mut()
                        .chain(input.consumers.iter_mut().map(|(_, session)| session));
                    let mut sessions: Vec<_> = sessions.collect();
                    if let Some((last, others)) = sessions.split_last_mut() {
                        for session in others {
                            for row in &rows {
                                session.update_at(row.clone(), time, 1);
                            }
                        }
                        for row in rows {
                            last.update_at(row, time, 1);
                        }
                    }
                }
                self.advance(&[(source, advance_to)]);
                Reply::Done
            }
            Command::Advance { frontiers } => {
                self.advance(&frontiers);
                Reply::Done
            }
            Command::Peek { id, time } => {
                let Some(readable) = self.readable.get_mut(&id) else { return Reply::Rows(Vec::new()) };
                while readable.probe.less_than(&time) {
                    worker.step();
                }
                Reply::Rows(read(&mut readable.trace, time))
            }
            Command::Sync { time } => {
                self.catch_up(worker, time);
                Reply::Done
            }
            Command::Stats { time } => {
                self.catch_up(worker, time);
                Reply::Stats(self.settled_stats(worker))
            }
            Command::Drop { id } => {
                if let Some(readable) = self.readable.remove(&id) {
                    drop(readable.trace);
                    drop(readable.state);
                    worker.drop_dataflow(readable.dataflow);
                }
                self.sources.remove(&id);
                for source in self.sources.values_mut() {
                    source.consumers.retain(|(view, _)| *view != id);
                }
                Reply::Done
            }
        }
    }

    fn advance(&mut self, frontiers: &[(ObjectId, Time)]) {
        for (id, frontier) in frontiers {
            if let Some(input) = self.sources.get_mut(id) {
                input.frontier = input.frontier.max(*frontier);
                let frontier = input.frontier;
                for session in
                    input.history_input.iter_mut().chain(input.consumers.iter_mut().map(|(_, s)| s))
                {
                    session.advance_to(frontier);
                    session.flush();
                }
            }
        }
        self.compact();
    }

    /// Step until every dataflow is complete up to `time`.
    fn catch_up(&self, worker: &mut Worker, time: Time) {
        for readable in self.readable.values() {
            while readable.probe.less_than(&time) {
                worker.step();
            }
        }
    }

    /// Let every trace handle this worker holds compact up to the earliest time a future
    /// read of it can ask for: the earliest frontier among the sources it reads. A handle
    /// left behind would hold back consolidation of every arrangement it shares.
    fn compact(&mut self) {
        let frontier_of = |sources: &SourceInputs, ids: &[ObjectId]| {
            ids.iter().filter_map(|id| sources.get(id)).map(|s| s.frontier).min().unwrap_or(0)
        };
        for readable in self.readable.values_mut() {
            let frontier = frontier_of(&self.sources, &readable.sources);
            readable.trace.compact_to(frontier);
            for (_, handle) in &mut readable.state {
                handle.compact_to(frontier);
            }
        }
        for source in self.sources.values_mut() {
            let frontier = source.frontier;
            if let Some(history) = source.history.as_mut() {
                history.compact_to(frontier);
            }
        }
    }

    /// Step until every view's arrangements have merged into at most one batch (idle merging
    /// keeps going until then), so the counts show settled state rather than merges in
    /// flight. A source's history is left out: it only ever grows, so merging cannot change
    /// its count. Bounded, so a stats read cannot hang: past the bound it reports what it has.
    fn settled_stats(&mut self, worker: &mut Worker) -> Vec<ArrangementStats> {
        for _ in 0..100_000 {
            let sources = &self.sources;
            let settled =
                self.readable.iter_mut().filter(|(id, _)| !sources.contains_key(id)).all(|(_, r)| {
                    r.trace.batches() <= 1 && r.state.iter_mut().all(|(_, handle)| handle.batches() <= 1)
                });
            if settled {
                break;
            }
            worker.step();
        }
        self.stats()
    }

    fn stats(&mut self) -> Vec<ArrangementStats> {
        let mut out = Vec::new();
        for (id, readable) in &mut self.readable {
            for (name, handle) in &mut readable.state {
                out.push(ArrangementStats {
                    object: *id,
                    arrangement: name.clone(),
                    records: handle.records(),
                });
            }
        }
        out
    }
}

/// The rows of `trace` at times before `time`, with their multiplicities.
fn read(trace: &mut render::OutputTrace, time: Time) -> Vec<(EncodedRow, i64)> {
    let Some(batches) = trace.batches_through(AntichainRef::new(&[time])) else { return Vec::new() };
    let (mut cursor, storage) = cursor_list(batches);
    let mut rows = Vec::new();
    while let Some(key) = cursor.get_key(&storage) {
        let mut count = 0;
        cursor.map_times(&storage, |t, diff| {
            if *t < time {
                count += *diff;
            }
        });
        if count != 0 {
            rows.push((key.clone(), count));
        }
        cursor.step_key(&storage);
    }
    rows
}
