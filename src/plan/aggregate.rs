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
//! on how batches merge): BIGINT values add up in 128 bits, and DOUBLE values in an
//! [`ExactSum`], exactly, rounded to a DOUBLE only when the value is read. Floating-point
//! addition is not associative, so a plain `f64` running sum would differ in its last digits
//! with the order of the partial sums.

use std::cmp::Ordering;

use differential_dataflow::difference::{IsZero, Multiply, Semigroup};
use num_bigint::{BigInt, Sign};
use num_traits::ToPrimitive;
use serde::{Deserialize, Serialize};

use super::{AggregateExpr, AggregateFunc};
use crate::repr::{Datum, EncodedRow, row};

/// The running value of one aggregate.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Accumulator {
    /// Non-NULL values (rows, for `count(*)`).
    count: i64,
    /// What the values fold into.
    folded: Folded,
}

/// What an aggregate's values fold into: by its function, and for sums by the values' type
/// (an aggregate's argument has one type). Kept small: an aggregate's arrangement holds one
/// per aggregate per input row until its batches merge.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
enum Folded {
    /// No value yet, or `count`.
    #[default]
    Nothing,
    /// The sum of BIGINT values, in 128 bits so that no order of folding overflows first.
    IntSum(Wide),
    /// A BIGINT sum beyond even that: NULL from then on.
    IntOverflow,
    /// The sum of DOUBLE values, exact.
    DoubleSum(ExactSum),
    /// The best value for min/max, encoded.
    Best(EncodedRow),
}

/// An `i128` in two halves, so that it needs no more than 8-byte alignment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
struct Wide {
    high: i64,
    low: u64,
}

impl Wide {
    fn new(value: i128) -> Wide {
        Wide { high: (value >> 64) as i64, low: value as u64 }
    }

    fn get(self) -> i128 {
        (i128::from(self.high) << 64) | i128::from(self.low)
    }
}

impl Folded {
    /// A BIGINT sum, or an overflow.
    fn int_sum(sum: Option<i128>) -> Folded {
        sum.map_or(Folded::IntOverflow, |sum| Folded::IntSum(Wide::new(sum)))
    }

    /// Fold in `other`, of the same aggregate `func`.
    fn merge(&mut self, func: AggregateFunc, other: &Folded) {
        match (&mut *self, other) {
            (_, Folded::Nothing) => {}
            (Folded::Nothing, other) => *self = other.clone(),
            (Folded::IntSum(a), Folded::IntSum(b)) => *self = Folded::int_sum(a.get().checked_add(b.get())),
            (Folded::IntSum(_) | Folded::IntOverflow, Folded::IntOverflow) => *self = Folded::IntOverflow,
            (Folded::DoubleSum(a), Folded::DoubleSum(b)) => a.merge(b),
            (Folded::Best(best), Folded::Best(candidate)) => {
                let better = match func {
                    AggregateFunc::Min => candidate < best,
                    AggregateFunc::Max | AggregateFunc::Count | AggregateFunc::Sum | AggregateFunc::Avg => {
                        candidate > best
                    }
                };
                if better {
                    *best = candidate.clone();
                }
            }
            // One aggregate's values have one type, so its folds are of one kind.
            (Folded::IntOverflow, _) | (Folded::IntSum(_) | Folded::DoubleSum(_) | Folded::Best(_), _) => {}
        }
    }

    /// Multiply by `times` (min/max cannot be: a best value stays as it is).
    fn scale(&mut self, times: i64) {
        match self {
            Folded::IntSum(sum) => *self = Folded::int_sum(sum.get().checked_mul(i128::from(times))),
            Folded::DoubleSum(sum) => sum.scale(times),
            Folded::Nothing | Folded::IntOverflow | Folded::Best(_) => {}
        }
    }
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
        let folded = match (agg.func, &value) {
            (AggregateFunc::Count, _) => return,
            (AggregateFunc::Min | AggregateFunc::Max, value) => {
                let mut encoded = Vec::new();
                row::encode_datum(value, &mut encoded);
                Folded::Best(encoded)
            }
            // A product of two i64 fits in an i128.
            (_, Datum::Int(i)) => Folded::IntSum(Wide::new(i128::from(*i) * i128::from(times))),
            (_, Datum::Double(d)) => {
                let mut sum = ExactSum::default();
                sum.add(*d, times);
                Folded::DoubleSum(sum)
            }
            // The binder allows sum and avg of numbers only.
            _ => return,
        };
        if matches!(self.folded, Folded::Nothing) {
            self.folded = folded;
        } else {
            self.folded.merge(agg.func, &folded);
        }
    }

    /// Fold in another accumulator of the same aggregate.
    pub fn merge(&mut self, func: AggregateFunc, other: &Accumulator) {
        self.count += other.count;
        self.folded.merge(func, &other.folded);
    }

    /// The aggregate's value.
    pub fn finish(&self, agg: &AggregateExpr) -> Datum {
        match (agg.func, &self.folded) {
            (AggregateFunc::Count, _) => Datum::Int(self.count),
            _ if self.count == 0 => Datum::Null,
            (AggregateFunc::Sum, Folded::IntSum(sum)) => {
                i64::try_from(sum.get()).map_or(Datum::Null, Datum::Int)
            }
            (AggregateFunc::Sum, Folded::DoubleSum(sum)) => Datum::Double(sum.value()),
            // `as` rounds an i128 to the nearest double.
            (AggregateFunc::Avg, Folded::IntSum(sum)) => Datum::Double(sum.get() as f64 / self.count as f64),
            (AggregateFunc::Avg, Folded::DoubleSum(sum)) => Datum::Double(sum.value() / self.count as f64),
            (AggregateFunc::Min | AggregateFunc::Max, Folded::Best(bytes)) => {
                row::decode(bytes).swap_remove(0)
            }
            _ => Datum::Null,
        }
    }

    fn sort_key(&self) -> (i64, &Folded) {
        (self.count, &self.folded)
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
        self.rows == 0
            && self.accumulators.iter().all(|a| a.count == 0 && !matches!(a.folded, Folded::Best(_)))
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
            acc.folded.scale(*times);
        }
        self
    }
}

