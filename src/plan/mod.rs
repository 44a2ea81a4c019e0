//! Planning: from Ebb's AST to a logical plan, against a catalog.
//!
//! In: parsed statements ([`crate::sql`]) and the [`Catalog`]. Out: [`Plan`] trees for views
//! (rendered into dataflows by [`crate::render`], node for node) and [`QueryPlan`]s for reads
//! (evaluated over gathered rows by [`crate::peek`]). Guarantees: every name is resolved,
//! every expression is typed and total, and a retention rule sits only over an append-only
//! input. The binder never touches the engine: a statement that fails to bind changes
//! nothing.

pub mod aggregate;
pub mod arrangements;
pub mod bind;
pub mod catalog;
pub mod explain;
pub mod expr;
pub mod source_kind;

pub use catalog::{Catalog, ObjectId, SourceDesc, ViewDesc};
pub use expr::ScalarExpr;
pub use source_kind::{SourceKind, Timeline};

use std::num::NonZeroU64;

use crate::repr::Column;

/// A node of a view's dataflow plan, with the columns it produces.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Plan {
    /// What the node does.
    pub node: PlanNode,
    /// The columns of the rows it produces.
    pub columns: Vec<Column>,
}

/// A dataflow plan node. Each variant is rendered by the file of the same name in
/// `src/render/`.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum PlanNode {
    /// Every row of a source, as it arrives (append-only).
    Source {
        /// The source.
        id: ObjectId,
        /// Its name, for EXPLAIN.
        name: String,
    },
    /// Every row of another view, read from its output arrangement (shared, not recomputed).
    View {
        /// The view.
        id: ObjectId,
        /// Its name, for EXPLAIN.
        name: String,
        /// Whether the view only ever grows.
        append_only: bool,
        /// The position of its TIME column, if its rows carry one unchanged.
        time_column: Option<usize>,
    },
    /// Rows for which `predicate` is true.
    Filter {
        /// The input.
        input: Box<Plan>,
        /// The predicate (NULL counts as false).
        predicate: ScalarExpr,
    },
    /// One output row per input row, computed by `exprs`.
    Project {
        /// The input.
        input: Box<Plan>,
        /// One expression per output column.
        exprs: Vec<ScalarExpr>,
    },
    /// An inner equi-join: every pair of a left and a right row whose keys are equal (and not
    /// NULL), as the left row's columns followed by the right row's.
    Join(JoinPlan),
    /// `GROUP BY` keys followed by one column per aggregate, one row per group with rows.
    Aggregate {
        /// The input.
        input: Box<Plan>,
        /// Grouping expressions over the input row.
        group_by: Vec<ScalarExpr>,
        /// Aggregates over the input row.
        aggregates: Vec<AggregateExpr>,
        /// How the state is held: folded per group (append-only input), or every input row.
        state: AggregateState,
    },
    /// `RETAIN WINNER`: per join key, the best joined row; once the key's close time passes,
    /// every candidate row but the winner's is retracted from the candidates' input.
    Winner(WinnerPlan),
    /// `RETAIN UNMATCHED`: each pair once it matches, after which both rows are retracted
    /// from their inputs.
    Unmatched(UnmatchedPlan),
    /// A retention rule: the input rows the rule still needs, self-compacted by feedback.
    Retain {
        /// The input; append-only.
        input: Box<Plan>,
        /// Which rows the rule keeps.
        rule: RetainRule,
        /// How many event-time units after a row stops being needed it is retracted (at least
        /// one: the feedback moves a retraction to a later time).
        delay: NonZeroU64,
        /// Whether the feedback loop is built (off only to measure the baseline).
        feedback: bool,
    },
}

/// The two inputs of a join and the key each side is matched on.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct JoinPlan {
    /// The left input (its columns come first).
    pub left: Box<Plan>,
    /// The right input.
    pub right: Box<Plan>,
    /// Key expressions over the left row.
    pub left_key: Vec<ScalarExpr>,
    /// Key expressions over the right row, pairwise equal to `left_key`.
    pub right_key: Vec<ScalarExpr>,
}

/// Which side of a join.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub enum Side {
    /// The first input.
    Left,
    /// The second input.
    Right,
}

/// How an aggregate holds its state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum AggregateState {
    /// One folded record per group: counts and sums add up, and min/max keep only the best
    /// value seen, which is sound because an append-only input never takes a value back.
    PerGroup,
    /// Every input row, so that min/max can be recomputed when the input retracts.
    PerRow,
}

