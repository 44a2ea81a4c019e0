//! EXPLAIN: the one text form of a view's plan.
//!
//! The format is a documented contract (`docs/explain.md`) and is snapshot-tested over every
//! program in `queries/`. It is deterministic: no ids, addresses or hash-map order. Each node
//! is one line, children indented two spaces below it; a `Retain` node lists its feedback
//! loop; every arrangement is listed with the bound on the state it holds.

use std::fmt::Write;

use super::catalog::{Catalog, Object, ViewDesc};
use super::{
    AggregateExpr, AggregateState, JoinPlan, Plan, PlanNode, RetainKind, ScalarExpr, Side, UnmatchedPlan,
    WinnerPlan,
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

impl Bound {
    fn describe(self) -> String {
        match self {
            Bound::Unbounded => "UNBOUNDED: grows with input".to_string(),
            Bound::PerKey(n) => format!("≤ keys × {n}"),
            Bound::PerGroup => "≤ groups".to_string(),
        }
    }
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
    let _ = writeln!(
        out,
        "  arrangement \"output\": the view's rows; bound {}",
        bound(&view.plan, catalog).describe()
    );
    node(&mut out, &view.plan, catalog, 1);
    out
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
                if let Some(generator) = &source.generator {
                    let _ = writeln!(
                        out,
                        "{pad}  fed by GENERATOR {} at {} rows/s, event time in wall-clock ms; no history kept",
                        format!("{:?}", generator.kind).to_lowercase(),
                        generator.rate
                    );
                } else if source.keep_history {
                    let _ = writeln!(
                        out,
                        "{pad}  arrangement \"history\" (of the source, shared): every row received; bound UNBOUNDED: grows with input"
                    );
                } else {
                    let _ = writeln!(out, "{pad}  no history kept (KEEP NONE): rows stream through");
                }
            } else {
                out.push('\n');
            }
        }
        PlanNode::View { name, .. } => {
            let _ =
                writeln!(out, "{pad}View {name}: reads its \"output\" arrangement (shared, not recomputed)");
        }
        PlanNode::Filter { input, predicate } => {
            let _ = writeln!(out, "{pad}Filter {}", predicate.display(&input.column_names()));
            node(out, input, catalog, depth + 1);
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
            node(out, input, catalog, depth + 1);
        }
        PlanNode::Join(join) => {
            let _ = writeln!(out, "{pad}Join ON {}", join_condition(join));
            let keys = key_names(&join.left_key, &join.left);
            for (side, input) in [("left", &join.left), ("right", &join.right)] {
                let _ = writeln!(
                    out,
                    "{pad}  arrangement \"join {side} {}\" (by {keys}): bound UNBOUNDED: every row of the side",
                    input.label()
                );
            }
            node(out, &join.left, catalog, depth + 1);
            node(out, &join.right, catalog, depth + 1);
        }
        PlanNode::Aggregate { input, group_by, aggregates, state } => {
            let names = input.column_names();
            let groups = key_names(group_by, input);
            let calls: Vec<String> = aggregates.iter().map(|a| aggregate_text(a, &names)).collect();
            let _ = writeln!(out, "{pad}Aggregate GROUP BY {groups}: {}", calls.join(", "));
            match state {
                AggregateState::PerGroup => {
                    let _ = writeln!(
                        out,
                        "{pad}  arrangement \"aggregate groups\" (by {groups}): bound ≤ groups (the input is append-only, so each group's rows fold into one record: counts and sums add up, min/max keep the best)"
                    );
                }
                AggregateState::PerRow => {
                    let _ = writeln!(
                        out,
                        "{pad}  arrangement \"aggregate input\" (by {groups}): bound {} (the input can retract, so every row is kept to recompute min/max)",
                        bound(input, catalog).describe()
                    );
                    let _ = writeln!(
                        out,
                        "{pad}  arrangement \"aggregate output\" (by {groups}): bound ≤ groups"
                    );
                }
            }
            node(out, input, catalog, depth + 1);
        }
        PlanNode::Winner(winner) => winner_node(out, winner, &plan.column_names(), catalog, depth),
        PlanNode::Unmatched(unmatched) => {
            unmatched_node(out, unmatched, &plan.column_names(), catalog, depth)
        }
        PlanNode::Retain { input, rule, delay, feedback } => {
            let names = input.column_names();
            let keys: Vec<String> = rule.key.iter().map(|k| k.display(&names).to_string()).collect();
            let keys = if keys.is_empty() { "()".to_string() } else { keys.join(", ") };
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
                let _ = writeln!(
                    out,
                    "{pad}  arrangement \"retain input\" (columnar, by {keys}): bound ≤ keys × {} + rows within DELAY",
                    rule.limit
                );
            } else {
                let _ = writeln!(out, "{pad}  feedback: none (baseline)");
                let _ = writeln!(
                    out,
                    "{pad}  arrangement \"retain input\" (columnar, by {keys}): bound UNBOUNDED: grows with input"
                );
            }
            let _ = writeln!(
                out,
                "{pad}  arrangement \"retain output\" (columnar, by {keys}): bound ≤ keys × {}",
                rule.limit
            );
            node(out, input, catalog, depth + 1);
        }
    }
}

