//! `Winner`: `RETAIN WINNER PER k BY e CLOSE AT c [FORGET AFTER f]` over a join of a closing
//! input (auctions) and a candidate input (bids), as one reduce per join key.
//!
//! ```text
//!  closing ─ key ─┬─ tag "closing row" ───────────┐
//!                 ├─ at close time ─ "closed" ────┤
//!                 └─ at close + f ─ "forgotten" ──┤
//!  candidates ─ key ─ thin ─ tag "competing row" ─┴ concat ◀─ negate ─ retired (Variable, step DELAY) ◀─┐
//!                                                    │                                                │
//!                                       arrange ("winner input")                                      │
//!                                                    │                                                │
//!                                  reduce per key ("winner output") ─┬─ winners ─▶ the view            │
//!                                                                    └─ set aside: retired rows, first time
//! ```
//!
//! In: the two inputs, each row keyed by the join key and tagged with what it is; each closing
//! row also comes in as a mark at its close time (the key is then *closed*) and, with `FORGET
//! AFTER f`, as another at close + f (*forgotten*). Per key the reduce sees them all at once
//! and outputs the winner, the best joined row by `e` (ties broken by the whole row, greatest
//! first) among the pairs of a closing row and a competing row that meet `WHERE`, with
//! multiplicity one; and, with feedback, the rows of the key that are *retired*: once closed,
//! every competing row but the winner's; once forgotten, every row of the key (and no winner).
//! The first time a row is retired it goes around the loop, so it is retracted from the input
//! DELAY later. Retired rows are set aside as they are first retired, never arranged (see
//! `join::reduce_bytes_setting_aside`): the output arrangement holds the winners alone, as
//! without feedback, and a key's retired rows before an interval are decided again from its
//! input rather than read back.
//!
//! Before the loop, when the ranking and the conditions allow it, each tick's
//! competing rows are thinned per worker and key to those no better row of the tick beats (see `Dominance`):
//! the others could never win, so they never take state.
//!
//! Invariants: both inputs are append-only (checked by the binder), and only competing rows
//! older than their key's close time compete (the binder adds that condition), so a closed
//! key's winner is final: retracting a retired row changes neither the winner nor what is
//! retired, and a row once retired stays retired until its retraction lands. That is why
//! only the increases of the retired rows go around the loop: each is the row's live count as
//! it is retired (or a later duplicate of it), which is exactly what is still to retract. The
//! reduce's output is consolidated per key and time, so no increase is one half of a pair
//! that cancels. For the same reason, a key whose input only lost rows (its retractions landed,
//! nothing new came) is not evaluated: its winner stands, and the rows leaving were retired
//! already. Without feedback the plan is the same, less the loop and the retired rows.
//!
//! State: the input holds the open keys' rows, per closed key its closing rows, their close
//! marks and the winner's row (until forgotten, with `FORGET AFTER`), and the rows retired
//! within the last DELAY; the output holds the winners.
//!
//! Known limitations: a candidate whose key never gets a closing row is held forever, and so
//! is one that arrives after its key was forgotten (it looks the same). A key with several
//! closing rows closes at the earliest of their close times, and a closing row arriving after
//! that can only pair with what is left.

use std::collections::BTreeMap;

use differential_dataflow::AsCollection;
use foldhash::HashMap;
use timely::dataflow::Scope;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::Capability;
use timely::dataflow::operators::generic::Operator;

use super::feedback::fed_back;
use super::in_order::PriorOutput;
use super::join;
use super::{Context, KeyedRows, Rows};
use crate::plan::arrangements::ArrangementName;
use crate::plan::{Dominance, ScalarExpr, Side, WinnerPlan};
use crate::repr::{Datum, EncodedRow, Time, row};

/// The first byte of each value of the rule's input: what the rest is. Closing rows sort
/// first and competing rows last, so the reduce finds each kind in one run.
const CLOSING_ROW: u8 = 0;
/// A closing row's mark at its close time (the value is this byte alone).
const CLOSED: u8 = 1;
/// A closing row's mark at its close time + `FORGET AFTER` (the value is this byte alone).
const FORGOTTEN: u8 = 2;
const COMPETING_ROW: u8 = 3;

/// The first byte of each value of the reduce's output: a winner (rank then joined row) or a
/// retired input value.
const WINNER: u8 = 0;
const RETIRED: u8 = 1;

