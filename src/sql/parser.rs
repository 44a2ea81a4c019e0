//! The parser: sqlparser's tokenizer over the whole script, then one small recursive-descent
//! parser per statement that hands queries and expressions to sqlparser's own parser.

use sqlparser::ast::{Expr, Ident, Query, Visit, VisitMut};
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::{Location, Token, TokenWithSpan, Tokenizer, TokenizerError};

use super::ast::{
    self, AdvanceTo, ColumnDef, CreateGenerated, CreateSource, CreateView, History, Insert, ObjectKind,
    Retain, RetainRule, Show, Spanned, Statement, StatementKind, Subscribe,
};
use super::depth;
use crate::error::{Error, Result, Span};
use crate::repr::DataType;

static DIALECT: GenericDialect = GenericDialect {};

/// The accepted column types, for error messages.
const ACCEPTED_TYPES: &str = "BIGINT (INT, INTEGER, INT8, LONG), DOUBLE (DOUBLE PRECISION, FLOAT, REAL, \
     FLOAT8), TEXT (VARCHAR, STRING), BOOLEAN (BOOL)";

/// The statements, for error messages.
const STATEMENTS: &str = "CREATE SOURCE, CREATE VIEW, INSERT, COPY, ADVANCE TO, SELECT, SUBSCRIBE, EXPLAIN VIEW, \
     SHOW, SET or DROP";

/// Parse a whole script: statements separated by `;` (the last one may omit it).
///
/// Empty statements are skipped. The first syntax error stops parsing; its span points at
/// the offending token, in lines and columns of `text`.
pub fn parse(text: &str) -> Result<Vec<Statement>> {
    parse_each(text)?.into_iter().collect()
}

/// Parse a whole script statement by statement, for a script that goes on after an error:
/// each statement (the text between two `;`) parses or fails on its own, with spans in lines
/// and columns of `text`. Empty statements are skipped. Only text that cannot be split into
/// tokens at all (an unterminated string, say) fails as a whole.
pub fn parse_each(text: &str) -> Result<Vec<Result<Statement>>> {
    let tokens = tokenize(text)?;
    let end = tokens.last().map(|t| Span::new(t.span.end, t.span.end)).unwrap_or(Span::empty());
    let mut statements = Vec::new();
    let mut start = 0;
    for (i, token) in tokens.iter().enumerate() {
        if token.token == Token::SemiColon {
            statements.push(parse_statement(&tokens[start..i], token.span));
            start = i + 1;
        }
    }
    statements.push(parse_statement(&tokens[start..], end));
    Ok(statements.into_iter().filter_map(Result::transpose).collect())
}

/// Whether `text` ends a statement, for a REPL deciding whether to read another line: true
/// when its last token (comments and whitespace aside) is `;`, or when it holds no token at
/// all. Text that ends inside a quoted string or name or a block comment is incomplete; text
/// with any other tokenizer error, or a word starting with `@` or `#` (which may have
/// swallowed the `;`), is complete, so that [`parse`] gets to report the error.
pub fn is_complete(text: &str) -> bool {
    match Tokenizer::new(&DIALECT, text).tokenize_with_location() {
        Ok(tokens) if stray_sigil(&tokens).is_some() => true,
        Ok(tokens) => match tokens.iter().rev().find(|t| !is_whitespace(t)) {
            None => true,
            Some(last) => last.token == Token::SemiColon,
        },
        Err(_) => !ends_inside_a_literal(text),
    }
}

/// What closes each construct the tokenizer can be inside of when the text ends: a string, a
/// quoted name, a block comment, a dollar-quoted string.
const CLOSERS: [&str; 5] = ["'", "\"", "`", "*/", "$$"];

/// Whether `text`, which does not tokenize, fails only because it ends inside a literal or a
/// comment: closing one makes it tokenize, or moves the error past the end of `text` (a
/// nested comment still open). An error anywhere else stays where it is whatever follows.
fn ends_inside_a_literal(text: &str) -> bool {
    let end = end_of(text);
    CLOSERS.iter().any(|closer| {
        match Tokenizer::new(&DIALECT, &format!("{text}{closer}")).tokenize_with_location() {
            Ok(_) => true,
            Err(e) => e.location > end,
        }
    })
}

/// The location just past the last character of `text`, as the tokenizer counts them.
fn end_of(text: &str) -> Location {
    let line = 1 + text.matches('\n').count() as u64;
    let column = 1 + text.rsplit('\n').next().map_or(0, |last| last.chars().count()) as u64;
    Location::new(line, column)
}

fn tokenize(text: &str) -> Result<Vec<TokenWithSpan>> {
    // A file saved with a UTF-8 byte-order mark: read the mark as a space, so that columns
    // still count the characters of the text as given.
    let text = match text.strip_prefix('\u{feff}') {
        Some(rest) => std::borrow::Cow::Owned(format!(" {rest}")),
        None => std::borrow::Cow::Borrowed(text),
    };
    let tokens = Tokenizer::new(&DIALECT, &text).tokenize_with_location().map_err(tokenizer_error)?;
    match stray_sigil(&tokens) {
        Some(e) => Err(e),
        None => Ok(tokens),
    }
}

/// A word that starts with `@` or `#`. No name does (see the grammar), and the generic
/// dialect's tokenizer glues the character after either onto the word, whatever it is: `@;`
/// would hide the `;` that ends a statement, and a script would split in the wrong places.
fn stray_sigil(tokens: &[TokenWithSpan]) -> Option<Error> {
    tokens.iter().find_map(|t| match &t.token {
        Token::Word(word) if word.quote_style.is_none() => {
            let sigil = word.value.chars().next().filter(|c| matches!(c, '@' | '#'))?;
            let start = t.span.start;
            Some(
                Error::parse(format!("unexpected character \"{sigil}\""))
                    .with_span(Span::new(start, Location::new(start.line, start.column + 1)))
                    .with_hint("a name is letters, digits and _; write any other name in double quotes"),
            )
        }
        _ => None,
    })
}

fn tokenizer_error(e: TokenizerError) -> Error {
    let span = Span::new(e.location, Location::new(e.location.line, e.location.column + 1));
    Error::parse(lowercase_first(&e.message)).with_span(span)
}

fn is_whitespace(token: &TokenWithSpan) -> bool {
    matches!(token.token, Token::Whitespace(_))
}

fn lowercase_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// How a token is named in a message.
fn describe(token: &Token) -> String {
    match token {
        Token::EOF => "end of statement".to_string(),
        other => format!("\"{other}\""),
    }
}

