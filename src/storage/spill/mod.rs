//! Spilling columnar arrangements under a memory budget.
//!
//! In: a byte budget for the process (`SET memory_budget`, `--memory-budget`) and a spill
//! directory. Out: differential's columnar chunks kept raw in memory, lz4 in memory, or in
//! segment files, so that what the arrangements hold in memory stays within the budget.
//!
//! | file | what |
//! |---|---|
//! | [`store`] | the [`ChunkStore`](store::ChunkStore) trait, memory and file stores, the on-disk format |
//! | [`tiered`] | the policy behind differential's spill hook: per-worker budget, shared pool, disk |
//! | [`tagged`] | trace and batcher wrappers that tell the policy whose chunks it is paging |
//!
//! The budget `B` is split in two halves: `B / 2` shared equally by the workers for chunks kept
//! raw, and `B / 2` as one process-wide pool for
//! lz4-compressed chunks. Past both, chunks go to disk, oldest first. A budget of zero sends
//! every chunk to disk. See `docs/storage.md` for the measurements behind this.
//!
//! Invariants: nothing is lost. A failed write (unwritable directory, full disk) keeps the
//! chunk in memory and is reported once, naming the path, as a fault the session turns into an
//! error; a failed read (a corrupt record) is reported as a failure that stops the session.
//! The spill directory, when not given, is a fresh temporary one removed when the session
//! ends; a given one is kept, but the files written in it are removed.
//!
//! Known limitations: the budget governs what passes through differential's columnar spill
//! hook — the `LATEST`/`TOP` arrangements, and view outputs and source histories created while
//! a budget is set; the vector
//! arrangements of joins, aggregates, `WINNER` and `UNMATCHED` stay in memory. A chunk the
//! dataflow reads through a cursor stays decoded in memory until it is merged away (the store
//! gives its bytes back at that read, see [`tiered`]); with keys spread over all of the state, that
//! approaches the rule's state. Operator buffers and allocator slack are outside the hook too.
//! See `docs/storage.md`.

pub mod store;
pub mod tagged;
pub mod tiered;

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};

pub use tiered::{ArrangementSpill, SpillCounts};

/// Segment files are closed and a new one started once they reach this size.
pub const SEGMENT_BYTES: u64 = 64 << 20;

/// Where chunks go once both memory tiers are full: the backend of the [`store::ChunkStore`]
/// each worker opens.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SpillStore {
    /// Segment files in the spill directory (see [`store::FileStore`]).
    #[default]
    Files,
    /// A map in memory ([`store::MemStore`]): the whole policy without a disk, for machines
    /// that have none and for tests.
    Memory,
}

/// Process-wide spill state, shared by the session and every worker.
pub struct Spill {
    /// Prefix of this session's spill files, unique in the process and across processes.
    pub(crate) name: String,
    /// Size at which a segment file is rotated.
    pub(crate) segment_bytes: u64,
    /// What each worker's chunk store is.
    store: SpillStore,
    /// Lz4 bytes every worker together may keep in memory, and what they keep now.
    pool_budget: AtomicUsize,
    pool_used: AtomicUsize,
    dir: Mutex<SpillDir>,
    /// Write faults not yet reported.
    faults: Mutex<Vec<String>>,
    /// Why the engine stopped, if it did: the session cannot go on.
    failure: Mutex<Option<Failure>>,
    failed: AtomicBool,
    pub(crate) totals: Totals,
}

/// Why the engine stopped. The spill state is the one thing every worker and the session
/// share, so it carries the stop whatever its cause: every worker checks
/// [`Spill::has_failed`] to stop waiting for progress that will never come.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Failure {
    /// A spilled chunk could not be read back; the message names its file.
    ChunkUnreadable(String),
    /// A worker panicked: a bug in Ebb. The message is the panic's, with where it happened.
    WorkerPanicked(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::ChunkUnreadable(message) | Failure::WorkerPanicked(message) => f.write_str(message),
        }
    }
}

/// The spill directory: as configured, and once made.
#[derive(Default)]
struct SpillDir {
    configured: Option<PathBuf>,
    ready: Option<(PathBuf, Option<tempfile::TempDir>)>,
}

/// Process-wide counters.
#[derive(Default)]
pub(crate) struct Totals {
    paged_bytes: AtomicU64,
    pub(crate) written_bytes: AtomicU64,
    compressed_from: AtomicU64,
    compressed_to: AtomicU64,
    pub(crate) fetches: AtomicU64,
    /// Bytes of chunks kept raw in memory now (tier 1, every worker).
    raw_held: AtomicU64,
    /// Bytes of the decoded copies differential keeps of chunks read back, now.
    decoded: AtomicU64,
}

