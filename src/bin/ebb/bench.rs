//! `ebb bench`: the open-loop latency experiment.
//!
//! A scenario's live generators produce at their offered rate on their own, whatever the
//! dataflow manages; the bench only watches. Every [`SAMPLE`] it reads `SHOW STATS` as things
//! stand ([`Session::stats_now`]), and once a second it prints the worst latency it saw in that
//! second, the updates held by all arrangements, and the process's resident memory. Without
//! the feedback loop (`--no-retain`, the baseline) state and latency grow without bound; with
//! it they stay flat. At the end it writes one CSV per mode and SVG plots of both.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use ebb::error::Span;
use ebb::repr::Datum;
use ebb::sql::{Ident, Spanned, StatementKind};
use ebb::{Error, Output, Session, SessionOptions};
use plotters::prelude::*;

/// How often the bench reads the stats: `stats_now` looks at each arrangement's batch lengths
/// only, so sampling this often costs the worker next to nothing, and a second's maximum is the
/// worst of about a hundred samples.
const SAMPLE: Duration = Duration::from_millis(10);

/// What `ebb bench` was asked to do.
pub struct BenchArgs {
    /// The scenario script.
    pub file: PathBuf,
    /// Override every generator's `rate`.
    pub rate: Option<u64>,
    /// Override `keys` of the generators that have keys.
    pub keys: Option<u64>,
    /// Seconds to run each mode.
    pub duration: u64,
    /// Run the baseline only.
    pub no_retain: bool,
    /// Run with feedback, then the baseline.
    pub compare: bool,
    /// Timely worker threads.
    pub workers: usize,
    /// Where the CSVs and plots go.
    pub out: PathBuf,
}

/// One second of a run.
#[derive(Clone, Copy, Debug)]
struct Second {
    second: u64,
    /// The worst latency sampled in that second, over all views; `None` if no view is live.
    max_latency_ms: Option<i64>,
    /// Updates held by all arrangements at the second's last sample.
    records: i64,
    /// Resident memory at the second's last sample.
    rss_mb: f64,
}

/// A failure, ready for stderr.
struct Failure {
    message: String,
    code: u8,
}

impl Failure {
    fn io(message: String) -> Failure {
        Failure { message: format!("i/o error: {message}\n"), code: 2 }
    }

    fn ebb(error: &Error, text: &str, origin: &str) -> Failure {
        Failure { message: error.render(text, origin), code: 1 }
    }
}

