//! `KeyRoute`: which worker a source's row belongs on, for a view whose dataflow spreads the
//! source's rows over workers by a key.
//!
//! In: a view's plan. Out: a route per source its rule reads directly (through filters only;
//! the rule may sit under the view's own `SELECT` list and `WHERE`): for a `LATEST`/`TOP` rule,
//! its key; for `WINNER` and `UNMATCHED`, each side's join key. Any other view has none.
//!
//! Why: rows inserted into a source are dealt to the workers by the session, then the rule's
//! arrangement moves each to the worker of its key. Dealt round-robin, half of them (on two
//! workers) cross threads there: one exchange push each, and the row is freed on another thread
//! than the one that allocated it; across processes, more rows cross the network, some twice.
//! Dealt by the route, each starts on its key's worker, and what a rule thins per worker before
//! arranging (`LATEST`/`TOP`'s best rows of a tick, `WINNER`'s dominated bids) it thins with all
//! of a key's rows of the tick.
//!
//! Guarantees: for key columns, the worker is the one the rule's arrangement sends the key to,
//! computed from the same bytes by the same hash (see [`KeyHash`]); a key computed by an
//! expression is evaluated on the row as inserted, which may encode differently from the row
//! the dataflow decodes (`-0.0` is stored as `0.0`), and then only misses its worker. Where
//! rows go never changes what a view holds or a read returns, only what crosses threads.
//!
//! Known limitations, for the session to respect when it registers routes: the route holds only
//! for a source without history (`KEEP NONE`: a view over a source that keeps history reads its
//! rows from the history's arrangement, which spreads them by the whole row), and for
//! `LATEST`/`TOP` only as the rule was rendered: in memory, or spilling if the session had a
//! memory budget when the view was made (a budget set later rebuilds views without rows yet).
//! `COPY` files the workers read themselves are split by record, not routed.

use differential_dataflow::Hashable;

use crate::plan::{JoinPlan, ObjectId, Plan, PlanNode, ScalarExpr};
use crate::repr::Datum;

/// How rows of `source` are dealt to the workers for a view that spreads them by a key.
#[derive(Clone, Debug, PartialEq)]
pub struct KeyRoute {
    /// The source whose rows this routes.
    pub source: ObjectId,
    /// How many columns the source's rows have.
    width: usize,
    /// The rule's key, over the source's columns.
    key: Vec<ScalarExpr>,
    by: KeyHash,
}

/// How the rule's arrangement hashes a key's bytes (each key datum encoded as in a row) to
/// pick its worker: timely's exchange (and differential's columnar one) then takes the hash
/// modulo the workers.
#[derive(Clone, Copy, Debug, PartialEq)]
enum KeyHash {
    /// `LATEST`/`TOP` in memory: `retain::key_hash`.
    Retain,
    /// `LATEST`/`TOP` spilling: `arrange::hash_bytes`, as the columnar arrangement does.
    RetainSpilling,
    /// `WINNER`, `UNMATCHED`: differential's hash of the bytes as a vector (`join::arrange_bytes`).
    Join,
}

impl KeyRoute {
    /// The routes of the view planned as `plan`, rendered `spilling` or not: one per source its
    /// rule (under any columns and conditions the view applies to the rule's rows) reads
    /// directly.
    pub fn of(plan: &Plan, spilling: bool) -> Vec<KeyRoute> {
        let join_routes = |join: &JoinPlan| {
            [(&join.left, &join.left_key), (&join.right, &join.right_key)]
                .into_iter()
                .filter_map(|(input, key)| {
                    let (source, width) = source_under(input)?;
                    Some(KeyRoute { source, width, key: key.clone(), by: KeyHash::Join })
                })
                .collect()
        };
        match &plan.node {
            PlanNode::Retain { input, rule, .. } => source_under(input)
                .map(|(source, width)| KeyRoute {
                    source,
                    width,
                    key: rule.key.clone(),
                    by: if spilling { KeyHash::RetainSpilling } else { KeyHash::Retain },
                })
                .into_iter()
                .collect(),
            PlanNode::Winner(winner) => join_routes(&winner.join),
            PlanNode::Unmatched(unmatched) => join_routes(&unmatched.join),
            PlanNode::Project { input, .. } | PlanNode::Filter { input, .. } => KeyRoute::of(input, spilling),
            _ => Vec::new(),
        }
    }

    /// Whether the route holds only for views that keep their state as they did when it was
    /// made (`LATEST`/`TOP`, in memory or spilling).
    pub fn depends_on_the_budget(&self) -> bool {
        self.by != KeyHash::Join
    }

