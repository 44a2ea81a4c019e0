//! `Unmatched`: `RETAIN UNMATCHED` over a two-input equi-join, as one reduce per join key:
//! pair, then drop both rows.
//!
//! ```text
//!  left ─ key ─ at its TIME ─ tag "left" ───┐
//!  right ─ key ─ at its TIME ─ tag "right" ─┴─ concat ◀─ negate ─ retired (Variable, step DELAY) ◀─┐
//!                                                │                                                │
//!                                    arrange ("unmatched input")                                  │
//!                                                │                                                │
//!                              reduce per key ("unmatched output") ─┬─ pairs, first time ─▶ the view
//!                                                                   └─ matched rows, first time ──┘
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
//! outputs the pairs and the consumed rows (with feedback). The first time a pair comes out it
//! goes to the view; the first time a consumed row comes out it goes around the loop and is
//! retracted from the input DELAY later. What a read sees does not depend on DELAY or on how
//! rows were grouped into statements.
//!
//! Invariants: both inputs are append-only. The rows a match consumes are every row present
//! at its time, so removing them (their retractions land together) leaves every other match
//! of the replay as it was: pairs and consumed rows leave the reduce's output only when their
//! rows' retractions land, which is why only increases are passed on. The reduce's output is
//! consolidated per key and time, so no increase is one half of a pair that cancels. Without
//! feedback the plan is the same, less the loop and the consumed rows.
//!
//! State: the input holds the unmatched rows plus the rows matched within the last DELAY;
//! the output, the pairs of rows matched within DELAY (without feedback, every pair).

use differential_dataflow::AsCollection;
use differential_dataflow::operators::iterate::Variable;
use differential_dataflow::trace::implementations::{ValBuilder, ValSpine};
use timely::dataflow::Scope;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::vec::Filter;

use super::join;
use super::{Context, KeyedRows, Rows};
use crate::plan::{ScalarExpr, UnmatchedPlan};
use crate::repr::{Datum, EncodedRow, Time, row};

/// The first byte of each value of the rule's input: which side the row is from.
const LEFT: u8 = 0;
const RIGHT: u8 = 1;

/// The first byte of each value of the reduce's output: a pair (left row then right row), or
/// a consumed input value.
const PAIR: u8 = 0;
const CONSUMED: u8 = 1;

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
    let (live, consumed_loop) = if plan.feedback {
        let (variable, consumed) = Variable::new(scope, plan.delay.get());
        (tagged.concat(consumed.negate()), Some(variable))
    } else {
        (tagged, None)
    };
    let input = join::arrange(live, "unmatched input".to_string(), ctx);
    let mut rule = Rule {
        predicate: plan.predicate.clone(),
        left_time: plan.left_time,
        right_time: plan.right_time,
        consume: plan.feedback,
        rows: Vec::new(),
        datums: Vec::new(),
    };
    let output = input
        .reduce_abelian::<_, ValBuilder<_, _, _, _>, ValSpine<EncodedRow, EncodedRow, Time, i64>, _, _>(
            "Unmatched",
            move |_key, input, output| rule.replay(input, output),
            join::keyed_changes,
        );
    ctx.state.push(("unmatched output".to_string(), Box::new(output.trace.clone())));

    if let Some(variable) = consumed_loop {
        let consumed = output
            .clone()
            .flat_map_ref(|key: &EncodedRow, value: &EncodedRow| {
                (value[0] == CONSUMED).then(|| (key.clone(), value[1..].to_vec()))
            })
            .inner
            .filter(|(_, _, diff)| *diff > 0)
            .as_collection();
        variable.set(consumed);
    }
    output
        .flat_map_ref(|_key: &EncodedRow, value: &EncodedRow| (value[0] == PAIR).then(|| value[1..].to_vec()))
        .inner
        .filter(|(_, _, diff)| *diff > 0)
        .as_collection()
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

/// A present row of one key, during the replay.
struct Present<'a> {
    /// The input value: side tag, then the row.
    value: &'a [u8],
    time: Time,
    count: i64,
    consumed: bool,
}

/// The reduce's logic, with buffers it reuses from key to key.
struct Rule {
    predicate: Option<ScalarExpr>,
    left_time: usize,
    right_time: usize,
    /// Whether consumed rows are output (with feedback).
    consume: bool,
    /// Indexes into the key's present rows, in TIME order.
    rows: Vec<(Time, usize)>,
    datums: Vec<Datum>,
}

impl Rule {
    /// One key's pairs and consumed rows, from its input values (all arrived by now).
    fn replay(&mut self, input: &[(&EncodedRow, i64)], output: &mut Vec<(EncodedRow, i64)>) {
        let mut present: Vec<Present<'_>> = input
            .iter()
            .filter(|(_, count)| *count > 0)
            .map(|(value, count)| {
                let at = if value[0] == LEFT { self.left_time } else { self.right_time };
                Present {
                    value: value.as_slice(),
                    time: row_time(&value[1..], at),
                    count: *count,
                    consumed: false,
                }
            })
            .collect();
        self.rows.clear();
        self.rows.extend(present.iter().enumerate().map(|(at, row)| (row.time, at)));
        self.rows.sort_unstable();
        // Rows of one time arrive together; after each time, the present rows of both sides
        // pair up (those that meet the condition) and are consumed.
        let mut arrived = 0;
        while arrived < self.rows.len() {
            let time = self.rows[arrived].0;
            while arrived < self.rows.len() && self.rows[arrived].0 == time {
                arrived += 1;
            }
            let waiting = &self.rows[..arrived];
            let sides = |side: u8| {
                waiting
                    .iter()
                    .map(|(_, at)| *at)
                    .filter(|at| !present[*at].consumed && present[*at].value[0] == side)
                    .collect::<Vec<_>>()
            };
            let (lefts, rights) = (sides(LEFT), sides(RIGHT));
            if lefts.is_empty() || rights.is_empty() {
                continue;
            }
            let mut matched = Vec::new();
            for &l in &lefts {
                for &r in &rights {
                    let (left, right) = (&present[l], &present[r]);
                    if self.meets(&left.value[1..], &right.value[1..]) {
                        let mut pair = Vec::with_capacity(left.value.len() + right.value.len() - 1);
                        pair.push(PAIR);
                        pair.extend_from_slice(&left.value[1..]);
                        pair.extend_from_slice(&right.value[1..]);
                        output.push((pair, left.count * right.count));
                        matched.extend([l, r]);
                    }
                }
            }
            for at in matched {
                present[at].consumed = true;
            }
        }
        if self.consume {
            for row in present.iter().filter(|row| row.consumed) {
                let mut value = Vec::with_capacity(row.value.len() + 1);
                value.push(CONSUMED);
                value.extend_from_slice(row.value);
                output.push((value, row.count));
            }
        }
    }

    /// Whether the pair of `left` and `right` (encoded rows) meets the condition.
    fn meets(&mut self, left: &[u8], right: &[u8]) -> bool {
        let Some(predicate) = &self.predicate else { return true };
        self.datums.clear();
        for mut bytes in [left, right] {
            while !bytes.is_empty() {
                let (datum, used) = row::decode_datum(bytes);
                self.datums.push(datum);
                bytes = &bytes[used..];
            }
        }
        predicate.is_true(&self.datums)
    }
}