/// `RETAIN WINNER PER k BY e CLOSE AT c [FORGET AFTER f]` over a join.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WinnerPlan {
    /// The join; the rule's key is the join key.
    pub join: JoinPlan,
    /// The side `CLOSE AT` reads (the auctions); the other side holds the candidates (bids).
    pub closing: Side,
    /// Conditions on the joined row (`WHERE`), applied before ranking.
    pub predicate: Option<ScalarExpr>,
    /// The ranking expression over the joined row.
    pub rank: ScalarExpr,
    /// Whether higher ranks win.
    pub descending: bool,
    /// The close time, over the closing side's row.
    pub close_at: ScalarExpr,
    /// How long after its close time a key is forgotten, winner included.
    pub forget_after: Option<u64>,
    /// How many time units after a row stops being needed it is retracted.
    pub delay: NonZeroU64,
    /// Whether the feedback loop is built (off only to measure the baseline).
    pub feedback: bool,
}

/// When a competing row can never win while another of its key does as well or better.
///
/// That is decidable from the competing rows alone when the ranking and every condition but
/// one read only the competing side, and that one is `column < expr` with the column on the
/// competing side and `expr` over the closing side (the close time the binder requires, `b.ts
/// < a.expires`): then a row `b` with a better rank (ties: greater bytes) and a `column` no
/// greater than `b2`'s meets the conditions with any closing row `b2` meets them with, and
/// beats `b2` there. Such a `b2` never wins, whatever the closing rows.
pub struct Dominance {
    /// The conditions on the competing side alone, over the joined row.
    pub conditions: Vec<ScalarExpr>,
    /// The ranking, over the joined row (it reads the competing side only).
    pub rank: ScalarExpr,
    /// Whether higher ranks win.
    pub descending: bool,
    /// The competing column bounded by the closing side, in the joined row.
    pub bounded: usize,
    /// Where the competing row starts in the joined row.
    pub offset: usize,
    /// How many columns the closing row has.
    pub closing_width: usize,
}

impl WinnerPlan {
    /// When, and how, a competing row can be dropped before the rule (see [`Dominance`]).
    pub fn dominance(&self) -> Option<Dominance> {
        let plan = self;
        let (left_width, right_width) = (plan.join.left.columns.len(), plan.join.right.columns.len());
        let (competing, offset, closing_width) = match plan.closing {
            Side::Left => (left_width..left_width + right_width, left_width, left_width),
            Side::Right => (0..left_width, 0, right_width),
        };
        let reads = |expr: &ScalarExpr| {
            let mut columns = Vec::new();
            expr.columns(&mut columns);
            columns
        };
        let competing_only = |expr: &ScalarExpr| reads(expr).iter().all(|c| competing.contains(c));
        let mut conjuncts = Vec::new();
        conjuncts_of(plan.predicate.as_ref()?, &mut conjuncts);
        let (mut bounded, mut conditions) = (None, Vec::new());
        for conjunct in conjuncts {
            if competing_only(conjunct) {
                conditions.push(conjunct.clone());
                continue;
            }
            match conjunct {
                ScalarExpr::Binary(expr::BinaryOp::Lt, column, bound) if bounded.is_none() => {
                    match **column {
                        ScalarExpr::Column(c)
                            if competing.contains(&c)
                                && reads(bound).iter().all(|c| !competing.contains(c)) =>
                        {
                            bounded = Some(c)
                        }
                        _ => return None,
                    }
                }
                _ => return None,
            }
        }
        competing_only(&plan.rank).then_some(())?;
        Some(Dominance {
            conditions,
            rank: plan.rank.clone(),
            descending: plan.descending,
            bounded: bounded?,
            offset,
            closing_width,
        })
    }
}

fn conjuncts_of<'a>(expr: &'a ScalarExpr, out: &mut Vec<&'a ScalarExpr>) {
    match expr {
        ScalarExpr::Binary(expr::BinaryOp::And, left, right) => {
            conjuncts_of(left, out);
            conjuncts_of(right, out);
        }
        other => out.push(other),
    }
}

