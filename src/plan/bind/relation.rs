//! What a statement reads: a named source or view (one resolver for reads and views), and for
//! views a chain of inner equi-joins of them, with the timelines they live on checked.

use super::*;

/// A source or view named in FROM or JOIN, with the columns its alias makes visible.
pub(super) struct Relation<'a> {
    pub(super) object: &'a Object,
    pub(super) scope: Scope,
    /// Where it is named.
    pub(super) span: Span,
}

/// The one resolver of a relation's name, for reads and views alike.
pub(super) fn resolve_relation<'a>(catalog: &'a Catalog, relation: &TableFactor) -> Result<Relation<'a>> {
    let TableFactor::Table { name, alias, .. } = relation else {
        return Err(Error::bind("FROM must name a source or view").with_span(relation.span()));
    };
    let object = catalog.resolve(single_name(name)?, "source or view")?;
    let scope = Scope::of(object.name(), alias.as_ref().map(|a| &a.name), object.columns());
    Ok(Relation { object, scope, span: name.span() })
}

impl Relation<'_> {
    /// The plan node that reads it: a source's rows, or a view's output arrangement.
    pub(super) fn plan(&self, catalog: &Catalog) -> Plan {
        match self.object {
            Object::Source(source) => Plan {
                node: PlanNode::Source { id: source.id, name: source.name.clone() },
                columns: source.columns.clone(),
            },
            Object::View(view) => Plan {
                node: PlanNode::View {
                    id: view.id,
                    name: view.name.clone(),
                    append_only: view.plan.is_append_only(),
                    time_column: time_column(&view.plan, catalog),
                },
                columns: view.plan.columns.clone(),
            },
        }
    }
}

/// The one relation a read (`SELECT`) reads: reads do not join.
pub(super) fn bind_from<'a>(catalog: &'a Catalog, select: &sql::Select, span: Span) -> Result<Relation<'a>> {
    let [table] = select.from.as_slice() else {
        return Err(if select.from.is_empty() {
            Error::bind("a query needs FROM a source or view").with_span(span)
        } else {
            Error::bind("reading from several relations is not supported; use one source or view")
                .with_span(select.from[1].relation.span())
        });
    };
    if let Some(join) = table.joins.first() {
        return Err(Error::bind("a read cannot join; create a view with the join and read that")
            .with_span(join.relation.span()));
    }
    resolve_relation(catalog, &table.relation)
}

/// The one identifier of a relation's name (there are no schemas).
pub(super) fn single_name(name: &sql::ObjectName) -> Result<&sql::Ident> {
    match name.0.as_slice() {
        [part] => part.as_ident().ok_or_else(|| {
            Error::bind(format!("\"{name}\" is not the name of a source or view")).with_span(name.span())
        }),
        _ => Err(Error::bind(format!("qualified name \"{name}\" is not supported"))
            .with_span(name.span())
            .with_hint("sources and views are named by one identifier; there are no schemas")),
    }
}

/// What a view reads: one source or view, or a chain of inner equi-joins of them.
pub(super) struct ViewInput {
    pub(super) plan: Plan,
    pub(super) scope: Scope,
    /// Every source or view named.
    pub(super) reads: Vec<ObjectId>,
}

