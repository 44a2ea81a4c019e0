//! The arrangements a plan holds, as facts of the plan.
//!
//! In: a view's [`Plan`] (or a source's description) and the catalog. Out: one
//! [`ArrangementFact`] per arrangement rendering will build: its typed name, what it is keyed
//! by, the bound on the state it holds, whether it spills under a memory budget, and whether
//! the rows its rule drops are counted on it. EXPLAIN prints these facts, rendering registers
//! each arrangement under its [`ArrangementName`], and `SHOW STATS` reports state by the same
//! names, so the three cannot drift apart (`tests/explain.rs` checks them against each other
//! for every view in `queries/`).
//!
//! Guarantee: the facts of a node come in the order EXPLAIN prints them. A name can occur
//! twice in one view (a join of three copies of one source has two `join right (r)`); `SHOW
//! STATS` adds such arrangements up under their one name.

use std::fmt;

use super::catalog::{Catalog, SourceDesc};
use super::explain::{Bound, bound};
use super::{AggregateState, Plan, PlanNode, ScalarExpr, Side};

/// The name of one arrangement, as `SHOW STATS` and EXPLAIN print it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub enum ArrangementName {
    /// A view's rows, which reads of it (and views over it) use.
    Output,
    /// Every row a `KEEP ALL` source has received.
    History,
    /// One input of a join, labelled by the sources under it.
    Join {
        /// Which input.
        side: Side,
        /// The sources under it, as `(a, b)`.
        input: String,
    },
    /// An aggregate over an append-only input: one folded record per group.
    AggregateGroups,
    /// An aggregate over an input that can retract: every input row.
    AggregateInput,
    /// An aggregate over an input that can retract: one row per group.
    AggregateOutput,
    /// A `LATEST`/`TOP` rule's input: the kept rows plus those retracted within DELAY.
    RetainInput,
    /// A `LATEST`/`TOP` rule's kept rows.
    RetainOutput,
    /// `WINNER`'s input: per join key, its closing rows, their close marks and its competing
    /// rows.
    WinnerInput,
    /// `WINNER`'s reduce output: each key's winner.
    WinnerOutput,
    /// `UNMATCHED`'s input: per join key, both sides' rows.
    UnmatchedInput,
    /// `UNMATCHED`'s reduce output: each match, with the rows it consumed.
    UnmatchedOutput,
}

impl fmt::Display for ArrangementName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let side = |side: &Side| match side {
            Side::Left => "left",
            Side::Right => "right",
        };
        match self {
            ArrangementName::Output => f.write_str("output"),
            ArrangementName::History => f.write_str("history"),
            ArrangementName::Join { side: s, input } => write!(f, "join {} {input}", side(s)),
            ArrangementName::AggregateGroups => f.write_str("aggregate groups"),
            ArrangementName::AggregateInput => f.write_str("aggregate input"),
            ArrangementName::AggregateOutput => f.write_str("aggregate output"),
            ArrangementName::RetainInput => f.write_str("retain input"),
            ArrangementName::RetainOutput => f.write_str("retain output"),
            ArrangementName::WinnerInput => f.write_str("winner input"),
            ArrangementName::WinnerOutput => f.write_str("winner output"),
            ArrangementName::UnmatchedInput => f.write_str("unmatched input"),
            ArrangementName::UnmatchedOutput => f.write_str("unmatched output"),
        }
    }
}

/// How much state one arrangement can hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateBound {
    /// Grows with the input: `grows_with` says with what.
    Unbounded {
        /// What it keeps all of ("every row of the side").
        grows_with: &'static str,
    },
    /// At most `rows` rows per distinct key, plus, for a rule's input, the rows retracted
    /// less than DELAY ago.
    PerKey {
        /// Rows kept per key.
        rows: u64,
        /// Whether the rows retracted within DELAY are held too.
        plus_within_delay: bool,
    },
    /// One record per group.
    PerGroup,
    /// Bounded by what a two-input rule still holds, which is no fixed number per key.
    HeldByRule {
        /// What it holds ("unmatched rows + rows matched within DELAY").
        holds: &'static str,
    },
}

