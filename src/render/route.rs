//! `KeyRoute`: which worker a source's row belongs on, for a view whose dataflow spreads the
//! source's rows over workers by a key.
//!
//! In: a view's plan. Out: for a view rooted at an in-memory `Retain` rule over a source's
//! own rows (through filters only), the rule's key and the worker each row's key goes to;
//! `None` for any other view.
//!
//! Why: rows inserted into a source are dealt to the workers by the session, then the rule's
//! arrangement moves each to the worker of its key. Dealt round-robin, half of them (on two
//! workers) cross threads there: one exchange push each, and the row is freed on another thread
//! than the one that allocated it. Dealt by the route, each starts on its key's worker.
//!
//! Guarantees: the worker is the one the rule's arrangement sends the key to (the key's hash
//! modulo the workers, see `retain::key_hash` and `retain::reduce_in_memory`), computed from the
//! same bytes. Where the rows go never changes what a view holds or a read returns, only what
//! crosses threads: a view that reads the source by another key exchanges its rows as before.

use crate::plan::{ObjectId, Plan, PlanNode, ScalarExpr};
use crate::repr::{Datum, row};

/// How rows of `source` are dealt to the workers for a view that spreads them by a key.
#[derive(Clone, Debug, PartialEq)]
pub struct KeyRoute {
    /// The source whose rows this routes.
    pub source: ObjectId,
    /// The rule's key, over the source's columns.
    key: Vec<ScalarExpr>,
}

impl KeyRoute {
    /// The route of the view planned as `plan`, if it spreads a source's rows by a key.
    pub fn of(plan: &Plan) -> Option<KeyRoute> {
        let PlanNode::Retain { input, rule, .. } = &plan.node else { return None };
        let mut rows = input;
        // A filter passes rows unchanged, so the rule's key columns are the source's.
        while let PlanNode::Filter { input, .. } = &rows.node {
            rows = input;
        }
        match &rows.node {
            PlanNode::Source { id, .. } => Some(KeyRoute { source: *id, key: rule.key.clone() }),
            _ => None,
        }
    }

    /// The worker, of `workers`, that `row`'s key goes to; `scratch` is reused between rows.
    pub fn worker(&self, row: &[Datum], workers: usize, scratch: &mut Vec<u8>) -> usize {
        scratch.clear();
        for expr in &self.key {
            match expr {
                ScalarExpr::Column(at) => row::encode_datum(&row[*at], scratch),
                expr => row::encode_datum(&expr.eval(row), scratch),
            }
        }
        let hash = super::retain::key_hash(scratch);
        // The same as the remainder, without a division for a power of two.
        let worker =
            if workers.is_power_of_two() { hash & (workers as u64 - 1) } else { hash % workers as u64 };
        worker as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{RetainKind, RetainRule};
    use crate::repr::{Column, DataType};

    fn source() -> Plan {
        let column = |name: &str| Column::new(name, DataType::BigInt);
        Plan {
            node: PlanNode::Source { id: ObjectId(7), name: "s".into() },
            columns: vec![column("k"), column("v")],
        }
    }

    fn retain(input: Plan) -> Plan {
        let columns = input.columns.clone();
        let rule = RetainRule {
            kind: RetainKind::Top,
            key: vec![ScalarExpr::Column(0)],
            rank: ScalarExpr::Column(1),
            descending: true,
            limit: 1,
        };
        Plan {
            node: PlanNode::Retain {
                input: Box::new(input),
                rule,
                delay: std::num::NonZeroU64::MIN,
                feedback: true,
            },
            columns,
        }
    }

    #[test]
    fn a_rule_over_a_source_routes_its_rows_by_the_rules_key() {
        let route = KeyRoute::of(&retain(source())).expect("a route");
        assert_eq!(route.source, ObjectId(7));
        let mut scratch = Vec::new();
        let worker_of =
            |k: i64, v: i64, scratch: &mut Vec<u8>| route.worker(&[Datum::Int(k), Datum::Int(v)], 4, scratch);
        // The key alone decides, and the keys spread.
        assert_eq!(worker_of(1, 5, &mut scratch), worker_of(1, 9, &mut scratch));
        let workers: std::collections::BTreeSet<usize> =
            (0..64).map(|k| worker_of(k, 0, &mut scratch)).collect();
        assert_eq!(workers.len(), 4);
        let key = row::encode(&[Datum::Int(3)]);
        assert_eq!(worker_of(3, 0, &mut scratch) as u64, super::super::retain::key_hash(&key) % 4);
    }

    #[test]
    fn a_view_that_is_not_a_rule_over_a_source_has_no_route() {
        assert_eq!(KeyRoute::of(&source()), None);
        let projected = Plan {
            node: PlanNode::Project { input: Box::new(source()), exprs: vec![ScalarExpr::Column(1)] },
            columns: source().columns[1..].to_vec(),
        };
        assert_eq!(KeyRoute::of(&retain(projected)), None);
    }
}
