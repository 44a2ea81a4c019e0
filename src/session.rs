//! The session: the one entry point, and the pipeline in one place.
//!
//! ```text
//! text ─ sql::parse ─▶ Statement ─ plan::bind ─▶ Plan / QueryPlan ─ render (in the engine) ─▶ dataflow
//!                                                        └─ peek::evaluate over gathered rows ─▶ Output
//! ```
//!
//! In: statement text. Out: one [`Output`] per statement. Guarantees: statements run in
//! order and the first error stops the script; a statement that fails changes nothing
//! (everything is checked — names, types, late rows, CSV — before any command reaches the
//! engine); event time never comes from the wall clock. The session owns each source's
//! clock (see "Time" in `docs/architecture.md`).

mod clocks;
mod csv_input;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use self::clocks::{Clocks, Late};
use self::csv_input::read_csv;
use crate::engine::{Command, Engine, Reply};
use crate::error::{Error, Result, Span};
use crate::plan::catalog::Object;
use crate::plan::{Catalog, ObjectId, SourceDesc, ViewDesc, bind, explain};
use crate::render::Time;
use crate::repr::{DataType, Datum, row};
use crate::sql::{self, Statement, StatementKind, ast};
use crate::storage::spill::{self, Spill, SpillCounts, SpillStore, SpillTotals};
use crate::{peek, plan};

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
    fn pick<T: Clone>(values: &[T], keep: &[usize]) -> Vec<T> {
        keep.iter().filter_map(|&i| values.get(i).cloned()).collect()
    }
    Output::Rows { columns: pick(&columns, &keep), rows: rows.iter().map(|row| pick(row, &keep)).collect() }
}

/// How often `SUBSCRIBE` reads its view.
pub const SUBSCRIBE_POLL: std::time::Duration = std::time::Duration::from_millis(100);

/// What a statement produced.
#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    /// A result set.
    Rows {
        /// Column names.
        columns: Vec<String>,
        /// Rows.
        rows: Vec<Vec<Datum>>,
    },
    /// Text to show as it is (EXPLAIN).
    Text(String),
    /// A short acknowledgement (`CREATE VIEW`, `INSERT 3`).
    Status(String),
}

/// How to start a session.
#[derive(Clone, Debug)]
pub struct SessionOptions {
    /// Timely worker threads.
    pub workers: usize,
    /// The folder relative paths (COPY) are resolved against.
    pub base_dir: PathBuf,
    /// Whether retention rules feed their retractions back. Off only to measure the baseline:
    /// the same plans, holding every row.
    pub retain_feedback: bool,
    /// Bytes the columnar arrangements may hold in memory before their chunks spill (`None`:
    /// no budget, nothing spills; `Some(0)`: everything spills). See `storage::spill`.
    pub memory_budget: Option<u64>,
    /// Where spilled chunks go (default: a fresh temporary directory removed at the end).
    pub spill_dir: Option<PathBuf>,
    /// What chunks past the memory tiers are written to: files in `spill_dir`, or memory.
    pub spill_store: SpillStore,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            workers: 1,
            base_dir: PathBuf::from("."),
            retain_feedback: true,
            memory_budget: None,
            spill_dir: None,
            spill_store: SpillStore::Files,
        }
    }
}

/// A running Ebb: a catalog, source clocks, and the engine.
pub struct Session {
    catalog: Catalog,
    clocks: Clocks,
    engine: Engine,
    base_dir: PathBuf,
    next_worker: usize,
    interrupt: Arc<AtomicBool>,
    retain_feedback: bool,
    progress: Option<ProgressHook>,
    spill: Arc<Spill>,
    /// The settings as last set, for `SHOW`.
    settings: Settings,
}

/// The current values of the settings `SET` changes.
#[derive(Clone, Debug, Default)]
struct Settings {
    /// `memory_budget`, in bytes (`None`: unlimited).
    memory_budget: Option<u64>,
    /// `spill_dir`, as resolved (`None`: a temporary directory).
    spill_dir: Option<PathBuf>,
}

/// The settings, in `SHOW ALL` order, with what each is.
const SETTINGS: [(&str, &str); 2] = [
    ("memory_budget", "bytes the spillable arrangements keep in memory before spilling"),
    ("spill_dir", "where spilled chunks are written"),
];

/// What `Session::set_progress` installs.
type ProgressHook = Box<dyn FnMut(&CopyProgress)>;

/// How far a `COPY` has read its file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CopyProgress {
    /// The file.
    pub path: PathBuf,
    /// Bytes read so far.
    pub read_bytes: u64,
    /// The file's size.
    pub total_bytes: u64,
}