pub(super) fn bind_view_input(catalog: &Catalog, select: &sql::Select, span: Span) -> Result<ViewInput> {
    let [table] = select.from.as_slice() else {
        return Err(if select.from.is_empty() {
            Error::bind("a view needs FROM a source or view").with_span(span)
        } else {
            Error::bind("a comma between relations is not supported; use JOIN ... ON")
                .with_span(select.from[1].relation.span())
        });
    };
    let first = resolve_relation(catalog, &table.relation)?;
    let (mut plan, mut scope) = (first.plan(catalog), first.scope);
    let mut reads = vec![first.object.id()];
    let mut read_spans = vec![table.relation.span()];
    for join in &table.joins {
        let (sql::JoinOperator::Join(constraint) | sql::JoinOperator::Inner(constraint)) =
            &join.join_operator
        else {
            return Err(Error::bind("only inner joins are supported").with_span(join.relation.span()));
        };
        let sql::JoinConstraint::On(on) = constraint else {
            return Err(Error::bind("a join needs ON with an equality between its two sides")
                .with_span(join.relation.span()));
        };
        let relation = resolve_relation(catalog, &join.relation)?;
        let (right, right_scope) = (relation.plan(catalog), relation.scope);
        reads.push(relation.object.id());
        read_spans.push(join.relation.span());
        let left_width = plan.columns.len();
        let mut both = scope.clone();
        both.columns.extend(right_scope.columns.iter().cloned());
        let (condition, t) = bind_expr(on, &both, None)?;
        if !matches!(t, None | Some(DataType::Boolean)) {
            return Err(Error::bind(format!("ON must be BOOLEAN, not {}", type_name(t))).with_span(on.span()));
        }
        let (mut left_key, mut right_key, mut rest) = (Vec::new(), Vec::new(), Vec::new());
        for conjunct in conjuncts(condition) {
            match split_equality(&conjunct, left_width, &plan.columns, &right.columns) {
                Some((l, r)) => {
                    left_key.push(l);
                    right_key.push(r);
                }
                None => rest.push(conjunct),
            }
        }
        if left_key.is_empty() {
            return Err(Error::bind("a join needs an equality between a column of each side (an equi-join)")
                .with_span(on.span())
                .with_hint("write ON left.k = right.k, with any other condition after AND"));
        }
        let mut columns = plan.columns.clone();
        columns.extend(right.columns.iter().cloned());
        plan = Plan {
            node: PlanNode::Join(JoinPlan {
                left: Box::new(plan),
                right: Box::new(right),
                left_key,
                right_key,
            }),
            columns,
        };
        let rest =
            rest.into_iter().reduce(|a, b| ScalarExpr::Binary(BinaryOp::And, Box::new(a), Box::new(b)));
        plan = filtered(plan, rest);
        scope = both;
    }
    refuse_mixed_timelines(catalog, &reads, &read_spans)?;
    Ok(ViewInput { plan, scope, reads })
}

/// A view reads either live generators, on the wall clock's timeline, or scripted sources,
/// on their own event-time clocks; a join of the two could never be read at one time.
pub(super) fn refuse_mixed_timelines(catalog: &Catalog, reads: &[ObjectId], spans: &[Span]) -> Result<()> {
    let live = reads.iter().zip(spans).find_map(|(id, span)| Some((catalog.live_source_under(*id)?, span)));
    let scripted =
        reads.iter().zip(spans).find_map(|(id, span)| Some((catalog.scripted_source_under(*id)?, span)));
    let (Some((live, live_span)), Some((scripted, scripted_span))) = (live, scripted) else { return Ok(()) };
    let at = |span: &Span| (span.start.line, span.start.column);
    let span = if at(live_span) > at(scripted_span) { live_span } else { scripted_span };
    Err(Error::bind(format!(
        "a view cannot read both the live generator source \"{}\" and the scripted source \"{}\"",
        live.name, scripted.name
    ))
    .with_span(*span)
    .with_note("a generator's rows carry wall-clock times, while a scripted source's clock moves only with the rows and reads it is given")
    .with_hint("read generated sources and scripted sources in separate views"))
}

/// The conjuncts of an AND tree.
pub(super) fn conjuncts(expr: ScalarExpr) -> Vec<ScalarExpr> {
    match expr {
        ScalarExpr::Binary(BinaryOp::And, l, r) => {
            let mut out = conjuncts(*l);
            out.extend(conjuncts(*r));
            out
        }
        other => vec![other],
    }
}

/// `l = r` with `l` over the left row only and `r` over the right only (or the other way
/// round), of the same type: the pair of key expressions, the right one over the right row.
pub(super) fn split_equality(
    expr: &ScalarExpr,
    left_width: usize,
    left_columns: &[Column],
    right_columns: &[Column],
) -> Option<(ScalarExpr, ScalarExpr)> {
    let ScalarExpr::Binary(BinaryOp::Eq, a, b) = expr else { return None };
    let side = |e: &ScalarExpr| {
        let mut columns = Vec::new();
        e.columns(&mut columns);
        if columns.is_empty() {
            None
        } else if columns.iter().all(|&c| c < left_width) {
            Some(Side::Left)
        } else if columns.iter().all(|&c| c >= left_width) {
            Some(Side::Right)
        } else {
            None
        }
    };
    let (l, r) = match (side(a)?, side(b)?) {
        (Side::Left, Side::Right) => (a, b),
        (Side::Right, Side::Left) => (b, a),
        _ => return None,
    };
    let r = r.remap(&|c| c - left_width);
    let type_of = |e: &ScalarExpr, columns: &[Column]| match e {
        ScalarExpr::Column(c) => columns.get(*c).map(|c| c.data_type),
        _ => None,
    };
    // Keys are compared by their encoding, so both sides must have one type; a computed key
    // is accepted as is.
    match (type_of(l, left_columns), type_of(&r, right_columns)) {
        (Some(lt), Some(rt)) if lt != rt => None,
        _ => Some(((**l).clone(), r)),
    }
}