impl Totals {
    pub(crate) fn compressed(&self, from: usize, to: usize) {
        self.compressed_from.fetch_add(from as u64, Relaxed);
        self.compressed_to.fetch_add(to as u64, Relaxed);
    }
}

/// What a session has spilled so far, over every worker and arrangement.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpillTotals {
    /// Serialized bytes the spill hook handed to the policy.
    pub paged_bytes: u64,
    /// Bytes written to spill files (record headers included).
    pub written_bytes: u64,
    /// Bytes lz4 was given ...
    pub compressed_from: u64,
    /// ... and the bytes it made of them.
    pub compressed_to: u64,
    /// Chunks read back.
    pub fetches: u64,
    /// Bytes of paged chunks held in memory now, raw or lz4: what the budget bounds.
    pub held_bytes: u64,
    /// Bytes of the decoded copies differential keeps of paged chunks read back through a
    /// cursor, now (outside the budget; see the module docs).
    pub decoded_bytes: u64,
}

static SESSIONS: AtomicU64 = AtomicU64::new(0);

impl Spill {
    /// Spill state for a new session, spilling into `store`: for files, in `dir` (or a fresh
    /// temporary directory).
    pub fn new(store: SpillStore, dir: Option<PathBuf>, segment_bytes: u64) -> Spill {
        Spill {
            name: format!("{}-{}", std::process::id(), SESSIONS.fetch_add(1, Relaxed)),
            segment_bytes,
            store,
            pool_budget: AtomicUsize::new(0),
            pool_used: AtomicUsize::new(0),
            dir: Mutex::new(SpillDir { configured: dir, ready: None }),
            faults: Mutex::new(Vec::new()),
            failure: Mutex::new(None),
            failed: AtomicBool::new(false),
            totals: Totals::default(),
        }
    }

    /// Split a process budget between the workers and the shared pool (see the module docs);
    /// set the pool's share and return each worker's.
    pub fn set_budget(&self, total: u64, workers: usize) -> usize {
        let total = usize::try_from(total).unwrap_or(usize::MAX);
        let per_worker = total / 2 / workers.max(1);
        self.pool_budget.store(total - per_worker * workers.max(1), Relaxed);
        per_worker
    }

    /// A worker's chunk store, of the session's kind.
    pub(crate) fn open_store(&self, worker: usize) -> Result<Box<dyn store::ChunkStore>, String> {
        Ok(match self.store {
            SpillStore::Files => {
                let dir = self.dir()?;
                let prefix = format!("{}-w{worker}", self.name);
                Box::new(store::FileStore::new(&dir, &prefix, self.segment_bytes))
            }
            SpillStore::Memory => Box::<store::MemStore>::default(),
        })
    }

    /// Spill to `dir` from now on. Refused once a spill file has been written elsewhere.
    pub fn set_dir(&self, dir: PathBuf) -> Result<(), String> {
        let mut state = self.dir.lock().map_err(|_| "spill state poisoned".to_string())?;
        if let Some((current, _)) = &state.ready
            && *current != dir
        {
            return Err(format!(
                "the spill directory is already \"{}\"; it can only be set before anything spills",
                current.display()
            ));
        }
        state.configured = Some(dir);
        Ok(())
    }

    /// The spill directory, made (or checked) on first use.
    pub(crate) fn dir(&self) -> Result<PathBuf, String> {
        let mut state = self.dir.lock().map_err(|_| "spill state poisoned".to_string())?;
        if let Some((dir, _)) = &state.ready {
            return Ok(dir.clone());
        }
        let ready = match &state.configured {
            Some(dir) => {
                std::fs::create_dir_all(dir)
                    .map_err(|e| format!("cannot create spill directory \"{}\": {e}", dir.display()))?;
                (dir.clone(), None)
            }
            None => {
                let temp = tempfile::Builder::new()
                    .prefix("ebb-spill-")
                    .tempdir()
                    .map_err(|e| format!("cannot create a temporary spill directory: {e}"))?;
                (temp.path().to_path_buf(), Some(temp))
            }
        };
        let dir = ready.0.clone();
        state.ready = Some(ready);
        Ok(dir)
    }

