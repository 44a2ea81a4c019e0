//! How deeply sqlparser's trees nest, checked once, right after parsing.
//!
//! In: a query or an expression sqlparser has just built. Out: nothing, or a parse error when
//! it nests more than [`MAX_DEPTH`] levels. Guaranteed: every tree that passes is at most
//! [`MAX_DEPTH`] expressions (and queries) deep, so every later recursive walk of it, or of
//! the plans bound from it (binding, evaluation, EXPLAIN, printing, dropping), stays within a
//! thread's stack; a tree that fails is taken apart without deep recursion.
//!
//! sqlparser bounds its own recursion (parentheses, subqueries, prefix operators), but a flat
//! chain such as `a AND b AND c …`, `a + b + …` or `SELECT … UNION SELECT … UNION …` is built
//! by a loop into a left-deep tree one level per operator, however long it is. The check walks
//! the tree recursively but stops at the limit, so it never goes deeper than the limit itself.

use std::ops::ControlFlow;

use sqlparser::ast::{Expr, Query, SetExpr, Values, Visit, VisitMut, Visitor, VisitorMut};
use sqlparser::keywords::Keyword;
use sqlparser::tokenizer::{Token, TokenWithSpan};

use crate::error::{Error, Span};

/// The deepest nesting of expressions and queries a statement may have.
pub const MAX_DEPTH: usize = 256;

/// The most operators and keywords a statement may have between two commas at one level of
/// parentheses, counting for each parenthesized part the most its own parts hold, plus one. This
/// bounds how deep a tree sqlparser can build at all, so that it never builds one it could not
/// drop (sqlparser drops a half-built tree by recursion when it meets a syntax error). It is
/// far above what [`MAX_DEPTH`] allows, so it only refuses statements that would fail that
/// check anyway, or nearly so.
const MAX_OPERATORS_PER_LEVEL: usize = 8 * 1024;

/// Check a statement's tokens before sqlparser builds anything from them: `Some(span)` of a
/// run of operators too long to parse safely (see [`MAX_OPERATORS_PER_LEVEL`]), else `None`.
pub(super) fn operator_runs_too_long(tokens: &[TokenWithSpan]) -> Option<Span> {
    /// One level of parentheses: operators in the current comma-separated part, the most any
    /// parenthesized part inside it holds, and where the current part starts.
    struct Level {
        operators: usize,
        inside: usize,
        start: Option<Span>,
    }
    let mut levels = vec![Level { operators: 0, inside: 0, start: None }];
    for token in tokens {
        let weight = match &token.token {
            Token::Whitespace(_) => continue,
            Token::Number(..) | Token::SingleQuotedString(_) => 0,
            Token::Word(word) if word.keyword == Keyword::NoKeyword || word.quote_style.is_some() => 0,
            Token::Comma => {
                if let Some(level) = levels.last_mut() {
                    (level.operators, level.inside, level.start) = (0, 0, None);
                }
                continue;
            }
            Token::LParen | Token::LBracket => {
                levels.push(Level { operators: 0, inside: 0, start: None });
                continue;
            }
            Token::RParen | Token::RBracket => {
                if levels.len() > 1
                    && let Some(closed) = levels.pop()
                    && let Some(level) = levels.last_mut()
                {
                    level.inside = level.inside.max(closed.operators + closed.inside + 1);
                    if level.operators + level.inside > MAX_OPERATORS_PER_LEVEL {
                        return Some(level.start.unwrap_or(token.span).union(&token.span));
                    }
                }
                continue;
            }
            _ => 1,
        };
        let Some(level) = levels.last_mut() else { continue };
        level.operators += weight;
        let start = *level.start.get_or_insert(token.span);
        if level.operators + level.inside > MAX_OPERATORS_PER_LEVEL {
            return Some(start.union(&token.span));
        }
    }
    None
}

/// The error for a statement that nests too deeply, at `span`.
pub(super) fn too_deep(span: Span) -> Error {
    Error::parse(format!("the expression nests more than {MAX_DEPTH} levels deep"))
        .with_span(span)
        .with_note("each operator of a chain such as a AND b AND c nests one level")
        .with_hint("split a long chain with parentheses, (a AND b) AND (c AND d)")
}

/// Whether `node` nests at most [`MAX_DEPTH`] levels.
pub(super) fn within_limit(node: &impl Visit) -> bool {
    Visit::visit(node, &mut Depth { depth: 0 }).is_continue()
}

/// Drop `node` (one that failed [`within_limit`]) without recursing deeper than the limit:
/// subtrees at the limit are cut out and taken apart in turn.
pub(super) fn dismantle<T: VisitMut>(mut node: T) {
    let mut cutter = Cutter { depth: 0, pieces: Vec::new() };
    let _ = VisitMut::visit(&mut node, &mut cutter);
    drop(node);
    while let Some(piece) = cutter.pieces.pop() {
        cutter.depth = 0;
        match piece {
            Piece::Expr(mut expr) => {
                let _ = VisitMut::visit(expr.as_mut(), &mut cutter);
            }
            Piece::SetExpr(mut set) => {
                let _ = VisitMut::visit(set.as_mut(), &mut cutter);
            }
        }
    }
}

/// The maximum depth of set operations (`UNION`, `EXCEPT`, `INTERSECT`) under `body`, counted
/// without recursion; nested queries count on their own.
fn set_operation_depth(body: &SetExpr) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(body, 1)];
    while let Some((node, depth)) = stack.pop() {
        deepest = deepest.max(depth);
        if let SetExpr::SetOperation { left, right, .. } = node {
            stack.push((left, depth + 1));
            stack.push((right, depth + 1));
        }
    }
    deepest
}

