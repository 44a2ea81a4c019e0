//! `Retain`: a retention rule as a self-compacting reduce.
//!
//! ```text
//!  rows ─ key ─ thin ─┬──────────────────────────────┐
//!                     │                              ▼
//!                     └─▶ concat ◀─ negate ─ retractions (Variable, step = DELAY)
//!                           │                        ▲
//!                 columnar arrange ("retain input")   │
//!                           │                        │
//!                      reduce: best n per key ───────┴─ set(keyed − kept)
//!                           │
//!                         kept rows ─▶ the view
//! ```
//!
//! Each row is keyed by the rule's key and valued by its ranking datum (complemented when
//! lower is better, so "best" is always "greatest") followed by the whole row; ties therefore
//! break on the whole row, greatest first. The reduce keeps the `limit` greatest values per
//! key. Everything it does not keep is fed back through a `Variable` whose step is the DELAY
//! and subtracted from its own input, so its input arrangement holds only the kept rows plus
//! those retired less than DELAY ago.
//!
//! Invariants: the input is append-only (the binder refuses anything else), so retracting a
//! row the reduce did not keep never changes what it keeps, and the loop converges. Before the
//! loop, each time's rows are thinned per worker to their best `limit` per key: a row beaten
//! by `limit` rows of its own time can never be kept, so it never enters the state at all.
//!
//! Known limitation: thinning waits for a time to complete before passing its rows on, so it
//! holds one time's rows of this worker while that time is open.

use std::collections::BTreeMap;

use columnar::Columnar;
use differential_dataflow::AsCollection;
use differential_dataflow::VecCollection;
use differential_dataflow::columnar::collection::{
    Builder as ColumnarCollectionBuilder, Pact as ColumnarPact, RecordedUpdates, as_recorded_updates,
};
use differential_dataflow::columnar::trace::{
    Batcher as ColumnarBatcher, Builder as ColumnarBuilder, Spine as ColumnarSpine,
};
use differential_dataflow::columnar::updates::UpdatesTyped;
use differential_dataflow::operators::arrange::arrangement::arrange_core;
use differential_dataflow::operators::iterate::Variable;
use timely::dataflow::Scope;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::Capability;
use timely::dataflow::operators::generic::Operator;

use super::{Context, Rows, Time};
use crate::plan::RetainRule;
use crate::repr::{EncodedRow, row};

type Update = (EncodedRow, EncodedRow, Time, i64);
/// Updates of one time waiting for the time to complete, with the capability to send them.
type Pending = BTreeMap<Time, (Capability<Time>, Vec<((EncodedRow, EncodedRow), i64)>)>;
type Keyed<'scope> = VecCollection<'scope, Time, (EncodedRow, EncodedRow), i64>;

pub(super) fn render<'scope>(
    scope: Scope<'scope, Time>,
    rows: Rows<'scope>,
    rule: &RetainRule,
    delay: u64,
    feedback: bool,
    ctx: &mut Context<'_>,
) -> Rows<'scope> {
    let limit = rule.limit;
    let descending = rule.descending;
    let key_exprs = rule.key.clone();
    let rank = rule.rank.clone();
    let keyed = rows.map(move |encoded| {
        let datums = row::decode(&encoded);
        let key = row::encode(key_exprs.iter().map(|e| e.eval(&datums)).collect::<Vec<_>>().iter());
        let mut value = Vec::with_capacity(encoded.len() + 9);
        if descending {
            row::encode_datum(&rank.eval(&datums), &mut value);
        } else {
            row::encode_datum_descending(&rank.eval(&datums), &mut value);
        }
        value.extend_from_slice(&encoded);
        (key, value)
    });
    let keyed = thin(keyed, limit);

    let (reduce_input, variable) = if feedback {
        // A step of zero would make the loop ill-defined; DELAY 0 means "the next tick".
        let (variable, retractions) = Variable::new(scope, delay.max(1));
        (keyed.clone().concat(retractions.negate()), Some(variable))
    } else {
        (keyed.clone(), None)
    };

    let pact = ColumnarPact { hashfunc: |key: columnar::Ref<'_, EncodedRow>| hash_bytes(key.into_iter()) };
    let arranged = arrange_core::<_, _, _, ColumnarSpine<EncodedRow, EncodedRow, Time, i64>>(
        to_columnar(reduce_input).inner,
        pact,
        "RetainInput",
        ColumnarBatcher::new,
    );
    ctx.state.push(("retain input".to_string(), Box::new(arranged.trace.clone())));

    let kept = arranged.reduce_abelian::<_, ColumnarBuilder<EncodedRow, EncodedRow, Time, i64>, ColumnarSpine<EncodedRow, EncodedRow, Time, i64>, _, _>(
        "Retain",
        move |_key, input, output| {
            // `input` is sorted ascending: the best rows are at the end.
            let mut remaining = limit as i64;
            for (value, count) in input.iter().rev() {
                if remaining == 0 {
                    break;
                }
                if *count > 0 {
                    let take = (*count).min(remaining);
                    output.push((<EncodedRow as Columnar>::into_owned(*value), take));
                    remaining -= take;
                }
            }
        },
        |chunk, key, updates| {
            let mut trie = UpdatesTyped::<Update>::default();
            for (value, time, diff) in updates.drain(..) {
                <UpdatesTyped<Update> as columnar::Push<_>>::push(&mut trie, (key, &value, &time, &diff));
            }
            *chunk.updates_mut() = trie.consolidate();
        },
    );
    ctx.state.push(("retain output".to_string(), Box::new(kept.trace.clone())));

    let kept = from_columnar(as_recorded_updates::<Update>(kept));
    if let Some(variable) = variable {
        variable.set(keyed.concat(kept.clone().negate()));
    }
    kept.map(move |(_key, value)| value[row::datum_len(&value, !descending)..].to_vec())
}

