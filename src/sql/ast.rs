//! Ebb's statement tree.
//!
//! Expressions, identifiers and queries are sqlparser's own ([`Expr`], [`Ident`], [`Query`]);
//! only the statements sqlparser does not know are defined here. Every node prints, through
//! [`fmt::Display`], canonical text (uppercase keywords, no trailing `;`) that
//! [`parse`](super::parse) reads back into an equal tree.
//!
//! Like sqlparser's own nodes, equality ignores spans: two trees are equal when they say the
//! same thing, wherever in the text they were written.

use std::fmt;

use sqlparser::ast::{Expr, Ident, Query};

use crate::error::Span;
use crate::repr::DataType;

/// One statement of a script, with the span of its text (first token to last token before
/// the `;`), in lines and columns of the whole script.
#[derive(Clone, Debug)]
pub struct Statement {
    /// What the statement says.
    pub kind: StatementKind,
    /// Where it was written.
    pub span: Span,
}

impl PartialEq for Statement {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind
    }
}

/// The statements of the language.
// A statement is built once and then read; boxing the larger variants would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum StatementKind {
    /// `CREATE SOURCE ...`
    CreateSource(CreateSource),
    /// `CREATE VIEW ...`
    CreateView(CreateView),
    /// `INSERT INTO ... VALUES ...`
    Insert(Insert),
    /// `COPY ... FROM ...`
    Copy(Copy),
    /// `ADVANCE TO n`
    AdvanceTo(AdvanceTo),
    /// A plain read: any query sqlparser accepts (the binder checks what it means).
    Query(Box<Query>),
    /// Describe a view's dataflow.
    ///
    /// # Syntax
    /// ```sql
    /// EXPLAIN VIEW name
    /// ```
    ExplainView(Ident),
    /// `SHOW SOURCES | SHOW VIEWS | SHOW STATS | SHOW ALL | SHOW setting`
    Show(Show),
    /// `CREATE SOURCE ... FROM GENERATOR ...`
    CreateGenerated(CreateGenerated),
    /// `SUBSCRIBE view ...`
    Subscribe(Subscribe),
    /// `DROP VIEW | DROP SOURCE`
    Drop(Drop),
    /// `SET name = value`
    Set(Set),
}

/// A value together with the span of the text it was read from.
#[derive(Clone, Debug)]
pub struct Spanned<T> {
    /// The value.
    pub value: T,
    /// Where it was written.
    pub span: Span,
}

impl<T> Spanned<T> {
    /// A value with a span.
    pub fn new(value: T, span: Span) -> Self {
        Spanned { value, span }
    }
}

impl<T: PartialEq> PartialEq for Spanned<T> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl<T: fmt::Display> fmt::Display for Spanned<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.value.fmt(f)
    }
}

/// An append-only input.
///
/// # Syntax
/// ```sql
/// CREATE SOURCE [IF NOT EXISTS] name ( column type [, ...] ) TIME column [LATENESS n] [KEEP ALL | KEEP NONE]
/// ```
/// Types: `BIGINT` (`INT`, `INTEGER`, `INT8`, `LONG`), `DOUBLE` (`DOUBLE PRECISION`, `FLOAT`,
/// `REAL`, `FLOAT8`), `TEXT` (`VARCHAR[(n)]`, `STRING`), `BOOLEAN` (`BOOL`).
#[derive(Clone, Debug, PartialEq)]
pub struct CreateSource {
    /// Whether an existing object of that name makes the statement a no-op (not an error).
    pub if_not_exists: bool,
    /// The source's name.
    pub name: Ident,
    /// Its columns, in order.
    pub columns: Vec<ColumnDef>,
    /// The column that carries event time.
    pub time_column: Ident,
    /// How much older than the newest row seen a row may be (event-time units).
    pub lateness: Option<Spanned<u64>>,
    /// Whether the source keeps its rows.
    pub history: History,
}

/// One column of a [`CreateSource`]: `name type`.
#[derive(Clone, Debug)]
pub struct ColumnDef {
    /// The column's name.
    pub name: Ident,
    /// Its type.
    pub data_type: DataType,
    /// The span from the name to the end of the type.
    pub span: Span,
}

impl PartialEq for ColumnDef {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.data_type == other.data_type
    }
}

/// Whether a source keeps its rows.
///
/// # Syntax
/// ```sql
/// KEEP ALL | KEEP NONE
/// ```
/// `KEEP ALL` is the default; only `KEEP NONE` is printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum History {
    /// `KEEP ALL` (default).
    #[default]
    KeepAll,
    /// `KEEP NONE`.
    KeepNone,
}

