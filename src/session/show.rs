//! `SHOW SOURCES`, `SHOW VIEWS` and `SHOW STATS`: the catalog, the clocks and the workers'
//! state as result sets. Reading state is a read: `SHOW STATS` seals every source first.

use std::collections::BTreeMap;

use super::{Output, Session};
use crate::engine::{Command, Reply};
use crate::error::Result;
use crate::plan::{ObjectId, explain};
use crate::repr::Datum;
use crate::storage::spill::SpillCounts;

/// The columns of `SHOW STATS FULL` (`SHOW STATS` shows some of them). The spill columns are
/// NULL for arrangements that cannot spill; see `docs/language.md`.
pub const STATS_COLUMNS: [&str; 13] = [
    "view",
    "arrangement",
    "records",
    "dropped",
    "latency_ms",
    "max_latency_ms",
    "resident_bytes",
    "spilled_chunks",
    "raw_bytes",
    "compressed_bytes",
    "compression_ratio",
    "fetches",
    "disk_bytes",
];

/// The `SHOW STATS` columns (indexes into [`STATS_COLUMNS`]) shown without `FULL`: the
/// first six, then, when some arrangement has paged chunks (under a memory budget), the spill
/// columns a person reads first: `resident_bytes`, `spilled_chunks`, `disk_bytes`.
const BRIEF_STATS_COLUMNS: [usize; 6] = [0, 1, 2, 3, 4, 5];
const BRIEF_SPILL_COLUMNS: [usize; 3] = [6, 7, 12];
const SPILLED_CHUNKS_COLUMN: usize = 7;

/// `SHOW STATS` narrowed to the columns that fit a terminal.
fn brief_stats(stats: Output) -> Output {
    let Output::Rows { columns, rows } = stats else { return stats };
    let paged =
        rows.iter().any(|row| row.get(SPILLED_CHUNKS_COLUMN).and_then(Datum::as_int).is_some_and(|n| n > 0));
    let keep: Vec<usize> = if paged {
        BRIEF_STATS_COLUMNS.iter().chain(&BRIEF_SPILL_COLUMNS).copied().collect()
    } else {
        BRIEF_STATS_COLUMNS.to_vec()
    };
    pub(super) fn pick<T: Clone>(values: &[T], keep: &[usize]) -> Vec<T> {
        keep.iter().filter_map(|&i| values.get(i).cloned()).collect()
    }
    Output::Rows { columns: pick(&columns, &keep), rows: rows.iter().map(|row| pick(row, &keep)).collect() }
}

impl Session {
    pub(super) fn show_sources(&self) -> Output {
        let columns = ["name", "columns", "time_column", "lateness", "history", "frontier", "newest"];
        let rows = self
            .catalog
            .sources()
            .map(|s| {
                // A generator's timeline is the wall clock.
                let (frontier, newest) = match self.clocks.get(s.id) {
                    Some(clock) => (clock.frontier(), clock.newest),
                    None => (crate::generator::now_ms(), None),
                };
                vec![
                    Datum::Text(s.name.clone()),
                    Datum::Text(
                        s.columns
                            .iter()
                            .map(|c| format!("{} {}", c.name, c.data_type))
                            .collect::<Vec<_>>()
                            .join(", "),
                    ),
                    Datum::Text(s.columns[s.time_column].name.clone()),
                    Datum::Int(s.lateness as i64),
                    Datum::Text(if s.kind.keeps_history() { "ALL (unbounded)" } else { "NONE" }.into()),
                    // Past the largest BIGINT once a read has sealed a row at that time.
                    i64::try_from(frontier).map_or(Datum::Null, Datum::Int),
                    newest.map_or(Datum::Null, |n| Datum::Int(n as i64)),
                ]
            })
            .collect();
        Output::Rows { columns: columns.iter().map(|c| c.to_string()).collect(), rows }
    }

    pub(super) fn show_views(&self) -> Output {
        let rows = self
            .catalog
            .views()
            .map(|v| {
                vec![
                    Datum::Text(v.name.clone()),
                    Datum::Text(v.plan.column_names().join(", ")),
                    Datum::Text(match explain::bound(&v.plan, &self.catalog) {
                        explain::Bound::Unbounded => "UNBOUNDED".into(),
                        explain::Bound::PerKey(n) => format!("keys × {n}"),
                        explain::Bound::PerGroup => "groups".into(),
                    }),
                    Datum::Text(v.sql.split_whitespace().collect::<Vec<_>>().join(" ")),
                ]
            })
            .collect();
        Output::Rows {
            columns: vec!["name".into(), "columns".into(), "bound".into(), "definition".into()],
            rows,
        }
    }

