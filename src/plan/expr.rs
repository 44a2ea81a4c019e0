//! Scalar expressions: bound, typed, and total.
//!
//! A [`ScalarExpr`] refers to input columns by position and has a type fixed at bind time.
//! Evaluation never fails: division or remainder by zero, integer overflow and casts of text
//! that is not a number yield NULL. That is what lets expressions run inside dataflows,
//! which have no error path.

use std::fmt;

use crate::repr::{DataType, Datum};

/// A unary operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum UnaryOp {
    /// `NOT e`
    Not,
    /// `-e`
    Negate,
}

/// A binary operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum BinaryOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Mod,
    /// `=`
    Eq,
    /// `<>`
    NotEq,
    /// `<`
    Lt,
    /// `<=`
    LtEq,
    /// `>`
    Gt,
    /// `>=`
    GtEq,
    /// `AND`
    And,
    /// `OR`
    Or,
    /// `||`
    Concat,
}

impl BinaryOp {
    /// The operator as SQL spells it.
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Mod => "%",
            BinaryOp::Eq => "=",
            BinaryOp::NotEq => "<>",
            BinaryOp::Lt => "<",
            BinaryOp::LtEq => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::GtEq => ">=",
            BinaryOp::And => "AND",
            BinaryOp::Or => "OR",
            BinaryOp::Concat => "||",
        }
    }
}

/// A scalar function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Function {
    /// `abs(n)`
    Abs,
    /// `round(n)`
    Round,
    /// `floor(n)`
    Floor,
    /// `ceil(n)`
    Ceil,
    /// `sqrt(n)`
    Sqrt,
    /// `lower(s)`
    Lower,
    /// `upper(s)`
    Upper,
    /// `length(s)`
    Length,
    /// `trim(s)`: without leading and trailing spaces (as PostgreSQL's, other whitespace stays)
    Trim,
    /// `coalesce(a, b, ...)`
    Coalesce,
    /// `nullif(a, b)`
    NullIf,
    /// `greatest(a, b, ...)`
    Greatest,
    /// `least(a, b, ...)`
    Least,
}

impl Function {
    /// Look a function up by its (case-insensitive) name.
    pub fn by_name(name: &str) -> Option<Function> {
        Some(match name.to_ascii_lowercase().as_str() {
            "abs" => Function::Abs,
            "round" => Function::Round,
            "floor" => Function::Floor,
            "ceil" | "ceiling" => Function::Ceil,
            "sqrt" => Function::Sqrt,
            "lower" => Function::Lower,
            "upper" => Function::Upper,
            "length" | "char_length" => Function::Length,
            "trim" => Function::Trim,
            "coalesce" => Function::Coalesce,
            "nullif" => Function::NullIf,
            "greatest" => Function::Greatest,
            "least" => Function::Least,
            _ => return None,
        })
    }

    /// The function's name.
    pub fn name(self) -> &'static str {
        match self {
            Function::Abs => "abs",
            Function::Round => "round",
            Function::Floor => "floor",
            Function::Ceil => "ceil",
            Function::Sqrt => "sqrt",
            Function::Lower => "lower",
            Function::Upper => "upper",
            Function::Length => "length",
            Function::Trim => "trim",
            Function::Coalesce => "coalesce",
            Function::NullIf => "nullif",
            Function::Greatest => "greatest",
            Function::Least => "least",
        }
    }
}

/// A bound scalar expression over one input row.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum ScalarExpr {
    /// The input column at this position.
    Column(usize),
    /// A constant.
    Literal(Datum),
    /// A unary operator.
    Unary(UnaryOp, Box<ScalarExpr>),
    /// A binary operator.
    Binary(BinaryOp, Box<ScalarExpr>, Box<ScalarExpr>),
    /// `e IS NULL` (or `IS NOT NULL` when the flag is set).
    IsNull(Box<ScalarExpr>, bool),
    /// `CAST(e AS type)`.
    Cast(Box<ScalarExpr>, DataType),
    /// A function call.
    Call(Function, Vec<ScalarExpr>),
}

impl ScalarExpr {
    /// Evaluate against `row`. Total: see the module docs.
    pub fn eval(&self, row: &[Datum]) -> Datum {
        match self {
            ScalarExpr::Column(i) => row[*i].clone(),
            ScalarExpr::Literal(d) => d.clone(),
            ScalarExpr::Unary(op, e) => match (op, e.eval(row)) {
                (UnaryOp::Not, Datum::Bool(b)) => Datum::Bool(!b),
                (UnaryOp::Negate, Datum::Int(i)) => i.checked_neg().map_or(Datum::Null, Datum::Int),
                (UnaryOp::Negate, Datum::Double(d)) => Datum::Double(-d),
                _ => Datum::Null,
            },
            ScalarExpr::Binary(op, l, r) => eval_binary(*op, l, r, row),
            ScalarExpr::IsNull(e, negated) => Datum::Bool(e.eval(row).is_null() != *negated),
            ScalarExpr::Cast(e, ty) => cast(e.eval(row), *ty),
            ScalarExpr::Call(f, args) => eval_call(*f, args, row),
        }
    }