/// A view, optionally with a retention rule.
///
/// # Syntax
/// ```sql
/// CREATE [OR REPLACE] VIEW [IF NOT EXISTS] name AS query [RETAIN rule [DELAY n]]
/// ```
/// `OR REPLACE` and `IF NOT EXISTS` exclude each other.
#[derive(Clone, Debug, PartialEq)]
pub struct CreateView {
    /// Whether an existing view of that name is replaced.
    pub or_replace: bool,
    /// Whether an existing object of that name makes the statement a no-op (not an error).
    pub if_not_exists: bool,
    /// The view's name.
    pub name: Ident,
    /// Its query.
    pub query: Box<Query>,
    /// Its retention rule, if any.
    pub retain: Option<Retain>,
}

/// A retention clause.
///
/// # Syntax
/// ```sql
/// RETAIN rule [DELAY n]
/// ```
#[derive(Clone, Debug)]
pub struct Retain {
    /// Which rows the view still needs.
    pub rule: RetainRule,
    /// How long (event-time units) after a row stops being needed it is retracted.
    pub delay: Option<Spanned<u64>>,
    /// From `RETAIN` to the end of the clause.
    pub span: Span,
}

impl PartialEq for Retain {
    fn eq(&self, other: &Self) -> bool {
        self.rule == other.rule && self.delay == other.delay
    }
}

/// A retention rule.
///
/// # Syntax
/// ```sql
/// LATEST n PER expr [, ...]
/// | TOP n PER expr [, ...] BY expr [ASC | DESC]
/// | WINNER PER expr [, ...] BY expr [ASC | DESC] CLOSE AT expr [FORGET AFTER n]
/// | UNMATCHED
/// ```
/// The order is `DESC` by default; it is always printed.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum RetainRule {
    /// Per key, the `n` rows with the greatest time.
    Latest {
        /// How many rows per key.
        n: Spanned<u64>,
        /// The key.
        per: Vec<Expr>,
    },
    /// Per key, the `n` best rows by `by`.
    Top {
        /// How many rows per key.
        n: Spanned<u64>,
        /// The key.
        per: Vec<Expr>,
        /// The ranking expression.
        by: Expr,
        /// Whether greater is better (the default).
        descending: bool,
    },
    /// Per auction key, the best row by `by`; final once the frontier passes `close_at`.
    Winner {
        /// The auction key.
        per: Vec<Expr>,
        /// The ranking expression.
        by: Expr,
        /// Whether greater is better (the default).
        descending: bool,
        /// When the auction closes.
        close_at: Expr,
        /// How long after closing the winner itself is forgotten.
        forget_after: Option<Spanned<u64>>,
    },
    /// For a two-input equi-join: rows are dropped once matched.
    Unmatched,
}

/// Rows in.
///
/// # Syntax
/// ```sql
/// INSERT INTO name [( column [, ...] )] VALUES ( expr [, ...] ) [, ...]
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Insert {
    /// The source written to.
    pub source: Ident,
    /// The columns given, or empty for all, in order.
    pub columns: Vec<Ident>,
    /// The rows.
    pub rows: Vec<Vec<Expr>>,
}

/// Rows in, from a CSV file.
///
/// # Syntax
/// ```sql
/// COPY name FROM 'path' [WITH ( option [, ...] )]
/// -- option: HEADER [true | false] | DELIMITER 'c' | FORMAT csv
/// ```
/// `HEADER` defaults to false and `DELIMITER` to `','`; options are printed only when they
/// differ from the defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct Copy {
    /// The source written to.
    pub source: Ident,
    /// The file, as written (relative to the script's folder).
    pub path: Spanned<String>,
    /// Whether the first line names the columns.
    pub header: bool,
    /// The field separator (one ASCII character).
    pub delimiter: u8,
}

/// Move every source's frontier.
///
/// # Syntax
/// ```sql
/// ADVANCE TO n
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct AdvanceTo {
    /// The new frontier.
    pub time: Spanned<u64>,
}

/// Catalog listings and settings.
///
/// # Syntax
/// ```sql
/// SHOW SOURCES | SHOW VIEWS | SHOW STATS [FULL | PER PROCESS] | SHOW ALL | SHOW setting
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Show {
    /// `SHOW SOURCES`
    Sources,
    /// `SHOW VIEWS`
    Views,
    /// `SHOW STATS`: the columns that fit a terminal.
    Stats,
    /// `SHOW STATS FULL`: every column, the spill counts included.
    StatsFull,
    /// `SHOW STATS PER PROCESS`: every column, per process of the job.
    StatsPerProcess,
    /// `SHOW ALL`: every setting.
    All,
    /// `SHOW setting`: one setting's current value (see [`Set`]).
    Setting(Ident),
}

