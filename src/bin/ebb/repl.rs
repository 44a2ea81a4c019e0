//! The interactive REPL: `ebb` with no subcommand.
//!
//! Two layers. [`Repl`] is the core: it takes one typed line at a time, gathers lines until
//! they end a statement (`ebb::sql::is_complete`), runs statements and meta commands (`\d`,
//! `\i`, `\timing`, `\format`, `\x`, `\pset`, `\o`, `\watch`, `\q`, `\?`) against a
//! [`Session`], and writes to any pair of writers, so tests drive it without a terminal.
//! `SUBSCRIBE` prints one line per change as changes come. [`run`] is the thin terminal shell
//! around it: a rustyline editor with completion and a persistent history file, a Ctrl-C
//! handler that cancels what runs instead of the session, and a pager for results taller than
//! the terminal.

use std::cell::RefCell;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use ebb::format::{Format, Printer};
use ebb::repr::Datum;
use ebb::sql::StatementKind;
use ebb::{Error, Output, Session, SessionOptions};
use rustyline::completion::{Completer, FilenameCompleter, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::{DefaultHistory, History};
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{CompletionType, Config, Context, Editor, Helper};

/// The prompt for a new entry.
pub const PROMPT: &str = "ebb> ";
/// The prompt while a statement goes on over more lines.
pub const CONTINUATION_PROMPT: &str = "  -> ";

/// The words the completer offers besides the catalog's names.
const KEYWORDS: &[&str] = &[
    "ADVANCE",
    "AFTER",
    "ALL",
    "AND",
    "AS",
    "ASC",
    "AT",
    "AVG",
    "BIGINT",
    "BOOLEAN",
    "BY",
    "CAST",
    "CLOSE",
    "COPY",
    "COUNT",
    "CREATE",
    "DELAY",
    "DELIMITER",
    "DESC",
    "DOUBLE",
    "DROP",
    "EXISTS",
    "EXPLAIN",
    "FALSE",
    "FORGET",
    "FROM",
    "GENERATOR",
    "GROUP",
    "HEADER",
    "IF",
    "INNER",
    "INSERT",
    "INTO",
    "IS",
    "JOIN",
    "KEEP",
    "LATENESS",
    "LATEST",
    "LIMIT",
    "MAX",
    "MIN",
    "NONE",
    "NOT",
    "NULL",
    "ON",
    "OR",
    "ORDER",
    "PER",
    "RETAIN",
    "SELECT",
    "SHOW",
    "SOURCE",
    "SOURCES",
    "STATS",
    "SUBSCRIBE",
    "SUM",
    "TEXT",
    "TIME",
    "TO",
    "TOP",
    "TRUE",
    "UNMATCHED",
    "VALUES",
    "VIEW",
    "VIEWS",
    "WHERE",
    "WINNER",
    "WITH",
];

/// The meta commands, for completion and `\?`.
const META_COMMANDS: &[(&str, &str)] = &[
    ("\\d", "list sources and views with their columns"),
    ("\\d NAME", "describe a source or view: columns and types; a view's definition"),
    ("\\i FILE", "run a script file (its COPY paths are relative to the file's folder)"),
    ("\\timing", "toggle printing how long each statement took"),
    ("\\format table|csv|json", "choose how results are printed (no argument: show the format)"),
    (
        "\\x [on|off|auto]",
        "expanded tables: one block of `column | value` lines per row (auto: when too wide)",
    ),
    ("\\pset null TEXT", "show NULL as TEXT in tables"),
    ("\\pset pager on|off", "page results taller than the terminal through $EBB_PAGER or $PAGER"),
    ("\\o [FILE]", "send results to FILE (no FILE: back to the terminal)"),
    ("\\watch SECONDS [STATEMENT]", "run a statement (default: the last one) every SECONDS until Ctrl-C"),
    ("\\q", "quit (Ctrl-D too)"),
    ("\\?", "this help"),
];

/// What the shell should do after a line.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// The line did not end a statement: read more, with the continuation prompt.
    More,
    /// An entry (statements or a meta command) was run; it belongs in the history.
    Done(String),
    /// The user asked to quit; the entry belongs in the history.
    Quit(String),
}

/// The REPL's core: a session, the statement being typed, and the display settings.
pub struct Repl {
    session: Session,
    format: Format,
    printer: Printer,
    timing: bool,
    /// Lines typed so far of a statement that has not ended yet.
    pending: String,
    /// The last SQL entry run, for a bare `\watch`.
    last_sql: Option<String>,
    /// Where COPY paths resolve when no script runs.
    base_dir: PathBuf,
    /// Source, view and column names for the completer.
    names: Rc<RefCell<Vec<String>>>,
    /// Set (by Ctrl-C) to end a `\watch`.
    watch_stop: Arc<AtomicBool>,
    /// Whether tables wider than the terminal are printed expanded (`\x auto`).
    auto_expand: bool,
    /// Where results go.
    sink: Sink,
}

/// Asks the terminal for its size as (lines, columns); `None` when it does not say.
type TerminalSize = dyn Fn() -> Option<(usize, usize)>;

/// Where results go: the terminal (through the pager when taller than it), or a file (`\o`).
struct Sink {
    /// The `\o` file and its name.
    file: Option<(String, std::fs::File)>,
    /// Whether tall results are paged (`\pset pager`).
    pager: bool,
    /// The terminal's size, when output goes to a terminal (set by [`run`]).
    terminal: Option<Box<TerminalSize>>,
    /// The first failure to write to the `\o` file since it was last reported.
    failure: Option<std::io::Error>,
}

impl Sink {
    /// Write `text` where results go. `pageable` text taller than the terminal goes through
    /// the pager (if that fails, to the terminal).
    fn write(&mut self, text: &str, pageable: bool, out: &mut dyn Write) {
        if let Some((_, file)) = &mut self.file {
            if let Err(e) = file.write_all(text.as_bytes()).and_then(|()| file.flush()) {
                self.failure.get_or_insert(e);
            }
            return;
        }
        let rows = if pageable && self.pager { self.size().map(|(rows, _)| rows) } else { None };
        // Leave a line for the prompt.
        if rows.is_some_and(|rows| text.lines().count() >= rows) && page(text).is_ok() {
            return;
        }
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }

    /// The size of the terminal results go to, if they go to one.
    fn size(&self) -> Option<(usize, usize)> {
        if self.file.is_some() { None } else { self.terminal.as_ref().and_then(|size| size()) }
    }