pub(super) fn render<'scope>(
    scope: Scope<'scope, Time>,
    left: Rows<'scope>,
    right: Rows<'scope>,
    plan: &WinnerPlan,
    ctx: &mut Context<'scope>,
) -> Rows<'scope> {
    let join = &plan.join;
    let (closing, candidates, closing_key, candidate_key) = match plan.closing {
        Side::Left => (left, right, &join.left_key, &join.right_key),
        Side::Right => (right, left, &join.right_key, &join.left_key),
    };
    let closing_keyed = join::key_rows(closing, closing_key);
    let mut candidate_keyed = join::key_rows(candidates, candidate_key);
    if let Some(dominance) = plan.dominance() {
        candidate_keyed = thin(candidate_keyed, dominance);
    }
    let mut tagged = tag(closing_keyed.clone(), CLOSING_ROW)
        .concat(marks(closing_keyed.clone(), plan.close_at.clone(), 0, CLOSED))
        .concat(tag(candidate_keyed, COMPETING_ROW));
    if let Some(forget_after) = plan.forget_after {
        tagged = tagged.concat(marks(closing_keyed, plan.close_at.clone(), forget_after, FORGOTTEN));
    }

    let (live, feedback) = fed_back(scope, tagged, plan.feedback, plan.delay.get());
    let input = join::arrange_bytes(live, ArrangementName::WinnerInput, ctx);
    let mut rule = Rule {
        predicate: plan.predicate.clone(),
        rank: plan.rank.clone(),
        descending: plan.descending,
        closing_first: plan.closing == Side::Left,
        retire: plan.feedback,
        datums: Vec::new(),
        closing_datums: Vec::new(),
        candidate: Vec::new(),
        best: Vec::new(),
    };
    let decide =
        move |input: &[(&[u8], i64)], output: &mut Vec<(EncodedRow, i64)>| rule.decide(input, output);
    let output = match feedback {
        None => join::reduce_bytes(
            input,
            "Winner",
            ArrangementName::WinnerOutput,
            // An auction's bids cost more to decide again than its winner does to read back.
            PriorOutput::Read,
            decide,
            // Without feedback nothing takes rows away.
            |_, _| false,
            ctx,
        ),
        Some(feedback) => {
            let (output, retired) = join::reduce_bytes_setting_aside(
                input,
                "Winner",
                ArrangementName::WinnerOutput,
                decide,
                // Only the loop takes rows away, and only retired ones: the winner stands, and
                // the retired rows leaving would only be set aside, where decreases go nowhere.
                |_, _| true,
                |key, changes, retired| {
                    for (mut value, time, diff) in changes.extract_if(.., |(value, _, _)| value[0] == RETIRED)
                    {
                        if diff > 0 {
                            // The input row is the value less its tag: reuse its buffer.
                            value.remove(0);
                            retired.push(((key.to_vec(), value), time, diff));
                        }
                    }
                },
                ctx,
            );
            feedback.retract(retired);
            output
        }
    };
    let descending = plan.descending;
    output.as_collection(move |_key: &[u8], value: &[u8]| {
        debug_assert_eq!(value[0], WINNER, "retired rows are set aside, never arranged");
        row::after_rank(&value[1..], descending).to_vec()
    })
}

/// A tick's competing rows of one key on one worker that no other row of the key and tick
/// dominates: each with its score (rank then row bytes, the order rows win in), its bounded
/// column, the row and its count.
type Undominated = Vec<(EncodedRow, i64, EncodedRow, i64)>;

