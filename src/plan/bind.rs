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
use crate::error::{Error, Result, Span};
use crate::repr::{Column, DataType, Datum};
use crate::sql::ast;

/// The greatest `n` of `RETAIN LATEST n` and `RETAIN TOP n`: a rule holds up to `n` rows per
/// key, and its per-key bookkeeping counts rows in an `i64`.
pub const MAX_RETAIN_ROWS: u64 = 1_000_000;

/// The greatest time or duration (`ADVANCE TO`, `LATENESS`, `DELAY`, `FORGET AFTER`): event
/// time is a `BIGINT` column, so no row can ever be at a later time; and a time plus a duration
/// stays within the dataflow's unsigned 64-bit time.
pub const MAX_TIME: u64 = i64::MAX as u64;

/// `n`, or an error at its span if it is past `max`; `what` names it ("LATENESS").
fn at_most(what: &str, n: &ast::Spanned<u64>, max: u64) -> Result<u64> {
    if n.value > max {
        return Err(Error::bind(format!("{what} {} is too large (at most {max})", n.value)).with_span(n.span));
    }
    Ok(n.value)
}

/// The time of `ADVANCE TO n`: at most [`MAX_TIME`].
pub fn bind_advance_to(advance: &ast::AdvanceTo) -> Result<u64> {
    at_most("ADVANCE TO", &advance.time, MAX_TIME)
        .map_err(|e| e.with_hint("event time is a BIGINT, so no row can be later than 9223372036854775807"))
}

/// Columns visible to an expression: (qualifier, name, type).
#[derive(Clone, Debug, Default)]
struct Scope {
    columns: Vec<(Option<String>, String, DataType)>,
}

