//! Planning: from Ebb's AST to a logical plan, against a catalog.
//!
//! In: parsed statements ([`crate::sql`]) and the [`Catalog`]. Out: [`Plan`] trees for views
//! (rendered into dataflows by [`crate::render`], node for node) and [`QueryPlan`]s for reads
//! (evaluated over gathered rows by [`crate::peek`]). Guarantees: every name is resolved,
//! every expression is typed and total, and a retention rule sits only over an append-only
//! input. The binder never touches the engine: a statement that fails to bind changes
//! nothing.

pub mod bind;
pub mod catalog;
pub mod explain;
pub mod expr;

pub use catalog::{Catalog, ObjectId, SourceDesc, ViewDesc};
pub use expr::ScalarExpr;

use crate::repr::Column;

/// A node of a view's dataflow plan, with the columns it produces.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// What the node does.
    pub node: PlanNode,
    /// The columns of the rows it produces.
    pub columns: Vec<Column>,
}

/// A dataflow plan node. Each variant is rendered by the file of the same name in
/// `src/render/`.
#[derive(Clone, Debug, PartialEq)]
pub enum PlanNode {
    /// Every row of a source, as it arrives (append-only).
    Source {
        /// The source.
        id: ObjectId,
        /// Its name, for EXPLAIN.
        name: String,
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
    /// A retention rule: the input rows the rule still needs, self-compacted by feedback.
    Retain {
        /// The input; append-only.
        input: Box<Plan>,
        /// Which rows the rule keeps.
        rule: RetainRule,
        /// How many event-time units after a row stops being needed it is retracted.
        delay: u64,
        /// Whether the feedback loop is built (off only to measure the baseline).
        feedback: bool,
    },
}

/// Which input rows a retention rule keeps: per distinct `key`, the `limit` rows that rank
/// highest by `rank` (lowest, when not `descending`), ties broken by the whole row, greatest
/// first.
#[derive(Clone, Debug, PartialEq)]
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
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetainKind {
    /// `LATEST n PER k`: ranked by the source's TIME column, descending.
    Latest,
    /// `TOP n PER k BY e [ASC|DESC]`.
    Top,
}

impl Plan {
    /// Whether the collection this plan produces only ever grows (no retractions). Retention
    /// rules rely on it: their feedback assumes a retracted input row never changes the
    /// output.
    pub fn is_append_only(&self) -> bool {
        match &self.node {
            PlanNode::Source { .. } => true,
            PlanNode::Filter { input, .. } | PlanNode::Project { input, .. } => input.is_append_only(),
            PlanNode::Retain { .. } => false,
        }
    }

    /// The column names, for printing expressions over this plan's output.
    pub fn column_names(&self) -> Vec<String> {
        self.columns.iter().map(|c| c.name.clone()).collect()
    }

    /// Turn off every retention rule's feedback (the baseline the rules are measured against).
    pub fn without_feedback(&mut self) {
        match &mut self.node {
            PlanNode::Source { .. } => {}
            PlanNode::Filter { input, .. } | PlanNode::Project { input, .. } => input.without_feedback(),
            PlanNode::Retain { input, feedback, .. } => {
                *feedback = false;
                input.without_feedback();
            }
        }
    }

    /// The sources this plan reads.
    pub fn sources(&self, out: &mut Vec<ObjectId>) {
        match &self.node {
            PlanNode::Source { id, .. } => out.push(*id),
            PlanNode::Filter { input, .. }
            | PlanNode::Project { input, .. }
            | PlanNode::Retain { input, .. } => input.sources(out),
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
#[derive(Clone, Debug, PartialEq)]
pub struct AggregateExpr {
    /// Which aggregate.
    pub func: AggregateFunc,
    /// Its argument; `None` for `count(*)`.
    pub arg: Option<ScalarExpr>,
}

/// The aggregate functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