    /// Report a failed write to the `\o` file once.
    fn report(&mut self, err: &mut dyn Write) {
        if let (Some(e), Some((name, _))) = (self.failure.take(), &self.file) {
            let _ =
                err.write_all(Error::io(format!("cannot write \"{name}\": {e}")).render("", "").as_bytes());
        }
    }
}

/// Show `text` in `$EBB_PAGER`, else `$PAGER`, else `less -FRX`; an empty variable means no
/// pager. Returns when the pager ends.
fn page(text: &str) -> std::io::Result<()> {
    let command = std::env::var("EBB_PAGER")
        .or_else(|_| std::env::var("PAGER"))
        .unwrap_or_else(|_| "less -FRX".to_string());
    if command.trim().is_empty() {
        return Err(std::io::Error::other("no pager"));
    }
    let mut child = Command::new("sh").arg("-c").arg(&command).stdin(Stdio::piped()).spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        // A pager quit before the end closes the pipe: what it did not show is not wanted.
        let _ = stdin.write_all(text.as_bytes());
    }
    let status = child.wait()?;
    if status.success() {
        Ok(())
    } else {
        Err(std::io::Error::other(format!("the pager ended with {status}")))
    }
}

impl Repl {
    /// A REPL over `session`, whose relative paths resolve against `base_dir`.
    pub fn new(mut session: Session, base_dir: PathBuf) -> Repl {
        session.set_base_dir(base_dir.clone());
        let repl = Repl {
            session,
            format: Format::Table,
            printer: Printer::new(Format::Table),
            timing: false,
            pending: String::new(),
            last_sql: None,
            base_dir,
            names: Rc::new(RefCell::new(Vec::new())),
            watch_stop: Arc::new(AtomicBool::new(false)),
            auto_expand: false,
            sink: Sink { file: None, pager: true, terminal: None, failure: None },
        };
        repl.refresh_names();
        repl
    }

    /// Print results as `format` (`\format`).
    pub fn set_format(&mut self, format: Format) {
        let mut printer = Printer::new(format);
        printer.set_null(self.printer.null());
        printer.set_expanded(self.printer.expanded());
        self.format = format;
        self.printer = printer;
    }

    /// Results go to a terminal of `size()` (lines, columns), when it says: results taller
    /// than it are paged, and with `\x auto` tables wider than it are expanded.
    pub fn set_terminal_size(&mut self, size: impl Fn() -> Option<(usize, usize)> + 'static) {
        self.sink.terminal = Some(Box::new(size));
    }

