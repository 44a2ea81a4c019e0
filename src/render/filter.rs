//! `Filter`: keep the rows whose predicate is true. Stateless.

use super::Rows;
use crate::plan::ScalarExpr;
use crate::repr::row;

pub(super) fn render(input: Rows<'_>, predicate: ScalarExpr) -> Rows<'_> {
    input.filter(move |encoded| predicate.is_true(&row::decode(encoded)))
}
