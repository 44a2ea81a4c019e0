//! Expressions: sqlparser's [`Expr`] in, a typed [`ScalarExpr`] out. Names resolve against a
//! [`Scope`]; operators and functions type-check; aggregates are collected into an
//! [`Aggregation`] where a statement allows them. Evaluation is total (see `plan::expr`).

use super::*;

/// Aggregation context: group keys (as written) and the aggregates found so far.
pub(super) struct Aggregation {
    pub(super) group_by: Vec<Expr>,
    pub(super) group_types: Vec<Type>,
    pub(super) aggregates: Vec<(AggregateExpr, Expr)>,
    pub(super) aggregate_types: Vec<Type>,
}

/// Bind `expr` over `scope`; with `aggregation`, aggregate calls and group keys become
/// columns of the aggregated row (group keys, then aggregates).
pub(super) fn bind_expr(
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
            if let Some(min) = negative_bigint_literal(op, inner) {
                return Ok((ScalarExpr::Literal(Datum::Int(min)), Some(DataType::BigInt)));
            }
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
        // sqlparser gives `trim`, `floor` and `ceil` nodes of their own (for their SQL-standard
        // forms); the plain one-argument calls are the scalar functions of the same name.
        Expr::Trim { expr: inner, trim_where: None, trim_what: None, trim_characters: None } => {
            bind_call(Function::Trim, "trim", &[inner.as_ref()], scope, aggregation, span)
        }
        Expr::Floor {
            expr: inner,
            field: sql::CeilFloorKind::DateTimeField(sql::DateTimeField::NoDateTime),
        } => bind_call(Function::Floor, "floor", &[inner.as_ref()], scope, aggregation, span),
        Expr::Ceil {
            expr: inner,
            field: sql::CeilFloorKind::DateTimeField(sql::DateTimeField::NoDateTime),
        } => bind_call(Function::Ceil, "ceil", &[inner.as_ref()], scope, aggregation, span),
        Expr::Trim { .. } => Err(Error::bind(format!("\"{expr}\" is not supported"))
            .with_span(span)
            .with_hint("only trim(s) is: it removes leading and trailing spaces")),
        Expr::Floor { .. } | Expr::Ceil { .. } => Err(Error::bind(format!("\"{expr}\" is not supported"))
            .with_span(span)
            .with_hint("floor(n) and ceil(n) take one number")),
        other => Err(Error::bind(format!("expression \"{other}\" is not supported")).with_span(span)),
    }
}

/// `-9223372036854775808`: the one BIGINT whose digits alone do not fit a BIGINT.
pub(super) fn negative_bigint_literal(op: &UnaryOperator, inner: &Expr) -> Option<i64> {
    let (UnaryOperator::Minus, Expr::Value(value)) = (op, strip_nested(inner)) else { return None };
    let Value::Number(digits, _) = &value.value else { return None };
    if digits.parse::<i64>().is_ok() {
        return None;
    }
    format!("-{digits}").parse().ok()
}

pub(super) fn strip_nested(expr: &Expr) -> &Expr {
    match expr {
        Expr::Nested(inner) => strip_nested(inner),
        other => other,
    }
}

pub(super) fn bind_value(value: &Value, span: Span) -> Result<(Datum, Type)> {
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

pub(super) fn bind_binary(
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

pub(super) fn function_args(function: &sql::Function, span: Span) -> Result<(Vec<&Expr>, bool)> {
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

pub(super) fn bind_function(
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
    bind_call(func, &name, &args, scope, aggregation, span)
}

/// Bind a call of the scalar function `func` (written `name`) with `args`.
pub(super) fn bind_call(
    func: Function,
    name: &str,
    args: &[&Expr],
    scope: &Scope,
    mut aggregation: Option<&mut Aggregation>,
    span: Span,
) -> Result<(ScalarExpr, Type)> {
    let mut bound = Vec::new();
    let mut types = Vec::new();
    for arg in args {
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
pub(super) fn aggregate_named(name: &str) -> Option<AggregateFunc> {
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
pub(super) fn calls_aggregate(expr: &Expr) -> bool {
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
        | Expr::Cast { expr: inner, .. }
        | Expr::Trim { expr: inner, .. }
        | Expr::Floor { expr: inner, .. }
        | Expr::Ceil { expr: inner, .. } => calls_aggregate(inner),
        Expr::BinaryOp { left, right, .. } => calls_aggregate(left) || calls_aggregate(right),
        _ => false,
    }
}