    /// The prompt for the next line.
    pub fn prompt(&self) -> &'static str {
        if self.pending.is_empty() { PROMPT } else { CONTINUATION_PROMPT }
    }

    /// The shared list of names the completer offers, refreshed after every entry.
    pub fn names(&self) -> Rc<RefCell<Vec<String>>> {
        self.names.clone()
    }

    /// The flags a Ctrl-C handler sets, in this order: the `\watch` stop flag and the session's
    /// interrupt flag (which stops a script before its next statement).
    pub fn cancel_flags(&self) -> [Arc<AtomicBool>; 2] {
        [self.watch_stop.clone(), self.session.interrupt_flag()]
    }

    /// Forget the lines typed of an unfinished statement (Ctrl-C at the prompt).
    pub fn clear_pending(&mut self) {
        self.pending.clear();
    }

    /// Take one typed line. Results go to `out`, errors and notices to `err`.
    pub fn handle_line(&mut self, line: &str, out: &mut dyn Write, err: &mut dyn Write) -> Step {
        // A fresh command: a Ctrl-C that came before it must not cancel it.
        for flag in self.cancel_flags() {
            flag.store(false, Ordering::SeqCst);
        }
        let step = if line.trim_start().starts_with('\\') {
            let entry = line.trim().to_string();
            if self.meta(&entry, out, err) { Step::Done(entry) } else { Step::Quit(entry) }
        } else {
            if !self.pending.is_empty() {
                self.pending.push('\n');
            } else if line.trim().is_empty() {
                return Step::More;
            }
            self.pending.push_str(line);
            if !ebb::sql::is_complete(&self.pending) {
                return Step::More;
            }
            let entry = std::mem::take(&mut self.pending);
            self.run_sql(&entry, "<stdin>", out, err);
            self.last_sql = Some(entry.clone());
            Step::Done(entry)
        };
        self.refresh_names();
        let _ = out.flush();
        let _ = err.flush();
        step
    }

    /// Run statements, printing each output as it comes; `origin` names the text in errors.
    /// Returns whether every statement ran.
    fn run_sql(&mut self, text: &str, origin: &str, out: &mut dyn Write, err: &mut dyn Write) -> bool {
        let result = self.execute(text, true, out);
        let _ = out.flush();
        self.sink.report(err);
        match result {
            Ok(()) => true,
            Err(e) => {
                let _ = err.write_all(e.render(text, origin).as_bytes());
                false
            }
        }
    }

    /// Run statements, printing each output as it comes (through the pager if `pageable` and
    /// taller than the terminal). In a table, `SUBSCRIBE` prints one line per change instead
    /// (see [`change_lines`]).
    fn execute(&mut self, text: &str, pageable: bool, out: &mut dyn Write) -> ebb::Result<()> {
        let Repl { session, printer, timing, sink, auto_expand, .. } = self;
        for statement in ebb::sql::parse(text)? {
            let mut started = Instant::now();
            let subscribe = match &statement.kind {
                StatementKind::Subscribe(subscribe) if printer.format() == Format::Table => Some(subscribe),
                _ => None,
            };
            if let Some(subscribe) = subscribe {
                let until = if subscribe.for_millis.is_some() { "it ends or Ctrl-C" } else { "Ctrl-C" };
                let header = format!("SUBSCRIBE {}: one line per change, until {until}.\n", subscribe.view);
                sink.write(&header, false, out);
            }
            session.execute_streaming(&statement, text, &mut |output| {
                if subscribe.is_some() {
                    sink.write(&change_lines(&output, SystemTime::now(), printer.null()), false, out);
                    return;
                }
                let elapsed = started.elapsed();
                let width = sink.size().map(|(_, columns)| columns).filter(|_| *auto_expand);
                let mut text = render(printer, &output, width);
                if *timing {
                    text.push_str(&format!("Time: {:.1} ms\n", elapsed.as_secs_f64() * 1000.0));
                }
                sink.write(&text, pageable, out);
                started = Instant::now();
            })?;
        }
        Ok(())
    }

    /// Run a meta command; false means quit.
    fn meta(&mut self, entry: &str, out: &mut dyn Write, err: &mut dyn Write) -> bool {
        let (command, argument) = match entry.split_once(char::is_whitespace) {
            Some((command, argument)) => (command, argument.trim()),
            None => (entry, ""),
        };
        match command {
            "\\q" | "\\quit" => return false,
            "\\?" | "\\h" | "\\help" => {
                let width = META_COMMANDS.iter().map(|(c, _)| c.len()).max().unwrap_or(0);
                let mut text = String::from(
                    "Statements end with `;` and may span lines; meta commands start with `\\` and need no `;`.\n",
                );
                for (command, help) in META_COMMANDS {
                    text.push_str(&format!("  {command:width$}  {help}\n"));
                }
                text.push_str(
                    "Ctrl-C cancels what runs (or clears the line); Tab completes; Up recalls history.\n",
                );
                let _ = out.write_all(text.as_bytes());
            }
            "\\d" if argument.is_empty() => self.list_objects(out),
            "\\d" => self.describe(argument, out, err),
            "\\i" | "\\include" => self.include(argument, out, err),
            "\\timing" => {
                self.timing = match argument.to_lowercase().as_str() {
                    "" => !self.timing,
                    "on" => true,
                    "off" => false,
                    _ => {
                        meta_error(err, "\\timing takes on, off or nothing");
                        return true;
                    }
                };
                let _ = writeln!(out, "Timing is {}.", if self.timing { "on" } else { "off" });
            }
            "\\format" => {
                let format = match argument.to_lowercase().as_str() {
                    "" => None,
                    "table" => Some(Format::Table),
                    "csv" => Some(Format::Csv),
                    "json" => Some(Format::Json),
                    _ => {
                        meta_error(err, &format!("unknown format \"{argument}\"; choose table, csv or json"));
                        return true;
                    }
                };
                if let Some(format) = format {
                    self.set_format(format);
                }
                let _ = writeln!(out, "Output format is {}.", format_name(self.format));
            }
            "\\x" => self.expanded_display(argument, "\\x", out, err),
            "\\pset" => self.pset(argument, out, err),
            "\\o" | "\\out" => self.output_to(argument, err),
            "\\watch" => self.watch(argument, out, err),
            _ => meta_error(err, &format!("unknown command \"{command}\"; \\? lists the commands")),
        }
        true
    }

    /// `\pset null TEXT`, `\pset pager [on|off]`, `\pset expanded [on|off]`; no option: the
    /// settings.
    fn pset(&mut self, argument: &str, out: &mut dyn Write, err: &mut dyn Write) {
        let (option, value) = match argument.split_once(char::is_whitespace) {
            Some((option, value)) => (option, value.trim()),
            None => (argument, ""),
        };
        match option.to_lowercase().as_str() {
            "" => {
                let _ = writeln!(out, "Output format is {}.", format_name(self.format));
                self.say_expanded(out);
                let _ = writeln!(out, "Null display is \"{}\".", self.printer.null());
                let _ = writeln!(out, "Pager usage is {}.", if self.sink.pager { "on" } else { "off" });
            }
            "null" => {
                let text = value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')).unwrap_or(value);
                self.printer.set_null(&text.replace("''", "'"));
                let _ = writeln!(out, "Null display is \"{}\".", self.printer.null());
            }
            "pager" => {
                let Some(pager) = on_off(value, self.sink.pager, "\\pset pager", err) else { return };
                self.sink.pager = pager;
                let _ = writeln!(out, "Pager usage is {}.", if pager { "on" } else { "off" });
            }
            "expanded" | "x" => self.expanded_display(value, "\\pset expanded", out, err),
            _ => meta_error(
                err,
                &format!("unknown \\pset option \"{option}\"; choose null, pager or expanded"),
            ),
        }
    }

    /// `\x [on|off|auto]`: rows as blocks of `column | value` lines always, never, or when a
    /// table is wider than the terminal; no argument turns it on, or off if it was not off.
    fn expanded_display(&mut self, argument: &str, command: &str, out: &mut dyn Write, err: &mut dyn Write) {
        let (expanded, auto) = match argument.to_lowercase().as_str() {
            "" if self.printer.expanded() || self.auto_expand => (false, false),
            "" | "on" => (true, false),
            "off" => (false, false),
            "auto" => (false, true),
            _ => {
                meta_error(err, &format!("{command} takes on, off, auto or nothing"));
                return;
            }
        };
        self.printer.set_expanded(expanded);
        self.auto_expand = auto;
        self.say_expanded(out);
    }

    fn say_expanded(&self, out: &mut dyn Write) {
        let _ = match (self.printer.expanded(), self.auto_expand) {
            (true, _) => writeln!(out, "Expanded display is on."),
            (false, true) => writeln!(out, "Expanded display is used automatically."),
            (false, false) => writeln!(out, "Expanded display is off."),
        };
    }

    /// `\o FILE`: results go to FILE (created, or emptied) until `\o` alone.
    fn output_to(&mut self, file: &str, err: &mut dyn Write) {
        if file.is_empty() {
            self.sink.file = None;
            return;
        }
        let path = expand_home(file);
        match std::fs::File::create(&path) {
            Ok(handle) => self.sink.file = Some((path.display().to_string(), handle)),
            Err(e) => {
                let message = format!("cannot write \"{}\": {e}", path.display());
                let _ = err.write_all(Error::io(message).render("", "").as_bytes());
            }
        }
    }

    /// `\d`: every source and view, with its columns.
    fn list_objects(&mut self, out: &mut dyn Write) {
        let catalog = self.session.catalog();
        let mut rows = Vec::new();
        for source in catalog.sources() {
            let time = source.columns.get(source.time_column).map_or("?", |c| c.name.as_str());
            let mut details = format!("TIME {time}");
            if source.lateness > 0 {
                details.push_str(&format!(" LATENESS {}", source.lateness));
            }
            details.push_str(if source.kind.keeps_history() { " KEEP ALL" } else { " KEEP NONE" });
            let columns = source.columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ");
            rows.push(vec![text(&source.name), text("source"), text(&columns), text(&details)]);
        }
        for view in catalog.views() {
            let columns = view.plan.columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ");
            let names: Vec<&str> =
                view.reads.iter().filter_map(|id| catalog.by_id(*id)).map(|o| o.name()).collect();
            let reads = if names.is_empty() { String::new() } else { format!("reads {}", names.join(", ")) };
            rows.push(vec![text(&view.name), text("view"), text(&columns), text(&reads)]);
        }
        let columns = ["name", "kind", "columns", "details"].map(String::from).to_vec();
        self.print(&Output::Rows { columns, rows }, out);
    }

    /// `\d name`: one object's columns and types, and a view's definition.
    fn describe(&mut self, name: &str, out: &mut dyn Write, err: &mut dyn Write) {
        let catalog = self.session.catalog();
        let name = name.trim_end_matches(';').trim();
        // Names as in SQL: a quoted name keeps its case, an unquoted one is read in lower case.
        let name = match name.strip_prefix('"').and_then(|n| n.strip_suffix('"')) {
            Some(quoted) => quoted.replace("\"\"", "\""),
            None => name.to_lowercase(),
        };
        let (columns, time_column, definition) =
            if let Some(source) = catalog.sources().find(|s| s.name == name) {
                (source.columns.clone(), Some(source.time_column), None)
            } else if let Some(view) = catalog.views().find(|v| v.name == name) {
                (view.plan.columns.clone(), None, Some(view.sql.clone()))
            } else {
                meta_error(err, &format!("no source or view named \"{name}\""));
                return;
            };
        let rows = columns
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let note = if time_column == Some(i) { "TIME" } else { "" };
                vec![text(&c.name), text(&c.data_type.to_string()), text(note)]
            })
            .collect();
        let header = ["column", "type", "note"].map(String::from).to_vec();
        self.print(&Output::Rows { columns: header, rows }, out);
        if let Some(definition) = definition {
            let definition = definition.trim_end();
            let semicolon = if definition.ends_with(';') { "" } else { ";" };
            self.print(&Output::Text(format!("View definition:\n{definition}{semicolon}\n")), out);
        }
    }

    /// `\i FILE`: run a script; its relative COPY paths resolve against its folder.
    fn include(&mut self, file: &str, out: &mut dyn Write, err: &mut dyn Write) {
        if file.is_empty() {
            meta_error(err, "\\i needs a file name");
            return;
        }
        let path = expand_home(file);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) => {
                let _ = err.write_all(
                    Error::io(format!("cannot read \"{}\": {e}", path.display())).render("", "").as_bytes(),
                );
                return;
            }
        };
        let folder = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => self.base_dir.join(parent),
            _ => self.base_dir.clone(),
        };
        self.session.set_base_dir(folder);
        self.run_sql(&text, &path.display().to_string(), out, err);
        self.session.set_base_dir(self.base_dir.clone());
    }

    /// `\watch SECONDS [STATEMENT]`: run the statement every SECONDS until Ctrl-C (or an error).
    fn watch(&mut self, argument: &str, out: &mut dyn Write, err: &mut dyn Write) {
        let (seconds, statement) = match argument.split_once(char::is_whitespace) {
            Some((seconds, statement)) => (seconds, statement.trim()),
            None => (argument, ""),
        };
        let interval = match seconds.parse::<f64>() {
            Ok(s) if s.is_finite() && s > 0.0 && s < 1e9 => Duration::from_secs_f64(s),
            _ => {
                meta_error(err, &format!("\\watch needs a positive number of seconds, not \"{seconds}\""));
                return;
            }
        };
        let statement = if !statement.is_empty() {
            statement.to_string()
        } else if let Some(last) = &self.last_sql {
            last.clone()
        } else {
            meta_error(err, "\\watch needs a statement (no statement has run yet)");
            return;
        };
        let flags = self.cancel_flags();
        let stopped = || flags.iter().any(|f| f.load(Ordering::SeqCst));
        let mut run = 1u64;
        loop {
            let _ = writeln!(out, "Every {seconds} s, run {run} (Ctrl-C stops): {}", statement.trim());
            if let Err(e) = self.execute(&statement, false, out) {
                // A Ctrl-C that came while the statement ran stops the watch, quietly.
                if !stopped() {
                    let _ = out.flush();
                    let _ = err.write_all(e.render(&statement, "<stdin>").as_bytes());
                    break;
                }
            }
            let _ = out.flush();
            let deadline = Instant::now() + interval;
            while !stopped() && Instant::now() < deadline {
                std::thread::sleep(
                    deadline.saturating_duration_since(Instant::now()).min(Duration::from_millis(20)),
                );
            }
            if stopped() {
                let _ = writeln!(out, "Watch stopped.");
                break;
            }
            run += 1;
        }
        // The Ctrl-C that stopped the watch must not cancel the next statement.
        for flag in self.cancel_flags() {
            flag.store(false, Ordering::SeqCst);
        }
    }

    fn print(&mut self, output: &Output, out: &mut dyn Write) {
        let width = self.sink.size().map(|(_, columns)| columns).filter(|_| self.auto_expand);
        let text = render(&mut self.printer, output, width);
        self.sink.write(&text, true, out);
    }

    /// Refresh the completer's names from the catalog.
    fn refresh_names(&self) {
        let catalog = self.session.catalog();
        let mut names = Vec::new();
        for source in catalog.sources() {
            names.push(source.name.clone());
            names.extend(source.columns.iter().map(|c| c.name.clone()));
        }
        for view in catalog.views() {
            names.push(view.name.clone());
            names.extend(view.plan.columns.iter().map(|c| c.name.clone()));
        }
        names.sort();
        names.dedup();
        *self.names.borrow_mut() = names;
    }
}