impl From<Bound> for StateBound {
    fn from(bound: Bound) -> StateBound {
        match bound {
            Bound::Unbounded => StateBound::Unbounded { grows_with: "grows with input" },
            Bound::PerKey(rows) => StateBound::PerKey { rows, plus_within_delay: false },
            Bound::PerGroup => StateBound::PerGroup,
        }
    }
}

impl fmt::Display for StateBound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateBound::Unbounded { grows_with } => write!(f, "UNBOUNDED: {grows_with}"),
            StateBound::PerKey { rows, plus_within_delay: false } => write!(f, "≤ keys × {rows}"),
            StateBound::PerKey { rows, plus_within_delay: true } => {
                write!(f, "≤ keys × {rows} + rows within DELAY")
            }
            StateBound::PerGroup => f.write_str("≤ groups"),
            StateBound::HeldByRule { holds } => write!(f, "≤ {holds}"),
        }
    }
}

/// One arrangement a view or source holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArrangementFact {
    /// Its name.
    pub name: ArrangementName,
    /// What it is keyed by, as EXPLAIN prints it (`None`: whole rows).
    pub key: Option<String>,
    /// The bound on what it holds.
    pub bound: StateBound,
    /// Whether it is built of columnar chunks under a memory budget, so that they spill.
    pub spills: bool,
    /// Whether `SHOW STATS` counts on it the rows its rule has dropped (thinned or retracted).
    pub counts_dropped: bool,
    /// Another arrangement of the view that this one is, not a copy of, when the session has
    /// no memory budget: a `RETAIN` at the view's root holds exactly the view's rows in its
    /// output, so that is the view's output. (Under a budget the rule's reduce reads its output
    /// through a cursor, which keeps chunks decoded, so the view's rows are arranged apart.)
    pub same_as: Option<ArrangementName>,
}

impl ArrangementFact {
    fn new(name: ArrangementName, key: &str, bound: StateBound) -> ArrangementFact {
        ArrangementFact {
            name,
            key: Some(key.to_string()),
            bound,
            spills: false,
            counts_dropped: false,
            same_as: None,
        }
    }
}

/// Every arrangement a view with plan `plan` holds: its output, then each node's, in EXPLAIN
/// order. The histories of the sources it reads are the sources' ([`source_arrangements`]).
pub fn arrangements(plan: &Plan, catalog: &Catalog) -> Vec<ArrangementFact> {
    let mut facts = vec![output(plan, catalog)];
    collect(plan, catalog, &mut facts);
    facts
}

fn collect(plan: &Plan, catalog: &Catalog, facts: &mut Vec<ArrangementFact>) {
    facts.extend(node_arrangements(plan, catalog));
    for input in plan.inputs() {
        collect(input, catalog, facts);
    }
}

/// A view's output arrangement, the one reads use; it spills under a memory budget.
pub fn output(plan: &Plan, catalog: &Catalog) -> ArrangementFact {
    ArrangementFact {
        name: ArrangementName::Output,
        key: None,
        bound: bound(plan, catalog).into(),
        spills: true,
        counts_dropped: false,
        same_as: matches!(plan.node, PlanNode::Retain { .. }).then_some(ArrangementName::RetainOutput),
    }
}

/// The arrangements a source holds: its history, if it keeps one.
pub fn source_arrangements(source: &SourceDesc) -> Vec<ArrangementFact> {
    if !source.kind.keeps_history() {
        return Vec::new();
    }
    vec![ArrangementFact {
        name: ArrangementName::History,
        key: None,
        bound: StateBound::Unbounded { grows_with: "grows with input" },
        spills: true,
        counts_dropped: false,
        same_as: None,
    }]
}

