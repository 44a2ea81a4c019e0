//! The `ebb` command: a thin client of the library.
//!
//! `ebb` with a terminal on stdin opens the REPL; `ebb FILE.sql`, `ebb run FILE.sql`,
//! `ebb run -`, `ebb -c SQL` and `ebb < FILE.sql` run a script in batch (see [`batch`]);
//! `ebb bench` runs the open-loop experiment; `ebb worker` serves one process of a job run
//! across several (`--processes`, see [`cluster`]).

mod batch;
mod bench;
mod cluster;
mod progress;
mod repl;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use ebb::SessionOptions;
use ebb::format::Format;

/// Ebb allocates a small buffer per row in flight: mimalloc's per-thread free lists serve those
/// faster than glibc's, which spent about a fifth of the time on 1 M keys coalescing chunks, and
/// it gives freed spill chunks back to the system (`docs/storage.md`). Built with `no_thp`, it
/// turns transparent huge pages off for the process: each batch an arrangement merges is fresh
/// memory, and faulting it in 2 MiB at a time doubled the kernel's share of the time.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How long, in ms, the binary's allocator keeps freed pages before giving them back to the
/// system (mimalloc's default is 10 ms; freed arena memory waits ten times as long). A live
/// job builds and merges batches without pause, each into memory freed moments before: given
/// back after 10 ms, it was faulted in again page by page. With latest 1 of 100,000 keys at
/// 1,000,000 rows/s, 100 ms took the page faults from 1.43 M to 0.20 M in 10 s and the job fell
/// about 40% less behind, with a lower peak RSS (`docs/benchmarks.md`, open loop). The cost is
/// memory kept after a burst: latest 3 of 1,000,000 keys in batches of 100,000 ran 18% faster
/// but peaked about a quarter higher (the library's benches keep mimalloc's default).
/// `MIMALLOC_PURGE_DELAY` (or its old name `MIMALLOC_RESET_DELAY`) in the environment
/// overrides it.
const PURGE_DELAY_MS: std::ffi::c_long = 100;

/// `mi_option_purge_delay` in mimalloc v2's `mimalloc.h` (the bindings have no name for it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn keep_freed_memory_a_while() {
    let given =
        ["MIMALLOC_PURGE_DELAY", "MIMALLOC_RESET_DELAY"].iter().any(|name| std::env::var_os(name).is_some());
    if !given {
        // SAFETY: sets one of mimalloc's options before any thread but this one exists; the
        // option is an integer mimalloc reads whenever it schedules a purge.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS) };
    }
}

#[derive(Parser)]
#[command(
    name = "ebb",
    version,
    about = "Streaming queries whose input never stops but whose state must",
    args_conflicts_with_subcommands = true,
    after_help = "With no FILE, no -c and a terminal on stdin, ebb opens the REPL; \
                  with stdin from a pipe or a file (ebb < FILE.sql), it runs that script like `ebb run`."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Run this script, like `ebb run FILE`.
    #[arg(value_name = "FILE")]
    file: Option<PathBuf>,
    /// Run these statements and exit (may be given more than once; they run in order).
    #[arg(short = 'c', long = "command", value_name = "SQL", conflicts_with = "file")]
    commands: Vec<String>,
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    session: SessionArgs,
    /// The REPL's history file [default: $EBB_HISTORY, else ~/.ebb_history].
    #[arg(long, value_name = "FILE")]
    history: Option<PathBuf>,
}

/// How the session runs.
#[derive(clap::Args, Clone)]
struct SessionArgs {
    /// Timely worker threads.
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = parse_workers)]
    workers: usize,
    #[command(flatten)]
    spill: SpillArgs,
    #[command(flatten)]
    cluster: cluster::ClusterArgs,
}

