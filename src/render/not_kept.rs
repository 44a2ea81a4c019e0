//! `NotKept`: what a `LATEST` or `TOP` rule retracts, `input − kept`, with the rows it keeps
//! as they arrive already cancelled.
//!
//! In: the rule's keyed input (rows keyed by the hash of their rule key, before any retraction)
//! and the batches of its reduce's output, the rows it keeps. Out: `input − kept`, each time's
//! updates once both inputs have passed it, each kept increase netted against the input's
//! update of the same row and time; and every kept update's diff subtracted from the rule's
//! dropped counter.
//!
//! A row a rule keeps when it arrives appears in both inputs at the same time and cancels. The
//! loop then carries each row once, when the rule stops keeping it (or never keeps it), rather
//! than as three updates of which two cancel only in the reduce's batcher, DELAY later. A kept
//! row that leaves is copied once; the input's rows move, and only a kept increase left over
//! (none, when the rule keeps each row as it arrives or never) is copied besides. Kept
//! decreases go around as they come: the input only grows, so only an increase can cancel.
//!
//! Invariant: what the operator emits at a time is exactly that time's `input − kept`, whatever
//! the rows are; it only emits a time once no more input or kept updates can arrive for it, so
//! the pairs that cancel are complete. The input is exchanged as the rule's reduce input is
//! (`retain::exchange_hash`), so that a row and its kept self meet on one worker.
//!
//! Known limitations: it holds each time's input rows until the reduce has output that time,
//! which is after the input batcher has taken them and the reduce has processed them: about one
//! round of the loop, or the whole tick of a large statement. The vectors that held a time are
//! kept for later times with their capacity, so their memory stays about that of the most rows
//! held at once (a vector that grew for a large time and is reused for a small one keeps its
//! size). The rule's dropped counter moves when a time is emitted, slightly after the view's
//! rows.

use std::cell::Cell;
use std::collections::{BTreeMap, VecDeque};
use std::hash::BuildHasher;
use std::rc::Rc;

use differential_dataflow::AsCollection;
use differential_dataflow::operators::arrange::{Arranged, TraceAgent};
use differential_dataflow::trace::implementations::spine_fueled::SpineBatch;
use differential_dataflow::trace::{Cursor, Navigable, Span, SpanOf};
use hashbrown::HashTable;
use timely::dataflow::channels::pact::{Exchange, Pipeline};
use timely::dataflow::operators::Capability;
use timely::dataflow::operators::generic::Operator;
use timely::progress::frontier::MutableAntichain;

use super::arrange::HashedSpine;
use crate::repr::Time;

use super::retain::{HashedRows, HashedUpdate, exchange_hash};

/// One update of a rule's kept output, borrowed from its batch, with what `input − kept` holds
/// of it so far.
struct KeptUpdate<'batch> {
    hash: u64,
    time: Time,
    value: &'batch [u8],
    net: i64,
}

impl KeptUpdate<'_> {
    fn is(&self, hash: u64, time: Time, value: &[u8]) -> bool {
        self.hash == hash && self.time == time && self.value == value
    }
}

/// Where an update of `value` (which starts with its key) at `time` goes in a table: by the
/// whole value, since under `TOP n` a key may keep many values in one tick.
fn slot(time: Time, value: &[u8]) -> u64 {
    foldhash::fast::FixedState::with_seed(0).hash_one((time, value))
}