    /// Whether the expression is true for `row` (NULL counts as false).
    pub fn is_true(&self, row: &[Datum]) -> bool {
        matches!(self.eval(row), Datum::Bool(true))
    }

    /// The columns this expression reads.
    pub fn columns(&self, out: &mut Vec<usize>) {
        match self {
            ScalarExpr::Column(i) => out.push(*i),
            ScalarExpr::Literal(_) => {}
            ScalarExpr::Unary(_, e) | ScalarExpr::IsNull(e, _) | ScalarExpr::Cast(e, _) => e.columns(out),
            ScalarExpr::Binary(_, l, r) => {
                l.columns(out);
                r.columns(out);
            }
            ScalarExpr::Call(_, args) => args.iter().for_each(|a| a.columns(out)),
        }
    }

    /// The expression with every column reference renumbered through `map`.
    pub fn remap(&self, map: &impl Fn(usize) -> usize) -> ScalarExpr {
        match self {
            ScalarExpr::Column(i) => ScalarExpr::Column(map(*i)),
            ScalarExpr::Literal(d) => ScalarExpr::Literal(d.clone()),
            ScalarExpr::Unary(op, e) => ScalarExpr::Unary(*op, Box::new(e.remap(map))),
            ScalarExpr::Binary(op, l, r) => {
                ScalarExpr::Binary(*op, Box::new(l.remap(map)), Box::new(r.remap(map)))
            }
            ScalarExpr::IsNull(e, n) => ScalarExpr::IsNull(Box::new(e.remap(map)), *n),
            ScalarExpr::Cast(e, ty) => ScalarExpr::Cast(Box::new(e.remap(map)), *ty),
            ScalarExpr::Call(f, args) => ScalarExpr::Call(*f, args.iter().map(|a| a.remap(map)).collect()),
        }
    }

    /// Display with column names from `names`.
    pub fn display<'a>(&'a self, names: &'a [String]) -> impl fmt::Display + 'a {
        DisplayExpr { expr: self, names }
    }
}

struct DisplayExpr<'a> {
    expr: &'a ScalarExpr,
    names: &'a [String],
}

impl fmt::Display for DisplayExpr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = self.names;
        let sub = |e: &'_ ScalarExpr| DisplayExpr { expr: e, names }.to_string();
        match self.expr {
            ScalarExpr::Column(i) => match self.names.get(*i) {
                Some(name) => f.write_str(name),
                None => write!(f, "#{i}"),
            },
            ScalarExpr::Literal(Datum::Text(s)) => write!(f, "'{}'", s.replace('\'', "''")),
            ScalarExpr::Literal(d) => write!(f, "{d}"),
            ScalarExpr::Unary(UnaryOp::Not, e) => write!(f, "NOT {}", sub(e)),
            ScalarExpr::Unary(UnaryOp::Negate, e) => write!(f, "-{}", sub(e)),
            ScalarExpr::Binary(op, l, r) => write!(f, "({} {} {})", sub(l), op.symbol(), sub(r)),
            ScalarExpr::IsNull(e, false) => write!(f, "{} IS NULL", sub(e)),
            ScalarExpr::IsNull(e, true) => write!(f, "{} IS NOT NULL", sub(e)),
            ScalarExpr::Cast(e, ty) => write!(f, "CAST({} AS {ty})", sub(e)),
            ScalarExpr::Call(func, args) => {
                write!(f, "{}(", func.name())?;
                for (i, a) in args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{}", sub(a))?;
                }
                f.write_str(")")
            }
        }
    }
}