/// Parse one statement's tokens (without its `;`); `end` is where the statement ends (its
/// `;`, or the end of the text). `None` for an empty statement.
fn parse_statement(tokens: &[TokenWithSpan], end: Span) -> Result<Option<Statement>> {
    let mut solid = tokens.iter().filter(|t| !is_whitespace(t));
    let Some(first) = solid.next() else { return Ok(None) };
    let last = solid.next_back().unwrap_or(first);
    let span = first.span.union(&last.span);
    if let Some(run) = depth::operator_runs_too_long(tokens) {
        return Err(depth::too_deep(run));
    }

    let mut c = Cursor::new(tokens, end);
    let kind = if c.peek_word("CREATE") {
        // `CREATE [OR REPLACE] (SOURCE | VIEW) [IF NOT EXISTS] name ...`
        let or_replace = c.peek_nth_word(1, "OR") && c.peek_nth_word(2, "REPLACE");
        let object_at = if or_replace { 3 } else { 1 };
        let name_at = object_at
            + if c.peek_nth_word(object_at + 1, "IF") && c.peek_nth_word(object_at + 2, "NOT") {
                4
            } else {
                1
            };
        if c.peek_nth_word(object_at, "VIEW") {
            StatementKind::CreateView(parse_create_view(&mut c)?)
        } else if or_replace {
            for _ in 0..=object_at {
                c.next();
            }
            return Err(c.unexpected("VIEW after CREATE OR REPLACE (only views can be replaced)"));
        } else if c.peek_nth_word(1, "SOURCE") && c.peek_nth_word(name_at + 1, "FROM") {
            StatementKind::CreateGenerated(parse_create_generated(&mut c)?)
        } else if c.peek_nth_word(1, "SOURCE") {
            StatementKind::CreateSource(parse_create_source(&mut c)?)
        } else {
            c.next();
            c.next();
            return Err(c.unexpected("SOURCE or VIEW after CREATE"));
        }
    } else if c.peek_word("INSERT") {
        StatementKind::Insert(parse_insert(&mut c)?)
    } else if c.peek_word("COPY") {
        StatementKind::Copy(parse_copy(&mut c)?)
    } else if c.peek_word("ADVANCE") {
        StatementKind::AdvanceTo(parse_advance_to(&mut c)?)
    } else if c.peek_word("EXPLAIN") {
        StatementKind::ExplainView(parse_explain_view(&mut c)?)
    } else if c.peek_word("SHOW") {
        StatementKind::Show(parse_show(&mut c)?)
    } else if c.peek_word("DROP") {
        StatementKind::Drop(parse_drop(&mut c)?)
    } else if c.peek_word("SUBSCRIBE") {
        StatementKind::Subscribe(parse_subscribe(&mut c)?)
    } else if c.peek_word("SET") {
        StatementKind::Set(parse_set(&mut c)?)
    } else if c.peek_word("SELECT")
        || c.peek_word("WITH")
        || c.peek_word("VALUES")
        || c.peek_is(&Token::LParen)
    {
        StatementKind::Query(parse_select(&mut c)?)
    } else {
        c.next();
        return Err(c.unexpected(&format!("a statement ({STATEMENTS})")));
    };
    Ok(Some(Statement { kind, span }))
}

/// `CREATE SOURCE [IF NOT EXISTS] name ( col type [, ...] ) TIME col [LATENESS n] [KEEP ALL | KEEP NONE]`
fn parse_create_source(c: &mut Cursor) -> Result<CreateSource> {
    c.expect_word("CREATE")?;
    c.expect_word("SOURCE")?;
    let if_not_exists = c.if_not_exists()?;
    let name = c.ident("a source name")?;
    c.expect_token(&Token::LParen, "\"(\" and a column list after the source name")?;
    let mut columns = Vec::new();
    loop {
        columns.push(parse_column_def(c)?);
        if !c.eat_token(&Token::Comma) {
            break;
        }
    }
    c.expect_token(&Token::RParen, "\",\" or \")\" after a column")?;
    c.expect_word("TIME")?;
    let time_column = c.ident("the time column's name after TIME")?;
    let mut lateness = None;
    let mut history = None;
    loop {
        if lateness.is_none() && c.eat_word("LATENESS") {
            lateness = Some(c.uint("a lateness (a non-negative integer) after LATENESS")?);
        } else if history.is_none() && c.eat_word("KEEP") {
            history = Some(if c.eat_word("ALL") {
                History::KeepAll
            } else if c.eat_word("NONE") {
                History::KeepNone
            } else {
                c.next();
                return Err(c.unexpected("ALL or NONE after KEEP"));
            });
        } else {
            break;
        }
    }
    c.finish("the source definition")?;
    Ok(CreateSource {
        if_not_exists,
        name,
        columns,
        time_column,
        lateness,
        history: history.unwrap_or_default(),
    })
}

/// `CREATE SOURCE [IF NOT EXISTS] name FROM GENERATOR kind [( option = n [, ...] )]`
fn parse_create_generated(c: &mut Cursor) -> Result<CreateGenerated> {
    c.expect_word("CREATE")?;
    c.expect_word("SOURCE")?;
    let if_not_exists = c.if_not_exists()?;
    let name = c.ident("a source name")?;
    c.expect_word("FROM")?;
    c.expect_word("GENERATOR")?;
    let generator = c.ident("a generator (sensors, auctions, bids, sends, recvs) after GENERATOR")?;
    let mut options = Vec::new();
    if c.eat_token(&Token::LParen) {
        loop {
            let option = c.ident("a generator option")?;
            c.expect_token(&Token::Eq, "\"=\" after the option name")?;
            options.push((option, c.uint("a whole number")?));
            if !c.eat_token(&Token::Comma) {
                break;
            }
        }
        c.expect_token(&Token::RParen, "\",\" or \")\" after an option")?;
    }
    c.finish("the generator")?;
    Ok(CreateGenerated { if_not_exists, name, generator, options })
}

/// `SUBSCRIBE [TO] view [FOR n SECONDS | FOR n MILLISECONDS]`
fn parse_subscribe(c: &mut Cursor) -> Result<Subscribe> {
    c.expect_word("SUBSCRIBE")?;
    c.eat_word("TO");
    let view = c.ident("a view name after SUBSCRIBE")?;
    let mut for_millis = None;
    if c.eat_word("FOR") {
        let n = c.uint("a duration after FOR")?;
        let scale = if c.eat_word("SECONDS") || c.eat_word("SECOND") || c.eat_word("S") {
            1000
        } else if c.eat_word("MILLISECONDS") || c.eat_word("MILLISECOND") || c.eat_word("MS") {
            1
        } else {
            c.next();
            return Err(c.unexpected("SECONDS or MILLISECONDS after the duration"));
        };
        for_millis = Some(Spanned::new(n.value.saturating_mul(scale), n.span));
    }
    c.finish("SUBSCRIBE")?;
    Ok(Subscribe { view, for_millis })
}

/// `name type`
fn parse_column_def(c: &mut Cursor) -> Result<ColumnDef> {
    let name = c.ident("a column name")?;
    let token = c.next();
    let word = match &token.token {
        Token::Word(w) if w.quote_style.is_none() => w.value.to_ascii_uppercase(),
        _ => return Err(c.unexpected(&format!("a type for column \"{}\"", name.value))),
    };
    let data_type = match word.as_str() {
        "BIGINT" | "INT" | "INTEGER" | "INT8" | "LONG" => DataType::BigInt,
        "DOUBLE" => {
            let _ = c.eat_word("PRECISION");
            DataType::Double
        }
        "FLOAT" | "REAL" | "FLOAT8" => DataType::Double,
        "TEXT" | "STRING" => DataType::Text,
        "VARCHAR" => {
            if c.eat_token(&Token::LParen) {
                c.uint("a length in VARCHAR(n)")?;
                c.expect_token(&Token::RParen, "\")\" after VARCHAR(n")?;
            }
            DataType::Text
        }
        "BOOLEAN" | "BOOL" => DataType::Boolean,
        _ => {
            return Err(Error::parse(format!(
                "unknown type \"{}\" for column \"{}\"; accepted types are {ACCEPTED_TYPES}",
                token.token, name.value
            ))
            .with_span(token.span));
        }
    };
    let span = name.span.union(&c.last_span());
    Ok(ColumnDef { name, data_type, span })
}

