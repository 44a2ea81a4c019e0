//! The values a `LATEST`/`TOP` rule keeps: each row as its rule key, then its rank
//! (complemented when lower is better, so a key's best value is always its greatest), then the
//! rest of the row.
//!
//! In: an encoded row of the rule's input. Out: its value, from which [`Ranking::row`]
//! puts the row back together.
//!
//! When the key and the rank are columns of the row and the state is kept in memory, the
//! value holds only the row's other columns after them ("packed"): a kept row is then no
//! longer than the row itself, where the whole row after its key and rank would be about
//! 1.7× it for a three-column row, and every batch the rule builds or merges, and its peak
//! memory, is that much smaller. Otherwise (key or rank computed, or columnar state under a
//! memory budget, whose reduce reads the row as the value's tail) the whole row follows.
//!
//! Invariant: values of one key order as their ranks do, then as their rows do. Packed, the
//! columns two rows of one key and rank can differ in are exactly the rest, kept in the row's
//! order, so the rest orders them as the whole row would.

use crate::plan::{RetainRule, ScalarExpr};
use crate::repr::{Datum, EncodedRow, row};

/// How a row becomes its rule key, its rank and what follows them, and back.
#[derive(Clone)]
pub(super) struct Ranking {
    of_row: OfRow,
    /// Whether greater ranks are better (the rank's bytes are then not complemented).
    descending: bool,
}

/// What [`Ranking::write`] reuses between rows.
#[derive(Default)]
pub(super) struct Scratch {
    /// Where each column of the row starts, and where the last ends.
    starts: Vec<usize>,
    /// The row decoded, to evaluate expressions over.
    datums: Vec<Datum>,
}

#[derive(Clone)]
enum OfRow {
    /// Key and rank are columns of the row: their bytes are copied out of its encoding, which
    /// is what encoding their datums again would write. `packed`: only the row's other
    /// columns follow them.
    Columns { key: Vec<usize>, rank: usize, packed: bool },
    /// Anything else: the row is decoded and the expressions evaluated; the whole row follows.
    Exprs { key: Vec<ScalarExpr>, rank: Box<ScalarExpr> },
}

impl Ranking {
    /// The values of `rule`, packed when they can be and `pack` allows it.
    pub(super) fn of(rule: &RetainRule, pack: bool) -> Ranking {
        let column = |expr: &ScalarExpr| match expr {
            ScalarExpr::Column(at) => Some(*at),
            _ => None,
        };
        let of_row = match (rule.key.iter().map(column).collect::<Option<Vec<_>>>(), column(&rule.rank)) {
            (Some(key), Some(rank)) => OfRow::Columns { key, rank, packed: pack },
            _ => OfRow::Exprs { key: rule.key.clone(), rank: Box::new(rule.rank.clone()) },
        };
        Ranking { of_row, descending: rule.descending }
    }

    /// Datums in the rule's key, which starts each value.
    pub(super) fn key_datums(&self) -> usize {
        match &self.of_row {
            OfRow::Columns { key, .. } => key.len(),
            OfRow::Exprs { key, .. } => key.len(),
        }
    }

    /// Append the value of the row `encoded` to `out`; return its key's length. `scratch` is
    /// reused between rows.
    pub(super) fn write(&self, encoded: &[u8], scratch: &mut Scratch, out: &mut Vec<u8>) -> usize {
        let start = out.len();
        match &self.of_row {
            OfRow::Columns { key, rank, packed } => {
                // Where each column starts, found in one pass over the row.
                let starts = &mut scratch.starts;
                starts.clear();
                let mut at = 0;
                while at < encoded.len() {
                    starts.push(at);
                    at += row::datum_len(&encoded[at..], false);
                }
                starts.push(at);
                let column = |at: usize| &encoded[starts[at]..starts[at + 1]];
                for at in key {
                    out.extend_from_slice(column(*at));
                }
                let key_len = out.len() - start;
                self.flip_rank(column(*rank), out);
                if !packed {
                    out.extend_from_slice(encoded);
                    return key_len;
                }
                for at in 0..starts.len() - 1 {
                    if at != *rank && !key.contains(&at) {
                        out.extend_from_slice(column(at));
                    }
                }
                key_len
            }
            OfRow::Exprs { key, rank } => {
                let datums = &mut scratch.datums;
                row::decode_into(encoded, datums);
                // A NULL key is a key like any other here.
                super::join::write_key(key, datums, out);
                let key_len = out.len() - start;
                row::encode_rank(&rank.eval(datums), self.descending, out);
                out.extend_from_slice(encoded);
                key_len
            }
        }
    }