impl Session {
    /// Start a session with its workers.
    pub fn new(options: SessionOptions) -> Result<Session> {
        let settings = Settings { memory_budget: None, spill_dir: options.spill_dir.clone() };
        let spill = Arc::new(Spill::new(options.spill_store, options.spill_dir, spill::SEGMENT_BYTES));
        let mut session = Session {
            catalog: Catalog::default(),
            clocks: Clocks::default(),
            engine: Engine::start(options.workers, spill.clone())?,
            base_dir: options.base_dir,
            next_worker: 0,
            interrupt: Arc::new(AtomicBool::new(false)),
            retain_feedback: options.retain_feedback,
            progress: None,
            spill,
            settings,
        };
        if options.memory_budget.is_some() {
            session.set_memory_budget(options.memory_budget)?;
        }
        Ok(session)
    }

    /// Let the columnar arrangements hold `bytes` in memory before their chunks spill (`None`:
    /// spill nothing new). Chunks already spilled stay where they are. View outputs and source
    /// histories made while a budget is set are columnar and spill; those made without one are
    /// vector arrangements, faster to build, that stay in memory.
    pub fn set_memory_budget(&mut self, bytes: Option<u64>) -> Result<()> {
        let workers = self.engine.workers();
        let per_worker = bytes.map(|b| self.spill.set_budget(b, workers));
        self.engine.broadcast(Command::SetMemoryBudget { per_worker })?;
        self.settings.memory_budget = bytes;
        Ok(())
    }

    /// What has been spilled so far, and the spill directory if one was made.
    pub fn spill_totals(&self) -> (SpillTotals, Option<PathBuf>) {
        (self.spill.totals(), self.spill.dir_in_use())
    }

    /// A spill fault (a write that failed; the chunk stayed in memory) not reported yet, or why
    /// the engine stopped (a chunk that cannot be read back, or a worker panic), as an error.
    fn spill_error(&self) -> Option<Error> {
        if let Some(failure) = self.spill.failure() {
            return Some(crate::engine::stopped(&failure));
        }
        let faults = self.spill.take_faults();
        let first = faults.first()?;
        Some(
            Error::io(format!("spilling failed: {first}"))
                .with_note("the statement was applied, and the chunks that could not be written stayed in memory: no rows were lost")
                .with_note("the session goes on over its memory budget, without writing to disk")
                .with_hint("free space in the spill directory or choose another (SET spill_dir), or raise memory_budget"),
        )
    }

    /// Call `progress` while a `COPY` reads its file (a client shows a progress bar with it).
    pub fn set_progress(&mut self, progress: impl FnMut(&CopyProgress) + 'static) {
        self.progress = Some(Box::new(progress));
    }

    /// A flag that, once set (from a Ctrl-C handler, say), stops the script being run before
    /// its next statement with an "interrupted" error; running it clears the flag. Statements
    /// are atomic, so an interrupted script has applied exactly the statements before it.
    pub fn interrupt_flag(&self) -> Arc<AtomicBool> {
        self.interrupt.clone()
    }

    /// The folder relative paths (COPY) are resolved against.
    pub fn set_base_dir(&mut self, base_dir: PathBuf) {
        self.base_dir = base_dir;
    }

    /// The catalog.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Run every statement of `text` in order, handing each output to `on_output` as soon as
    /// it is ready; stop at the first error. Nothing runs if the text does not parse.
    pub fn execute_each(&mut self, text: &str, mut on_output: impl FnMut(Output)) -> Result<()> {
        for statement in sql::parse(text)? {
            self.execute_streaming(&statement, text, &mut on_output)?;
        }
        Ok(())
    }

    /// Run one parsed statement, handing its outputs to `on_output` as they are ready (one,
    /// or a stream of them for `SUBSCRIBE`); `text` is the script it came from. For a client
    /// that goes through a script's statements itself (see [`sql::parse_each`]).
    pub fn execute_streaming(
        &mut self,
        statement: &Statement,
        text: &str,
        on_output: &mut impl FnMut(Output),
    ) -> Result<()> {
        if self.interrupt.swap(false, Ordering::SeqCst) {
            return Err(Error::engine("interrupted").with_span(statement.span));
        }
        if let Some(e) = self.spill.failure().and_then(|_| self.spill_error()) {
            return Err(e.with_span(statement.span));
        }
        let result = match &statement.kind {
            StatementKind::Subscribe(subscribe) => self.subscribe(subscribe, on_output),
            _ => self.execute_statement(statement, text).map(on_output),
        };
        // A spill problem during the statement is its error, whatever else happened.
        if let Some(e) = self.spill_error() {
            return Err(e.with_span(statement.span));
        }
        result
    }

    /// Run every statement of `text`, collecting the outputs.
    pub fn execute(&mut self, text: &str) -> Result<Vec<Output>> {
        let mut outputs = Vec::new();
        self.execute_each(text, |o| outputs.push(o))?;
        Ok(outputs)
    }