/// Per worker and tick, drop each competing row that another row of its key and tick
/// dominates (see `Dominance`), and those that meet no closing row's conditions: they could
/// never win, so they never take state. What wins is unchanged; the rows dropped depend on
/// how rows were spread over workers and ticks, the winners do not.
///
/// Each key keeps its undominated rows as they arrive: a row is dropped at once when a better
/// one with a bound as low is held, and evicts the worse ones with a bound as high. Dominance
/// is transitive, so what is held when the tick completes is what no row of the tick
/// dominates, in whatever order the rows came; rows that are dropped are never copied.
fn thin(candidates: KeyedRows<'_>, dominance: Dominance) -> KeyedRows<'_> {
    type Pending = BTreeMap<Time, (Capability<Time>, HashMap<EncodedRow, Undominated>)>;
    candidates
        .inner
        .unary_frontier(Pipeline, "WinnerThin", move |_, _| {
            let mut pending = Pending::new();
            let (mut datums, mut score) = (Vec::new(), Vec::new());
            move |(input, frontier), output| {
                input.for_each(|capability, data| {
                    let mut passed = Vec::new();
                    for ((key, encoded), time, diff) in data.drain(..) {
                        // The joined row's datums, the closing side's NULL: nothing here reads them.
                        datums.clear();
                        datums.resize(dominance.offset, Datum::Null);
                        row::decode_onto(&encoded, &mut datums);
                        if dominance.offset == 0 {
                            datums.resize(datums.len() + dominance.closing_width, Datum::Null);
                        }
                        let bound = match datums[dominance.bounded] {
                            Datum::Int(bound) if diff > 0 => bound,
                            // Thinning is only sound for insertions with a comparable bound.
                            _ => {
                                passed.push(((key, encoded), time, diff));
                                continue;
                            }
                        };
                        if !dominance.conditions.iter().all(|condition| condition.is_true(&datums)) {
                            continue;
                        }
                        score.clear();
                        row::encode_rank(&dominance.rank.eval(&datums), dominance.descending, &mut score);
                        score.extend_from_slice(&encoded);
                        let (_, keys) = pending
                            .entry(time)
                            .or_insert_with(|| (capability.delayed(&time, 0), HashMap::default()));
                        offer(keys.entry(key).or_default(), &score, bound, encoded, diff);
                    }
                    if !passed.is_empty() {
                        let mut session = output.session(&capability);
                        for update in passed {
                            session.give(update);
                        }
                    }
                });
                while let Some(entry) = pending.first_entry() {
                    if frontier.less_equal(entry.key()) {
                        break;
                    }
                    let (time, (capability, keys)) = entry.remove_entry();
                    let mut session = output.session(&capability);
                    for (key, rows) in keys {
                        for (_, _, encoded, count) in rows {
                            session.give(((key.clone(), encoded), time, count));
                        }
                    }
                }
            }
        })
        .as_collection()
}

/// Offer a row (`diff` more of it) to its key's undominated rows of the tick.
fn offer(rows: &mut Undominated, score: &[u8], bound: i64, encoded: EncodedRow, diff: i64) {
    for (held_score, held_bound, _, count) in rows.iter_mut() {
        match held_score.as_slice().cmp(score) {
            std::cmp::Ordering::Greater if *held_bound <= bound => return,
            std::cmp::Ordering::Equal => {
                *count += diff;
                return;
            }
            _ => {}
        }
    }
    rows.retain(|(held_score, held_bound, ..)| !(held_score.as_slice() < score && bound <= *held_bound));
    rows.push((score.to_vec(), bound, encoded, diff));
}

/// Keyed rows with `tag` in front of each row.
fn tag(keyed: KeyedRows<'_>, tag: u8) -> KeyedRows<'_> {
    keyed.map(move |(key, encoded)| {
        let mut value = Vec::with_capacity(encoded.len() + 1);
        value.push(tag);
        value.extend_from_slice(&encoded);
        (key, value)
    })
}

/// Each closing row's key with the value `[mark]`, at the time `close_at + extra` (or when the
/// row arrives, if later). A row whose close time is NULL never closes. Only the updates'
/// times move: each stays in the message it came in, whose capability is no later than any of
/// them, so no capability or message is made per row.
fn marks<'scope>(
    closing: KeyedRows<'scope>,
    close_at: ScalarExpr,
    extra: u64,
    mark: u8,
) -> KeyedRows<'scope> {
    let mut datums = Vec::new();
    closing
        .inner
        .unary(Pipeline, "CloseMarks", move |_, _| {
            move |input, output| {
                input.for_each(|capability, data| {
                    let mut session = output.session(&capability);
                    for ((key, encoded), time, diff) in data.drain(..) {
                        row::decode_into(&encoded, &mut datums);
                        let Datum::Int(close) = close_at.eval(&datums) else { continue };
                        let when = (close.max(0) as u64).saturating_add(extra).max(time);
                        session.give(((key, vec![mark]), when, diff));
                    }
                });
            }
        })
        .as_collection()
}

/// The reduce's logic, with buffers it reuses from key to key.
struct Rule {
    predicate: Option<ScalarExpr>,
    rank: ScalarExpr,
    descending: bool,
    /// Whether the joined row is the closing row then the competing row (else the other way).
    closing_first: bool,
    /// Whether retired rows are output (with feedback).
    retire: bool,
    datums: Vec<Datum>,
    closing_datums: Vec<Datum>,
    /// The rank and joined row of the pair being weighed, and of the best so far.
    candidate: Vec<u8>,
    best: Vec<u8>,
}