impl SessionArgs {
    /// Session options whose relative paths resolve against `base_dir`, and the other
    /// processes of the job if they were started here (they stop when it is dropped, which
    /// must come after the session's end).
    fn options(&self, base_dir: PathBuf) -> ebb::Result<(SessionOptions, Option<cluster::Job>)> {
        let (cluster, job) = self.cluster.session_cluster(self.workers, self.spill.spill_dir.as_deref())?;
        let options = SessionOptions {
            workers: self.workers,
            cluster,
            base_dir,
            memory_budget: self.spill.memory_budget,
            spill_dir: self.spill.spill_dir.clone(),
            ..SessionOptions::default()
        };
        Ok((options, job))
    }
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

/// How a script's results are printed, and what an error does.
#[derive(clap::Args, Clone, Copy)]
struct OutputArgs {
    /// How to print result sets (a script's; the REPL's first format).
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    format: OutputFormat,
    /// Go on after a failing statement (each error is still reported; the exit status is 1 if
    /// any failed). By default a script stops at its first error.
    #[arg(long)]
    continue_on_error: bool,
}

fn parse_size(text: &str) -> Result<u64, String> {
    ebb::storage::spill::parse_size(text).ok_or_else(|| format!("not a size: {text} (try 256MB, 64kB or 0)"))
}

fn parse_workers(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("ebb needs at least 1 worker thread".to_string()),
        Ok(workers) => Ok(workers),
        Err(_) => Err(format!("not a number of worker threads: {text}")),
    }
}

#[derive(Subcommand)]
enum Command {
    /// Run a .sql file's statements in order; stop at the first error.
    Run {
        /// The script (`-`: read it from stdin).
        file: PathBuf,
        #[command(flatten)]
        output: OutputArgs,
        #[command(flatten)]
        session: SessionArgs,
    },
    /// Serve one process of a job run across several: its workers do what the session on
    /// process 0 commands, until it ends the job.
    Worker {
        #[command(flatten)]
        cluster: cluster::ClusterArgs,
        /// Timely worker threads in this process (every process must run the same number).
        #[arg(long, default_value_t = 1, value_name = "N", value_parser = parse_workers)]
        workers: usize,
        /// Where this process's spilled chunks go [default: a temporary directory].
        #[arg(long, value_name = "DIR")]
        spill_dir: Option<PathBuf>,
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
        #[arg(long, default_value_t = 1, value_name = "N", value_parser = parse_workers)]
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

impl From<OutputFormat> for Format {
    fn from(format: OutputFormat) -> Format {
        match format {
            OutputFormat::Table => Format::Table,
            OutputFormat::Csv => Format::Csv,
            OutputFormat::Json => Format::Json,
        }
    }
}

fn main() -> ExitCode {
    keep_freed_memory_a_while();
    // A worker panic is shown once, as the error of the statement it stopped.
    ebb::engine::quiet_worker_panics();
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Run { file, output, session }) => {
            batch::run(&[batch::Script::file(&file)], output, &session)
        }
        Some(Command::Worker { cluster, workers, spill_dir }) => cluster::serve(&cluster, workers, spill_dir),
        Some(Command::Bench { file, rate, keys, duration, no_retain, compare, workers, out }) => {
            bench::run(bench::BenchArgs { file, rate, keys, duration, no_retain, compare, workers, out })
        }
        None if !cli.commands.is_empty() => {
            batch::run(&batch::Script::commands(&cli.commands), cli.output, &cli.session)
        }
        None => match cli.file {
            Some(file) => batch::run(&[batch::Script::file(&file)], cli.output, &cli.session),
            None if !std::io::stdin().is_terminal() => {
                batch::run(&[batch::Script::file(std::path::Path::new("-"))], cli.output, &cli.session)
            }
            None => match cli.session.options(PathBuf::from(".")) {
                Ok((options, job)) => repl::run(options, job, cli.output.format.into(), cli.history),
                Err(e) => {
                    eprint!("{}", e.render("", ""));
                    ExitCode::FAILURE
                }
            },
        },
    }
}