fn text(s: &str) -> Datum {
    Datum::Text(s.to_string())
}

/// `output` as `printer` prints it; a table with a line wider than `auto_expand_width`
/// columns is printed expanded instead (`\x auto`).
fn render(printer: &mut Printer, output: &Output, auto_expand_width: Option<usize>) -> String {
    let text = printer.render(output);
    let too_wide =
        auto_expand_width.is_some_and(|width| text.lines().any(|line| line.chars().count() > width));
    if too_wide
        && printer.format() == Format::Table
        && !printer.expanded()
        && matches!(output, Output::Rows { .. })
    {
        printer.set_expanded(true);
        let expanded = printer.render(output);
        printer.set_expanded(false);
        return expanded;
    }
    text
}

/// `on`, `off`, or nothing (the opposite of `current`); `None` after reporting anything else.
fn on_off(argument: &str, current: bool, command: &str, err: &mut dyn Write) -> Option<bool> {
    match argument.to_lowercase().as_str() {
        "" => Some(!current),
        "on" => Some(true),
        "off" => Some(false),
        _ => {
            meta_error(err, &format!("{command} takes on, off or nothing"));
            None
        }
    }
}

/// A `SUBSCRIBE` output as one line per change: the wall-clock time it was seen (local),
/// the diff, the row as `column=value`, and the event time it belongs to. For example
/// `14:03:07.250  +1  sensor=3, value=20.5  (time 1005)`. Rows that went come before rows that
/// came, so a replaced row reads as the old one going, then the new one coming.
fn change_lines(output: &Output, seen: SystemTime, null: &str) -> String {
    let Output::Rows { columns, rows } = output else { return String::new() };
    let clock = clock(seen);
    let mut rows: Vec<&Vec<Datum>> = rows.iter().collect();
    rows.sort_by_key(|row| row.get(1).and_then(Datum::as_int).is_some_and(|diff| diff > 0));
    let mut lines = String::new();
    for row in rows {
        let (Some(time), Some(diff)) = (row.first(), row.get(1)) else { continue };
        let diff = diff.as_int().map_or_else(|| diff.to_string(), |d| format!("{d:+}"));
        let values: Vec<String> = columns
            .iter()
            .zip(row)
            .skip(2)
            .map(|(column, value)| {
                let value = if value.is_null() { null.to_string() } else { value.to_string() };
                format!("{column}={value}")
            })
            .collect();
        lines.push_str(&format!("{clock}  {diff}  {}  (time {time})\n", values.join(", ")));
    }
    lines
}