/// An exact sum of doubles, as a group: values add, scale by a multiplicity and cancel
/// exactly, so the sum of a set of values is the same record whatever the order it was made
/// in, and [`ExactSum::value`] is that sum correctly rounded (to nearest, ties to even).
///
/// Finite values add up in `mantissa × 2^exponent`, kept canonical (an odd mantissa, or zero
/// with exponent 0; in an `i64` whenever it fits) so that equal sums are equal records;
/// infinities and NaNs are counted, as a float sum would give infinity or NaN whatever else it
/// held. A record is one per aggregate per input row in an aggregate's arrangement, so the
/// common case (one value, or a sum that fits in 64 bits, nothing infinite) takes no allocation.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ExactSum {
    mantissa: Mantissa,
    exponent: i32,
    /// `None` when every count is zero.
    non_finite: Option<Box<NonFinite>>,
}

/// An integer, in an `i64` exactly when it fits (so that equal values are equal records).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
enum Mantissa {
    Small(i64),
    Big(Box<BigInt>),
}

impl Default for Mantissa {
    fn default() -> Self {
        Mantissa::Small(0)
    }
}

impl Mantissa {
    fn of(big: BigInt) -> Mantissa {
        match big.to_i64() {
            Some(small) => Mantissa::Small(small),
            None => Mantissa::Big(Box::new(big)),
        }
    }

    fn to_big(&self) -> BigInt {
        match self {
            Mantissa::Small(small) => BigInt::from(*small),
            Mantissa::Big(big) => (**big).clone(),
        }
    }

    fn is_zero(&self) -> bool {
        matches!(self, Mantissa::Small(0))
    }
}

/// How many infinities of each sign, and NaNs, were added.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
struct NonFinite {
    positive_infinities: i64,
    negative_infinities: i64,
    nans: i64,
}

impl ExactSum {
    /// Add `value`, `times` times.
    pub fn add(&mut self, value: f64, times: i64) {
        if !value.is_finite() {
            let mut counts = self.non_finite.take().unwrap_or_default();
            let count = if value.is_nan() {
                &mut counts.nans
            } else if value > 0.0 {
                &mut counts.positive_infinities
            } else {
                &mut counts.negative_infinities
            };
            *count += times;
            self.set_non_finite(counts);
            return;
        }
        let bits = value.to_bits();
        let biased = ((bits >> 52) & 0x7ff) as i32;
        let fraction = (bits & ((1 << 52) - 1)) as i64;
        // A subnormal has no implicit leading bit and the exponent of the smallest normal.
        let (mantissa, exponent) =
            if biased == 0 { (fraction, -1074) } else { (fraction | (1 << 52), biased - 1075) };
        let signed = if value.is_sign_negative() { -mantissa } else { mantissa };
        let mantissa = match signed.checked_mul(times) {
            Some(product) => Mantissa::Small(product),
            None => Mantissa::of(BigInt::from(signed) * times),
        };
        self.add_scaled(mantissa, exponent);
    }

    /// Add another sum.
    pub fn merge(&mut self, other: &ExactSum) {
        if let Some(theirs) = &other.non_finite {
            let mut counts = self.non_finite.take().unwrap_or_default();
            counts.positive_infinities += theirs.positive_infinities;
            counts.negative_infinities += theirs.negative_infinities;
            counts.nans += theirs.nans;
            self.set_non_finite(counts);
        }
        self.add_scaled(other.mantissa.clone(), other.exponent);
    }

    /// Multiply by `times`.
    pub fn scale(&mut self, times: i64) {
        if let Some(mut counts) = self.non_finite.take() {
            counts.positive_infinities *= times;
            counts.negative_infinities *= times;
            counts.nans *= times;
            self.set_non_finite(counts);
        }
        let scaled = match &self.mantissa {
            Mantissa::Small(small) => small.checked_mul(times).map(Mantissa::Small),
            Mantissa::Big(_) => None,
        };
        let scaled = scaled.unwrap_or_else(|| Mantissa::of(self.mantissa.to_big() * times));
        let exponent = self.exponent;
        self.mantissa = Mantissa::default();
        self.exponent = 0;
        self.add_scaled(scaled, exponent);
    }

