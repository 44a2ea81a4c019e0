//! Aggregate accumulators, shared by reads (`crate::peek`) and views (`crate::render`).
//!
//! An [`Accumulator`] folds the values of one aggregate; [`GroupState`] folds a whole group
//! and is a differential semigroup, so an arrangement keyed by group can hold one folded
//! record per group. Counts and sums also subtract (a negative multiplicity), but min/max
//! only ever improve: a [`GroupState`] is exact for append-only inputs, and for counts and
//! sums of any input.
//!
//! Min/max values are kept as their order-preserving row encoding, so comparing bytes
//! compares values.
//!
//! Sums do not depend on the order rows are folded in (so not on the number of workers, nor
//! on how batches merge): BIGINT values add up in an `i128`, and DOUBLE values in an
//! [`ExactSum`], exactly, rounded to a DOUBLE only when the value is read. Floating-point
//! addition is not associative, so a plain `f64` running sum would differ in its last digits
//! with the order of the partial sums.

use std::cmp::Ordering;

use differential_dataflow::difference::{IsZero, Multiply, Semigroup};
use num_bigint::{BigInt, Sign};
use num_traits::{ToPrimitive, Zero};
use serde::{Deserialize, Serialize};

use super::{AggregateExpr, AggregateFunc};
use crate::repr::{Datum, EncodedRow, row};

/// The running value of one aggregate.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Accumulator {
    /// Non-NULL values (rows, for `count(*)`).
    count: i64,
    /// Sum of the BIGINT values (wide, so that no order of folding overflows first).
    int_sum: i128,
    /// Whether `int_sum` overflowed even so (the sum is then NULL).
    overflowed: bool,
    /// Sum of the DOUBLE values, exact.
    float_sum: ExactSum,
    /// Whether any value was a DOUBLE (the sum is then a DOUBLE). An aggregate's argument
    /// has one type, so then every value was.
    any_double: bool,
    /// The best value for min/max, encoded.
    best: Option<EncodedRow>,
}

impl Accumulator {
    /// Fold in `row`, `times` times.
    pub fn add(&mut self, agg: &AggregateExpr, row: &[Datum], times: i64) {
        let value = match &agg.arg {
            None => {
                self.count += times;
                return;
            }
            Some(arg) => arg.eval(row),
        };
        if value.is_null() {
            return;
        }
        self.count += times;
        match &value {
            Datum::Int(i) => match self.int_sum.checked_add(i128::from(*i) * i128::from(times)) {
                Some(sum) => self.int_sum = sum,
                None => self.overflowed = true,
            },
            Datum::Double(d) => {
                self.any_double = true;
                self.float_sum.add(*d, times);
            }
            _ => {}
        }
        if matches!(agg.func, AggregateFunc::Min | AggregateFunc::Max) {
            let mut encoded = Vec::new();
            row::encode_datum(&value, &mut encoded);
            self.offer_best(agg.func, encoded);
        }
    }

    fn offer_best(&mut self, func: AggregateFunc, candidate: EncodedRow) {
        let better = match &self.best {
            None => true,
            Some(best) => match func {
                AggregateFunc::Min => candidate < *best,
                _ => candidate > *best,
            },
        };
        if better {
            self.best = Some(candidate);
        }
    }

    /// Fold in another accumulator of the same aggregate.
    pub fn merge(&mut self, func: AggregateFunc, other: &Accumulator) {
        self.count += other.count;
        match self.int_sum.checked_add(other.int_sum) {
            Some(sum) => self.int_sum = sum,
            None => self.overflowed = true,
        }
        self.overflowed |= other.overflowed;
        self.float_sum.merge(&other.float_sum);
        self.any_double |= other.any_double;
        if let Some(best) = &other.best {
            self.offer_best(func, best.clone());
        }
    }