/// `HH:MM:SS.mmm` of `time`, in the local time zone where the C library knows it, else UTC.
fn clock(time: SystemTime) -> String {
    let since_epoch = time.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let seconds = since_epoch.as_secs();
    let millis = since_epoch.subsec_millis();
    let utc = ((seconds / 3600) % 24, (seconds / 60) % 60, seconds % 60);
    #[cfg(unix)]
    let (hours, minutes, seconds) = {
        let when = libc::time_t::try_from(seconds).unwrap_or(libc::time_t::MAX);
        // SAFETY: an all-zero `tm` is a valid value (integers and a null zone pointer), and
        // `localtime_r` writes only into it, which lives through the call.
        let mut local: libc::tm = unsafe { std::mem::zeroed() };
        let found = unsafe { !libc::localtime_r(&when, &mut local).is_null() };
        if found { (local.tm_hour as u64, local.tm_min as u64, local.tm_sec as u64) } else { utc }
    };
    #[cfg(not(unix))]
    let (hours, minutes, seconds) = utc;
    format!("{hours:02}:{minutes:02}:{seconds:02}.{millis:03}")
}

fn format_name(format: Format) -> &'static str {
    match format {
        Format::Table => "table",
        Format::Csv => "csv",
        Format::Json => "json",
    }
}

fn meta_error(err: &mut dyn Write, message: &str) {
    let _ = err.write_all(Error::bind(message).render("", "").as_bytes());
}

/// `~/x` → the home folder's `x`.
fn expand_home(file: &str) -> PathBuf {
    match (file.strip_prefix("~/"), home::home_dir()) {
        (Some(rest), Some(home)) => home.join(rest),
        _ => PathBuf::from(file),
    }
}

/// The rustyline helper: completion of keywords, names and meta commands, and a validator that
/// keeps a recalled multi-line statement open in the editor until it ends.
pub struct EbbHelper {
    names: Rc<RefCell<Vec<String>>>,
    files: FilenameCompleter,
}

impl EbbHelper {
    /// A helper offering `names` (shared with the [`Repl`], which refreshes them).
    pub fn new(names: Rc<RefCell<Vec<String>>>) -> Self {
        EbbHelper { names, files: FilenameCompleter::new() }
    }

    /// The completions of the word ending at `pos`: where it starts, and the candidates.
    pub fn candidates(&self, line: &str, pos: usize) -> (usize, Vec<String>) {
        let before = &line[..pos];
        let start = before
            .char_indices()
            .rev()
            .take_while(|(_, c)| c.is_alphanumeric() || *c == '_' || *c == '\\' || *c == '?')
            .last()
            .map_or(pos, |(i, _)| i);
        let word = &before[start..];
        if word.starts_with('\\') {
            let mut commands: Vec<String> = META_COMMANDS
                .iter()
                .filter_map(|(c, _)| c.split_whitespace().next())
                .filter(|c| c.starts_with(word))
                .map(String::from)
                .collect();
            commands.dedup();
            return (start, commands);
        }
        if word.is_empty() && before.trim().is_empty() {
            return (start, Vec::new());
        }
        let lower = word.to_lowercase();
        let lowercase_typed = word.chars().any(char::is_lowercase);
        let mut candidates: Vec<String> =
            self.names.borrow().iter().filter(|n| n.starts_with(&lower)).cloned().collect();
        candidates.extend(
            KEYWORDS
                .iter()
                .filter(|k| k.to_lowercase().starts_with(&lower))
                .map(|k| if lowercase_typed { k.to_lowercase() } else { k.to_string() }),
        );
        candidates.dedup();
        (start, candidates)
    }
}

impl Completer for EbbHelper {
    type Candidate = Pair;

    fn complete(&self, line: &str, pos: usize, ctx: &Context<'_>) -> rustyline::Result<(usize, Vec<Pair>)> {
        let trimmed = line.trim_start();
        if ["\\i ", "\\include ", "\\o ", "\\out "].iter().any(|command| trimmed.starts_with(command)) {
            return self.files.complete(line, pos, ctx);
        }
        let (start, candidates) = self.candidates(line, pos);
        Ok((start, candidates.into_iter().map(|c| Pair { display: c.clone(), replacement: c }).collect()))
    }
}

impl Hinter for EbbHelper {
    type Hint = String;
}

impl Highlighter for EbbHelper {}

impl Validator for EbbHelper {
    fn validate(&self, ctx: &mut ValidationContext) -> rustyline::Result<ValidationResult> {
        // A line typed afresh is handed to the Repl, which gathers lines under the `  -> `
        // prompt. A multi-line statement recalled from the history is edited as one block:
        // Enter inside it adds a line until the statement ends.
        let input = ctx.input();
        if input.contains('\n') && !input.trim_start().starts_with('\\') && !ebb::sql::is_complete(input) {
            Ok(ValidationResult::Incomplete)
        } else {
            Ok(ValidationResult::Valid(None))
        }
    }
}