fn key_names(keys: &[ScalarExpr], input: &Plan) -> String {
    let names = input.column_names();
    let keys: Vec<String> = keys.iter().map(|k| k.display(&names).to_string()).collect();
    if keys.is_empty() { "()".to_string() } else { keys.join(", ") }
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

fn winner_node(out: &mut String, winner: &WinnerPlan, names: &[String], catalog: &Catalog, depth: usize) {
    let pad = "  ".repeat(depth);
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
        let input_bound = match winner.forget_after {
            Some(_) => {
                "≤ open keys' rows + 3 per closed key not yet forgotten (closing row, close mark, winner's row) + rows retired within DELAY"
            }
            None => {
                "UNBOUNDED: every closing row, its close mark and its winner's row (add FORGET AFTER to bound it)"
            }
        };
        let _ = writeln!(out, "{pad}  arrangement \"winner input\" (by {keys}): bound {input_bound}");
        let _ = writeln!(
            out,
            "{pad}  arrangement \"winner output\" (by {keys}): bound ≤ keys × 1 + rows retired within DELAY"
        );
    } else {
        let _ = writeln!(out, "{pad}  feedback: none (baseline)");
        let _ = writeln!(
            out,
            "{pad}  arrangement \"winner input\" (by {keys}): bound UNBOUNDED: every row of both sides"
        );
        let _ = writeln!(out, "{pad}  arrangement \"winner output\" (by {keys}): bound ≤ keys × 1");
    }
    node(out, &join.left, catalog, depth + 1);
    node(out, &join.right, catalog, depth + 1);
}

fn unmatched_node(
    out: &mut String,
    unmatched: &UnmatchedPlan,
    names: &[String],
    catalog: &Catalog,
    depth: usize,
) {
    let pad = "  ".repeat(depth);
    let join = &unmatched.join;
    let keys = key_names(&join.left_key, &join.left);
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
        let _ = writeln!(
            out,
            "{pad}  arrangement \"unmatched input\" (by {keys}): bound ≤ unmatched rows + rows matched within DELAY"
        );
        let _ = writeln!(
            out,
            "{pad}  arrangement \"unmatched output\" (by {keys}): bound ≤ matches within DELAY"
        );
    } else {
        let _ = writeln!(out, "{pad}  feedback: none (baseline)");
        let _ = writeln!(
            out,
            "{pad}  arrangement \"unmatched input\" (by {keys}): bound UNBOUNDED: every row of both sides"
        );
        let _ = writeln!(
            out,
            "{pad}  arrangement \"unmatched output\" (by {keys}): bound UNBOUNDED: every match"
        );
    }
    node(out, &join.left, catalog, depth + 1);
    node(out, &join.right, catalog, depth + 1);
}
