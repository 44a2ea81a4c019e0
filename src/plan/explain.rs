//! EXPLAIN: the one text form of a view's plan.
//!
//! The format is a documented contract (`docs/explain.md`) and is snapshot-tested over every
//! program in `queries/`. It is deterministic: no ids, addresses or hash-map order. Each node
//! is one line, children indented two spaces below it; a `Retain` node lists its feedback
//! loop; every arrangement is listed with the bound on the state it holds.

use std::fmt::Write;

use super::arrangements::{self, ArrangementFact, ArrangementName, key_names};
use super::catalog::{Catalog, Object, ViewDesc};
use super::{
    AggregateExpr, JoinPlan, Plan, PlanNode, RetainKind, ScalarExpr, Side, UnmatchedPlan, WinnerPlan,
};

/// How much state a collection or arrangement can hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bound {
    /// Grows with the input.
    Unbounded,
    /// At most this many rows per distinct key.
    PerKey(u64),
    /// One row per group.
    PerGroup,
}

/// The bound on the number of rows `plan` produces.
pub fn bound(plan: &Plan, catalog: &Catalog) -> Bound {
    match &plan.node {
        PlanNode::Source { .. } | PlanNode::Join(_) | PlanNode::Unmatched(_) => Bound::Unbounded,
        PlanNode::View { id, .. } => match catalog.by_id(*id) {
            Some(Object::View(view)) => bound(&view.plan, catalog),
            _ => Bound::Unbounded,
        },
        PlanNode::Filter { input, .. } | PlanNode::Project { input, .. } => bound(input, catalog),
        PlanNode::Aggregate { .. } => Bound::PerGroup,
        PlanNode::Winner(_) => Bound::PerKey(1),
        PlanNode::Retain { rule, feedback, .. } => {
            if *feedback {
                Bound::PerKey(rule.limit)
            } else {
                Bound::Unbounded
            }
        }
    }
}

/// The EXPLAIN text of a view.
pub fn explain_view(view: &ViewDesc, catalog: &Catalog) -> String {
    let mut out = String::new();
    let columns = view.plan.column_names().join(", ");
    let _ = writeln!(out, "View {} ({columns})", view.name);
    arrangement_line(&mut out, "  ", &arrangements::output(&view.plan, catalog), false);
    node(&mut out, &view.plan, catalog, 1);
    out
}

/// One arrangement: `arrangement "name" (qualities): [what it holds; ]bound …[ (why)]`.
fn arrangement_line(out: &mut String, pad: &str, fact: &ArrangementFact, of_the_source: bool) {
    let mut qualities = Vec::new();
    if of_the_source {
        qualities.push("of the source, shared".to_string());
    }
    if fact.spills {
        qualities.push("spillable".to_string());
    }
    if fact.counts_dropped {
        qualities.push("counts dropped rows".to_string());
    }
    if let Some(key) = &fact.key {
        qualities.push(format!("by {key}"));
    }
    if let Some(same_as) = &fact.same_as {
        qualities.push(format!("in memory the same as \"{same_as}\""));
    }
    let (holds, why) = match fact.name {
        ArrangementName::Output => (Some("the view's rows"), None),
        ArrangementName::History => (Some("every row received"), None),
        ArrangementName::AggregateGroups => (
            None,
            Some(
                "the input is append-only, so each group's rows fold into one record: counts and sums add up, min/max keep the best",
            ),
        ),
        ArrangementName::AggregateInput => {
            (None, Some("the input can retract, so every row is kept to recompute min/max"))
        }
        ArrangementName::Join { .. }
        | ArrangementName::AggregateOutput
        | ArrangementName::RetainInput
        | ArrangementName::RetainOutput
        | ArrangementName::WinnerInput
        | ArrangementName::WinnerOutput
        | ArrangementName::UnmatchedInput
        | ArrangementName::UnmatchedOutput => (None, None),
    };
    let _ = write!(out, "{pad}arrangement \"{}\"", fact.name);
    if !qualities.is_empty() {
        let _ = write!(out, " ({})", qualities.join(", "));
    }
    out.push_str(": ");
    if let Some(holds) = holds {
        let _ = write!(out, "{holds}; ");
    }
    let _ = write!(out, "bound {}", fact.bound);
    if let Some(why) = why {
        let _ = write!(out, " ({why})");
    }
    out.push('\n');
}

