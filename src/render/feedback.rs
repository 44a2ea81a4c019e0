//! The feedback loop every retention rule retracts through: a `Variable` whose step is the
//! rule's DELAY, subtracted from the rule's input.
//!
//! In: a rule's input collection, and (once the rule is built over the live rows) what it
//! still needs. Out: the live rows, `input − landed`, where `landed` is what the loop has
//! carried back so far, each retraction `step` after it was fed in.
//!
//! A rule retracts `input − needed`. It can say so directly ([`Feedback::keep_only`]: `LATEST`
//! and `TOP`, whose reduce output is what they need), or, for a rule that computes what it no
//! longer needs from the live rows (`WINNER`, `UNMATCHED`), as `landed + unneeded`
//! ([`Feedback::retract_unneeded`]): since `input − live` is `landed`, that is the same
//! collection with two fewer updates per row than spelling it out (the input and the live
//! rows each carry every row). A row that lands leaves `unneeded` at the time it joins
//! `landed`; the two updates cancel, but unconsolidated such pairs would circulate forever,
//! so what enters the loop that way is consolidated per time first (`settle.rs`).
//!
//! Invariant: the input is append-only and `needed` is computed from the live rows, so
//! retracting a row the rule does not need never changes what it needs, and the loop reaches
//! a fixed point once the retractions land.

use differential_dataflow::operators::iterate::Variable;
use differential_dataflow::{ExchangeData, VecCollection};
use timely::dataflow::Scope;

use super::KeyedRows;
use super::settle::settle;
use crate::repr::{EncodedRow, Time};

/// The loop that carries a rule's retractions back to its input, DELAY later (of keyed rows,
/// unless said otherwise).
pub(super) struct Feedback<'scope, D: ExchangeData = (EncodedRow, EncodedRow)> {
    variable: Variable<'scope, Time, Vec<(D, Time, i64)>>,
    /// The rule's input, before any retraction.
    input: VecCollection<'scope, Time, D, i64>,
    /// The retractions as they land (DELAY after they were fed in): the input minus the live
    /// rows.
    landed: VecCollection<'scope, Time, D, i64>,
}

impl<'scope, D: ExchangeData> Feedback<'scope, D> {
    /// From now on, retract every input row that `needed` (computed from the live rows) does
    /// not hold.
    pub(super) fn keep_only(self, needed: VecCollection<'scope, Time, D, i64>) {
        self.variable.set(self.input.concat(needed.negate()));
    }
}

impl<'scope> Feedback<'scope, (EncodedRow, EncodedRow)> {
    /// From now on, retract every live row that `unneeded` holds. `unneeded` is a subset of
    /// the live rows, computed from them, so what enters the loop is settled first.
    pub(super) fn retract_unneeded(self, unneeded: KeyedRows<'scope>) {
        self.variable.set(settle(self.landed.concat(unneeded)));
    }
}

/// `input` minus the retractions fed back `step` later, and the loop that carries them;
/// without feedback, `input` as it is.
pub(super) fn fed_back<'scope, D: ExchangeData>(
    scope: Scope<'scope, Time>,
    input: VecCollection<'scope, Time, D, i64>,
    feedback: bool,
    step: u64,
) -> (VecCollection<'scope, Time, D, i64>, Option<Feedback<'scope, D>>) {
    if !feedback {
        return (input, None);
    }
    let (variable, landed) = Variable::new(scope, step);
    let live = input.clone().concat(landed.clone().negate());
    (live, Some(Feedback { variable, input, landed }))
}
