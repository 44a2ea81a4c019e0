//! The clauses a view and a read share: the projection (with its column names), `WHERE`,
//! `GROUP BY` aggregates, and the clauses neither supports.

use super::*;

pub(super) fn select_of(query: &sql::Query) -> Result<&sql::Select> {
    if query.with.is_some() {
        return Err(Error::bind("WITH is not supported").with_span(query.span()));
    }
    match query.body.as_ref() {
        SetExpr::Select(select) => {
            if select.distinct.is_some() {
                return Err(Error::bind("SELECT DISTINCT is not supported").with_span(select.span()));
            }
            Ok(select)
        }
        other => Err(Error::bind("only SELECT queries are supported").with_span(other.span())),
    }
}

/// Output columns of a projection list: expressions, names, types.
pub(super) fn bind_projection(
    select: &sql::Select,
    scope: &Scope,
    mut aggregation: Option<&mut Aggregation>,
) -> Result<(Vec<ScalarExpr>, Vec<Column>)> {
    let mut exprs = Vec::new();
    let mut columns: Vec<Column> = Vec::new();
    for item in &select.projection {
        match item {
            SelectItem::Wildcard(_) => {
                if aggregation.is_some() {
                    return Err(Error::bind("SELECT * cannot be used with GROUP BY").with_span(item.span()));
                }
                for (i, (_, name, t)) in scope.columns.iter().enumerate() {
                    exprs.push(ScalarExpr::Column(i));
                    columns.push(Column::new(name.clone(), *t));
                }
            }
            SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. } => {
                let (e, t) = bind_expr(expr, scope, aggregation.as_deref_mut())?;
                let name = match item {
                    SelectItem::ExprWithAlias { alias, .. } => name_of(alias),
                    _ => match strip_nested(expr) {
                        Expr::Identifier(ident) => name_of(ident),
                        Expr::CompoundIdentifier(parts) => parts.last().map(name_of).unwrap_or_default(),
                        Expr::Function(f) => f.name.to_string().to_lowercase(),
                        Expr::Trim { .. } => "trim".to_string(),
                        Expr::Floor { .. } => "floor".to_string(),
                        Expr::Ceil { .. } => "ceil".to_string(),
                        _ => format!("column{}", columns.len() + 1),
                    },
                };
                exprs.push(e);
                columns.push(Column::new(name, t.unwrap_or(DataType::Text)));
            }
            other => {
                return Err(
                    Error::bind(format!("select item \"{other}\" is not supported")).with_span(other.span())
                );
            }
        }
    }
    Ok((exprs, columns))
}

/// A view's columns are read by name (by views over it, by reads), so two of the same name
/// are refused, at the select item that makes the second.
pub(super) fn refuse_duplicate_columns(select: &sql::Select, columns: &[Column]) -> Result<()> {
    // The select item each column comes from: every wildcard makes the same number.
    let is_wildcard = |item: &SelectItem| matches!(item, SelectItem::Wildcard(_));
    let wildcards = select.projection.iter().filter(|item| is_wildcard(item)).count();
    let per_wildcard =
        (columns.len() + wildcards - select.projection.len()).checked_div(wildcards).unwrap_or(0);
    let item_of: Vec<&SelectItem> = select
        .projection
        .iter()
        .flat_map(|item| std::iter::repeat_n(item, if is_wildcard(item) { per_wildcard } else { 1 }))
        .collect();
    for (i, column) in columns.iter().enumerate() {
        if let Some(first) = columns[..i].iter().position(|c| c.name == column.name) {
            let (Some(first_item), Some(item)) = (item_of.get(first), item_of.get(i)) else { continue };
            let hint = if std::ptr::eq(*first_item, *item) {
                "name the columns instead of *, with AS for one of them".to_string()
            } else {
                format!(
                    "name one of them with AS, for example {} AS {}_2",
                    select_item_expr(item),
                    column.name
                )
            };
            return Err(Error::bind(format!("the view would have two columns named \"{}\"", column.name))
                .with_span(item.span())
                .with_hint(hint));
        }
    }
    Ok(())
}

/// The expression of a select item, as written (the item itself for a wildcard).
pub(super) fn select_item_expr(item: &SelectItem) -> String {
    match item {
        SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. } => expr.to_string(),
        other => other.to_string(),
    }
}

pub(super) fn bind_where(select: &sql::Select, scope: &Scope) -> Result<Option<ScalarExpr>> {
    let Some(selection) = &select.selection else { return Ok(None) };
    let (e, t) = bind_expr(selection, scope, None)?;
    if !matches!(t, None | Some(DataType::Boolean)) {
        return Err(
            Error::bind(format!("WHERE must be BOOLEAN, not {}", type_name(t))).with_span(selection.span())
        );
    }
    Ok(Some(e))
}

pub(super) fn reject_unsupported_clauses(query: &sql::Query, in_view: bool) -> Result<()> {
    if in_view {
        if let Some(order_by) = &query.order_by {
            return Err(Error::bind("a view has no order; ORDER BY belongs in the SELECT that reads it")
                .with_span(order_by.span()));
        }
        if let Some(limit) = &query.limit_clause {
            return Err(Error::bind(
                "LIMIT is not supported in views; use RETAIN TOP n PER ... to bound a view",
            )
            .with_span(limit.span()));
        }
    }
    Ok(())
}

/// `plan` projected to `exprs`, or `plan` renamed when the projection is the identity.
pub(super) fn project(mut plan: Plan, exprs: Vec<ScalarExpr>, columns: Vec<Column>) -> Plan {
    let identity = exprs.len() == plan.columns.len()
        && exprs.iter().enumerate().all(|(i, e)| *e == ScalarExpr::Column(i));
    if identity {
        plan.columns = columns;
        plan
    } else {
        Plan { node: PlanNode::Project { input: Box::new(plan), exprs }, columns }
    }
}

/// `plan` filtered by `predicate`, if there is one.
pub(super) fn filtered(plan: Plan, predicate: Option<ScalarExpr>) -> Plan {
    match predicate {
        Some(predicate) => Plan {
            columns: plan.columns.clone(),
            node: PlanNode::Filter { input: Box::new(plan), predicate },
        },
        None => plan,
    }
}

pub(super) fn group_by_of(select: &sql::Select) -> Result<Vec<Expr>> {
    match &select.group_by {
        GroupByExpr::Expressions(exprs, modifiers) if modifiers.is_empty() => Ok(exprs.clone()),
        other => Err(Error::bind("GROUP BY ALL is not supported").with_span(other.span())),
    }
}

/// The aggregation context, when the select groups or calls an aggregate, with the bound
/// group keys.
pub(super) fn bind_aggregation(
    select: &sql::Select,
    group_by: Vec<Expr>,
    scope: &Scope,
) -> Result<Option<(Aggregation, Vec<ScalarExpr>)>> {
    let has_aggregate_call = select.projection.iter().any(|item| match item {
        SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. } => calls_aggregate(expr),
        _ => false,
    });
    if group_by.is_empty() && !has_aggregate_call && select.having.is_none() {
        return Ok(None);
    }
    let mut group_types = Vec::new();
    let mut group_exprs = Vec::new();
    for g in &group_by {
        let (e, t) = bind_expr(g, scope, None)?;
        group_exprs.push(e);
        group_types.push(t);
    }
    Ok(Some((
        Aggregation { group_by, group_types, aggregates: Vec::new(), aggregate_types: Vec::new() },
        group_exprs,
    )))
}
