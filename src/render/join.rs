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
//! state is unbounded. `Winner` and `Unmatched` key their inputs the same way ([`key_rows`]) but
//! reduce them instead of joining, with feedback that retracts the rows they no longer need
//! (arranged by [`arrange_bytes`]).

use std::cell::RefCell;
use std::rc::Rc;

use differential_dataflow::operators::arrange::{Arranged, TraceAgent};
use differential_dataflow::trace::implementations::ord_neu::{OrdValBatch, OrdValBuilder};
use differential_dataflow::trace::implementations::spine_fueled::Spine;
use differential_dataflow::trace::implementations::{OffsetList, ValSpine};
use differential_dataflow::trace::{Cursor, Navigable};
use differential_dataflow::{AsCollection, ExchangeData, VecCollection};
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;

use super::binned::Binned;
use super::in_order::{PriorOutput, reduce_in_order};
use super::{Context, KeyedRows, Rows};
use crate::plan::arrangements::ArrangementName;
use crate::plan::{JoinPlan, ScalarExpr, Side};
use crate::repr::{ByteRows, Datum, EncodedRow, Time, row};

/// Rows arranged by their encoded join key.
pub type RowsByKey<'scope> = Arranged<'scope, TraceAgent<ValSpine<EncodedRow, EncodedRow, Time, i64>>>;

/// Keyed rows arranged with the keys, and the values, of a batch laid end to end in one
/// allocation each ([`ByteRows`]): building and merging batches copies bytes instead of
/// allocating per row, and a rule's reduce reads them as slices.
pub(super) type BytesByKey<'scope> = Arranged<'scope, TraceAgent<BytesSpine>>;
type BytesLayout = (ByteRows, ByteRows, Vec<Time>, Vec<i64>, OffsetList);
type KeyedUpdate = ((EncodedRow, EncodedRow), Time, i64);
pub(super) type BytesSpine = Spine<Rc<OrdValBatch<BytesLayout>>>;
pub(super) type BytesBuilder = OrdValBuilder<BytesLayout, Vec<KeyedUpdate>>;
type BytesBatcher = Binned<(EncodedRow, EncodedRow), BytesBuilder>;

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
        // Room for fixed-width datums: growing the key datum by datum reallocated it.
        let mut bytes = Vec::with_capacity(9 * key.len());
        write_key(&key, &datums, &mut bytes).then_some((bytes, encoded))
    })
}

/// Append `key`, evaluated over `datums`, to `out`, each datum encoded as a row encodes it: the
/// bytes every rule keys its rows by, and the session deals them by (`KeyRoute`). False if a
/// key datum is NULL.
pub(super) fn write_key(key: &[ScalarExpr], datums: &[Datum], out: &mut Vec<u8>) -> bool {
    let mut null = false;
    for expr in key {
        // A column is encoded where it lies: evaluating it would clone it.
        let evaluated;
        let datum = match expr {
            ScalarExpr::Column(at) => &datums[*at],
            expr => {
                evaluated = expr.eval(datums);
                &evaluated
            }
        };
        null |= *datum == Datum::Null;
        row::encode_datum(datum, out);
    }
    !null
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

/// Arrange keyed rows as [`BytesByKey`], registering the arrangement as state named `name`.
pub(super) fn arrange_bytes<'scope>(
    keyed: KeyedRows<'scope>,
    name: ArrangementName,
    ctx: &mut Context<'scope>,
) -> BytesByKey<'scope> {
    let arranged = keyed.arrange_named::<BytesBatcher, BytesSpine>(&name.to_string(), BytesBatcher::new);
    ctx.state.push((name, Box::new(arranged.trace.clone())));
    arranged
}

/// A rule's reduce over its [`BytesByKey`] input (in time order, see `in_order`), named
/// `operator`, with `decide` giving a key's output values from its input values (a key's
/// prior output found as `prior` says), and
/// `decreases` the output changes of a key whose input only lost values, if the rule knows
/// them without its history (see `reduce_in_order`); the output is registered as state
/// named `name`.
pub(super) fn reduce_bytes<'scope>(
    input: BytesByKey<'scope>,
    operator: &str,
    name: ArrangementName,
    prior: PriorOutput,
    decide: impl FnMut(&[(&[u8], i64)], &mut Vec<(EncodedRow, i64)>) + 'static,
    decreases: impl FnMut(&[(Time, &[u8], i64)], &mut Vec<(EncodedRow, Time, i64)>) -> bool + 'static,
    ctx: &mut Context<'scope>,
) -> BytesByKey<'scope> {
    let output = reduce_keyed_bytes(input, operator, prior, decide, decreases, keyed_byte_changes);
    ctx.state.push((name, Box::new(output.trace.clone())));
    output
}

/// The in-order reduce both of the above render, each key's output changes handed to `push`.
fn reduce_keyed_bytes<'scope>(
    input: BytesByKey<'scope>,
    operator: &str,
    prior: PriorOutput,
    mut decide: impl FnMut(&[(&[u8], i64)], &mut Vec<(EncodedRow, i64)>) + 'static,
    mut decreases: impl FnMut(&[(Time, &[u8], i64)], &mut Vec<(EncodedRow, Time, i64)>) -> bool + 'static,
    push: impl FnMut(&mut Vec<KeyedUpdate>, &[u8], &mut Vec<(EncodedRow, Time, i64)>) + 'static,
) -> BytesByKey<'scope> {
    reduce_in_order::<TraceAgent<BytesSpine>, BytesBuilder, BytesSpine, _, _, _, _>(
        input,
        operator,
        prior,
        move |_key, input, output| decide(input, output),
        move |_key, changes, output| decreases(changes, output),
        push,
    )
}

