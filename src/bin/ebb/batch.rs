//! Batch mode: `ebb run FILE.sql`, `ebb FILE.sql`, `ebb run -`, `ebb < FILE.sql` and
//! `ebb -c SQL`, all one way.
//!
//! In: scripts (a file, stdin, or the text of `-c`), run in order in one session. Out: result
//! sets on stdout in the chosen format, errors on stderr with their line and column counted
//! across the whole script, and the exit status: 0 when every statement ran, 1 when one
//! failed, 2 when a script could not be read. Guarantees: by default the first error stops
//! everything (a script that does not parse runs nothing); with `--continue-on-error` each
//! statement runs or fails on its own and the rest go on. A last statement without `;` runs.
//! `SUBSCRIBE` without `FOR` is refused: it would never end.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use ebb::format::Printer;
use ebb::sql::{Statement, StatementKind};
use ebb::{Error, Output, Session};

use crate::{OutputArgs, SessionArgs};

/// A script to run.
pub struct Script {
    /// Where its text comes from.
    source: Source,
    /// How errors name it.
    origin: String,
}

enum Source {
    File(PathBuf),
    Stdin,
    Text(String),
}

impl Script {
    /// The script in `file`; `-` is stdin.
    pub fn file(file: &Path) -> Script {
        if file == Path::new("-") {
            Script { source: Source::Stdin, origin: "<stdin>".to_string() }
        } else {
            Script { source: Source::File(file.to_path_buf()), origin: file.display().to_string() }
        }
    }

    /// The statements given with `-c`, one script each.
    pub fn commands(commands: &[String]) -> Vec<Script> {
        let origin =
            |i: usize| if commands.len() == 1 { "<-c>".to_string() } else { format!("<-c {}>", i + 1) };
        commands
            .iter()
            .enumerate()
            .map(|(i, sql)| Script { source: Source::Text(sql.clone()), origin: origin(i) })
            .collect()
    }

    fn read(&self) -> Result<String, String> {
        match &self.source {
            Source::File(path) => {
                std::fs::read_to_string(path).map_err(|e| format!("cannot read \"{}\": {e}", self.origin))
            }
            Source::Stdin => {
                let mut text = String::new();
                std::io::stdin().read_to_string(&mut text).map_err(|e| format!("cannot read stdin: {e}"))?;
                Ok(text)
            }
            Source::Text(text) => Ok(text.clone()),
        }
    }

    /// Where the script's relative `COPY` paths resolve: its file's folder, else the current one.
    fn base_dir(&self) -> PathBuf {
        match &self.source {
            Source::File(path) => path.parent().map(PathBuf::from).unwrap_or_default(),
            Source::Stdin | Source::Text(_) => PathBuf::from("."),
        }
    }
}

/// Run `scripts` in order in one session.
pub fn run(scripts: &[Script], output: OutputArgs, session: &SessionArgs) -> ExitCode {
    // The job's other processes, if started here, stop after the session (declared first,
    // dropped last).
    let (options, job) = match session.options(PathBuf::from(".")) {
        Ok(started) => started,
        Err(e) => {
            eprint!("{}", e.render("", ""));
            return ExitCode::FAILURE;
        }
    };
    let mut session = match Session::new(options) {
        Ok(session) => session,
        Err(e) => {
            eprint!("{}", e.render("", ""));
            return ExitCode::FAILURE;
        }
    };
    if let Some(job) = &job {
        job.started();
    }
    crate::progress::install(&mut session);
    let mut printer = Printer::new(output.format.into());
    let mut stdout = std::io::stdout().lock();
    let mut stdout_open = true;
    let mut print = |output: Output| {
        // A closed stdout (`ebb run job.sql | head`) is not an error of the job: keep running
        // the statements, print nothing more.
        if stdout_open
            && stdout.write_all(printer.render(&output).as_bytes()).and_then(|()| stdout.flush()).is_err()
        {
            stdout_open = false;
        }
    };
    let mut failed = false;
    for script in scripts {
        let text = match script.read() {
            Ok(text) => text,
            Err(message) => {
                eprint!("{}", Error::io(message).render("", ""));
                return ExitCode::from(2);
            }
        };
        session.set_base_dir(script.base_dir());
        if !run_script(&mut session, &text, &script.origin, output.continue_on_error, &mut print) {
            failed = true;
            if !output.continue_on_error {
                break;
            }
        }
    }
    if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}

/// Run one script's statements, printing each output as it comes and each error on stderr;
/// `origin` names the script in errors. Returns whether every statement ran.
fn run_script(
    session: &mut Session,
    text: &str,
    origin: &str,
    continue_on_error: bool,
    print: &mut impl FnMut(Output),
) -> bool {
    let report = |e: &Error| eprint!("{}", e.render(text, origin));
    let parsed = if continue_on_error {
        ebb::sql::parse_each(text)
    } else {
        ebb::sql::parse(text).map(|statements| statements.into_iter().map(Ok).collect())
    };
    let statements = match parsed {
        Ok(statements) => statements,
        Err(e) => {
            report(&e);
            return false;
        }
    };
    let mut all_ran = true;
    for statement in statements {
        let result = statement.and_then(|statement| {
            refuse_endless_subscribe(&statement)?;
            session.execute_streaming(&statement, text, print)
        });
        if let Err(e) = result {
            report(&e);
            all_ran = false;
            if !continue_on_error {
                break;
            }
        }
    }
    all_ran
}

/// A script must end, and `SUBSCRIBE` without `FOR` runs until interrupted.
fn refuse_endless_subscribe(statement: &Statement) -> ebb::Result<()> {
    match &statement.kind {
        StatementKind::Subscribe(subscribe) if subscribe.for_millis.is_none() => {
            Err(Error::bind("SUBSCRIBE without FOR never ends, so a script cannot run it")
                .with_span(statement.span)
                .with_hint(format!("give it a duration: SUBSCRIBE {} FOR 10 SECONDS", subscribe.view)))
        }
        _ => Ok(()),
    }
}
