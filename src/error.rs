//! The one library error type.
//!
//! Every fallible function in the library returns [`Result<T>`]. An [`Error`] says which
//! pipeline stage refused the input ([`Stage`]), what was wrong (a lowercase message with
//! quoted identifiers), where (an optional [`Span`] into the statement text), and optional
//! notes and a hint. Carets are rendered once, at the edge, by [`Error::render`]; the library
//! itself never prints.
//!
//! The error is boxed so that `Result<T>` stays one pointer wide on the error path.

use std::fmt;

use unicode_width::UnicodeWidthChar;

/// The characters of a source line an error shows at most, and how many of them come before
/// the span when the line is cut.
const SHOWN_CHARS: usize = 160;
const SHOWN_BEFORE: usize = 60;

pub use sqlparser::tokenizer::{Location, Span};

/// The pipeline stage an error comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// The text is not a statement of the language.
    Parse,
    /// A name, type or rule does not fit the catalog.
    Bind,
    /// Input data was refused: a late row, a malformed CSV line, a value of the wrong type.
    Data,
    /// A file could not be read or written.
    Io,
    /// The dataflow engine failed or is gone.
    Engine,
}

impl Stage {
    fn label(self) -> &'static str {
        match self {
            Stage::Parse => "syntax error",
            Stage::Bind => "error",
            Stage::Data => "data error",
            Stage::Io => "i/o error",
            Stage::Engine => "engine error",
        }
    }
}

/// What kind of thing went wrong, where a caller must tell errors of one stage apart (most
/// errors have no kind: their message is for people, never for code).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// A name that resolves to no column.
    UnknownColumn,
}

/// What went wrong, and where.
#[derive(Clone, Debug, PartialEq)]
pub struct ErrorDetail {
    /// The stage that refused the input.
    pub stage: Stage,
    /// What kind of error it is, when code must know.
    pub kind: Option<ErrorKind>,
    /// Lowercase, with identifiers quoted.
    pub message: String,
    /// Where in the statement text, when known.
    pub span: Option<Span>,
    /// Further facts, one line each.
    pub notes: Vec<String>,
    /// What the user could do instead.
    pub hint: Option<String>,
}

/// The library error: one pointer wide.
#[derive(Clone, PartialEq)]
pub struct Error(Box<ErrorDetail>);