impl Rule {
    /// One key's output from its input values (sorted, so grouped by tag).
    fn decide(&mut self, input: &[(&[u8], i64)], output: &mut Vec<(EncodedRow, i64)>) {
        let present = |(_, count): &&(&[u8], i64)| *count > 0;
        let has = |mark: u8| input.iter().filter(present).any(|(value, _)| value[0] == mark);
        if has(FORGOTTEN) {
            if self.retire {
                output.extend(input.iter().filter(present).map(|(value, count)| (retired(value), *count)));
            }
            return;
        }
        let competing_from = input.partition_point(|(value, _)| value.first() < Some(&COMPETING_ROW));
        let (head, competing) = input.split_at(competing_from);
        let mut winner: Option<usize> = None;
        for (closing, _) in head.iter().filter(present).filter(|(value, _)| value[0] == CLOSING_ROW) {
            let closing = &closing[1..];
            row::decode_into(closing, &mut self.closing_datums);
            for (at, (candidate, _)) in competing.iter().enumerate().filter(|(_, entry)| present(entry)) {
                let candidate = &candidate[1..];
                if self.weigh(closing, candidate) && winner.is_none_or(|_| self.candidate > self.best) {
                    std::mem::swap(&mut self.candidate, &mut self.best);
                    winner = Some(at);
                }
            }
        }
        if winner.is_some() {
            let mut value = Vec::with_capacity(self.best.len() + 1);
            value.push(WINNER);
            value.extend_from_slice(&self.best);
            output.push((value, 1));
        }
        if self.retire && has(CLOSED) {
            for (at, (value, count)) in competing.iter().enumerate() {
                if *count > 0 && Some(at) != winner {
                    output.push((retired(value), *count));
                }
            }
        }
    }

    /// Whether the pair of `closing` and `candidate` (encoded rows, the closing row's datums
    /// in `closing_datums`) meets the condition; if so, its rank and joined row are in
    /// `self.candidate`.
    fn weigh(&mut self, closing: &[u8], candidate: &[u8]) -> bool {
        self.datums.clear();
        if self.closing_first {
            self.datums.extend_from_slice(&self.closing_datums);
            row::decode_onto(candidate, &mut self.datums);
        } else {
            row::decode_onto(candidate, &mut self.datums);
            self.datums.extend_from_slice(&self.closing_datums);
        }
        if self.predicate.as_ref().is_some_and(|predicate| !predicate.is_true(&self.datums)) {
            return false;
        }
        self.candidate.clear();
        row::encode_rank(&self.rank.eval(&self.datums), self.descending, &mut self.candidate);
        let (first, second) = if self.closing_first { (closing, candidate) } else { (candidate, closing) };
        self.candidate.extend_from_slice(first);
        self.candidate.extend_from_slice(second);
        true
    }
}

/// An input value as a retired output value.
fn retired(value: &[u8]) -> EncodedRow {
    let mut out = Vec::with_capacity(value.len() + 1);
    out.push(RETIRED);
    out.extend_from_slice(value);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Offering rows one at a time, in any order, holds exactly the rows no other row
        /// dominates (a strictly better score with a bound as low), each with its whole count.
        #[test]
        fn offering_holds_the_undominated_rows(rows in prop::collection::vec((0u8..6, 0i64..6, 1i64..3), 0..24)) {
            let mut held = Undominated::new();
            for (score, bound, diff) in &rows {
                // The score is the row's bytes too, so one score always comes with one bound.
                offer(&mut held, &[*score, *bound as u8], *bound, vec![*score], *diff);
            }
            let mut expected: Vec<(Vec<u8>, i64)> = Vec::new();
            for (score, bound, _) in &rows {
                let key = vec![*score, *bound as u8];
                let dominated = rows.iter().any(|(other, other_bound, _)| (other, other_bound) != (score, bound)
                    && [*other, *other_bound as u8] > [*score, *bound as u8] && other_bound <= bound);
                if !dominated && !expected.iter().any(|(seen, _)| *seen == key) {
                    let count = rows.iter().filter(|row| (row.0, row.1) == (*score, *bound)).map(|row| row.2).sum();
                    expected.push((key, count));
                }
            }
            let mut got: Vec<(Vec<u8>, i64)> = held.into_iter().map(|(score, _, _, count)| (score, count)).collect();
            got.sort();
            expected.sort();
            prop_assert_eq!(got, expected);
        }
    }
}
