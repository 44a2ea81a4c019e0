//! The `ebb` command: a thin client of the library.

mod repl;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use ebb::format::{Format, Printer};
use ebb::{Session, SessionOptions};

#[derive(Parser)]
#[command(name = "ebb", version, about = "Streaming queries whose input never stops but whose state must")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Timely worker threads for the REPL (`ebb` with no subcommand).
    #[arg(long, default_value_t = 1)]
    workers: usize,
    /// The REPL's history file [default: $EBB_HISTORY, else ~/.ebb_history].
    #[arg(long, value_name = "FILE")]
    history: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Run a .sql file's statements in order; stop at the first error.
    Run {
        /// The script.
        file: PathBuf,
        /// How to print result sets.
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
        /// Timely worker threads.
        #[arg(long, default_value_t = 1)]
        workers: usize,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum OutputFormat {
    Table,
    Csv,
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Run { file, format, workers }) => run(&file, format, workers),
        None => repl::run(cli.workers, cli.history),
    }
}

fn run(file: &PathBuf, format: OutputFormat, workers: usize) -> ExitCode {
    let origin = file.display().to_string();
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("i/o error: cannot read \"{origin}\": {e}");
            return ExitCode::from(2);
        }
    };
    let base_dir = file.parent().map(PathBuf::from).unwrap_or_default();
    let options = SessionOptions { workers: workers.max(1), base_dir, ..SessionOptions::default() };
    let mut session = match Session::new(options) {
        Ok(session) => session,
        Err(e) => {
            eprint!("{}", e.render(&text, &origin));
            return ExitCode::FAILURE;
        }
    };
    let mut printer = Printer::new(match format {
        OutputFormat::Table => Format::Table,
        OutputFormat::Csv => Format::Csv,
        OutputFormat::Json => Format::Json,
    });
    let mut stdout = std::io::stdout().lock();
    let mut stdout_open = true;
    let result = session.execute_each(&text, |output| {
        // A closed stdout (`ebb run job.sql | head`) is not an error of the job: keep running
        // the statements, print nothing more.
        if stdout_open
            && stdout.write_all(printer.render(&output).as_bytes()).and_then(|()| stdout.flush()).is_err()
        {
            stdout_open = false;
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprint!("{}", e.render(&text, &origin));
            ExitCode::FAILURE
        }
    }
}
