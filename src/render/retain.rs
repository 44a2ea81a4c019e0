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
//! Known limitation: thinning waits for a tick to complete before passing its rows on, so it
//! holds the best rows of each open tick on this worker (at most keys × n per tick).

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use columnar::Columnar;
use differential_dataflow::AsCollection;
use differential_dataflow::columnar::updates::UpdatesTyped;
use differential_dataflow::operators::iterate::Variable;
use timely::dataflow::Scope;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::Capability;
use timely::dataflow::operators::generic::Operator;

use super::arrange::{Keyed, RowSpine, arrange, updates_of};
use super::{Context, Rows, Time};
use crate::engine::arrangement::Spillable;
use crate::plan::RetainRule;
use crate::repr::{EncodedRow, row};
use crate::storage::columnar::{CoalescingBuilder, RowUpdate};
use crate::storage::spill::ArrangementSpill;
use crate::storage::spill::tagged::next_tag;

/// Updates of one time waiting for the time to complete, with the capability to send them.
type Pending = BTreeMap<Time, (Capability<Time>, TickBest)>;

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
    // Rows the rule has dropped, thinned or retracted: every input row counts once in, every
    // kept row once out, so the sum over workers does not depend on how rows were spread.
    let dropped = Rc::new(Cell::new(0));
    ctx.dropped.push(("retain input".to_string(), dropped.clone()));
    let keyed = key_and_thin(rows, rule, dropped.clone());

    let (reduce_input, variable) = if feedback {
        // A step of zero would make the loop ill-defined; DELAY 0 means "the next tick".
        let (variable, retractions) = Variable::new(scope, delay.max(1));
        (keyed.clone().concat(retractions.negate()), Some(variable))
    } else {
        (keyed.clone(), None)
    };

    let (arranged, input_state) = arrange(reduce_input, "RetainInput");
    ctx.state.push(("retain input".to_string(), Box::new(input_state)));

    let output_tag = ArrangementSpill::new();
    next_tag(&output_tag);
    let kept = arranged.reduce_abelian::<_, CoalescingBuilder, RowSpine, _, _>(
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
            let mut trie = UpdatesTyped::<RowUpdate>::default();
            for (value, time, diff) in updates.drain(..) {
                <UpdatesTyped<RowUpdate> as columnar::Push<_>>::push(&mut trie, (key, &value, &time, &diff));
            }
            *chunk.updates_mut() = trie.consolidate();
        },
    );
    ctx.state.push(("retain output".to_string(), Box::new(Spillable::new(kept.trace.clone(), output_tag))));

    let kept = updates_of(kept).inspect(move |(_, _, diff)| dropped.set(dropped.get() - diff));
    if let Some(variable) = variable {
        variable.set(keyed.concat(kept.clone().negate()));
    }
    kept.map(move |(_key, value)| value[row::datum_len(&value, !descending)..].to_vec())
}

/// Key each row by the rule's key and value it by its ranking datum (complemented when lower
/// is better) followed by the whole row; then, per worker and tick, pass on only each key's
/// `limit` greatest values of that tick. Every row's diff is added to `arrived`.
fn key_and_thin<'scope>(rows: Rows<'scope>, rule: &RetainRule, arrived: Rc<Cell<i64>>) -> Keyed<'scope> {
    let limit = rule.limit as i64;
    let descending = rule.descending;
    let key_exprs = rule.key.clone();
    let rank = rule.rank.clone();
    rows.inner
        .unary_frontier(Pipeline, "RetainKeyThin", move |_capability, _info| {
            let mut pending = Pending::new();
            let (mut datums, mut key, mut value) = (Vec::new(), Vec::new(), Vec::new());
            move |(input, frontier), output| {
                input.for_each(|capability, data| {
                    for (encoded, time, diff) in data.drain(..) {
                        arrived.set(arrived.get() + diff);
                        row::decode_into(&encoded, &mut datums);
                        key.clear();
                        for expr in &key_exprs {
                            row::encode_datum(&expr.eval(&datums), &mut key);
                        }
                        value.clear();
                        if descending {
                            row::encode_datum(&rank.eval(&datums), &mut value);
                        } else {
                            row::encode_datum_descending(&rank.eval(&datums), &mut value);
                        }
                        value.extend_from_slice(&encoded);
                        pending
                            .entry(time)
                            .or_insert_with(|| (capability.delayed(&time, 0), TickBest::default()))
                            .1
                            .offer(&key, &value, diff, limit);
                    }
                });
                while let Some(entry) = pending.first_entry() {
                    if frontier.less_equal(entry.key()) {
                        break;
                    }
                    let (time, (capability, best)) = entry.remove_entry();
                    let mut session = output.session(&capability);
                    for (key_value, diff) in best.into_updates() {
                        session.give((key_value, time, diff));
                    }
                }
            }
        })
        .as_collection()
}

/// One tick's best values per key, on one worker.
#[derive(Default)]
struct TickBest {
    /// Per key, its best values so far, ascending, with multiplicities adding up to at least
    /// the limit only as far as needed.
    per_key: HashMap<EncodedRow, Vec<(EncodedRow, i64)>, foldhash::fast::RandomState>,
    /// Retractions pass through untouched: thinning is only sound for insertions.
    retractions: Vec<((EncodedRow, EncodedRow), i64)>,
}

impl TickBest {
    fn offer(&mut self, key: &[u8], value: &[u8], diff: i64, limit: i64) {
        if diff <= 0 {
            self.retractions.push(((key.to_vec(), value.to_vec()), diff));
            return;
        }
        let best = match self.per_key.get_mut(key) {
            Some(best) => best,
            None => self.per_key.entry(key.to_vec()).or_default(),
        };
        let held: i64 = best.iter().map(|(_, count)| count).sum();
        if held >= limit && best.first().is_some_and(|(worst, _)| value <= worst.as_slice()) {
            return;
        }
        match best.binary_search_by(|(held_value, _)| held_value.as_slice().cmp(value)) {
            Ok(at) => best[at].1 += diff,
            Err(at) => best.insert(at, (value.to_vec(), diff)),
        }
        let mut excess = held + diff - limit;
        while excess > 0 {
            let worst = &mut best[0].1;
            if *worst <= excess {
                excess -= *worst;
                best.remove(0);
            } else {
                *worst -= excess;
                excess = 0;
            }
        }
    }

    fn into_updates(self) -> impl Iterator<Item = ((EncodedRow, EncodedRow), i64)> {
        self.per_key
            .into_iter()
            .flat_map(|(key, best)| best.into_iter().map(move |(value, count)| ((key.clone(), value), count)))
            .chain(self.retractions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thinning_keeps_the_best_per_key_with_multiplicity() {
        let mut tick = TickBest::default();
        for (key, value, count) in [("a", "1", 1), ("a", "3", 1), ("a", "2", 2), ("b", "1", 1), ("a", "0", 5)]
        {
            tick.offer(key.as_bytes(), value.as_bytes(), count, 2);
        }
        let mut updates: Vec<_> = tick.into_updates().collect();
        updates.sort();
        let k = |s: &str| s.as_bytes().to_vec();
        assert_eq!(updates, vec![((k("a"), k("2")), 1), ((k("a"), k("3")), 1), ((k("b"), k("1")), 1)]);
    }

    #[test]
    fn thinning_passes_retractions_through() {
        let mut tick = TickBest::default();
        tick.offer(b"a", b"1", -1, 1);
        tick.offer(b"a", b"2", 1, 1);
        assert_eq!(tick.into_updates().count(), 2);
    }
}