/// Remove a source or a view.
///
/// # Syntax
/// ```sql
/// DROP VIEW [IF EXISTS] name | DROP SOURCE [IF EXISTS] name
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Drop {
    /// What kind of object.
    pub kind: ObjectKind,
    /// Its name.
    pub name: Ident,
    /// Whether a missing object is not an error.
    pub if_exists: bool,
}

/// The kinds of catalog object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjectKind {
    /// A source.
    Source,
    /// A view.
    View,
}

/// The name an identifier stands for, as PostgreSQL reads it: an unquoted identifier folds
/// to lower case, a double-quoted one is kept exactly. So `Plain`, `PLAIN` and `"plain"` all
/// name `plain`, while `"Plain"` names `Plain`.
pub fn name_of(ident: &Ident) -> String {
    match ident.quote_style {
        Some(_) => ident.value.clone(),
        None => ident.value.to_lowercase(),
    }
}

/// Write `items` separated by `, `.
fn comma_separated<T: fmt::Display>(f: &mut fmt::Formatter<'_>, items: &[T]) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{item}")?;
    }
    Ok(())
}

/// Write `s` as a single-quoted SQL string.
fn quoted(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    write!(f, "'{}'", s.replace('\'', "''"))
}

impl fmt::Display for Statement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.kind.fmt(f)
    }
}

impl fmt::Display for StatementKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StatementKind::CreateSource(s) => s.fmt(f),
            StatementKind::CreateView(v) => v.fmt(f),
            StatementKind::Insert(i) => i.fmt(f),
            StatementKind::Copy(c) => c.fmt(f),
            StatementKind::AdvanceTo(a) => a.fmt(f),
            StatementKind::Query(q) => q.fmt(f),
            StatementKind::ExplainView(name) => write!(f, "EXPLAIN VIEW {name}"),
            StatementKind::Show(s) => s.fmt(f),
            StatementKind::CreateGenerated(g) => g.fmt(f),
            StatementKind::Subscribe(s) => s.fmt(f),
            StatementKind::Drop(d) => d.fmt(f),
            StatementKind::Set(s) => s.fmt(f),
        }
    }
}

/// `IF NOT EXISTS ` when `if_not_exists`, else nothing.
fn if_not_exists(f: &mut fmt::Formatter<'_>, if_not_exists: bool) -> fmt::Result {
    if if_not_exists { f.write_str("IF NOT EXISTS ") } else { Ok(()) }
}

impl fmt::Display for CreateSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CREATE SOURCE ")?;
        if_not_exists(f, self.if_not_exists)?;
        write!(f, "{} (", self.name)?;
        comma_separated(f, &self.columns)?;
        write!(f, ") TIME {}", self.time_column)?;
        if let Some(lateness) = &self.lateness {
            write!(f, " LATENESS {lateness}")?;
        }
        if self.history == History::KeepNone {
            write!(f, " {}", self.history)?;
        }
        Ok(())
    }
}

impl fmt::Display for ColumnDef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.name, self.data_type)
    }
}

impl fmt::Display for History {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            History::KeepAll => "KEEP ALL",
            History::KeepNone => "KEEP NONE",
        })
    }
}

impl fmt::Display for CreateView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.or_replace { "CREATE OR REPLACE VIEW " } else { "CREATE VIEW " })?;
        if_not_exists(f, self.if_not_exists)?;
        write!(f, "{} AS {}", self.name, self.query)?;
        if let Some(retain) = &self.retain {
            write!(f, " {retain}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Retain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RETAIN {}", self.rule)?;
        if let Some(delay) = &self.delay {
            write!(f, " DELAY {delay}")?;
        }
        Ok(())
    }
}

fn order(descending: bool) -> &'static str {
    if descending { "DESC" } else { "ASC" }
}

impl fmt::Display for RetainRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RetainRule::Latest { n, per } => {
                write!(f, "LATEST {n} PER ")?;
                comma_separated(f, per)
            }
            RetainRule::Top { n, per, by, descending } => {
                write!(f, "TOP {n} PER ")?;
                comma_separated(f, per)?;
                write!(f, " BY {by} {}", order(*descending))
            }
            RetainRule::Winner { per, by, descending, close_at, forget_after } => {
                f.write_str("WINNER PER ")?;
                comma_separated(f, per)?;
                write!(f, " BY {by} {} CLOSE AT {close_at}", order(*descending))?;
                if let Some(after) = forget_after {
                    write!(f, " FORGET AFTER {after}")?;
                }
                Ok(())
            }
            RetainRule::Unmatched => f.write_str("UNMATCHED"),
        }
    }
}