    fn set_non_finite(&mut self, counts: Box<NonFinite>) {
        self.non_finite = (*counts != NonFinite::default()).then_some(counts);
    }

    /// Add `mantissa × 2^exponent`, and make the result canonical.
    fn add_scaled(&mut self, mantissa: Mantissa, exponent: i32) {
        if mantissa.is_zero() {
            return;
        }
        if self.mantissa.is_zero() {
            self.mantissa = mantissa;
            self.exponent = exponent;
        } else {
            let low = self.exponent.min(exponent);
            let aligned = |m: &Mantissa, e: i32| -> Option<i64> {
                let Mantissa::Small(m) = m else { return None };
                let shift = (e - low) as u32;
                let shifted = m.checked_shl(shift)?;
                (shifted >> shift == *m).then_some(shifted)
            };
            let small = aligned(&self.mantissa, self.exponent)
                .zip(aligned(&mantissa, exponent))
                .and_then(|(a, b)| a.checked_add(b));
            self.mantissa = match small {
                Some(sum) => Mantissa::Small(sum),
                None => {
                    let shift = |m: &Mantissa, e: i32| m.to_big() << (e - low) as u64;
                    Mantissa::of(shift(&self.mantissa, self.exponent) + shift(&mantissa, exponent))
                }
            };
            self.exponent = low;
        }
        // Canonical: an odd mantissa (or zero, with exponent 0).
        match &mut self.mantissa {
            Mantissa::Small(0) => self.exponent = 0,
            Mantissa::Small(small) => {
                let zeros = small.trailing_zeros();
                *small >>= zeros;
                self.exponent += zeros as i32;
            }
            Mantissa::Big(big) => {
                let zeros = big.trailing_zeros().unwrap_or(0);
                let shifted = std::mem::take(&mut **big) >> zeros;
                self.mantissa = Mantissa::of(shifted);
                self.exponent += zeros as i32;
            }
        }
    }

    /// The sum, rounded to the nearest double (ties to even); infinite past the largest
    /// double, NaN if a NaN or infinities of both signs were added.
    pub fn value(&self) -> f64 {
        if let Some(counts) = &self.non_finite {
            match (counts.nans > 0, counts.positive_infinities > 0, counts.negative_infinities > 0) {
                (true, _, _) | (_, true, true) => return f64::NAN,
                (_, true, _) => return f64::INFINITY,
                (_, _, true) => return f64::NEG_INFINITY,
                _ => {}
            }
        }
        let mantissa = self.mantissa.to_big();
        let negative = mantissa.sign() == Sign::Minus;
        let magnitude = mantissa.magnitude();
        let Some(bits) = magnitude.bits().checked_sub(1) else { return 0.0 };
        let exponent = i64::from(self.exponent);
        // The weights of the leading bit and of the last bit a double can keep: 53 bits, but
        // none below 2^-1074 (the subnormals).
        let top = exponent + bits as i64;
        let magnitude_value = if top > 1023 {
            f64::INFINITY
        } else {
            let last = (top - 52).max(-1074);
            let dropped = last - exponent;
            let (kept, kept_exponent) = if dropped <= 0 {
                (magnitude.to_u64().unwrap_or(0), exponent)
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
            // exactly, and `kept × 2^kept_exponent` is a double (or beyond the largest:
            // infinity).
            times_power_of_two(kept as f64, kept_exponent)
        };
        if negative { -magnitude_value } else { magnitude_value }
    }

    /// Whether the sum is empty (zero, and no infinity or NaN).
    pub fn is_zero(&self) -> bool {
        self.mantissa.is_zero() && self.non_finite.is_none()
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
    fn wide_sums_go_big_and_come_back() {
        // 1e300 and 1e-300 are 2000 bits apart: the mantissa no longer fits in 128 bits.
        let mut wide = exact(&[1e300, 1e-300]);
        assert!(matches!(wide.mantissa, Mantissa::Big(_)));
        assert_eq!(wide.value(), 1e300);
        wide.scale(3);
        assert_eq!(wide, exact(&[1e300, 1e-300, 1e300, 1e-300, 1e300, 1e-300]));
        wide.add(1e300, -3);
        assert_eq!(wide, exact(&[1e-300, 1e-300, 1e-300]));
        assert!(matches!(wide.mantissa, Mantissa::Small(_)));
        assert_eq!(wide.value(), 3e-300);
        // Far past the largest double, and back.
        let mut many = ExactSum::default();
        many.add(f64::MAX, i64::MAX);
        many.add(f64::MAX, i64::MAX);
        assert_eq!(many.value(), f64::INFINITY);
        many.add(f64::MAX, -i64::MAX);
        many.add(f64::MAX, 1 - i64::MAX);
        assert_eq!(many.value(), f64::MAX);
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
