//! `Unmatched`: `RETAIN UNMATCHED` over a two-input equi-join, as one reduce per join key:
//! pair, then drop both rows.
//!
//! ```text
//! left ─ key ─ at its TIME ─ tag "left" ───┐
//! right ─ key ─ at its TIME ─ tag "right" ─┴─ concat ◀─ negate ─ consumed (Variable, step DELAY) ◀─┐
//!                                              │                                                   │
//!                                  arrange ("unmatched input")                                     │
//!                                              │                                                   │
//!                       reduce per key ("unmatched output"): matches ─┬─ their rows, first time ───┘
//!                                                                     └─ their pairs, first time ─▶ the view
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
//! Each row enters the reduce at its TIME (or when it arrives, if later), so the reduce's
//! input at time `m` is the rows that have arrived by `m`: it replays them in TIME order and
//! outputs each match as one value ([`Match`]): the rows it consumed and its pairs. The first
//! time a match comes out, its pairs go to the view and (with feedback) its rows around the
//! loop, to be retracted from the input DELAY later. What a read sees does not depend on DELAY or on how
//! rows were grouped into statements.
//!
//! Invariants: both inputs are append-only. The rows a match consumes are every row present
//! at its time, so removing them (their retractions land together) leaves every other match
//! of the replay as it was: a match leaves the reduce's output only when its rows'
//! retractions land, which is why only increases are passed on. The reduce's output is
//! consolidated per key and time, so no increase is one half of a pair that cancels. Without
//! feedback the plan is the same, less the loop and the consumed rows.
//!
//! A key whose input only lost rows (the loop's retractions, a key with nothing new) is not
//! replayed from its history: the rows lost at a time are the rows of the matches made DELAY
//! earlier, and replaying those rows alone makes those matches again, which leave the output
//! ([`Rule::matches_retracted`]).
//!
//! State: the input holds the unmatched rows plus the rows matched within the last DELAY;
//! the output, the matches made within DELAY (without feedback, every match).

use differential_dataflow::AsCollection;
use timely::dataflow::Scope;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;

use super::feedback::fed_back;
use super::in_order::PriorOutput;
use super::join;
use super::{Context, KeyedRows, Rows};
use crate::plan::arrangements::ArrangementName;
use crate::plan::{ScalarExpr, UnmatchedPlan};
use crate::repr::{Datum, EncodedRow, Time, row};

/// The first byte of each value of the rule's input: which side the row is from.
const LEFT: u8 = 0;
const RIGHT: u8 = 1;

pub(super) fn render<'scope>(
    scope: Scope<'scope, Time>,
    left: Rows<'scope>,
    right: Rows<'scope>,
    plan: &UnmatchedPlan,
    ctx: &mut Context<'scope>,
) -> Rows<'scope> {
    let join = &plan.join;
    let tagged = at_time(join::key_rows(left, &join.left_key), plan.left_time, LEFT).concat(at_time(
        join::key_rows(right, &join.right_key),
        plan.right_time,
        RIGHT,
    ));
    let (live, feedback) = fed_back(scope, tagged, plan.feedback, plan.delay.get());
    let input = join::arrange_bytes(live, ArrangementName::UnmatchedInput, ctx);
    let mut rule = Rule::new(plan);
    let mut retracted = Rule::new(plan);
    let output = join::reduce_bytes(
        input,
        "Unmatched",
        ArrangementName::UnmatchedOutput,
        // A changed key's rows are summed and replayed anyway: one more replay costs less
        // than seeking its matches in the output's batches and copying them out.
        PriorOutput::Recompute,
        move |input, output| rule.replay(input, output),
        move |decreases, output| retracted.matches_retracted(decreases, output),
        ctx,
    );

    if let Some(feedback) = feedback {
        let consumed = join::increases(output.clone(), "UnmatchedConsumed", |key, value, rows| {
            rows.extend(
                Match::read(value).0.into_iter().map(|(count, row)| ((key.to_vec(), row.to_vec()), count)),
            );
        });
        feedback.retract(consumed);
    }
    join::increases(output, "UnmatchedPairs", |_key, value, pairs| {
        let (rows, matched) = Match::read(value);
        pairs.extend(matched.map(|(l, r)| {
            let ((left_count, left), (right_count, right)) = (rows[l], rows[r]);
            let mut pair = Vec::with_capacity(left.len() + right.len() - 2);
            pair.extend_from_slice(&left[1..]);
            pair.extend_from_slice(&right[1..]);
            (pair, left_count * right_count)
        }));
    })
}