/// `CREATE [OR REPLACE] VIEW [IF NOT EXISTS] name AS query [RETAIN rule [DELAY n]]`
///
/// The query ends at the first `RETAIN` word outside parentheses (sqlparser would otherwise
/// read it as a table alias); `AS RETAIN` stays an alias.
fn parse_create_view(c: &mut Cursor) -> Result<CreateView> {
    let end = c.end;
    c.expect_word("CREATE")?;
    let or_replace = c.eat_word("OR");
    if or_replace {
        c.expect_word("REPLACE")?;
    }
    c.expect_word("VIEW")?;
    let if_not_exists = c.if_not_exists()?;
    if or_replace && if_not_exists {
        return Err(Error::parse("OR REPLACE and IF NOT EXISTS cannot be combined").with_span(c.last_span()));
    }
    let name = c.ident("a view name")?;
    c.expect_word("AS")?;
    let rest = c.rest();
    let retain_at = find_retain(rest);
    let (query_tokens, retain_tokens, query_end) = match retain_at {
        Some(i) => (&rest[..i], &rest[i..], rest[i].span),
        None => (rest, &rest[rest.len()..], end),
    };
    let mut q = Cursor::new(query_tokens, query_end);
    if q.peek_is(&Token::EOF) {
        q.next();
        return Err(q.unexpected("a query after AS"));
    }
    let query = q.query()?;
    q.finish("the view's query")?;
    let retain = match retain_at {
        Some(_) => Some(parse_retain(&mut Cursor::new(retain_tokens, end))?),
        None => None,
    };
    Ok(CreateView { or_replace, if_not_exists, name, query, retain })
}

/// The index of the view's `RETAIN` word in `tokens`: outside parentheses and not right
/// after `AS`.
fn find_retain(tokens: &[TokenWithSpan]) -> Option<usize> {
    let mut depth = 0usize;
    let mut after_as = false;
    for (i, t) in tokens.iter().enumerate() {
        match &t.token {
            Token::Whitespace(_) => continue,
            Token::LParen => depth += 1,
            Token::RParen => depth = depth.saturating_sub(1),
            Token::Word(w)
                if depth == 0
                    && !after_as
                    && w.quote_style.is_none()
                    && w.value.eq_ignore_ascii_case("RETAIN") =>
            {
                return Some(i);
            }
            _ => {}
        }
        after_as = matches!(&t.token, Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case("AS"));
    }
    None
}

/// `RETAIN rule [DELAY n]`
fn parse_retain(c: &mut Cursor) -> Result<Retain> {
    let start = c.expect_word("RETAIN")?;
    let rule = if c.eat_word("LATEST") {
        let n = c.uint("a row count (a non-negative integer) after LATEST")?;
        c.expect_word("PER")?;
        RetainRule::Latest { n, per: c.exprs()? }
    } else if c.eat_word("TOP") {
        let n = c.uint("a row count (a non-negative integer) after TOP")?;
        c.expect_word("PER")?;
        let per = c.exprs()?;
        c.expect_word("BY")?;
        let by = c.expr()?;
        let descending = c.order();
        RetainRule::Top { n, per, by, descending }
    } else if c.eat_word("WINNER") {
        c.expect_word("PER")?;
        let per = c.exprs()?;
        c.expect_word("BY")?;
        let by = c.expr()?;
        let descending = c.order();
        c.expect_word("CLOSE")?;
        c.expect_word("AT")?;
        let close_at = c.expr()?;
        let forget_after = if c.eat_word("FORGET") {
            c.expect_word("AFTER")?;
            Some(c.uint("a duration (a non-negative integer) after FORGET AFTER")?)
        } else {
            None
        };
        RetainRule::Winner { per, by, descending, close_at, forget_after }
    } else if c.eat_word("UNMATCHED") {
        RetainRule::Unmatched
    } else {
        c.next();
        return Err(c.unexpected("LATEST, TOP, WINNER or UNMATCHED after RETAIN"));
    };
    let delay = if c.eat_word("DELAY") {
        Some(c.uint("a delay (a non-negative integer) after DELAY")?)
    } else {
        None
    };
    let span = start.union(&c.last_span());
    c.finish("the RETAIN clause")?;
    Ok(Retain { rule, delay, span })
}

/// `INSERT INTO name [( col [, ...] )] VALUES ( expr [, ...] ) [, ...]`
fn parse_insert(c: &mut Cursor) -> Result<Insert> {
    c.expect_word("INSERT")?;
    c.expect_word("INTO")?;
    let source = c.ident("a source name after INSERT INTO")?;
    let mut columns = Vec::new();
    if c.eat_token(&Token::LParen) {
        loop {
            columns.push(c.ident("a column name")?);
            if !c.eat_token(&Token::Comma) {
                break;
            }
        }
        c.expect_token(&Token::RParen, "\",\" or \")\" after a column name")?;
    }
    if !c.eat_word("VALUES") {
        c.next();
        let found = c.current();
        return Err(Error::parse(format!(
            "INSERT takes rows as VALUES (...), (...); expected VALUES, found {}",
            describe(&found.token)
        ))
        .with_span(found.span));
    }
    let mut rows = Vec::new();
    loop {
        c.expect_token(&Token::LParen, "\"(\" and a row of values")?;
        let row = c.exprs()?;
        c.expect_token(&Token::RParen, "\",\" or \")\" after a value")?;
        rows.push(row);
        if !c.eat_token(&Token::Comma) {
            break;
        }
    }
    c.finish("the rows")?;
    Ok(Insert { source, columns, rows })
}

