//! Throughput and peak memory of `RETAIN LATEST n PER k` and `RETAIN TOP n PER k BY v` (a
//! column that is not the time: each row's rank is a random draw) against a plain view.
//!
//! Run the whole matrix (each case in its own child process, so each peak RSS is its own):
//!
//! ```text
//! cargo bench --bench retain                       # 10,000,000 rows per case
//! cargo bench --bench retain -- --rows 1000000     # or EBB_BENCH_ROWS=1000000
//! ```
//!
//! Run one case:
//!
//! ```text
//! cargo bench --bench retain -- --case --rows 1000000 --keys 1000 --batch 100000 --mode retain
//! ```
//!
//! `--workers N` runs every case on N timely workers (default 1); `--processes P` runs a case
//! on P processes of that many workers each (processes 1.. are `ebb worker` children on
//! loopback), and adds to its `RESULT` line the bytes process 0 sent and received
//! (`net_sent`, `net_received`) and the children's CPU seconds (`child_cpu`).
//!
//! Spilling: the same retain case without a budget, with a budget of 0 and with `--budget`
//! (side by side, each in its own process), reporting throughput, peak RSS, what the budget
//! held and what stayed decoded, bytes written to disk per input byte and the compression
//! ratio; `--pattern uniform|drift` picks how rows choose their key (see [`Pattern`]):
//!
//! ```text
//! cargo bench --bench retain -- --spill --pattern drift --rows 2000000 --keys 10000 --budget 48MB
//! ```
//!
//! Row `i` is `(k = hash(i) % keys, v = hash(i ^ 1) % 10⁹, ts = i)`: times only grow, so no
//! row is late, while `v` (what TOP ranks by) follows no order.
//! The source is `KEEP NONE`. After every batch (or every `--sync-rows` rows, if larger) the
//! driver waits for the dataflow to catch up (`Session::sync`), which also bounds the input
//! backlog; at the end `SHOW STATS` counts the records held, after the clock stops (`secs`
//! is the time to process the rows, as the peers time their ticks alone).

use std::time::{Duration, Instant};

use ebb::repr::Datum;
use ebb::{Output, Session, SessionOptions};

mod common;
use common::{Job, field, hash, parse_num, peak_rss_kib, result_cells, run_case_child};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    /// `LATEST 3 PER k`.
    Retain,
    /// `TOP 3 PER k BY v`.
    Top,
    Plain,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Retain => "retain",
            Mode::Top => "top",
            Mode::Plain => "plain",
        }
    }

    fn parse(s: &str) -> Mode {
        match s {
            "retain" => Mode::Retain,
            "top" => Mode::Top,
            "plain" => Mode::Plain,
            other => panic!("--mode must be retain, top or plain, not {other}"),
        }
    }

    fn view(self, delay: u64) -> String {
        match self {
            Mode::Retain => {
                format!("CREATE VIEW latest AS SELECT k, v, ts FROM s RETAIN LATEST 3 PER k DELAY {delay};")
            }
            Mode::Top => {
                format!("CREATE VIEW latest AS SELECT k, v, ts FROM s RETAIN TOP 3 PER k BY v DELAY {delay};")
            }
            Mode::Plain => "CREATE VIEW latest AS SELECT k, v, ts FROM s;".to_string(),
        }
    }
}

/// How rows pick their key.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Pattern {
    /// `k = hash(i) % keys`: every key stays live, and every batch touches keys all over.
    Uniform,
    /// `k = i / 4 - hash(i) % keys`: a key gets about four rows within a window of `4 × keys`
    /// rows, then none again (sessions, auctions). The state grows with the rows; the keys a
    /// batch touches are the recent ones.
    Drift,
}

impl Pattern {
    fn name(self) -> &'static str {
        match self {
            Pattern::Uniform => "uniform",
            Pattern::Drift => "drift",
        }
    }

    fn parse(s: &str) -> Pattern {
        match s {
            "uniform" => Pattern::Uniform,
            "drift" => Pattern::Drift,
            other => panic!("--pattern must be uniform or drift, not {other}"),
        }
    }

    fn key(self, i: u64, keys: u64) -> u64 {
        match self {
            Pattern::Uniform => hash(i) % keys,
            Pattern::Drift => (i / 4).saturating_sub(hash(i) % keys),
        }
    }
}