/// [`reduce_bytes`], with some of each key's output changes set aside rather than arranged:
/// `set_aside_from` moves them out of a key's changes (sorted by value, each value's changes in
/// time order) into the updates of the returned collection. For output a rule only passes on,
/// such as the rows `WINNER` retires: arranging them cost building, merging and reading back
/// batches the rule never looks up. The arrangement lacks what was set aside, so a key's prior
/// output is always recomputed, and `decreases` answers for the changes left to arrange.
///
/// The reduce hands what it sets aside to the collection's operator through a buffer both share
/// (one worker, so one thread): an interval in which the reduce evaluates any key ships one
/// output batch (see `reduce_in_order`), and the operator empties the buffer when a batch
/// arrives, at the batch's capability. Every update set aside in an interval is at a time of
/// that interval, at or after the capability of its batch, which is still in flight until the
/// operator takes it; so each update is sent at a capability no later than its time, before the
/// frontier passes it.
pub(super) fn reduce_bytes_setting_aside<'scope>(
    input: BytesByKey<'scope>,
    operator: &str,
    name: ArrangementName,
    decide: impl FnMut(&[(&[u8], i64)], &mut Vec<(EncodedRow, i64)>) + 'static,
    decreases: impl FnMut(&[(Time, &[u8], i64)], &mut Vec<(EncodedRow, Time, i64)>) -> bool + 'static,
    mut set_aside_from: impl FnMut(&[u8], &mut Vec<(EncodedRow, Time, i64)>, &mut Vec<KeyedUpdate>) + 'static,
    ctx: &mut Context<'scope>,
) -> (BytesByKey<'scope>, KeyedRows<'scope>) {
    let set_aside = Rc::new(RefCell::new(Vec::new()));
    let buffer = Rc::clone(&set_aside);
    let output = reduce_keyed_bytes(
        input,
        operator,
        PriorOutput::Recompute,
        decide,
        decreases,
        move |updates, key, changes| {
            set_aside_from(key, changes, &mut buffer.borrow_mut());
            keyed_byte_changes(updates, key, changes);
        },
    );
    ctx.state.push((name, Box::new(output.trace.clone())));
    let set_aside_updates = output
        .stream
        .clone()
        .unary(Pipeline, &format!("{operator}SetAside"), move |_, _| {
            move |input, output| {
                input.for_each(|capability, _batches| {
                    let mut set_aside = set_aside.borrow_mut();
                    debug_assert!(
                        set_aside
                            .iter()
                            .all(|(_, time, _)| capability.least().is_some_and(|least| least <= time))
                    );
                    if !set_aside.is_empty() {
                        output.session(&capability).give_iterator(set_aside.drain(..));
                    }
                });
            }
        })
        .as_collection();
    (output, set_aside_updates)
}

/// The increases of a rule's reduce output, each value's as the updates `logic` says it stands
/// for (with counts), multiplied by the increase. What a rule feeds back or hands on when only
/// its increases count: a value's decreases never reach `logic`, so nothing is copied for them.
pub(super) fn increases<'scope, D: ExchangeData>(
    output: BytesByKey<'scope>,
    name: &str,
    mut logic: impl FnMut(&[u8], &[u8], &mut Vec<(D, i64)>) + 'static,
) -> VecCollection<'scope, Time, D, i64> {
    let (mut increases, mut updates) = (Vec::new(), Vec::new());
    output
        .stream
        .unary(Pipeline, name, move |_, _| {
            move |input, output| {
                input.for_each(|capability, spans| {
                    let mut session = output.session(&capability);
                    for batch in spans.iter().filter_map(|span| span.inner.as_ref()) {
                        let mut cursor = batch.cursor();
                        while let Some(key) = cursor.get_key(batch) {
                            while let Some(value) = cursor.get_val(batch) {
                                increases.clear();
                                cursor.map_times(batch, |time, diff| {
                                    if *diff > 0 {
                                        increases.push((*time, *diff));
                                    }
                                });
                                if !increases.is_empty() {
                                    updates.clear();
                                    logic(key, value, &mut updates);
                                    for (time, increase) in &increases {
                                        for (update, count) in &updates {
                                            session.give((update.clone(), *time, increase * count));
                                        }
                                    }
                                }
                                cursor.step_val(batch);
                            }
                            cursor.step_key(batch);
                        }
                    }
                });
            }
        })
        .as_collection()
}

/// A rule's reduce output changes for `key`, as the keyed updates a [`BytesByKey`] is built
/// from.
fn keyed_byte_changes(
    updates: &mut Vec<KeyedUpdate>,
    key: &[u8],
    changes: &mut Vec<(EncodedRow, Time, i64)>,
) {
    updates.clear();
    updates.extend(changes.drain(..).map(|(value, time, diff)| ((key.to_vec(), value), time, diff)));
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
