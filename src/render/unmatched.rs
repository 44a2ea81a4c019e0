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
    let input = join::arrange_bytes(live, "unmatched input".to_string(), ctx);
    let mut rule = Rule {
        predicate: plan.predicate.clone(),
        left_time: plan.left_time,
        right_time: plan.right_time,
        consume: plan.feedback,
        arrived: Vec::new(),
        consumed: Vec::new(),
        lefts: Vec::new(),
        rights: Vec::new(),
        datums: Vec::new(),
    };
    let output = input.reduce_abelian::<_, join::BytesBuilder, join::BytesSpine, _, _>(
        "Unmatched",
        move |_key, input, output| rule.replay(input, output),
        join::keyed_byte_changes,
    );
    ctx.state.push(("unmatched output".to_string(), Box::new(output.trace.clone())));

    if let Some(variable) = consumed_loop {
        let consumed = output
            .clone()
            .flat_map_ref(|key: &[u8], value: &[u8]| {
                (value[0] == CONSUMED).then(|| (key.to_vec(), value[1..].to_vec()))
            })
            .inner
            .filter(|(_, _, diff)| *diff > 0)
            .as_collection();
        variable.set(consumed);
    }
    output
        .flat_map_ref(|_key: &[u8], value: &[u8]| (value[0] == PAIR).then(|| value[1..].to_vec()))
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

/// The reduce's logic, with buffers it reuses from key to key.
struct Rule {
    predicate: Option<ScalarExpr>,
    left_time: usize,
    right_time: usize,
    /// Whether consumed rows are output (with feedback).
    consume: bool,
    /// The key's rows present in the input, as (TIME, index into the input), in TIME order.
    arrived: Vec<(Time, usize)>,
    /// Per input value, whether the replay has consumed it.
    consumed: Vec<bool>,
    /// The rows of each side present at the time being replayed.
    lefts: Vec<usize>,
    rights: Vec<usize>,
    datums: Vec<Datum>,
}

impl Rule {
    /// One key's pairs and consumed rows, from its input values (all arrived by now).
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
            for &l in &lefts {
                for &r in &rights {
                    let ((left, left_count), (right, right_count)) = (input[l], input[r]);
                    if self.meets(&left[1..], &right[1..]) {
                        let mut pair = Vec::with_capacity(left.len() + right.len() - 1);
                        pair.push(PAIR);
                        pair.extend_from_slice(&left[1..]);
                        pair.extend_from_slice(&right[1..]);
                        output.push((pair, left_count * right_count));
                        self.consumed[l] = true;
                        self.consumed[r] = true;
                    }
                }
            }
            let consumed = &self.consumed;
            (self.lefts, self.rights) = (lefts, rights);
            self.lefts.retain(|at| !consumed[*at]);
            self.rights.retain(|at| !consumed[*at]);
        }
        if self.consume {
            for (at, (value, count)) in input.iter().enumerate() {
                if self.consumed[at] {
                    let mut retired = Vec::with_capacity(value.len() + 1);
                    retired.push(CONSUMED);
                    retired.extend_from_slice(value);
                    output.push((retired, *count));
                }
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
