//! `Project`: compute one output row per input row. Stateless.

use super::Rows;
use crate::plan::ScalarExpr;
use crate::repr::row;

pub(super) fn render(input: Rows<'_>, exprs: Vec<ScalarExpr>) -> Rows<'_> {
    let mut datums = Vec::new();
    input.map(move |encoded| {
        row::decode_into(&encoded, &mut datums);
        let mut out = Vec::with_capacity(encoded.len());
        for expr in &exprs {
            row::encode_datum(&expr.eval(&datums), &mut out);
        }
        out
    })
}