impl Scope {
    fn of(qualifier: &str, alias: Option<&str>, columns: &[Column]) -> Scope {
        let qualifier = alias.unwrap_or(qualifier).to_lowercase();
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
        let wanted = name.value.to_lowercase();
        let wanted_qualifier = qualifier.map(|q| q.value.to_lowercase());
        let matches: Vec<usize> = (0..self.columns.len())
            .filter(|&i| {
                let (q, n, _) = &self.columns[i];
                *n == wanted && (wanted_qualifier.is_none() || q.as_deref() == wanted_qualifier.as_deref())
            })
            .collect();
        match matches.as_slice() {
            [i] => Ok((*i, self.columns[*i].2)),
            [] => {
                let shown = match qualifier {
                    Some(q) => format!("{}.{}", q.value, name.value),
                    None => name.value.clone(),
                };
                let available: Vec<&str> = self.columns.iter().map(|c| c.1.as_str()).collect();
                Err(Error::bind(format!("column \"{shown}\" not found"))
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
type Type = Option<DataType>;

/// Aggregation context: group keys (as written) and the aggregates found so far.
struct Aggregation {
    group_by: Vec<Expr>,
    group_types: Vec<Type>,
    aggregates: Vec<(AggregateExpr, Expr)>,
    aggregate_types: Vec<Type>,
}

fn is_numeric(t: Type) -> bool {
    matches!(t, None | Some(DataType::BigInt) | Some(DataType::Double))
}

fn type_name(t: Type) -> String {
    t.map_or("NULL".to_string(), |t| t.to_string())
}

/// Bind `expr` over `scope`; with `aggregation`, aggregate calls and group keys become
/// columns of the aggregated row (group keys, then aggregates).
fn bind_expr(
    expr: &Expr,
    scope: &Scope,
    mut aggregation: Option<&mut Aggregation>,
) -> Result<(ScalarExpr, Type)> {
    let span = expr.span();
    if let Some(agg) = aggregation.as_deref_mut()
        && let Some(i) = agg.group_by.iter().position(|g| strip_nested(g) == strip_nested(expr))
    {
        return Ok((ScalarExpr::Column(i), agg.group_types[i]));
    }
    match expr {
        Expr::Identifier(ident) => {
            if aggregation.is_some() {
                scope.resolve(None, ident, span)?;
                return Err(Error::bind(format!(
                    "column \"{}\" must appear in GROUP BY or be used in an aggregate",
                    ident.value
                ))
                .with_span(span));
            }
            let (i, t) = scope.resolve(None, ident, span)?;
            Ok((ScalarExpr::Column(i), Some(t)))
        }
        Expr::CompoundIdentifier(parts) if parts.len() == 2 => {
            if aggregation.is_some() {
                scope.resolve(Some(&parts[0]), &parts[1], span)?;
                return Err(Error::bind(format!(
                    "column \"{}.{}\" must appear in GROUP BY or be used in an aggregate",
                    parts[0].value, parts[1].value
                ))
                .with_span(span));
            }
            let (i, t) = scope.resolve(Some(&parts[0]), &parts[1], span)?;
            Ok((ScalarExpr::Column(i), Some(t)))
        }
        Expr::Value(value) => {
            let (datum, t) = bind_value(&value.value, span)?;
            Ok((ScalarExpr::Literal(datum), t))
        }
        Expr::Nested(inner) => bind_expr(inner, scope, aggregation),
        Expr::UnaryOp { op, expr: inner } => {
            let (e, t) = bind_expr(inner, scope, aggregation)?;
            match op {
                UnaryOperator::Not if matches!(t, None | Some(DataType::Boolean)) => {
                    Ok((ScalarExpr::Unary(UnaryOp::Not, Box::new(e)), Some(DataType::Boolean)))
                }
                UnaryOperator::Minus if is_numeric(t) => {
                    if let ScalarExpr::Literal(d) = &e {
                        let negated = ScalarExpr::Unary(UnaryOp::Negate, Box::new(e.clone())).eval(&[]);
                        if !d.is_null() {
                            return Ok((ScalarExpr::Literal(negated), t));
                        }
                    }
                    Ok((ScalarExpr::Unary(UnaryOp::Negate, Box::new(e)), t))
                }
                UnaryOperator::Plus if is_numeric(t) => Ok((e, t)),
                _ => {
                    Err(Error::bind(format!("operator {op} does not apply to {}", type_name(t)))
                        .with_span(span))
                }
            }
        }
        Expr::BinaryOp { left, op, right } => {
            let (l, lt) = bind_expr(left, scope, aggregation.as_deref_mut())?;
            let (r, rt) = bind_expr(right, scope, aggregation)?;
            bind_binary(op, l, lt, r, rt, span)
        }
        Expr::IsNull(inner) | Expr::IsNotNull(inner) => {
            let (e, _) = bind_expr(inner, scope, aggregation)?;
            Ok((ScalarExpr::IsNull(Box::new(e), matches!(expr, Expr::IsNotNull(_))), Some(DataType::Boolean)))
        }
        Expr::Cast { expr: inner, data_type, .. } => {
            let (e, _) = bind_expr(inner, scope, aggregation)?;
            let target = map_type(data_type).ok_or_else(|| {
                Error::bind(format!("type {data_type} is not supported"))
                    .with_span(span)
                    .with_hint("use BIGINT, DOUBLE, TEXT or BOOLEAN")
            })?;
            Ok((ScalarExpr::Cast(Box::new(e), target), Some(target)))
        }
        Expr::Function(function) => bind_function(function, scope, aggregation, span),
        other => Err(Error::bind(format!("expression \"{other}\" is not supported")).with_span(span)),
    }
}

fn strip_nested(expr: &Expr) -> &Expr {
    match expr {
        Expr::Nested(inner) => strip_nested(inner),
        other => other,
    }
}

fn bind_value(value: &Value, span: Span) -> Result<(Datum, Type)> {
    match value {
        Value::Number(text, _) => {
            if let Ok(i) = text.parse::<i64>() {
                Ok((Datum::Int(i), Some(DataType::BigInt)))
            } else if let Ok(d) = text.parse::<f64>() {
                Ok((Datum::Double(d), Some(DataType::Double)))
            } else {
                Err(Error::bind(format!("number {text} is out of range")).with_span(span))
            }
        }
        Value::SingleQuotedString(s) => Ok((Datum::Text(s.clone()), Some(DataType::Text))),
        Value::Boolean(b) => Ok((Datum::Bool(*b), Some(DataType::Boolean))),
        Value::Null => Ok((Datum::Null, None)),
        other => Err(Error::bind(format!("literal {other} is not supported")).with_span(span)),
    }
}

/// Map a SQL type name to an Ebb type.
pub fn map_type(data_type: &sql::DataType) -> Option<DataType> {
    use sql::DataType as T;
    Some(match data_type {
        T::BigInt(_) | T::Int(_) | T::Integer(_) | T::Int8(_) | T::Int64 | T::SmallInt(_) => DataType::BigInt,
        T::Double(_) | T::DoublePrecision | T::Float(_) | T::Real | T::Float8 | T::Float64 => {
            DataType::Double
        }
        T::Text | T::Varchar(_) | T::String(_) | T::CharVarying(_) => DataType::Text,
        T::Boolean | T::Bool => DataType::Boolean,
        _ => return None,
    })
}

fn bind_binary(
    op: &BinaryOperator,
    l: ScalarExpr,
    lt: Type,
    r: ScalarExpr,
    rt: Type,
    span: Span,
) -> Result<(ScalarExpr, Type)> {
    let (op, result) = match op {
        BinaryOperator::Plus
        | BinaryOperator::Minus
        | BinaryOperator::Multiply
        | BinaryOperator::Divide
        | BinaryOperator::Modulo => {
            if !is_numeric(lt) || !is_numeric(rt) {
                return Err(Error::bind(format!(
                    "operator {op} needs numbers, found {} and {}",
                    type_name(lt),
                    type_name(rt)
                ))
                .with_span(span));
            }
            let result = if lt == Some(DataType::Double) || rt == Some(DataType::Double) {
                Some(DataType::Double)
            } else if lt.is_none() && rt.is_none() {
                None
            } else {
                Some(DataType::BigInt)
            };
            let op = match op {
                BinaryOperator::Plus => BinaryOp::Add,
                BinaryOperator::Minus => BinaryOp::Sub,
                BinaryOperator::Multiply => BinaryOp::Mul,
                BinaryOperator::Divide => BinaryOp::Div,
                _ => BinaryOp::Mod,
            };
            (op, result)
        }
        BinaryOperator::Eq
        | BinaryOperator::NotEq
        | BinaryOperator::Lt
        | BinaryOperator::LtEq
        | BinaryOperator::Gt
        | BinaryOperator::GtEq => {
            let comparable = lt.is_none() || rt.is_none() || lt == rt || (is_numeric(lt) && is_numeric(rt));
            if !comparable {
                return Err(Error::bind(format!("cannot compare {} with {}", type_name(lt), type_name(rt)))
                    .with_span(span));
            }
            let op = match op {
                BinaryOperator::Eq => BinaryOp::Eq,
                BinaryOperator::NotEq => BinaryOp::NotEq,
                BinaryOperator::Lt => BinaryOp::Lt,
                BinaryOperator::LtEq => BinaryOp::LtEq,
                BinaryOperator::Gt => BinaryOp::Gt,
                _ => BinaryOp::GtEq,
            };
            (op, Some(DataType::Boolean))
        }
        BinaryOperator::And | BinaryOperator::Or => {
            for t in [lt, rt] {
                if !matches!(t, None | Some(DataType::Boolean)) {
                    return Err(Error::bind(format!(
                        "operator {op} needs BOOLEAN operands, found {}",
                        type_name(t)
                    ))
                    .with_span(span));
                }
            }
            (
                if matches!(op, BinaryOperator::And) { BinaryOp::And } else { BinaryOp::Or },
                Some(DataType::Boolean),
            )
        }
        BinaryOperator::StringConcat => (BinaryOp::Concat, Some(DataType::Text)),
        other => return Err(Error::bind(format!("operator {other} is not supported")).with_span(span)),
    };
    Ok((ScalarExpr::Binary(op, Box::new(l), Box::new(r)), result))
}

fn function_args(function: &sql::Function, span: Span) -> Result<(Vec<&Expr>, bool)> {
    let mut exprs = Vec::new();
    let mut star = false;
    match &function.args {
        FunctionArguments::None => {}
        FunctionArguments::List(list) => {
            if list.duplicate_treatment.is_some() || !list.clauses.is_empty() {
                return Err(
                    Error::bind(format!("function call \"{function}\" is not supported")).with_span(span)
                );
            }
            for arg in &list.args {
                match arg {
                    FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => exprs.push(e),
                    FunctionArg::Unnamed(FunctionArgExpr::Wildcard) => star = true,
                    _ => {
                        return Err(Error::bind(format!("argument of \"{function}\" is not supported"))
                            .with_span(span));
                    }
                }
            }
        }
        FunctionArguments::Subquery(_) => {
            return Err(Error::bind("subqueries are not supported").with_span(span));
        }
    }
    Ok((exprs, star))
}

fn bind_function(
    function: &sql::Function,
    scope: &Scope,
    aggregation: Option<&mut Aggregation>,
    span: Span,
) -> Result<(ScalarExpr, Type)> {
    let name = function.name.to_string().to_lowercase();
    let (args, star) = function_args(function, span)?;
    if let Some(func) = aggregate_named(&name) {
        let Some(agg) = aggregation else {
            return Err(Error::bind(format!("aggregate {name}() is not allowed here")).with_span(span));
        };
        let arg = match (func, star, args.as_slice()) {
            (AggregateFunc::Count, true, []) => None,
            (_, false, [arg]) => Some(*arg),
            _ => return Err(Error::bind(format!("{name}() takes exactly one argument")).with_span(span)),
        };
        let (bound, arg_type) = match arg {
            Some(arg) => {
                let (e, t) = bind_expr(arg, scope, None).map_err(|e| {
                    if e.message().contains("aggregate") {
                        Error::bind("aggregates cannot be nested").with_span(span)
                    } else {
                        e
                    }
                })?;
                (Some(e), t)
            }
            None => (None, None),
        };
        let result = match func {
            AggregateFunc::Count => Some(DataType::BigInt),
            AggregateFunc::Avg => {
                if !is_numeric(arg_type) {
                    return Err(Error::bind(format!("avg() needs a number, found {}", type_name(arg_type)))
                        .with_span(span));
                }
                Some(DataType::Double)
            }
            AggregateFunc::Sum => {
                if !is_numeric(arg_type) {
                    return Err(Error::bind(format!("sum() needs a number, found {}", type_name(arg_type)))
                        .with_span(span));
                }
                arg_type
            }
            AggregateFunc::Min | AggregateFunc::Max => arg_type,
        };
        let position = agg.group_by.len() + agg.aggregates.len();
        agg.aggregates.push((AggregateExpr { func, arg: bound }, Expr::Function(function.clone())));
        agg.aggregate_types.push(result);
        return Ok((ScalarExpr::Column(position), result));
    }
    let Some(func) = Function::by_name(&name) else {
        return Err(Error::bind(format!("function \"{name}\" not found")).with_span(span).with_hint(
            "scalar functions: abs, round, floor, ceil, sqrt, lower, upper, length, trim, coalesce, nullif, greatest, least; aggregates: count, sum, min, max, avg",
        ));
    };
    if star {
        return Err(Error::bind(format!("{name}(*) is not allowed")).with_span(span));
    }
    let mut bound = Vec::new();
    let mut types = Vec::new();
    let mut aggregation = aggregation;
    for arg in &args {
        let (e, t) = bind_expr(arg, scope, aggregation.as_deref_mut())?;
        bound.push(e);
        types.push(t);
    }
    let arity_ok = match func {
        Function::Coalesce | Function::Greatest | Function::Least => !args.is_empty(),
        Function::NullIf => args.len() == 2,
        _ => args.len() == 1,
    };
    if !arity_ok {
        return Err(Error::bind(format!("wrong number of arguments to {name}()")).with_span(span));
    }
    let result = match func {
        Function::Abs | Function::Round | Function::Floor | Function::Ceil => {
            if !is_numeric(types[0]) {
                return Err(Error::bind(format!("{name}() needs a number, found {}", type_name(types[0])))
                    .with_span(span));
            }
            types[0]
        }
        Function::Sqrt => {
            if !is_numeric(types[0]) {
                return Err(Error::bind(format!("{name}() needs a number, found {}", type_name(types[0])))
                    .with_span(span));
            }
            Some(DataType::Double)
        }
        Function::Lower | Function::Upper | Function::Trim | Function::Length => {
            if !matches!(types[0], None | Some(DataType::Text)) {
                return Err(Error::bind(format!("{name}() needs TEXT, found {}", type_name(types[0])))
                    .with_span(span));
            }
            if func == Function::Length { Some(DataType::BigInt) } else { Some(DataType::Text) }
        }
        Function::Coalesce | Function::NullIf | Function::Greatest | Function::Least => {
            let known: Vec<DataType> = types.iter().flatten().copied().collect();
            if known.iter().all(|t| *t == DataType::BigInt) {
                known.first().copied()
            } else if known.iter().all(|t| matches!(t, DataType::BigInt | DataType::Double)) {
                // Mixed integers and doubles: compute in doubles.
                bound = bound.into_iter().map(|e| ScalarExpr::Cast(Box::new(e), DataType::Double)).collect();
                Some(DataType::Double)
            } else if known.windows(2).all(|w| w[0] == w[1]) {
                known.first().copied()
            } else {
                return Err(
                    Error::bind(format!("arguments of {name}() have different types")).with_span(span)
                );
            }
        }
    };
    Ok((ScalarExpr::Call(func, bound), result))
}

/// The aggregate function `name` names, if any.
fn aggregate_named(name: &str) -> Option<AggregateFunc> {
    Some(match name.to_lowercase().as_str() {
        "count" => AggregateFunc::Count,
        "sum" => AggregateFunc::Sum,
        "min" => AggregateFunc::Min,
        "max" => AggregateFunc::Max,
        "avg" => AggregateFunc::Avg,
        _ => return None,
    })
}

/// Whether `expr` calls an aggregate anywhere (so the query aggregates).
fn calls_aggregate(expr: &Expr) -> bool {
    match expr {
        Expr::Function(function) => {
            aggregate_named(&function.name.to_string()).is_some()
                || function_args(function, Span::empty())
                    .is_ok_and(|(args, _)| args.into_iter().any(calls_aggregate))
        }
        Expr::Nested(inner)
        | Expr::UnaryOp { expr: inner, .. }
        | Expr::IsNull(inner)
        | Expr::IsNotNull(inner)
        | Expr::Cast { expr: inner, .. } => calls_aggregate(inner),
        Expr::BinaryOp { left, right, .. } => calls_aggregate(left) || calls_aggregate(right),
        _ => false,
    }
}

/// A bound `CREATE SOURCE`.
pub fn bind_create_source(catalog: &Catalog, stmt: &ast::CreateSource, id: ObjectId) -> Result<SourceDesc> {
    let name = stmt.name.value.to_lowercase();
    if catalog.get(&name).is_some() {
        return Err(Error::bind(format!("\"{name}\" already exists")).with_span(stmt.name.span));
    }
    let mut columns: Vec<Column> = Vec::new();
    for def in &stmt.columns {
        let column = def.name.value.to_lowercase();
        if columns.iter().any(|c| c.name == column) {
            return Err(
                Error::bind(format!("column \"{column}\" is declared twice")).with_span(def.name.span)
            );
        }
        columns.push(Column::new(column, def.data_type));
    }
    let time_name = stmt.time_column.value.to_lowercase();
    let Some(time_column) = columns.iter().position(|c| c.name == time_name) else {
        return Err(Error::bind(format!("TIME column \"{time_name}\" is not a column of \"{name}\""))
            .with_span(stmt.time_column.span));
    };
    if columns[time_column].data_type != DataType::BigInt {
        return Err(Error::bind(format!(
            "TIME column \"{time_name}\" must be BIGINT, not {}",
            columns[time_column].data_type
        ))
        .with_span(stmt.time_column.span));
    }
    Ok(SourceDesc {
        id,
        name,
        columns,
        time_column,
        lateness: match &stmt.lateness {
            Some(lateness) => at_most("LATENESS", lateness, MAX_TIME)?,
            None => 0,
        },
        keep_history: matches!(stmt.history, ast::History::KeepAll),
        generator: None,
    })
}

/// A bound `CREATE SOURCE ... FROM GENERATOR`: its columns come from the generator, TIME is
/// `ts`, and it keeps no history.
pub fn bind_create_generated(
    catalog: &Catalog,
    stmt: &ast::CreateGenerated,
    id: ObjectId,
) -> Result<SourceDesc> {
    let name = stmt.name.value.to_lowercase();
    if catalog.get(&name).is_some() {
        return Err(Error::bind(format!("\"{name}\" already exists")).with_span(stmt.name.span));
    }
    let options: Vec<(String, u64, Span)> =
        stmt.options.iter().map(|(k, v)| (k.value.clone(), v.value, k.span.union(&v.span))).collect();
    let generator = crate::generator::Generator::new(&stmt.generator.value, stmt.generator.span, &options)?;
    let columns = generator.columns();
    Ok(SourceDesc {
        id,
        name,
        time_column: columns.len() - 1,
        columns,
        lateness: 0,
        keep_history: false,
        generator: Some(generator),
    })
}

/// The one relation a query reads, with its alias.
struct From<'a> {
    object: &'a Object,
    scope: Scope,
    span: Span,
}

fn bind_from<'a>(catalog: &'a Catalog, select: &sql::Select, span: Span) -> Result<From<'a>> {
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
    let TableFactor::Table { name, alias, .. } = &table.relation else {
        return Err(Error::bind("FROM must name a source or view").with_span(table.relation.span()));
    };
    let object_name = name.to_string().to_lowercase();
    let Some(object) = catalog.get(&object_name) else {
        return Err(Error::bind(format!("source or view \"{object_name}\" not found")).with_span(name.span()));
    };
    let scope = Scope::of(object.name(), alias.as_ref().map(|a| a.name.value.as_str()), object.columns());
    Ok(From { object, scope, span: name.span() })
}

/// What a view reads: one source or view, or a chain of inner equi-joins of them.
struct ViewInput {
    plan: Plan,
    scope: Scope,
    /// Every source or view named.
    reads: Vec<ObjectId>,
}

fn relation_plan(catalog: &Catalog, relation: &TableFactor) -> Result<(Plan, Scope, ObjectId)> {
    let TableFactor::Table { name, alias, .. } = relation else {
        return Err(Error::bind("FROM must name a source or view").with_span(relation.span()));
    };
    let object_name = name.to_string().to_lowercase();
    let Some(object) = catalog.get(&object_name) else {
        return Err(Error::bind(format!("source or view \"{object_name}\" not found")).with_span(name.span()));
    };
    let scope = Scope::of(object.name(), alias.as_ref().map(|a| a.name.value.as_str()), object.columns());
    let plan = match object {
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
    };
    Ok((plan, scope, object.id()))
}

fn bind_view_input(catalog: &Catalog, select: &sql::Select, span: Span) -> Result<ViewInput> {
    let [table] = select.from.as_slice() else {
        return Err(if select.from.is_empty() {
            Error::bind("a view needs FROM a source or view").with_span(span)
        } else {
            Error::bind("a comma between relations is not supported; use JOIN ... ON")
                .with_span(select.from[1].relation.span())
        });
    };
    let (mut plan, mut scope, first) = relation_plan(catalog, &table.relation)?;
    let mut reads = vec![first];
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
        let (right, right_scope, id) = relation_plan(catalog, &join.relation)?;
        reads.push(id);
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
    Ok(ViewInput { plan, scope, reads })
}

/// The conjuncts of an AND tree.
fn conjuncts(expr: ScalarExpr) -> Vec<ScalarExpr> {
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
fn split_equality(
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

fn select_of(query: &sql::Query) -> Result<&sql::Select> {
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
fn bind_projection(
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
                    SelectItem::ExprWithAlias { alias, .. } => alias.value.to_lowercase(),
                    _ => match strip_nested(expr) {
                        Expr::Identifier(ident) => ident.value.to_lowercase(),
                        Expr::CompoundIdentifier(parts) => {
                            parts.last().map(|p| p.value.to_lowercase()).unwrap_or_default()
                        }
                        Expr::Function(f) => f.name.to_string().to_lowercase(),
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

fn bind_where(select: &sql::Select, scope: &Scope) -> Result<Option<ScalarExpr>> {
    let Some(selection) = &select.selection else { return Ok(None) };
    let (e, t) = bind_expr(selection, scope, None)?;
    if !matches!(t, None | Some(DataType::Boolean)) {
        return Err(
            Error::bind(format!("WHERE must be BOOLEAN, not {}", type_name(t))).with_span(selection.span())
        );
    }
    Ok(Some(e))
}

fn reject_unsupported_clauses(query: &sql::Query, in_view: bool) -> Result<()> {
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

/// The position of the TIME column in the rows `plan` produces, if they carry it unchanged.
fn time_column(plan: &Plan, catalog: &Catalog) -> Option<usize> {
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
    let name = stmt.name.value.to_lowercase();
    if catalog.get(&name).is_some() {
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
        return Ok((project(plan, exprs, columns), input.reads));
    };
    let (exprs, columns) = bind_projection(select, &input.scope, Some(&mut aggregation))?;
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

/// `plan` projected to `exprs`, or `plan` renamed when the projection is the identity.
fn project(mut plan: Plan, exprs: Vec<ScalarExpr>, columns: Vec<Column>) -> Plan {
    let identity = exprs.len() == plan.columns.len()
        && exprs.iter().enumerate().all(|(i, e)| *e == ScalarExpr::Column(i));
    if identity {
        plan.columns = columns;
        plan
    } else {
        Plan { node: PlanNode::Project { input: Box::new(plan), exprs }, columns }
    }
}

/// The name of the input under `plan` that can retract rows (`plan` is not append-only).
fn retracting_input(plan: &Plan) -> String {
    match &plan.node {
        PlanNode::View { name, .. } => name.clone(),
        PlanNode::Filter { input, .. } | PlanNode::Project { input, .. } => retracting_input(input),
        PlanNode::Join(join) if !join.left.is_append_only() => retracting_input(&join.left),
        PlanNode::Join(join) => retracting_input(&join.right),
        _ => plan.label().trim_start_matches('(').trim_end_matches(')').to_string(),
    }
}

fn refuse_retracting(plan: &Plan, span: Span) -> Result<()> {
    if plan.is_append_only() {
        return Ok(());
    }
    Err(Error::bind(format!("RETAIN needs an append-only input, but \"{}\" can retract rows", retracting_input(plan)))
        .with_span(span)
        .with_note("a retention rule drops the rows it no longer needs, assuming that dropping them never changes its output; that holds only when its input never retracts")
        .with_hint("apply the rule to the source directly"))
}

/// The rule over the input (with `WHERE` applied as the rule needs it).
fn bind_rule(
    catalog: &Catalog,
    retain: &ast::Retain,
    plan: Plan,
    predicate: Option<ScalarExpr>,
    input: &ViewInput,
) -> Result<Plan> {
    refuse_retracting(&plan, retain.span)?;
    let delay = match &retain.delay {
        Some(delay) => at_most("DELAY", delay, MAX_TIME)?,
        None => 1,
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
fn two_input_join(
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
            _ => {
                return Err(Error::bind(format!("RETAIN {rule} needs an inner equi-join of two inputs"))
                    .with_span(span)
                    .with_hint("write FROM a JOIN b ON b.k = a.k"));
            }
        }
    }
}

/// `plan` filtered by `predicate`, if there is one.
fn filtered(plan: Plan, predicate: Option<ScalarExpr>) -> Plan {
    match predicate {
        Some(predicate) => Plan {
            columns: plan.columns.clone(),
            node: PlanNode::Filter { input: Box::new(plan), predicate },
        },
        None => plan,
    }
}

/// `plan` under a LATEST or TOP rule, with its feedback on.
fn retained(plan: Plan, rule: RetainRule, delay: u64) -> Plan {
    Plan {
        columns: plan.columns.clone(),
        node: PlanNode::Retain { input: Box::new(plan), rule, delay, feedback: true },
    }
}

fn bind_keys(per: &[Expr], scope: &Scope) -> Result<Vec<ScalarExpr>> {
    per.iter().map(|e| bind_expr(e, scope, None).map(|(e, _)| e)).collect()
}

fn group_by_of(select: &sql::Select) -> Result<Vec<Expr>> {
    match &select.group_by {
        GroupByExpr::Expressions(exprs, modifiers) if modifiers.is_empty() => Ok(exprs.clone()),
        other => Err(Error::bind("GROUP BY ALL is not supported").with_span(other.span())),
    }
}

/// The aggregation context, when the select groups or calls an aggregate, with the bound
/// group keys.
fn bind_aggregation(
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
                Expr::Identifier(ident) => columns.iter().position(|c| c.name == ident.value.to_lowercase()),
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

/// Bind `INSERT` values: one typed row per VALUES tuple, in the source's column order.
pub fn bind_insert(source: &SourceDesc, stmt: &ast::Insert) -> Result<Vec<Vec<Datum>>> {
    let positions: Vec<usize> = if stmt.columns.is_empty() {
        (0..source.columns.len()).collect()
    } else {
        let mut positions = Vec::new();
        for ident in &stmt.columns {
            let name = ident.value.to_lowercase();
            let Some(p) = source.columns.iter().position(|c| c.name == name) else {
                return Err(Error::bind(format!("column \"{name}\" not found in \"{}\"", source.name))
                    .with_span(ident.span));
            };
            if positions.contains(&p) {
                return Err(Error::bind(format!("column \"{name}\" is named twice")).with_span(ident.span));
            }
            positions.push(p);
        }
        positions
    };
    let mut rows = Vec::with_capacity(stmt.rows.len());
    for values in &stmt.rows {
        if values.len() != positions.len() {
            let span = match (values.first(), values.last()) {
                (Some(first), Some(last)) => first.span().union(&last.span()),
                _ => Span::empty(),
            };
            return Err(Error::bind(format!("expected {} values, found {}", positions.len(), values.len()))
                .with_span(span));
        }
        let mut row = vec![Datum::Null; source.columns.len()];
        for (value, &p) in values.iter().zip(&positions) {
            let (e, t) = bind_expr(value, &Scope::default(), None).map_err(|e| {
                if e.message().contains("not found") {
                    Error::bind("VALUES must be constants").with_span(value.span())
                } else {
                    e
                }
            })?;
            let column = &source.columns[p];
            row[p] = coerce(e.eval(&[]), t, column).map_err(|e| e.with_span(value.span()))?;
        }
        rows.push(row);
    }
    Ok(rows)
}

/// Fit a value of type `from` into `column`: integers widen to doubles; nothing else converts.
pub fn coerce(datum: Datum, from: Type, column: &Column) -> Result<Datum> {
    match (datum, from, column.data_type) {
        (Datum::Null, _, _) => Ok(Datum::Null),
        (Datum::Int(i), _, DataType::Double) => Ok(Datum::Double(i as f64)),
        (d, Some(t), want) if t == want => Ok(d),
        (d, _, want) => Err(Error::data(format!(
            "value {d} has type {}, but column \"{}\" is {want}",
            type_name(from),
            column.name
        ))),
    }
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
