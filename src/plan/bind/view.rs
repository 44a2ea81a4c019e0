//! `CREATE VIEW`: a [`Plan`] out, with its retention rule (`RETAIN LATEST`, `TOP`, `WINNER`,
//! `UNMATCHED`) refused over inputs that can retract.

use super::*;

/// The position of the TIME column in the rows `plan` produces, if they carry it unchanged.
pub(super) fn time_column(plan: &Plan, catalog: &Catalog) -> Option<usize> {
    match &plan.node {
        PlanNode::Source { id, .. } => catalog.source(*id).ok().map(|s| s.time_column),
        PlanNode::View { time_column, .. } => *time_column,
        PlanNode::Filter { input, .. } | PlanNode::Retain { input, .. } => time_column(input, catalog),
        PlanNode::Project { input, exprs } => {
            let inner = time_column(input, catalog)?;
            exprs.iter().position(|e| *e == ScalarExpr::Column(inner))
        }
        PlanNode::Join(_) | PlanNode::Aggregate { .. } | PlanNode::Winner(_) | PlanNode::Unmatched(_) => None,
    }
}

/// Bind `CREATE VIEW`: the plan `FROM/JOIN → WHERE → RETAIN → GROUP BY → HAVING →
/// projection`, and the objects it names.
pub fn bind_create_view(
    catalog: &Catalog,
    stmt: &ast::CreateView,
    span: Span,
) -> Result<(Plan, Vec<ObjectId>)> {
    let name = name_of(&stmt.name);
    if !stmt.or_replace && catalog.get(&name).is_some() {
        return Err(Error::bind(format!("\"{name}\" already exists")).with_span(stmt.name.span));
    }
    let select = select_of(&stmt.query)?;
    reject_unsupported_clauses(&stmt.query, true)?;
    let input = bind_view_input(catalog, select, span)?;
    let predicate = bind_where(select, &input.scope)?;
    let mut aggregation = bind_aggregation(select, group_by_of(select)?, &input.scope)?;
    let mut plan = input.plan.clone();
    match &stmt.retain {
        Some(retain) => {
            if aggregation.is_some() {
                return Err(Error::bind("RETAIN and GROUP BY cannot share a view")
                    .with_span(retain.span)
                    .with_hint("put the rule in a view of its own and aggregate over that view"));
            }
            plan = bind_rule(catalog, retain, plan, predicate, &input)?;
        }
        None => plan = filtered(plan, predicate),
    }
    let Some((mut aggregation, group_by)) = aggregation.take() else {
        let (exprs, columns) = bind_projection(select, &input.scope, None)?;
        refuse_duplicate_columns(select, &columns)?;
        return Ok((project(plan, exprs, columns), input.reads));
    };
    let (exprs, columns) = bind_projection(select, &input.scope, Some(&mut aggregation))?;
    refuse_duplicate_columns(select, &columns)?;
    let having = match &select.having {
        Some(having) => Some(bind_expr(having, &input.scope, Some(&mut aggregation))?.0),
        None => None,
    };
    let mut grouped_columns: Vec<Column> = aggregation
        .group_by
        .iter()
        .zip(&aggregation.group_types)
        .map(|(g, t)| Column::new(g.to_string().to_lowercase(), t.unwrap_or(DataType::Text)))
        .collect();
    grouped_columns.extend(
        aggregation
            .aggregates
            .iter()
            .zip(&aggregation.aggregate_types)
            .map(|((_, call), t)| Column::new(call.to_string().to_lowercase(), t.unwrap_or(DataType::Text))),
    );
    let state = if plan.is_append_only() { AggregateState::PerGroup } else { AggregateState::PerRow };
    plan = Plan {
        node: PlanNode::Aggregate {
            input: Box::new(plan),
            group_by,
            aggregates: aggregation.aggregates.into_iter().map(|(a, _)| a).collect(),
            state,
        },
        columns: grouped_columns,
    };
    Ok((project(filtered(plan, having), exprs, columns), input.reads))
}

/// The name of the input under `plan` that can retract rows (`plan` is not append-only).
pub(super) fn retracting_input(plan: &Plan) -> String {
    match &plan.node {
        PlanNode::View { name, .. } => name.clone(),
        PlanNode::Filter { input, .. } | PlanNode::Project { input, .. } => retracting_input(input),
        PlanNode::Join(join) if !join.left.is_append_only() => retracting_input(&join.left),
        PlanNode::Join(join) => retracting_input(&join.right),
        PlanNode::Source { .. }
        | PlanNode::Aggregate { .. }
        | PlanNode::Winner(_)
        | PlanNode::Unmatched(_)
        | PlanNode::Retain { .. } => plan.label().trim_start_matches('(').trim_end_matches(')').to_string(),
    }
}