    /// `SHOW STATS [FULL]`; without FULL, the columns that fit a terminal (see
    /// [`brief_stats`]).
    pub(super) fn show_stats(&mut self, full: bool) -> Result<Output> {
        self.seal_everything()?;
        let stats = self.collect_stats(Command::Stats, false)?;
        Ok(if full { stats } else { brief_stats(stats) })
    }

    /// `SHOW STATS PER PROCESS`: `SHOW STATS FULL`, summed per process of the job rather than
    /// over all of them, with the process first.
    pub(super) fn show_stats_per_process(&mut self) -> Result<Output> {
        self.seal_everything()?;
        self.collect_stats(Command::Stats, true)
    }

    /// `SHOW STATS` as things stand, without first catching up or letting arrangements merge:
    /// for sampling a live run (latency, state) without disturbing it. `records` are the
    /// updates each arrangement physically holds (its batch lengths, distinctions not yet
    /// compacted away included), which takes a look per batch rather than a read of every
    /// update.
    pub fn stats_now(&mut self) -> Result<Output> {
        self.collect_stats(Command::StatsNow, false)
    }

    pub(super) fn collect_stats(&mut self, command: Command, per_process: bool) -> Result<Output> {
        // Per arrangement: records, retractions and spill counts summed over workers, latency
        // the worst.
        #[derive(Default)]
        struct Totals {
            records: usize,
            dropped: Option<i64>,
            latency: Option<(u64, u64)>,
            spill: Option<SpillCounts>,
        }
        let mut totals: BTreeMap<(Option<usize>, ObjectId, String), Totals> = BTreeMap::new();
        for reply in self.engine.broadcast(command)? {
            if let Reply::Stats(stats) = reply {
                for s in stats {
                    let process = per_process.then_some(s.process);
                    let entry = totals.entry((process, s.object, s.arrangement.to_string())).or_default();
                    entry.records += s.records;
                    if let Some(dropped) = s.dropped {
                        entry.dropped = Some(entry.dropped.unwrap_or(0) + dropped);
                    }
                    if let Some((now, worst)) = s.latency_ms {
                        let (n, w) = entry.latency.unwrap_or((0, 0));
                        entry.latency = Some((n.max(now), w.max(worst)));
                    }
                    if let Some(spill) = s.spill {
                        entry.spill.get_or_insert_default().add(&spill);
                    }
                }
            }
        }
        let optional = |v: Option<i64>| v.map_or(Datum::Null, Datum::Int);
        let rows = totals
            .into_iter()
            .filter_map(|((process, id, arrangement), t)| {
                let object = self.catalog.by_id(id)?;
                let spilled = |f: fn(&SpillCounts) -> u64| optional(t.spill.as_ref().map(|s| f(s) as i64));
                let ratio = t.spill.filter(|s| s.compressed_bytes > 0).map_or(Datum::Null, |s| {
                    Datum::Double(s.compressed_from as f64 / s.compressed_bytes as f64)
                });
                let row = vec![
                    Datum::Text(object.name().to_string()),
                    Datum::Text(arrangement),
                    Datum::Int(t.records as i64),
                    optional(t.dropped),
                    optional(t.latency.map(|(now, _)| now as i64)),
                    optional(t.latency.map(|(_, worst)| worst as i64)),
                    spilled(|s| s.resident_bytes),
                    spilled(|s| s.chunks),
                    spilled(|s| s.raw_bytes),
                    spilled(|s| s.compressed_bytes),
                    ratio,
                    spilled(|s| s.fetches),
                    spilled(|s| s.disk_bytes),
                ];
                Some(match process {
                    Some(process) => std::iter::once(Datum::Int(process as i64)).chain(row).collect(),
                    None => row,
                })
            })
            .collect();
        let process = per_process.then_some("process");
        let columns = process.into_iter().chain(STATS_COLUMNS).map(|c| c.to_string()).collect();
        Ok(Output::Rows { columns, rows })
    }
}
