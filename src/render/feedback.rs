//! The feedback loop every retention rule retracts through: a `Variable` whose step is the
//! rule's DELAY, subtracted from the rule's input.
//!
//! In: a rule's input collection, and (once the rule is built over the live rows) what it
//! retracts. Out: the live rows, `input − landed`, where `landed` is what the loop has carried
//! back so far, each retraction `step` after it was fed in.
//!
//! A rule says what to retract in one of two ways:
//! - [`Feedback::keep_only`]: every input row its output does not hold (`LATEST` and `TOP`
//!   over columnar state, whose reduce output is exactly the rows they keep), as
//!   `input − needed`.
//! - [`Feedback::retract`]: a collection the rule computes itself.
//!   - `LATEST` and `TOP` in memory: `input − kept` again, with the rows kept on arrival
//!     cancelled before they go around (`render::not_kept`).
//!   - `WINNER`, `UNMATCHED`: each row the first time the rule's output says it is retired
//!     (their reduce outputs its retired rows beside its results; `WINNER` sets them aside
//!     rather than arranging them). Only the increases of that output go around: a retired row
//!     stays retired until its retraction lands, when it leaves the output, and that decrease
//!     must not be fed back. The reduce's output is consolidated per key and time, so no
//!     increase is half of a pair that cancels.
//!
//! Invariant: the input is append-only and what a rule retracts is computed from the live rows,
//! so retracting a row the rule no longer needs never changes what it needs, and the loop
//! reaches a fixed point once the retractions land.

use differential_dataflow::operators::iterate::Variable;
use differential_dataflow::{ExchangeData, VecCollection};
use timely::dataflow::Scope;

use crate::repr::{EncodedRow, Time};

/// The loop that carries a rule's retractions back to its input, DELAY later (of keyed rows,
/// unless said otherwise).
pub(super) struct Feedback<'scope, D: ExchangeData = (EncodedRow, EncodedRow)> {
    variable: Variable<'scope, Time, Vec<(D, Time, i64)>>,
    /// The rule's input, before any retraction.
    input: VecCollection<'scope, Time, D, i64>,
}

impl<'scope, D: ExchangeData> Feedback<'scope, D> {
    /// From now on, retract every input row that `needed` (computed from the live rows) does
    /// not hold.
    pub(super) fn keep_only(self, needed: VecCollection<'scope, Time, D, i64>) {
        self.variable.set(self.input.concat(needed.negate()));
    }

    /// From now on, retract `retractions`, which the rule computes from the live rows and its
    /// input (see the module doc for what each rule passes).
    pub(super) fn retract(self, retractions: VecCollection<'scope, Time, D, i64>) {
        self.variable.set(retractions);
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
    let live = input.clone().concat(landed.negate());
    (live, Some(Feedback { variable, input }))
}