pub(super) fn refuse_retracting(plan: &Plan, span: Span) -> Result<()> {
    if plan.is_append_only() {
        return Ok(());
    }
    Err(Error::bind(format!("RETAIN needs an append-only input, but \"{}\" can retract rows", retracting_input(plan)))
        .with_span(span)
        .with_note("a retention rule drops the rows it no longer needs, assuming that dropping them never changes its output; that holds only when its input never retracts")
        .with_hint("apply the rule to the source directly"))
}

/// The rule over the input (with `WHERE` applied as the rule needs it).
pub(super) fn bind_rule(
    catalog: &Catalog,
    retain: &ast::Retain,
    plan: Plan,
    predicate: Option<ScalarExpr>,
    input: &ViewInput,
) -> Result<Plan> {
    refuse_retracting(&plan, retain.span)?;
    // Resolved once here: a retraction goes back round the loop to a later time.
    let delay = match &retain.delay {
        Some(delay) => NonZeroU64::new(at_most("DELAY", delay, MAX_TIME)?).ok_or_else(|| {
            Error::bind("DELAY must be at least 1")
                .with_span(delay.span)
                .with_note("a retraction is fed back round the rule's loop to a later time")
        })?,
        None => NonZeroU64::MIN,
    };
    let span = retain.span;
    match &retain.rule {
        ast::RetainRule::Latest { n, per } => {
            let plan = filtered(plan, predicate);
            let Some(time) = time_column(&plan, catalog) else {
                return Err(Error::bind("RETAIN LATEST needs the input's TIME column").with_span(span));
            };
            if n.value == 0 {
                return Err(Error::bind("RETAIN LATEST needs n of at least 1").with_span(n.span));
            }
            at_most("RETAIN LATEST", n, MAX_RETAIN_ROWS)?;
            let rule = RetainRule {
                kind: RetainKind::Latest,
                key: bind_keys(per, &input.scope)?,
                rank: ScalarExpr::Column(time),
                descending: true,
                limit: n.value,
            };
            Ok(retained(plan, rule, delay))
        }
        ast::RetainRule::Top { n, per, by, descending } => {
            let plan = filtered(plan, predicate);
            if n.value == 0 {
                return Err(Error::bind("RETAIN TOP needs n of at least 1").with_span(n.span));
            }
            at_most("RETAIN TOP", n, MAX_RETAIN_ROWS)?;
            let (rank, _) = bind_expr(by, &input.scope, None)?;
            let rule = RetainRule {
                kind: RetainKind::Top,
                key: bind_keys(per, &input.scope)?,
                rank,
                descending: *descending,
                limit: n.value,
            };
            Ok(retained(plan, rule, delay))
        }
        ast::RetainRule::Winner { per, by, descending, close_at, forget_after } => {
            let (join, predicate) = two_input_join(plan.clone(), predicate, "WINNER", span)?;
            let left_width = join.left.columns.len();
            // The rule's key is the join key: each PER expression must be one of its columns,
            // and together they must name all of them.
            let mut covered = vec![false; join.left_key.len()];
            for expr in per {
                let (bound, _) = bind_expr(expr, &input.scope, None)?;
                let position = (0..join.left_key.len()).find(|&i| {
                    bound == join.left_key[i] || bound == join.right_key[i].remap(&|c| c + left_width)
                });
                match position {
                    Some(i) => covered[i] = true,
                    None => {
                        return Err(Error::bind("RETAIN WINNER PER must name the join key")
                            .with_span(expr.span())
                            .with_note("a winner is kept per join key, so that a key's close time decides for all of its candidates"));
                    }
                }
            }
            if covered.contains(&false) {
                return Err(
                    Error::bind("RETAIN WINNER PER must name every column of the join key").with_span(span)
                );
            }
            let (rank, _) = bind_expr(by, &input.scope, None)?;
            let (close, close_type) = bind_expr(close_at, &input.scope, None)?;
            if close_type != Some(DataType::BigInt) {
                return Err(Error::bind(format!(
                    "CLOSE AT must be a time (BIGINT), not {}",
                    type_name(close_type)
                ))
                .with_span(close_at.span()));
            }
            let mut close_columns = Vec::new();
            close.columns(&mut close_columns);
            let closing = if !close_columns.is_empty() && close_columns.iter().all(|&c| c < left_width) {
                Side::Left
            } else if !close_columns.is_empty() && close_columns.iter().all(|&c| c >= left_width) {
                Side::Right
            } else {
                return Err(Error::bind("CLOSE AT must read the columns of one side of the join")
                    .with_span(close_at.span())
                    .with_note("the side it reads closes the key (the auctions); the other side's rows compete (the bids)"));
            };
            let (candidate_plan, candidate_offset) = match closing {
                Side::Left => (&join.right, left_width),
                Side::Right => (&join.left, 0),
            };
            let Some(candidate_time) = time_column(candidate_plan, catalog) else {
                return Err(Error::bind("RETAIN WINNER needs the TIME column of the competing side")
                    .with_span(span)
                    .with_note("a candidate counts only if it is older than its key's close time"));
            };
            // A candidate at or after its key's close time never wins: that is what makes a
            // closed key's winner final.
            let in_time = ScalarExpr::Binary(
                BinaryOp::Lt,
                Box::new(ScalarExpr::Column(candidate_offset + candidate_time)),
                Box::new(close.clone()),
            );
            let predicate = Some(match predicate {
                Some(p) if conjuncts(p.clone()).contains(&in_time) => p,
                Some(p) => ScalarExpr::Binary(BinaryOp::And, Box::new(p), Box::new(in_time)),
                None => in_time,
            });
            let close_at = match closing {
                Side::Left => close,
                Side::Right => close.remap(&|c| c - left_width),
            };
            Ok(Plan {
                columns: plan.columns.clone(),
                node: PlanNode::Winner(WinnerPlan {
                    join,
                    closing,
                    predicate,
                    rank,
                    descending: *descending,
                    close_at,
                    forget_after: match forget_after {
                        Some(after) => Some(at_most("FORGET AFTER", after, MAX_TIME)?),
                        None => None,
                    },
                    delay,
                    feedback: true,
                }),
            })
        }
        ast::RetainRule::Unmatched => {
            let (join, predicate) = two_input_join(plan.clone(), predicate, "UNMATCHED", span)?;
            let (Some(left_time), Some(right_time)) =
                (time_column(&join.left, catalog), time_column(&join.right, catalog))
            else {
                return Err(Error::bind("RETAIN UNMATCHED needs the TIME column of both inputs")
                    .with_span(span)
                    .with_note("a pair matches at the later of its two rows' times"));
            };
            Ok(Plan {
                columns: plan.columns.clone(),
                node: PlanNode::Unmatched(UnmatchedPlan {
                    join,
                    predicate,
                    left_time,
                    right_time,
                    delay,
                    feedback: true,
                }),
            })
        }
    }
}

