//! The tiered policy behind differential's columnar spill hook.
//!
//! Differential's hook (`columnar::trace::spill`) serializes every chunk it decides to page and
//! hands the bytes to a [`BytesStore`]; it reads them back through the [`BytesSource`] it got.
//! Ebb installs the hook with a record budget of zero, so every settled chunk comes here, and
//! decides itself where the bytes live. Each chunk is a [`Slot`] in one of three tiers:
//!
//! 1. **raw in memory**, charged to this worker's byte budget;
//! 2. **lz4 in memory**, charged to the process-wide pool ([`Spill`]);
//! 3. **in the session's chunk store** ([`ChunkStore`]: segment files on disk by default, see
//!    [`super::SpillStore`]), raw or lz4, whichever is smaller.
//!
//! A new chunk always enters tier 1. When the worker is over its budget, its **oldest**
//! tier-1 chunks are compressed into tier 2, or, when the pool is full, written to tier 3; when
//! the pool is over its budget, this worker's oldest tier-2 chunks go to tier 3. Young chunks
//! of a spine die in merges soon after they are made, so only what lives long is ever
//! written: that is what keeps bytes written per input byte low (how low depends on how large
//! the state is against the budget; see `docs/storage.md`).
//!
//! Invariants: every byte charged is given back when the slot's handle is dropped (the chunk
//! died), whatever tier it is in; a slot's bytes are never lost: a failed disk write leaves
//! the chunk in memory (over budget) and records a fault naming the file; a read that fails
//! (unreadable file, checksum mismatch) records a failure naming the file and panics, because
//! differential's `load` must return bytes — the engine turns that into a clean stop.
//!
//! A chunk read back through a cursor is cached decoded by differential for the rest of its
//! life, and differential never asks for its bytes again. A read outside any arrangement's tag
//! is a cursor's (merges run inside their trace's calls, under its tag), so the slot gives its
//! bytes back then ([`Body::Cached`]) and counts the decoded copy in `resident_bytes`.
//!
//! Known limitations: the policy cannot free those decoded copies, and does not charge them to
//! the budget (charging them would only push young chunks to disk, raising writes without
//! lowering memory). Per-arrangement numbers come from a thread-local tag set around each
//! arrangement's trace and batcher calls ([`super::tagged`]); a chunk paged outside any tag (a
//! reduce's output builder) is claimed by the next batch inserted into a tagged trace on the
//! worker.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use differential_dataflow::columnar::trace::spill::{BytesSource, BytesStore};

use super::Spill;
use super::store::{Block, ChunkStore, Codec, Location, unpack_lz4};

/// What one arrangement holds through the spill hook on one worker, now (and fetches so far).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SpillCounts {
    /// Bytes of its paged chunks held in memory: raw, lz4, and decoded copies of fetched ones.
    pub resident_bytes: u64,
    /// Paged chunks alive.
    pub chunks: u64,
    /// Their serialized size.
    pub raw_bytes: u64,
    /// Of the compressed ones (lz4 in memory or on disk): their size before compression.
    pub compressed_from: u64,
    /// ... and after.
    pub compressed_bytes: u64,
    /// Chunks read back so far.
    pub fetches: u64,
    /// Bytes of its chunks on disk now (record headers included).
    pub disk_bytes: u64,
}

impl SpillCounts {
    /// Add `other`, field by field.
    pub fn add(&mut self, other: &SpillCounts) {
        self.resident_bytes += other.resident_bytes;
        self.chunks += other.chunks;
        self.raw_bytes += other.raw_bytes;
        self.compressed_from += other.compressed_from;
        self.compressed_bytes += other.compressed_bytes;
        self.fetches += other.fetches;
        self.disk_bytes += other.disk_bytes;
    }

    fn apply(&mut self, delta: &SpillCounts, sign: i64) {
        let f = |x: &mut u64, d: u64| *x = x.wrapping_add_signed(sign * d as i64);
        f(&mut self.resident_bytes, delta.resident_bytes);
        f(&mut self.chunks, delta.chunks);
        f(&mut self.raw_bytes, delta.raw_bytes);
        f(&mut self.compressed_from, delta.compressed_from);
        f(&mut self.compressed_bytes, delta.compressed_bytes);
        f(&mut self.disk_bytes, delta.disk_bytes);
    }
}

/// One arrangement's counts on one worker; shared by its tag and the slots it owns.
#[derive(Debug, Default)]
pub struct ArrangementSpill {
    counts: Cell<SpillCounts>,
}

impl ArrangementSpill {
    /// A new, empty tag.
    pub fn new() -> Rc<ArrangementSpill> {
        Rc::new(ArrangementSpill::default())
    }

    /// The counts now.
    pub fn counts(&self) -> SpillCounts {
        self.counts.get()
    }