#[derive(Clone, Debug)]
struct Args {
    case: bool,
    rows: u64,
    keys: u64,
    batch: u64,
    mode: Mode,
    sync_rows: u64,
    delay: u64,
    /// Child time limit for plain cases, in seconds.
    timeout: u64,
    /// Child time limit for retain cases, in seconds.
    retain_timeout: u64,
    /// Also run the retain cases at this many times `rows` (0: skip).
    scale: u64,
    /// The session's memory budget, in bytes (a case), or the budget to compare with none
    /// (`--spill`).
    budget: Option<u64>,
    /// Run the spill comparison instead of the matrix.
    spill: bool,
    pattern: Pattern,
    /// Timely workers (in each process).
    workers: usize,
    /// Processes (a case only).
    processes: usize,
}

fn parse_args() -> Args {
    let mut args = Args {
        case: false,
        rows: std::env::var("EBB_BENCH_ROWS").ok().map_or(10_000_000, |s| parse_num(&s)),
        keys: 1000,
        batch: 100_000,
        mode: Mode::Retain,
        sync_rows: 0,
        delay: 1,
        timeout: 60,
        retain_timeout: 600,
        scale: 5,
        budget: None,
        spill: false,
        pattern: Pattern::Uniform,
        workers: 1,
        processes: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--case" => args.case = true,
            "--rows" => args.rows = parse_num(&value()),
            "--keys" => args.keys = parse_num(&value()),
            "--batch" => args.batch = parse_num(&value()),
            "--mode" => args.mode = Mode::parse(&value()),
            "--delay" => args.delay = parse_num(&value()),
            "--sync-rows" => args.sync_rows = parse_num(&value()),
            "--timeout" => args.timeout = parse_num(&value()),
            "--retain-timeout" => args.retain_timeout = parse_num(&value()),
            "--scale" => args.scale = parse_num(&value()),
            "--budget" => {
                let text = value();
                args.budget = Some(
                    ebb::storage::spill::parse_size(&text).unwrap_or_else(|| panic!("not a size: {text}")),
                );
            }
            "--spill" => args.spill = true,
            "--pattern" => args.pattern = Pattern::parse(&value()),
            "--workers" => args.workers = parse_num(&value()) as usize,
            "--processes" => args.processes = parse_num(&value()).max(1) as usize,
            // `cargo bench` passes this to every bench target.
            "--bench" => {}
            other => panic!("unknown argument {other}"),
        }
    }
    args
}

/// Wait until the dataflow has caught up; return the records held by all arrangements, and
/// the serialized bytes of the chunks paged through the spill hook (0 without a budget).
fn records_held(session: &mut Session) -> (u64, u64) {
    let (mut records, mut raw_bytes) = (0, 0);
    for output in session.execute("SHOW STATS FULL").expect("SHOW STATS FULL") {
        if let Output::Rows { columns, rows } = output {
            let raw = columns.iter().position(|c| c == "raw_bytes");
            for row in rows {
                if let Some(Datum::Int(n)) = row.get(2) {
                    records += *n as u64;
                }
                if let Some(Datum::Int(n)) = raw.and_then(|at| row.get(at)) {
                    raw_bytes += *n as u64;
                }
            }
        }
    }
    (records, raw_bytes)
}

