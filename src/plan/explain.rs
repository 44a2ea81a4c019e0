//! EXPLAIN: the one text form of a view's plan.
//!
//! The format is a documented contract (`docs/explain.md`) and is snapshot-tested over every
//! program in `queries/`. It is deterministic: no ids, addresses or hash-map order. Each node
//! is one line, children indented two spaces below it; a `Retain` node lists its feedback
//! loop; every arrangement is listed with the bound on the state it holds.

use std::fmt::Write;

use super::catalog::{Catalog, ViewDesc};
use super::{Plan, PlanNode, RetainKind};

/// How much state a collection or arrangement can hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bound {
    /// Grows with the input.
    Unbounded,
    /// At most this many rows per distinct key.
    PerKey(u64),
}

impl Bound {
    fn describe(self) -> String {
        match self {
            Bound::Unbounded => "UNBOUNDED: grows with input".to_string(),
            Bound::PerKey(n) => format!("≤ keys × {n}"),
        }
    }
}

/// The bound on the number of rows `plan` produces.
pub fn bound(plan: &Plan) -> Bound {
    match &plan.node {
        PlanNode::Source { .. } => Bound::Unbounded,
        PlanNode::Filter { input, .. } | PlanNode::Project { input, .. } => bound(input),
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
    let _ =
        writeln!(out, "  arrangement \"output\": the view's rows; bound {}", bound(&view.plan).describe());
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
                    (*delay).max(1)
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