    /// The aggregate's value.
    pub fn finish(&self, agg: &AggregateExpr) -> Datum {
        match agg.func {
            AggregateFunc::Count => Datum::Int(self.count),
            _ if self.count == 0 => Datum::Null,
            AggregateFunc::Sum if self.any_double => Datum::Double(self.float_sum.value()),
            AggregateFunc::Sum if self.overflowed => Datum::Null,
            AggregateFunc::Sum => i64::try_from(self.int_sum).map_or(Datum::Null, Datum::Int),
            AggregateFunc::Avg if self.any_double => {
                Datum::Double(self.float_sum.value() / self.count as f64)
            }
            AggregateFunc::Avg if self.overflowed => Datum::Null,
            // `as` rounds an i128 to the nearest double.
            AggregateFunc::Avg => Datum::Double(self.int_sum as f64 / self.count as f64),
            AggregateFunc::Min | AggregateFunc::Max => {
                self.best.as_deref().map_or(Datum::Null, |bytes| row::decode(bytes).swap_remove(0))
            }
        }
    }

    fn sort_key(&self) -> (i64, i128, bool, &ExactSum, bool, Option<&[u8]>) {
        (self.count, self.int_sum, self.overflowed, &self.float_sum, self.any_double, self.best.as_deref())
    }
}

/// A whole group folded: its row count and one accumulator per aggregate. The functions are
/// not stored; they are the view's, in order.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GroupState {
    /// Rows in the group (the group exists while this is positive).
    pub rows: i64,
    /// What each accumulator's aggregate function is (min/max merge by it).
    funcs: Vec<AggregateFunc>,
    /// One per aggregate.
    accumulators: Vec<Accumulator>,
}

impl GroupState {
    /// The state of a group holding just `row`, `times` times.
    pub fn of(aggregates: &[AggregateExpr], row: &[Datum], times: i64) -> GroupState {
        let accumulators = aggregates
            .iter()
            .map(|agg| {
                let mut acc = Accumulator::default();
                acc.add(agg, row, times);
                acc
            })
            .collect();
        GroupState { rows: times, funcs: aggregates.iter().map(|a| a.func).collect(), accumulators }
    }

    /// The aggregates' values, in order.
    pub fn finish(&self, aggregates: &[AggregateExpr]) -> impl Iterator<Item = Datum> {
        self.accumulators.iter().zip(aggregates).map(|(acc, agg)| acc.finish(agg))
    }
}

impl PartialEq for GroupState {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for GroupState {}

impl PartialOrd for GroupState {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for GroupState {
    fn cmp(&self, other: &Self) -> Ordering {
        self.rows.cmp(&other.rows).then_with(|| {
            self.accumulators
                .iter()
                .map(Accumulator::sort_key)
                .cmp(other.accumulators.iter().map(Accumulator::sort_key))
        })
    }
}

impl IsZero for GroupState {
    fn is_zero(&self) -> bool {
        // Min/max cannot be taken back, so a group that once had a value is never zero again
        // in them; only an empty group with nothing folded is.
        self.rows == 0 && self.accumulators.iter().all(|a| a.count == 0 && a.best.is_none())
    }
}

impl Semigroup for GroupState {
    fn plus_equals(&mut self, rhs: &Self) {
        self.rows += rhs.rows;
        for ((acc, other), func) in self.accumulators.iter_mut().zip(&rhs.accumulators).zip(&self.funcs) {
            acc.merge(*func, other);
        }
    }
}

impl Multiply<i64> for GroupState {
    type Output = GroupState;
    fn multiply(mut self, times: &i64) -> GroupState {
        self.rows *= times;
        for acc in &mut self.accumulators {
            acc.count *= times;
            match acc.int_sum.checked_mul(i128::from(*times)) {
                Some(product) => acc.int_sum = product,
                None => acc.overflowed = true,
            }
            acc.float_sum.scale(*times);
        }
        self
    }
}

/// An exact sum of doubles, as a group: values add, scale by a multiplicity and cancel
/// exactly, so the sum of a set of values is the same record whatever the order it was made
/// in, and [`ExactSum::value`] is that sum correctly rounded (to nearest, ties to even).
///
/// Finite values add up in `mantissa × 2^exponent`, kept canonical (an odd mantissa, or zero
/// with exponent 0) so that equal sums are equal records; infinities and NaNs are counted, as
/// a float sum would give infinity or NaN whatever else it held.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ExactSum {
    mantissa: BigInt,
    exponent: i64,
    positive_infinities: i64,
    negative_infinities: i64,
    nans: i64,
}

impl ExactSum {
    /// Add `value`, `times` times.
    pub fn add(&mut self, value: f64, times: i64) {
        if value.is_nan() {
            self.nans += times;
        } else if value == f64::INFINITY {
            self.positive_infinities += times;
        } else if value == f64::NEG_INFINITY {
            self.negative_infinities += times;
        } else {
            let bits = value.to_bits();
            let biased = ((bits >> 52) & 0x7ff) as i64;
            let fraction = bits & ((1 << 52) - 1);
            // A subnormal has no implicit leading bit and the exponent of the smallest normal.
            let (mantissa, exponent) =
                if biased == 0 { (fraction, -1074) } else { (fraction | (1 << 52), biased - 1075) };
            let mut mantissa = BigInt::from(mantissa) * times;
            if value.is_sign_negative() {
                mantissa = -mantissa;
            }
            self.add_scaled(mantissa, exponent);
        }
    }