/// One case, in this process. Prints a `RESULT` line for the driver.
fn run_case(args: &Args) {
    let job = Job::start(args.processes, args.workers);
    let mut session = Session::new(SessionOptions {
        workers: args.workers,
        cluster: job.cluster.clone(),
        base_dir: ".".into(),
        memory_budget: args.budget,
        ..SessionOptions::default()
    })
    .expect("session");
    session
        .execute(&format!(
            "CREATE SOURCE s (k BIGINT, v BIGINT, ts BIGINT) TIME ts KEEP NONE; {}",
            args.mode.view(args.delay)
        ))
        .expect("create");
    let keys = args.keys.max(1);
    let batch = args.batch.max(1);
    let sync_every = args.sync_rows.max(batch);
    let mut generate = Duration::ZERO;
    let mut since_sync = 0;
    let mut input_bytes = 0;
    let (mut max_held, mut max_decoded) = (0, 0);
    let start = Instant::now();
    let mut i = 0;
    while i < args.rows {
        let t = Instant::now();
        let end = (i + batch).min(args.rows);
        let rows: Vec<Vec<Datum>> = (i..end)
            .map(|i| {
                vec![
                    Datum::Int(args.pattern.key(i, keys) as i64),
                    Datum::Int((hash(i ^ 1) % 1_000_000_000) as i64),
                    Datum::Int(i as i64),
                ]
            })
            .collect();
        input_bytes += rows.iter().map(|r| ebb::repr::row::encode(r).len() as u64).sum::<u64>();
        generate += t.elapsed();
        session.insert("s", rows).expect("insert");
        since_sync += end - i;
        i = end;
        if since_sync >= sync_every {
            session.sync().expect("sync");
            since_sync = 0;
            let (now, _) = session.spill_totals();
            max_held = max_held.max(now.held_bytes);
            max_decoded = max_decoded.max(now.decoded_bytes);
        }
    }
    session.sync().expect("sync");
    // The rows are processed once the dataflow has caught up; counting the records held
    // afterwards is a check, not part of the work (the peers time their ticks alone).
    let elapsed = start.elapsed();
    let ingest_hwm_kib = peak_rss_kib();
    let (records, state_bytes) = records_held(&mut session);
    let (spill, _) = session.spill_totals();
    let (net_sent, net_received) = (session.health().bytes_sent(), session.health().bytes_received());
    drop(session);
    let child_cpu = job.finish();
    println!(
        "RESULT secs={:.6} gen_secs={:.6} records={} hwm_kib={} ingest_hwm_kib={ingest_hwm_kib} \
         input_bytes={input_bytes} state_bytes={state_bytes} max_held={max_held} max_decoded={max_decoded} \
         paged_bytes={} written_bytes={} compressed_from={} compressed_to={} fetches={} \
         net_sent={net_sent} net_received={net_received} child_cpu={child_cpu:.2}",
        elapsed.as_secs_f64(),
        generate.as_secs_f64(),
        records,
        peak_rss_kib(),
        spill.paged_bytes,
        spill.written_bytes,
        spill.compressed_from,
        spill.compressed_to,
        spill.fetches,
    );
}

/// What a finished child reported.
#[derive(Clone, Debug, Default)]
struct CaseResult {
    secs: f64,
    gen_secs: f64,
    records: u64,
    hwm_kib: u64,
    input_bytes: u64,
    ingest_hwm_kib: u64,
    state_bytes: u64,
    max_held: u64,
    max_decoded: u64,
    paged_bytes: u64,
    written_bytes: u64,
    compressed_from: u64,
    compressed_to: u64,
    fetches: u64,
}

/// Run one case as a child process of this executable, killing it after `limit`.
fn spawn_case(case: &Args, limit: u64) -> Result<CaseResult, String> {
    let mut child_args: Vec<String> = Vec::new();
    if let Some(budget) = case.budget {
        child_args.extend(["--budget".to_string(), budget.to_string()]);
    }
    for arg in [
        "--case",
        "--mode",
        case.mode.name(),
        "--pattern",
        case.pattern.name(),
        "--rows",
        &case.rows.to_string(),
        "--keys",
        &case.keys.to_string(),
        "--batch",
        &case.batch.to_string(),
        "--sync-rows",
        &case.sync_rows.to_string(),
        "--workers",
        &case.workers.to_string(),
    ] {
        child_args.push(arg.to_string());
    }
    let fields = run_case_child(&child_args, limit)?;
    let result = CaseResult {
        secs: field(&fields, "secs")?,
        gen_secs: field(&fields, "gen_secs")?,
        records: field(&fields, "records")?,
        hwm_kib: field(&fields, "hwm_kib")?,
        input_bytes: field(&fields, "input_bytes")?,
        ingest_hwm_kib: field(&fields, "ingest_hwm_kib")?,
        state_bytes: field(&fields, "state_bytes")?,
        max_held: field(&fields, "max_held")?,
        max_decoded: field(&fields, "max_decoded")?,
        paged_bytes: field(&fields, "paged_bytes")?,
        written_bytes: field(&fields, "written_bytes")?,
        compressed_from: field(&fields, "compressed_from")?,
        compressed_to: field(&fields, "compressed_to")?,
        fetches: field(&fields, "fetches")?,
    };
    Ok(result)
}