    /// The worker, of `workers`, that `row`'s key goes to; `scratch` is reused between rows.
    /// `None` for a row that is not one of the source's (the caller deals it otherwise).
    pub fn worker(&self, row: &[Datum], workers: usize, scratch: &mut Vec<u8>) -> Option<usize> {
        if row.len() != self.width {
            return None;
        }
        scratch.clear();
        // A NULL join key drops the row wherever it goes.
        super::join::write_key(&self.key, row, scratch);
        let hash = match self.by {
            KeyHash::Retain => super::retain::key_hash(scratch),
            KeyHash::RetainSpilling => super::arrange::hash_bytes(scratch.iter()),
            KeyHash::Join => scratch.hashed(),
        };
        // The same as the remainder, without a division for a power of two.
        let worker =
            if workers.is_power_of_two() { hash & (workers as u64 - 1) } else { hash % workers as u64 };
        Some(worker as usize)
    }
}

/// The source whose rows `plan` passes on unchanged (through filters only), if any, and how
/// many columns they have.
fn source_under(plan: &Plan) -> Option<(ObjectId, usize)> {
    match &plan.node {
        PlanNode::Source { id, .. } => Some((*id, plan.columns.len())),
        PlanNode::Filter { input, .. } => source_under(input),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{RetainKind, RetainRule};
    use crate::repr::{Column, DataType, row};

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
        let [route] = KeyRoute::of(&retain(source()), false).try_into().expect("one route");
        assert_eq!(route.source, ObjectId(7));
        let mut scratch = Vec::new();
        let worker_of = |k: i64, v: i64, scratch: &mut Vec<u8>| {
            route.worker(&[Datum::Int(k), Datum::Int(v)], 4, scratch).expect("a row of the source")
        };
        // The key alone decides, and the keys spread.
        assert_eq!(worker_of(1, 5, &mut scratch), worker_of(1, 9, &mut scratch));
        let workers: std::collections::BTreeSet<usize> =
            (0..64).map(|k| worker_of(k, 0, &mut scratch)).collect();
        assert_eq!(workers.len(), 4);
        let key = row::encode(&[Datum::Int(3)]);
        assert_eq!(worker_of(3, 0, &mut scratch) as u64, super::super::retain::key_hash(&key) % 4);
        // Spilling, the rule's columnar arrangement hashes the same bytes its own way.
        let [spilling] = KeyRoute::of(&retain(source()), true).try_into().expect("one route");
        let worker = spilling.worker(&[Datum::Int(3), Datum::Int(0)], 4, &mut scratch);
        assert_eq!(worker, Some((super::super::arrange::hash_bytes(key.iter()) % 4) as usize));
    }

    #[test]
    fn a_join_rule_routes_each_sides_source_by_its_join_key_as_the_join_arranges_it() {
        let filtered = Plan {
            node: PlanNode::Filter { input: Box::new(source()), predicate: ScalarExpr::Column(0) },
            columns: source().columns,
        };
        let plan = Plan {
            node: PlanNode::Unmatched(crate::plan::UnmatchedPlan {
                join: JoinPlan {
                    left: Box::new(filtered),
                    right: Box::new(source()),
                    left_key: vec![ScalarExpr::Column(1)],
                    right_key: vec![ScalarExpr::Column(0)],
                },
                predicate: None,
                left_time: 1,
                right_time: 1,
                delay: std::num::NonZeroU64::MIN,
                feedback: true,
            }),
            columns: Vec::new(),
        };
        let routes = KeyRoute::of(&plan, false);
        assert_eq!(routes.len(), 2);
        let mut scratch = Vec::new();
        let row = [Datum::Int(1), Datum::Int(2)];
        let key = |datum: &Datum| {
            let mut bytes = Vec::new();
            row::encode_datum(datum, &mut bytes);
            bytes.hashed()
        };
        assert_eq!(routes[0].worker(&row, 3, &mut scratch), Some((key(&row[1]) % 3) as usize));
        assert_eq!(routes[1].worker(&row, 3, &mut scratch), Some((key(&row[0]) % 3) as usize));
        // A row that is not the source's is not routed.
        assert_eq!(routes[0].worker(&row[..1], 3, &mut scratch), None);
    }

    #[test]
    fn only_a_rule_over_a_source_has_routes() {
        assert_eq!(KeyRoute::of(&source(), false), Vec::new());
        let projected = Plan {
            node: PlanNode::Project { input: Box::new(source()), exprs: vec![ScalarExpr::Column(1)] },
            columns: source().columns[1..].to_vec(),
        };
        assert_eq!(KeyRoute::of(&retain(projected), false), Vec::new());
        // Columns chosen from the rule's rows do not change what it reads.
        let selected = Plan {
            node: PlanNode::Project { input: Box::new(retain(source())), exprs: vec![ScalarExpr::Column(1)] },
            columns: source().columns[1..].to_vec(),
        };
        assert_eq!(KeyRoute::of(&selected, false).len(), 1);
    }
}
