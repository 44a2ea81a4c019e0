//! The feedback loop around a join input that a rule retracts from ([`fed_back`]), and
//! `settle`: consolidate keyed updates per time before they enter the loop's `Variable`.
//!
//! A rule retracts `input − needed`, where `needed` is `live − unneeded`: the live rows (the
//! input minus the retractions fed back so far) less those the rule no longer needs, computed
//! from the live rows. Since `input − live` is the loop's own output (the retractions that
//! have landed), what goes around the loop is `landed + unneeded`
//! ([`Feedback::retract_unneeded`]): the same collection as `input − needed`, with two fewer
//! updates per row than spelling it out (the input and the live rows each carry every row).
//! A row that lands leaves `unneeded` at the time it joins `landed`; the two updates cancel,
//! but unconsolidated such pairs would circulate forever, one step of DELAY per round, and
//! the loop would never go quiet. [`settle`] routes updates by key, holds each time's updates
//! until the frontier passes it, and passes on only what does not cancel.
//!
//! Invariant: it holds only updates of times not yet complete, so its state is the updates in
//! flight, not the history. One capability, at the earliest held time, covers them all.

use std::collections::BTreeMap;

use differential_dataflow::AsCollection;
use differential_dataflow::consolidation::consolidate;
use differential_dataflow::operators::iterate::Variable;
use timely::dataflow::Scope;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::Capability;
use timely::dataflow::operators::generic::Operator;

use super::KeyedRows;
use super::Time;
use super::arrange::hash_bytes;
use crate::repr::EncodedRow;

/// Keyed updates waiting for their time to complete, by time.
type Pending = BTreeMap<Time, Vec<((EncodedRow, EncodedRow), i64)>>;

/// Keyed rows as the container a `Variable` of them carries.
type KeyedUpdates = Vec<((EncodedRow, EncodedRow), Time, i64)>;

/// The loop that carries a join input's retractions back to it, DELAY later.
pub(super) struct Feedback<'scope> {
    variable: Variable<'scope, Time, KeyedUpdates>,
    /// The retractions as they land (DELAY after they were fed in): the input minus the live
    /// rows.
    landed: KeyedRows<'scope>,
}

impl<'scope> Feedback<'scope> {
    /// From now on, retract every live row that `unneeded` holds. `unneeded` is a subset of
    /// the live rows, computed from them, so what enters the loop is settled first.
    pub(super) fn retract_unneeded(self, unneeded: KeyedRows<'scope>) {
        self.variable.set(settle(self.landed.concat(unneeded)));
    }
}

/// `keyed` minus the retractions fed back `step` later, and the loop that carries them; without
/// feedback, `keyed` as it is.
pub(super) fn fed_back<'scope>(
    scope: Scope<'scope, Time>,
    keyed: KeyedRows<'scope>,
    feedback: bool,
    step: u64,
) -> (KeyedRows<'scope>, Option<Feedback<'scope>>) {
    if !feedback {
        return (keyed, None);
    }
    let (variable, landed) = Variable::new(scope, step);
    (keyed.concat(landed.clone().negate()), Some(Feedback { variable, landed }))
}

fn settle(updates: KeyedRows<'_>) -> KeyedRows<'_> {
    let by_key =
        Exchange::new(|((key, _), _, _): &((EncodedRow, EncodedRow), Time, i64)| hash_bytes(key.iter()));
    updates
        .inner
        .unary_frontier(by_key, "Settle", |_capability, _info| {
            let mut pending = Pending::new();
            let mut held: Option<Capability<Time>> = None;
            move |(input, frontier), output| {
                input.for_each(|capability, data| {
                    for (update, time, diff) in data.drain(..) {
                        if held.as_ref().is_none_or(|h| *h.time() > time) {
                            held = Some(capability.delayed(&time, 0));
                        }
                        pending.entry(time).or_default().push((update, diff));
                    }
                });
                // Every time released goes out under the one capability held, the earliest
                // pending time: a session (and its buffer) per time would cost more than the
                // updates of a time when times are many and sparse.
                if let Some(capability) = held.as_ref() {
                    let mut session = output.session(capability);
                    while let Some(entry) = pending.first_entry() {
                        if frontier.less_equal(entry.key()) {
                            break;
                        }
                        let (time, mut updates) = entry.remove_entry();
                        consolidate(&mut updates);
                        for (update, diff) in updates {
                            session.give((update, time, diff));
                        }
                    }
                }
                held = match (held.take(), pending.keys().next()) {
                    (Some(capability), Some(next)) => Some(capability.delayed(next)),
                    _ => None,
                };
            }
        })
        .as_collection()
}
