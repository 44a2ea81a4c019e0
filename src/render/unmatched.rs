//! `Unmatched`: `RETAIN UNMATCHED` over a two-input equi-join: pair, then drop both rows.
//!
//! ```text
//!  left ─ key ─ concat ◀─ negate ─ retractions (Variable, step DELAY) ◀── set(landed + held) ─┐
//!                 │                                                                          │
//!          arrange ("unmatched left") ──┐                                                    │
//!                                       join ─ filter ─ pair (in match-time order) ─▶ pairs (the view)
//!          arrange ("unmatched right") ─┘                        │
//!                 │                                              └▶ consumed rows, live for DELAY
//!  right ─ key ─ concat ◀─ … (the same loop)                        arranged ("unmatched consumed …")
//!                                                     held = live rows still consumed ───────┘
//! ```
//!
//! Semantics, per key, in event time (the TIME column of each side): at each time `m`, the
//! rows of both sides that have arrived by `m` and are not yet consumed are present; if both
//! sides have a present row and some arrives at `m`, every present left row pairs with every
//! present right row (meeting `WHERE`), each pair is emitted once, at `m`, and all of those
//! rows are consumed. A row that arrives later starts afresh. So a side holding the same key
//! twice pairs both rows with the other side's row, and a row arriving after its key matched
//! waits for a new partner. Pairs are never taken back: the view is append-only.
//!
//! The join proposes candidate pairs as rows arrive, in coarse ticks; the pair operator
//! decides them in match-time order once the frontier has passed the match time (every row of
//! an earlier time has then arrived, since a row is never older than its source's frontier),
//! rejecting candidates with a row consumed earlier. Consumed rows are retracted from their
//! inputs DELAY later; until then the pair operator remembers them. What a read sees does not
//! depend on DELAY or on how rows were grouped into statements.
//!
//! Invariants: both inputs are append-only, and the consumed rows still held are computed from
//! the inputs after retraction, so once a retraction lands they no longer hold the row (what
//! goes around the loop is the retractions landed plus those rows, see `feedback.rs`) and the
//! loop is at a fixed point. State: each side's arrangement holds its unmatched rows plus the
//! rows matched within the last DELAY.

use std::collections::BTreeMap;

use foldhash::{HashMap, HashSet, HashSetExt};

use differential_dataflow::AsCollection;
use timely::dataflow::Scope;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::Capability;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;

use super::feedback::fed_back;
use super::join;
use super::{Context, Rows};
use crate::plan::arrangements::ArrangementName;
use crate::plan::{Side, UnmatchedPlan};
use crate::repr::{Datum, EncodedRow, Time, row};

/// A proposed pair: key, left row, right row, and the time it would match.
type Candidate = (EncodedRow, EncodedRow, EncodedRow, Time);
/// A consumed row: its side, key and row.
type Consumed = (Side, EncodedRow, EncodedRow);