fn node(out: &mut String, plan: &Plan, catalog: &Catalog, depth: usize) {
    let pad = "  ".repeat(depth);
    match &plan.node {
        PlanNode::Source { id, name } => {
            let columns: Vec<String> =
                plan.columns.iter().map(|c| format!("{} {}", c.name, c.data_type)).collect();
            let _ = write!(out, "{pad}Source {name} ({})", columns.join(", "));
            if let Ok(source) = catalog.source(*id) {
                let _ = write!(out, " TIME {}", source.columns[source.time_column].name);
                if source.lateness > 0 {
                    let _ = write!(out, " LATENESS {}", source.lateness);
                }
                out.push('\n');
                if let Some(feed) = source.kind.explain() {
                    let _ = writeln!(out, "{pad}  {feed}");
                }
                for fact in arrangements::source_arrangements(source) {
                    arrangement_line(out, &format!("{pad}  "), &fact, true);
                }
            } else {
                out.push('\n');
            }
        }
        PlanNode::View { name, .. } => {
            let _ =
                writeln!(out, "{pad}View {name}: reads its \"output\" arrangement (shared, not recomputed)");
        }
        PlanNode::Filter { predicate, input } => {
            let _ = writeln!(out, "{pad}Filter {}", predicate.display(&input.column_names()));
        }
        PlanNode::Project { input, exprs } => {
            let names = input.column_names();
            let items: Vec<String> = exprs
                .iter()
                .zip(&plan.columns)
                .map(|(e, c)| {
                    let shown = e.display(&names).to_string();
                    if shown == c.name { shown } else { format!("{shown} AS {}", c.name) }
                })
                .collect();
            let _ = writeln!(out, "{pad}Project {}", items.join(", "));
        }
        PlanNode::Join(join) => {
            let _ = writeln!(out, "{pad}Join ON {}", join_condition(join));
        }
        PlanNode::Aggregate { input, group_by, aggregates, .. } => {
            let names = input.column_names();
            let groups = key_names(group_by, input);
            let calls: Vec<String> = aggregates.iter().map(|a| aggregate_text(a, &names)).collect();
            let _ = writeln!(out, "{pad}Aggregate GROUP BY {groups}: {}", calls.join(", "));
        }
        PlanNode::Winner(winner) => winner_lines(out, winner, &plan.column_names(), &pad),
        PlanNode::Unmatched(unmatched) => unmatched_lines(out, unmatched, &plan.column_names(), &pad),
        PlanNode::Retain { input, rule, delay, feedback } => {
            let names = input.column_names();
            let keys = key_names(&rule.key, input);
            let direction = if rule.descending { "DESC" } else { "ASC" };
            let rank = rule.rank.display(&names);
            let _ = match rule.kind {
                RetainKind::Latest => writeln!(
                    out,
                    "{pad}Retain LATEST {} PER {keys} (by {rank} DESC) DELAY {delay}",
                    rule.limit
                ),
                RetainKind::Top => {
                    writeln!(
                        out,
                        "{pad}Retain TOP {} PER {keys} BY {rank} {direction} DELAY {delay}",
                        rule.limit
                    )
                }
            };
            let _ = writeln!(
                out,
                "{pad}  thin: each tick's rows cut to their best {} per key before the loop",
                rule.limit
            );
            if *feedback {
                let _ = writeln!(
                    out,
                    "{pad}  feedback: retractions = input − kept, fed back at +{} (Variable), subtracted from the input",
                    delay
                );
            } else {
                let _ = writeln!(out, "{pad}  feedback: none (baseline)");
            }
        }
    }
    for fact in arrangements::node_arrangements(plan, catalog) {
        arrangement_line(out, &format!("{pad}  "), &fact, false);
    }
    for input in plan.inputs() {
        node(out, input, catalog, depth + 1);
    }
}

