//! Scripted sources: rows come from statements (`INSERT`, `COPY`), and the session's clock
//! moves the frontier.
//!
//! A source that keeps history has one arrangement of every row it received; a view imports
//! it, so a view created late still sees the source's past. A source that keeps no history
//! feeds each reading view through an input of that view's own; such a view can only be
//! created before the source receives rows (the session refuses otherwise).

use differential_dataflow::input::InputSession;
use timely::dataflow::{ProbeHandle, Scope};
use timely::worker::Worker;

use super::{Feed, History, RowInput};
use crate::plan::ObjectId;
use crate::render::arrangement::{RowsArrangement, StateHandle};
use crate::render::{self, Rows};
use crate::repr::Time;

/// A scripted source on one worker.
pub(super) struct Scripted {
    /// The history and the input every new row goes to, when the source keeps one.
    history: Option<(RowsArrangement, RowInput)>,
    /// One input per reading view, for a source without history: (view, input).
    consumers: Vec<(ObjectId, RowInput)>,
}

impl Scripted {
    /// Start the source at `frontier`, building its history dataflow if it keeps one.
    pub(super) fn open(
        worker: &mut Worker,
        keep_history: bool,
        frontier: Time,
        spilling: bool,
    ) -> (Scripted, Option<History>) {
        if !keep_history {
            return (Scripted { history: None, consumers: Vec::new() }, None);
        }
        let mut input = InputSession::new();
        input.advance_to(frontier);
        let probe = ProbeHandle::new();
        let dataflow = worker.next_dataflow_index();
        let trace = worker.dataflow(|scope| {
            render::arrange_readable(input.to_collection(scope), "History", spilling, &probe)
        });
        let source = Scripted { history: Some((trace.clone(), input)), consumers: Vec::new() };
        (source, Some(History { trace, probe, dataflow }))
    }
}

impl Feed for Scripted {
    fn collection<'scope>(
        &mut self,
        scope: Scope<'scope, Time>,
        view: ObjectId,
        frontier: Time,
    ) -> Rows<'scope> {
        match self.history.as_mut() {
            Some((history, _)) => history.import(scope, "History"),
            None => {
                let mut input = InputSession::new();
                input.advance_to(frontier);
                let rows = input.to_collection(scope);
                self.consumers.push((view, input));
                rows
            }
        }
    }

    fn row_inputs(&mut self) -> Vec<&mut RowInput> {
        self.history
            .iter_mut()
            .map(|(_, input)| input)
            .chain(self.consumers.iter_mut().map(|(_, input)| input))
            .collect()
    }

    fn forget_view(&mut self, view: ObjectId) {
        self.consumers.retain(|(reader, _)| *reader != view);
    }

    fn compact_to(&mut self, frontier: Time) {
        if let Some((history, _)) = self.history.as_mut() {
            history.compact_to(frontier);
        }
    }
}