pub(super) fn render<'scope>(
    scope: Scope<'scope, Time>,
    left: Rows<'scope>,
    right: Rows<'scope>,
    plan: &UnmatchedPlan,
    ctx: &mut Context<'scope>,
) -> Rows<'scope> {
    let join = &plan.join;
    let step = plan.delay.get();
    let left_keyed = join::key_rows(left, &join.left_key);
    let right_keyed = join::key_rows(right, &join.right_key);
    let (left_live, left_feedback) = fed_back(scope, left_keyed, plan.feedback, step);
    let (right_live, right_feedback) = fed_back(scope, right_keyed, plan.feedback, step);
    let left_name = ArrangementName::Unmatched { side: Side::Left, input: join.left.label() };
    let right_name = ArrangementName::Unmatched { side: Side::Right, input: join.right.label() };
    let left_arranged = join::arrange(left_live, left_name, ctx);
    let right_arranged = join::arrange(right_live, right_name, ctx);

    let (left_time, right_time) = (plan.left_time, join.left.columns.len() + plan.right_time);
    let predicate = plan.predicate.clone();
    let mut datums = Vec::new();
    let candidates = left_arranged.clone().join_core(
        right_arranged.clone(),
        move |key: &EncodedRow, l: &EncodedRow, r: &EncodedRow| {
            let mut pair = l.clone();
            pair.extend_from_slice(r);
            row::decode_into(&pair, &mut datums);
            if predicate.as_ref().is_some_and(|p| !p.is_true(&datums)) {
                return None;
            }
            let at = |i: usize| match datums.get(i) {
                Some(Datum::Int(t)) => (*t).max(0) as u64,
                _ => 0,
            };
            let when = at(left_time).max(at(right_time));
            Some((key.clone(), l.clone(), r.clone(), when))
        },
    );

    let (pairs, consumed) = pair(candidates, plan.feedback.then_some(step));

    if let (Some(left_feedback), Some(right_feedback)) = (left_feedback, right_feedback) {
        // Consumed rows stay "consumed" for DELAY, until their retraction has landed.
        let consumed_live = consumed.clone().concat(consumed.delay(move |t| t + step).negate());
        for (side, feedback, arranged) in
            [(Side::Left, left_feedback, left_arranged), (Side::Right, right_feedback, right_arranged)]
        {
            let consumed_side = join::arrange(
                consumed_live.clone().flat_map(move |(s, key, row)| (s == side).then_some((key, row))),
                ArrangementName::UnmatchedConsumed(side),
                ctx,
            );
            let still_held = arranged.join_core(
                consumed_side,
                |key: &EncodedRow, held: &EncodedRow, gone: &EncodedRow| {
                    (held == gone).then(|| (key.clone(), held.clone()))
                },
            );
            feedback.retract_unneeded(still_held);
        }
    }
    pairs
}

/// Forget the rows whose retraction has landed by `time`. A row matched at `e` is remembered
/// until its retraction lands, at `expiry`: a candidate with it at a match time `m >= expiry`
/// was retracted too when it landed, so it cancels out, while one with `m < expiry` must be
/// rejected by memory. So memory is dropped in match-time order, as groups are decided.
fn forget_through(
    expiring: &mut BTreeMap<Time, Vec<Consumed>>,
    consumed: &mut HashSet<Consumed>,
    time: Time,
) {
    while let Some(entry) = expiring.first_entry() {
        if *entry.key() > time {
            break;
        }
        for row in entry.remove() {
            consumed.remove(&row);
        }
    }
}