    fn apply(&self, delta: &SpillCounts, sign: i64) {
        let mut counts = self.counts.get();
        counts.apply(delta, sign);
        self.counts.set(counts);
    }

    fn fetched(&self) {
        let mut counts = self.counts.get();
        counts.fetches += 1;
        self.counts.set(counts);
    }
}

/// Where a slot's bytes are.
enum Body {
    /// Tier 1: the serialized chunk.
    Raw(Vec<u8>),
    /// Tier 2: one lz4 block.
    Lz4(Vec<u8>),
    /// Tier 3.
    Disk { at: Location, codec: Codec, stored: usize },
    /// Read through a cursor: differential holds the decoded chunk for the rest of its life
    /// and never asks for the bytes again, so they were given back.
    Cached,
}

/// One paged chunk.
struct Slot {
    /// Age order: smaller is older.
    id: u64,
    raw_len: usize,
    body: Body,
    owner: Rc<ArrangementSpill>,
}

impl Slot {
    /// What this slot adds to its owner's counts.
    fn counts(&self) -> SpillCounts {
        let raw = self.raw_len as u64;
        let mut c = SpillCounts { chunks: 1, raw_bytes: raw, ..SpillCounts::default() };
        match &self.body {
            Body::Raw(_) | Body::Cached => c.resident_bytes = raw,
            Body::Lz4(bytes) => {
                c.resident_bytes = bytes.len() as u64;
                c.compressed_from = raw;
                c.compressed_bytes = bytes.len() as u64;
            }
            Body::Disk { at, codec, stored } => {
                c.disk_bytes = at.len;
                if *codec == Codec::Lz4 {
                    c.compressed_from = raw;
                    c.compressed_bytes = *stored as u64;
                }
            }
        }
        c
    }
}

type SlotRef = Rc<RefCell<Slot>>;

/// One worker's side of the policy: its budget, its in-memory slots by age, its chunk store.
pub struct WorkerSpill {
    shared: Arc<Spill>,
    worker: usize,
    /// Bytes this worker may hold in tier 1.
    budget: usize,
    /// Bytes it holds there now.
    used: usize,
    /// Tier-1 slots, by age.
    raw: BTreeMap<u64, SlotRef>,
    /// Tier-2 slots, by age.
    lz4: BTreeMap<u64, SlotRef>,
    /// Where chunks past both memory tiers go, made on first use.
    store: Option<Box<dyn ChunkStore>>,
    /// Set after a failed write: the disk tier is not tried again.
    disk_broken: bool,
    next_id: u64,
    /// Slots paged outside any tag, to be claimed by the next tagged insert.
    unclaimed: Vec<Weak<RefCell<Slot>>>,
    /// The length of `unclaimed` at which its dead entries are dropped.
    prune_at: usize,
    nobody: Rc<ArrangementSpill>,
}

thread_local! {
    /// This worker's policy, once a budget is set.
    static WORKER: RefCell<Option<Rc<RefCell<WorkerSpill>>>> = const { RefCell::new(None) };
    /// The arrangement whose trace or batcher is running now.
    static CURRENT: RefCell<Option<Rc<ArrangementSpill>>> = const { RefCell::new(None) };
}

/// Set this worker's byte budget (`None`: stop paging new chunks) and install differential's
/// hook accordingly. Chunks already paged stay where they are and remain readable.
pub fn set_worker_budget(shared: &Arc<Spill>, worker: usize, budget: Option<usize>) {
    use differential_dataflow::columnar::trace::spill;
    let Some(budget) = budget else {
        spill::uninstall();
        return;
    };
    let policy = WORKER.with(|w| {
        w.borrow_mut()
            .get_or_insert_with(|| {
                Rc::new(RefCell::new(WorkerSpill {
                    shared: shared.clone(),
                    worker,
                    budget,
                    used: 0,
                    raw: BTreeMap::new(),
                    lz4: BTreeMap::new(),
                    store: None,
                    disk_broken: false,
                    next_id: 0,
                    unclaimed: Vec::new(),
                    prune_at: 1024,
                    nobody: ArrangementSpill::new(),
                }))
            })
            .clone()
    });
    policy.borrow_mut().budget = budget;
    policy.borrow_mut().enforce();
    // Record budget zero: every settled chunk is handed to the policy, which decides (the
    // hook's own allowance is a high-water mark never given back; see the module docs).
    spill::install(0, Box::new(WorkerStore(policy)), Arc::new(Default::default()));
}

/// Run `f` with `tag` as the arrangement chunks paged meanwhile belong to.
pub fn with_tag<R>(tag: &Rc<ArrangementSpill>, f: impl FnOnce() -> R) -> R {
    let previous = CURRENT.with(|c| c.replace(Some(tag.clone())));
    let result = f();
    CURRENT.with(|c| *c.borrow_mut() = previous);
    result
}