fn mb(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn driver(args: &Args) {
    println!(
        "ebb retain benchmark: rows = {}, 1 worker, sync every {} rows, plain limit {} s, retain limit {} s\n",
        args.rows, args.sync_rows, args.timeout, args.retain_timeout
    );
    println!(
        "| keys | batch | mode | rows | secs | rows/s | gen % | records held | peak RSS MB | RSS 5R/R |"
    );
    println!("|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|");
    for keys in [1, 1000, 1_000_000] {
        for batch in [1000, 100_000] {
            for mode in [Mode::Retain, Mode::Top, Mode::Plain] {
                let limit = if mode == Mode::Plain { args.timeout } else { args.retain_timeout };
                let mut runs = vec![args.rows];
                if mode != Mode::Plain && args.scale > 1 {
                    runs.push(args.rows * args.scale);
                }
                let mut base_rss = None;
                for rows in runs {
                    let prefix = format!("| {keys} | {batch} | {} | {rows} |", mode.name());
                    let case = Args { rows, keys, batch, mode, budget: None, ..args.clone() };
                    match spawn_case(&case, limit) {
                        Ok(r) => println!(
                            "{prefix} {}",
                            result_cells(rows, r.secs, r.gen_secs, r.records, r.hwm_kib, &mut base_rss)
                        ),
                        Err(note) => println!("{prefix} {note} | | | | | |"),
                    }
                }
            }
        }
    }
}

/// The spill comparison: the same retain case without a budget and with `args.budget`.
fn spill_driver(args: &Args) {
    let budget = args.budget.unwrap_or(64 << 20);
    println!(
        "ebb spill benchmark: LATEST 3, {} keys {}, {} rows in batches of {}, 1 worker, budget {:.0} MB\n",
        args.pattern.name(),
        args.keys,
        args.rows,
        args.batch,
        mb(budget / 1024)
    );
    println!(
        "| budget MB | rows/s | throughput vs none | peak RSS MB, ingest | peak RSS MB, with SHOW STATS | state MB | held in budget MB, max | decoded copies MB, max | paged MB | written MB | written / input byte | lz4 ratio | fetches |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut base = None;
    for budget in [None, Some(0), Some(budget)] {
        let label = budget.map_or("none".to_string(), |b| format!("{:.0}", mb(b / 1024)));
        match spawn_case(&Args { mode: Mode::Retain, budget, ..args.clone() }, args.retain_timeout) {
            Ok(r) => {
                let rate = args.rows as f64 / r.secs;
                let relative = base.map_or("1.00".to_string(), |b: f64| format!("{:.2}", rate / b));
                base.get_or_insert(rate);
                let ratio = if r.compressed_to > 0 {
                    format!("{:.2}", r.compressed_from as f64 / r.compressed_to as f64)
                } else {
                    "-".into()
                };
                println!(
                    "| {label} | {rate:.0} | {relative} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.2} | {ratio} | {} |",
                    mb(r.ingest_hwm_kib),
                    mb(r.hwm_kib),
                    mb(r.state_bytes / 1024),
                    mb(r.max_held / 1024),
                    mb(r.max_decoded / 1024),
                    mb(r.paged_bytes / 1024),
                    mb(r.written_bytes / 1024),
                    r.written_bytes as f64 / r.input_bytes.max(1) as f64,
                    r.fetches
                );
            }
            Err(note) => println!("| {label} | {note} | | | | | | | | | | | |"),
        }
    }
}

fn main() {
    let args = parse_args();
    if args.case {
        run_case(&args);
    } else if args.spill {
        spill_driver(&args);
    } else {
        driver(&args);
    }
}
