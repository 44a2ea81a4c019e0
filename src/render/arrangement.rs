//! The state a worker holds: arrangements, seen through one small trait.
//!
//! Every arrangement a view or source keeps is registered as a [`StateHandle`], so the
//! worker can let it compact as frontiers advance and count what it holds for `SHOW STATS`.
//! The columnar ones ([`Spillable`]: `LATEST`/`TOP` state, and view outputs and source
//! histories made under a memory budget) are read through here without a cursor, so a read never
//! leaves spilled chunks decoded.

use std::rc::Rc;

use columnar::Columnar;
use differential_dataflow::columnar::trace::ColChunk;
use differential_dataflow::columnar::updates::UpdatesTyped;
use differential_dataflow::difference::Semigroup;
use differential_dataflow::operators::arrange::TraceAgent;
use differential_dataflow::trace::TraceReader;
use differential_dataflow::trace::cursor::{BatchCursor, Cursor, Navigable, cursor_list};
use differential_dataflow::trace::implementations::spine_fueled::SpineBatch;
use itertools::Itertools;
use timely::dataflow::Scope;
use timely::progress::frontier::AntichainRef;

use crate::render::arrange::HashedSpine;
use crate::render::columnar::RowUpdate;
use crate::render::ranked::Ranking;
use crate::render::{RowTrace, Rows, RowsSpine, rows_of};
use crate::repr::{EncodedRow, Time};
use crate::storage::spill::tiered::with_tag;
use crate::storage::spill::{ArrangementSpill, SpillCounts};

/// An arrangement held by a worker.
pub trait StateHandle {
    /// Allow the arrangement to forget distinctions between times before `read_frontier`,
    /// the earliest time a future read can ask for. Reads count updates at times strictly
    /// before their read time, so updates are advanced only up to `read_frontier - 1`: one
    /// advanced to the read frontier itself would drop out of the next read.
    fn compact_to(&mut self, read_frontier: Time);
    /// Updates held once compacted to the arrangement's compaction frontier: distinct
    /// `(key, value, time)` with a non-zero count, times at or before the frontier counted as
    /// one. A batch merged just before the frontier last moved still holds the distinctions
    /// it no longer needs, and with no other batch to merge with, idle merging never revisits
    /// it; counting what it physically holds would make the count depend on that timing.
    fn records(&mut self) -> usize;
    /// Updates physically held right now, as the batches count them: what the arrangement
    /// occupies, including distinctions compaction has not yet merged away. Costs one look
    /// per batch, where [`StateHandle::records`] reads every update.
    fn updates_held(&mut self) -> usize;
    /// Non-empty batches held; idle merging goes on until there is at most one.
    fn batches(&mut self) -> usize;
    /// The address of the operator that maintains it, which idle merging must wake.
    fn operator(&self) -> Rc<[usize]>;
    /// What it holds through the spill hook, for arrangements that can spill.
    fn spill(&self) -> Option<SpillCounts> {
        None
    }
}

/// A view's rows or a source's history, each row its own key: what reads and views over views
/// read. Columnar and spillable when the session had a memory budget as it was made; otherwise
/// a vector arrangement, which differential builds about 1.7× faster in less memory (see
/// `docs/benchmarks.md`).
#[derive(Clone)]
pub enum RowsArrangement {
    /// Never leaves memory.
    InMemory(InMemoryRows),
    /// Its chunks go through the spill hook.
    Spillable(Spillable),
    /// The output of a `RETAIN` at the view's root (in memory), which holds exactly the
    /// view's rows.
    Kept(KeptRows),
}

/// A vector arrangement of rows.
pub type InMemoryRows = TraceAgent<RowsSpine>;