    /// Run one parsed statement that produces one output (any but `SUBSCRIBE`, which
    /// streams; see [`Session::execute_each`]); `text` is the script it came from.
    pub fn execute_statement(&mut self, statement: &Statement, text: &str) -> Result<Output> {
        let span = statement.span;
        match &statement.kind {
            StatementKind::CreateSource(create) => {
                if let Some(skipped) = self.skip_existing(create.if_not_exists, &create.name, "SOURCE") {
                    return Ok(skipped);
                }
                let id = self.catalog.allocate_id();
                let source = bind::bind_create_source(&self.catalog, create, id)?;
                self.create_source(source)
            }
            StatementKind::CreateView(create) => {
                if let Some(skipped) = self.skip_existing(create.if_not_exists, &create.name, "VIEW") {
                    return Ok(skipped);
                }
                let replaced = if create.or_replace { self.replaceable_view(&create.name)? } else { None };
                let (mut plan, reads) = bind::bind_create_view(&self.catalog, create, span)?;
                if let Some(old) = replaced
                    && reads.contains(&old)
                {
                    return Err(Error::bind(format!(
                        "view \"{}\" cannot read itself",
                        sql::name_of(&create.name)
                    ))
                    .with_span(create.name.span)
                    .with_note("the new definition names the view it replaces"));
                }
                if !self.retain_feedback {
                    plan.without_feedback();
                }
                self.refuse_views_missing_history(&plan, span)?;
                // A view's sources are aligned when it is created, as a read of it would.
                let sources: Vec<ObjectId> =
                    reads.iter().flat_map(|read| self.catalog.sources_under(*read)).collect();
                self.seal(&sources)?;
                let id = self.catalog.allocate_id();
                let name = sql::name_of(&create.name);
                let sql = slice(text, span).to_string();
                self.engine.broadcast(Command::CreateView { id, plan: Arc::new(plan.clone()) })?;
                // The new view runs before the old one stops, so a failure leaves the old one.
                if let Some(old) = replaced {
                    self.engine.broadcast(Command::Drop { id: old })?;
                    self.catalog.remove(old);
                }
                self.catalog.insert(Object::View(ViewDesc { id, name, plan, reads, sql }));
                Ok(Output::Status(
                    if replaced.is_some() { "CREATE VIEW (replaced)" } else { "CREATE VIEW" }.into(),
                ))
            }
            StatementKind::Insert(insert) => {
                let source = self.source_named(&insert.source)?.clone();
                let rows = bind::bind_insert(&source, insert).map_err(|e| e.with_span(span))?;
                let count = rows.len();
                let late_row = |i: usize| insert.rows.get(i).map_or(span, |values| values_span(values));
                self.insert_rows_checked(&source, rows, |i| format!("row {}", i + 1), late_row)?;
                Ok(Output::Status(format!("INSERT {count}")))
            }
            StatementKind::Copy(copy) => {
                let source = self.source_named(&copy.source)?.clone();
                let path = self.base_dir.join(&copy.path.value);
                let progress: &mut dyn FnMut(&CopyProgress) = match self.progress.as_mut() {
                    Some(progress) => progress.as_mut(),
                    None => &mut |_| {},
                };
                let rows = read_csv(&path, &source, copy.header, copy.delimiter, progress)
                    .map_err(|e| e.with_span(copy.path.span))?;
                let lines = rows.iter().map(|(line, _)| *line).collect::<Vec<_>>();
                let count = rows.len();
                let display = path.display().to_string();
                self.insert_rows_checked(
                    &source,
                    rows.into_iter().map(|(_, r)| r).collect(),
                    |i| format!("{display}:{}", lines[i]),
                    |_| span,
                )?;
                Ok(Output::Status(format!("COPY {count}")))
            }
            StatementKind::AdvanceTo(advance) => {
                let time = bind::bind_advance_to(advance)?;
                let frontiers = self.clocks.advance_all(time);
                self.engine.broadcast(Command::Advance { frontiers })?;
                Ok(Output::Status(format!("ADVANCE TO {time}")))
            }
            StatementKind::Query(query) => {
                let plan = bind::bind_query(&self.catalog, query, span)?;
                let (_, rows) = self.read(plan.from).map_err(|e| e.with_span(plan.from_span))?;
                let columns = plan.columns.iter().map(|c| c.name.clone()).collect();
                Ok(Output::Rows { columns, rows: peek::evaluate(&plan, rows) })
            }
            StatementKind::ExplainView(name) => match self.catalog.resolve(name, "view")? {
                Object::View(view) => Ok(Output::Text(explain::explain_view(view, &self.catalog))),
                Object::Source(source) => {
                    Err(Error::bind(format!("\"{}\" is a source, not a view", source.name))
                        .with_span(name.span)
                        .with_hint("SHOW SOURCES describes sources"))
                }
            },
            StatementKind::Show(ast::Show::Sources) => Ok(self.show_sources()),
            StatementKind::Show(ast::Show::Views) => Ok(self.show_views()),
            StatementKind::Show(ast::Show::Stats) => self.show_stats(false),
            StatementKind::Show(ast::Show::StatsFull) => self.show_stats(true),
            StatementKind::Show(ast::Show::All) => Ok(self.show_all()),
            StatementKind::Show(ast::Show::Setting(name)) => self.show_setting(name),
            StatementKind::Drop(drop) => self.drop_object(drop),
            StatementKind::CreateGenerated(create) => {
                if let Some(skipped) = self.skip_existing(create.if_not_exists, &create.name, "SOURCE") {
                    return Ok(skipped);
                }
                let id = self.catalog.allocate_id();
                let source = bind::bind_create_generated(&self.catalog, create, id)?;
                self.create_source(source)
            }
            StatementKind::Subscribe(subscribe) => {
                Err(Error::bind("SUBSCRIBE streams; run it as part of a script")
                    .with_span(subscribe.view.span))
            }
            StatementKind::Set(set) => self.set(set),
        }
    }