fn eval_binary(op: BinaryOp, l: &ScalarExpr, r: &ScalarExpr, row: &[Datum]) -> Datum {
    use BinaryOp::*;
    // Three-valued logic needs to see NULLs, so AND and OR come before the NULL short cut.
    if let And | Or = op {
        let (a, b) = (l.eval(row).as_bool(), r.eval(row).as_bool());
        return match (op, a, b) {
            (And, Some(false), _) | (And, _, Some(false)) => Datum::Bool(false),
            (And, Some(true), Some(true)) => Datum::Bool(true),
            (Or, Some(true), _) | (Or, _, Some(true)) => Datum::Bool(true),
            (Or, Some(false), Some(false)) => Datum::Bool(false),
            _ => Datum::Null,
        };
    }
    let (a, b) = (l.eval(row), r.eval(row));
    if a.is_null() || b.is_null() {
        return Datum::Null;
    }
    match op {
        Eq | NotEq | Lt | LtEq | Gt | GtEq => {
            let ordering = match (&a, &b) {
                (Datum::Int(_), Datum::Double(_)) | (Datum::Double(_), Datum::Int(_)) => {
                    let (x, y) = (a.as_f64().unwrap_or(0.0), b.as_f64().unwrap_or(0.0));
                    Datum::Double(x).cmp(&Datum::Double(y))
                }
                _ => a.cmp(&b),
            };
            Datum::Bool(match op {
                Eq => ordering.is_eq(),
                NotEq => ordering.is_ne(),
                Lt => ordering.is_lt(),
                LtEq => ordering.is_le(),
                Gt => ordering.is_gt(),
                _ => ordering.is_ge(),
            })
        }
        Concat => Datum::Text(format!("{a}{b}")),
        Add | Sub | Mul | Div | Mod => match (&a, &b) {
            (Datum::Int(x), Datum::Int(y)) => {
                let result = match op {
                    Add => x.checked_add(*y),
                    Sub => x.checked_sub(*y),
                    Mul => x.checked_mul(*y),
                    Div => x.checked_div(*y),
                    _ => x.checked_rem(*y),
                };
                result.map_or(Datum::Null, Datum::Int)
            }
            _ => match (a.as_f64(), b.as_f64()) {
                (Some(x), Some(y)) => match op {
                    Add => Datum::Double(x + y),
                    Sub => Datum::Double(x - y),
                    Mul => Datum::Double(x * y),
                    _ if y == 0.0 => Datum::Null,
                    Div => Datum::Double(x / y),
                    _ => Datum::Double(x % y),
                },
                _ => Datum::Null,
            },
        },
        And | Or => unreachable!("handled above"),
    }
}

/// Convert `datum` to `ty`; NULL when it does not convert.
pub fn cast(datum: Datum, ty: DataType) -> Datum {
    match (datum, ty) {
        (Datum::Null, _) => Datum::Null,
        (d @ Datum::Int(_), DataType::BigInt)
        | (d @ Datum::Double(_), DataType::Double)
        | (d @ Datum::Text(_), DataType::Text)
        | (d @ Datum::Bool(_), DataType::Boolean) => d,
        (Datum::Int(i), DataType::Double) => Datum::Double(i as f64),
        (Datum::Double(d), DataType::BigInt) => {
            let rounded = d.round();
            if rounded.is_finite() && rounded >= i64::MIN as f64 && rounded < i64::MAX as f64 {
                Datum::Int(rounded as i64)
            } else {
                Datum::Null
            }
        }
        (Datum::Bool(b), DataType::BigInt) => Datum::Int(b as i64),
        (Datum::Int(i), DataType::Boolean) => Datum::Bool(i != 0),
        (d, DataType::Text) => Datum::Text(d.to_string()),
        (Datum::Text(s), DataType::BigInt) => s.trim().parse().map_or(Datum::Null, Datum::Int),
        (Datum::Text(s), DataType::Double) => s.trim().parse().map_or(Datum::Null, Datum::Double),
        (Datum::Text(s), DataType::Boolean) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "t" | "yes" | "1" => Datum::Bool(true),
            "false" | "f" | "no" | "0" => Datum::Bool(false),
            _ => Datum::Null,
        },
        (Datum::Bool(b), DataType::Double) => Datum::Double(b as i64 as f64),
        (Datum::Double(_), DataType::Boolean) => Datum::Null,
    }
}