/// `input − kept` (see the module doc), where `kept` is the rule's reduce output, arranged.
pub(super) fn not_kept<'scope>(
    input: HashedRows<'scope>,
    kept: &Arranged<'scope, TraceAgent<HashedSpine>>,
    dropped: Rc<Cell<i64>>,
) -> HashedRows<'scope> {
    input
        .inner
        .binary_frontier(
            kept.stream.clone(),
            Exchange::new(exchange_hash),
            Pipeline,
            "RetainNotKept",
            move |_, _| {
                // The input's updates by time: a rule's keyed input comes a time per message.
                let mut arrived: BTreeMap<Time, Vec<HashedUpdate>> = BTreeMap::new();
                // Emptied vectors of `arrived`, to hold later times: a fresh one for every time
                // costs a peak RSS of about a tenth more at 1,000 keys in ticks of 1,000 rows.
                let mut spare: Vec<Vec<HashedUpdate>> = Vec::new();
                let mut spans: VecDeque<SpanOf<TraceAgent<HashedSpine>>> = VecDeque::new();
                // At or before every update still held: the least stamp of the messages they came in.
                let mut capability: Option<Capability<Time>> = None;
                move |(input, input_frontier), (kept, kept_frontier), output| {
                    let mut hold = |held: Option<Capability<Time>>| {
                        if let Some(held) = held
                            && capability.as_ref().is_none_or(|least| held.time() < least.time())
                        {
                            capability = Some(held);
                        }
                    };
                    input.for_each(|held, data| {
                        let Some(&(_, time, _)) = data.first() else { return };
                        hold(held.retain_least(0));
                        if data.iter().all(|update| update.1 == time) {
                            bin(&mut arrived, &mut spare, time).append(data);
                        } else {
                            for (hashed, time, diff) in data.drain(..) {
                                bin(&mut arrived, &mut spare, time).push((hashed, time, diff));
                            }
                        }
                    });
                    kept.for_each(|held, data| {
                        if data.is_empty() {
                            return;
                        }
                        hold(held.retain_least(0));
                        spans.extend(data.drain(..));
                    });
                    // A time is complete once both inputs have passed it and every span of kept
                    // updates that may hold it has arrived whole.
                    let passed = least(input_frontier).min(least(kept_frontier));
                    let whole = spans.iter().take_while(|span| upper(span) <= passed).count();
                    let complete = spans.get(whole).map_or(passed, |span| lower(span).min(passed));
                    if whole == 0 && arrived.first_key_value().is_none_or(|(time, _)| *time >= complete) {
                        return;
                    }
                    let Some(held) = capability.as_mut() else { return };
                    let mut session = output.session(held);
                    let ready = spans.range(..whole);
                    let mut table = HashTable::<KeptUpdate>::with_capacity(ready.clone().map(span_len).sum());
                    let mut kept_diffs = 0;
                    for span in ready {
                        for_each_update(span, |hash, value, time, diff| {
                            kept_diffs += diff;
                            if diff < 0 {
                                session.give(((hash, value.to_vec()), time, -diff));
                                return;
                            }
                            let at = slot(time, value);
                            match table.find_mut(at, |held| held.is(hash, time, value)) {
                                Some(held) => held.net -= diff,
                                None => {
                                    table.insert_unique(
                                        at,
                                        KeptUpdate { hash, time, value, net: -diff },
                                        |held| slot(held.time, held.value),
                                    );
                                }
                            }
                        });
                    }
                    dropped.set(dropped.get() - kept_diffs);
                    let later = arrived.split_off(&complete);
                    let due = std::mem::replace(&mut arrived, later);
                    for mut updates in due.into_values() {
                        for ((hash, value), time, diff) in updates.drain(..) {
                            match table.find_mut(slot(time, &value), |held| held.is(hash, time, &value)) {
                                Some(held) => held.net += diff,
                                None => session.give(((hash, value), time, diff)),
                            }
                        }
                        spare.push(updates);
                    }
                    for update in table {
                        if update.net != 0 {
                            session.give(((update.hash, update.value.to_vec()), update.time, update.net));
                        }
                    }
                    drop(session);
                    spans.drain(..whole);
                    // What is still held is at or after the spans still to come, and after every
                    // time completed.
                    let next =
                        spans.front().map(lower).into_iter().chain(arrived.keys().next().copied()).min();
                    match next {
                        Some(time) => held.downgrade(&time.max(*held.time())),
                        None => capability = None,
                    }
                }
            },
        )
        .as_collection()
}

/// Subtract every update of a rule's kept output from the rule's `dropped` counter: what
/// [`not_kept`] does besides, for a rule without feedback.
pub(super) fn count_kept(kept: &Arranged<'_, TraceAgent<HashedSpine>>, dropped: Rc<Cell<i64>>) {
    kept.stream.clone().sink(Pipeline, "RetainCountKept", move |(input, _frontier)| {
        input.for_each(|_, spans| {
            for span in spans.iter() {
                for_each_update(span, |_, _, _, diff| dropped.set(dropped.get() - diff));
            }
        });
    });
}

/// The updates that arrived at `time`, in a spare vector if none had.
fn bin<'a>(
    arrived: &'a mut BTreeMap<Time, Vec<HashedUpdate>>,
    spare: &mut Vec<Vec<HashedUpdate>>,
    time: Time,
) -> &'a mut Vec<HashedUpdate> {
    arrived.entry(time).or_insert_with(|| spare.pop().unwrap_or_default())
}

/// How many updates `span` holds.
fn span_len(span: &SpanOf<TraceAgent<HashedSpine>>) -> usize {
    span.inner.as_ref().map_or(0, |batch| batch.len())
}

/// Hand `logic` each update of `span`: key hash, value, time and diff.
fn for_each_update<'span>(
    span: &'span SpanOf<TraceAgent<HashedSpine>>,
    mut logic: impl FnMut(u64, &'span [u8], Time, i64),
) {
    let Some(batch) = span.inner.as_ref() else { return };
    let mut cursor = batch.cursor();
    while let Some(hash) = cursor.get_key(batch) {
        while let Some(value) = cursor.get_val(batch) {
            cursor.map_times(batch, |time, diff| logic(*hash, value, *time, *diff));
            cursor.step_val(batch);
        }
        cursor.step_key(batch);
    }
}

/// The least time a frontier may still see, or `Time::MAX` once it is empty.
fn least(frontier: &MutableAntichain<Time>) -> Time {
    frontier.frontier().iter().min().copied().unwrap_or(Time::MAX)
}

/// The least time `span` may hold.
fn lower<B>(span: &Span<Time, B>) -> Time {
    span.lower().elements().iter().min().copied().unwrap_or(Time::MAX)
}

/// The least time after `span`, or `Time::MAX` for the last span.
fn upper<B>(span: &Span<Time, B>) -> Time {
    span.upper().elements().iter().min().copied().unwrap_or(Time::MAX)
}