    /// `SET name = value`.
    fn set(&mut self, set: &ast::Set) -> Result<Output> {
        let text = set.value.value.to_string();
        match set.name.value.to_lowercase().as_str() {
            "memory_budget" => {
                let bytes = match &set.value.value {
                    ast::SetValue::Number(n) => Some(*n),
                    ast::SetValue::Text(t) if ["unlimited", "none"].contains(&t.to_lowercase().as_str()) => {
                        None
                    }
                    ast::SetValue::Text(t) => Some(spill::parse_size(t).ok_or_else(|| {
                        Error::bind(format!("invalid memory budget {text}"))
                            .with_span(set.value.span)
                            .with_hint(
                                "a size such as '256MB', '64kB' or 0 (spill everything), or 'unlimited'",
                            )
                    })?),
                };
                self.set_memory_budget(bytes)?;
                Ok(Output::Status("SET".into()))
            }
            "spill_dir" => {
                let ast::SetValue::Text(dir) = &set.value.value else {
                    return Err(Error::bind("spill_dir is a path, written as a string")
                        .with_span(set.value.span)
                        .with_hint("SET spill_dir = '/var/tmp/ebb'"));
                };
                let dir = self.base_dir.join(dir);
                self.spill.set_dir(dir.clone()).map_err(|e| Error::io(e).with_span(set.value.span))?;
                self.settings.spill_dir = Some(dir);
                Ok(Output::Status("SET".into()))
            }
            other => Err(Error::bind(format!("unknown setting \"{other}\""))
                .with_span(set.name.span)
                .with_hint("the settings are memory_budget and spill_dir")),
        }
    }

    /// The current value of setting `name` (lower case), as `SHOW` prints it.
    fn setting(&self, name: &str) -> Option<String> {
        match name {
            "memory_budget" => Some(self.settings.memory_budget.map_or("unlimited".to_string(), format_size)),
            "spill_dir" => Some(match self.spill.dir_in_use().or_else(|| self.settings.spill_dir.clone()) {
                Some(dir) => dir.display().to_string(),
                None => "(a temporary directory, made on first spill)".to_string(),
            }),
            _ => None,
        }
    }

    /// `SHOW name`: one row, one column named after the setting.
    fn show_setting(&self, name: &sqlparser::ast::Ident) -> Result<Output> {
        let key = name.value.to_lowercase();
        let Some(value) = self.setting(&key) else {
            return Err(Error::bind(format!("unknown setting \"{}\"", name.value))
                .with_span(name.span)
                .with_hint("the settings are memory_budget and spill_dir; SHOW ALL lists them"));
        };
        Ok(Output::Rows { columns: vec![key], rows: vec![vec![Datum::Text(value)]] })
    }

    /// `SHOW ALL`: every setting, its value, and what it is.
    fn show_all(&self) -> Output {
        let rows = SETTINGS
            .iter()
            .map(|(name, description)| {
                let value = self.setting(name).unwrap_or_default();
                vec![Datum::Text(name.to_string()), Datum::Text(value), Datum::Text(description.to_string())]
            })
            .collect();
        Output::Rows { columns: vec!["name".into(), "setting".into(), "description".into()], rows }
    }

    /// With `IF NOT EXISTS`, the status that skips creating `name` because it exists.
    fn skip_existing(&self, if_not_exists: bool, name: &sqlparser::ast::Ident, kind: &str) -> Option<Output> {
        let name = sql::name_of(name);
        let existing = self.catalog.get(&name).filter(|_| if_not_exists)?;
        let what = match existing {
            Object::Source(_) => "source",
            Object::View(_) => "view",
        };
        Some(Output::Status(format!("CREATE {kind} (skipped: {what} \"{name}\" already exists)")))
    }

