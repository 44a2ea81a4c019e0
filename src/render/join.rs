//! `Join`: an inner equi-join over two arrangements.
//!
//! ```text
//!  left rows ─ key ─ arrange ("join left …") ──┐
//!                                              join ─▶ left row ++ right row
//! right rows ─ key ─ arrange ("join right …") ─┘
//! ```
//!
//! Rows are keyed by the encoded key datums; a row whose key holds a NULL never matches (SQL
//! equality is never true for NULL), so it is dropped before it takes any state. The output
//! row is the left row's encoding followed by the right row's, which is the encoding of the
//! concatenated row because the row encoding is prefix-free.
//!
//! Invariant: over append-only inputs each arrangement holds every row it has received, so its
//! state is unbounded; `Winner` and `Unmatched` reuse these pieces with feedback that retracts
//! the rows they no longer need.

use differential_dataflow::operators::arrange::{Arranged, TraceAgent};
use differential_dataflow::trace::implementations::ValSpine;

use super::{Context, KeyedRows, Rows};
use crate::plan::arrangements::ArrangementName;
use crate::plan::{JoinPlan, ScalarExpr, Side};
use crate::repr::{Datum, EncodedRow, Time, row};

/// Rows arranged by their encoded join key.
pub type RowsByKey<'scope> = Arranged<'scope, TraceAgent<ValSpine<EncodedRow, EncodedRow, Time, i64>>>;

pub(super) fn render<'scope>(
    left: Rows<'scope>,
    right: Rows<'scope>,
    plan: &JoinPlan,
    ctx: &mut Context<'scope>,
) -> Rows<'scope> {
    let left_name = ArrangementName::Join { side: Side::Left, input: plan.left.label() };
    let right_name = ArrangementName::Join { side: Side::Right, input: plan.right.label() };
    let left = arrange(key_rows(left, &plan.left_key), left_name, ctx);
    let right = arrange(key_rows(right, &plan.right_key), right_name, ctx);
    joined(left, right)
}

/// Key each row by `key` (encoded); rows whose key holds a NULL are dropped.
pub(super) fn key_rows<'scope>(rows: Rows<'scope>, key: &[ScalarExpr]) -> KeyedRows<'scope> {
    let key = key.to_vec();
    let mut datums = Vec::new();
    rows.flat_map(move |encoded| {
        row::decode_into(&encoded, &mut datums);
        let mut bytes = Vec::new();
        for expr in &key {
            let datum = expr.eval(&datums);
            if datum == Datum::Null {
                return None;
            }
            row::encode_datum(&datum, &mut bytes);
        }
        Some((bytes, encoded))
    })
}

/// Arrange keyed rows, registering the arrangement as state named `name`.
pub(super) fn arrange<'scope>(
    keyed: KeyedRows<'scope>,
    name: ArrangementName,
    ctx: &mut Context<'scope>,
) -> RowsByKey<'scope> {
    let arranged = keyed.arrange_by_key_named(&name.to_string());
    ctx.state.push((name, Box::new(arranged.trace.clone())));
    arranged
}

/// Every matching pair, as the left row followed by the right row.
pub(super) fn joined<'scope>(left: RowsByKey<'scope>, right: RowsByKey<'scope>) -> Rows<'scope> {
    left.join_core(right, |_key, left: &EncodedRow, right: &EncodedRow| {
        let mut pair = Vec::with_capacity(left.len() + right.len());
        pair.extend_from_slice(left);
        pair.extend_from_slice(right);
        Some(pair)
    })
}

/// A reduce's output changes for `key`, as the keyed updates its arrangement is built from.
pub(super) fn keyed_changes<V>(
    updates: &mut Vec<((EncodedRow, V), Time, i64)>,
    key: &EncodedRow,
    changes: &mut Vec<(V, Time, i64)>,
) {
    updates.clear();
    updates.extend(changes.drain(..).map(|(value, time, diff)| ((key.clone(), value), time, diff)));
}
