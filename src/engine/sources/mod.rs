//! Sources on one worker: each source's inputs, and its rows as a collection for a view.
//!
//! In: a source's [`SourceKind`] when it is created, rows for it (`INSERT`, `COPY`) and its
//! frontier as the session or the wall clock moves it. Out: for each view that reads it, its
//! rows as a collection of the view's scope. One file per kind ([`scripted`], [`generated`])
//! implements [`Feed`]: how the kind builds a view's collection, where inserted rows go, and
//! what state it holds. The facts about a kind that the session and the binder need too (who
//! moves its frontier, whether it takes rows, whether it keeps history) are
//! [`SourceKind`]'s, in `plan/source_kind.rs`.
//!
//! The engine owns this state; rendering receives each source already built as a collection
//! (see `render::Context`).

mod generated;
mod scripted;

use std::collections::HashMap;

use differential_dataflow::input::InputSession;
use timely::dataflow::{ProbeHandle, Scope};
use timely::worker::Worker;

use crate::plan::{ObjectId, SourceKind, Timeline};
use crate::render::Rows;
use crate::render::arrangement::RowsArrangement;
use crate::repr::{EncodedRow, Time};

/// The input session a source's rows go to.
pub type RowInput = InputSession<Time, EncodedRow, i64>;

/// What one kind of source does on a worker.
pub trait Feed {
    /// The source's rows as a collection in `scope`, for `view`, which starts reading at
    /// `frontier`.
    fn collection<'scope>(
        &mut self,
        scope: Scope<'scope, Time>,
        view: ObjectId,
        frontier: Time,
    ) -> Rows<'scope>;
    /// Every input session rows inserted into the source go to (none for a kind that takes
    /// no rows: the session refuses `INSERT` and `COPY` into it, see
    /// [`SourceKind::accepts_rows`]).
    fn row_inputs(&mut self) -> Vec<&mut RowInput>;
    /// Forget what the source holds for `view`, which is being dropped.
    fn forget_view(&mut self, view: ObjectId);
    /// Let what the source arranges compact up to `frontier`.
    fn compact_to(&mut self, frontier: Time);
}

/// A source's own arrangement of every row it received, readable like a view's output.
pub struct History {
    /// The arrangement.
    pub trace: RowsArrangement,
    /// Passes a time once the arrangement is complete up to it.
    pub probe: ProbeHandle<Time>,
    /// The timely dataflow that maintains it.
    pub dataflow: usize,
}

/// One worker's inputs for one source.
pub struct SourceInput {
    /// The current dataflow frontier of this source.
    pub frontier: Time,
    /// Who moves the frontier.
    pub timeline: Timeline,
    /// Whether rows have been inserted into it (on any worker).
    pub received: bool,
    feed: Box<dyn Feed>,
}

impl SourceInput {
    /// Start a source of `kind` at `frontier` on this worker, with its history if it keeps
    /// one (spillable if `spilling`).
    pub fn open(
        worker: &mut Worker,
        kind: &SourceKind,
        frontier: Time,
        spilling: bool,
    ) -> (SourceInput, Option<History>) {
        let (feed, history): (Box<dyn Feed>, Option<History>) = match kind {
            SourceKind::Scripted { keep_history } => {
                let (feed, history) = scripted::Scripted::open(worker, *keep_history, frontier, spilling);
                (Box::new(feed), history)
            }
            SourceKind::Generated(generator) => {
                (Box::new(generated::Generated::new(generator.clone())), None)
            }
        };
        (SourceInput { frontier, timeline: kind.timeline(), received: false, feed }, history)
    }

    /// The source's rows as a collection in `scope`, for `view`.
    pub fn collection<'scope>(&mut self, scope: Scope<'scope, Time>, view: ObjectId) -> Rows<'scope> {
        self.feed.collection(scope, view, self.frontier)
    }

    /// Every input session new rows of this source go to.
    pub fn sessions_mut(&mut self) -> Vec<&mut RowInput> {
        self.feed.row_inputs()
    }

    /// Forget what the source holds for `view`, which is being dropped.
    pub fn forget_view(&mut self, view: ObjectId) {
        self.feed.forget_view(view);
    }

    /// Let what the source arranges compact up to its frontier.
    pub fn compact(&mut self) {
        self.feed.compact_to(self.frontier);
    }
}

/// Every source's inputs on one worker.
pub type SourceInputs = HashMap<ObjectId, SourceInput>;