impl Helper for EbbHelper {}

/// Where the history lives: `--history`, else `$EBB_HISTORY`, else `~/.ebb_history`.
pub fn history_path(flag: Option<PathBuf>) -> Option<PathBuf> {
    flag.or_else(|| std::env::var_os("EBB_HISTORY").filter(|v| !v.is_empty()).map(PathBuf::from))
        .or_else(|| home::home_dir().map(|home| home.join(".ebb_history")))
}

/// Run the interactive REPL until `\q` or Ctrl-D, printing results as `format`.
/// `job`: the job's other processes, if they were started here (they stop after the session).
pub fn run(
    options: SessionOptions,
    job: Option<crate::cluster::Job>,
    format: Format,
    history: Option<PathBuf>,
) -> std::process::ExitCode {
    let several_processes = options.cluster.is_some();
    let mut session = match Session::new(options) {
        Ok(session) => session,
        Err(e) => {
            eprint!("{}", e.render("", ""));
            return std::process::ExitCode::FAILURE;
        }
    };
    if let Some(job) = &job {
        job.started();
    }
    if several_processes {
        // The REPL waits on its user; a lost process must not wait with it.
        crate::cluster::watch(session.health());
    }
    crate::progress::install(&mut session);
    let mut repl = Repl::new(session, PathBuf::from("."));
    repl.set_format(format);
    if std::io::stdout().is_terminal() {
        repl.set_terminal_size(terminal_size);
    }
    let flags = repl.cancel_flags();
    if let Err(e) = ctrlc::set_handler(move || {
        for flag in &flags {
            flag.store(true, Ordering::SeqCst);
        }
    }) {
        eprintln!("warning: Ctrl-C will not cancel running statements: {e}");
    }
    let config = Config::builder()
        .completion_type(CompletionType::List)
        .max_history_size(10_000)
        .map_or_else(|_| Config::default(), |b| b.build());
    let mut editor: Editor<EbbHelper, DefaultHistory> = match Editor::with_config(config) {
        Ok(editor) => editor,
        Err(e) => {
            eprintln!("error: cannot start the line editor: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    editor.set_helper(Some(EbbHelper::new(repl.names())));
    let history = history_path(history);
    if let Some(path) = &history
        && path.exists()
        && let Err(e) = editor.load_history(path)
    {
        eprintln!("warning: cannot read the history file \"{}\": {e}", path.display());
    }
    println!("ebb {} — statements end with `;`; \\? for help, \\q to quit.", env!("CARGO_PKG_VERSION"));
    let mut history_warned = false;
    let (mut stdout, mut stderr) = (std::io::stdout(), std::io::stderr());
    loop {
        let line = match editor.readline(repl.prompt()) {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) => {
                repl.clear_pending();
                continue;
            }
            Err(ReadlineError::Eof) => break,
            Err(e) => {
                eprintln!("error: cannot read input: {e}");
                break;
            }
        };
        let step = repl.handle_line(&line, &mut stdout, &mut stderr);
        let (Step::Done(entry) | Step::Quit(entry)) = &step else { continue };
        if editor.add_history_entry(entry.as_str()).unwrap_or(false)
            && let Some(path) = &history
            && let Err(e) = append_history(editor.history_mut(), path)
            && !history_warned
        {
            eprintln!("warning: cannot write the history file \"{}\": {e}", path.display());
            history_warned = true;
        }
        if matches!(step, Step::Quit(_)) {
            break;
        }
    }
    std::process::ExitCode::SUCCESS
}

/// The size of the terminal on stdout as (lines, columns), if it says.
fn terminal_size() -> Option<(usize, usize)> {
    #[cfg(unix)]
    {
        // SAFETY: an all-zero `winsize` is valid, and TIOCGWINSZ only writes one into it.
        let mut size: libc::winsize = unsafe { std::mem::zeroed() };
        let found = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) } == 0;
        (found && size.ws_row > 0 && size.ws_col > 0)
            .then_some((usize::from(size.ws_row), usize::from(size.ws_col)))
    }
    #[cfg(not(unix))]
    None
}

