//! The state a worker holds: arrangements, seen through one small trait.
//!
//! Every arrangement a view or source keeps is registered as a [`StateHandle`], so the
//! worker can let it compact as frontiers advance and count what it holds for `SHOW STATS`.
//! The columnar ones ([`Spillable`]: view outputs, source histories, `LATEST`/`TOP` state) are
//! also read through here, without a cursor, so a read never leaves spilled chunks decoded.

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
use timely::progress::frontier::AntichainRef;

use crate::render::{RowTrace, Time};
use crate::repr::EncodedRow;
use crate::storage::columnar::RowUpdate;
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
    /// Non-empty batches held; idle merging goes on until there is at most one.
    fn batches(&mut self) -> usize;
    /// What it holds through the spill hook, for arrangements that can spill.
    fn spill(&self) -> Option<SpillCounts> {
        None
    }
}

/// A columnar arrangement whose chunks are paged under `tag` (see `storage::spill`).
pub struct Spillable {
    trace: RowTrace,
    tag: Rc<ArrangementSpill>,
}

impl Spillable {
    /// `trace`, reporting the spill counts of `tag`.
    pub fn new(trace: RowTrace, tag: Rc<ArrangementSpill>) -> Self {
        Spillable { trace, tag }
    }

    /// The arrangement's handle.
    pub fn trace(&self) -> &RowTrace {
        &self.trace
    }

    /// Hand `f` every update the arrangement holds, in key and value order across its
    /// batches, read without a cursor.
    ///
    /// A cursor that reads a paged chunk makes differential keep it decoded for the rest of the
    /// chunk's life, so a read or a count through one would bring the whole arrangement back
    /// into memory. Each chunk is decoded into a copy instead, one chunk per batch at a time,
    /// under the arrangement's tag, so the policy knows the read leaves nothing cached.
    pub fn scan<R>(&mut self, f: impl FnOnce(&mut dyn Iterator<Item = RowUpdate>) -> R) -> R {
        let batches = self.trace.batches_through(AntichainRef::new(&[])).unwrap_or_default();
        with_tag(&self.tag, || {
            let per_batch = batches.iter().map(|batch| batch.chunks.iter().flat_map(chunk_updates));
            f(&mut per_batch.kmerge_by(|a, b| (&a.0, &a.1) < (&b.0, &b.1)))
        })
    }
}

impl StateHandle for Spillable {
    fn compact_to(&mut self, read_frontier: Time) {
        self.trace.compact_to(read_frontier)
    }

    /// The count of [`StateHandle::records`], read with [`Spillable::scan`].
    fn records(&mut self) -> usize {
        let since = self.trace.get_logical_compaction().first().copied().unwrap_or(Time::MAX);
        self.scan(|updates| {
            let mut records = 0;
            let mut times = Vec::new();
            for (_, group) in &updates.chunk_by(|(key, val, _, _)| (key.clone(), val.clone())) {
                times.clear();
                times.extend(group.map(|(_, _, time, diff)| (time.max(since), diff)));
                differential_dataflow::consolidation::consolidate(&mut times);
                records += times.len();
            }
            records
        })
    }

    fn batches(&mut self) -> usize {
        self.trace.batches()
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

    fn batches(&mut self) -> usize {
        self.batches_through(AntichainRef::new(&[]))
            .map_or(0, |batches| batches.iter().filter(|b| b.len() > 0).count())
    }
}
