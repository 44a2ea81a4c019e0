//! The binder: Ebb's AST in, plans out.
//!
//! In: one parsed [`Statement`](crate::sql::Statement) part and the [`Catalog`]. Out: a
//! [`Plan`], a [`QueryPlan`], a [`SourceDesc`] or typed rows. Guarantees: names resolve,
//! types agree, expressions are total, retention rules sit over append-only inputs; every
//! error carries the span of the text it is about. The binder reads the catalog and never
//! changes it.

use sqlparser::ast::{
    self as sql, BinaryOperator, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, GroupByExpr,
    LimitClause, OrderByKind, OrderBySort, SelectItem, SetExpr, Spanned, TableFactor, UnaryOperator, Value,
};

use super::catalog::{Catalog, Object, ObjectId, SourceDesc};
use super::expr::{BinaryOp, Function, ScalarExpr, UnaryOp};
use super::{
    AggregateExpr, AggregateFunc, AggregatePlan, AggregateState, JoinPlan, Plan, PlanNode, QueryPlan,
    RetainKind, RetainRule, Side, UnmatchedPlan, WinnerPlan,
};
use std::num::NonZeroU64;

use crate::error::{Error, ErrorKind, Result, Span};
use crate::repr::{Column, DataType, Datum};
use crate::sql::{ast, name_of};

mod data;
mod expr;
mod query;
mod relation;
mod select;
mod source;
mod view;

pub use data::{bind_advance_to, bind_insert, coerce_in_place};
pub use expr::map_type;
pub use query::bind_query;
pub use source::{bind_create_generated, bind_create_source};
pub use view::bind_create_view;

use self::expr::*;
use self::relation::*;
use self::select::*;
use self::view::*;

/// The greatest `n` of `RETAIN LATEST n` and `RETAIN TOP n`: a rule holds up to `n` rows per
/// key, and its per-key bookkeeping counts rows in an `i64`.
pub const MAX_RETAIN_ROWS: u64 = 1_000_000;

/// The greatest time or duration (`ADVANCE TO`, `LATENESS`, `DELAY`, `FORGET AFTER`): event
/// time is a `BIGINT` column, so no row can ever be at a later time; and a time plus a duration
/// stays within the dataflow's unsigned 64-bit time.
pub const MAX_TIME: u64 = i64::MAX as u64;

/// `n`, or an error at its span if it is past `max`; `what` names it ("LATENESS").
pub(super) fn at_most(what: &str, n: &ast::Spanned<u64>, max: u64) -> Result<u64> {
    if n.value > max {
        return Err(Error::bind(format!("{what} {} is too large (at most {max})", n.value)).with_span(n.span));
    }
    Ok(n.value)
}

/// Columns visible to an expression: (qualifier, name, type).
#[derive(Clone, Debug, Default)]
pub(super) struct Scope {
    pub(super) columns: Vec<(Option<String>, String, DataType)>,
}

impl Scope {
    /// The columns of the object named `name`, qualified by `alias` if given, else by `name`.
    fn of(name: &str, alias: Option<&sql::Ident>, columns: &[Column]) -> Scope {
        let qualifier = alias.map_or_else(|| name.to_string(), name_of);
        Scope {
            columns: columns.iter().map(|c| (Some(qualifier.clone()), c.name.clone(), c.data_type)).collect(),
        }
    }

    fn resolve(
        &self,
        qualifier: Option<&sql::Ident>,
        name: &sql::Ident,
        span: Span,
    ) -> Result<(usize, DataType)> {
        let wanted = name_of(name);
        let wanted_qualifier = qualifier.map(name_of);
        let matches: Vec<usize> = (0..self.columns.len())
            .filter(|&i| {
                let (q, n, _) = &self.columns[i];
                *n == wanted && (wanted_qualifier.is_none() || q.as_deref() == wanted_qualifier.as_deref())
            })
            .collect();
        match matches.as_slice() {
            [i] => Ok((*i, self.columns[*i].2)),
            [] => {
                let shown = match &wanted_qualifier {
                    Some(q) => format!("{q}.{wanted}"),
                    None => wanted,
                };
                let available: Vec<&str> = self.columns.iter().map(|c| c.1.as_str()).collect();
                Err(Error::bind(format!("column \"{shown}\" not found"))
                    .with_kind(ErrorKind::UnknownColumn)
                    .with_span(span)
                    .with_note(format!("available columns: {}", available.join(", "))))
            }
            _ => {
                Err(Error::bind(format!("column reference \"{}\" is ambiguous", name.value)).with_span(span))
            }
        }
    }
}

/// The type of a bound expression; `None` for a bare NULL, which fits every type.
pub(super) type Type = Option<DataType>;

pub(super) fn is_numeric(t: Type) -> bool {
    matches!(t, None | Some(DataType::BigInt) | Some(DataType::Double))
}

pub(super) fn type_name(t: Type) -> String {
    t.map_or("NULL".to_string(), |t| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn projection_expr(sql: &str) -> Expr {
        let statements = crate::sql::parse(sql).expect("parses");
        let crate::sql::StatementKind::Query(query) = &statements[0].kind else { panic!("a query") };
        let SetExpr::Select(select) = query.body.as_ref() else { panic!("a select") };
        match &select.projection[0] {
            SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. } => expr.clone(),
            other => panic!("unexpected {other}"),
        }
    }

    #[test]
    fn aggregates_are_found_in_the_tree_not_the_text() {
        assert!(calls_aggregate(&projection_expr("SELECT abs(max(k)) + 1 FROM r")));
        assert!(calls_aggregate(&projection_expr("SELECT COUNT(*) FROM r")));
        assert!(!calls_aggregate(&projection_expr("SELECT 'max(' FROM r")));
        assert!(!calls_aggregate(&projection_expr("SELECT discount(k) FROM r")));
    }
}
