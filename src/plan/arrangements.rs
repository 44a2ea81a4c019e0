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
    /// `WINNER`'s closing input.
    WinnerClosing {
        /// The sources under it.
        input: String,
    },
    /// `WINNER`'s competing input.
    WinnerCandidates {
        /// The sources under it.
        input: String,
    },
    /// `WINNER`'s valid joined rows, ranked.
    WinnerInput,
    /// `WINNER`'s best joined row per key.
    WinnerOutput,
    /// The keys whose close time has passed.
    WinnerClosed(KeysPart),
    /// The keys whose close time plus `FORGET AFTER` has passed.
    WinnerForgotten(KeysPart),
    /// The candidate row of each key's winner.
    WinnerKeptCandidates,
    /// One input of `UNMATCHED`.
    Unmatched {
        /// Which input.
        side: Side,
        /// The sources under it.
        input: String,
    },
    /// The rows of one input of `UNMATCHED` that matched within DELAY.
    UnmatchedConsumed(Side),
}

/// The two arrangements that turn closing rows into a set of keys (`WINNER`'s closed and
/// forgotten keys).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub enum KeysPart {
    /// The closing rows, at their close time.
    ClosingRows,
    /// Each key once.
    Keys,
}

impl fmt::Display for ArrangementName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let side = |side: &Side| match side {
            Side::Left => "left",
            Side::Right => "right",
        };
        let part = |part: &KeysPart| match part {
            KeysPart::ClosingRows => "closing rows",
            KeysPart::Keys => "keys",
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
            ArrangementName::WinnerClosing { input } => write!(f, "winner closing {input}"),
            ArrangementName::WinnerCandidates { input } => write!(f, "winner candidates {input}"),
            ArrangementName::WinnerInput => f.write_str("winner input"),
            ArrangementName::WinnerOutput => f.write_str("winner output"),
            ArrangementName::WinnerClosed(p) => write!(f, "winner closed ({})", part(p)),
            ArrangementName::WinnerForgotten(p) => write!(f, "winner forgotten ({})", part(p)),
            ArrangementName::WinnerKeptCandidates => f.write_str("winner kept candidates"),
            ArrangementName::Unmatched { side: s, input } => write!(f, "unmatched {} {input}", side(s)),
            ArrangementName::UnmatchedConsumed(s) => write!(f, "unmatched consumed {}", side(s)),
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
}

impl ArrangementFact {
    fn new(name: ArrangementName, key: &str, bound: StateBound) -> ArrangementFact {
        ArrangementFact { name, key: Some(key.to_string()), bound, spills: false, counts_dropped: false }
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
            let join = &winner.join;
            let keys = key_names(&join.left_key, &join.left);
            let (closing, candidates) = match winner.closing {
                Side::Left => (&join.left, &join.right),
                Side::Right => (&join.right, &join.left),
            };
            let fact = |name, bound| ArrangementFact::new(name, &keys, bound);
            let held = |holds| StateBound::HeldByRule { holds };
            let unbounded = |grows_with| StateBound::Unbounded { grows_with };
            let closing_name = ArrangementName::WinnerClosing { input: closing.label() };
            let candidates_name = ArrangementName::WinnerCandidates { input: candidates.label() };
            let mut facts = if winner.feedback {
                let closing_bound = match winner.forget_after {
                    Some(_) => held("keys not yet forgotten"),
                    None => unbounded("every closing row (add FORGET AFTER to bound it)"),
                };
                vec![
                    fact(closing_name, closing_bound),
                    fact(candidates_name, held("open keys' rows + 1 per closed key + rows within DELAY")),
                ]
            } else {
                vec![
                    fact(closing_name, unbounded("every closing row")),
                    fact(candidates_name, unbounded("every competing row")),
                ]
            };
            facts.push(fact(ArrangementName::WinnerInput, held("open keys' valid rows + 1 per closed key")));
            facts.push(fact(
                ArrangementName::WinnerOutput,
                StateBound::PerKey { rows: 1, plus_within_delay: false },
            ));
            if winner.feedback {
                let mut marks: Vec<fn(KeysPart) -> ArrangementName> = vec![ArrangementName::WinnerClosed];
                if winner.forget_after.is_some() {
                    marks.push(ArrangementName::WinnerForgotten);
                }
                for mark in marks {
                    facts.push(fact(mark(KeysPart::ClosingRows), held("closing rows held")));
                    facts.push(fact(
                        mark(KeysPart::Keys),
                        StateBound::PerKey { rows: 1, plus_within_delay: false },
                    ));
                }
                facts.push(fact(
                    ArrangementName::WinnerKeptCandidates,
                    StateBound::PerKey { rows: 1, plus_within_delay: false },
                ));
            }
            facts
        }
        PlanNode::Unmatched(unmatched) => {
            let join = &unmatched.join;
            let keys = key_names(&join.left_key, &join.left);
            let sides = [(Side::Left, &join.left), (Side::Right, &join.right)];
            let side_bound = if unmatched.feedback {
                StateBound::HeldByRule { holds: "unmatched rows + rows matched within DELAY" }
            } else {
                StateBound::Unbounded { grows_with: "every row of the side" }
            };
            let mut facts: Vec<ArrangementFact> = sides
                .iter()
                .map(|(side, input)| {
                    ArrangementFact::new(
                        ArrangementName::Unmatched { side: *side, input: input.label() },
                        &keys,
                        side_bound,
                    )
                })
                .collect();
            if unmatched.feedback {
                for (side, _) in sides {
                    facts.push(ArrangementFact::new(
                        ArrangementName::UnmatchedConsumed(side),
                        &keys,
                        StateBound::HeldByRule { holds: "rows matched within DELAY" },
                    ));
                }
            }
            facts
        }
    }
}

/// Key expressions as EXPLAIN prints them, over `input`'s columns; `()` for none.
pub(super) fn key_names(keys: &[ScalarExpr], input: &Plan) -> String {
    let names = input.column_names();
    let keys: Vec<String> = keys.iter().map(|k| k.display(&names).to_string()).collect();
    if keys.is_empty() { "()".to_string() } else { keys.join(", ") }
}