    /// For `CREATE OR REPLACE VIEW name`: the view it replaces, if one exists; an error if
    /// `name` is a source or views read the old view (replacing it under them would change
    /// their columns).
    fn replaceable_view(&self, ident: &sqlparser::ast::Ident) -> Result<Option<ObjectId>> {
        let name = sql::name_of(ident);
        match self.catalog.get(&name) {
            None => Ok(None),
            Some(Object::Source(_)) => Err(Error::bind(format!(
                "\"{name}\" is a source; CREATE OR REPLACE VIEW replaces only views"
            ))
            .with_span(ident.span)),
            Some(Object::View(view)) => {
                let dependents: Vec<String> =
                    self.catalog.dependents(view.id).iter().map(|v| format!("\"{}\"", v.name)).collect();
                if !dependents.is_empty() {
                    return Err(Error::bind(format!(
                        "cannot replace view \"{name}\": views {} depend on it",
                        dependents.join(", ")
                    ))
                    .with_span(ident.span)
                    .with_hint("drop those views first, then replace it and create them again"));
                }
                Ok(Some(view.id))
            }
        }
    }

    /// `SUBSCRIBE`: hand `on_output` the view's rows as of now (each with diff 1), then, every
    /// [`SUBSCRIBE_POLL`], the changes since the previous read as `(time, diff, row)`, until the
    /// duration passes or the interrupt flag is set. Each read is a read: it moves every
    /// source's frontier first.
    fn subscribe(&mut self, subscribe: &ast::Subscribe, on_output: &mut impl FnMut(Output)) -> Result<()> {
        let view = match self.catalog.resolve(&subscribe.view, "view")? {
            Object::View(view) => view.clone(),
            Object::Source(source) => {
                return Err(Error::bind(format!("\"{}\" is a source; SUBSCRIBE reads views", source.name))
                    .with_span(subscribe.view.span));
            }
        };
        let mut columns = vec!["time".to_string(), "diff".to_string()];
        columns.extend(view.plan.column_names());
        let started = std::time::Instant::now();
        let deadline = subscribe.for_millis.as_ref().map(|m| std::time::Duration::from_millis(m.value));
        let mut previous: BTreeMap<Vec<Datum>, i64> = BTreeMap::new();
        let mut first = true;
        loop {
            let (time, rows) = self.read(view.id)?;
            let mut current: BTreeMap<Vec<Datum>, i64> = BTreeMap::new();
            for row in rows {
                *current.entry(row).or_default() += 1;
            }
            let mut changes = Vec::new();
            for (row, count) in &current {
                let diff = count - previous.get(row).copied().unwrap_or(0);
                if diff != 0 {
                    changes.push((row.clone(), diff));
                }
            }
            for (row, count) in &previous {
                if !current.contains_key(row) {
                    changes.push((row.clone(), -count));
                }
            }
            if first || !changes.is_empty() {
                let rows = changes
                    .into_iter()
                    .map(|(row, diff)| {
                        let mut out = vec![Datum::Int(time.saturating_sub(1) as i64), Datum::Int(diff)];
                        out.extend(row);
                        out
                    })
                    .collect();
                on_output(Output::Rows { columns: columns.clone(), rows });
            }
            first = false;
            previous = current;
            if deadline.is_some_and(|d| started.elapsed() >= d)
                || self.interrupt.swap(false, Ordering::SeqCst)
            {
                return Ok(());
            }
            let pause =
                deadline.map_or(SUBSCRIBE_POLL, |d| d.saturating_sub(started.elapsed()).min(SUBSCRIBE_POLL));
            std::thread::sleep(pause);
        }
    }

    /// Start a bound source on every worker, then enter it in the catalog. A source fed by
    /// statements gets a clock of its own that has seen nothing; a generated one follows the
    /// wall clock instead.
    fn create_source(&mut self, source: SourceDesc) -> Result<Output> {
        self.engine.broadcast(Command::CreateSource {
            id: source.id,
            keep_history: source.keep_history,
            frontier: 0,
            generator: source.generator.clone(),
        })?;
        if source.generator.is_none() {
            self.clocks.start(source.id, source.lateness);
        }
        self.catalog.insert(Object::Source(source));
        Ok(Output::Status("CREATE SOURCE".into()))
    }

