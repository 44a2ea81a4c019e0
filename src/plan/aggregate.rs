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

use std::cmp::Ordering;

use differential_dataflow::difference::{IsZero, Multiply, Semigroup};
use serde::{Deserialize, Serialize};

use super::{AggregateExpr, AggregateFunc};
use crate::repr::{Datum, EncodedRow, row};

/// The running value of one aggregate.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Accumulator {
    /// Non-NULL values (rows, for `count(*)`).
    count: i64,
    /// Sum of the BIGINT values.
    int_sum: i64,
    /// Whether `int_sum` overflowed (the sum is then NULL).
    overflowed: bool,
    /// Sum of all values as DOUBLE.
    float_sum: f64,
    /// Whether any value was a DOUBLE (the sum is then a DOUBLE).
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
            Datum::Int(i) => {
                match i.checked_mul(times).and_then(|product| self.int_sum.checked_add(product)) {
                    Some(sum) => self.int_sum = sum,
                    None => self.overflowed = true,
                }
                self.float_sum += *i as f64 * times as f64;
            }
            Datum::Double(d) => {
                self.any_double = true;
                self.float_sum += d * times as f64;
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
        self.float_sum += other.float_sum;
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
            AggregateFunc::Sum if self.any_double => Datum::Double(self.float_sum),
            AggregateFunc::Sum if self.overflowed => Datum::Null,
            AggregateFunc::Sum => Datum::Int(self.int_sum),
            AggregateFunc::Avg => Datum::Double(self.float_sum / self.count as f64),
            AggregateFunc::Min | AggregateFunc::Max => {
                self.best.as_deref().map_or(Datum::Null, |bytes| row::decode(bytes).swap_remove(0))
            }
        }
    }

    fn sort_key(&self) -> (i64, i64, bool, u64, bool, Option<&[u8]>) {
        (
            self.count,
            self.int_sum,
            self.overflowed,
            self.float_sum.to_bits(),
            self.any_double,
            self.best.as_deref(),
        )
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
            match acc.int_sum.checked_mul(*times) {
                Some(product) => acc.int_sum = product,
                None => acc.overflowed = true,
            }
            acc.float_sum *= *times as f64;
        }
        self
    }
}
