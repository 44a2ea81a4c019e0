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
//!
//! This file dispatches statements; the rest is split by what a statement does:
//!
//! | file | what |
//! |---|---|
//! | `clocks.rs` | one event-time clock per scripted source: late rows, frontiers, sealing |
//! | `data.rs` | rows in: `INSERT`, `COPY`, [`Session::insert`]; checked, then handed to the engine (a `COPY` on several processes: read by the workers) |
//! | `csv_input.rs` | reading a CSV file for `COPY` |
//! | `reads.rs` | sealing the sources under a read, and gathering rows from the workers |
//! | `show.rs` | `SHOW SOURCES`, `SHOW VIEWS`, `SHOW STATS` |
//! | `settings.rs` | `SET` and `SHOW setting` |
//! | `subscribe.rs` | `SUBSCRIBE` |

mod clocks;
mod csv_input;
mod data;
mod reads;
mod settings;
mod show;
mod subscribe;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use self::clocks::Clocks;
use crate::engine::{Command, Engine};
use crate::error::{Error, Result, Span};
use crate::plan::catalog::Object;
use crate::plan::{Catalog, ObjectId, SourceDesc, SourceKind, ViewDesc, bind, explain};
use crate::render::KeyRoute;
use crate::repr::Datum;
use crate::sql::{self, Statement, StatementKind, ast};
use crate::storage::spill::{self, Spill, SpillStore, SpillTotals};
use crate::{peek, plan};

pub use show::STATS_COLUMNS;
pub use subscribe::SUBSCRIBE_POLL;

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
    /// Timely worker threads (in each process).
    pub workers: usize,
    /// The processes of the job, when it runs across several; this session is process 0's.
    pub cluster: Option<crate::engine::ClusterOptions>,
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
            cluster: None,
            base_dir: PathBuf::from("."),
            retain_feedback: true,
            memory_budget: None,
            spill_dir: None,
            spill_store: SpillStore::Files,
        }
    }
}

/// Serve process `cluster.process` (not 0) of a job run across several processes, until the
/// session on process 0 ends it: see [`crate::engine::serve_cluster`]. `workers` is this
/// process's worker threads (every process runs as many).
pub fn serve_cluster(
    cluster: &crate::engine::ClusterOptions,
    workers: usize,
    spill: Arc<Spill>,
) -> Result<()> {
    crate::engine::serve_cluster(cluster, workers, spill, data::read_share)
}

/// A running Ebb: a catalog, source clocks, and the engine.
pub struct Session {
    catalog: Catalog,
    clocks: Clocks,
    engine: Engine,
    base_dir: PathBuf,
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
            engine: match &options.cluster {
                Some(cluster) => {
                    Engine::start_cluster(cluster, options.workers, spill.clone(), data::read_share)?
                }
                None => Engine::start(options.workers, spill.clone(), data::read_share)?,
            },
            base_dir: options.base_dir,
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

    /// Whether the job's other processes are still there (one process: always).
    pub fn health(&self) -> Arc<crate::engine::Health> {
        self.engine.health()
    }

    /// What has been spilled so far, and the spill directory if one was made.
    pub fn spill_totals(&self) -> (SpillTotals, Option<PathBuf>) {
        (self.spill.totals(), self.spill.dir_in_use())
    }

    /// A spill fault (a write that failed; the chunk stayed in memory) not reported yet, or why
    /// the engine stopped (a chunk that cannot be read back, a worker panic, a lost process), as
    /// an error.
    fn spill_error(&self) -> Option<Error> {
        if let Some(stopped) = self.engine.stopped() {
            return Some(stopped);
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
        if let Some(e) = self.engine.stopped() {
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
                    self.engine.forget_route(old);
                    self.catalog.remove(old);
                }
                self.engine.route(id, self.routes_that_hold(&plan));
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
            StatementKind::Copy(copy) => self.copy(copy, span),
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
            StatementKind::Show(ast::Show::StatsPerProcess) => self.show_stats_per_process(),
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

    /// Start a bound source on every worker, then enter it in the catalog. A source fed by
    /// statements gets a clock of its own that has seen nothing; a generated one follows the
    /// wall clock instead.
    fn create_source(&mut self, source: SourceDesc) -> Result<Output> {
        self.engine.broadcast(Command::CreateSource {
            id: source.id,
            kind: source.kind.clone(),
            frontier: 0,
        })?;
        if source.kind.timeline() == plan::Timeline::SessionClock {
            self.clocks.start(source.id, source.lateness);
        }
        self.catalog.insert(Object::Source(source));
        Ok(Output::Status("CREATE SOURCE".into()))
    }

    /// The routes of a view planned as `plan` (see `render::route`'s known limitations): over
    /// sources without history, for the view as it is rendered now.
    fn routes_that_hold(&self, plan: &plan::Plan) -> Vec<KeyRoute> {
        let without_history = |source| {
            self.catalog
                .source(source)
                .is_ok_and(|desc| matches!(desc.kind, SourceKind::Scripted { keep_history: false }))
        };
        KeyRoute::of(plan, self.settings.memory_budget.is_some())
            .into_iter()
            .filter(|route| without_history(route.source))
            .collect()
    }

    fn refuse_views_missing_history(&self, plan: &plan::Plan, span: Span) -> Result<()> {
        let mut sources = Vec::new();
        plan.sources(&mut sources);
        for id in sources {
            if let Ok(source) = self.catalog.source(id)
                && !source.kind.keeps_history()
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
            (None, _) => return Err(self.catalog.not_found(&drop.name, kind)),
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
        self.engine.forget_route(id);
        self.catalog.remove(id);
        self.clocks.remove(id);
        Ok(Output::Status(format!("DROP {}", kind.to_uppercase())))
    }
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