impl RowsArrangement {
    /// The rows at times before `time`, with their multiplicities. Takes every batch (the trace
    /// may already hold later times, which do not cut cleanly at `time`) and counts only the
    /// updates before `time`.
    pub fn read(&mut self, time: Time) -> Vec<(EncodedRow, i64)> {
        let mut rows = Vec::new();
        let mut push = |row: EncodedRow, count: i64| {
            if count != 0 {
                rows.push((row, count));
            }
        };
        match self {
            RowsArrangement::InMemory(trace) => {
                let Some(batches) = trace.batches_through(AntichainRef::new(&[])) else { return rows };
                let (mut cursor, storage) = cursor_list(batches);
                while let Some(row) = cursor.get_key(&storage) {
                    let mut count = 0;
                    cursor.map_times(&storage, |t, diff| count += if *t < time { *diff } else { 0 });
                    push(row.to_vec(), count);
                    cursor.step_key(&storage);
                }
            }
            RowsArrangement::Spillable(spillable) => spillable.scan(|groups| {
                for (row, _, times) in groups {
                    push(row, times.iter().filter(|(t, _)| *t < time).map(|(_, diff)| diff).sum());
                }
            }),
            RowsArrangement::Kept(kept) => {
                kept.read(time, &mut push);
                // In the order of the rows, as the other arrangements give them.
                rows.sort_unstable();
            }
        }
        rows
    }

    /// The rows as a collection in `scope`: the arrangement's compacted contents, then its
    /// updates.
    pub fn import<'scope>(&mut self, scope: Scope<'scope, Time>, name: &str) -> Rows<'scope> {
        match self {
            RowsArrangement::InMemory(trace) => {
                TraceAgent::import_named(trace, scope, name).as_collection(|row: &[u8], _| row.to_vec())
            }
            RowsArrangement::Spillable(spillable) => {
                rows_of(TraceAgent::import_named(&mut spillable.trace, scope, name))
            }
            RowsArrangement::Kept(kept) => kept.import(scope, name),
        }
    }
}

impl StateHandle for RowsArrangement {
    fn compact_to(&mut self, read_frontier: Time) {
        match self {
            RowsArrangement::InMemory(trace) => trace.compact_to(read_frontier),
            RowsArrangement::Spillable(spillable) => spillable.compact_to(read_frontier),
            RowsArrangement::Kept(kept) => kept.trace.compact_to(read_frontier),
        }
    }

    fn records(&mut self) -> usize {
        match self {
            RowsArrangement::InMemory(trace) => trace.records(),
            RowsArrangement::Spillable(spillable) => spillable.records(),
            RowsArrangement::Kept(kept) => kept.trace.records(),
        }
    }

    fn updates_held(&mut self) -> usize {
        match self {
            RowsArrangement::InMemory(trace) => trace.updates_held(),
            RowsArrangement::Spillable(spillable) => spillable.updates_held(),
            RowsArrangement::Kept(kept) => kept.trace.updates_held(),
        }
    }

    fn batches(&mut self) -> usize {
        match self {
            RowsArrangement::InMemory(trace) => trace.batches(),
            RowsArrangement::Spillable(spillable) => spillable.batches(),
            RowsArrangement::Kept(kept) => kept.trace.batches(),
        }
    }

    fn operator(&self) -> Rc<[usize]> {
        match self {
            RowsArrangement::InMemory(trace) => StateHandle::operator(trace),
            RowsArrangement::Spillable(spillable) => spillable.operator(),
            RowsArrangement::Kept(kept) => StateHandle::operator(&kept.trace),
        }
    }

    fn spill(&self) -> Option<SpillCounts> {
        match self {
            RowsArrangement::InMemory(_) | RowsArrangement::Kept(_) => None,
            RowsArrangement::Spillable(spillable) => spillable.spill(),
        }
    }
}

/// The rows a `RETAIN` at a view's root keeps, read from its reduce's output arrangement (in
/// memory), where each follows its rule key and rank: reads and the rule's loop share one
/// arrangement, instead of the view holding each kept row once more.
#[derive(Clone)]
pub struct KeptRows {
    /// By the hash of the rule's key, each value its key, rank and row (see `render::ranked`).
    trace: TraceAgent<HashedSpine>,
    /// How a value holds its row.
    ranking: Ranking,
}

impl KeptRows {
    pub(super) fn new(trace: TraceAgent<HashedSpine>, ranking: Ranking) -> KeptRows {
        KeptRows { trace, ranking }
    }