/// Hand every chunk paged outside a tag since the last claim to `tag`.
pub fn claim(tag: &Rc<ArrangementSpill>) {
    WORKER.with(|w| {
        if let Some(policy) = w.borrow().as_ref() {
            let unclaimed = std::mem::take(&mut policy.borrow_mut().unclaimed);
            for slot in unclaimed.iter().filter_map(Weak::upgrade) {
                let mut slot = slot.borrow_mut();
                let counts = slot.counts();
                slot.owner.apply(&counts, -1);
                slot.owner = tag.clone();
                slot.owner.apply(&counts, 1);
            }
        }
    });
}

/// Differential's side: the store it pages into on this worker.
struct WorkerStore(Rc<RefCell<WorkerSpill>>);

impl BytesStore for WorkerStore {
    fn store(&mut self, bytes: &[u8]) -> Box<dyn BytesSource> {
        let slot = self.0.borrow_mut().admit(bytes);
        Box::new(Handle { slot, policy: self.0.clone() })
    }
}

/// Differential's handle on one paged chunk; dropping it gives the chunk's budget back.
struct Handle {
    slot: SlotRef,
    policy: Rc<RefCell<WorkerSpill>>,
}

impl BytesSource for Handle {
    fn load(&self) -> Vec<u8> {
        // Bound first: the policy must not be borrowed while the failure is recorded.
        let fetched = self.policy.borrow_mut().fetch(&self.slot);
        match fetched {
            Ok(bytes) => bytes,
            Err(message) => {
                self.policy.borrow().shared.fail(super::Failure::ChunkUnreadable(message.clone()));
                // `load` must return bytes and wrong bytes would give wrong rows: stop this
                // worker. The engine catches the panic and stops the session cleanly.
                panic!("{message}");
            }
        }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.policy.borrow_mut().release(&self.slot);
    }
}

impl WorkerSpill {
    /// A new chunk: tier 1, then make room by moving older ones down.
    fn admit(&mut self, bytes: &[u8]) -> SlotRef {
        let owner = CURRENT.with(|c| c.borrow().clone());
        let id = self.next_id;
        self.next_id += 1;
        let slot = Slot {
            id,
            raw_len: bytes.len(),
            body: Body::Raw(bytes.to_vec()),
            owner: owner.clone().unwrap_or_else(|| self.nobody.clone()),
        };
        slot.owner.apply(&slot.counts(), 1);
        self.shared.add_paged(bytes.len());
        self.used += bytes.len();
        self.shared.raw_held(bytes.len(), true);
        let slot = Rc::new(RefCell::new(slot));
        if owner.is_none() {
            // Chunks of untagged arrangements are never claimed: forget the dead ones now and
            // then, so the list stays as long as what is alive (amortized: its length doubles
            // between prunes).
            if self.unclaimed.len() >= self.prune_at {
                self.unclaimed.retain(|slot| slot.strong_count() > 0);
                self.prune_at = (self.unclaimed.len() * 2).max(1024);
            }
            self.unclaimed.push(Rc::downgrade(&slot));
        }
        self.raw.insert(id, slot.clone());
        self.enforce();
        slot
    }

    /// The serialized chunk of `slot`.
    ///
    /// A read outside any arrangement's trace or batcher call is a cursor's: differential
    /// caches what it decodes for the rest of the chunk's life and reads through that cache
    /// from then on (merges included), so the slot gives its bytes back. A read inside one is
    /// a merge's, whose decoded copy is transient: the bytes stay, as the chunk may still be
    /// read by a cursor before it dies.
    fn fetch(&mut self, slot: &SlotRef) -> Result<Vec<u8>, String> {
        let cursor_read = CURRENT.with(|c| c.borrow().is_none());
        let mut s = slot.borrow_mut();
        let raw_len = s.raw_len;
        let bytes = match &mut s.body {
            // A cursor's read is the last: the bytes can go to differential as they are.
            Body::Raw(bytes) if cursor_read => std::mem::take(bytes),
            Body::Raw(bytes) => bytes.clone(),
            Body::Lz4(payload) => unpack_lz4(payload, raw_len)
                .map_err(|e| format!("spilled chunk in memory is corrupt: {e}"))?,
            Body::Disk { at, .. } => {
                let store = self.store.as_ref().ok_or("spilled chunk's store is gone")?;
                let block = store.get(*at).map_err(|e| format!("cannot read spilled chunk from {e}"))?;
                block.into_bytes().map_err(|e| format!("spilled chunk is corrupt: {e}"))?
            }
            Body::Cached => {
                return Err(
                    "internal error: a spilled chunk was read again after differential cached it".into()
                );
            }
        };
        if bytes.len() != s.raw_len {
            return Err(format!("spilled chunk has {} bytes, expected {}", bytes.len(), s.raw_len));
        }
        self.shared.totals.fetches.fetch_add(1, Relaxed);
        s.owner.fetched();
        if cursor_read {
            s.owner.apply(&s.counts(), -1);
            self.give_back(&s);
            s.body = Body::Cached;
            self.shared.decoded(s.raw_len, true);
            s.owner.apply(&s.counts(), 1);
        }
        Ok(bytes)
    }

