//! NEXMark-style winning bids (`RETAIN WINNER`) and pair latency (`RETAIN UNMATCHED`), fed
//! through the library API in batches: events/s and peak RSS, with the rule's feedback and
//! without it (the same plan, `SessionOptions::retain_feedback = false`), and RSS at 5× the
//! events.
//!
//! ```text
//! cargo bench --bench rules                          # 1,000,000 events per case, and 5×
//! cargo bench --bench rules -- --events 10000000     # or EBB_BENCH_EVENTS=10000000
//! cargo bench --bench rules -- --case --scenario winner --mode retain --events 1000000
//! cargo bench --bench rules -- --events 1000000 --workers 2   # default: one worker
//! cargo bench --bench rules -- --case --scenario winner --events 1000000 --processes 2
//! ```
//!
//! `--processes P` runs a case on P processes (processes 1.. are `ebb worker` children on
//! loopback); its `RESULT` line adds process 0's bytes sent and received and the children's
//! CPU seconds.
//!
//! Each case runs in its own child process, so each peak RSS (VmHWM) is its own.
//!
//! * `winner`: event `i` is an auction when `i % 10 == 0` (id `i / 10`, open for
//!   `--open` events), otherwise a bid on one of the 100 most recent auctions (a few land
//!   after their auction closed). Event time is `i`.
//! * `pairs`: event `2s` sends packet `s` of flow `s % 1000`; its receipt comes 1 to 64 time
//!   units later (event time `2s + 1 + jitter`), except for 1 packet in 100, never received.
//!
//! Sources are `KEEP NONE`; both rules run with `DELAY 10000` (the loop acts once per frontier
//! step, at most DELAY long, so DELAY trades state for throughput) and `WINNER` forgets an
//! auction 10,000 time units after it closes, so its state is bounded too. After every batch
//! the driver waits for the dataflow to catch up (`Session::sync`); at the end `SHOW STATS`
//! counts the records held, after the clock stops. The pairs view keeps every pair that ever
//! matched (that is its definition), so its output grows with the events; the join's state
//! does not.

use std::time::{Duration, Instant};

use ebb::repr::Datum;
use ebb::{Output, Session, SessionOptions};

mod common;
use common::{field, hash, parse_num, peak_rss_kib, result_cells, run_case_child};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Scenario {
    Winner,
    Pairs,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::Winner => "winner",
            Scenario::Pairs => "pairs",
        }
    }

    fn parse(s: &str) -> Scenario {
        match s {
            "winner" => Scenario::Winner,
            "pairs" => Scenario::Pairs,
            other => panic!("--scenario must be winner or pairs, not {other}"),
        }
    }

    fn program(self) -> &'static str {
        match self {
            Scenario::Winner => {
                "CREATE SOURCE auctions (id BIGINT, expires BIGINT, ts BIGINT) TIME ts KEEP NONE;
                 CREATE SOURCE bids (auction BIGINT, bidder BIGINT, price BIGINT, ts BIGINT) TIME ts KEEP NONE;
                 CREATE VIEW winners AS SELECT a.id, b.bidder, b.price
                   FROM auctions a JOIN bids b ON b.auction = a.id WHERE b.ts < a.expires
                   RETAIN WINNER PER a.id BY b.price CLOSE AT a.expires FORGET AFTER 10000 DELAY 10000;"
            }
            Scenario::Pairs => {
                "CREATE SOURCE sends (flow BIGINT, seq BIGINT, ts BIGINT) TIME ts KEEP NONE;
                 CREATE SOURCE recvs (flow BIGINT, seq BIGINT, ts BIGINT) TIME ts KEEP NONE;
                 CREATE VIEW flow_latency AS SELECT s.flow, r.ts - s.ts AS latency
                   FROM sends s JOIN recvs r ON r.flow = s.flow AND r.seq = s.seq
                   RETAIN UNMATCHED DELAY 10000;
                 CREATE VIEW flow_stats AS SELECT flow, count(*) AS pairs, max(latency) AS worst
                   FROM flow_latency GROUP BY flow;"
            }
        }
    }
}