/// Run the bench; print the table to stdout, the effective scenario and errors to stderr.
pub fn run(args: BenchArgs) -> ExitCode {
    match bench(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprint!("{}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}

fn bench(args: &BenchArgs) -> Result<(), Failure> {
    let origin = args.file.display().to_string();
    let text = std::fs::read_to_string(&args.file)
        .map_err(|e| Failure::io(format!("cannot read \"{origin}\": {e}")))?;
    let scenario =
        effective_scenario(&text, args.rate, args.keys).map_err(|e| Failure::ebb(&e, &text, &origin))?;
    let scenario_origin = format!("{origin} (effective)");
    eprintln!("-- {scenario_origin}\n{scenario}");
    std::fs::create_dir_all(&args.out)
        .map_err(|e| Failure::io(format!("cannot create \"{}\": {e}", args.out.display())))?;

    let modes: &[&str] = match (args.compare, args.no_retain) {
        (true, _) => &["retain", "baseline"],
        (false, true) => &["baseline"],
        (false, false) => &["retain"],
    };
    let base_dir = args.file.parent().map(PathBuf::from).unwrap_or_default();
    let mut stdout = std::io::stdout().lock();
    // A closed stdout (`ebb bench ... | head`) is not an error of the run.
    let _ = writeln!(
        stdout,
        "{:<8} {:>6} {:>14} {:>12} {:>8}",
        "mode", "second", "max_latency_ms", "records", "rss_mb"
    );
    let mut runs = Vec::new();
    for &mode in modes {
        let options = SessionOptions {
            workers: args.workers.max(1),
            base_dir: base_dir.clone(),
            retain_feedback: mode == "retain",
            ..SessionOptions::default()
        };
        let seconds = run_mode(options, &scenario, &scenario_origin, args.duration, |s| {
            let latency = s.max_latency_ms.map_or("-".to_string(), |l| l.to_string());
            let _ = writeln!(
                stdout,
                "{mode:<8} {:>6} {latency:>14} {:>12} {:>8.1}",
                s.second, s.records, s.rss_mb
            );
            let _ = stdout.flush();
        })?;
        let path = args.out.join(format!("{mode}.csv"));
        write_csv(&path, &seconds)
            .map_err(|e| Failure::io(format!("cannot write \"{}\": {e}", path.display())))?;
        runs.push((mode, seconds));
    }

    let latency: Vec<(&str, Vec<(u64, f64)>)> = runs
        .iter()
        .map(|(mode, seconds)| {
            let points = seconds.iter().filter_map(|s| Some((s.second, s.max_latency_ms? as f64))).collect();
            (*mode, points)
        })
        .collect();
    let records: Vec<(&str, Vec<(u64, f64)>)> = runs
        .iter()
        .map(|(mode, seconds)| (*mode, seconds.iter().map(|s| (s.second, s.records as f64)).collect()))
        .collect();
    let title = args.file.file_stem().map_or(origin.clone(), |s| s.to_string_lossy().into_owned());
    for (name, series, caption, y_label) in [
        ("latency.svg", &latency, format!("{title}: max latency per second"), "max latency (ms, log)"),
        ("records.svg", &records, format!("{title}: state records"), "records (log)"),
    ] {
        let path = args.out.join(name);
        plot(&path, &caption, y_label, args.duration, series)
            .map_err(|e| Failure::io(format!("cannot plot \"{}\": {e}", path.display())))?;
    }
    eprintln!("wrote {}", args.out.display());
    Ok(())
}

/// The scenario with `rate` and `keys` set on every generator that takes them, as canonical
/// text (one statement a line).
fn effective_scenario(text: &str, rate: Option<u64>, keys: Option<u64>) -> ebb::Result<String> {
    let mut statements = ebb::sql::parse(text)?;
    for statement in &mut statements {
        if let StatementKind::CreateGenerated(create) = &mut statement.kind {
            let kind = create.generator.value.to_lowercase();
            let takes_keys = matches!(kind.as_str(), "sensors" | "sends" | "recvs");
            for (name, value) in [("rate", rate), ("keys", keys.filter(|_| takes_keys))] {
                let Some(value) = value else { continue };
                let value = Spanned::new(value, Span::empty());
                match create.options.iter_mut().find(|(k, _)| k.value.eq_ignore_ascii_case(name)) {
                    Some((_, v)) => *v = value,
                    None => create.options.push((Ident::new(name), value)),
                }
            }
        }
    }
    Ok(statements.iter().map(|s| format!("{s};\n")).collect())
}

/// Run the scenario in a new session for `duration` seconds, sampling its stats; hand each
/// finished second to `on_second` and return them all.
fn run_mode(
    options: SessionOptions,
    scenario: &str,
    origin: &str,
    duration: u64,
    mut on_second: impl FnMut(&Second),
) -> Result<Vec<Second>, Failure> {
    let mut session = Session::new(options).map_err(|e| Failure::ebb(&e, scenario, origin))?;
    session.execute(scenario).map_err(|e| Failure::ebb(&e, scenario, origin))?;
    let start = Instant::now();
    let end = Duration::from_secs(duration);
    let mut seconds = Vec::new();
    let mut current: Option<Second> = None;
    let mut next_sample = start;
    while start.elapsed() < end {
        // A sample belongs to the second it was asked in (a slow reply is the run's lag).
        let second = start.elapsed().as_secs() + 1;
        let stats = session.stats_now().map_err(|e| Failure::ebb(&e, scenario, origin))?;
        let (latency, records) = summarize(&stats);
        if let Some(done) = current.filter(|c| c.second != second) {
            on_second(&done);
            seconds.push(done);
            current = None;
        }
        let entry = current.get_or_insert(Second { second, max_latency_ms: None, records: 0, rss_mb: 0.0 });
        entry.max_latency_ms = entry.max_latency_ms.max(latency);
        entry.records = records;
        entry.rss_mb = rss_mb();
        next_sample += SAMPLE;
        let now = Instant::now();
        if next_sample > now {
            std::thread::sleep(next_sample - now);
        } else {
            next_sample = now;
        }
    }
    if let Some(done) = current {
        on_second(&done);
        seconds.push(done);
    }
    Ok(seconds)
}

/// The worst current latency over all views, and the records of all arrangements.
fn summarize(stats: &Output) -> (Option<i64>, i64) {
    let Output::Rows { columns, rows } = stats else { return (None, 0) };
    let column = |name: &str| columns.iter().position(|c| c == name);
    let (Some(records), Some(latency)) = (column("records"), column("latency_ms")) else { return (None, 0) };
    let int = |row: &Vec<Datum>, i: usize| row.get(i).and_then(Datum::as_int);
    let total = rows.iter().filter_map(|row| int(row, records)).sum();
    let worst = rows.iter().filter_map(|row| int(row, latency)).max();
    (worst, total)
}

/// This process's resident memory, in MB (0 where /proc is not there).
fn rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn write_csv(path: &Path, seconds: &[Second]) -> std::io::Result<()> {
    let mut text = String::from("second,max_latency_ms,records,rss_mb\n");
    for s in seconds {
        let latency = s.max_latency_ms.map(|l| l.to_string()).unwrap_or_default();
        text.push_str(&format!("{},{latency},{},{:.1}\n", s.second, s.records, s.rss_mb));
    }
    std::fs::write(path, text)
}

/// One line per mode, on a log y axis (values below 1 drawn at 1).
fn plot(
    path: &Path,
    caption: &str,
    y_label: &str,
    duration: u64,
    series: &[(&str, Vec<(u64, f64)>)],
) -> Result<(), Box<dyn std::error::Error>> {
    let top = series.iter().flat_map(|(_, points)| points.iter().map(|p| p.1)).fold(10.0, f64::max) * 2.0;
    let root = SVGBackend::new(path, (800, 450)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, ("sans-serif", 20))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0u64..duration.max(1), (1f64..top).log_scale())?;
    chart.configure_mesh().x_desc("second").y_desc(y_label).draw()?;
    for (mode, points) in series {
        let color = if *mode == "baseline" { RED } else { BLUE };
        chart
            .draw_series(LineSeries::new(
                points.iter().map(|&(x, y)| (x, y.max(1.0))),
                color.stroke_width(2),
            ))?
            .label(*mode)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
    }
    chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw()?;
    root.present()?;
    Ok(())
}
