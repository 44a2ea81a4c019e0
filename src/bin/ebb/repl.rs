//! The interactive REPL: `ebb` with no subcommand.
//!
//! Two layers. [`Repl`] is the core: it takes one typed line at a time, gathers lines until
//! they end a statement (`ebb::sql::is_complete`), runs statements and meta commands (`\d`,
//! `\i`, `\timing`, `\format`, `\watch`, `\q`, `\?`) against a [`Session`], and writes to any
//! pair of writers, so tests drive it without a terminal. [`run`] is the thin terminal shell
//! around it: a rustyline editor with completion and a persistent history file, and a Ctrl-C
//! handler that cancels what runs instead of the session.

use std::cell::RefCell;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ebb::format::{Format, Printer};
use ebb::repr::Datum;
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
        };
        repl.refresh_names();
        repl
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
        let result = self.execute(text, out);
        let _ = out.flush();
        match result {
            Ok(()) => true,
            Err(e) => {
                let _ = err.write_all(e.render(text, origin).as_bytes());
                false
            }
        }
    }

    /// Run statements, printing each output as it comes.
    fn execute(&mut self, text: &str, out: &mut dyn Write) -> ebb::Result<()> {
        let Repl { session, printer, timing, .. } = self;
        let mut started = Instant::now();
        session.execute_each(text, |output| {
            let elapsed = started.elapsed();
            let _ = out.write_all(printer.render(&output).as_bytes());
            if *timing {
                let _ = writeln!(out, "Time: {:.1} ms", elapsed.as_secs_f64() * 1000.0);
            }
            let _ = out.flush();
            started = Instant::now();
        })
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
                    self.format = format;
                    self.printer = Printer::new(format);
                }
                let _ = writeln!(out, "Output format is {}.", format_name(self.format));
            }
            "\\watch" => self.watch(argument, out, err),
            _ => meta_error(err, &format!("unknown command \"{command}\"; \\? lists the commands")),
        }
        true
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
            details.push_str(if source.keep_history { " KEEP ALL" } else { " KEEP NONE" });
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
        let (columns, time_column, definition) =
            if let Some(source) = catalog.sources().find(|s| s.name == name.to_lowercase()) {
                (source.columns.clone(), Some(source.time_column), None)
            } else if let Some(view) = catalog.views().find(|v| v.name == name.to_lowercase()) {
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
            if let Err(e) = self.execute(&statement, out) {
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
        let _ = out.write_all(self.printer.render(output).as_bytes());
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
        if trimmed.starts_with("\\i ") || trimmed.starts_with("\\include ") {
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

/// Run the interactive REPL until `\q` or Ctrl-D.
pub fn run(
    workers: usize,
    history: Option<PathBuf>,
    memory_budget: Option<u64>,
    spill_dir: Option<PathBuf>,
) -> std::process::ExitCode {
    let mut session = match Session::new(SessionOptions {
        workers: workers.max(1),
        base_dir: PathBuf::from("."),
        memory_budget,
        spill_dir,
        ..SessionOptions::default()
    }) {
        Ok(session) => session,
        Err(e) => {
            eprint!("{}", e.render("", ""));
            return std::process::ExitCode::FAILURE;
        }
    };
    crate::progress::install(&mut session);
    let mut repl = Repl::new(session, PathBuf::from("."));
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
    // Piped input (`ebb < script.sql`) is run as typed, but leaves the history alone.
    let interactive = std::io::stdin().is_terminal();
    let history = if interactive { history_path(history) } else { None };
    if let Some(path) = &history
        && path.exists()
        && let Err(e) = editor.load_history(path)
    {
        eprintln!("warning: cannot read the history file \"{}\": {e}", path.display());
    }
    if interactive {
        println!("ebb {} — statements end with `;`; \\? for help, \\q to quit.", env!("CARGO_PKG_VERSION"));
    }
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
