//! Rendering: a view's [`Plan`] becomes a differential dataflow, node for node.
//!
//! In: a bound [`Plan`] and a [`Context`] holding the collection of each source the plan reads,
//! built by the engine (which owns the sources' inputs). Out: the view's
//! rows as a collection of [`EncodedRow`]s, plus the arrangements that hold state (for
//! `SHOW STATS`). Each plan node has one render function in the file of the same name
//! (`retain::kept`, whose result is read as rows, or as the view's arrangement when the rule is
//! at the root); rendering never re-plans or re-checks: the binder has already refused what
//! cannot run.

mod aggregate;
mod arrange;
pub mod arrangement;
mod binned;
pub mod columnar;
mod feedback;
mod filter;
mod in_order;
mod join;
mod not_kept;
mod project;
mod ranked;
mod retain;
mod route;
mod source;
mod unmatched;
mod view;
mod winner;

pub use arrange::{RowTrace, RowsSpine, arrange_readable, rows_of};
pub use route::KeyRoute;

use differential_dataflow::VecCollection;
use timely::dataflow::{ProbeHandle, Scope};

use crate::plan::arrangements::ArrangementName;
use crate::plan::{Plan, PlanNode};
use crate::render::arrangement::{RowsArrangement, StateHandle};
use crate::repr::{Diff, EncodedRow, Time};

/// A collection of encoded rows.
pub type Rows<'scope> = VecCollection<'scope, Time, EncodedRow, Diff>;
/// Rows keyed by an encoded key (a join key, a rule's key, a group): `(key, row)`.
pub type KeyedRows<'scope> = VecCollection<'scope, Time, (EncodedRow, EncodedRow), Diff>;

/// What rendering one view needs from, and leaves with, the worker.
pub struct Context<'scope> {
    /// The rows of each source the plan reads, built by the engine in the view's scope.
    pub sources: std::collections::HashMap<crate::plan::ObjectId, Rows<'scope>>,
    /// The output arrangements of the views the plan reads.
    pub views: std::collections::HashMap<crate::plan::ObjectId, RowsArrangement>,
    /// The arrangements the view holds, by the names `plan::arrangements` gives them, for
    /// stats and compaction.
    pub state: Vec<(ArrangementName, Box<dyn StateHandle>)>,
    /// Counters of rows a rule has dropped (thinned or retracted), by the name of the
    /// arrangement that counts them (`ArrangementFact::counts_dropped`).
    pub dropped: Vec<(ArrangementName, std::rc::Rc<std::cell::Cell<i64>>)>,
    /// Whether the session has a memory budget: state that can spill is then built of columnar
    /// chunks; without one, of whichever layout is fastest.
    pub spilling: bool,
}

/// Render a view's `plan` into `scope`, with the arrangement its reads use, followed by
/// `probe`. A `RETAIN` at the root already holds exactly the view's rows in its output
/// arrangement, so that is the view's; any other plan's rows are arranged whole.
pub fn render_readable<'scope>(
    scope: Scope<'scope, Time>,
    plan: &Plan,
    ctx: &mut Context<'scope>,
    probe: &ProbeHandle<Time>,
) -> RowsArrangement {
    match &plan.node {
        PlanNode::Retain { input, rule, delay, feedback } => {
            let rows = render(scope, input, ctx);
            retain::kept(scope, rows, rule, *delay, *feedback, ctx).readable(probe)
        }
        _ => arrange_readable(render(scope, plan, ctx), "Output", ctx.spilling, probe),
    }
}

/// Render `plan` into `scope`.
pub fn render<'scope>(scope: Scope<'scope, Time>, plan: &Plan, ctx: &mut Context<'scope>) -> Rows<'scope> {
    match &plan.node {
        PlanNode::Source { id, .. } => source::render(*id, ctx),
        PlanNode::View { id, .. } => view::render(scope, *id, ctx),
        PlanNode::Filter { input, predicate } => filter::render(render(scope, input, ctx), predicate.clone()),
        PlanNode::Project { input, exprs } => project::render(render(scope, input, ctx), exprs.clone()),
        PlanNode::Join(join) => {
            let (left, right) = (render(scope, &join.left, ctx), render(scope, &join.right, ctx));
            join::render(left, right, join, ctx)
        }
        PlanNode::Aggregate { input, group_by, aggregates, state } => {
            aggregate::render(render(scope, input, ctx), group_by, aggregates, *state, ctx)
        }
        PlanNode::Winner(winner) => {
            let (left, right) =
                (render(scope, &winner.join.left, ctx), render(scope, &winner.join.right, ctx));
            winner::render(scope, left, right, winner, ctx)
        }
        PlanNode::Unmatched(unmatched) => {
            let (left, right) =
                (render(scope, &unmatched.join.left, ctx), render(scope, &unmatched.join.right, ctx));
            unmatched::render(scope, left, right, unmatched, ctx)
        }
        PlanNode::Retain { input, rule, delay, feedback } => {
            let rows = render(scope, input, ctx);
            retain::kept(scope, rows, rule, *delay, *feedback, ctx).rows()
        }
    }
}