/// Keyed rows tagged `side`, each at the time its TIME column (datum `time`) says, or when it
/// arrives if later. Only the updates' times move: each stays in the message it came in, whose
/// capability is no later than any of them.
fn at_time(keyed: KeyedRows<'_>, time: usize, side: u8) -> KeyedRows<'_> {
    keyed
        .inner
        .unary(Pipeline, "AtTime", move |_, _| {
            move |input, output| {
                input.for_each(|capability, data| {
                    let mut session = output.session(&capability);
                    for ((key, encoded), arrived, diff) in data.drain(..) {
                        let when = row_time(&encoded, time).max(arrived);
                        let mut value = Vec::with_capacity(encoded.len() + 1);
                        value.push(side);
                        value.extend_from_slice(&encoded);
                        session.give(((key, value), when, diff));
                    }
                });
            }
        })
        .as_collection()
}

/// The time in datum `at` of the encoded row (0 unless a non-negative BIGINT).
fn row_time(encoded: &[u8], at: usize) -> Time {
    let start = row::prefix_len(encoded, at);
    match row::decode_datum(&encoded[start..]).0 {
        Datum::Int(t) => t.max(0) as Time,
        _ => 0,
    }
}

/// The reduce's logic, with buffers it reuses from key to key.
struct Rule {
    predicate: Option<ScalarExpr>,
    left_time: usize,
    right_time: usize,
    /// The key's rows present in the input, as (TIME, index into the input), in TIME order.
    arrived: Vec<(Time, usize)>,
    /// Per input value, whether the replay has consumed it.
    consumed: Vec<bool>,
    /// The rows of each side present at the time being replayed.
    lefts: Vec<usize>,
    rights: Vec<usize>,
    /// The pairs of the time being replayed, as indexes into the input.
    pairs: Vec<(usize, usize)>,
    datums: Vec<Datum>,
    /// The matches [`Rule::matches_retracted`] replays.
    matches: Vec<(EncodedRow, i64)>,
}

impl Rule {
    fn new(plan: &UnmatchedPlan) -> Self {
        Rule {
            predicate: plan.predicate.clone(),
            left_time: plan.left_time,
            right_time: plan.right_time,
            arrived: Vec::new(),
            consumed: Vec::new(),
            lefts: Vec::new(),
            rights: Vec::new(),
            pairs: Vec::new(),
            datums: Vec::new(),
            matches: Vec::new(),
        }
    }

    /// What a key's output loses when its input only lost rows (`changes`, in time order), if
    /// those rows are the rows of whole matches: those matches, each as its rows leave.
    ///
    /// Only the loop retracts rows, and all rows of a match land together, so the rows lost at
    /// a time are those of the matches made DELAY earlier. Replaying them alone makes those
    /// matches again: a replay's present rows at each time are then a subset of the full
    /// replay's, holding every row of the match made then, and pairs depend only on the two
    /// rows. A lost row that this replay leaves unconsumed would break that: then nothing is
    /// pushed and the key is evaluated in full.
    fn matches_retracted(
        &mut self,
        changes: &[(Time, &[u8], i64)],
        output: &mut Vec<(EncodedRow, Time, i64)>,
    ) -> bool {
        let pushed = output.len();
        for at_time in changes.chunk_by(|a, b| a.0 == b.0) {
            // A value lost in two batches at one time comes twice.
            let mut rows: Vec<(&[u8], i64)> =
                at_time.iter().map(|(_, value, diff)| (*value, -diff)).collect();
            differential_dataflow::consolidation::consolidate(&mut rows);
            let mut matches = std::mem::take(&mut self.matches);
            matches.clear();
            self.replay(&rows, &mut matches);
            let whole = self.consumed.iter().all(|consumed| *consumed);
            output.extend(matches.drain(..).map(|(made, count)| (made, at_time[0].0, -count)));
            self.matches = matches;
            if !whole {
                output.truncate(pushed);
                return false;
            }
        }
        true
    }

    /// One key's matches, one output value each, from its input values (all arrived by now).
    fn replay(&mut self, input: &[(&[u8], i64)], output: &mut Vec<(EncodedRow, i64)>) {
        self.arrived.clear();
        for (at, (value, count)) in input.iter().enumerate() {
            if *count > 0 {
                let column = if value[0] == LEFT { self.left_time } else { self.right_time };
                self.arrived.push((row_time(&value[1..], column), at));
            }
        }
        self.arrived.sort_unstable();
        self.consumed.clear();
        self.consumed.resize(input.len(), false);
        self.lefts.clear();
        self.rights.clear();
        // Rows of one time arrive together; then the present rows of both sides pair up
        // (those that meet the condition) and are consumed.
        let mut next = 0;
        while next < self.arrived.len() {
            let time = self.arrived[next].0;
            while let Some(&(_, at)) = self.arrived.get(next).filter(|(t, _)| *t == time) {
                if input[at].0[0] == LEFT { &mut self.lefts } else { &mut self.rights }.push(at);
                next += 1;
            }
            if self.lefts.is_empty() || self.rights.is_empty() {
                continue;
            }
            let (lefts, rights) = (std::mem::take(&mut self.lefts), std::mem::take(&mut self.rights));
            self.pairs.clear();
            for &l in &lefts {
                for &r in &rights {
                    if self.meets(&input[l].0[1..], &input[r].0[1..]) {
                        self.pairs.push((l, r));
                        self.consumed[l] = true;
                        self.consumed[r] = true;
                    }
                }
            }
            if !self.pairs.is_empty() {
                output.push((Match::write(input, &self.pairs), 1));
            }
            let consumed = &self.consumed;
            (self.lefts, self.rights) = (lefts, rights);
            self.lefts.retain(|at| !consumed[*at]);
            self.rights.retain(|at| !consumed[*at]);
        }
    }

    /// Whether the pair of `left` and `right` (encoded rows) meets the condition.
    fn meets(&mut self, left: &[u8], right: &[u8]) -> bool {
        let Some(predicate) = &self.predicate else { return true };
        self.datums.clear();
        for bytes in [left, right] {
            row::decode_onto(bytes, &mut self.datums);
        }
        predicate.is_true(&self.datums)
    }
}

/// One match, as the reduce outputs it: the rows it consumed (input values, with their counts)
/// and its pairs, in one value. Laid out as the number of rows (`u32`), then per row its count
/// (`i64`), length (`u32`) and bytes, then per pair the indexes of its two rows (`u32` each),
/// all little-endian. A row that pairs twice is consumed once: its count is its own, and each
/// pair's count is the product of its rows'.
struct Match;

/// A match's rows: each input value with its count.
type MatchRows<'a> = Vec<(i64, &'a [u8])>;