/// The arrangements `plan`'s own node holds (not its inputs'), in EXPLAIN order. A view over
/// a view, or a source, holds none of the view's own: it reads arrangements shared with
/// others.
pub fn node_arrangements(plan: &Plan, catalog: &Catalog) -> Vec<ArrangementFact> {
    match &plan.node {
        PlanNode::Source { .. }
        | PlanNode::View { .. }
        | PlanNode::Filter { .. }
        | PlanNode::Project { .. } => Vec::new(),
        PlanNode::Join(join) => {
            let keys = key_names(&join.left_key, &join.left);
            [(Side::Left, &join.left), (Side::Right, &join.right)]
                .into_iter()
                .map(|(side, input)| {
                    ArrangementFact::new(
                        ArrangementName::Join { side, input: input.label() },
                        &keys,
                        StateBound::Unbounded { grows_with: "every row of the side" },
                    )
                })
                .collect()
        }
        PlanNode::Aggregate { input, group_by, state, .. } => {
            let groups = key_names(group_by, input);
            match state {
                AggregateState::PerGroup => {
                    vec![ArrangementFact::new(
                        ArrangementName::AggregateGroups,
                        &groups,
                        StateBound::PerGroup,
                    )]
                }
                AggregateState::PerRow => vec![
                    ArrangementFact::new(
                        ArrangementName::AggregateInput,
                        &groups,
                        bound(input, catalog).into(),
                    ),
                    ArrangementFact::new(ArrangementName::AggregateOutput, &groups, StateBound::PerGroup),
                ],
            }
        }
        PlanNode::Retain { input, rule, feedback, .. } => {
            let keys = key_names(&rule.key, input);
            let input_bound = if *feedback {
                StateBound::PerKey { rows: rule.limit, plus_within_delay: true }
            } else {
                StateBound::Unbounded { grows_with: "grows with input" }
            };
            let output_bound = StateBound::PerKey { rows: rule.limit, plus_within_delay: false };
            vec![
                ArrangementFact {
                    spills: true,
                    counts_dropped: true,
                    ..ArrangementFact::new(ArrangementName::RetainInput, &keys, input_bound)
                },
                ArrangementFact {
                    spills: true,
                    ..ArrangementFact::new(ArrangementName::RetainOutput, &keys, output_bound)
                },
            ]
        }
        PlanNode::Winner(winner) => {
            let keys = key_names(&winner.join.left_key, &winner.join.left);
            let input = match (winner.feedback, winner.forget_after) {
                (true, Some(_)) => StateBound::HeldByRule {
                    holds: "open keys' rows + 3 per closed key not yet forgotten (closing row, close mark, winner's row) + rows retired within DELAY",
                },
                (true, None) => StateBound::Unbounded {
                    grows_with: "every closing row, its close mark and its winner's row (add FORGET AFTER to bound it)",
                },
                (false, _) => StateBound::Unbounded { grows_with: "every row of both sides" },
            };
            // Retired rows are set aside for the loop, never arranged.
            let output = StateBound::PerKey { rows: 1, plus_within_delay: false };
            vec![
                ArrangementFact::new(ArrangementName::WinnerInput, &keys, input),
                ArrangementFact::new(ArrangementName::WinnerOutput, &keys, output),
            ]
        }
        PlanNode::Unmatched(unmatched) => {
            let keys = key_names(&unmatched.join.left_key, &unmatched.join.left);
            let (input, output) = if unmatched.feedback {
                (
                    StateBound::HeldByRule { holds: "unmatched rows + rows matched within DELAY" },
                    StateBound::HeldByRule { holds: "matches within DELAY" },
                )
            } else {
                (
                    StateBound::Unbounded { grows_with: "every row of both sides" },
                    StateBound::Unbounded { grows_with: "every match" },
                )
            };
            vec![
                ArrangementFact::new(ArrangementName::UnmatchedInput, &keys, input),
                ArrangementFact::new(ArrangementName::UnmatchedOutput, &keys, output),
            ]
        }
    }
}

/// Key expressions as EXPLAIN prints them, over `input`'s columns; `()` for none.
pub(super) fn key_names(keys: &[ScalarExpr], input: &Plan) -> String {
    let names = input.column_names();
    let keys: Vec<String> = keys.iter().map(|k| k.display(&names).to_string()).collect();
    if keys.is_empty() { "()".to_string() } else { keys.join(", ") }
}
