//! Sources on one worker: each source's inputs, and its rows as a collection for a view.
//!
//! A source that keeps history has one arrangement of every row it received; a view imports
//! it, so a view created late still sees the source's past. A source that keeps no history
//! feeds each reading view through an input of that view's own; such a view can only be
//! created before the source receives rows (the session refuses otherwise). A source fed by
//! a live generator gets one generator instance per reading view; since a generator's rows
//! are a function of wall time, every instance produces the same rows from its start on, so a
//! view created late sees the rows from its creation on.
//!
//! The engine owns this state; rendering receives each source already built as a collection
//! (see `render::Context`).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::Duration;

use differential_dataflow::AsCollection;
use differential_dataflow::input::InputSession;
use timely::dataflow::Scope;
use timely::dataflow::operators::generic::operator::source;

use crate::generator::{Generator, now_ms};
use crate::plan::ObjectId;
use crate::render::Rows;
use crate::render::arrangement::RowsArrangement;
use crate::repr::{EncodedRow, Time, row};

/// One worker's inputs for one source.
pub struct SourceInput {
    /// The source's history, when it keeps one.
    pub history: Option<RowsArrangement>,
    /// One input per reading view, for a source without history: (view, input).
    pub consumers: Vec<(ObjectId, InputSession<Time, EncodedRow, i64>)>,
    /// The input every new row goes to, for a source with history.
    pub history_input: Option<InputSession<Time, EncodedRow, i64>>,
    /// The current dataflow frontier of this source.
    pub frontier: Time,
    /// The live generator that feeds the source, if any.
    pub generator: Option<Generator>,
    /// Whether rows have been inserted into it (on any worker).
    pub received: bool,
}

impl SourceInput {
    /// Every input session new rows of this source go to.
    pub fn sessions_mut(&mut self) -> impl Iterator<Item = &mut InputSession<Time, EncodedRow, i64>> {
        self.history_input.iter_mut().chain(self.consumers.iter_mut().map(|(_, session)| session))
    }
}

/// Every source's inputs on one worker.
pub type SourceInputs = HashMap<ObjectId, SourceInput>;

impl SourceInput {
    /// The source's rows as a collection in `scope`, for `view`: its history imported, a new
    /// input of the view's own, or a generator of its own.
    pub fn collection<'scope>(&mut self, scope: Scope<'scope, Time>, view: ObjectId) -> Rows<'scope> {
        if let Some(generator) = &self.generator {
            return generate(scope, generator.clone());
        }
        match self.history.as_mut() {
            Some(history) => history.import(scope, "History"),
            None => {
                let mut input = InputSession::new();
                input.advance_to(self.frontier);
                let rows = input.to_collection(scope);
                self.consumers.push((view, input));
                rows
            }
        }
    }
}

/// This worker's share of a live generator's rows (those numbered `i ≡ worker (mod workers)`),
/// from now on, each at its own wall-clock millisecond. The operator wakes every millisecond;
/// rows that happen later than their sequence number says (receipts) wait until they are due.
fn generate(scope: Scope<'_, Time>, generator: Generator) -> Rows<'_> {
    let (index, peers) = (scope.index() as u64, scope.peers() as u64);
    let activator_scope = scope;
    source(scope, "Generator", move |capability, info| {
        let activator = activator_scope.activator_for(info.address);
        let mut capability = Some(capability);
        let start = generator.first_at(now_ms());
        let mut next = start + (index + peers - start % peers) % peers;
        let mut due: BinaryHeap<Reverse<(Time, EncodedRow)>> = BinaryHeap::new();
        move |output| {
            let Some(held) = capability.as_mut() else { return };
            let now = now_ms();
            let mut session = output.session(&*held);
            while generator.sequence_time(next) <= now {
                let (row, time) = generator.row(next);
                let encoded = row::encode(&row);
                if time <= now {
                    session.give((encoded, time, 1i64));
                } else {
                    due.push(Reverse((time, encoded)));
                }
                next += peers;
            }
            while due.peek().is_some_and(|Reverse((time, _))| *time <= now) {
                if let Some(Reverse((time, encoded))) = due.pop() {
                    session.give((encoded, time, 1i64));
                }
            }
            drop(session);
            let earliest = due.peek().map_or(now + 1, |Reverse((time, _))| (*time).min(now + 1));
            held.downgrade(&earliest);
            activator.activate_after(Duration::from_millis(1));
        }
    })
    .as_collection()
}