/// Per worker and time, pass on only each key's `limit` best rows of that time.
fn thin(keyed: Keyed<'_>, limit: u64) -> Keyed<'_> {
    keyed
        .inner
        .unary_frontier(Pipeline, "RetainThin", move |_capability, _info| {
            let mut pending = Pending::new();
            move |(input, frontier), output| {
                input.for_each(|capability, data| {
                    for (kv, time, diff) in data.drain(..) {
                        pending
                            .entry(time)
                            .or_insert_with(|| (capability.delayed(&time, 0), Vec::new()))
                            .1
                            .push((kv, diff));
                    }
                });
                while let Some(entry) = pending.first_entry() {
                    if frontier.less_equal(entry.key()) {
                        break;
                    }
                    let (time, (capability, mut updates)) = entry.remove_entry();
                    best_per_key(&mut updates, limit);
                    let mut session = output.session(&capability);
                    for (kv, diff) in updates {
                        session.give((kv, time, diff));
                    }
                }
            }
        })
        .as_collection()
}

/// Keep, per key, the `limit` greatest values (counting multiplicity), in place. Updates
/// with non-positive counts are kept as they are: thinning is only sound for insertions.
fn best_per_key(updates: &mut Vec<((EncodedRow, EncodedRow), i64)>, limit: u64) {
    differential_dataflow::consolidation::consolidate(updates);
    if updates.iter().any(|(_, diff)| *diff <= 0) {
        return;
    }
    let mut kept = Vec::with_capacity(updates.len());
    let mut index = updates.len();
    while index > 0 {
        let key_end = index;
        let key = &updates[index - 1].0.0;
        let mut key_start = index;
        while key_start > 0 && &updates[key_start - 1].0.0 == key {
            key_start -= 1;
        }
        let mut remaining = limit as i64;
        for at in (key_start..key_end).rev() {
            if remaining == 0 {
                break;
            }
            let take = updates[at].1.min(remaining);
            kept.push((updates[at].0.clone(), take));
            remaining -= take;
        }
        index = key_start;
    }
    *updates = kept;
}

fn to_columnar(keyed: Keyed<'_>) -> differential_dataflow::Collection<'_, Time, RecordedUpdates<Update>> {
    keyed
        .inner
        .unary::<ColumnarCollectionBuilder<Update>, _, _, _>(Pipeline, "ToColumnar", |_, _| {
            move |input, output| {
                input.for_each(|time, data| {
                    let mut session = output.session_with_builder(&time);
                    for ((key, value), time, diff) in data.drain(..) {
                        session.give((&key, &value, &time, &diff));
                    }
                });
            }
        })
        .as_collection()
}

fn from_columnar(updates: differential_dataflow::Collection<'_, Time, RecordedUpdates<Update>>) -> Keyed<'_> {
    updates
        .inner
        .unary(Pipeline, "FromColumnar", |_, _| {
            move |input, output| {
                input.for_each(|time, data| {
                    let mut session = output.session(&time);
                    for (key, value, time, diff) in data.updates.view().iter() {
                        session.give((
                            (
                                <EncodedRow as Columnar>::into_owned(key),
                                <EncodedRow as Columnar>::into_owned(value),
                            ),
                            *time,
                            *diff,
                        ));
                    }
                });
            }
        })
        .as_collection()
}

/// FNV-1a: cheap, and stable across workers and runs.
pub(crate) fn hash_bytes<'a>(bytes: impl IntoIterator<Item = &'a u8>) -> u64 {
    bytes
        .into_iter()
        .fold(0xcbf29ce484222325u64, |hash, byte| (hash ^ *byte as u64).wrapping_mul(0x100000001b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thinning_keeps_the_best_per_key_with_multiplicity() {
        let k = |s: &str| s.as_bytes().to_vec();
        let mut updates =
            vec![((k("a"), k("1")), 1), ((k("a"), k("3")), 1), ((k("a"), k("2")), 2), ((k("b"), k("1")), 1)];
        best_per_key(&mut updates, 2);
        updates.sort();
        assert_eq!(updates, vec![((k("a"), k("2")), 1), ((k("a"), k("3")), 1), ((k("b"), k("1")), 1)]);
    }
}