#[derive(Clone, Debug)]
struct Args {
    case: bool,
    scenario: Scenario,
    feedback: bool,
    events: u64,
    batch: u64,
    open: u64,
    timeout: u64,
    scale: u64,
    workers: usize,
    processes: usize,
}

fn parse_args() -> Args {
    let mut args = Args {
        case: false,
        scenario: Scenario::Winner,
        feedback: true,
        // At 5× this, `pairs` without feedback holds every pair: about 1 GB (11 GB from 10 M).
        events: std::env::var("EBB_BENCH_EVENTS").ok().map_or(1_000_000, |s| parse_num(&s)),
        batch: 100_000,
        open: 10_000,
        timeout: 900,
        scale: 5,
        workers: 1,
        processes: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--case" => args.case = true,
            "--scenario" => args.scenario = Scenario::parse(&value()),
            "--mode" => {
                args.feedback = match value().as_str() {
                    "retain" => true,
                    "no-feedback" => false,
                    other => panic!("--mode must be retain or no-feedback, not {other}"),
                }
            }
            "--events" => args.events = parse_num(&value()),
            "--batch" => args.batch = parse_num(&value()),
            "--open" => args.open = parse_num(&value()),
            "--timeout" => args.timeout = parse_num(&value()),
            "--scale" => args.scale = parse_num(&value()),
            "--workers" => args.workers = parse_num(&value()).max(1) as usize,
            "--processes" => args.processes = parse_num(&value()).max(1) as usize,
            // `cargo bench` passes this to every bench target.
            "--bench" => {}
            other => panic!("unknown argument {other}"),
        }
    }
    args
}

fn int(i: u64) -> Datum {
    Datum::Int(i as i64)
}

/// The winner scenario's events in `[lo, hi)`: (auctions, bids).
fn auction_events(lo: u64, hi: u64, open: u64) -> (Vec<Vec<Datum>>, Vec<Vec<Datum>>) {
    let (mut auctions, mut bids) = (Vec::new(), Vec::new());
    for i in lo..hi {
        if i.is_multiple_of(10) {
            auctions.push(vec![int(i / 10), int(i + open), int(i)]);
        } else {
            let newest = i / 10;
            let auction = newest.saturating_sub(hash(i) % 100);
            bids.push(vec![int(auction), int(hash(i ^ 1) % 10_000), int(hash(i ^ 2) % 1_000_000), int(i)]);
        }
    }
    (auctions, bids)
}

/// When packet `seq`'s receipt happens, if it is received.
fn receipt(seq: u64) -> Option<u64> {
    (!hash(seq).is_multiple_of(100)).then(|| 2 * seq + 1 + hash(seq ^ 7) % 64)
}

/// The pairs scenario's events with times in `[lo, hi)`: (sends, recvs).
fn packet_events(lo: u64, hi: u64) -> (Vec<Vec<Datum>>, Vec<Vec<Datum>>) {
    let sends = (lo.div_ceil(2)..hi.div_ceil(2)).map(|s| vec![int(s % 1000), int(s), int(2 * s)]).collect();
    let recvs = (lo.saturating_sub(65) / 2..hi.div_ceil(2))
        .filter_map(|s| {
            receipt(s).filter(|t| (lo..hi).contains(t)).map(|t| vec![int(s % 1000), int(s), int(t)])
        })
        .collect();
    (sends, recvs)
}

fn records_held(session: &mut Session) -> u64 {
    let mut records = 0;
    for output in session.execute("SHOW STATS").expect("SHOW STATS") {
        if let Output::Rows { rows, .. } = output {
            for row in rows {
                if let Some(Datum::Int(n)) = row.get(2) {
                    records += *n as u64;
                }
            }
        }
    }
    records
}

