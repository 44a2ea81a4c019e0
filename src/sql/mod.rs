//! The language: text in, statements out.
//!
//! **Input:** the text of a whole script (or one REPL entry): statements separated by `;`,
//! with `--` and `/* */` comments anywhere. The normative grammar is `grammar/ebb.ebnf`.
//!
//! **Output:** [`parse`] returns a `Vec<`[`Statement`]`>` in script order. Ebb's own statements
//! (`CREATE SOURCE`, `CREATE VIEW ... RETAIN`, `COPY`, `ADVANCE TO`, `EXPLAIN VIEW`, `SHOW`,
//! `DROP`, `SET`, and `INSERT ... VALUES`) get their own nodes in [`ast`]; reads are sqlparser's
//! [`Query`], and every expression is sqlparser's [`Expr`]. sqlparser is wrapped, never forked:
//! its tokenizer reads the text once, and its parser reads queries and expressions.
//!
//! **Guarantees:**
//! - Only syntax is checked here; names, types and rule soundness are the binder's business.
//! - Parsing never panics, whatever the input; the first error stops it and is a
//!   [`Stage::Parse`](crate::error::Stage::Parse) [`Error`](crate::Error) with a lowercase
//!   message and the span of the offending token.
//! - Every span (of a statement, an identifier, an expression, a literal) is in lines and
//!   columns of the whole text given to [`parse`], so a multi-statement file reports true lines.
//! - A `;` always ends a statement (one inside a string or a comment is not a `;` token); empty
//!   statements (`;;`) are skipped; the last statement's `;` may be omitted.
//! - Every node prints, through `Display`, canonical text that parses back to an equal tree
//!   (equality ignores spans, as sqlparser's does).
//! - [`is_complete`] tells a REPL whether the text typed so far ends a statement.
//! - No query or expression nests more than [`MAX_DEPTH`] levels, flat chains such as
//!   `a AND b AND …` included (each operator is a level), so walking a parsed tree never
//!   overflows the stack.

pub mod ast;
mod depth;
mod parser;

pub use ast::{
    AdvanceTo, ColumnDef, Copy, CreateGenerated, CreateSource, CreateView, Drop, History, Insert, ObjectKind,
    Retain, RetainRule, Set, SetValue, Show, Spanned, Statement, StatementKind, Subscribe, name_of,
};
pub use depth::MAX_DEPTH;
pub use parser::{is_complete, parse, parse_each};
pub use sqlparser::ast::{Expr, Ident, Query};