    /// The spill directory, if one has been made.
    pub fn dir_in_use(&self) -> Option<PathBuf> {
        self.dir.lock().ok().and_then(|s| s.ready.as_ref().map(|(dir, _)| dir.clone()))
    }

    /// Record a write fault (the chunk stayed in memory).
    pub(crate) fn fault(&self, message: String) {
        if let Ok(mut faults) = self.faults.lock() {
            faults.push(message);
        }
    }

    /// Write faults since the last call.
    pub fn take_faults(&self) -> Vec<String> {
        self.faults.lock().map(|mut f| std::mem::take(&mut *f)).unwrap_or_default()
    }

    /// Record why the engine stops (the first cause recorded is kept): the session cannot go on.
    pub(crate) fn fail(&self, cause: Failure) {
        if let Ok(mut failure) = self.failure.lock() {
            failure.get_or_insert(cause);
        }
        self.failed.store(true, Relaxed);
    }

    /// Whether the engine has stopped: a worker failed to read a spilled chunk back, or panicked.
    pub fn has_failed(&self) -> bool {
        self.failed.load(Relaxed)
    }

    /// Why the engine stopped, if it did.
    pub fn failure(&self) -> Option<Failure> {
        self.failure.lock().ok().and_then(|f| f.clone())
    }

    /// What has been spilled so far.
    pub fn totals(&self) -> SpillTotals {
        let t = &self.totals;
        SpillTotals {
            paged_bytes: t.paged_bytes.load(Relaxed),
            written_bytes: t.written_bytes.load(Relaxed),
            compressed_from: t.compressed_from.load(Relaxed),
            compressed_to: t.compressed_to.load(Relaxed),
            fetches: t.fetches.load(Relaxed),
            held_bytes: t.raw_held.load(Relaxed) + self.pool_used.load(Relaxed) as u64,
            decoded_bytes: t.decoded.load(Relaxed),
        }
    }

    /// Tier 1 of some worker gained (`gained`) or lost bytes.
    pub(crate) fn raw_held(&self, bytes: usize, gained: bool) {
        gauge(&self.totals.raw_held, bytes, gained);
    }

    /// A decoded copy of a chunk came (`gained`) or went.
    pub(crate) fn decoded(&self, bytes: usize, gained: bool) {
        gauge(&self.totals.decoded, bytes, gained);
    }

    pub(crate) fn add_paged(&self, bytes: usize) {
        self.totals.paged_bytes.fetch_add(bytes as u64, Relaxed);
    }

    /// Take `bytes` from the pool if it has room.
    pub(crate) fn pool_try_charge(&self, bytes: usize) -> bool {
        let budget = self.pool_budget.load(Relaxed);
        self.pool_used
            .fetch_update(Relaxed, Relaxed, |used| (used + bytes <= budget).then_some(used + bytes))
            .is_ok()
    }

    /// Take `bytes` from the pool whether it has room or not (a chunk that could not be
    /// written stays in memory).
    pub(crate) fn pool_force_charge(&self, bytes: usize) {
        self.pool_used.fetch_add(bytes, Relaxed);
    }

    pub(crate) fn pool_release(&self, bytes: usize) {
        self.pool_used.fetch_sub(bytes, Relaxed);
    }

    pub(crate) fn pool_over(&self) -> bool {
        self.pool_used.load(Relaxed) > self.pool_budget.load(Relaxed)
    }
}

fn gauge(gauge: &AtomicU64, bytes: usize, gained: bool) {
    if gained {
        gauge.fetch_add(bytes as u64, Relaxed);
    } else {
        gauge.fetch_sub(bytes as u64, Relaxed);
    }
}

/// A byte size as written in `SET memory_budget = '256MB'`: a whole number with an optional
/// unit `B`, `kB`/`KiB`, `MB`/`MiB`, `GB`/`GiB`, `TB`/`TiB` (case-insensitive, powers of
/// 1024, as PostgreSQL reads them).
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit() && c != '_').unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.replace('_', "").parse().ok()?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => return None,
    };
    number.checked_mul(1u64 << shift)
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("256MB"), Some(256 << 20));
        assert_eq!(parse_size("0"), Some(0));
        assert_eq!(parse_size("64 kib"), Some(64 << 10));
        assert_eq!(parse_size("2G"), Some(2 << 30));
        assert_eq!(parse_size("1_000"), Some(1000));
        assert_eq!(parse_size("12 parsecs"), None);
        assert_eq!(parse_size("MB"), None);
        assert_eq!(parse_size("99999999999TB"), None);
    }
}