impl Match {
    fn write(input: &[(&[u8], i64)], pairs: &[(usize, usize)]) -> EncodedRow {
        let mut rows: Vec<usize> = pairs.iter().flat_map(|(l, r)| [*l, *r]).collect();
        rows.sort_unstable();
        rows.dedup();
        let at = |row: usize| rows.binary_search(&row).unwrap_or_default() as u32;
        let bytes: usize = rows.iter().map(|row| 12 + input[*row].0.len()).sum();
        let mut out = Vec::with_capacity(4 + bytes + 8 * pairs.len());
        out.extend_from_slice(&(rows.len() as u32).to_le_bytes());
        for row in &rows {
            let (value, count) = input[*row];
            out.extend_from_slice(&count.to_le_bytes());
            out.extend_from_slice(&(value.len() as u32).to_le_bytes());
            out.extend_from_slice(value);
        }
        for (l, r) in pairs {
            out.extend_from_slice(&at(*l).to_le_bytes());
            out.extend_from_slice(&at(*r).to_le_bytes());
        }
        out
    }

    /// The rows (count, input value) and the pairs (indexes into the rows) of a match.
    fn read(bytes: &[u8]) -> (MatchRows<'_>, impl Iterator<Item = (usize, usize)> + '_) {
        let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) as usize;
        let mut at = 4;
        let rows = (0..u32_at(0))
            .map(|_| {
                let count = i64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
                let len = u32_at(at + 8);
                let row = &bytes[at + 12..at + 12 + len];
                at += 12 + len;
                (count, row)
            })
            .collect();
        let pairs = bytes[at..].chunks_exact(8).map(|pair| {
            let index = |half: &[u8]| u32::from_le_bytes(half.try_into().expect("4 bytes")) as usize;
            (index(&pair[..4]), index(&pair[4..]))
        });
        (rows, pairs)
    }
}