/// `COPY name FROM 'path' [WITH ( option [, ...] )]`
fn parse_copy(c: &mut Cursor) -> Result<ast::Copy> {
    c.expect_word("COPY")?;
    let source = c.ident("a source name after COPY")?;
    c.expect_word("FROM")?;
    let token = c.next();
    let path = match &token.token {
        Token::SingleQuotedString(s) => Spanned::new(s.clone(), token.span),
        _ => return Err(c.unexpected("a quoted file path after FROM")),
    };
    let mut header = None;
    let mut delimiter = None;
    let mut format = false;
    let with = c.eat_word("WITH");
    if with || c.peek_is(&Token::LParen) {
        c.expect_token(&Token::LParen, "\"(\" and options after WITH")?;
        loop {
            let option = c.next();
            let Token::Word(word) = &option.token else {
                return Err(c.unexpected("a COPY option (HEADER, DELIMITER or FORMAT)"));
            };
            let key = word.value.to_ascii_uppercase();
            let seen = match key.as_str() {
                "HEADER" => header.is_some(),
                "DELIMITER" => delimiter.is_some(),
                "FORMAT" => format,
                _ => {
                    return Err(Error::parse(format!(
                        "unknown COPY option \"{}\"; accepted options are HEADER [true | false], \
                         DELIMITER 'c' and FORMAT csv",
                        word.value
                    ))
                    .with_span(option.span));
                }
            };
            if seen {
                return Err(Error::parse(format!("COPY option \"{}\" is given twice", word.value))
                    .with_span(option.span));
            }
            let _ = c.eat_token(&Token::Eq);
            match key.as_str() {
                "HEADER" => {
                    // `HEADER` alone means `HEADER true`.
                    let value = !c.eat_word("FALSE");
                    if value {
                        let _ = c.eat_word("TRUE");
                    }
                    header = Some(value);
                }
                "DELIMITER" => {
                    let token = c.next();
                    let byte = match &token.token {
                        Token::SingleQuotedString(s) if s.len() == 1 && s.is_ascii() => s.as_bytes()[0],
                        Token::SingleQuotedString(s) => {
                            return Err(Error::parse(format!(
                                "the COPY delimiter must be one ASCII character, not '{s}'"
                            ))
                            .with_span(token.span));
                        }
                        _ => return Err(c.unexpected("a quoted character after DELIMITER")),
                    };
                    delimiter = Some(byte);
                }
                _ => {
                    let token = c.next();
                    let value = match &token.token {
                        Token::Word(w) => w.value.clone(),
                        Token::SingleQuotedString(s) | Token::DoubleQuotedString(s) => s.clone(),
                        _ => return Err(c.unexpected("a format (csv) after FORMAT")),
                    };
                    if !value.eq_ignore_ascii_case("csv") {
                        return Err(Error::parse(format!(
                            "unsupported COPY format \"{value}\"; only csv is supported"
                        ))
                        .with_span(token.span));
                    }
                    format = true;
                }
            }
            if !c.eat_token(&Token::Comma) {
                break;
            }
        }
        c.expect_token(&Token::RParen, "\",\" or \")\" after a COPY option")?;
    }
    c.finish("the COPY statement")?;
    Ok(ast::Copy { source, path, header: header.unwrap_or(false), delimiter: delimiter.unwrap_or(b',') })
}

/// `ADVANCE TO n`
fn parse_advance_to(c: &mut Cursor) -> Result<AdvanceTo> {
    c.expect_word("ADVANCE")?;
    c.expect_word("TO")?;
    let time = c.uint("a time (a non-negative integer) after ADVANCE TO")?;
    c.finish("ADVANCE TO")?;
    Ok(AdvanceTo { time })
}

/// `SET name { = | TO } { 'text' | n }`
fn parse_set(c: &mut Cursor) -> Result<ast::Set> {
    c.expect_word("SET")?;
    let name = c.ident("a setting's name after SET (memory_budget or spill_dir)")?;
    if !c.eat_token(&Token::Eq) && !c.eat_word("TO") {
        c.next();
        return Err(c.unexpected(&format!("= after SET {name}")));
    }
    let token = c.next();
    let value = match &token.token {
        Token::SingleQuotedString(text) => ast::SetValue::Text(text.clone()),
        Token::Number(n, _) => match n.parse::<u64>() {
            Ok(n) => ast::SetValue::Number(n),
            Err(_) => {
                return Err(Error::parse(format!("expected a string or a whole number, found {n}"))
                    .with_span(token.span));
            }
        },
        _ => return Err(c.unexpected("a value (a string such as '256MB', or a whole number)")),
    };
    c.finish("SET")?;
    Ok(ast::Set { name, value: Spanned::new(value, token.span) })
}

/// `EXPLAIN VIEW name`
fn parse_explain_view(c: &mut Cursor) -> Result<Ident> {
    c.expect_word("EXPLAIN")?;
    if !c.eat_word("VIEW") {
        c.next();
        return Err(c.unexpected("VIEW after EXPLAIN (only EXPLAIN VIEW name is supported)"));
    }
    let name = c.ident("a view name after EXPLAIN VIEW")?;
    c.finish("EXPLAIN VIEW")?;
    Ok(name)
}

/// `SHOW SOURCES | SHOW VIEWS | SHOW STATS [FULL | PER PROCESS] | SHOW ALL | SHOW setting`
fn parse_show(c: &mut Cursor) -> Result<Show> {
    c.expect_word("SHOW")?;
    let show = if c.eat_word("SOURCES") {
        Show::Sources
    } else if c.eat_word("VIEWS") {
        Show::Views
    } else if c.eat_word("STATS") {
        if c.eat_word("FULL") {
            Show::StatsFull
        } else if c.eat_word("PER") {
            c.expect_word("PROCESS")?;
            Show::StatsPerProcess
        } else {
            Show::Stats
        }
    } else if c.eat_word("ALL") {
        Show::All
    } else {
        Show::Setting(c.ident("SOURCES, VIEWS, STATS, ALL or a setting's name after SHOW")?)
    };
    c.finish("SHOW")?;
    Ok(show)
}

/// `DROP VIEW [IF EXISTS] name | DROP SOURCE [IF EXISTS] name`
fn parse_drop(c: &mut Cursor) -> Result<ast::Drop> {
    c.expect_word("DROP")?;
    let kind = if c.eat_word("VIEW") {
        ObjectKind::View
    } else if c.eat_word("SOURCE") {
        ObjectKind::Source
    } else {
        c.next();
        return Err(c.unexpected("VIEW or SOURCE after DROP"));
    };
    let if_exists = if c.eat_word("IF") {
        c.expect_word("EXISTS")?;
        true
    } else {
        false
    };
    let name = c.ident("a name")?;
    c.finish("the name")?;
    Ok(ast::Drop { kind, name, if_exists })
}

/// A plain read: any query sqlparser accepts.
fn parse_select(c: &mut Cursor) -> Result<Box<Query>> {
    let query = c.query()?;
    c.finish("the query")?;
    Ok(query)
}

/// A sqlparser [`Parser`] over one statement's tokens, with helpers that report errors the
/// library's way.
struct Cursor<'t> {
    /// The tokens, as given (without the end marker).
    tokens: &'t [TokenWithSpan],
    /// Where the tokens end: reported for "end of statement".
    end: Span,
    parser: Parser<'static>,
}

impl<'t> Cursor<'t> {
    fn new(tokens: &'t [TokenWithSpan], end: Span) -> Self {
        let mut owned = tokens.to_vec();
        owned.push(TokenWithSpan::new(Token::EOF, end));
        let parser = Parser::new(&DIALECT).with_tokens_with_locations(owned);
        Cursor { tokens, end, parser }
    }