    /// The chunk died: give back what it was charged, wherever it is.
    fn release(&mut self, slot: &SlotRef) {
        let s = slot.borrow();
        s.owner.apply(&s.counts(), -1);
        self.give_back(&s);
    }

    /// Give back the memory, pool share or disk space `s`'s body is charged.
    fn give_back(&mut self, s: &Slot) {
        match &s.body {
            Body::Raw(_) => {
                self.used -= s.raw_len;
                self.shared.raw_held(s.raw_len, false);
                self.raw.remove(&s.id);
            }
            Body::Lz4(bytes) => {
                self.shared.pool_release(bytes.len());
                self.lz4.remove(&s.id);
            }
            Body::Disk { at, .. } => {
                if let Some(store) = self.store.as_mut() {
                    store.free(*at);
                }
            }
            Body::Cached => self.shared.decoded(s.raw_len, false),
        }
    }

    /// Move the oldest chunks down a tier until the worker and the pool are within budget.
    fn enforce(&mut self) {
        while self.used > self.budget {
            let Some((_, slot)) = self.raw.pop_first() else { break };
            let mut s = slot.borrow_mut();
            let before = s.counts();
            let Body::Raw(bytes) = std::mem::replace(&mut s.body, Body::Raw(Vec::new())) else {
                unreachable!("tier-1 maps hold raw slots")
            };
            self.used -= s.raw_len;
            self.shared.raw_held(s.raw_len, false);
            let block = Block::lz4(&bytes);
            self.shared.totals.compressed(bytes.len(), block.payload.len());
            if self.shared.pool_try_charge(block.payload.len()) {
                s.body = Body::Lz4(block.payload);
                self.lz4.insert(s.id, slot.clone());
            } else {
                // Keep whichever form is smaller on disk.
                let block = if block.payload.len() < bytes.len() { block } else { Block::raw(bytes) };
                s.body = self.write(block);
                if let Body::Lz4(payload) = &s.body {
                    self.shared.pool_force_charge(payload.len());
                    self.lz4.insert(s.id, slot.clone());
                }
            }
            s.owner.apply(&before, -1);
            s.owner.apply(&s.counts(), 1);
        }
        while self.shared.pool_over() && !self.disk_broken {
            let Some((_, slot)) = self.lz4.pop_first() else { break };
            let mut s = slot.borrow_mut();
            let before = s.counts();
            let Body::Lz4(payload) = std::mem::replace(&mut s.body, Body::Raw(Vec::new())) else {
                unreachable!("the tier-2 map holds lz4 slots")
            };
            let len = payload.len();
            s.body = self.write(Block { codec: Codec::Lz4, raw_len: s.raw_len, payload });
            match &s.body {
                Body::Lz4(_) => {
                    self.lz4.insert(s.id, slot.clone());
                }
                _ => self.shared.pool_release(len),
            }
            s.owner.apply(&before, -1);
            s.owner.apply(&s.counts(), 1);
        }
    }

    /// Write `block` to this worker's chunk store; on failure keep it in memory as lz4
    /// (compressing it if it was raw) and record the fault.
    fn write(&mut self, block: Block) -> Body {
        if !self.disk_broken {
            match self.store() {
                Ok(store) => match store.put(&block) {
                    Ok(at) => {
                        self.shared.totals.written_bytes.fetch_add(at.len, Relaxed);
                        return Body::Disk { at, codec: block.codec, stored: block.payload.len() };
                    }
                    Err(e) => self.broken(format!("cannot spill to {e}")),
                },
                Err(e) => self.broken(e),
            }
        }
        match block.codec {
            Codec::Lz4 => Body::Lz4(block.payload),
            Codec::Raw => Body::Lz4(Block::lz4(&block.payload).payload),
        }
    }

    fn broken(&mut self, message: String) {
        self.disk_broken = true;
        self.shared.fault(message);
    }

    /// This worker's chunk store, made on first use.
    fn store(&mut self) -> Result<&mut Box<dyn ChunkStore>, String> {
        if self.store.is_none() {
            self.store = Some(self.shared.open_store(self.worker)?);
        }
        self.store.as_mut().ok_or_else(|| "spill chunk store missing".to_string())
    }
}