    /// Insert rows into a source through the public API, with the same checks as `INSERT`.
    /// `source` is the name as stored: an unquoted name's lower case (see `sql::name_of`).
    pub fn insert(&mut self, source: &str, rows: Vec<Vec<Datum>>) -> Result<()> {
        let source = match self.catalog.get(source) {
            Some(Object::Source(s)) if s.generator.is_none() => s.clone(),
            _ => return Err(Error::bind(format!("source \"{source}\" not found"))),
        };
        for row in &rows {
            let fits = row.len() == source.columns.len()
                && row.iter().zip(&source.columns).all(|(d, c)| match d {
                    Datum::Null => true,
                    Datum::Int(_) => c.data_type == DataType::BigInt,
                    Datum::Double(_) => c.data_type == DataType::Double,
                    Datum::Text(_) => c.data_type == DataType::Text,
                    Datum::Bool(_) => c.data_type == DataType::Boolean,
                });
            if !fits {
                return Err(Error::data(format!("row does not fit the columns of \"{}\"", source.name)));
            }
        }
        self.insert_rows_checked(&source, rows, |i| format!("row {}", i + 1), |_| Span::empty())?;
        self.spill_error().map_or(Ok(()), Err)
    }

    /// Seal every source as a read of everything would, and return once every view has
    /// caught up with it: what was inserted before is then fully processed.
    pub fn sync(&mut self) -> Result<()> {
        self.seal_everything()?;
        self.engine.broadcast(Command::Sync)?;
        self.spill_error().map_or(Ok(()), Err)
    }

    /// The source `ident` names, if statements may insert into it.
    fn source_named(&self, ident: &sqlparser::ast::Ident) -> Result<&SourceDesc> {
        match self.catalog.resolve(ident, "source")? {
            Object::Source(s) if s.generator.is_some() => Err(Error::bind(format!(
                "source \"{}\" is fed by a live generator; it takes no other rows",
                s.name
            ))
            .with_span(ident.span)),
            Object::Source(s) => Ok(s),
            Object::View(v) => Err(Error::bind(format!("\"{}\" is a view; only sources take rows", v.name))
                .with_span(ident.span)),
        }
    }

    /// Check every row's time against the source's clock, then send the rows. `describe`
    /// names row `i` for error messages and `locate` gives the text to point at.
    fn insert_rows_checked(
        &mut self,
        source: &SourceDesc,
        rows: Vec<Vec<Datum>>,
        describe: impl Fn(usize) -> String,
        locate: impl Fn(usize) -> Span,
    ) -> Result<()> {
        let Some(clock) = self.clocks.get(source.id) else {
            return Err(Error::bind(format!("source \"{}\" takes no rows from statements", source.name)));
        };
        let mut newest = None;
        for (i, row) in rows.iter().enumerate() {
            let time = match &row[source.time_column] {
                Datum::Int(t) if *t >= 0 => *t as u64,
                other => {
                    return Err(Error::data(format!(
                        "{} has time {other}; the TIME column \"{}\" must be a non-negative BIGINT",
                        describe(i),
                        source.columns[source.time_column].name
                    ))
                    .with_span(locate(i)));
                }
            };
            if let Some(late) = clock.lateness_of(time) {
                return Err(
                    late_row_error(source, &clock, late, time, &describe(i), row).with_span(locate(i))
                );
            }
            newest = Some(newest.map_or(time, |n: u64| n.max(time)));
        }
        let Some(newest) = newest else { return Ok(()) };
        // Every row enters at the frontier before the statement: no later than any row's time.
        let time = clock.frontier();
        let advance_to =
            clocks::Clock { newest: Some(clock.newest.map_or(newest, |n| n.max(newest))), ..clock }
                .frontier();
        let workers = self.engine.workers();
        let mut shares: Vec<Vec<Vec<u8>>> = vec![Vec::with_capacity(rows.len() / workers + 1); workers];
        for row in &rows {
            shares[self.next_worker].push(row::encode(row));
            self.next_worker = (self.next_worker + 1) % workers;
        }
        let commands = shares
            .into_iter()
            .map(|rows| Command::Insert { source: source.id, rows, time, advance_to })
            .collect();
        self.engine.send_each(commands)?;
        self.clocks.saw(source.id, newest);
        Ok(())
    }

    /// Seal `sources` for a read of them: move each to the newest time seen among them + 1.
    /// Returns the read's time (0 when none of them is a scripted source).
    fn seal(&mut self, sources: &[ObjectId]) -> Result<Time> {
        let Some((time, frontiers)) = self.clocks.seal(sources) else { return Ok(0) };
        self.engine.broadcast(Command::Advance { frontiers })?;
        Ok(time)
    }

    /// The time a read of `id` happens at, once the sources under it are sealed for it: the
    /// wall clock for an object over live generators (their timeline), else just past the
    /// newest time seen among its sources.
    fn seal_for_read(&mut self, id: ObjectId) -> Result<Time> {
        if self.catalog.live_source_under(id).is_some() {
            return Ok(crate::generator::now_ms());
        }
        let sources = self.catalog.sources_under(id);
        self.seal(&sources)
    }

