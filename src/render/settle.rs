//! `settle`: consolidate keyed updates per time before they enter a feedback loop's
//! `Variable` (see `feedback.rs`, [`super::feedback::Feedback::retract_unneeded`]).
//!
//! A row that lands leaves a rule's `unneeded` rows at the time it joins the loop's `landed`
//! rows; the two updates cancel, but unconsolidated such pairs would circulate forever, one
//! step of DELAY per round, and the loop would never go quiet. [`settle`] routes updates by
//! key, holds each time's updates until the frontier passes it, and passes on only what does
//! not cancel.
//!
//! Invariant: it holds only updates of times not yet complete, so its state is the updates in
//! flight, not the history. One capability, at the earliest held time, covers them all.

use std::collections::BTreeMap;

use differential_dataflow::AsCollection;
use differential_dataflow::consolidation::consolidate;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::Capability;
use timely::dataflow::operators::generic::Operator;

use super::KeyedRows;
use super::Time;
use super::arrange::hash_bytes;
use crate::repr::EncodedRow;

/// Keyed updates waiting for their time to complete, by time.
type Pending = BTreeMap<Time, Vec<((EncodedRow, EncodedRow), i64)>>;

/// `updates` consolidated per time, each time once the frontier has passed it.
pub(super) fn settle(updates: KeyedRows<'_>) -> KeyedRows<'_> {
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