/// `RETAIN UNMATCHED` over a two-input equi-join.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct UnmatchedPlan {
    /// The join.
    pub join: JoinPlan,
    /// Conditions on the joined row (`WHERE`) a pair must meet.
    pub predicate: Option<ScalarExpr>,
    /// The TIME column of each side's rows: a pair matches at the later of the two.
    pub left_time: usize,
    /// See `left_time`.
    pub right_time: usize,
    /// How many time units after a row is matched it is retracted.
    pub delay: NonZeroU64,
    /// Whether the feedback loop is built (off only to measure the baseline).
    pub feedback: bool,
}

impl JoinPlan {
    fn inputs_mut(&mut self) -> [&mut Plan; 2] {
        [&mut self.left, &mut self.right]
    }
}

/// Which input rows a retention rule keeps: per distinct `key`, the `limit` rows that rank
/// highest by `rank` (lowest, when not `descending`), ties broken by the whole row, greatest
/// first.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RetainRule {
    /// How the rule was written.
    pub kind: RetainKind,
    /// The grouping key.
    pub key: Vec<ScalarExpr>,
    /// The ranking expression.
    pub rank: ScalarExpr,
    /// Whether higher ranks are better.
    pub descending: bool,
    /// Rows kept per key.
    pub limit: u64,
}

/// The surface form of a retention rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum RetainKind {
    /// `LATEST n PER k`: ranked by the source's TIME column, descending.
    Latest,
    /// `TOP n PER k BY e [ASC|DESC]`.
    Top,
}

impl Plan {
    /// The plans this node reads, left first (none for a source or a view over a view).
    pub fn inputs(&self) -> Vec<&Plan> {
        match &self.node {
            PlanNode::Source { .. } | PlanNode::View { .. } => Vec::new(),
            PlanNode::Filter { input, .. }
            | PlanNode::Project { input, .. }
            | PlanNode::Aggregate { input, .. }
            | PlanNode::Retain { input, .. } => vec![input],
            PlanNode::Join(join) => vec![&join.left, &join.right],
            PlanNode::Winner(winner) => vec![&winner.join.left, &winner.join.right],
            PlanNode::Unmatched(unmatched) => vec![&unmatched.join.left, &unmatched.join.right],
        }
    }

    /// Whether the collection this plan produces only ever grows (no retractions). Retention
    /// rules rely on it: their feedback assumes a retracted input row never changes the
    /// output.
    pub fn is_append_only(&self) -> bool {
        match &self.node {
            PlanNode::Source { .. } => true,
            PlanNode::View { append_only, .. } => *append_only,
            PlanNode::Filter { input, .. } | PlanNode::Project { input, .. } => input.is_append_only(),
            PlanNode::Join(join) => join.left.is_append_only() && join.right.is_append_only(),
            // Pairs are emitted once and never taken back.
            PlanNode::Unmatched(_) => true,
            PlanNode::Retain { .. } | PlanNode::Aggregate { .. } | PlanNode::Winner(_) => false,
        }
    }

    /// The column names, for printing expressions over this plan's output. A join's columns
    /// that both sides have are qualified by the side's sources (`bids.ts`).
    pub fn column_names(&self) -> Vec<String> {
        let join = match &self.node {
            PlanNode::Join(join)
            | PlanNode::Winner(WinnerPlan { join, .. })
            | PlanNode::Unmatched(UnmatchedPlan { join, .. }) => join,
            PlanNode::Source { .. }
            | PlanNode::View { .. }
            | PlanNode::Filter { .. }
            | PlanNode::Project { .. }
            | PlanNode::Aggregate { .. }
            | PlanNode::Retain { .. } => return self.columns.iter().map(|c| c.name.clone()).collect(),
        };
        let (left, right) = (join.left.column_names(), join.right.column_names());
        let qualify = |names: &[String], other: &[String], side: &Plan| -> Vec<String> {
            let label = side.label();
            let label = label.trim_start_matches('(').trim_end_matches(')');
            names.iter().map(|n| if other.contains(n) { format!("{label}.{n}") } else { n.clone() }).collect()
        };
        let mut names = qualify(&left, &right, &join.left);
        names.extend(qualify(&right, &left, &join.right));
        names
    }