fn join_condition(join: &JoinPlan) -> String {
    let (left, right) = (join.left.column_names(), join.right.column_names());
    let (left_label, right_label) = (side_label(&join.left), side_label(&join.right));
    let pairs: Vec<String> = join
        .left_key
        .iter()
        .zip(&join.right_key)
        .map(|(l, r)| format!("{left_label}.{} = {right_label}.{}", l.display(&left), r.display(&right)))
        .collect();
    pairs.join(" AND ")
}

/// A join side's name in EXPLAIN: its sources, comma-separated.
fn side_label(side: &Plan) -> String {
    side.label().trim_start_matches('(').trim_end_matches(')').to_string()
}

fn aggregate_text(aggregate: &AggregateExpr, names: &[String]) -> String {
    let func = format!("{:?}", aggregate.func).to_lowercase();
    match &aggregate.arg {
        Some(arg) => format!("{func}({})", arg.display(names)),
        None => format!("{func}(*)"),
    }
}

fn winner_lines(out: &mut String, winner: &WinnerPlan, names: &[String], pad: &str) {
    let join = &winner.join;
    let keys = key_names(&join.left_key, &join.left);
    let direction = if winner.descending { "DESC" } else { "ASC" };
    let (closing, candidates) = match winner.closing {
        Side::Left => (&join.left, &join.right),
        Side::Right => (&join.right, &join.left),
    };
    let _ = write!(
        out,
        "{pad}Retain WINNER PER {keys} BY {} {direction} CLOSE AT {}",
        winner.rank.display(names),
        winner.close_at.display(&closing.column_names())
    );
    if let Some(forget) = winner.forget_after {
        let _ = write!(out, " FORGET AFTER {forget}");
    }
    let _ = writeln!(out, " DELAY {}", winner.delay);
    let _ = writeln!(out, "{pad}  join ON {}", join_condition(join));
    let _ = writeln!(out, "{pad}  closing side {}, competing side {}", closing.label(), candidates.label());
    if let Some(predicate) = &winner.predicate {
        let _ = writeln!(out, "{pad}  competing rows must meet {}", predicate.display(names));
    }
    if let Some(dominance) = winner.dominance() {
        let _ = writeln!(
            out,
            "{pad}  thin: per worker and tick, a competing row is dropped if a better one of its key with {} no greater came with it",
            ScalarExpr::Column(dominance.bounded).display(names)
        );
    }
    let _ = writeln!(
        out,
        "{pad}  per key, one reduce over its closing rows, their close marks and its competing rows"
    );
    let step = winner.delay.get();
    if winner.feedback {
        let forget = match winner.forget_after {
            Some(forget) => format!("; at close + {forget}, every row of the key, its winner's included"),
            None => String::new(),
        };
        let _ = writeln!(
            out,
            "{pad}  feedback: retired rows = per closed key, its competing rows but the winner's{forget}; fed back at +{step} (Variable)"
        );
    } else {
        let _ = writeln!(out, "{pad}  feedback: none (baseline)");
    }
}

fn unmatched_lines(out: &mut String, unmatched: &UnmatchedPlan, names: &[String], pad: &str) {
    let join = &unmatched.join;
    let _ = writeln!(out, "{pad}Retain UNMATCHED DELAY {}", unmatched.delay);
    let _ = writeln!(out, "{pad}  join ON {}", join_condition(join));
    if let Some(predicate) = &unmatched.predicate {
        let _ = writeln!(out, "{pad}  pairs must meet {}", predicate.display(names));
    }
    let (left_names, right_names) = (join.left.column_names(), join.right.column_names());
    let _ = writeln!(
        out,
        "{pad}  pairs: emitted once, at the later of {}.{} and {}.{}; the view is append-only",
        side_label(&join.left),
        left_names[unmatched.left_time],
        side_label(&join.right),
        right_names[unmatched.right_time]
    );
    let _ = writeln!(out, "{pad}  per key, one reduce over both sides' rows, each at its TIME");
    let step = unmatched.delay.get();
    if unmatched.feedback {
        let _ = writeln!(
            out,
            "{pad}  feedback: retired rows = the rows of each pair, once matched; fed back at +{step} (Variable)"
        );
    } else {
        let _ = writeln!(out, "{pad}  feedback: none (baseline)");
    }
}