    /// Add another sum.
    pub fn merge(&mut self, other: &ExactSum) {
        self.nans += other.nans;
        self.positive_infinities += other.positive_infinities;
        self.negative_infinities += other.negative_infinities;
        self.add_scaled(other.mantissa.clone(), other.exponent);
    }

    /// Multiply by `times`.
    pub fn scale(&mut self, times: i64) {
        self.nans *= times;
        self.positive_infinities *= times;
        self.negative_infinities *= times;
        let mantissa = std::mem::take(&mut self.mantissa) * times;
        let exponent = std::mem::take(&mut self.exponent);
        self.add_scaled(mantissa, exponent);
    }

    /// Add `mantissa × 2^exponent`, and make the result canonical.
    fn add_scaled(&mut self, mantissa: BigInt, exponent: i64) {
        if mantissa.is_zero() {
            return;
        }
        if self.mantissa.is_zero() {
            self.mantissa = mantissa;
            self.exponent = exponent;
        } else if exponent >= self.exponent {
            self.mantissa += mantissa << (exponent - self.exponent) as u64;
        } else {
            self.mantissa =
                (std::mem::take(&mut self.mantissa) << (self.exponent - exponent) as u64) + mantissa;
            self.exponent = exponent;
        }
        match self.mantissa.trailing_zeros() {
            None => self.exponent = 0,
            Some(zeros) => {
                self.mantissa >>= zeros;
                self.exponent += zeros as i64;
            }
        }
    }

    /// The sum, rounded to the nearest double (ties to even); infinite past the largest
    /// double, NaN if a NaN or infinities of both signs were added.
    pub fn value(&self) -> f64 {
        if self.nans > 0 || (self.positive_infinities > 0 && self.negative_infinities > 0) {
            return f64::NAN;
        }
        if self.positive_infinities > 0 {
            return f64::INFINITY;
        }
        if self.negative_infinities > 0 {
            return f64::NEG_INFINITY;
        }
        let negative = self.mantissa.sign() == Sign::Minus;
        let magnitude = self.mantissa.magnitude();
        let Some(bits) = magnitude.bits().checked_sub(1) else { return 0.0 };
        // The weights of the leading bit and of the last bit a double can keep: 53 bits, but
        // none below 2^-1074 (the subnormals).
        let top = self.exponent + bits as i64;
        let magnitude_value = if top > 1023 {
            f64::INFINITY
        } else {
            let last = (top - 52).max(-1074);
            let dropped = last - self.exponent;
            let (kept, exponent) = if dropped <= 0 {
                (magnitude.to_u64().unwrap_or(0), self.exponent)
            } else {
                let dropped = dropped as u64;
                let kept = magnitude >> dropped;
                let remainder = magnitude - (&kept << dropped);
                let half = num_bigint::BigUint::from(1u8) << (dropped - 1);
                let kept = kept.to_u64().unwrap_or(0);
                let round_up = remainder > half || (remainder == half && kept % 2 == 1);
                (kept + u64::from(round_up), last)
            };
            // `kept` has at most 54 bits (53, or 2^53 after rounding up), so it converts
            // exactly, and `kept × 2^exponent` is a double (or beyond the largest: infinity).
            times_power_of_two(kept as f64, exponent)
        };
        if negative { -magnitude_value } else { magnitude_value }
    }