    /// Hand `push` each row with its count at times before `time`.
    fn read(&mut self, time: Time, push: &mut impl FnMut(EncodedRow, i64)) {
        let Some(batches) = self.trace.batches_through(AntichainRef::new(&[])) else { return };
        let (mut cursor, storage) = cursor_list(batches);
        while cursor.key_valid(&storage) {
            while let Some(value) = cursor.get_val(&storage) {
                let mut count = 0;
                cursor.map_times(&storage, |t, diff| count += if *t < time { *diff } else { 0 });
                push(self.ranking.row(value), count);
                cursor.step_val(&storage);
            }
            cursor.step_key(&storage);
        }
    }

    fn import<'scope>(&mut self, scope: Scope<'scope, Time>, name: &str) -> Rows<'scope> {
        let ranking = self.ranking.clone();
        TraceAgent::import_named(&mut self.trace, scope, name)
            .as_collection(move |_hash: &u64, value: &[u8]| ranking.row(value))
    }
}

/// A columnar arrangement whose chunks are paged under `tag` (see `storage::spill`).
#[derive(Clone)]
pub struct Spillable {
    trace: RowTrace,
    tag: Rc<ArrangementSpill>,
}

impl Spillable {
    /// `trace`, reporting the spill counts of `tag`.
    pub fn new(trace: RowTrace, tag: Rc<ArrangementSpill>) -> Self {
        Spillable { trace, tag }
    }

    /// Hand `f` every `(key, value)` the arrangement holds with its `(time, diff)` updates, in
    /// key and value order across its batches, read without a cursor.
    ///
    /// A cursor that reads a paged chunk makes differential keep it decoded for the rest of the
    /// chunk's life, so a read or a count through one would bring the whole arrangement back
    /// into memory. Each chunk is decoded into a copy instead, one chunk per batch at a time,
    /// under the arrangement's tag, so the policy knows the read leaves nothing cached.
    pub fn scan<R>(&mut self, f: impl FnOnce(&mut dyn Iterator<Item = UpdatesOf>) -> R) -> R {
        let batches = self.trace.batches_through(AntichainRef::new(&[])).unwrap_or_default();
        with_tag(&self.tag, || {
            let per_batch = batches.iter().map(|batch| batch.chunks.iter().flat_map(chunk_updates));
            let updates = per_batch.kmerge_by(|a, b| (&a.0, &a.1) < (&b.0, &b.1));
            f(&mut updates.peekable().batching(|updates| {
                let (key, val, time, diff) = updates.next()?;
                let mut times = vec![(time, diff)];
                while let Some((_, _, time, diff)) = updates.next_if(|(k, v, _, _)| *k == key && *v == val) {
                    times.push((time, diff));
                }
                Some((key, val, times))
            }))
        })
    }
}

/// A key, a value, and its updates.
pub type UpdatesOf = (EncodedRow, EncodedRow, Vec<(Time, i64)>);

impl StateHandle for Spillable {
    fn compact_to(&mut self, read_frontier: Time) {
        self.trace.compact_to(read_frontier)
    }

    /// The count of [`StateHandle::records`], read with [`Spillable::scan`].
    fn records(&mut self) -> usize {
        let since = self.trace.get_logical_compaction().first().copied().unwrap_or(Time::MAX);
        self.scan(|groups| {
            groups
                .map(|(_, _, mut times)| {
                    times.iter_mut().for_each(|(time, _)| *time = (*time).max(since));
                    differential_dataflow::consolidation::consolidate(&mut times);
                    times.len()
                })
                .sum()
        })
    }

    fn updates_held(&mut self) -> usize {
        self.trace.updates_held()
    }

    fn batches(&mut self) -> usize {
        self.trace.batches()
    }

    fn operator(&self) -> Rc<[usize]> {
        StateHandle::operator(&self.trace)
    }

    fn spill(&self) -> Option<SpillCounts> {
        Some(self.tag.counts())
    }
}