fn append_history(history: &mut DefaultHistory, path: &Path) -> rustyline::Result<()> {
    history.append(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repl() -> Repl {
        let session = Session::new(SessionOptions::default()).expect("a session starts");
        Repl::new(session, PathBuf::from("."))
    }

    /// Feed lines; return what went to stdout and to stderr, and the last step.
    fn feed(repl: &mut Repl, lines: &[&str]) -> (String, String, Step) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let mut step = Step::More;
        for line in lines {
            step = repl.handle_line(line, &mut out, &mut err);
        }
        (String::from_utf8_lossy(&out).into_owned(), String::from_utf8_lossy(&err).into_owned(), step)
    }

    #[test]
    fn a_statement_spans_lines_until_its_semicolon() {
        let mut repl = repl();
        assert_eq!(repl.prompt(), PROMPT);
        let (out, err, step) = feed(&mut repl, &["CREATE SOURCE r (", "  k BIGINT, v TEXT, ts BIGINT"]);
        assert_eq!((out.as_str(), err.as_str(), step), ("", "", Step::More));
        assert_eq!(repl.prompt(), CONTINUATION_PROMPT);
        let (out, err, step) = feed(&mut repl, &[") TIME ts;"]);
        assert_eq!(out, "CREATE SOURCE\n");
        assert_eq!(err, "");
        assert_eq!(step, Step::Done("CREATE SOURCE r (\n  k BIGINT, v TEXT, ts BIGINT\n) TIME ts;".into()));
        assert_eq!(repl.prompt(), PROMPT);
        let (out, _, _) = feed(
            &mut repl,
            &["INSERT INTO r VALUES (1, 'a', 10), (2, 'b', 11);", "SELECT * FROM r ORDER BY k;"],
        );
        assert!(out.contains("INSERT 2"), "{out}");
        assert!(out.contains("(2 rows)") && out.contains("┆ a ┆"), "{out}");
    }

    #[test]
    fn describe_reads_names_as_sql_does() {
        let mut repl = repl();
        feed(
            &mut repl,
            &[
                "CREATE SOURCE \"Mixed\" (k BIGINT, ts BIGINT) TIME ts;",
                "CREATE SOURCE plain (ts BIGINT) TIME ts;",
            ],
        );
        let (out, err, _) = feed(&mut repl, &["\\d \"Mixed\"", "\\d PLAIN"]);
        assert_eq!(err, "");
        assert!(out.contains("k") && out.matches("TIME").count() == 2, "{out}");
        let (_, err, _) = feed(&mut repl, &["\\d Mixed"]);
        assert!(err.contains("no source or view named \"mixed\""), "{err}");
    }

    #[test]
    fn errors_show_a_caret_and_the_session_goes_on() {
        let mut repl = repl();
        let (out, err, step) = feed(&mut repl, &["SELECT * FROM nowhere;"]);
        assert_eq!(out, "");
        assert!(err.contains("--> <stdin>:1:15") && err.contains("^^^^^^^"), "{err}");
        assert!(matches!(step, Step::Done(_)));
        let (out, err, _) = feed(&mut repl, &["CREATE SOURCE s (ts BIGINT) TIME ts;"]);
        assert_eq!((out.as_str(), err.as_str()), ("CREATE SOURCE\n", ""));
    }

    #[test]
    fn meta_commands_describe_the_catalog() {
        let mut repl = repl();
        feed(
            &mut repl,
            &[
                "CREATE SOURCE readings (sensor BIGINT, value DOUBLE, ts BIGINT) TIME ts LATENESS 5;",
                "CREATE VIEW last1 AS SELECT sensor, value, ts FROM readings RETAIN LATEST 1 PER sensor;",
            ],
        );
        let (out, err, _) = feed(&mut repl, &["\\d"]);
        assert_eq!(err, "");
        assert!(
            out.contains("readings") && out.contains("sensor, value, ts") && out.contains("LATENESS 5"),
            "{out}"
        );
        assert!(out.contains("last1") && out.contains("reads readings"), "{out}");
        let (out, _, _) = feed(&mut repl, &["\\d readings"]);
        assert!(out.contains("DOUBLE") && out.contains("TIME"), "{out}");
        let (out, _, _) = feed(&mut repl, &["\\d LAST1"]);
        assert!(out.contains("View definition:") && out.contains("RETAIN LATEST 1 PER sensor;"), "{out}");
        let (_, err, _) = feed(&mut repl, &["\\d nothing"]);
        assert!(err.contains("no source or view named \"nothing\""), "{err}");
        let names = repl.names();
        assert!(
            names.borrow().iter().any(|n| n == "readings") && names.borrow().iter().any(|n| n == "value")
        );
    }

    #[test]
    fn timing_format_help_and_quit() {
        let mut repl = repl();
        feed(&mut repl, &["CREATE SOURCE s (k BIGINT, ts BIGINT) TIME ts;", "INSERT INTO s VALUES (7, 1);"]);
        let (out, _, _) = feed(&mut repl, &["\\timing", "SELECT k FROM s;"]);
        assert!(out.contains("Timing is on.") && out.contains("Time: ") && out.contains(" ms"), "{out}");
        let (out, _, _) = feed(&mut repl, &["\\timing off", "\\format csv", "SELECT k FROM s;"]);
        assert!(out.ends_with("Output format is csv.\nk\r\n7\r\n"), "{out:?}");
        let (_, err, _) = feed(&mut repl, &["\\format yaml"]);
        assert!(err.contains("unknown format \"yaml\""), "{err}");
        let (out, _, _) = feed(&mut repl, &["\\?"]);
        for (command, _) in META_COMMANDS {
            assert!(out.contains(command), "{command} missing from {out}");
        }
        let (_, err, _) = feed(&mut repl, &["\\nope"]);
        assert!(err.contains("unknown command \"\\nope\""), "{err}");
        assert_eq!(feed(&mut repl, &["\\q"]).2, Step::Quit("\\q".into()));
    }

    #[test]
    fn include_resolves_copy_against_the_script_folder() {
        let dir = tempfile::tempdir().expect("a temp folder");
        std::fs::create_dir(dir.path().join("data")).expect("a folder");
        std::fs::write(dir.path().join("data/rows.csv"), "k,ts\n1,5\n2,6\n").expect("a file");
        let script = dir.path().join("load.sql");
        std::fs::write(
            &script,
            "CREATE SOURCE s (k BIGINT, ts BIGINT) TIME ts;\nCOPY s FROM 'data/rows.csv' WITH (HEADER true);\n",
        )
        .expect("a file");
        let mut repl = repl();
        let (out, err, _) = feed(&mut repl, &[&format!("\\i {}", script.display())]);
        assert_eq!(err, "");
        assert!(out.contains("COPY 2"), "{out}");
        // The base folder is restored: the same relative path no longer resolves.
        let (_, err, _) = feed(&mut repl, &["COPY s FROM 'data/rows.csv' WITH (HEADER true);"]);
        assert!(err.contains("data/rows.csv"), "{err}");
        let (_, err, _) = feed(&mut repl, &["\\i /no/such/file.sql"]);
        assert!(err.contains("cannot read \"/no/such/file.sql\""), "{err}");
    }

    #[test]
    fn watch_repeats_until_stopped() {
        let mut repl = repl();
        feed(&mut repl, &["CREATE SOURCE s (k BIGINT, ts BIGINT) TIME ts;"]);
        let stop = repl.cancel_flags()[0].clone();
        let stopper = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            stop.store(true, Ordering::SeqCst);
        });
        let (out, err, _) = feed(&mut repl, &["\\watch 0.05 SELECT count(*) AS n FROM s;"]);
        stopper.join().expect("the stopper ends");
        assert_eq!(err, "");
        assert!(out.contains("run 2") && out.contains("Watch stopped."), "{out}");
        // A bare \watch re-runs the last statement; a bad interval is refused.
        let (_, err, _) = feed(&mut repl, &["\\watch zero"]);
        assert!(err.contains("positive number of seconds"), "{err}");
    }

    #[test]
    fn expanded_display_null_text_and_output_file() {
        let mut repl = repl();
        feed(
            &mut repl,
            &["CREATE SOURCE s (k BIGINT, v TEXT, ts BIGINT) TIME ts;", "INSERT INTO s VALUES (1, NULL, 2);"],
        );
        let (out, err, _) = feed(&mut repl, &["\\x", "\\pset null '(none)'", "SELECT k, v FROM s;"]);
        assert_eq!(err, "");
        assert_eq!(
            out,
            "Expanded display is on.\nNull display is \"(none)\".\n-[ RECORD 1 ]\nk | 1\nv | (none)\n(1 row)\n"
        );
        // \format keeps the settings; \pset alone lists them.
        let (out, _, _) = feed(&mut repl, &["\\format table", "\\pset"]);
        assert!(
            out.contains("Expanded display is on.") && out.contains("Null display is \"(none)\"."),
            "{out}"
        );
        let (out, _, _) = feed(&mut repl, &["\\x off", "\\pset pager off", "\\pset null ''"]);
        assert_eq!(out, "Expanded display is off.\nPager usage is off.\nNull display is \"\".\n");
        let (_, err, _) = feed(&mut repl, &["\\x sideways", "\\pset colour red"]);
        assert!(
            err.contains("\\x takes on, off, auto or nothing")
                && err.contains("unknown \\pset option \"colour\""),
            "{err}"
        );

        let dir = tempfile::tempdir().expect("a temp folder");
        let file = dir.path().join("results.txt");
        let (out, err, _) = feed(
            &mut repl,
            &[&format!("\\o {}", file.display()), "SELECT k FROM s;", "\\d s", "\\o", "SELECT k FROM s;"],
        );
        assert_eq!(err, "");
        assert_eq!(out.matches("(1 row)").count(), 1, "only the last read reaches the terminal: {out}");
        let written = std::fs::read_to_string(&file).expect("\\o wrote the file");
        assert!(written.contains("(1 row)") && written.contains("BIGINT"), "{written}");
        let (_, err, _) = feed(&mut repl, &["\\o /no/such/dir/x.txt"]);
        assert!(err.contains("cannot write \"/no/such/dir/x.txt\""), "{err}");
    }

    #[test]
    fn auto_expanded_display_expands_tables_wider_than_the_terminal() {
        let mut repl = repl();
        repl.set_terminal_size(|| Some((1000, 20)));
        feed(&mut repl, &["CREATE SOURCE s (k BIGINT, ts BIGINT) TIME ts;", "INSERT INTO s VALUES (1, 2);"]);
        let (out, err, _) = feed(
            &mut repl,
            &["\\x auto", "SELECT k FROM s;", "SELECT k, ts, k AS again, ts AS later FROM s;"],
        );
        assert_eq!(err, "");
        let (narrow, wide) = out.split_once("(1 row)\n").expect("two results");
        assert!(narrow.starts_with("Expanded display is used automatically.\n┌───┐"), "{out}");
        assert_eq!(wide, "-[ RECORD 1 ]\nk     | 1\nts    | 2\nagain | 1\nlater | 2\n(1 row)\n");
        let (out, _, _) = feed(&mut repl, &["\\x", "\\x", "\\x off", "\\pset expanded auto"]);
        assert_eq!(
            out,
            "Expanded display is off.\nExpanded display is on.\nExpanded display is off.\n\
             Expanded display is used automatically.\n"
        );
    }

    #[test]
    fn subscribe_prints_one_line_per_change() {
        let mut repl = repl();
        feed(
            &mut repl,
            &[
                "CREATE SOURCE r (k BIGINT, note TEXT, ts BIGINT) TIME ts;",
                "CREATE VIEW v AS SELECT k, note, ts FROM r RETAIN LATEST 1 PER k;",
                "INSERT INTO r VALUES (1, 'a', 4), (2, NULL, 3);",
            ],
        );
        let (out, err, _) = feed(&mut repl, &["SUBSCRIBE v FOR 150 MILLISECONDS;"]);
        assert_eq!(err, "");
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "SUBSCRIBE v: one line per change, until it ends or Ctrl-C.");
        assert_eq!(lines.len(), 3, "{out}");
        for (line, change) in lines[1..]
            .iter()
            .zip(["  +1  k=1, note=a, ts=4  (time 4)", "  +1  k=2, note=NULL, ts=3  (time 4)"])
        {
            let (clock, rest) = line.split_at(12);
            assert_eq!(rest, change);
            assert!(clock.chars().all(|c| c.is_ascii_digit() || c == ':' || c == '.'), "{line}");
        }
        // In CSV it prints result sets, as a script does.
        let (out, _, _) = feed(&mut repl, &["\\format csv", "SUBSCRIBE v FOR 50 MILLISECONDS;"]);
        assert!(out.ends_with("time,diff,k,note,ts\r\n4,1,1,a,4\r\n4,1,2,,3\r\n"), "{out:?}");
    }

    #[test]
    fn change_lines_show_a_clock_the_diff_and_the_row() {
        let output = Output::Rows {
            columns: ["time", "diff", "k"].map(String::from).to_vec(),
            rows: vec![
                vec![Datum::Int(9), Datum::Int(1), Datum::Int(2)],
                vec![Datum::Int(9), Datum::Int(-1), Datum::Null],
            ],
        };
        let seen = SystemTime::UNIX_EPOCH + Duration::from_millis(86_400_000 + 61_250);
        let text = change_lines(&output, seen, "-");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(lines[0].ends_with(":01.250  -1  k=-  (time 9)"), "the row that went comes first: {text}");
        assert!(lines[1].ends_with(":01.250  +1  k=2  (time 9)"), "{text}");
        assert_eq!(clock(seen).len(), "00:01:01.250".len());
    }

    #[test]
    fn ctrl_c_clears_an_unfinished_statement() {
        let mut repl = repl();
        feed(&mut repl, &["SELECT"]);
        assert_eq!(repl.prompt(), CONTINUATION_PROMPT);
        repl.clear_pending();
        assert_eq!(repl.prompt(), PROMPT);
    }

    #[test]
    fn completion_offers_keywords_and_names() {
        let names = Rc::new(RefCell::new(vec!["readings".to_string(), "sensor".to_string()]));
        let helper = EbbHelper::new(names);
        let (start, candidates) = helper.candidates("SELECT * FROM rea", 17);
        assert_eq!((start, candidates), (14, vec!["readings".to_string()]));
        let (_, candidates) = helper.candidates("CREATE SO", 9);
        assert_eq!(candidates, vec!["SOURCE".to_string(), "SOURCES".to_string()]);
        let (_, candidates) = helper.candidates("sel", 3);
        assert_eq!(candidates, vec!["select".to_string()]);
        let (_, candidates) = helper.candidates("\\ti", 3);
        assert_eq!(candidates, vec!["\\timing".to_string()]);
    }
}