/// Decide candidates in match-time order: emit the pairs (left row ++ right row) and the rows
/// they consume. Consumed rows are remembered for `forget_after` time units (forever without
/// feedback, when they are never retracted).
fn pair<'scope>(
    candidates: differential_dataflow::VecCollection<'scope, Time, Candidate, i64>,
    forget_after: Option<u64>,
) -> (Rows<'scope>, differential_dataflow::VecCollection<'scope, Time, Consumed, i64>) {
    let mut builder = OperatorBuilder::new("Pair".to_string(), candidates.inner.scope());
    let mut input = builder.new_input(candidates.inner, Pipeline);
    let (pairs_output, pairs_stream) = builder.new_output();
    let (consumed_output, consumed_stream) = builder.new_output();
    let mut pairs_output = timely::dataflow::operators::generic::OutputBuilder::from(pairs_output);
    let mut consumed_output = timely::dataflow::operators::generic::OutputBuilder::from(consumed_output);
    builder.build(move |_capabilities| {
        // Per match time, the candidates with their counts and the latest time one of them
        // was proposed at. One capability per output, at the earliest pending match time,
        // covers them all (a capability per time would make every frontier change cost as
        // much as the number of pending times).
        let mut pending: BTreeMap<Time, HashMap<Candidate, (i64, Time)>> = BTreeMap::new();
        let mut held: Option<[Capability<Time>; 2]> = None;
        let mut consumed: HashSet<Consumed> = HashSet::new();
        let mut expiring: BTreeMap<Time, Vec<Consumed>> = BTreeMap::new();
        move |frontiers| {
            input.for_each(|capability, data| {
                for (candidate, time, diff) in data.drain(..) {
                    let when = candidate.3;
                    if when < time {
                        // A retraction of a pair already decided: nothing to undo.
                        continue;
                    }
                    if held.as_ref().is_none_or(|[pairs, _]| *pairs.time() > when) {
                        held = Some([capability.delayed(&when, 0), capability.delayed(&when, 1)]);
                    }
                    let entry = pending.entry(when).or_default().entry(candidate).or_insert((0, time));
                    entry.0 += diff;
                    entry.1 = entry.1.max(time);
                }
            });
            let frontier = &frontiers[0];
            // Decide every match time the frontier has passed, in order. The pairs of all of
            // them go out at one time: the earliest of them, or the latest time a candidate
            // was proposed at, if later (never before a pair's rows exist). Reads only happen
            // past every row's time, so this changes nothing a read sees, and the loop acts
            // once per frontier step rather than once per distinct match time.
            let Some([pairs_held, consumed_held]) = held.as_ref() else { return };
            let mut decided: Vec<(Time, Vec<(Candidate, i64)>)> = Vec::new();
            let mut emit_at = *pairs_held.time();
            while let Some(entry) = pending.first_entry() {
                if frontier.less_equal(entry.key()) {
                    break;
                }
                let entry_key = &entry.key().clone();
                let mut group: Vec<(Candidate, i64)> = Vec::with_capacity(entry.get().len());
                for (candidate, (diff, time)) in entry.remove() {
                    emit_at = emit_at.max(time);
                    if diff > 0 {
                        group.push((candidate, diff));
                    }
                }
                group.sort();
                decided.push((*entry_key, group));
            }
            if !decided.is_empty() {
                let (pairs_capability, consumed_capability) =
                    (pairs_held.delayed(&emit_at), consumed_held.delayed(&emit_at));
                let mut pairs_handle = pairs_output.activate();
                let mut consumed_handle = consumed_output.activate();
                let mut pairs = pairs_handle.session(&pairs_capability);
                let mut consumed_session = consumed_handle.session(&consumed_capability);
                for (when, group) in decided {
                    forget_through(&mut expiring, &mut consumed, when);
                    // Rows matched at this match time: they may pair with each other, but
                    // not with anything of a later match time.
                    let mut newly: Vec<Consumed> = Vec::new();
                    for ((key, left, right, _), diff) in group {
                        let left_row = (Side::Left, key.clone(), left);
                        let right_row = (Side::Right, key, right);
                        if consumed.contains(&left_row) || consumed.contains(&right_row) {
                            continue;
                        }
                        let mut both = left_row.2.clone();
                        both.extend_from_slice(&right_row.2);
                        pairs.give((both, emit_at, diff));
                        newly.push(left_row);
                        newly.push(right_row);
                    }
                    newly.sort();
                    newly.dedup();
                    for row in &newly {
                        consumed_session.give((row.clone(), emit_at, 1));
                    }
                    if let Some(after) = forget_after {
                        expiring.entry(emit_at + after).or_default().extend(newly.iter().cloned());
                    }
                    consumed.extend(newly);
                }
            }
            // Every match time still to come is at or past the frontier.
            match frontier.frontier().first() {
                Some(&earliest) => forget_through(&mut expiring, &mut consumed, earliest.saturating_sub(1)),
                None => forget_through(&mut expiring, &mut consumed, Time::MAX),
            }
            held = match (held.take(), pending.keys().next()) {
                (Some([pairs, consumed]), Some(next)) => Some([pairs.delayed(next), consumed.delayed(next)]),
                _ => None,
            };
        }
    });
    (pairs_stream.as_collection(), consumed_stream.as_collection())
}