fn run_case(args: &Args) {
    let job = common::Job::start(args.processes, args.workers);
    let options = SessionOptions {
        workers: args.workers,
        cluster: job.cluster.clone(),
        retain_feedback: args.feedback,
        ..SessionOptions::default()
    };
    let mut session = Session::new(options).expect("session");
    session.execute(args.scenario.program()).expect("create");
    let (first, second) = match args.scenario {
        Scenario::Winner => ("auctions", "bids"),
        Scenario::Pairs => ("sends", "recvs"),
    };
    let start = Instant::now();
    let mut generate = Duration::ZERO;
    let mut lo = 0;
    while lo < args.events {
        let hi = (lo + args.batch.max(1)).min(args.events);
        let t = Instant::now();
        let (a, b) = match args.scenario {
            Scenario::Winner => auction_events(lo, hi, args.open),
            Scenario::Pairs => packet_events(lo, hi),
        };
        generate += t.elapsed();
        session.insert(first, a).expect("insert");
        session.insert(second, b).expect("insert");
        session.sync().expect("sync");
        lo = hi;
    }
    // Counting the records held is a check, not part of the work: the clock stops first.
    let secs = start.elapsed().as_secs_f64();
    let records = records_held(&mut session);
    let (net_sent, net_received) = (session.health().bytes_sent(), session.health().bytes_received());
    drop(session);
    let child_cpu = job.finish();
    println!(
        "RESULT secs={secs:.6} gen_secs={:.6} records={records} hwm_kib={} net_sent={net_sent} \
         net_received={net_received} child_cpu={child_cpu:.2}",
        generate.as_secs_f64(),
        peak_rss_kib()
    );
}

#[derive(Clone, Debug, Default)]
struct CaseResult {
    secs: f64,
    gen_secs: f64,
    records: u64,
    hwm_kib: u64,
}

fn spawn_case(args: &Args, scenario: Scenario, feedback: bool, events: u64) -> Result<CaseResult, String> {
    let mode = if feedback { "retain" } else { "no-feedback" };
    let child_args: Vec<String> = [
        "--case",
        "--scenario",
        scenario.name(),
        "--mode",
        mode,
        "--events",
        &events.to_string(),
        "--batch",
        &args.batch.to_string(),
        "--open",
        &args.open.to_string(),
        "--workers",
        &args.workers.to_string(),
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    let fields = run_case_child(&child_args, args.timeout)?;
    Ok(CaseResult {
        secs: field(&fields, "secs")?,
        gen_secs: field(&fields, "gen_secs")?,
        records: field(&fields, "records")?,
        hwm_kib: field(&fields, "hwm_kib")?,
    })
}

fn driver(args: &Args) {
    println!(
        "ebb rules benchmark: {} worker(s), batches of {} events, auctions open {} events, limit {} s per case\n",
        args.workers, args.batch, args.open, args.timeout
    );
    println!(
        "| scenario | mode | events | secs | events/s | gen % | records held | peak RSS MB | RSS vs 1× |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|");
    for scenario in [Scenario::Winner, Scenario::Pairs] {
        for feedback in [true, false] {
            let mut base = None;
            let mut runs = vec![args.events];
            if args.scale > 1 {
                runs.push(args.events * args.scale);
            }
            for events in runs {
                let mode = if feedback { "retain" } else { "no feedback" };
                let prefix = format!("| {} | {mode} | {events} |", scenario.name());
                match spawn_case(args, scenario, feedback, events) {
                    Ok(r) => println!(
                        "{prefix} {}",
                        result_cells(events, r.secs, r.gen_secs, r.records, r.hwm_kib, &mut base)
                    ),
                    Err(note) => {
                        println!("{prefix} {note} | | | | | |");
                        break;
                    }
                }
            }
        }
    }
}

fn main() {
    let args = parse_args();
    if args.case {
        run_case(&args);
    } else {
        driver(&args);
    }
}
