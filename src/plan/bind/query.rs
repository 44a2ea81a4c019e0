//! `SELECT`: a [`QueryPlan`] out, read over one source or view by `crate::peek`.

use super::*;

/// Bind a read.
pub fn bind_query(catalog: &Catalog, query: &sql::Query, span: Span) -> Result<QueryPlan> {
    let select = select_of(query)?;
    reject_unsupported_clauses(query, false)?;
    let from = bind_from(catalog, select, span)?;
    let filter = bind_where(select, &from.scope)?;
    let group_by = group_by_of(select)?;
    let mut aggregation = bind_aggregation(select, group_by, &from.scope)?;
    let (mut project, columns) = bind_projection(select, &from.scope, aggregation.as_mut().map(|(a, _)| a))?;
    let having = match &select.having {
        Some(having) => {
            let (e, _) = bind_expr(having, &from.scope, aggregation.as_mut().map(|(a, _)| a))?;
            Some(e)
        }
        None => None,
    };
    let mut order_by = Vec::new();
    if let Some(order) = &query.order_by {
        let OrderByKind::Expressions(exprs) = &order.kind else {
            return Err(Error::bind("ORDER BY ALL is not supported").with_span(order.span()));
        };
        for item in exprs {
            let descending = matches!(item.options.sort, Some(OrderBySort::Desc));
            let by_name = match strip_nested(&item.expr) {
                Expr::Identifier(ident) => columns.iter().position(|c| c.name == name_of(ident)),
                Expr::Value(v) => match &v.value {
                    Value::Number(n, _) => {
                        let position: usize = n.parse().unwrap_or(0);
                        if position == 0 || position > columns.len() {
                            return Err(Error::bind(format!(
                                "ORDER BY position {n} is not in the select list"
                            ))
                            .with_span(item.expr.span()));
                        }
                        Some(position - 1)
                    }
                    _ => None,
                },
                _ => None,
            };
            let position = match by_name {
                Some(position) => position,
                None => {
                    let (e, _) = bind_expr(&item.expr, &from.scope, aggregation.as_mut().map(|(a, _)| a))?;
                    project.push(e);
                    project.len() - 1
                }
            };
            order_by.push((position, descending));
        }
    }
    let limit = match &query.limit_clause {
        None => None,
        Some(LimitClause::LimitOffset { limit: Some(limit), offset: None, limit_by })
            if limit_by.is_empty() =>
        {
            match bind_expr(limit, &Scope::default(), None)? {
                (ScalarExpr::Literal(Datum::Int(n)), _) if n >= 0 => Some(n as u64),
                _ => return Err(Error::bind("LIMIT needs a non-negative integer").with_span(limit.span())),
            }
        }
        Some(LimitClause::LimitOffset { limit: None, offset: None, .. }) => None,
        Some(other) => return Err(Error::bind("OFFSET is not supported").with_span(other.span())),
    };
    let aggregate = aggregation.map(|(agg, group_exprs)| AggregatePlan {
        group_by: group_exprs,
        aggregates: agg.aggregates.into_iter().map(|(a, _)| a).collect(),
    });
    Ok(QueryPlan {
        from: from.object.id(),
        from_span: from.span,
        filter,
        aggregate,
        having,
        project,
        order_by,
        limit,
        columns,
    })
}