    /// Seal the sources under every view and source as a read of each would: for reads of
    /// everything at once (`SHOW STATS`, [`Session::sync`]).
    fn seal_everything(&mut self) -> Result<()> {
        let objects: Vec<ObjectId> =
            self.catalog.views().map(|v| v.id).chain(self.catalog.sources().map(|s| s.id)).collect();
        let mut frontiers = BTreeMap::new();
        for id in objects {
            if let Some((_, moved)) = self.clocks.seal(&self.catalog.sources_under(id)) {
                frontiers.extend(moved);
            }
        }
        self.engine.broadcast(Command::Advance { frontiers: frontiers.into_iter().collect() })?;
        Ok(())
    }

    /// Every row of `id`, as of a read that first seals the sources under it past all their
    /// input, and the time the read happened at.
    fn read(&mut self, id: ObjectId) -> Result<(Time, Vec<Vec<Datum>>)> {
        if let Some(Object::Source(source)) = self.catalog.by_id(id)
            && !source.keep_history
        {
            return Err(Error::bind(format!(
                "source \"{}\" keeps no history (KEEP NONE), so it cannot be read",
                source.name
            ))
            .with_hint("read a view over it instead"));
        }
        // A view over a live generator compacts behind the wall clock; a worker that has
        // already compacted past the read time says so, and the read is asked again, later.
        for _attempt in 0..100 {
            let time = self.seal_for_read(id)?;
            let replies = self.engine.broadcast(Command::Peek { id, time })?;
            if replies.iter().any(|r| matches!(r, Reply::TooOld)) {
                std::thread::sleep(std::time::Duration::from_millis(10));
                continue;
            }
            let mut rows = Vec::new();
            for reply in replies {
                if let Reply::Rows(share) = reply {
                    for (encoded, count) in share {
                        let decoded = row::decode(&encoded);
                        for _ in 0..count.max(0) {
                            rows.push(decoded.clone());
                        }
                    }
                }
            }
            return Ok((time, rows));
        }
        Err(Error::engine("the view moved on faster than it could be read; try again"))
    }

    fn refuse_views_missing_history(&self, plan: &plan::Plan, span: Span) -> Result<()> {
        let mut sources = Vec::new();
        plan.sources(&mut sources);
        for id in sources {
            if let Ok(source) = self.catalog.source(id)
                && !source.keep_history
                && self.clocks.get(id).is_some_and(|c| c.newest.is_some())
            {
                return Err(Error::bind(format!(
                    "source \"{}\" keeps no history (KEEP NONE) and has already received rows, so a new view could not see them",
                    source.name
                ))
                .with_span(span)
                .with_hint("create views over a KEEP NONE source before inserting into it"));
            }
        }
        Ok(())
    }