/// A chunk's updates, owned; a paged chunk is decoded into a copy that goes with the iterator.
fn chunk_updates(chunk: &ColChunk<RowUpdate>) -> std::vec::IntoIter<RowUpdate> {
    let own = |trie: &UpdatesTyped<RowUpdate>| -> Vec<RowUpdate> {
        trie.iter()
            .map(|(key, val, time, diff)| {
                (EncodedRow::into_owned(key), EncodedRow::into_owned(val), *time, *diff)
            })
            .collect()
    };
    match chunk {
        ColChunk::Resident(trie) => own(trie),
        ColChunk::Paged(_) => own(chunk.clone().updates_mut()),
    }
    .into_iter()
}

impl<Tr> StateHandle for TraceAgent<Tr>
where
    Tr: TraceReader<Time = Time> + 'static,
    Tr::Batch: SpineBatch + Navigable<Cursor: Cursor<Time = Time, Diff: Semigroup + 'static>>,
{
    fn compact_to(&mut self, read_frontier: Time) {
        let since = read_frontier.saturating_sub(1);
        self.set_logical_compaction(AntichainRef::new(&[since]));
        self.set_physical_compaction(AntichainRef::new(&[since]));
    }

    fn records(&mut self) -> usize {
        let since = self.get_logical_compaction().first().copied().unwrap_or(Time::MAX);
        let Some(batches) = self.batches_through(AntichainRef::new(&[])) else { return 0 };
        let (mut cursor, storage) = cursor_list(batches);
        let mut records = 0;
        let mut times = Vec::new();
        while cursor.key_valid(&storage) {
            while cursor.val_valid(&storage) {
                times.clear();
                cursor.map_times(&storage, |time, diff| {
                    let time = <BatchCursor<Tr> as Cursor>::owned_time(time).max(since);
                    times.push((time, <BatchCursor<Tr> as Cursor>::owned_diff(diff)));
                });
                differential_dataflow::consolidation::consolidate(&mut times);
                records += times.len();
                cursor.step_val(&storage);
            }
            cursor.step_key(&storage);
        }
        records
    }

    fn updates_held(&mut self) -> usize {
        self.batches_through(AntichainRef::new(&[]))
            .map_or(0, |batches| batches.iter().map(|b| b.len()).sum())
    }

    fn batches(&mut self) -> usize {
        self.batches_through(AntichainRef::new(&[]))
            .map_or(0, |batches| batches.iter().filter(|b| b.len() > 0).count())
    }

    fn operator(&self) -> Rc<[usize]> {
        TraceAgent::operator(self).address.clone()
    }
}

#[cfg(test)]
mod tests {
    use differential_dataflow::input::InputSession;
    use timely::dataflow::ProbeHandle;

    use super::*;
    use crate::repr::{Datum, row};

    /// A row in at time 1 and out at 2, and one that stays, arranged in memory or spillable:
    /// the batches hold all three updates until compaction lets the first row's pair cancel,
    /// which the settled count sees at once.
    #[test]
    fn updates_held_counts_what_the_batches_hold() {
        for spillable in [false, true] {
            timely::execute_directly(move |worker| {
                let probe = ProbeHandle::new();
                let mut input = InputSession::<Time, EncodedRow, i64>::new();
                let mut trace = worker.dataflow(|scope| {
                    crate::render::arrange_readable(input.to_collection(scope), "Output", spillable, &probe)
                });
                let (gone, stays) = (row::encode(&[Datum::Int(1)]), row::encode(&[Datum::Int(2)]));
                input.update_at(gone.clone(), 1, 1);
                input.update_at(gone, 2, -1);
                input.update_at(stays, 2, 1);
                input.advance_to(3);
                input.flush();
                while probe.less_than(&3) {
                    worker.step();
                }
                assert_eq!(trace.updates_held(), 3, "spillable: {spillable}");
                assert_eq!(trace.records(), 3, "spillable: {spillable}");
                trace.compact_to(3);
                assert_eq!(trace.records(), 1, "spillable: {spillable}");
                assert!(trace.updates_held() >= 1, "spillable: {spillable}");
            });
        }
    }
}