    /// Whether the sum is empty (zero, and no infinity or NaN).
    pub fn is_zero(&self) -> bool {
        self.mantissa.is_zero()
            && self.nans == 0
            && self.positive_infinities == 0
            && self.negative_infinities == 0
    }
}

/// `x × 2^exponent`, exact when the result is a double: in steps that stay within the normal
/// range, each exact (the result has `x`'s bits and no fewer fraction bits than a double).
fn times_power_of_two(mut x: f64, mut exponent: i64) -> f64 {
    while exponent != 0 {
        let step = exponent.clamp(-1000, 1000);
        x *= f64::from_bits(((step + 1023) as u64) << 52);
        exponent -= step;
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact(values: &[f64]) -> ExactSum {
        let mut sum = ExactSum::default();
        for v in values {
            sum.add(*v, 1);
        }
        sum
    }

    #[test]
    fn exact_sums_round_once() {
        assert_eq!(exact(&[0.1; 10]).value(), 1.0);
        assert_eq!(exact(&[0.1, 0.2, 0.3]).value(), 0.6);
        assert_eq!(exact(&[1e16, 1.0, -1e16]).value(), 1.0);
        assert_eq!(exact(&[1e308, 1e308, -1e308]).value(), 1e308);
        assert_eq!(exact(&[1e308, 1e308]).value(), f64::INFINITY);
        assert_eq!(exact(&[-1e308, -1e308]).value(), f64::NEG_INFINITY);
        assert_eq!(exact(&[5e-324, 5e-324]).value(), 1e-323);
        assert_eq!(exact(&[f64::MIN_POSITIVE, -5e-324]).value(), f64::MIN_POSITIVE - 5e-324);
        assert_eq!(exact(&[-2.5, 0.5]).value(), -2.0);
        assert_eq!(exact(&[]).value(), 0.0);
        // Ties go to even: 2^53 + 1 lies halfway between 2^53 and 2^53 + 2.
        let two_53 = 9007199254740992.0;
        assert_eq!(exact(&[two_53, 1.0]).value(), two_53);
        assert_eq!(exact(&[two_53, 3.0]).value(), two_53 + 4.0);
        assert_eq!(exact(&[two_53, 1.0, 1e-300]).value(), two_53 + 2.0);
        assert!(exact(&[f64::INFINITY, f64::NEG_INFINITY]).value().is_nan());
        assert!(exact(&[1.0, f64::NAN]).value().is_nan());
        assert_eq!(exact(&[f64::INFINITY, 1.0]).value(), f64::INFINITY);
    }

    #[test]
    fn exact_sums_do_not_depend_on_order() {
        let values = [0.1, 1e16, 3.3, -1e16, 0.2, 1.0, 0.3, -7.7e-3, 1e-300, 123456.789, -0.1];
        let forward = exact(&values);
        let mut reversed = values;
        reversed.reverse();
        assert_eq!(exact(&reversed), forward);
        // In two halves merged, as two workers would.
        let (left, right) = values.split_at(4);
        let mut merged = exact(right);
        merged.merge(&exact(left));
        assert_eq!(merged, forward);
        assert_eq!(merged.value().to_bits(), forward.value().to_bits());
    }

    #[test]
    fn exact_sums_are_a_group() {
        let mut sum = exact(&[0.1, 2.5e-5, f64::INFINITY]);
        let mut negated = sum.clone();
        negated.scale(-1);
        sum.merge(&negated);
        assert!(sum.is_zero());
        assert_eq!(sum, ExactSum::default());
        let mut tripled = exact(&[0.1]);
        tripled.scale(3);
        let mut added = ExactSum::default();
        added.add(0.1, 3);
        assert_eq!(tripled, added);
        assert_eq!(tripled, exact(&[0.1, 0.1, 0.1]));
    }

    #[test]
    fn bigint_sums_do_not_overflow_on_the_way() {
        let agg = AggregateExpr { func: AggregateFunc::Sum, arg: Some(crate::plan::ScalarExpr::Column(0)) };
        let mut acc = Accumulator::default();
        for v in [i64::MAX, 1, -1] {
            acc.add(&agg, &[Datum::Int(v)], 1);
        }
        assert_eq!(acc.finish(&agg), Datum::Int(i64::MAX));
        acc.add(&agg, &[Datum::Int(1)], 1);
        assert_eq!(acc.finish(&agg), Datum::Null);
    }
}