/// Counts the nesting of expressions and queries; breaks past the limit.
struct Depth {
    depth: usize,
}

impl Depth {
    fn enter(&mut self, levels: usize) -> ControlFlow<()> {
        self.depth += levels;
        if self.depth > MAX_DEPTH { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
    }
}

impl Visitor for Depth {
    type Break = ();

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        self.enter(set_operation_depth(&query.body))
    }

    fn post_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        self.depth -= set_operation_depth(&query.body);
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, _: &Expr) -> ControlFlow<()> {
        self.enter(1)
    }

    fn post_visit_expr(&mut self, _: &Expr) -> ControlFlow<()> {
        self.depth -= 1;
        ControlFlow::Continue(())
    }
}

/// A subtree cut out of a tree being taken apart.
enum Piece {
    Expr(Box<Expr>),
    SetExpr(Box<SetExpr>),
}

/// Cuts every expression at the limit out of the tree, and every long chain of set
/// operations into its operands, leaving placeholders.
struct Cutter {
    depth: usize,
    pieces: Vec<Piece>,
}

impl VisitorMut for Cutter {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        if matches!(*query.body, SetExpr::SetOperation { .. }) {
            let empty =
                SetExpr::Values(Values { explicit_row: false, value_keyword: false, rows: Vec::new() });
            let mut stack = vec![std::mem::replace(&mut query.body, Box::new(empty))];
            while let Some(node) = stack.pop() {
                match *node {
                    SetExpr::SetOperation { left, right, .. } => {
                        stack.push(left);
                        stack.push(right);
                    }
                    operand => self.pieces.push(Piece::SetExpr(Box::new(operand))),
                }
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        self.depth += 1;
        if self.depth >= MAX_DEPTH {
            let placeholder = Expr::value(sqlparser::ast::Value::Null);
            self.pieces.push(Piece::Expr(Box::new(std::mem::replace(expr, placeholder))));
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, _: &mut Expr) -> ControlFlow<()> {
        self.depth -= 1;
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlparser::dialect::GenericDialect;
    use sqlparser::parser::Parser;

    fn expr(text: &str) -> Expr {
        Parser::new(&GenericDialect {})
            .try_with_sql(text)
            .and_then(|mut p| p.parse_expr())
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn chain(terms: usize, op: &str) -> String {
        vec!["a"; terms].join(&format!(" {op} "))
    }

    #[test]
    fn a_chain_at_the_limit_passes_and_one_past_it_fails() {
        // n terms joined by n - 1 operators nest n levels (the leaves count).
        assert!(within_limit(&expr(&chain(MAX_DEPTH, "AND"))));
        let deep = expr(&chain(MAX_DEPTH + 1, "AND"));
        assert!(!within_limit(&deep));
        dismantle(deep);
    }

    fn tokens(text: &str) -> Vec<TokenWithSpan> {
        sqlparser::tokenizer::Tokenizer::new(&GenericDialect {}, text)
            .tokenize_with_location()
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn operator_runs_are_counted_per_level_between_commas() {
        let long = chain(MAX_OPERATORS_PER_LEVEL + 2, "+");
        let span = operator_runs_too_long(&tokens(&format!("SELECT\n  {long}"))).expect("too long");
        assert_eq!((span.start.line, span.start.column), (1, 1));
        // Many short parts: a long INSERT, a long list.
        let rows = vec!["(-1, 'a', 1 + 2)"; 20_000].join(", ");
        assert_eq!(operator_runs_too_long(&tokens(&format!("INSERT INTO t VALUES {rows}"))), None);
        let list = vec!["-1"; 20_000].join(", ");
        assert_eq!(operator_runs_too_long(&tokens(&format!("SELECT a FROM t WHERE a IN ({list})"))), None);
        // A parenthesized part counts towards the part that holds it.
        let half = chain(MAX_OPERATORS_PER_LEVEL / 2 + 1, "+");
        assert!(operator_runs_too_long(&tokens(&format!("SELECT {half} + ({half})"))).is_some());
        assert_eq!(operator_runs_too_long(&tokens(&format!("SELECT {half}, ({half})"))), None);
    }

    #[test]
    fn a_syntax_error_after_a_long_chain_does_not_overflow() {
        // sqlparser drops what it built so far by recursion: the run must never get that far.
        let text = format!("SELECT k FROM r WHERE {} AND", chain(200_000, "AND"));
        let e = crate::sql::parse(&text).expect_err("too deep");
        assert!(e.message().contains("nests more than"), "{e}");
    }

    #[test]
    fn long_chains_are_refused_and_taken_apart_on_a_small_stack() {
        // 64 KiB of stack: far less than a 100 000-deep tree needs to be walked or dropped.
        std::thread::Builder::new()
            .stack_size(64 << 10)
            .spawn(|| {
                for op in ["AND", "OR", "+", "||", "*"] {
                    let text = chain(100_000, op);
                    let tree = Parser::new(&GenericDialect {})
                        .try_with_sql(&text)
                        .and_then(|mut p| p.parse_expr())
                        .unwrap_or_else(|e| panic!("{e}"));
                    assert!(!within_limit(&tree), "{op}");
                    dismantle(tree);
                }
            })
            .expect("thread")
            .join()
            .expect("no stack overflow");
    }
}
