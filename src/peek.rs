//! Reads: a [`QueryPlan`] evaluated over the rows gathered from the workers.
//!
//! In: the plan and the object's rows as of the read time. Out: the result rows. Guarantees:
//! the output order is deterministic — by the ORDER BY keys, then by the whole row.

use std::collections::BTreeMap;

use crate::plan::QueryPlan;
use crate::plan::aggregate::Accumulator;
use crate::repr::Datum;

/// Evaluate `plan` over `rows`.
pub fn evaluate(plan: &QueryPlan, rows: Vec<Vec<Datum>>) -> Vec<Vec<Datum>> {
    let rows = rows.into_iter().filter(|row| plan.filter.as_ref().is_none_or(|f| f.is_true(row)));
    let rows: Vec<Vec<Datum>> = match &plan.aggregate {
        None => rows.collect(),
        Some(aggregate) => {
            let mut groups: BTreeMap<Vec<Datum>, Vec<Accumulator>> = BTreeMap::new();
            for row in rows {
                let key: Vec<Datum> = aggregate.group_by.iter().map(|g| g.eval(&row)).collect();
                let accumulators = groups
                    .entry(key)
                    .or_insert_with(|| aggregate.aggregates.iter().map(|_| Accumulator::default()).collect());
                for (acc, agg) in accumulators.iter_mut().zip(&aggregate.aggregates) {
                    acc.add(agg, &row, 1);
                }
            }
            if groups.is_empty() && aggregate.group_by.is_empty() {
                groups.insert(
                    Vec::new(),
                    aggregate.aggregates.iter().map(|_| Accumulator::default()).collect(),
                );
            }
            groups
                .into_iter()
                .map(|(mut key, accumulators)| {
                    key.extend(
                        accumulators.into_iter().zip(&aggregate.aggregates).map(|(acc, agg)| acc.finish(agg)),
                    );
                    key
                })
                .filter(|row| plan.having.as_ref().is_none_or(|h| h.is_true(row)))
                .collect()
        }
    };
    let mut out: Vec<Vec<Datum>> =
        rows.iter().map(|row| plan.project.iter().map(|e| e.eval(row)).collect()).collect();
    out.sort_by(|a, b| {
        for &(position, descending) in &plan.order_by {
            let ordering = a[position].cmp(&b[position]);
            let ordering = if descending { ordering.reverse() } else { ordering };
            if ordering.is_ne() {
                return ordering;
            }
        }
        a.cmp(b)
    });
    if let Some(limit) = plan.limit {
        out.truncate(limit as usize);
    }
    let visible = plan.columns.len();
    for row in &mut out {
        row.truncate(visible);
    }
    out
}