impl fmt::Display for Insert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "INSERT INTO {}", self.source)?;
        if !self.columns.is_empty() {
            f.write_str(" (")?;
            comma_separated(f, &self.columns)?;
            f.write_str(")")?;
        }
        f.write_str(" VALUES ")?;
        for (i, row) in self.rows.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str("(")?;
            comma_separated(f, row)?;
            f.write_str(")")?;
        }
        Ok(())
    }
}

impl fmt::Display for Copy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "COPY {} FROM ", self.source)?;
        quoted(f, &self.path.value)?;
        let mut options = Vec::new();
        if self.header {
            options.push("HEADER true".to_string());
        }
        if self.delimiter != b',' {
            let c = char::from(self.delimiter).to_string();
            options.push(format!("DELIMITER '{}'", c.replace('\'', "''")));
        }
        if !options.is_empty() {
            f.write_str(" WITH (")?;
            comma_separated(f, &options)?;
            f.write_str(")")?;
        }
        Ok(())
    }
}

impl fmt::Display for AdvanceTo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ADVANCE TO {}", self.time)
    }
}

impl fmt::Display for Show {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Show::Sources => f.write_str("SHOW SOURCES"),
            Show::Views => f.write_str("SHOW VIEWS"),
            Show::Stats => f.write_str("SHOW STATS"),
            Show::StatsFull => f.write_str("SHOW STATS FULL"),
            Show::StatsPerProcess => f.write_str("SHOW STATS PER PROCESS"),
            Show::All => f.write_str("SHOW ALL"),
            Show::Setting(name) => write!(f, "SHOW {name}"),
        }
    }
}

impl fmt::Display for Drop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DROP {}", self.kind)?;
        if self.if_exists {
            f.write_str(" IF EXISTS")?;
        }
        write!(f, " {}", self.name)
    }
}

impl fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ObjectKind::Source => "SOURCE",
            ObjectKind::View => "VIEW",
        })
    }
}

/// A source fed by a built-in live generator, in wall-clock milliseconds.
///
/// # Syntax
/// ```sql
/// CREATE SOURCE [IF NOT EXISTS] name FROM GENERATOR kind [( option = n [, ...] )]
/// ```
/// Kinds: `sensors`, `auctions`, `bids`, `sends`, `recvs`; options are whole numbers (see
/// [`crate::generator`]).
#[derive(Clone, Debug, PartialEq)]
pub struct CreateGenerated {
    /// Whether an existing object of that name makes the statement a no-op (not an error).
    pub if_not_exists: bool,
    /// The source's name.
    pub name: Ident,
    /// The generator's kind.
    pub generator: Ident,
    /// `option = value` settings.
    pub options: Vec<(Ident, Spanned<u64>)>,
}

impl fmt::Display for CreateGenerated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CREATE SOURCE ")?;
        if_not_exists(f, self.if_not_exists)?;
        write!(f, "{} FROM GENERATOR {}", self.name, self.generator)?;
        if !self.options.is_empty() {
            let options: Vec<String> =
                self.options.iter().map(|(k, v)| format!("{k} = {}", v.value)).collect();
            write!(f, " ({})", options.join(", "))?;
        }
        Ok(())
    }
}

/// Stream a view's changes.
///
/// # Syntax
/// ```sql
/// SUBSCRIBE [TO] view [FOR n SECONDS | FOR n MILLISECONDS]
/// ```
/// Without `FOR`, until interrupted.
#[derive(Clone, Debug, PartialEq)]
pub struct Subscribe {
    /// The view.
    pub view: Ident,
    /// For how long, in milliseconds.
    pub for_millis: Option<Spanned<u64>>,
}

impl fmt::Display for Subscribe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SUBSCRIBE {}", self.view)?;
        if let Some(millis) = &self.for_millis {
            write!(f, " FOR {} MILLISECONDS", millis.value)?;
        }
        Ok(())
    }
}

/// Change a session setting.
///
/// # Syntax
/// ```sql
/// SET name { = | TO } { 'text' | n }
/// ```
/// Settings: `memory_budget` (a size such as `'256MB'`, or `0`: spill everything;
/// `'unlimited'` stops spilling) and `spill_dir` (a path). Printed with `=`.
#[derive(Clone, Debug, PartialEq)]
pub struct Set {
    /// The setting.
    pub name: Ident,
    /// Its new value.
    pub value: Spanned<SetValue>,
}

/// The value of a [`Set`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SetValue {
    /// A string literal.
    Text(String),
    /// A whole number.
    Number(u64),
}

impl fmt::Display for SetValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetValue::Text(text) => quoted(f, text),
            SetValue::Number(n) => write!(f, "{n}"),
        }
    }
}

impl fmt::Display for Set {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SET {} = {}", self.name, self.value)
    }
}