    /// The tokens not yet consumed.
    fn rest(&self) -> &'t [TokenWithSpan] {
        let at = self.parser.index().min(self.tokens.len());
        &self.tokens[at..]
    }

    fn peek(&self) -> &TokenWithSpan {
        self.parser.peek_token_ref()
    }

    fn peek_is(&self, token: &Token) -> bool {
        &self.peek().token == token
    }

    fn peek_word(&self, word: &str) -> bool {
        self.peek_nth_word(0, word)
    }

    fn peek_nth_word(&self, n: usize, word: &str) -> bool {
        matches!(&self.parser.peek_nth_token_ref(n).token,
            Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(word))
    }

    /// Consume the next token.
    fn next(&mut self) -> TokenWithSpan {
        self.parser.next_token()
    }

    /// The last token consumed.
    fn current(&self) -> TokenWithSpan {
        self.parser.get_current_token().clone()
    }

    /// The span of the last non-whitespace token consumed.
    fn last_span(&self) -> Span {
        let at = self.parser.index().min(self.tokens.len());
        self.tokens[..at].iter().rev().find(|t| !is_whitespace(t)).map(|t| t.span).unwrap_or(Span::empty())
    }

    fn eat_word(&mut self, word: &str) -> bool {
        if self.peek_word(word) {
            self.next();
            true
        } else {
            false
        }
    }

    fn eat_token(&mut self, token: &Token) -> bool {
        self.parser.consume_token(token)
    }

    /// Consume the keyword `word`, returning its span, or fail.
    fn expect_word(&mut self, word: &str) -> Result<Span> {
        let token = self.next();
        match &token.token {
            Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(word) => Ok(token.span),
            _ => Err(self.unexpected(word)),
        }
    }

    fn expect_token(&mut self, token: &Token, expected: &str) -> Result<()> {
        if self.eat_token(token) {
            Ok(())
        } else {
            self.next();
            Err(self.unexpected(expected))
        }
    }

    /// "expected {expected}, found {the last token consumed}", at that token.
    fn unexpected(&self, expected: &str) -> Error {
        let found = self.current();
        let span = if found.token == Token::EOF { self.end } else { found.span };
        Error::parse(format!("expected {expected}, found {}", describe(&found.token))).with_span(span)
    }

    /// Fail unless every token has been consumed.
    fn finish(&mut self, after: &str) -> Result<()> {
        if self.peek_is(&Token::EOF) {
            return Ok(());
        }
        let token = self.next();
        Err(Error::parse(format!("unexpected {} after {after}", describe(&token.token)))
            .with_span(token.span))
    }

    /// A name: an unquoted or double-quoted word.
    fn ident(&mut self, expected: &str) -> Result<Ident> {
        let token = self.next();
        match &token.token {
            Token::Word(w) => {
                Ok(Ident { value: w.value.clone(), quote_style: w.quote_style, span: token.span })
            }
            _ => Err(self.unexpected(expected)),
        }
    }

    /// A non-negative integer literal.
    fn uint(&mut self, expected: &str) -> Result<Spanned<u64>> {
        let token = self.next();
        match &token.token {
            Token::Number(s, _) => match s.parse::<u64>() {
                Ok(n) => Ok(Spanned::new(n, token.span)),
                Err(_) => Err(Error::parse(format!("expected {expected}, found {s}")).with_span(token.span)),
            },
            _ => Err(self.unexpected(expected)),
        }
    }

    /// `[IF NOT EXISTS]`: whether it was there.
    fn if_not_exists(&mut self) -> Result<bool> {
        if !self.eat_word("IF") {
            return Ok(false);
        }
        self.expect_word("NOT")?;
        self.expect_word("EXISTS")?;
        Ok(true)
    }

    /// `[ASC | DESC]`: true for descending (the default).
    fn order(&mut self) -> bool {
        if self.eat_word("ASC") {
            false
        } else {
            let _ = self.eat_word("DESC");
            true
        }
    }

    fn expr(&mut self) -> Result<Expr> {
        let from = self.parser.index();
        let expr = self.parser.parse_expr().map_err(|e| self.sql_error(e))?;
        self.within_depth(expr, from)
    }

    fn exprs(&mut self) -> Result<Vec<Expr>> {
        let mut exprs = vec![self.expr()?];
        while self.eat_token(&Token::Comma) {
            exprs.push(self.expr()?);
        }
        Ok(exprs)
    }

    fn query(&mut self) -> Result<Box<Query>> {
        let from = self.parser.index();
        let query = self.parser.parse_query().map_err(|e| self.sql_error(e))?;
        self.within_depth(query, from)
    }

    /// `node`, parsed from the tokens at `from` up to the cursor, if it nests no deeper than
    /// [`depth::MAX_DEPTH`]; else an error spanning those tokens.
    fn within_depth<T: Visit + VisitMut>(&self, node: T, from: usize) -> Result<T> {
        if depth::within_limit(&node) {
            return Ok(node);
        }
        depth::dismantle(node);
        let to = self.parser.index().min(self.tokens.len());
        let mut solid = self.tokens[from.min(to)..to].iter().filter(|t| !is_whitespace(t));
        let span = match (solid.next(), solid.next_back()) {
            (Some(first), Some(last)) => first.span.union(&last.span),
            (Some(only), None) => only.span,
            _ => self.end,
        };
        Err(depth::too_deep(span))
    }

    /// Convert sqlparser's error, whose location is only in its message text
    /// (`"... at Line: 3, Column: 5"`), into a spanned error.
    fn sql_error(&self, e: ParserError) -> Error {
        let message = match e {
            ParserError::ParserError(m) | ParserError::TokenizerError(m) => m,
            ParserError::RecursionLimitExceeded => {
                let start = self.tokens.iter().find(|t| !is_whitespace(t)).map(|t| t.span);
                return Error::parse("the statement is nested too deeply")
                    .with_span(start.unwrap_or(self.end));
            }
        };
        let (text, location) = split_location(&message);
        let mut text =
            lowercase_first(&text.replace("Expected: ", "expected ").replace(", found: ", ", found "));
        // Name the found token the way this module's own messages do.
        if let Some(at) = text.rfind(", found ") {
            let found = &text[at + ", found ".len()..];
            let found = if found == "EOF" { "end of statement".to_string() } else { format!("\"{found}\"") };
            text = format!("{}, found {found}", &text[..at]);
        }
        let span = match location {
            Some(at) => self
                .tokens
                .iter()
                .map(|t| t.span)
                .chain(std::iter::once(self.end))
                .find(|s| s.start == at)
                .unwrap_or(Span::new(at, Location::new(at.line, at.column + 1))),
            None => self.end,
        };
        Error::parse(text).with_span(span)
    }
}

