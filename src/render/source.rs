//! `Source`: a source's rows as a collection.
//!
//! A source that keeps history has one arrangement of every row it received; a view imports
//! it, so a view created late still sees the source's past. A source that keeps no history
//! feeds each reading view through an input of that view's own; such a view can only be
//! created before the source receives rows (the session refuses otherwise).

use std::collections::HashMap;

use differential_dataflow::input::InputSession;
use differential_dataflow::operators::arrange::TraceAgent;
use differential_dataflow::trace::implementations::KeySpine;
use timely::dataflow::Scope;

use super::{Context, Rows, Time};
use crate::plan::ObjectId;
use crate::repr::EncodedRow;

/// The arrangement of every row a source received.
pub type HistoryTrace = TraceAgent<KeySpine<EncodedRow, Time, i64>>;

/// One worker's inputs for one source.
pub struct SourceInput {
    /// The source's history, when it keeps one.
    pub history: Option<HistoryTrace>,
    /// One input per reading view, for a source without history: (view, input).
    pub consumers: Vec<(ObjectId, InputSession<Time, EncodedRow, i64>)>,
    /// The input every new row goes to, for a source with history.
    pub history_input: Option<InputSession<Time, EncodedRow, i64>>,
    /// The current dataflow frontier of this source.
    pub frontier: Time,
    /// The view being rendered, to label a new consumer input.
    pub rendering: Option<ObjectId>,
}

/// Every source's inputs on one worker.
pub type SourceInputs = HashMap<ObjectId, SourceInput>;

pub(super) fn render<'scope>(
    scope: Scope<'scope, Time>,
    id: ObjectId,
    ctx: &mut Context<'_>,
) -> Rows<'scope> {
    let source = ctx.sources.get_mut(&id).expect("the binder resolved this source");
    match source.history.as_mut() {
        Some(history) => history.import(scope).as_collection(|row, _| row.clone()),
        None => {
            let mut input = InputSession::new();
            input.advance_to(source.frontier);
            let rows = input.to_collection(scope);
            let view = source.rendering.expect("a view is being rendered");
            source.consumers.push((view, input));
            rows
        }
    }
}