    fn show_sources(&self) -> Output {
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
                    Datum::Text(if s.keep_history { "ALL (unbounded)" } else { "NONE" }.into()),
                    // Past the largest BIGINT once a read has sealed a row at that time.
                    i64::try_from(frontier).map_or(Datum::Null, Datum::Int),
                    newest.map_or(Datum::Null, |n| Datum::Int(n as i64)),
                ]
            })
            .collect();
        Output::Rows { columns: columns.iter().map(|c| c.to_string()).collect(), rows }
    }

    fn show_views(&self) -> Output {
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
    fn show_stats(&mut self, full: bool) -> Result<Output> {
        self.seal_everything()?;
        let stats = self.collect_stats(Command::Stats)?;
        Ok(if full { stats } else { brief_stats(stats) })
    }

    /// `SHOW STATS` as things stand, without first catching up or letting arrangements merge:
    /// for sampling a live run (latency, state) without disturbing it.
    pub fn stats_now(&mut self) -> Result<Output> {
        self.collect_stats(Command::StatsNow)
    }

    fn collect_stats(&mut self, command: Command) -> Result<Output> {
        // Per arrangement: records, retractions and spill counts summed over workers, latency
        // the worst.
        #[derive(Default)]
        struct Totals {
            records: usize,
            dropped: Option<i64>,
            latency: Option<(u64, u64)>,
            spill: Option<SpillCounts>,
        }
        let mut totals: BTreeMap<(ObjectId, String), Totals> = BTreeMap::new();
        for reply in self.engine.broadcast(command)? {
            if let Reply::Stats(stats) = reply {
                for s in stats {
                    let entry = totals.entry((s.object, s.arrangement)).or_default();
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
            .filter_map(|((id, arrangement), t)| {
                let object = self.catalog.by_id(id)?;
                let spilled = |f: fn(&SpillCounts) -> u64| optional(t.spill.as_ref().map(|s| f(s) as i64));
                let ratio = t.spill.filter(|s| s.compressed_bytes > 0).map_or(Datum::Null, |s| {
                    Datum::Double(s.compressed_from as f64 / s.compressed_bytes as f64)
                });
                Some(vec![
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
                ])
            })
            .collect();
        Ok(Output::Rows { columns: STATS_COLUMNS.iter().map(|c| c.to_string()).collect(), rows })
    }

    fn drop_object(&mut self, drop: &ast::Drop) -> Result<Output> {
        let name = sql::name_of(&drop.name);
        let kind = match drop.kind {
            ast::ObjectKind::Source => "source",
            ast::ObjectKind::View => "view",
        };
        let object = match (self.catalog.get(&name), drop.kind) {
            (Some(o @ Object::Source(_)), ast::ObjectKind::Source)
            | (Some(o @ Object::View(_)), ast::ObjectKind::View) => o,
            (Some(_), _) => {
                return Err(Error::bind(format!("\"{name}\" is not a {kind}")).with_span(drop.name.span));
            }
            (None, _) if drop.if_exists => {
                return Ok(Output::Status(format!("DROP {} (did not exist)", kind.to_uppercase())));
            }
            (None, _) => {
                return Err(Error::bind(format!("{kind} \"{name}\" not found")).with_span(drop.name.span));
            }
        };
        let id = object.id();
        let dependents: Vec<String> =
            self.catalog.dependents(id).iter().map(|v| format!("\"{}\"", v.name)).collect();
        if !dependents.is_empty() {
            return Err(Error::bind(format!(
                "cannot drop {kind} \"{name}\": views {} depend on it",
                dependents.join(", ")
            ))
            .with_span(drop.name.span)
            .with_hint("drop those views first"));
        }
        self.engine.broadcast(Command::Drop { id })?;
        self.catalog.remove(id);
        self.clocks.remove(id);
        Ok(Output::Status(format!("DROP {}", kind.to_uppercase())))
    }
}

/// A byte size as `SET memory_budget` reads it back: in the largest unit that divides it
/// (`64MB`, `1536kB`, `100B`; `0` alone).
fn format_size(bytes: u64) -> String {
    if bytes == 0 {
        return "0".to_string();
    }
    [("TB", 40), ("GB", 30), ("MB", 20), ("kB", 10)]
        .into_iter()
        .find(|(_, shift)| bytes.trailing_zeros() >= *shift)
        .map_or(format!("{bytes}B"), |(unit, shift)| format!("{}{unit}", bytes >> shift))
}

/// The span from a VALUES tuple's first value to its last.
fn values_span(values: &[sqlparser::ast::Expr]) -> Span {
    use sqlparser::ast::Spanned;
    match (values.first(), values.last()) {
        (Some(first), Some(last)) => first.span().union(&last.span()),
        _ => Span::empty(),
    }
}

fn slice(text: &str, span: Span) -> &str {
    let offset = |line: u64, column: u64| -> usize {
        let mut at = 0;
        for (i, l) in text.split_inclusive('\n').enumerate() {
            if i + 1 == line as usize {
                return at
                    + l.char_indices().nth(column.saturating_sub(1) as usize).map_or(l.len(), |(b, _)| b);
            }
            at += l.len();
        }
        text.len()
    };
    let (start, end) = (offset(span.start.line, span.start.column), offset(span.end.line, span.end.column));
    text.get(start..end.max(start)).unwrap_or("")
}

/// A late row's error: the row, its time, the source's frontier, and why the frontier is
/// there (a read sealed it, or the newest time seen is too far ahead).
fn late_row_error(
    source: &SourceDesc,
    clock: &clocks::Clock,
    late: Late,
    time: Time,
    row_name: &str,
    row: &[Datum],
) -> Error {
    let error = Error::data(format!(
        "{row_name} ({}) is late: its time {time} is older than the frontier {} of source \"{}\"",
        row.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", "),
        clock.frontier(),
        source.name
    ))
    .with_note("nothing of this statement was applied");
    match late {
        Late::Sealed => error
            .with_note(format!(
                "a read of \"{}\" (SELECT, SHOW STATS, SUBSCRIBE, a new view over it) or ADVANCE TO sealed the times before {}",
                source.name,
                clock.frontier()
            ))
            .with_hint("insert a source's rows before reading what they change; LATENESS does not reopen sealed times"),
        Late::BehindNewest { newest } if source.lateness > 0 => error
            .with_note(format!("the newest time source \"{}\" has seen is {newest}", source.name))
            .with_hint("rows must arrive within the source's LATENESS of the newest time seen"),
        Late::BehindNewest { newest } => error
            .with_note(format!("the newest time source \"{}\" has seen is {newest}", source.name))
            .with_hint("rows of a source must arrive in time order (equal times are on time); declare the source with TIME ts LATENESS n to accept rows up to n older than the newest"),
    }
}