    /// Turn off every retention rule's feedback (the baseline the rules are measured against).
    pub fn without_feedback(&mut self) {
        match &mut self.node {
            PlanNode::Source { .. } | PlanNode::View { .. } => {}
            PlanNode::Filter { input, .. }
            | PlanNode::Project { input, .. }
            | PlanNode::Aggregate { input, .. } => input.without_feedback(),
            PlanNode::Join(join) => join.inputs_mut().into_iter().for_each(Plan::without_feedback),
            PlanNode::Winner(winner) => {
                winner.feedback = false;
                winner.join.inputs_mut().into_iter().for_each(Plan::without_feedback);
            }
            PlanNode::Unmatched(unmatched) => {
                unmatched.feedback = false;
                unmatched.join.inputs_mut().into_iter().for_each(Plan::without_feedback);
            }
            PlanNode::Retain { input, feedback, .. } => {
                *feedback = false;
                input.without_feedback();
            }
        }
    }

    /// How arrangements over this plan's rows are named: the sources it reads, e.g.
    /// `(auctions)`.
    pub fn label(&self) -> String {
        let mut ids = Vec::new();
        let mut names = Vec::new();
        self.source_names(&mut ids, &mut names);
        format!("({})", names.join(", "))
    }

    fn source_names(&self, ids: &mut Vec<ObjectId>, names: &mut Vec<String>) {
        match &self.node {
            PlanNode::Source { id, name } => {
                ids.push(*id);
                names.push(name.clone());
            }
            PlanNode::View { name, .. } => names.push(name.clone()),
            PlanNode::Filter { input, .. }
            | PlanNode::Project { input, .. }
            | PlanNode::Aggregate { input, .. }
            | PlanNode::Retain { input, .. } => input.source_names(ids, names),
            PlanNode::Join(join)
            | PlanNode::Winner(WinnerPlan { join, .. })
            | PlanNode::Unmatched(UnmatchedPlan { join, .. }) => {
                join.left.source_names(ids, names);
                join.right.source_names(ids, names);
            }
        }
    }

    /// The sources this plan reads directly (not through another view).
    pub fn sources(&self, out: &mut Vec<ObjectId>) {
        self.source_names(out, &mut Vec::new());
    }

    /// The views whose output this plan reads.
    pub fn views(&self, out: &mut Vec<ObjectId>) {
        match &self.node {
            PlanNode::Source { .. } => {}
            PlanNode::View { id, .. } => out.push(*id),
            PlanNode::Filter { input, .. }
            | PlanNode::Project { input, .. }
            | PlanNode::Aggregate { input, .. }
            | PlanNode::Retain { input, .. } => input.views(out),
            PlanNode::Join(join)
            | PlanNode::Winner(WinnerPlan { join, .. })
            | PlanNode::Unmatched(UnmatchedPlan { join, .. }) => {
                join.left.views(out);
                join.right.views(out);
            }
        }
    }
}

/// A read: rows gathered from one source or view, then filtered, grouped, projected, sorted
/// and limited outside the dataflow.
#[derive(Clone, Debug, PartialEq)]
pub struct QueryPlan {
    /// The source or view read.
    pub from: ObjectId,
    /// Where the query names it.
    pub from_span: crate::error::Span,
    /// Rows kept (over the object's columns).
    pub filter: Option<ScalarExpr>,
    /// Grouping and aggregates; when present, `project` reads `group keys ++ aggregates`.
    pub aggregate: Option<AggregatePlan>,
    /// A filter after aggregation (`HAVING`), over `group keys ++ aggregates`.
    pub having: Option<ScalarExpr>,
    /// Output expressions, followed by hidden sort-only expressions.
    pub project: Vec<ScalarExpr>,
    /// Sort keys: output positions (hidden ones included) and direction (`true` = DESC).
    pub order_by: Vec<(usize, bool)>,
    /// At most this many rows.
    pub limit: Option<u64>,
    /// The visible output columns (a prefix of `project`).
    pub columns: Vec<Column>,
}

/// `GROUP BY` keys and aggregates.
#[derive(Clone, Debug, PartialEq)]
pub struct AggregatePlan {
    /// Grouping expressions over the input row.
    pub group_by: Vec<ScalarExpr>,
    /// Aggregates over the input row.
    pub aggregates: Vec<AggregateExpr>,
}

/// One aggregate call.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AggregateExpr {
    /// Which aggregate.
    pub func: AggregateFunc,
    /// Its argument; `None` for `count(*)`.
    pub arg: Option<ScalarExpr>,
}

/// The aggregate functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum AggregateFunc {
    /// `count(*)` or `count(e)` (non-NULL values).
    Count,
    /// `sum(e)`.
    Sum,
    /// `min(e)`.
    Min,
    /// `max(e)`.
    Max,
    /// `avg(e)`, a DOUBLE.
    Avg,
}
