//! `Aggregate`: `GROUP BY` keys and aggregates, maintained incrementally.
//!
//! ```text
//!  per group:  rows ─ explode (group, GroupState) ─ arrange ("aggregate groups") ─ count_total ─▶ rows
//!  per row:    rows ─ key by group ─ arrange ("aggregate input") ─ reduce ─ ("aggregate output") ─▶ rows
//! ```
//!
//! Per group, each row becomes its group's key with a [`GroupState`] as its *difference*, so
//! the arrangement folds every row of a group into one record per group and time, and
//! compaction leaves one per group: the state does not grow with the rows. This is exact
//! only over an append-only input (min/max cannot be taken back), which the binder checks;
//! over an input that can retract, every input row is kept so the reduce can recompute.
//!
//! A group's row is its key followed by one datum per aggregate; a group with no rows has no
//! row (so, unlike a read, a view's global aggregate over no rows is empty).

use differential_dataflow::operators::CountTotal;
use differential_dataflow::operators::arrange::TraceAgent;
use differential_dataflow::trace::implementations::{ValBuilder, ValSpine};

use super::in_order::{PriorOutput, reduce_in_order};
use super::{Context, Rows};
use crate::plan::aggregate::{Accumulator, GroupState};
use crate::plan::arrangements::ArrangementName;
use crate::plan::{AggregateExpr, AggregateState, ScalarExpr};
use crate::repr::{EncodedRow, Time, row};

pub(super) fn render<'scope>(
    rows: Rows<'scope>,
    group_by: &[ScalarExpr],
    aggregates: &[AggregateExpr],
    state: AggregateState,
    ctx: &mut Context<'scope>,
) -> Rows<'scope> {
    let group_by = group_by.to_vec();
    let aggregates = aggregates.to_vec();
    match state {
        AggregateState::PerGroup => {
            let fold = aggregates.clone();
            let mut datums = Vec::new();
            let groups = rows.explode(move |encoded| {
                row::decode_into(&encoded, &mut datums);
                Some((group_key(&group_by, &datums), GroupState::of(&fold, &datums, 1)))
            });
            let arranged = groups.arrange_by_self_named("AggregateGroups");
            ctx.state.push((ArrangementName::AggregateGroups, Box::new(arranged.trace.clone())));
            arranged.count_total_core::<i64>().flat_map(move |(key, state)| {
                (state.rows > 0).then(|| {
                    let mut out = key;
                    for datum in state.finish(&aggregates) {
                        row::encode_datum(&datum, &mut out);
                    }
                    out
                })
            })
        }
        AggregateState::PerRow => {
            let mut datums = Vec::new();
            let arranged = rows
                .map(move |encoded| {
                    row::decode_into(&encoded, &mut datums);
                    (group_key(&group_by, &datums), encoded)
                })
                .arrange_by_key_named("AggregateInput");
            ctx.state.push((ArrangementName::AggregateInput, Box::new(arranged.trace.clone())));
            let mut datums = Vec::new();
            let output = reduce_in_order::<TraceAgent<Spine>, ValBuilder<_, _, _, _>, Spine, _, _, _, _>(
                arranged,
                "Aggregate",
                // The aggregate reads every input value of a key; its output is one row.
                PriorOutput::Read,
                move |_key, input, output| {
                    let mut accumulators = vec![Accumulator::default(); aggregates.len()];
                    let mut rows = 0;
                    for (encoded, times) in input {
                        row::decode_into(encoded, &mut datums);
                        rows += times;
                        for (acc, agg) in accumulators.iter_mut().zip(&aggregates) {
                            acc.add(agg, &datums, *times);
                        }
                    }
                    if rows > 0 {
                        let mut out = Vec::new();
                        for (acc, agg) in accumulators.iter().zip(&aggregates) {
                            row::encode_datum(&acc.finish(agg), &mut out);
                        }
                        output.push((out, 1));
                    }
                },
                // An aggregate's value depends on every row.
                |_, _, _| false,
                super::join::keyed_changes,
            );
            ctx.state.push((ArrangementName::AggregateOutput, Box::new(output.trace.clone())));
            output.as_collection(|key: &EncodedRow, values: &EncodedRow| {
                let mut out = key.clone();
                out.extend_from_slice(values);
                out
            })
        }
    }
}

/// The per-row aggregate's input and output: rows (or aggregates) by group key.
type Spine = ValSpine<EncodedRow, EncodedRow, Time, i64>;

fn group_key(group_by: &[ScalarExpr], datums: &[crate::repr::Datum]) -> EncodedRow {
    let mut key = Vec::with_capacity(9 * group_by.len());
    for expr in group_by {
        row::encode_datum(&expr.eval(datums), &mut key);
    }
    key
}