/// The join of exactly two inputs under `plan` (conditions above it folded into the
/// predicate), or an error that says what the rule needs.
pub(super) fn two_input_join(
    plan: Plan,
    predicate: Option<ScalarExpr>,
    rule: &str,
    span: Span,
) -> Result<(JoinPlan, Option<ScalarExpr>)> {
    let and = |a: Option<ScalarExpr>, b: ScalarExpr| match a {
        Some(a) => ScalarExpr::Binary(BinaryOp::And, Box::new(a), Box::new(b)),
        None => b,
    };
    let mut predicate = predicate;
    let mut plan = plan;
    loop {
        match plan.node {
            PlanNode::Filter { input, predicate: on } => {
                predicate = Some(and(predicate, on));
                plan = *input;
            }
            PlanNode::Join(join) => {
                if matches!(join.left.node, PlanNode::Join(_)) || matches!(join.right.node, PlanNode::Join(_))
                {
                    return Err(Error::bind(format!(
                        "RETAIN {rule} works on a join of exactly two inputs, not more"
                    ))
                    .with_span(span)
                    .with_hint("join the others in a view over this one"));
                }
                return Ok((join, predicate));
            }
            PlanNode::Source { .. }
            | PlanNode::View { .. }
            | PlanNode::Project { .. }
            | PlanNode::Aggregate { .. }
            | PlanNode::Winner(_)
            | PlanNode::Unmatched(_)
            | PlanNode::Retain { .. } => {
                return Err(Error::bind(format!("RETAIN {rule} needs an inner equi-join of two inputs"))
                    .with_span(span)
                    .with_hint("write FROM a JOIN b ON b.k = a.k"));
            }
        }
    }
}

/// `plan` under a LATEST or TOP rule, with its feedback on.
pub(super) fn retained(plan: Plan, rule: RetainRule, delay: NonZeroU64) -> Plan {
    Plan {
        columns: plan.columns.clone(),
        node: PlanNode::Retain { input: Box::new(plan), rule, delay, feedback: true },
    }
}

pub(super) fn bind_keys(per: &[Expr], scope: &Scope) -> Result<Vec<ScalarExpr>> {
    per.iter().map(|e| bind_expr(e, scope, None).map(|(e, _)| e)).collect()
}