    /// The row that `value` (written by [`Ranking::write`]) holds.
    pub(super) fn row(&self, value: &[u8]) -> EncodedRow {
        let mut out = Vec::with_capacity(value.len());
        let key_len = row::prefix_len(value, self.key_datums());
        let rank_len = row::datum_len(&value[key_len..], !self.descending);
        let (keys, rank_bytes, mut rest) =
            (&value[..key_len], &value[key_len..key_len + rank_len], &value[key_len + rank_len..]);
        let OfRow::Columns { key, rank, packed: true } = &self.of_row else {
            out.extend_from_slice(rest);
            return out;
        };
        for at in 0.. {
            if let Some(nth) = key.iter().position(|column| *column == at) {
                let from = row::prefix_len(keys, nth);
                out.extend_from_slice(&keys[from..from + row::datum_len(&keys[from..], false)]);
            } else if at == *rank {
                self.flip_rank(rank_bytes, &mut out);
            } else if !rest.is_empty() {
                let len = row::datum_len(rest, false);
                out.extend_from_slice(&rest[..len]);
                rest = &rest[len..];
            } else {
                // Every column that is neither key nor rank was in the rest, in order.
                break;
            }
        }
        out
    }

    /// Append a rank's bytes, complemented when lower is better: from a row's column into a
    /// value, and (complementing twice) back.
    fn flip_rank(&self, rank: &[u8], out: &mut Vec<u8>) {
        if self.descending {
            out.extend_from_slice(rank);
        } else {
            out.extend(rank.iter().map(|byte| !byte));
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::plan::RetainKind;

    fn rule(key: Vec<ScalarExpr>, rank: ScalarExpr, descending: bool) -> RetainRule {
        RetainRule { kind: RetainKind::Top, key, rank, descending, limit: 1 }
    }

    fn datum() -> impl Strategy<Value = Datum> {
        prop_oneof![
            Just(Datum::Null),
            any::<bool>().prop_map(Datum::Bool),
            any::<i64>().prop_map(Datum::Int),
            any::<f64>().prop_map(Datum::Double),
            "[a-c\\x00]{0,4}".prop_map(Datum::Text),
        ]
    }

    proptest! {
        /// Packed or not, by columns or by expressions: a value gives back its row, starts
        /// with the key and rank the expressions compute, and values of one key and rank order
        /// as their rows do.
        #[test]
        fn values_give_back_their_rows_and_order_as_they_do(
            rows in proptest::collection::vec(proptest::collection::vec(datum(), 4), 2),
            key in proptest::collection::vec(0usize..4, 1..3),
            rank in 0usize..4,
            descending in any::<bool>(),
            same_key_and_rank in any::<bool>(),
        ) {
            let mut rows = rows;
            if same_key_and_rank {
                for at in key.iter().chain([&rank]) {
                    rows[1][*at] = rows[0][*at].clone();
                }
            }
            let columns = |key: &[usize]| key.iter().map(|at| ScalarExpr::Column(*at)).collect::<Vec<_>>();
            let by_columns = rule(columns(&key), ScalarExpr::Column(rank), descending);
            let rankings = [
                Ranking::of(&by_columns, true),
                Ranking::of(&by_columns, false),
                Ranking { of_row: OfRow::Exprs { key: columns(&key), rank: Box::new(ScalarExpr::Column(rank)) }, descending },
            ];
            let encoded: Vec<EncodedRow> = rows.iter().map(row::encode).collect();
            for ranking in &rankings {
                let values: Vec<Vec<u8>> = encoded
                    .iter()
                    .map(|row| {
                        let mut value = Vec::new();
                        ranking.write(row, &mut Scratch::default(), &mut value);
                        value
                    })
                    .collect();
                for (value, row) in values.iter().zip(&encoded) {
                    prop_assert_eq!(&ranking.row(value), row);
                }
                if same_key_and_rank {
                    prop_assert_eq!(values[0].cmp(&values[1]), encoded[0].cmp(&encoded[1]));
                }
            }
            // Key and rank come out alike however they are computed.
            let written = |ranking: &Ranking| {
                let mut value = Vec::new();
                let key_len = ranking.write(&encoded[0], &mut Scratch::default(), &mut value);
                value.truncate(key_len + row::datum_len(&value[key_len..], !descending));
                value
            };
            prop_assert_eq!(written(&rankings[0]), written(&rankings[2]));
        }
    }
}