/// Split `"message at Line: l, Column: c"` into the message and the location.
fn split_location(message: &str) -> (&str, Option<Location>) {
    let Some(at) = message.rfind(" at Line: ") else { return (message, None) };
    let rest = &message[at + " at Line: ".len()..];
    let Some((line, column)) = rest.split_once(", Column: ") else { return (message, None) };
    match (line.trim().parse::<u64>(), column.trim().parse::<u64>()) {
        (Ok(line), Ok(column)) => (&message[..at], Some(Location::new(line, column))),
        _ => (message, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Stage;

    fn one(text: &str) -> Statement {
        let mut statements = parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(statements.len(), 1, "{text}");
        statements.remove(0)
    }

    fn kind(text: &str) -> StatementKind {
        one(text).kind
    }

    /// parse → to_string → parse gives an equal tree, and printing is a fixed point.
    fn round_trip(text: &str) {
        let first = one(text);
        let printed = first.to_string();
        let second = one(&printed);
        assert_eq!(first, second, "{text}\n  printed: {printed}");
        assert_eq!(printed, second.to_string());
    }

    fn error(text: &str) -> Error {
        match parse(text) {
            Ok(statements) => panic!("{text}: parsed as {statements:?}"),
            Err(e) => {
                assert_eq!(e.stage(), Stage::Parse);
                e
            }
        }
    }

    fn at(e: &Error) -> (u64, u64) {
        let span = e.span().unwrap_or_else(|| panic!("no span on {e}"));
        (span.start.line, span.start.column)
    }

    fn int(s: &str) -> Expr {
        Expr::value(sqlparser::ast::Value::Number(s.to_string(), false))
    }

    fn col(s: &str) -> Expr {
        Expr::Identifier(Ident::new(s))
    }

    const FORMS: &[&str] = &[
        "CREATE SOURCE readings (sensor BIGINT, value DOUBLE, note TEXT, ts BIGINT) TIME ts;",
        "CREATE SOURCE s (a INT, b INTEGER, c INT8, d LONG, e DOUBLE PRECISION, f FLOAT, g REAL, \
         h FLOAT8, i VARCHAR(20), j VARCHAR, k STRING, l BOOL, m BOOLEAN) TIME a LATENESS 10 KEEP NONE",
        "CREATE SOURCE s (a BIGINT) TIME a KEEP ALL",
        "CREATE VIEW latest3 AS SELECT sensor, value, ts FROM readings RETAIN LATEST 3 PER sensor DELAY 50",
        "CREATE VIEW top_prices AS SELECT auction, bidder, price FROM bids RETAIN TOP 2 PER auction BY price DESC",
        "CREATE VIEW t AS SELECT * FROM bids RETAIN TOP 1 PER a, b BY price + 1 ASC",
        "CREATE VIEW winners AS SELECT a.id AS auction, b.bidder, b.price FROM auctions a JOIN bids b \
         ON b.auction = a.id WHERE b.ts < a.expires RETAIN WINNER PER a.id BY b.price CLOSE AT a.expires",
        "CREATE VIEW w AS SELECT * FROM x RETAIN WINNER PER k BY p ASC CLOSE AT c + 5 FORGET AFTER 100 DELAY 3",
        "CREATE VIEW flow_latency AS SELECT s.flow, s.seq, r.ts - s.ts AS latency FROM sends s JOIN recvs r \
         ON r.flow = s.flow AND r.seq = s.seq RETAIN UNMATCHED",
        "CREATE VIEW flow_stats AS SELECT flow, count(*) AS pairs, max(latency) AS worst, avg(latency) AS mean \
         FROM flow_latency GROUP BY flow",
        "INSERT INTO readings VALUES (1, 20.5, 'ok', 100), (2, 19.0, 'it''s', 105)",
        "INSERT INTO readings (sensor, ts) VALUES (-1, NULL)",
        "COPY readings FROM 'data/readings.csv' WITH (HEADER true)",
        "COPY readings FROM 'a b.csv'",
        "COPY r FROM 'x.tsv' WITH (HEADER false, DELIMITER '|', FORMAT csv)",
        "ADVANCE TO 2000",
        "SELECT * FROM latest3 WHERE sensor = 1 ORDER BY ts DESC LIMIT 10",
        "SELECT CAST(a AS DOUBLE), b IS NOT NULL, NOT c OR d, 'x' || e FROM t",
        "EXPLAIN VIEW winners",
        "SHOW SOURCES",
        "SHOW VIEWS",
        "SHOW STATS",
        "SHOW ALL",
        "SHOW memory_budget",
        "SHOW \"Spill_Dir\"",
        "CREATE SOURCE IF NOT EXISTS r (a BIGINT, ts BIGINT) TIME ts",
        "CREATE SOURCE IF NOT EXISTS g FROM GENERATOR sensors (rate = 5)",
        "CREATE VIEW IF NOT EXISTS v AS SELECT a FROM r",
        "CREATE OR REPLACE VIEW v AS SELECT a, ts FROM r RETAIN LATEST 1 PER a",
        "CREATE VIEW \"Mixed Case\" AS SELECT \"Col\" AS \"Out\" FROM \"Src\"",
        "INSERT INTO \"Src\" (\"Col\") VALUES (1)",
        "DROP VIEW \"Mixed Case\"",
        "SHOW STATS FULL",
        "SHOW STATS PER PROCESS",
        "SUBSCRIBE latest3",
        "CREATE SOURCE readings FROM GENERATOR sensors",
        "CREATE SOURCE bids FROM GENERATOR bids (rate = 5000, auction_rate = 20)",
        "SUBSCRIBE TO latest3 FOR 10 SECONDS",
        "SUBSCRIBE latest3 FOR 250 MS",
        "DROP VIEW flow_stats",
        "DROP SOURCE IF EXISTS readings",
        "SET memory_budget = '256MB'",
        "SET memory_budget TO 0",
        "SET spill_dir = '/tmp/it''s here'",
    ];

    #[test]
    fn every_form_parses_and_round_trips() {
        for text in FORMS {
            round_trip(text);
            round_trip(&text.to_lowercase());
        }
    }

    #[test]
    fn create_source() {
        let StatementKind::CreateSource(s) = kind(
            "create source readings (sensor bigint, value double precision, note varchar(3), ok bool) time ts",
        ) else {
            panic!()
        };
        assert_eq!(s.name, Ident::new("readings"));
        let types: Vec<_> = s.columns.iter().map(|c| c.data_type).collect();
        assert_eq!(types, [DataType::BigInt, DataType::Double, DataType::Text, DataType::Boolean]);
        assert_eq!(s.time_column, Ident::new("ts"));
        assert_eq!(s.lateness, None);
        assert_eq!(s.history, History::KeepAll);
        // The column span covers the name and the whole type.
        let span = s.columns[1].span;
        assert_eq!((span.start.column, span.end.column), (40, 62));

        let StatementKind::CreateSource(s) = kind("CREATE SOURCE s (a BIGINT) TIME a KEEP NONE LATENESS 7")
        else {
            panic!()
        };
        assert_eq!(s.lateness.map(|l| l.value), Some(7));
        assert_eq!(s.history, History::KeepNone);
    }

    #[test]
    fn create_view_rules() {
        let StatementKind::CreateView(v) =
            kind("CREATE VIEW l AS SELECT * FROM r RETAIN LATEST 3 PER a, b DELAY 50")
        else {
            panic!()
        };
        let retain = v.retain.expect("a rule");
        assert_eq!(
            retain.rule,
            RetainRule::Latest { n: Spanned::new(3, Span::empty()), per: vec![col("a"), col("b")] }
        );
        assert_eq!(retain.delay.map(|d| d.value), Some(50));
        assert_eq!((retain.span.start.column, retain.span.end.column), (34, 67));
        assert_eq!(v.query.to_string(), "SELECT * FROM r");

        let StatementKind::CreateView(v) = kind("create view t as select * from b retain top 2 per k by p")
        else {
            panic!()
        };
        let Some(Retain { rule: RetainRule::Top { n, by, descending, .. }, .. }) = v.retain else { panic!() };
        assert_eq!((n.value, by, descending), (2, col("p"), true));

        let StatementKind::CreateView(v) =
            kind("CREATE VIEW w AS SELECT * FROM x RETAIN WINNER PER k BY p ASC CLOSE AT c FORGET AFTER 9")
        else {
            panic!()
        };
        let Some(Retain { rule: RetainRule::Winner { per, descending, close_at, forget_after, .. }, .. }) =
            v.retain
        else {
            panic!()
        };
        assert_eq!(
            (per, descending, close_at, forget_after.map(|f| f.value)),
            (vec![col("k")], false, col("c"), Some(9))
        );

        let StatementKind::CreateView(v) = kind("CREATE VIEW v AS SELECT a FROM t GROUP BY a") else {
            panic!()
        };
        assert_eq!(v.retain, None);
    }

    #[test]
    fn retain_inside_parentheses_is_not_the_views_clause() {
        // In a subquery, sqlparser reads RETAIN as the table's alias; it is not the view's rule.
        let StatementKind::CreateView(v) = kind("CREATE VIEW v AS SELECT * FROM (SELECT * FROM t retain) s")
        else {
            panic!()
        };
        assert_eq!(v.retain, None);
        let StatementKind::CreateView(v) =
            kind("CREATE VIEW v AS SELECT * FROM (SELECT * FROM t retain) s RETAIN LATEST 1 PER x")
        else {
            panic!()
        };
        assert!(matches!(v.retain, Some(Retain { rule: RetainRule::Latest { .. }, .. })));
        assert!(v.query.to_string().contains("retain"));
        // `AS retain` is an alias too.
        let StatementKind::CreateView(v) = kind("CREATE VIEW v AS SELECT * FROM t AS retain") else {
            panic!()
        };
        assert_eq!(v.retain, None);
    }

    #[test]
    fn insert_copy_and_the_rest() {
        let StatementKind::Insert(i) = kind("insert into r (a, b) values (1, 2), (3, 4)") else { panic!() };
        assert_eq!(i.source, Ident::new("r"));
        assert_eq!(i.columns, vec![Ident::new("a"), Ident::new("b")]);
        assert_eq!(i.rows, vec![vec![int("1"), int("2")], vec![int("3"), int("4")]]);

        let StatementKind::Copy(c) = kind("copy r from 'f.csv' with (header, delimiter ';', format 'CSV')")
        else {
            panic!()
        };
        assert_eq!((c.path.value.as_str(), c.header, c.delimiter), ("f.csv", true, b';'));
        assert_eq!(c.path.span.start.column, 13);

        let StatementKind::AdvanceTo(a) = kind("advance to 2000") else { panic!() };
        assert_eq!(a.time.value, 2000);
        assert_eq!(kind("explain view w"), StatementKind::ExplainView(Ident::new("w")));
        assert_eq!(kind("show stats"), StatementKind::Show(Show::Stats));
        assert_eq!(
            kind("drop view if exists v"),
            StatementKind::Drop(ast::Drop { kind: ObjectKind::View, name: Ident::new("v"), if_exists: true })
        );
        assert!(matches!(kind("(SELECT 1)"), StatementKind::Query(_)));
        assert!(matches!(kind("WITH x AS (SELECT 1) SELECT * FROM x"), StatementKind::Query(_)));
    }

    #[test]
    fn create_options_and_show_settings() {
        let StatementKind::CreateView(v) = kind("create or replace view v as select a from r") else {
            panic!()
        };
        assert!(v.or_replace && !v.if_not_exists);
        let StatementKind::CreateView(v) = kind("CREATE VIEW IF NOT EXISTS v AS SELECT a FROM r") else {
            panic!()
        };
        assert!(!v.or_replace && v.if_not_exists);
        assert_eq!(v.name, Ident::new("v"));
        let StatementKind::CreateSource(s) = kind("CREATE SOURCE IF NOT EXISTS s (a BIGINT) TIME a") else {
            panic!()
        };
        assert!(s.if_not_exists);
        let StatementKind::CreateGenerated(g) = kind("CREATE SOURCE IF NOT EXISTS g FROM GENERATOR bids")
        else {
            panic!()
        };
        assert!(g.if_not_exists);
        let StatementKind::CreateGenerated(g) = kind("CREATE SOURCE g FROM GENERATOR bids") else { panic!() };
        assert!(!g.if_not_exists);
        assert_eq!(kind("SHOW ALL"), StatementKind::Show(Show::All));
        assert_eq!(
            kind("show Memory_Budget"),
            StatementKind::Show(Show::Setting(Ident::new("Memory_Budget")))
        );
        // A quoted name keeps its quotes through printing.
        assert_eq!(kind("SHOW \"x y\""), StatementKind::Show(Show::Setting(Ident::with_quote('"', "x y"))));
    }

    #[test]
    fn names_fold_unless_quoted() {
        assert_eq!(ast::name_of(&Ident::new("Plain")), "plain");
        assert_eq!(ast::name_of(&Ident::with_quote('"', "Plain")), "Plain");
        let StatementKind::Insert(i) = kind("INSERT INTO \"Mixed\" (\"Val\") VALUES (1)") else { panic!() };
        assert_eq!(ast::name_of(&i.source), "Mixed");
        assert_eq!(i.to_string(), "INSERT INTO \"Mixed\" (\"Val\") VALUES (1)");
    }

    #[test]
    fn parse_each_keeps_the_statements_around_a_bad_one() {
        let text = "SHOW VIEWS;\nSHOW FROBS NOW;\nSHOW STATS FULL";
        let statements = parse_each(text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(statements.len(), 3);
        assert_eq!(statements[0].as_ref().map(|s| s.kind.clone()), Ok(StatementKind::Show(Show::Views)));
        let error = statements[1].as_ref().expect_err("SHOW FROBS NOW does not parse");
        assert_eq!(error.span().map(|s| (s.start.line, s.start.column)), Some((2, 12)));
        assert_eq!(statements[2].as_ref().map(|s| s.kind.clone()), Ok(StatementKind::Show(Show::StatsFull)));
        assert!(parse_each("SELECT 'unterminated").is_err());
    }

    #[test]
    fn scripts_split_at_semicolons_with_spans() {
        let text = "SHOW VIEWS;;\n  -- a comment; with a semicolon\n  SELECT ';' FROM t ;\nADVANCE TO 5";
        let statements = parse(text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(statements.len(), 3);
        let spans: Vec<_> = statements
            .iter()
            .map(|s| (s.span.start.line, s.span.start.column, s.span.end.line, s.span.end.column))
            .collect();
        assert_eq!(spans, [(1, 1, 1, 11), (3, 3, 3, 20), (4, 1, 4, 13)]);
        assert!(parse("").unwrap_or_else(|e| panic!("{e}")).is_empty());
        assert!(parse("  ; -- nothing\n;").unwrap_or_else(|e| panic!("{e}")).is_empty());
    }

    #[test]
    fn errors_point_into_the_whole_script() {
        let text = "CREATE SOURCE a (x BIGINT) TIME x;\nSHOW SOURCES;\nCREATE SOURCE b (\n  y BIGINT,\n  z DECIMAL) TIME y;";
        let e = error(text);
        assert_eq!(at(&e), (5, 5));
        assert!(e.message().contains("unknown type \"DECIMAL\""), "{e}");
        assert!(e.message().contains("BIGINT") && e.message().contains("BOOLEAN"), "{e}");
        assert_eq!(e.span().map(|s| s.end.column), Some(12));

        // An error inside a query, from sqlparser, on line 3.
        let e = error("SHOW VIEWS;\nSELECT a,\n  FROM t WHERE;");
        assert_eq!(at(&e), (3, 15));
        assert!(e.message().starts_with("expected"), "{e}");
        assert!(!e.message().contains("Line"), "{e}");

        // Missing tokens at the end of a statement point at its `;`.
        let e = error("SHOW VIEWS;\nADVANCE TO ;");
        assert_eq!(at(&e), (2, 12));
        assert!(e.message().contains("end of statement"), "{e}");

        // Leftovers.
        let e = error("SHOW VIEWS\n\n  please;");
        assert_eq!(at(&e), (3, 3));
        assert!(e.message().starts_with("unexpected \"please\" after"), "{e}");

        // Tokenizer errors.
        let e = error("SHOW VIEWS;\n  SELECT 'oops");
        assert_eq!(at(&e), (2, 10));
        assert!(e.message().contains("unterminated"), "{e}");
    }

    #[test]
    fn error_messages() {
        for (text, expected, line_column) in [
            ("CREATE TABLE t (a INT)", "expected SOURCE or VIEW after CREATE, found \"TABLE\"", (1, 8)),
            ("FROB", "expected a statement", (1, 1)),
            ("CREATE SOURCE s (a INT)", "expected TIME, found end of statement", (1, 24)),
            ("CREATE SOURCE s (a) TIME a", "expected a type for column \"a\", found \")\"", (1, 19)),
            (
                "CREATE VIEW v AS SELECT 1 RETAIN EVERYTHING",
                "expected LATEST, TOP, WINNER or UNMATCHED",
                (1, 34),
            ),
            (
                "CREATE VIEW v AS SELECT 1 RETAIN UNMATCHED 5",
                "unexpected \"5\" after the RETAIN clause",
                (1, 44),
            ),
            ("CREATE VIEW v AS SELECT 1 RETAIN LATEST -1 PER k", "expected a row count", (1, 41)),
            ("CREATE VIEW v AS RETAIN UNMATCHED", "expected a query after AS", (1, 18)),
            ("INSERT INTO t SELECT 1", "expected VALUES, found \"SELECT\"", (1, 15)),
            ("COPY t FROM 'f' WITH (QUOTE '\"')", "unknown COPY option \"QUOTE\"", (1, 23)),
            ("COPY t FROM 'f' WITH (DELIMITER ';;')", "one ASCII character", (1, 33)),
            ("COPY t FROM 'f' WITH (FORMAT json)", "unsupported COPY format \"json\"", (1, 30)),
            ("COPY t FROM 'f' WITH (HEADER, HEADER)", "given twice", (1, 31)),
            ("COPY t FROM f", "expected a quoted file path", (1, 13)),
            ("ADVANCE TO 99999999999999999999999", "expected a time", (1, 12)),
            ("EXPLAIN SELECT 1", "expected VIEW after EXPLAIN", (1, 9)),
            ("SHOW 5", "expected SOURCES, VIEWS, STATS, ALL or a setting's name", (1, 6)),
            ("SHOW memory_budget x", "unexpected \"x\" after SHOW", (1, 20)),
            (
                "CREATE OR REPLACE SOURCE s (a BIGINT) TIME a",
                "expected VIEW after CREATE OR REPLACE",
                (1, 19),
            ),
            ("CREATE OR REPLACE VIEW IF NOT EXISTS v AS SELECT 1", "cannot be combined", (1, 31)),
            ("CREATE VIEW IF EXISTS v AS SELECT 1", "expected NOT, found \"EXISTS\"", (1, 16)),
            ("CREATE SOURCE IF NOT s (a BIGINT) TIME a", "expected EXISTS, found \"s\"", (1, 22)),
            ("DROP INDEX i", "expected VIEW or SOURCE after DROP", (1, 6)),
            ("INSERT INTO t VALUES (1, )", "expected an expression, found \")\"", (1, 26)),
            ("SELECT * FROM t WHERE a = ", "expected an expression, found end of statement", (1, 27)),
            ("DROP VIEW a.b", "unexpected \".\" after the name", (1, 12)),
        ] {
            let e = error(text);
            assert!(e.message().contains(expected), "{text}: {e}");
            assert_eq!(at(&e), line_column, "{text}: {e}");
        }
    }

    #[test]
    fn nothing_panics() {
        let nested = format!("SELECT {}1{}", "(".repeat(500), ")".repeat(500));
        assert!(parse(&nested).is_err());
        for text in [
            "(",
            ")",
            "CREATE",
            "CREATE VIEW",
            "CREATE VIEW v AS",
            "CREATE VIEW v AS SELECT (1 RETAIN",
            "RETAIN",
            "INSERT INTO t VALUES (",
            "COPY t FROM 'x' WITH (",
            "COPY t FROM 'x' WITH (DELIMITER",
            "/* x",
            "SELECT \"x",
            "\u{0}",
            "DROP VIEW IF",
            "CREATE SOURCE s (a VARCHAR(",
            "é",
        ] {
            let _ = parse(text);
            let _ = is_complete(text);
        }
    }

    #[test]
    fn completeness() {
        assert!(is_complete(""));
        assert!(is_complete("  \n "));
        assert!(is_complete("SELECT 1;"));
        assert!(is_complete("SELECT 1; -- done\n"));
        assert!(is_complete("SELECT 1; /* done */  "));
        assert!(!is_complete("SELECT 1"));
        assert!(!is_complete("SELECT 1; SELECT"));
        assert!(!is_complete("SELECT 1 -- not yet;"));
        assert!(!is_complete("SELECT ';"));
        assert!(!is_complete("SELECT 1 /* ; "));
        assert!(is_complete("SELECT k FROM r WHERE k = @;"));
        assert!(is_complete("SELECT k FROM r WHERE #\n"));
        assert!(!is_complete("SELECT \"unclosed name"));
        assert!(!is_complete("SELECT 'a\nb"));
        assert!(!is_complete("SELECT 1 /* /* nested */ ; "));
        assert!(!is_complete("SELECT $$ dollar;"));
        assert!(!is_complete("SELECT $tag$ dollar;"));
        // A bad token is an error for the parser to report, whatever follows it, even one the
        // tokenizer calls unterminated.
        assert!(is_complete("SELECT U&'\\00zz';"));
        assert!(is_complete("SELECT E'\\u00zz';"));
    }

    #[test]
    fn a_word_starting_with_at_or_hash_is_refused_where_it_starts() {
        for (text, column) in [("SELECT 1 AND @;\nSELECT 2;", 14), ("SELECT #x FROM r;", 8)] {
            let e = parse(text).unwrap_err();
            assert!(e.message().starts_with("unexpected character"), "{}", e.message());
            let span = e.span().expect("a span");
            assert_eq!((span.start.line, span.start.column), (1, column), "{text}");
        }
    }
}