/// The library result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A new error of `stage` with `message`.
    pub fn new(stage: Stage, message: impl Into<String>) -> Self {
        Error(Box::new(ErrorDetail {
            stage,
            kind: None,
            message: message.into(),
            span: None,
            notes: Vec::new(),
            hint: None,
        }))
    }

    /// A syntax error.
    pub fn parse(message: impl Into<String>) -> Self {
        Self::new(Stage::Parse, message)
    }

    /// A binding (name, type, rule) error.
    pub fn bind(message: impl Into<String>) -> Self {
        Self::new(Stage::Bind, message)
    }

    /// A data error.
    pub fn data(message: impl Into<String>) -> Self {
        Self::new(Stage::Data, message)
    }

    /// An i/o error.
    pub fn io(message: impl Into<String>) -> Self {
        Self::new(Stage::Io, message)
    }

    /// An engine error.
    pub fn engine(message: impl Into<String>) -> Self {
        Self::new(Stage::Engine, message)
    }

    /// Attach a span, unless one is already attached (the innermost span is the most precise).
    pub fn with_span(mut self, span: Span) -> Self {
        if self.0.span.is_none() && span != Span::empty() {
            self.0.span = Some(span);
        }
        self
    }

    /// Say what kind of error this is (see [`ErrorKind`]).
    pub fn with_kind(mut self, kind: ErrorKind) -> Self {
        self.0.kind = Some(kind);
        self
    }

    /// What kind of error this is, when code must know.
    pub fn kind(&self) -> Option<ErrorKind> {
        self.0.kind
    }

    /// Add a note.
    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.0.notes.push(note.into());
        self
    }

    /// Set the hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.0.hint = Some(hint.into());
        self
    }

    /// The details.
    pub fn detail(&self) -> &ErrorDetail {
        &self.0
    }

    /// The stage.
    pub fn stage(&self) -> Stage {
        self.0.stage
    }

    /// The message, without location.
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// The span, if any.
    pub fn span(&self) -> Option<Span> {
        self.0.span
    }

    /// Render for a person: the message, then `--> line:column`, the offending source line
    /// and a caret line under the span, then notes and hint. `source` is the whole text the
    /// span's lines and columns refer to; `origin` names it (a file path, or `<stdin>`).
    pub fn render(&self, source: &str, origin: &str) -> String {
        let detail = &self.0;
        let mut out = format!("{}: {}\n", detail.stage.label(), detail.message);
        if let Some(span) = detail.span.filter(|s| s.start.line > 0) {
            let line_no = span.start.line as usize;
            let column = span.start.column.max(1) as usize;
            out.push_str(&format!("  --> {origin}:{line_no}:{column}\n"));
            if let Some(text) = source.lines().nth(line_no - 1) {
                let gutter = line_no.to_string().len();
                let spanned = if span.end.line == span.start.line && span.end.column > span.start.column {
                    (span.end.column - span.start.column) as usize
                } else {
                    usize::MAX
                };
                // A long line (a generated script on one line) is shown as a window around the
                // span, so that each error on it prints a screenful, not the whole line.
                let chars: Vec<char> = text.chars().collect();
                let at = (column - 1).min(chars.len());
                let from = if chars.len() > SHOWN_CHARS { at.saturating_sub(SHOWN_BEFORE) } else { 0 };
                let to = (from + SHOWN_CHARS).min(chars.len());
                let (before, after) =
                    (if from > 0 { "…" } else { "" }, if to < chars.len() { "…" } else { "" });
                let shown: String = chars[from..to].iter().collect();
                // Pad and caret by the columns a terminal gives each character (2 for most
                // CJK and emoji, none for a combining accent or a byte-order mark).
                let pad: String = before
                    .chars()
                    .chain(chars[from..at].iter().copied())
                    .map(|c| if c == '\t' { "\t".to_string() } else { " ".repeat(c.width().unwrap_or(0)) })
                    .collect();
                let width =
                    chars[at..to].iter().take(spanned).map(|c| c.width().unwrap_or(0)).sum::<usize>().max(1);
                out.push_str(&format!("{:gutter$} |\n", ""));
                out.push_str(&format!("{line_no} | {before}{shown}{after}\n"));
                out.push_str(&format!("{:gutter$} | {pad}{}\n", "", "^".repeat(width)));
            }
        } else if !origin.is_empty() {
            out.push_str(&format!("  --> {origin}\n"));
        }
        for note in &detail.notes {
            out.push_str(&format!("  = note: {note}\n"));
        }
        if let Some(hint) = &detail.hint {
            out.push_str(&format!("  = hint: {hint}\n"));
        }
        out
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let detail = &self.0;
        write!(f, "{}: {}", detail.stage.label(), detail.message)?;
        if let Some(span) = detail.span.filter(|s| s.start.line > 0) {
            write!(f, " at line {}, column {}", span.start.line, span.start.column)?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl std::error::Error for Error {}

/// Return early with a bind error, formatted like `format!`.
#[macro_export]
macro_rules! bind_err {
    ($($arg:tt)*) => { return Err($crate::error::Error::bind(format!($($arg)*))) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_is_one_pointer_wide() {
        assert_eq!(std::mem::size_of::<Error>(), std::mem::size_of::<usize>());
    }

    #[test]
    fn caret_sits_under_the_span() {
        let source = "SELECT *\nFROM nowhere;";
        let span = Span::new(Location::new(2, 6), Location::new(2, 13));
        let rendered =
            Error::bind("view or source \"nowhere\" not found").with_span(span).render(source, "job.sql");
        assert_eq!(
            rendered,
            "error: view or source \"nowhere\" not found\n  --> job.sql:2:6\n  |\n2 | FROM nowhere;\n  |      ^^^^^^^\n"
        );
    }

    #[test]
    fn caret_counts_the_columns_a_terminal_shows() {
        let caret = |source: &str, start: u64, end: u64| {
            let span = Span::new(Location::new(1, start), Location::new(1, end));
            let rendered = Error::bind("x").with_span(span).render(source, "job.sql");
            rendered.lines().last().map(String::from).unwrap_or_default()
        };
        // Two columns per emoji and CJK character.
        assert_eq!(caret("SELECT '🎉' || nope", 15, 19), "  |                ^^^^");
        assert_eq!(caret("SELECT 日本 FROM r", 8, 10), "  |        ^^^^");
        // None for a combining accent or a byte-order mark.
        assert_eq!(caret("SELECT 'e\u{301}' || nope", 16, 20), "  |               ^^^^");
        assert_eq!(caret("\u{feff}SELECT nope", 9, 13), "  |        ^^^^");
    }

    #[test]
    fn a_long_line_is_shown_around_the_span() {
        let source = format!("{}SELECT nope;{}", "SELECT 1;".repeat(1000), "SELECT 1;".repeat(1000));
        let span = Span::new(Location::new(1, 9008), Location::new(1, 9012));
        let rendered = Error::bind("x").with_span(span).render(&source, "job.sql");
        let lines: Vec<&str> = rendered.lines().collect();
        assert!(lines.iter().all(|line| line.chars().count() < 200), "{rendered}");
        let (shown, caret) = (lines[3], lines[4]);
        assert!(shown.starts_with("1 | …") && shown.ends_with('…'), "{shown}");
        let at = caret.find('^').expect("a caret");
        assert_eq!(caret[at..].trim_end(), "^^^^");
        assert_eq!(shown.chars().skip(caret[..at].chars().count()).take(4).collect::<String>(), "nope");
    }
}