fn eval_call(f: Function, args: &[ScalarExpr], row: &[Datum]) -> Datum {
    let mut values = args.iter().map(|a| a.eval(row));
    match f {
        Function::Coalesce => values.find(|d| !d.is_null()).unwrap_or(Datum::Null),
        Function::Greatest | Function::Least => {
            let present = values.filter(|d| !d.is_null());
            let best = if f == Function::Greatest { present.max() } else { present.min() };
            best.unwrap_or(Datum::Null)
        }
        Function::NullIf => {
            let a = values.next().unwrap_or(Datum::Null);
            let b = values.next().unwrap_or(Datum::Null);
            if !b.is_null() && a == b { Datum::Null } else { a }
        }
        _ => match (f, values.next().unwrap_or(Datum::Null)) {
            (Function::Abs, Datum::Int(i)) => i.checked_abs().map_or(Datum::Null, Datum::Int),
            (Function::Abs, Datum::Double(d)) => Datum::Double(d.abs()),
            (Function::Round | Function::Floor | Function::Ceil, i @ Datum::Int(_)) => i,
            (Function::Round, Datum::Double(d)) => Datum::Double(d.round()),
            (Function::Floor, Datum::Double(d)) => Datum::Double(d.floor()),
            (Function::Ceil, Datum::Double(d)) => Datum::Double(d.ceil()),
            (Function::Sqrt, d) => match d.as_f64() {
                Some(x) if x >= 0.0 => Datum::Double(x.sqrt()),
                _ => Datum::Null,
            },
            (Function::Lower, Datum::Text(s)) => Datum::Text(s.to_lowercase()),
            (Function::Upper, Datum::Text(s)) => Datum::Text(s.to_uppercase()),
            (Function::Trim, Datum::Text(s)) => Datum::Text(s.trim_matches(' ').to_string()),
            (Function::Length, Datum::Text(s)) => Datum::Int(s.chars().count() as i64),
            _ => Datum::Null,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(d: Datum) -> Box<ScalarExpr> {
        Box::new(ScalarExpr::Literal(d))
    }

    #[test]
    fn arithmetic_is_total() {
        let div = ScalarExpr::Binary(BinaryOp::Div, lit(Datum::Int(1)), lit(Datum::Int(0)));
        assert!(div.eval(&[]).is_null());
        let overflow = ScalarExpr::Binary(BinaryOp::Add, lit(Datum::Int(i64::MAX)), lit(Datum::Int(1)));
        assert!(overflow.eval(&[]).is_null());
        let mixed = ScalarExpr::Binary(BinaryOp::Mul, lit(Datum::Int(2)), lit(Datum::Double(1.5)));
        assert_eq!(mixed.eval(&[]), Datum::Double(3.0));
    }

    #[test]
    fn three_valued_logic() {
        let and = ScalarExpr::Binary(BinaryOp::And, lit(Datum::Null), lit(Datum::Bool(false)));
        assert_eq!(and.eval(&[]), Datum::Bool(false));
        let or = ScalarExpr::Binary(BinaryOp::Or, lit(Datum::Null), lit(Datum::Bool(false)));
        assert!(or.eval(&[]).is_null());
    }

    fn call(f: Function, args: &[Datum]) -> Datum {
        ScalarExpr::Call(f, args.iter().map(|d| ScalarExpr::Literal(d.clone())).collect()).eval(&[])
    }

    /// Every scalar function `docs/language.md` documents, by the name it is written with.
    #[test]
    fn documented_functions() {
        let f = |name: &str| Function::by_name(name).unwrap_or_else(|| panic!("{name} is a function"));
        let text = |s: &str| Datum::Text(s.to_string());
        assert_eq!(call(f("abs"), &[Datum::Int(-3)]), Datum::Int(3));
        assert_eq!(call(f("abs"), &[Datum::Double(-2.5)]), Datum::Double(2.5));
        assert!(call(f("abs"), &[Datum::Int(i64::MIN)]).is_null());
        assert_eq!(call(f("round"), &[Datum::Double(-2.4)]), Datum::Double(-2.0));
        assert_eq!(call(f("floor"), &[Datum::Double(-2.4)]), Datum::Double(-3.0));
        assert_eq!(call(f("ceil"), &[Datum::Double(-2.4)]), Datum::Double(-2.0));
        assert_eq!(call(f("CEILING"), &[Datum::Double(2.1)]), Datum::Double(3.0));
        assert_eq!(call(f("floor"), &[Datum::Int(7)]), Datum::Int(7));
        assert_eq!(call(f("sqrt"), &[Datum::Int(9)]), Datum::Double(3.0));
        assert!(call(f("sqrt"), &[Datum::Double(-1.0)]).is_null());
        assert_eq!(call(f("lower"), &[text("AbC")]), text("abc"));
        assert_eq!(call(f("upper"), &[text("AbC")]), text("ABC"));
        assert_eq!(call(f("length"), &[text("héllo")]), Datum::Int(5));
        assert_eq!(call(f("trim"), &[text("  a b \t ")]), text("a b \t"));
        assert_eq!(call(f("coalesce"), &[Datum::Null, Datum::Int(2), Datum::Int(3)]), Datum::Int(2));
        assert!(call(f("nullif"), &[Datum::Int(2), Datum::Int(2)]).is_null());
        assert_eq!(call(f("nullif"), &[Datum::Int(2), Datum::Int(3)]), Datum::Int(2));
        assert_eq!(call(f("greatest"), &[Datum::Int(2), Datum::Null, Datum::Int(5)]), Datum::Int(5));
        assert_eq!(call(f("least"), &[Datum::Int(2), Datum::Null, Datum::Int(5)]), Datum::Int(2));
        assert!(call(f("lower"), &[Datum::Null]).is_null());
    }

    #[test]
    fn casts() {
        assert_eq!(cast(Datum::Text(" 42 ".into()), DataType::BigInt), Datum::Int(42));
        assert!(cast(Datum::Text("x".into()), DataType::Double).is_null());
        assert_eq!(cast(Datum::Double(2.5), DataType::Text), Datum::Text("2.5".into()));
    }
}
