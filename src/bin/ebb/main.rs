//! The `ebb` command: a thin client of the library.

mod bench;
mod progress;
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
    #[command(flatten)]
    spill: SpillArgs,
}

/// Where state goes when it does not fit in memory.
#[derive(clap::Args, Clone)]
struct SpillArgs {
    /// Bytes the rules' arrangements may hold in memory before they spill to disk, such as
    /// 256MB (0: spill everything; default: no budget).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    memory_budget: Option<u64>,
    /// Where spilled chunks go [default: a temporary directory removed at exit].
    #[arg(long, value_name = "DIR")]
    spill_dir: Option<PathBuf>,
}

fn parse_size(text: &str) -> Result<u64, String> {
    ebb::storage::spill::parse_size(text).ok_or_else(|| format!("not a size: {text} (try 256MB, 64kB or 0)"))
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
        #[command(flatten)]
        spill: SpillArgs,
    },
    /// The open-loop latency experiment: run a scenario's live generators at their offered
    /// rate and print, each second, the worst latency, the state held and resident memory.
    Bench {
        /// The scenario.
        file: PathBuf,
        /// Set every generator's `rate` (rows per second).
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
        rate: Option<u64>,
        /// Set `keys` of the generators that have keys (sensors, sends, recvs).
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
        keys: Option<u64>,
        /// Seconds to run each mode.
        #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
        duration: u64,
        /// Run the baseline only: the same plans without the feedback loop.
        #[arg(long)]
        no_retain: bool,
        /// Run with feedback, then the baseline, and plot both.
        #[arg(long, conflicts_with = "no_retain")]
        compare: bool,
        /// Timely worker threads.
        #[arg(long, default_value_t = 1)]
        workers: usize,
        /// Where the CSVs and SVG plots go.
        #[arg(long, default_value = "bench-out")]
        out: PathBuf,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum OutputFormat {
    Table,
    Csv,
    Json,
}

/// Have glibc serve blocks of 64 KiB and more from their own mappings, so the memory of a
/// chunk that leaves (spilled, compressed, merged away) goes back to the system.
///
/// glibc raises its mmap threshold to the size of any mapped block freed, up to 32 MiB; past
/// that, chunk-sized blocks come from the heap, where freed ones fragment and stay in the
/// process. `benches/retain.rs --spill` runs its cases the same way (`MALLOC_MMAP_THRESHOLD_`);
/// see `docs/benchmarks.md` for what it changes.
fn give_large_blocks_back() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `mallopt` only sets a tuning parameter of the allocator, before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 64 * 1024);
    }
}

fn main() -> ExitCode {
    give_large_blocks_back();
    // A worker panic is shown once, as the error of the statement it stopped.
    ebb::engine::quiet_worker_panics();
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Run { file, format, workers, spill }) => run(&file, format, workers, spill),
        Some(Command::Bench { file, rate, keys, duration, no_retain, compare, workers, out }) => {
            bench::run(bench::BenchArgs { file, rate, keys, duration, no_retain, compare, workers, out })
        }
        None => repl::run(cli.workers, cli.history, cli.spill.memory_budget, cli.spill.spill_dir),
    }
}

fn run(file: &PathBuf, format: OutputFormat, workers: usize, spill: SpillArgs) -> ExitCode {
    let origin = file.display().to_string();
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("i/o error: cannot read \"{origin}\": {e}");
            return ExitCode::from(2);
        }
    };
    let base_dir = file.parent().map(PathBuf::from).unwrap_or_default();
    let options = SessionOptions {
        workers: workers.max(1),
        base_dir,
        memory_budget: spill.memory_budget,
        spill_dir: spill.spill_dir,
        ..SessionOptions::default()
    };
    let mut session = match Session::new(options) {
        Ok(session) => session,
        Err(e) => {
            eprint!("{}", e.render(&text, &origin));
            return ExitCode::FAILURE;
        }
    };
    progress::install(&mut session);
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
